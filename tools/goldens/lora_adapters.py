"""PEFT LoRA adapters for two fixtures, and the logits PEFT gives with them (float64).

For each case it builds the fixture's LlamaForCausalLM in float64, wraps it in a PEFT LoRA model
with random A and B (init_lora_weights=False, seeded, so B is not zero and the adapter changes the
logits), saves the adapter as PEFT saves it (adapter_config.json, adapter_model.safetensors in
float32), reloads it with PeftModel.from_pretrained, and writes the logits of every position of
a few prompts. wgllama's `--adapter` must give the same logits.

Run from the project root, in a venv with torch, transformers and peft:
    python tools/goldens/lora_adapters.py
"""
import json
import shutil
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures"
OUT = FIXTURES / "adapters"

CASES = [
    # name, fixture, LoraConfig arguments
    ("tiny-bf16-tied-all", "tiny-bf16-tied", dict(
        r=4, lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )),
    ("tiny-f16-rope-scaled-qv-rslora", "tiny-f16-rope-scaled", dict(
        r=2, lora_alpha=16, use_rslora=True, target_modules=["q_proj", "v_proj"],
    )),
]

PROMPTS = [[1, 5, 9, 33, 2, 100, 7], [3], [42, 42, 17, 250, 11, 8, 300, 77, 1, 64, 5]]


def main() -> None:
    torch.manual_seed(0)
    goldens = []
    for name, fixture, lora in CASES:
        base = LlamaForCausalLM.from_pretrained(FIXTURES / fixture, torch_dtype=torch.float64)
        model = get_peft_model(base, LoraConfig(init_lora_weights=False, lora_dropout=0.0, **lora))
        out = OUT / name
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out, safe_serialization=True)
        # Stored as float32 (what wgllama reads) and the base path made relative.
        from safetensors.torch import load_file, save_file
        tensors = {k: v.to(torch.float32) for k, v in load_file(out / "adapter_model.safetensors").items()}
        save_file(tensors, out / "adapter_model.safetensors", metadata={"format": "pt"})
        config = json.loads((out / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = f"tests/fixtures/{fixture}"
        (out / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (out / "README.md").unlink(missing_ok=True)
        # The goldens come from the saved adapter, reloaded onto a fresh float64 base.
        fresh = LlamaForCausalLM.from_pretrained(FIXTURES / fixture, torch_dtype=torch.float64)
        peft_model = PeftModel.from_pretrained(fresh, out, torch_dtype=torch.float64)
        peft_model.eval()
        for ids in PROMPTS:
            with torch.no_grad():
                logits = peft_model(torch.tensor([ids])).logits[0]
            goldens.append({"adapter": name, "model": fixture, "ids": ids, "logits": logits.tolist()})
    (OUT / "goldens.json").write_text(json.dumps({
        "generator": f"tools/goldens/lora_adapters.py: torch {torch.__version__}, "
        f"transformers {transformers.__version__}, peft {peft.__version__}, float64",
        "goldens": goldens,
    }) + "\n")
    print(f"wrote {len(goldens)} goldens")


if __name__ == "__main__":
    main()
