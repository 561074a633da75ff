/*
 * vllm_rules.c - what vLLM decides about a compressed-tensors checkpoint: the
 * rules of `verify --serving vllm` (one entry each) and the decisions they
 * are read from (scheme dispatch, linear kernel choice, parameter names).
 *
 * Read from upstream vLLM at commit 9aaf83ef502fc37bc647f6e474314d48ba36cd1c
 * (2026-05-19, PR #43119), the subset kept in ../shared/vllm-src. Paths are
 * relative to vllm/model_executor/. Where the project's older spec/VLLM.md
 * disagrees, this source won. Nothing here is copied from vLLM: each
 * function restates, in C, one decision, with the function it was read from
 * named above it.
 */
#include "serving.h"

#include <stdio.h>
#include <string.h>

#define CT_Q "layers/quantization/compressed_tensors/"
#define CT_S CT_Q "schemes/"
#define CT_K "kernels/linear/mixed_precision/"

const char ct_vllm_commit[] = "9aaf83ef502fc37bc647f6e474314d48ba36cd1c";
const char ct_vllm_commit_date[] = "2026-05-19";

/* ------------------------------------------------------------ the rules --- */

const ct_vllm_rule ct_vllm_rules[] = {
	{ "vllm-dispatch", CT_SEV_ERROR,
	  "the weights, input activations and format of a layer reach no vLLM scheme",
	  "use a scheme vLLM serves (see README: presets vLLM serves), or --ignore the modules",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig._get_scheme_from_parts "
	  "(NotImplementedError \"No compressed-tensors compatible scheme was found\")", false },
	{ "vllm-int-weight-only-format", CT_SEV_ERROR,
	  "integer weight-only quantization stored in an activation format (int-, naive-quantized)",
	  "store integer weight-only schemes as pack-quantized (quantize -s W4A16/W8A16 does)",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig._quantization_scheme_map_from_config "
	  "(assert weights.type == FLOAT)", false },
	{ "vllm-nvfp4-input", CT_SEV_ERROR,
	  "NVFP4 experts with input activations that are neither NVFP4 nor absent",
	  "drop input_activations (NVFP4A16) or make them NVFP4 (tensor_group 16, fp4)",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe.py: "
	  "CompressedTensorsMoEMethod.get_moe_method", false },
	{ "vllm-mxfp8-scale-dtype", CT_SEV_ERROR,
	  "MXFP8-shaped weights whose config has no scale_dtype torch.uint8 (not _is_mxfp8)",
	  "set weights.scale_dtype to \"torch.uint8\" (quantize -s MXFP8A16 writes it)",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig._is_mxfp8", false },
	{ "vllm-scheme-init", CT_SEV_ERROR,
	  "a scheme vLLM picks but whose constructor or create_weights refuses the layer",
	  "quantize with the group size and strategy the scheme takes",
	  CT_S "compressed_tensors_wNa16.py, compressed_tensors_w4a8_fp8.py, compressed_tensors_w8a8_fp8.py: "
	  "__init__ / create_weights", false },
	{ "vllm-kernel", CT_SEV_ERROR,
	  "no linear kernel of vLLM's list accepts the layer on the GPU",
	  "serve on a GPU a kernel accepts, change TP, the group size or the dtype",
	  "kernels/linear/__init__.py: choose_mp_linear_kernel, choose_scaled_mm_linear_kernel; "
	  CT_K "*.py: can_implement", false },
	{ "vllm-group-partition", CT_SEV_ERROR,
	  "the input slice per GPU of a layer is not a multiple of its group size",
	  "pick a TP size whose input slices are multiples of the group size",
	  CT_S "compressed_tensors_wNa16.py: CompressedTensorsWNA16.create_weights "
	  "(assert input_size_per_partition % group_size == 0)", false },
	{ "vllm-tp-divide", CT_SEV_ERROR,
	  "a layer dimension the tensor-parallel size does not divide",
	  "pick a TP size that divides the layer",
	  "layers/linear.py: ColumnParallelLinear/RowParallelLinear.__init__ (divide)", false },
	{ "vllm-kv-cache", CT_SEV_ERROR,
	  "a kv_cache_scheme vLLM refuses (strategy not tensor or attn_head, not symmetric, "
	  "or neither float nor 8 bits)",
	  "use an FP8 kv_cache_scheme (type float, num_bits 8, strategy tensor, symmetric), or none",
	  CT_Q "compressed_tensors.py: CompressedTensorsKVCacheMethod.validate_kv_cache_scheme",
	  false },
	{ "vllm-kv-cache-fp8", CT_SEV_WRONG,
	  "a kv_cache_scheme that is not FP8: vLLM accepts it but runs an fp8 cache with its scales",
	  "use an FP8 kv_cache_scheme, or none",
	  "layers/attention/attention.py: Attention.__init__ (kv_cache_scheme -> "
	  "kv_cache_dtype \"fp8\")", false },
	{ "vllm-sparsity", CT_SEV_ERROR,
	  "a sparsity_config (vLLM removed sparse compressed-tensors support)",
	  "decompress the sparse modules (ctensors decompress) and quantize without sparsity",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.get_scheme (supports_cutlass_24: "
	  "\"Sparse24 models are no longer supported\")", false },
	{ "vllm-fused-mixed", CT_SEV_ERROR,
	  "shards of one fused vLLM layer (q/k/v, gate/up, q_a/kv_a) with different schemes or "
	  "ignore status",
	  "quantize every shard of the fused layer alike: ignore all of them or none "
	  "(--ignore 're:.*self_attn\\.(q|k|v)_proj$')",
	  CT_Q "utils.py: should_ignore_layer (\"Found a different quantization schemes\"), "
	  "find_matched_target (_match_fused_layer takes the first shard's target)", false },
	{ "vllm-dense-targeted", CT_SEV_ERROR,
	  "a dense weight of a layer vLLM builds quantized (its targets reach it, ignore misses it)",
	  "add the module to ignore (quantize --ignore), or quantize it",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.get_quant_method; "
	  "models/*.py: load_weights", false },
	{ "vllm-compressed-untargeted", CT_SEV_ERROR,
	  "compressed tensors of a layer vLLM builds unquantized",
	  "fix the config's targets and ignore list, or decompress the module",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.get_quant_method (UnquantizedLinearMethod "
	  "registers only weight); models/*.py: load_weights", false },
	{ "vllm-params", CT_SEV_ERROR,
	  "a module whose tensors are not the parameters the scheme vLLM picks registers",
	  "store the tensors the scheme loads (re-quantize with ctensors)",
	  CT_S "*.py: create_weights (register_parameter); models/*.py: load_weights", false },
	{ "vllm-scheme-mismatch", CT_SEV_ERROR,
	  "a module stored in another scheme than the one vLLM resolves for its layer",
	  "make the targets resolve alike: vLLM takes the first matching target in config order",
	  CT_Q "utils.py: find_matched_target (name or regex, then class, first match)", false },
	{ "vllm-lm-head", CT_SEV_ERROR,
	  "a compressed lm_head that vLLM reaches by no name or regex target",
	  "name lm_head in a target (\"lm_head\" or a regex), or keep it dense and ignored",
	  CT_Q "utils.py: find_matched_target (class names: ParallelLMHead holds no \"Linear\"); "
	  "compressed_tensors.py: get_quant_method", false },
	{ "vllm-embedding", CT_SEV_ERROR,
	  "a quantized embedding (vLLM gives VocabParallelEmbedding no quantization method)",
	  "keep the embedding dense (targets Linear do)",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.get_quant_method (None for "
	  "VocabParallelEmbedding); layers/vocab_parallel_embedding.py: VocabParallelEmbedding.__init__",
	  false },
	{ "vllm-moe-scheme", CT_SEV_ERROR,
	  "gate, up and down of expert 0 of a MoE layer resolve to different schemes",
	  "give every projection of every expert one scheme",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe.py: get_moe_method (\"All MoE "
	  "projections need to have same quantization scheme\")", false },
	{ "vllm-moe-experts-differ", CT_SEV_WRONG,
	  "experts of one MoE layer with different schemes (vLLM reads expert 0's for all)",
	  "give every expert of the layer the same scheme",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe.py: get_moe_method (only expert 0)",
	  false },
	{ "vllm-moe-dispatch", CT_SEV_ERROR,
	  "MoE experts in a scheme no vLLM MoE method takes",
	  "use W4A16, W8A16, FP8, NVFP4 or MXFP4 for the experts, or ignore them",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe.py: get_moe_method (\"Unsupported "
	  "FusedMoe scheme\", \"For Fused MoE layers, only format\")", false },
	{ "vllm-moe-fused-3d", CT_SEV_ERROR,
	  "quantized fused 3-D expert tensors",
	  "split the experts into per-expert 2-D modules before quantizing",
	  "layers/fused_moe/layer.py: FusedMoE.make_expert_params_mapping; models/*.py: load_weights",
	  false },
	{ "vllm-moe-loader", CT_SEV_ERROR,
	  "per-expert 2-D expert tensors in a family whose vLLM loader maps only fused experts",
	  "none at this vLLM commit for gpt-oss: its compressed-tensors loader reads fused "
	  "w13_weight/w2_weight tensors only",
	  "models/gpt_oss.py: GptOssModel._load_weights_other (no expert_params_mapping)", false },
	{ "vllm-moe-wna16", CT_SEV_ERROR,
	  "MoE weight-only integers that are asymmetric, or act-ordered on the Triton path",
	  "use a symmetric 4- or 8-bit scheme for the experts",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe_wna16_marlin.py: __init__ (assert "
	  "symmetric); compressed_tensors_moe.py: get_moe_method (actorder)", false },
	{ "vllm-moe-fp8-static-channel", CT_SEV_ERROR,
	  "FP8 MoE experts in strategies the FP8 MoE method refuses: per-channel weights need "
	  "dynamic per-token input, per-tensor weights per-tensor input, anything else blocks",
	  "use per-tensor weights with static input, or dynamic per-token input",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe_w8a8_fp8.py: "
	  "CompressedTensorsW8A8Fp8MoEMethod.__init__", false },
	{ "vllm-nvfp4-moe-global-scale", CT_SEV_WRONG,
	  "NVFP4 experts whose gate and up projections differ in weight_global_scale (vLLM "
	  "keeps gate's)",
	  "quantize with shared gate/up global scales (ctensors fuses them unless "
	  "--no-fuse-global-scale)",
	  CT_Q "compressed_tensors_moe/compressed_tensors_moe_w4a4_nvfp4.py "
	  "(\"w1_weight_global_scale must match w3_weight_global_scale\")", false },
	{ "vllm-nvfp4-qkv-global-scale", CT_SEV_NOTE,
	  "q, k and v projections with different NVFP4 global scales (vLLM warns and uses the "
	  "largest)",
	  "quantize with fused global scales (the default)",
	  CT_S "compressed_tensors_w4a4_nvfp4.py: process_weights_after_loading", false },
	{ "vllm-capability", CT_SEV_ERROR,
	  "the scheme vLLM picks needs a newer GPU than the target",
	  "serve on a GPU the scheme supports, or choose a scheme the GPU runs",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig._check_scheme_supported; "
	  "schemes/*: get_min_capability", false },
	{ "vllm-fp8-block-shape", CT_SEV_ERROR,
	  "FP8 block quantization whose block does not divide a partition of a layer (merged "
	  "q/k/v and gate/up at every TP size, slices per GPU at TP > 1)",
	  "choose a TP size whose slices are multiples of the block, or layers the block divides",
	  "layers/quantization/utils/fp8_utils.py: validate_fp8_block_shape", false },
	{ "vllm-router", CT_SEV_ERROR,
	  "a MoE router stored other than as the family's vLLM router loads it",
	  "keep routers dense and list them in ignore (--ignore 're:.*mlp\\.gate$'), except "
	  "Qwen3-MoE, whose router is a quantizable linear layer",
	  "models/qwen3_moe.py: Qwen3MoeSparseMoeBlock (gate quant_config=quant_config); "
	  "models/deepseek_v2.py, mixtral.py, qwen2_moe.py, gpt_oss.py, llama4.py (router "
	  "quant_config=None)", false },
	{ "vllm-attention-group", CT_SEV_NOTE,
	  "a config group whose only target ends in Attention (vLLM drops it)",
	  "use kv_cache_scheme for attention quantization",
	  CT_Q "compressed_tensors.py: CompressedTensorsConfig.from_config", false },
	{ "vllm-targets", CT_SEV_NOTE,
	  "the GPUs and tensor-parallel sizes on which vLLM serves the checkpoint",
	  "give --gpu and --tp for a definite verdict",
	  CT_Q "compressed_tensors.py: _check_scheme_supported; kernels/linear/__init__.py: "
	  "choose_mp_linear_kernel", false },
};

const size_t ct_vllm_n_rules = sizeof(ct_vllm_rules) / sizeof(ct_vllm_rules[0]);

/* -------------------------------------------------------------- schemes --- */

static const char *const scheme_names[CT_VS_COUNT] = {
	[CT_VS_NONE] = "unquantized",
	[CT_VS_WNA16] = "CompressedTensorsWNA16",
	[CT_VS_W4A16_FP4] = "CompressedTensorsW4A16Fp4",
	[CT_VS_W4A4_FP4] = "CompressedTensorsW4A4Fp4",
	[CT_VS_W4A4_MXFP4] = "CompressedTensorsW4A4Mxfp4",
	[CT_VS_W8A8_MXFP8] = "CompressedTensorsW8A8Mxfp8",
	[CT_VS_W4A8_FP8] = "CompressedTensorsW4A8Fp8",
	[CT_VS_W4A8_INT] = "CompressedTensorsW4A8Int",
	[CT_VS_W8A8_FP8] = "CompressedTensorsW8A8Fp8",
	[CT_VS_W8A16_FP8] = "CompressedTensorsW8A16Fp8",
	[CT_VS_W8A8_INT8] = "CompressedTensorsW8A8Int8",
};

const char *ct_vscheme_name(ct_vscheme s)
{
	return s >= 0 && s < CT_VS_COUNT ? scheme_names[s] : "?";
}

/* schemes/compressed_tensors_<scheme>.py: get_min_capability of each class */
int ct_vscheme_min_capability(ct_vscheme s)
{
	switch (s) {
	case CT_VS_W4A4_MXFP4: return 80;   /* compressed_tensors_w4a4_mxfp4.py */
	case CT_VS_W4A8_FP8: return 90;     /* compressed_tensors_w4a8_fp8.py */
	case CT_VS_W4A8_INT: return 1;      /* compressed_tensors_w4a8_int.py */
	case CT_VS_W8A8_FP8: return 89;     /* compressed_tensors_w8a8_fp8.py */
	case CT_VS_NONE: return 0;
	default: return 75;                 /* WNA16, W4A16Fp4, W4A4Fp4, W8A8Mxfp8, W8A16Fp8, W8A8Int8 */
	}
}

/* compressed_tensors.py: _is_nvfp4_format */
bool ct_vllm_is_nvfp4(const ct_qargs *a)
{
	return a && a->strategy == CT_STRAT_TENSOR_GROUP && a->type == CT_QTYPE_FLOAT &&
	       a->num_bits == 4 && a->has_group_size && a->group_size == 16 && a->symmetric;
}

/* compressed_tensors.py: _is_mxfp4 */
bool ct_vllm_is_mxfp4(const ct_qargs *a)
{
	return a && a->strategy == CT_STRAT_GROUP && a->type == CT_QTYPE_FLOAT && a->num_bits == 4 &&
	       a->has_group_size && a->group_size == 32 && a->symmetric;
}

/* compressed_tensors.py: _is_mxfp8 (scale_dtype torch.uint8 included) */
bool ct_vllm_is_mxfp8(const ct_qargs *a)
{
	return a && a->strategy == CT_STRAT_GROUP && a->type == CT_QTYPE_FLOAT && a->num_bits == 8 &&
	       a->has_group_size && a->group_size == 32 && a->symmetric && a->has_scale_dtype &&
	       a->scale_dtype == CT_U8;
}

/* QuantizationArgs.dynamic is a bool or "local"; "local" is truthy. */
static bool dyn(const ct_qargs *a)
{
	return a->dynamic != CT_DYN_FALSE;
}

static bool tensor_or_channel(const ct_qargs *w)
{
	return w->strategy == CT_STRAT_TENSOR || w->strategy == CT_STRAT_CHANNEL;
}

/* compressed_tensors.py: _is_static_tensor_w8a8 (no type check) */
static bool static_tensor_w8a8(const ct_qargs *w, const ct_qargs *in)
{
	return w->num_bits == 8 && in->num_bits == 8 && tensor_or_channel(w) &&
	       in->strategy == CT_STRAT_TENSOR && w->symmetric && !dyn(w) && !dyn(in);
}

/* compressed_tensors.py: _is_dynamic_token_w8a8 (no type check) */
bool ct_vllm_is_dynamic_token_w8a8(const ct_qargs *w, const ct_qargs *in)
{
	return in && w->num_bits == 8 && in->num_bits == 8 && tensor_or_channel(w) &&
	       in->strategy == CT_STRAT_TOKEN && w->symmetric && !dyn(w) && dyn(in);
}

/* compressed_tensors.py: _is_dynamic_token_w4a8_int (no type check) */
bool ct_vllm_is_dynamic_token_w4a8_int(const ct_qargs *w, const ct_qargs *in)
{
	return in && w->num_bits == 4 && in->num_bits == 8 &&
	       (w->strategy == CT_STRAT_GROUP || w->strategy == CT_STRAT_CHANNEL) &&
	       in->strategy == CT_STRAT_TOKEN && w->symmetric && !dyn(w) && dyn(in);
}

/* compressed_tensors.py: _is_fp8_w8a8 (weights and input both float) */
bool ct_vllm_is_fp8_w8a8(const ct_qargs *w, const ct_qargs *in)
{
	if (!w || !in || w->type != CT_QTYPE_FLOAT || in->type != CT_QTYPE_FLOAT || !w->symmetric ||
	    dyn(w) || !(tensor_or_channel(w) || w->strategy == CT_STRAT_BLOCK))
		return false;
	return dyn(in) || (in->symmetric && in->strategy == CT_STRAT_TENSOR);
}

/* compressed_tensors.py: _is_fp8_w4a8 - the types of neither weights nor
 * input are looked at; _is_fp8_w4a8_sm90 adds capability == 90 exactly */
bool ct_vllm_is_fp8_w4a8(const ct_qargs *w, const ct_qargs *in)
{
	return w && in && w->num_bits == 4 && in->num_bits == 8 && w->strategy == CT_STRAT_GROUP &&
	       in->strategy == CT_STRAT_TOKEN && w->symmetric && in->symmetric && !dyn(w) && dyn(in);
}

/* compressed_tensors.py: _is_fp8_w8a16 (any float width: only the type and
 * strategy are looked at) */
static bool fp8_w8a16(const ct_qargs *w)
{
	return w->type == CT_QTYPE_FLOAT && w->symmetric && !dyn(w) &&
	       (tensor_or_channel(w) || w->strategy == CT_STRAT_BLOCK);
}

/* compressed_tensors.py: _is_wNa16_group_channel */
bool ct_vllm_is_wna16(const ct_qargs *w, const ct_qargs *in)
{
	return !in && (w->strategy == CT_STRAT_CHANNEL || w->strategy == CT_STRAT_GROUP) && !dyn(w);
}

/* utils.py: is_activation_quantization_format */
bool ct_vllm_act_format(ct_format f)
{
	return f == CT_FMT_NAIVE || f == CT_FMT_INT || f == CT_FMT_FLOAT || f == CT_FMT_NVFP4;
}

/* compressed_tensors.py: CompressedTensorsConfig._get_scheme_from_parts, in
 * its order; sm is the capability (the W4A8-FP8 test is sm == 90, W8A8-FP8
 * falls back to W8A16-FP8 below 89). */
ct_vscheme ct_vllm_scheme(const ct_qargs *w, const ct_qargs *in, ct_format fmt, int sm)
{
	if (ct_vllm_is_nvfp4(w) && !in)
		return CT_VS_W4A16_FP4;
	if (ct_vllm_is_mxfp4(w))
		return CT_VS_W4A4_MXFP4;
	if (ct_vllm_is_mxfp8(w))
		return CT_VS_W8A8_MXFP8;
	if (sm == 90 && ct_vllm_is_fp8_w4a8(w, in))
		return CT_VS_W4A8_FP8;
	if (ct_vllm_is_wna16(w, in) && fmt == CT_FMT_PACK && (w->num_bits == 4 || w->num_bits == 8))
		return CT_VS_WNA16;
	if (ct_vllm_act_format(fmt)) {
		if (ct_vllm_is_nvfp4(w) && ct_vllm_is_nvfp4(in))
			return CT_VS_W4A4_FP4;
		if (ct_vllm_is_fp8_w8a8(w, in))
			return sm >= ct_vscheme_min_capability(CT_VS_W8A8_FP8) ? CT_VS_W8A8_FP8 :
										 CT_VS_W8A16_FP8;
		if (fp8_w8a16(w))
			return CT_VS_W8A16_FP8;
		if (in && static_tensor_w8a8(w, in))
			return CT_VS_W8A8_INT8;
		if (ct_vllm_is_dynamic_token_w8a8(w, in))
			return CT_VS_W8A8_INT8;
		if (ct_vllm_is_dynamic_token_w4a8_int(w, in))
			return CT_VS_W4A8_INT;
	}
	return CT_VS_NONE;
}

/* The parameters each scheme registers (create_weights): a model loader
 * fills them by name. schemes/compressed_tensors_*.py: create_weights. */
unsigned ct_vscheme_params(ct_vscheme s, const ct_qargs *w, const ct_qargs *in)
{
	bool static_in = in && !dyn(in);
	switch (s) {
	case CT_VS_NONE:
		return CT_PB(CT_P_WEIGHT);
	case CT_VS_WNA16: /* weight_packed, weight_scale, weight_shape, zero point if
			   * asymmetric, weight_g_idx for actorder group */
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_SHAPE) |
		       (w->symmetric ? 0 : CT_PB(CT_P_ZP)) |
		       (w->actorder == CT_ACT_GROUP ? CT_PB(CT_P_GIDX) : 0);
	case CT_VS_W4A8_FP8: /* compressed_tensors_w4a8_fp8.py: packed int4, no zero point */
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_SHAPE);
	case CT_VS_W4A8_INT: /* compressed_tensors_w4a8_int.py: one int8 parameter
			      * registered as weight and weight_packed; named_parameters
			      * lists it once, as weight */
		return CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE);
	case CT_VS_W4A16_FP4:
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_GSCALE);
	case CT_VS_W4A4_FP4:
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_GSCALE) |
		       CT_PB(CT_P_INGSCALE);
	case CT_VS_W4A4_MXFP4:
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE);
	case CT_VS_W8A8_MXFP8:
		return CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE);
	case CT_VS_W8A8_FP8:
	case CT_VS_W8A16_FP8: /* input_scale for a static input scheme */
		return CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE) | (static_in ? CT_PB(CT_P_INSCALE) : 0);
	case CT_VS_W8A8_INT8: /* input_scale (and zero point if asymmetric) when static */
		return CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE) |
		       (static_in ? CT_PB(CT_P_INSCALE) : 0) |
		       (static_in && !in->symmetric ? CT_PB(CT_P_INZP) : 0);
	default:
		return 0;
	}
}

