"""LoRA training goldens from PEFT + PyTorch in float64.

For each case: the fixture's base in float64, the fixture adapter (tests/fixtures/adapters, B ≠ 0)
loaded trainable with PeftModel.from_pretrained(is_trainable=True), then six steps of
torch.optim.AdamW over the adapter's tensors only, with global-norm clipping, on the batches and
hyperparameters of the fixture's full-training goldens (training/training.json: step s uses batch
s % 2; the loss is transformers' mean over counted labels). Written: each step's loss and
gradient norm before clipping, and every adapter tensor after the six steps
(tests/fixtures/adapters/<adapter>/training/).

Run from the project root, in a venv with torch, transformers and peft:
    python tools/goldens/lora_training.py
"""
import json
from pathlib import Path

import peft
import torch
import transformers
from peft import PeftModel
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures"
CASES = [("tiny-bf16-tied-all", "tiny-bf16-tied"), ("tiny-f16-rope-scaled-qv-rslora", "tiny-f16-rope-scaled")]


def main() -> None:
    for adapter, fixture in CASES:
        training = json.loads((FIXTURES / fixture / "training/training.json").read_text())
        h = training["hyperparameters"]
        base = LlamaForCausalLM.from_pretrained(FIXTURES / fixture, torch_dtype=torch.float64)
        model = PeftModel.from_pretrained(base, FIXTURES / "adapters" / adapter, is_trainable=True,
                                          torch_dtype=torch.float64)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        # AdamW decays every trainable 2-D weight: all adapter tensors (HF Trainer's rule).
        optimizer = torch.optim.AdamW(params, lr=h["lr"], betas=tuple(h["betas"]), eps=h["eps"],
                                      weight_decay=h["weight_decay"])
        steps = []
        for s in range(h["steps"]):
            b = training["batches"][s % 2]
            optimizer.zero_grad()
            out = model(input_ids=torch.tensor(b["input_ids"]),
                        attention_mask=torch.tensor(b["attention_mask"]),
                        labels=torch.tensor(b["labels"]))
            out.loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, h["max_grad_norm"])
            optimizer.step()
            steps.append({"loss": out.loss.item(), "grad_norm_before_clip": norm.item()})
        out_dir = FIXTURES / "adapters" / adapter / "training"
        out_dir.mkdir(exist_ok=True)
        # PEFT's saved names: without the adapter's name ("default").
        after = {n.replace(".default", ""): p.detach().to(torch.float32).contiguous()
                 for n, p in zip(names, params)}
        save_file(after, out_dir / "after.safetensors")
        (out_dir / "training.json").write_text(json.dumps({
            "generator": f"tools/goldens/lora_training.py: torch {torch.__version__}, "
            f"transformers {transformers.__version__}, peft {peft.__version__}, float64",
            "model": fixture,
            "batches_from": f"tests/fixtures/{fixture}/training/training.json",
            "hyperparameters": h,
            "steps": steps,
        }, indent=1) + "\n")
        print(adapter, steps[0], steps[-1])


if __name__ == "__main__":
    main()
