/*
 * vllm_rules.c - the rules of `verify --serving vllm`, one entry each.
 *
 * Read from vLLM's compressed-tensors integration as of 2026 (the
 * v0.22-0.23 era: compressed_tensors.py at f14c4ffd and db7a6bcb, the MoE
 * methods after the RoutedExperts refactor at 8a95a688; see the project's
 * spec/VLLM.md). Paths are relative to vllm/model_executor/. A rule marked
 * unverified is reported as a note, never as a failure.
 */
#include "serving.h"

#define CT_Q "layers/quantization/compressed_tensors/"

const ct_vllm_rule ct_vllm_rules[] = {
	{ "vllm-dispatch", CT_SEV_ERROR,
	  "the weights, input activations and format of a config group reach no vLLM scheme",
	  "use a preset vLLM serves (W4A16, W8A16, W8A8, FP8_DYNAMIC, FP8_BLOCK, NVFP4A16, "
	  "MXFP4A16), or --ignore the modules",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig._get_scheme_from_parts", false },
	{ "vllm-int-weight-only-format", CT_SEV_ERROR,
	  "integer weight-only quantization stored in an activation format (int-, naive-quantized)",
	  "store integer weight-only schemes as pack-quantized (quantize -s W4A16/W8A16 does)",
	  CT_Q "compressed_tensors.py: _get_scheme_from_parts (assert weights.type == FLOAT)",
	  false },
	{ "vllm-nvfp4-input", CT_SEV_ERROR,
	  "NVFP4 weights with input activations that are not NVFP4",
	  "drop input_activations (NVFP4A16) or make them NVFP4 (tensor_group 16, fp4)",
	  CT_Q "compressed_tensors.py: _get_scheme_from_parts (W4A4Fp4)", false },
	{ "vllm-mxfp8-scale-dtype", CT_SEV_ERROR,
	  "MXFP8 weights whose config has no scale_dtype torch.uint8",
	  "set weights.scale_dtype to \"torch.uint8\" (quantize -s MXFP8A16 writes it)",
	  CT_Q "compressed_tensors.py: _get_scheme_from_parts (_is_mxfp8)", false },
	{ "vllm-wna16-asym-bits", CT_SEV_ERROR,
	  "asymmetric weight-only integers of a width other than 4 or 8 bits",
	  "use a symmetric scheme, or 4 or 8 bits",
	  CT_Q "schemes/compressed_tensors_wNa16.py: CompressedTensorsWNA16.__init__", false },
	{ "vllm-kv-cache", CT_SEV_ERROR,
	  "a kv_cache_scheme that is not 8-bit float, per tensor or attention head, symmetric",
	  "use an FP8 kv_cache_scheme (type float, num_bits 8, strategy tensor, symmetric), or "
	  "none",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.from_config / kv cache method",
	  false },
	{ "vllm-sparsity", CT_SEV_ERROR,
	  "a sparsity_config (vLLM removed sparse compressed-tensors support)",
	  "decompress the sparse modules (ctensors decompress) and quantize without sparsity",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.from_config (DeprecationWarning)",
	  false },
	{ "vllm-fused-mixed", CT_SEV_ERROR,
	  "shards of one fused vLLM layer (q/k/v, gate/up, q_a/kv_a) with different schemes or "
	  "ignore status",
	  "quantize every shard of the fused layer alike: ignore all of them or none "
	  "(--ignore 're:.*self_attn\\.(q|k|v)_proj$')",
	  CT_Q "utils.py: should_ignore_layer; compressed_tensors.py: get_scheme "
	  "(\"Found a different quantization schemes\")", false },
	{ "vllm-dense-targeted", CT_SEV_ERROR,
	  "a dense Linear weight that the config's targets reach and its ignore list misses",
	  "add the module to ignore (quantize --ignore), or quantize it",
	  CT_Q "compressed_tensors.py: get_quant_method (a quantized layer expects weight_packed)",
	  false },
	{ "vllm-compressed-untargeted", CT_SEV_ERROR,
	  "compressed tensors of a module that no config group quantizes (or that ignore names)",
	  "fix the config's targets and ignore list, or decompress the module",
	  CT_Q "compressed_tensors.py: get_quant_method (an unquantized layer has no "
	  "weight_packed / weight_scale parameters)", false },
	{ "vllm-unmatched-linear", CT_SEV_NOTE,
	  "a Linear that neither the targets nor the ignore list name (name-only targets)",
	  "list the module in ignore",
	  CT_Q "utils.py: find_matched_target (\"Unable to find matching target\" in 2025 "
	  "releases)", true },
	{ "vllm-moe-scheme", CT_SEV_ERROR,
	  "gate, up and down of expert 0 of a MoE layer resolve to different schemes",
	  "give every projection of every expert one scheme",
	  CT_Q "compressed_tensors_moe.py: CompressedTensorsMoEMethod.get_moe_method", false },
	{ "vllm-moe-experts-differ", CT_SEV_WRONG,
	  "experts of one MoE layer with different schemes (vLLM reads expert 0's for all)",
	  "give every expert of the layer the same scheme",
	  CT_Q "compressed_tensors_moe.py: get_moe_method (only expert 0 is checked)", false },
	{ "vllm-moe-fused-3d", CT_SEV_ERROR,
	  "quantized fused 3-D expert tensors",
	  "split the experts into per-expert 2-D modules before quantizing",
	  "models/*: load_weights / fused_moe/layer.py: make_expert_params_mapping", false },
	{ "vllm-moe-wna16", CT_SEV_ERROR,
	  "MoE weight-only integers that are asymmetric or not 4 or 8 bits",
	  "use a symmetric 4- or 8-bit scheme for the experts",
	  CT_Q "compressed_tensors_moe.py: CompressedTensorsWNA16MarlinMoEMethod "
	  "(\"Only symmetric quantization is supported for MoE\")", false },
	{ "vllm-moe-fp8-static-channel", CT_SEV_ERROR,
	  "FP8 MoE experts with per-channel weights and static input activations",
	  "use per-tensor weights with static input, or dynamic per-token input",
	  CT_Q "compressed_tensors_moe.py: CompressedTensorsW8A8Fp8MoEMethod", false },
	{ "vllm-nvfp4-moe-global-scale", CT_SEV_WRONG,
	  "NVFP4 experts whose gate and up projections differ in weight_global_scale (vLLM "
	  "keeps gate's)",
	  "quantize with shared gate/up global scales (ctensors fuses them unless "
	  "--no-fuse-global-scale)",
	  CT_Q "compressed_tensors_moe.py: CompressedTensorsW4A4Nvfp4MoEMethod "
	  "(\"w1_weight_global_scale must match w3_weight_global_scale\")", false },
	{ "vllm-nvfp4-qkv-global-scale", CT_SEV_NOTE,
	  "q, k and v projections with different NVFP4 global scales (vLLM warns and uses the "
	  "largest)",
	  "quantize with fused global scales (the default)",
	  CT_Q "schemes/compressed_tensors_w4a4_nvfp4.py: process_weights_after_loading", false },
	{ "vllm-capability", CT_SEV_ERROR,
	  "the scheme needs a newer GPU than the target, or runs through a fallback kernel",
	  "serve on a GPU the scheme supports, or choose a scheme the GPU runs natively",
	  CT_Q "compressed_tensors.py: _check_scheme_supported; schemes/*: get_min_capability",
	  false },
	{ "vllm-marlin-shape", CT_SEV_NOTE,
	  "a weight-only layer that Marlin cannot run at this tensor-parallel size",
	  "pick a TP size that divides the layer as Marlin needs, or another group size",
	  "layers/quantization/utils/marlin_utils.py: check_marlin_supports_shape "
	  "(GPTQ_MARLIN_MIN_THREAD_N/K); fallback kernels unverified", true },
	{ "vllm-fp8-block-tp", CT_SEV_ERROR,
	  "FP8 block quantization whose block does not divide a layer's tensor-parallel slice",
	  "choose a TP size whose slices are multiples of the block (128)",
	  "layers/quantization/utils/fp8_utils.py: validate_fp8_block_shape", false },
	{ "vllm-router", CT_SEV_ERROR,
	  "a MoE router or shared-expert gate quantized on disk, or dense but not ignored",
	  "keep routers dense and list them in ignore (--ignore 're:.*mlp\\.gate$')",
	  "models/deepseek_v2.py: DeepSeekV2Gate (assert quant_config is None); models/qwen3_moe.py "
	  "(ReplicatedLinear, shared_expert_gate quant_config=None)", false },
	{ "vllm-embedding", CT_SEV_ERROR,
	  "a quantized embedding in a scheme other than weight-only integer groups or channels",
	  "keep the embedding dense (targets Linear do), or quantize it W4A16/W8A16",
	  "layers/vocab_parallel_embedding.py (compressed-tensors embeddings: WNA16 only, #44340)",
	  false },
	{ "vllm-attention-group", CT_SEV_NOTE,
	  "a config group whose only target ends in Attention (vLLM drops it)",
	  "use kv_cache_scheme for attention quantization",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.from_config", false },
};

const size_t ct_vllm_n_rules = sizeof(ct_vllm_rules) / sizeof(ct_vllm_rules[0]);
