/** Published configs of real Llama models (only the fields that matter), for counts and shapes. */

const base = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_act: "silu",
  rms_norm_eps: 1e-5,
  rope_theta: 500000.0,
  vocab_size: 128256,
  bos_token_id: 128000,
  torch_dtype: "bfloat16",
};
const llama31Scaling = {
  factor: 8.0,
  low_freq_factor: 1.0,
  high_freq_factor: 4.0,
  original_max_position_embeddings: 8192,
  rope_type: "llama3",
};

/** Meta-Llama-3-8B(-Instruct). */
export const LLAMA3_8B = {
  ...base,
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  max_position_embeddings: 8192,
  rope_scaling: null,
  tie_word_embeddings: false,
  eos_token_id: 128001,
};

/** Llama-3.2-1B (tied embeddings). */
export const LLAMA32_1B = {
  ...base,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  max_position_embeddings: 131072,
  rope_scaling: { ...llama31Scaling, factor: 32.0 },
  tie_word_embeddings: true,
  eos_token_id: [128001, 128008, 128009],
};

/** Llama-3.1-70B. */
export const LLAMA31_70B = {
  ...base,
  hidden_size: 8192,
  intermediate_size: 28672,
  num_hidden_layers: 80,
  num_attention_heads: 64,
  num_key_value_heads: 8,
  max_position_embeddings: 131072,
  rope_scaling: llama31Scaling,
  tie_word_embeddings: false,
  eos_token_id: [128001, 128008, 128009],
};
