/*
 * codec_nvfp4.c - nvfp4-pack-quantized: E2M1 nibbles, an FP8 (e4m3) scale per
 * 16 elements already multiplied by a per-tensor F32 global scale
 * (FORMAT.md §3.6, §4.6).
 */
#include "codec.h"

#include <math.h>
#include <string.h>

static const char *const nvfp4_suffixes[] = {
	"weight_packed", "weight_scale", "weight_global_scale", NULL
};

static int nvfp4_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
			 ct_error *err)
{
	const ct_qargs *a = m->args;
	if (a->type != CT_QTYPE_FLOAT || a->num_bits != 4 ||
	    a->strategy != CT_STRAT_TENSOR_GROUP || !a->symmetric ||
	    (a->has_scale_dtype && a->scale_dtype != CT_F8_E4M3))
		return ct_fail(err, CT_EINPUT, "nvfp4-pack-quantized needs float 4-bit weights "
			       "with the tensor_group strategy and float8_e4m3fn scales");
	uint64_t g = (uint64_t)a->group_size;
	out[0] = (ct_codec_tensor){ .suffix = "weight_packed", .dtype = CT_U8, .ndim = 2,
		.shape = { m->rows, m->cols / 2 } };
	out[1] = (ct_codec_tensor){ .suffix = "weight_scale", .dtype = CT_F8_E4M3, .ndim = 2,
		.shape = { m->rows, m->cols / g } };
	out[2] = (ct_codec_tensor){ .suffix = "weight_global_scale", .dtype = CT_F32,
		.ndim = 1, .shape = { 1 } };
	*n = 3;
	return CT_OK;
}

static int nvfp4_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
			ct_emit_fn emit, void *ctx, ct_error *err)
{
	int rc = ct_codec_fp4_encode(m, w, p, CT_F8_E4M3, emit, ctx, err);
	if (!rc)
		rc = emit(ctx, 2, &p->gs, sizeof(float), err);
	return rc;
}

static int nvfp4_load(const ct_qargs *a, ct_lookup_fn get, void *gctx, ct_qparams *p,
		      ct_dec_info *info, ct_error *err)
{
	const ct_tensor *gst = get(gctx, "weight_global_scale");
	uint64_t one = 1;
	/* [1] as the library creates it, or 0-d as its ModelOpt converter
	 * (and vLLM's loader) keep it */
	int rc = gst && gst->ndim == 0 && gst->dtype == CT_F32 ? CT_OK :
		 ct_codec_expect(gst, "weight_global_scale", CT_F32, 1, &one, err);
	if (rc)
		return rc;
	float gs;
	memcpy(&gs, gst->data, 4);
	if (!isfinite(gs) || !(gs > 0.0f))
		return ct_fail(err, CT_EINPUT, "weight_global_scale: is %g (expected finite "
			       "and > 0)", (double)gs);
	rc = ct_codec_fp4_load(a, get, gctx, CT_F8_E4M3, p, info, err);
	if (!rc && p) {
		p->has_gs = true;
		p->gs = gs;
	}
	return rc;
}

static int nvfp4_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		       ct_dec_info *info, ct_error *err)
{
	return nvfp4_load(m->args, get, gctx, NULL, info, err);
}

static int nvfp4_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
			ct_dtype out_dt, ct_emit_fn emit, void *ctx, ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = nvfp4_load(m->args, get, gctx, &p, &info, err);
	if (rc)
		return rc;
	rc = ct_codec_fp4_decode(&p, get, gctx, out_dt, emit, ctx, err);
	ct_qparams_free(&p);
	return rc;
}

/* E2M1 has no invalid code (every nibble is a value, at most 6 in
 * magnitude: compressed-tensors quantization/quant_args.py FP4_E2M1_DATA
 * max 6.0; vLLM csrc/quantization/fp4 kE2M1ToFloat), so what decodes to
 * NaN or Inf is a product overflowing the output: 6 * max |s| / gs. */
static int nvfp4_bound(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dec_bound *b,
		       ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = nvfp4_load(m->args, get, gctx, &p, &info, err);
	if (rc)
		return rc;
	ct_codec_bound_of(&p, 6.0, b);
	b->maybe_nan = false;
	ct_qparams_free(&p);
	return CT_OK;
}

const ct_codec ct_codec_nvfp4 = {
	.format = CT_FMT_NVFP4,
	.suffixes = nvfp4_suffixes,
	.outputs = nvfp4_outputs,
	.encode = nvfp4_encode,
	.check = nvfp4_check,
	.decode = nvfp4_decode,
	.bound = nvfp4_bound,
};
