/*
 * codec_mxfp8.c - mxfp8-quantized (OCP MXFP8): e4m3 codes under "weight" and
 * one power-of-two scale per 32 elements stored as its biased exponent in U8
 * (FORMAT.md §3.8, §4.6). Decompresses to BF16.
 */
#include "codec.h"
#include "kernels.h"

#include <stdlib.h>

static const char *const mxfp8_suffixes[] = { "weight", "weight_scale", NULL };

static int mxfp8_args_ok(const ct_qargs *a, ct_error *err)
{
	if (a->type == CT_QTYPE_FLOAT && a->num_bits == 8 && a->strategy == CT_STRAT_GROUP &&
	    a->group_size == 32 && a->has_scale_dtype && a->scale_dtype == CT_U8 && a->symmetric)
		return CT_OK;
	return ct_fail(err, CT_EINPUT, "mxfp8-quantized needs symmetric float 8-bit weights "
		       "in groups of 32 with scale_dtype torch.uint8");
}

static int mxfp8_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
			 ct_error *err)
{
	int rc = mxfp8_args_ok(m->args, err);
	if (rc)
		return rc;
	out[0] = (ct_codec_tensor){ .suffix = "weight", .dtype = CT_F8_E4M3, .ndim = 2,
		.shape = { m->rows, m->cols } };
	out[1] = (ct_codec_tensor){ .suffix = "weight_scale", .dtype = CT_U8, .ndim = 2,
		.shape = { m->rows, m->cols / 32 } };
	*n = 2;
	return CT_OK;
}

typedef struct e4m3_rows {
	ct_emit_fn emit;
	void *ectx;
	uint64_t cols;
	uint8_t *buf;
	const uint8_t *src;
} e4m3_rows;

static int put_row(void *ctx, uint64_t r, const int32_t *q, ct_error *err)
{
	(void)r;
	e4m3_rows *e = ctx;
	ct_k_narrow8(true, q, (size_t)e->cols, e->buf);
	return e->emit(e->ectx, 0, e->buf, (size_t)e->cols, err);
}

static int mxfp8_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
			ct_emit_fn emit, void *ctx, ct_error *err)
{
	e4m3_rows e = { .emit = emit, .ectx = ctx, .cols = m->cols };
	e.buf = malloc((size_t)m->cols);
	if (!e.buf)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = ct_codec_quantize_rows(w, p, put_row, &e, err);
	free(e.buf);
	if (!rc)
		rc = ct_codec_emit_scales(p, CT_U8, 1, emit, ctx, err);
	return rc;
}

static int mxfp8_load(const ct_qargs *a, ct_lookup_fn get, void *gctx, ct_qparams *p,
		      ct_dec_info *info, ct_error *err)
{
	int rc = mxfp8_args_ok(a, err);
	if (rc)
		return rc;
	const ct_tensor *wt = get(gctx, "weight");
	if (!wt)
		return ct_fail(err, CT_EINPUT, "weight: missing");
	if (wt->dtype != CT_F8_E4M3 || wt->ndim != 2 || wt->nelem == 0 || wt->shape[1] % 32)
		return ct_fail(err, CT_EINPUT, "weight: expected F8_E4M3 [rows, cols] with cols "
			       "a multiple of 32");
	uint64_t ss[2] = { wt->shape[0], wt->shape[1] / 32 };
	rc = ct_codec_expect(get(gctx, "weight_scale"), "weight_scale", CT_U8, 2, ss, err);
	if (rc)
		return rc;
	info->rows = wt->shape[0];
	info->cols = wt->shape[1];
	info->dtype = CT_BF16;
	if (!p)
		return CT_OK;
	rc = ct_qparams_init(a, CT_BF16, info->rows, info->cols, p, err);
	if (!rc)
		rc = ct_codec_load_scales(p, get(gctx, "weight_scale"), "weight_scale", err);
	if (rc)
		ct_qparams_free(p);
	return rc;
}

static int mxfp8_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		       ct_dec_info *info, ct_error *err)
{
	return mxfp8_load(m->args, get, gctx, NULL, info, err);
}

static int get_row(void *ctx, uint64_t r, int32_t *q, ct_error *err)
{
	(void)err;
	e4m3_rows *e = ctx;
	for (uint64_t c = 0; c < e->cols; c++)
		q[c] = e->src[r * e->cols + c];
	return CT_OK;
}

static int mxfp8_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
			ct_dtype out_dt, ct_emit_fn emit, void *ctx, ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = mxfp8_load(m->args, get, gctx, &p, &info, err);
	if (rc)
		return rc;
	e4m3_rows e = { .cols = info.cols, .src = get(gctx, "weight")->data };
	rc = ct_codec_dequantize_rows(&p, get_row, &e, out_dt, emit, ctx, err);
	ct_qparams_free(&p);
	return rc;
}

const ct_codec ct_codec_mxfp8 = {
	.format = CT_FMT_MXFP8,
	.suffixes = mxfp8_suffixes,
	.outputs = mxfp8_outputs,
	.encode = mxfp8_encode,
	.check = mxfp8_check,
	.decode = mxfp8_decode,
};