static const char *const param_names[CT_P_COUNT] = {
	"weight", "weight_packed", "weight_scale", "weight_zero_point", "weight_shape",
	"weight_g_idx", "weight_global_scale", "input_scale", "input_global_scale",
	"input_zero_point",
};

const char *ct_vllm_param_name(int p)
{
	return p >= 0 && p < CT_P_COUNT ? param_names[p] : NULL;
}

/* ------------------------------------------------- mixed-precision kernels --- */

static const char *const mp_names[CT_MPK_COUNT] = {
	"CutlassW4A8LinearKernel", "MacheteLinearKernel", "AllSparkLinearKernel",
	"MarlinLinearKernel", "ConchLinearKernel", "ExllamaLinearKernel",
};

const char *ct_mpkernel_name(int k)
{
	return k >= 0 && k < CT_MPK_COUNT ? mp_names[k] : "none";
}

#define WHY(...) (snprintf(why, n, __VA_ARGS__), false)

/* mixed_precision/cutlass.py: CutlassW4A8LinearKernel (get_min_capability 90,
 * can_implement) */
static bool cutlass_w4a8(const ct_mp_config *c, int sm, char *why, size_t n)
{
	if (sm != 90)
		return WHY("needs sm90 exactly");
	if (!c->act_fp8)
		return WHY("only FP8 (e4m3) activations");
	if (c->g_idx)
		return WHY("no act reordering");
	if (c->zp)
		return WHY("no zero points");
	if (!c->int4)
		return WHY("int4 weights only");
	if (c->group != 128)
		return WHY("group size 128 only");
	if (c->k_part % 128 || c->n_part % 128)
		return WHY("K and N per GPU must be multiples of 128");
	if (c->fp16)
		return WHY("bfloat16 output only");
	return true;
}

