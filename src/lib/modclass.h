/*
 * modclass.h - the torch class of a module, inferred from what a checkpoint
 * shows: its name, the rank of its weight and config.json's model_type.
 *
 * compressed-tensors matches a class target ("Linear", "Embedding") against
 * the module's class hierarchy and quantizes only nn.Linear and nn.Embedding
 * modules (apply_quantization_config); vLLM matches "Linear" only against
 * its linear layers. A tool that sees files, not modules, must guess the
 * class the way transformers builds the model, or "Linear" would catch
 * embeddings and GPT-2's transposed Conv1D weights.
 */
#ifndef CT_MODCLASS_H
#define CT_MODCLASS_H

#include <jansson.h>
#include <stdbool.h>

typedef enum ct_modclass {
	CT_MOD_LINEAR,       /* torch.nn.Linear */
	CT_MOD_EMBEDDING,    /* torch.nn.Embedding */
	CT_MOD_CONV1D_HF,    /* transformers' Conv1D (GPT-2 family): a transposed Linear */
	CT_MOD_CONV1D,       /* torch.nn.Conv1d (3-D weight) */
	CT_MOD_CONV2D,       /* torch.nn.Conv2d (4-D weight) */
	CT_MOD_CONV3D,       /* torch.nn.Conv3d (5-D weight) */
	CT_MOD_NORM,         /* LayerNorm, RMSNorm, ... (1-D weight or a norm's name) */
	CT_MOD_OTHER,        /* anything else holding a weight */
	CT_MOD_COUNT
} ct_modclass;

/* What config.json says about the architecture, as far as classes go. */
typedef struct ct_arch {
	bool known;          /* model_type or architectures present */
	bool hf_conv1d;      /* the family builds c_attn/c_proj/c_fc as Conv1D */
} ct_arch;

/* Reads model_type and architectures (top level, else text_config); a NULL
 * or unrelated config gives an unknown architecture. */
void ct_arch_from_config(const json_t *config, ct_arch *out);

/* The class of the module whose weight has ndim dimensions. Without a known
 * architecture, GPT-2 style names (c_attn, c_proj, c_fc) count as Conv1D:
 * leaving a Linear dense is safe, quantizing a transposed weight is not. */
ct_modclass ct_module_class(const char *module, int ndim, const ct_arch *arch);

/* "Linear", "Embedding", "Conv1D", "Conv1d", "Conv2d", "Conv3d", "Norm",
 * "Module". */
const char *ct_modclass_name(ct_modclass c);

/* True for the classes compressed-tensors quantizes (Linear, Embedding). */
bool ct_modclass_quantizable(ct_modclass c);

/* True when module (with a 2-D weight) is a MoE router: a leaf "router", or
 * a "gate" directly under "mlp", "block_sparse_moe", "moe" or "feed_forward"
 * (not gate_proj, not shared_expert_gate). In transformers v5 these are
 * router classes holding a bare weight parameter (Qwen3MoeTopKRouter,
 * DeepseekV3TopkRouter, GptOssTopKRouter, ...), not nn.Linear, so
 * compressed-tensors' apply_quantization_config never quantizes them, and
 * its QuantizationConfig.from_pretrained (get_vllm_module_type: a class
 * named "*Router*"/"*Gate*" counts as "Linear") lists them in ignore. Only
 * meaningful in a checkpoint that has experts. */
bool ct_module_is_router(const char *module);

/* The decoder layers config.json declares (num_hidden_layers, top level or
 * text_config), or -1 when it says nothing. */
long long ct_arch_num_layers(const json_t *config);

/* True when module's weights are ones transformers drops on load, so that
 * no model llm-compressor quantizes holds them: the multi-token-prediction
 * head of Qwen3-Next and Qwen3.5 ("mtp.*": their *ForCausalLM's
 * _keys_to_ignore_on_load_unexpected = [r"^mtp.*"]), and decoder layers
 * past num_hidden_layers (DeepSeek-V3's MTP layer model.layers.61, which
 * DeepseekV3ForCausalLM ignores as r"model\.layers\.61.*"; GLM-4.5 alike).
 * vLLM loads them for speculative decoding. num_layers < 0: unknown. */
bool ct_module_dropped_on_load(const char *module, long long num_layers);

/* True when target names a class this inference knows ("Linear",
 * "Embedding", "Conv1D", "Conv1d/2d/3d", "Module", "...Norm"). */
bool ct_class_target(const char *target);

/* True when target names c or one of its base classes. */
bool ct_modclass_matches(ct_modclass c, const char *target);

#endif
