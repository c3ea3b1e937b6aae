"""Writes a Hugging Face Llama folder (f32 safetensors, one file) as a GGUF file for llama.cpp, so
wgllama and llama.cpp can be timed on the same weights (bench/README.md, "Side by side with
llama.cpp"). Usage: python to_gguf.py MODEL_DIR OUT.gguf (needs numpy, safetensors, gguf).

The same maths as llama.cpp's convert_hf_to_gguf.py for Llama, written here from the format's
documentation: tensor names, metadata keys, and q/k rows permuted back from Hugging Face's
rotate-half layout to the interleaved pairs llama.cpp rotates. The vocabulary is the tokenizer's,
with placeholder scores: the timings feed token ids, never text.
"""
import json
import sys

import gguf
import numpy as np
from safetensors.numpy import load_file

src, out = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{src}/config.json"))
tensors = load_file(f"{src}/model.safetensors")
heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads


def unrotate(w, n):
    """Rows of each head from halves (HF) back to interleaved pairs (llama.cpp's order)."""
    return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


writer = gguf.GGUFWriter(out, "llama")
writer.add_context_length(cfg["max_position_embeddings"])
writer.add_embedding_length(cfg["hidden_size"])
writer.add_block_count(cfg["num_hidden_layers"])
writer.add_feed_forward_length(cfg["intermediate_size"])
writer.add_head_count(heads)
writer.add_head_count_kv(kv_heads)
writer.add_rope_dimension_count(head_dim)
writer.add_key_length(head_dim)
writer.add_value_length(head_dim)
writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
writer.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
writer.add_file_type(gguf.LlamaFileType.ALL_F32)

vocab = json.load(open(f"{src}/tokenizer.json"))["model"]["vocab"]
tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
types = [
    gguf.TokenType.CONTROL if t in ("<unk>", "<s>", "</s>")
    else gguf.TokenType.BYTE if t.startswith("<0x") else gguf.TokenType.NORMAL
    for t in tokens
]
writer.add_tokenizer_model("llama")
writer.add_token_list(tokens)
writer.add_token_scores([-float(i) for i in range(len(tokens))])
writer.add_token_types(types)
writer.add_bos_token_id(cfg.get("bos_token_id", 1))
writer.add_eos_token_id(cfg.get("eos_token_id", 2))

names = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
parts = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
for l in range(cfg["num_hidden_layers"]):
    for hf, gg in parts.items():
        names[f"model.layers.{l}.{hf}.weight"] = f"blk.{l}.{gg}.weight"
for name, w in tensors.items():
    w = w.astype(np.float32)
    if name.endswith("q_proj.weight"):
        w = unrotate(w, heads)
    elif name.endswith("k_proj.weight"):
        w = unrotate(w, kv_heads)
    writer.add_tensor(names[name], w)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(f"wrote {out}: {len(tensors)} tensors, {len(tokens)} tokens")