/* mixed_precision/machete.py: MacheteLinearKernel.can_implement;
 * utils/machete_utils.py: query_machete_supported_quant_types (uint4/uint8
 * with zero points, uint4b8/uint8b128 without), _group_sizes (-1, 64, 128),
 * check_machete_supports_shape (MACHETE_PREPACKED_BLOCK_SHAPE 64 x 128) */
static bool machete(const ct_mp_config *c, int sm, char *why, size_t n)
{
	if (sm != 90)
		return WHY("needs sm90 exactly");
	if (c->g_idx && c->k_part != c->k_full)
		return WHY("no act reordering with the input split across GPUs");
	if (c->int4 || c->act_fp8 || (c->bits != 4 && c->bits != 8))
		return WHY("uint4/uint8 weights only");
	if (c->group != -1 && c->group != 64 && c->group != 128)
		return WHY("group size %lld not in -1, 64, 128", (long long)c->group);
	if (c->k_part % 64)
		return WHY("input %llu per GPU not a multiple of 64", (unsigned long long)c->k_part);
	if (c->n_part % 128)
		return WHY("output %llu per GPU not a multiple of 128", (unsigned long long)c->n_part);
	return true;
}

/* mixed_precision/allspark.py: AllSparkLinearKernel (min capability 80);
 * utils/allspark_utils.py: check_allspark_supported_dtype_shape (Ampere
 * only: channelwise uint8b128, K and N multiples of 16) */
