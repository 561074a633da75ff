/*
 * codec_mxfp4.c - mxfp4-pack-quantized (OCP MXFP4): E2M1 nibbles and one
 * power-of-two scale per 32 elements, stored as its biased exponent in U8
 * (FORMAT.md §3.7, §4.6).
 */
#include "codec.h"

static const char *const mxfp4_suffixes[] = { "weight_packed", "weight_scale", NULL };

static int mxfp4_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
			 ct_error *err)
{
	const ct_qargs *a = m->args;
	if (a->type != CT_QTYPE_FLOAT || a->num_bits != 4 || a->strategy != CT_STRAT_GROUP ||
	    a->group_size != 32 || !a->symmetric)
		return ct_fail(err, CT_EINPUT, "mxfp4-pack-quantized needs symmetric float 4-bit "
			       "weights in groups of 32");
	out[0] = (ct_codec_tensor){ .suffix = "weight_packed", .dtype = CT_U8, .ndim = 2,
		.shape = { m->rows, m->cols / 2 } };
	out[1] = (ct_codec_tensor){ .suffix = "weight_scale", .dtype = CT_U8, .ndim = 2,
		.shape = { m->rows, m->cols / 32 } };
	*n = 2;
	return CT_OK;
}

static int mxfp4_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
			ct_emit_fn emit, void *ctx, ct_error *err)
{
	return ct_codec_fp4_encode(m, w, p, CT_U8, emit, ctx, err);
}

static int mxfp4_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		       ct_dec_info *info, ct_error *err)
{
	return ct_codec_fp4_load(m->args, get, gctx, CT_U8, NULL, info, err);
}

static int mxfp4_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
			ct_dtype out_dt, ct_emit_fn emit, void *ctx, ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = ct_codec_fp4_load(m->args, get, gctx, CT_U8, &p, &info, err);
	if (rc)
		return rc;
	rc = ct_codec_fp4_decode(&p, get, gctx, out_dt, emit, ctx, err);
	ct_qparams_free(&p);
	return rc;
}

/* As NVFP4 (codec_nvfp4.c: nvfp4_bound): no E2M1 code is invalid, so
 * only 6 * the largest E8M0 scale can overflow the output. */
static int mxfp4_bound(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dec_bound *b,
		       ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = ct_codec_fp4_load(m->args, get, gctx, CT_U8, &p, &info, err);
	if (rc)
		return rc;
	ct_codec_bound_of(&p, 6.0, b);
	b->maybe_nan = false;
	ct_qparams_free(&p);
	return CT_OK;
}

const ct_codec ct_codec_mxfp4 = {
	.format = CT_FMT_MXFP4,
	.suffixes = mxfp4_suffixes,
	.outputs = mxfp4_outputs,
	.encode = mxfp4_encode,
	.check = mxfp4_check,
	.decode = mxfp4_decode,
	.bound = mxfp4_bound,
};
