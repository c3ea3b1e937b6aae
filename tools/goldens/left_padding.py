"""What Hugging Face scores for a left-padded row, against the same row unpadded.

transformers' LlamaForCausalLM computes logits at every position, padding included, and its
shifted loss scores labels[i + 1] from position i: with left padding, the first real token is
predicted from the last pad, whose hidden state depends on how the attention implementation
treats a fully masked row. wgllama leaves padding out, so its loss is the unpadded row's; this
writes both numbers (float64) for tests/train/padding_test.ts.

Run from the project root, in a venv with torch and transformers:
    python tools/goldens/left_padding.py
"""
import json
import math
from pathlib import Path

import torch
import transformers
from transformers import LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/tiny-f32"
ROW = [1, 5, 9, 33, 2, 100, 7, 64]
PAD = 3


def loss(model, ids, mask, labels):
    with torch.no_grad():
        return model(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.tensor([mask]),
            labels=torch.tensor([labels]),
        ).loss.item()


def main() -> None:
    out = {"generator": f"tools/goldens/left_padding.py, torch {torch.__version__}, transformers {transformers.__version__}, float64",
           "model": "tiny-f32", "row": ROW, "pad": PAD}
    for impl in ("eager", "sdpa"):
        m = LlamaForCausalLM.from_pretrained(FIXTURE, torch_dtype=torch.float64, attn_implementation=impl)
        out[f"unpadded_{impl}"] = loss(m, ROW, [1] * len(ROW), ROW)
        padded = [0] * PAD + ROW
        mask = [0] * PAD + [1] * len(ROW)
        labels = [-100] * PAD + ROW
        out[f"left_padded_{impl}"] = loss(m, padded, mask, labels)
    # JSON has no NaN: a NaN loss is written as null.
    out = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in out.items()}
    (ROOT / "tests/fixtures/padding/left_padding.json").write_text(json.dumps(out, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