static bool allspark(const ct_mp_config *c, int sm, char *why, size_t n)
{
	if (sm < 80 || sm >= 90)
		return WHY("Ampere (sm80-sm89) only");
	if (c->g_idx)
		return WHY("no act reordering");
	if (c->zp)
		return WHY("no zero points");
	if (c->group != -1)
		return WHY("channelwise only");
	if (c->bits != 8 || c->int4 || c->act_fp8)
		return WHY("uint8b128 weights only");
	if (c->k_part % 16 || c->n_part % 16)
		return WHY("K and N per GPU must be multiples of 16");
	return true;
}

/* mixed_precision/marlin.py: MarlinLinearKernel (min capability 75);
 * utils/marlin_utils.py: query_marlin_supported_quant_types (uint4 with zero
 * points; uint4b8, uint8b128 without), MARLIN_SUPPORTED_GROUP_SIZES,
 * verify_marlin_supports_shape (GPTQ_MARLIN_MIN_THREAD_N 64, _K 128) */
static bool marlin(const ct_mp_config *c, int sm, char *why, size_t n)
{
	if (sm < 75)
		return WHY("needs sm75");
	if (c->int4 || c->act_fp8)
		return WHY("int4 weights are not a Marlin type");
	if (c->zp ? c->bits != 4 : (c->bits != 4 && c->bits != 8))
		return WHY("%s %d-bit weights not a Marlin type", c->zp ? "zero-point" : "symmetric",
			   c->bits);
	if (c->group != -1 && c->group != 32 && c->group != 64 && c->group != 128)
		return WHY("group size %lld not in -1, 32, 64, 128", (long long)c->group);
	if (c->n_part % 64)
		return WHY("output %llu per GPU not a multiple of 64", (unsigned long long)c->n_part);
	if (c->k_part % 128)
		return WHY("input %llu per GPU not a multiple of 128", (unsigned long long)c->k_part);
	if (c->group > 0 && (uint64_t)c->group < c->k_full && c->k_part % (uint64_t)c->group)
		return WHY("input %llu per GPU not a multiple of the group size",
			   (unsigned long long)c->k_part);
	return true;
}

