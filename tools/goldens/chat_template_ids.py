"""Golden token ids of chat templates from Hugging Face transformers' apply_chat_template.

For each (tokenizer folder, template file) pair it writes the ids that
`tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=…)` gives for a
few conversations, so wgllama's ChatTemplate.encode is checked against the reference rather
than against itself.

Run from the project root, in a venv with transformers (5.18 was used):
    python tools/goldens/chat_template_ids.py
"""
import json
import shutil
import tempfile
from pathlib import Path

import transformers
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/chat-templates/goldens.json"

CASES = [
    # (name, tokenizer folder, template file)
    ("zephyr-sentencepiece", ROOT / "models/stories-260k", ROOT / "tests/fixtures/chat-templates/zephyr.jinja"),
]

CONVERSATIONS = [
    ([
        {"role": "system", "content": "You are a friendly bot."},
        {"role": "user", "content": "Tell me a story."},
        {"role": "assistant", "content": "Once upon a time"},
        {"role": "user", "content": "Go on"},
    ], True),
    ([{"role": "user", "content": "Hi"}], True),
    ([
        {"role": "user", "content": "  spaced out  \nand two lines"},
        {"role": "assistant", "content": "Yes.\n\nA reply."},
    ], False),
    ([
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Lily's cat, the big one, ran to the park!"},
    ], True),
]


def main() -> None:
    goldens = []
    for name, folder, template in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(folder / f, Path(tmp) / f)
            tokenizer = AutoTokenizer.from_pretrained(tmp)
            tokenizer.chat_template = template.read_text()
            for messages, gen in CONVERSATIONS:
                ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen)
                if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                    ids = ids["input_ids"]
                goldens.append({
                    "case": name,
                    "tokenizer": str(folder.relative_to(ROOT)),
                    "template": str(template.relative_to(ROOT)),
                    "messages": messages,
                    "add_generation_prompt": gen,
                    "ids": list(ids),
                })
    OUT.write_text(json.dumps({
        "generator": f"tools/goldens/chat_template_ids.py, transformers {transformers.__version__}",
        "goldens": goldens,
    }, indent=1) + "\n")
    print(f"wrote {len(goldens)} goldens to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