/* mixed_precision/conch.py: ConchLinearKernel.can_implement needs the
 * conch-triton-kernels package, which vLLM's CUDA requirements do not
 * install: taken as absent (a build with it is one this check cannot know). */
static bool conch(const ct_mp_config *c, int sm, char *why, size_t n)
{
	(void)c;
	(void)sm;
	return WHY("conch-triton-kernels is not installed in a CUDA build");
}

/* mixed_precision/exllama.py: ExllamaLinearKernel (min capability 60,
 * can_implement: float16 activations, uint4b8/uint8b128, a positive group
 * dividing the full input) */
static bool exllama(const ct_mp_config *c, int sm, char *why, size_t n)
{
	if (sm < 60)
		return WHY("needs sm60");
	if (c->g_idx && c->k_part != c->k_full)
		return WHY("no act reordering with the input split across GPUs");
	if (c->bits <= 0 || c->n_part % (uint64_t)(32 / c->bits))
		return WHY("output per GPU not a multiple of the pack factor");
	if (c->act_fp8 || !c->fp16)
		return WHY("float16 activations only");
	if (c->int4 || c->zp || (c->bits != 4 && c->bits != 8))
		return WHY("uint4b8/uint8b128 weights only");
	if (c->group <= 0)
		return WHY("no channelwise quantization");
	if (c->k_full % (uint64_t)c->group)
		return WHY("group size does not divide the input");
	return true;
}

/* kernels/linear/__init__.py: choose_mp_linear_kernel over
 * _POSSIBLE_KERNELS[CUDA], in that order: the first that accepts. */
int ct_vllm_mp_kernel(const ct_mp_config *c, int sm, char *why, size_t n)
{
	typedef bool (*can_fn)(const ct_mp_config *, int, char *, size_t);
	static const can_fn order[CT_MPK_COUNT] = { cutlass_w4a8, machete, allspark, marlin,
						    conch, exllama };
	size_t used = 0;
	if (n)
		why[0] = '\0';
	for (int k = 0; k < CT_MPK_COUNT; k++) {
		char one[160];
		if (order[k](c, sm, one, sizeof(one)))
			return k;
		if (used < n) {
			int w = snprintf(why + used, n - used, "%s%s: %s", used ? "; " : "",
					 mp_names[k], one);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	return CT_MPK_NONE;
}

/* ---------------------------------------------------------- dtype, kernels --- */

/* config/model.py: _resolve_auto_dtype with platforms/cuda.py:
 * supported_dtypes (bfloat16 from sm80; float32 models are cast to the first
 * supported dtype). True for float16. */
bool ct_vllm_act_fp16(const char *torch_dtype, int sm)
{
	bool bf16_ok = sm >= 80;
	if (torch_dtype && (strcmp(torch_dtype, "float16") == 0 || strcmp(torch_dtype, "half") == 0))
		return true;
	return !bf16_ok;
}

/* kernels/linear/scaled_mm/marlin.py: MarlinFP8ScaledMMLinearKernel.is_supported
 * (sm75 up to sm89, unless VLLM_TEST_FORCE_FP8_MARLIN) is the only CUDA
 * entry of _POSSIBLE_WFP8A16_KERNELS (init_wfp8_a16_linear_kernel). */
bool ct_vllm_wfp8a16_kernel(int sm)
{
	return sm >= 75 && sm < 89;
}
