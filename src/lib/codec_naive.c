/*
 * codec_naive.c - naive-quantized and its registered aliases int-quantized
 * and float-quantized (FORMAT.md §3.2-3.4): the quantized weight stays under
 * the name "weight", one byte per element (I8 values or e4m3 codes), with a
 * scale in the weight's dtype and, when asymmetric, I8 zero points shaped
 * like the scale. The library registers the three names for one code path;
 * so does this file.
 */
#include "codec.h"
#include "kernels.h"

#include <inttypes.h>
#include <stdlib.h>

static const char *const naive_suffixes[] = {
	"weight", "weight_scale", "weight_zero_point", "weight_g_idx", NULL
};

static ct_dtype weight_dtype(const ct_qargs *a)
{
	return a->type == CT_QTYPE_FLOAT ? CT_F8_E4M3 : CT_I8;
}

static int naive_args_ok(const ct_qargs *a, ct_error *err)
{
	if (a->strategy == CT_STRAT_TENSOR_GROUP)
		return ct_fail(err, CT_EINPUT, "tensor_group is an fp4 strategy (use "
			       "nvfp4-pack-quantized)");
	if (a->type == CT_QTYPE_INT && a->num_bits >= 1 && a->num_bits <= 8)
		return CT_OK;
	if (a->type == CT_QTYPE_FLOAT && a->num_bits == 8 && a->symmetric)
		return CT_OK;
	return ct_fail(err, CT_EINPUT, "naive, int and float-quantized formats need int "
		       "weights of 1 to 8 bits or symmetric float 8-bit weights");
}

static int naive_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
			 ct_error *err)
{
	const ct_qargs *a = m->args;
	int rc = naive_args_ok(a, err);
	if (rc)
		return rc;
	ct_qparams g;
	rc = ct_qparams_init(a, m->wd, m->rows, m->cols, &g, err);
	if (rc)
		return rc;
	out[0] = (ct_codec_tensor){ .suffix = "weight", .dtype = weight_dtype(a), .ndim = 2,
		.shape = { m->rows, m->cols } };
	out[1] = (ct_codec_tensor){ .suffix = "weight_scale", .dtype = m->wd };
	ct_codec_scale_shape(&g, &out[1]);
	*n = 2;
	if (!a->symmetric) {
		out[2] = out[1];
		out[2].suffix = "weight_zero_point";
		out[2].dtype = CT_I8;
		*n = 3;
	}
	ct_qparams_free(&g);
	return CT_OK;
}

typedef struct row_ctx {
	ct_emit_fn emit;
	void *ectx;
	uint64_t cols;
	uint8_t *buf;
} row_ctx;

static int byte_row(void *ctx, uint64_t r, const int32_t *q, ct_error *err)
{
	(void)r;
	row_ctx *rc = ctx;
	ct_k_narrow8(true, q, (size_t)rc->cols, rc->buf);
	return rc->emit(rc->ectx, 0, rc->buf, (size_t)rc->cols, err);
}

static int naive_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
			ct_emit_fn emit, void *ctx, ct_error *err)
{
	row_ctx r = { .emit = emit, .ectx = ctx, .cols = m->cols };
	r.buf = malloc((size_t)m->cols);
	if (!r.buf)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = ct_codec_quantize_rows(w, p, byte_row, &r, err);
	free(r.buf);
	if (!rc)
		rc = ct_codec_emit_scales(p, m->wd, 1, emit, ctx, err);
	if (!rc && !m->args->symmetric) {
		uint64_t cells = p->srows * p->scols;
		int8_t *z = malloc(cells ? (size_t)cells : 1);
		if (!z)
			return ct_fail(err, CT_EIO, "out of memory");
		for (uint64_t i = 0; i < cells; i++)
			z[i] = (int8_t)p->zp[i];
		rc = emit(ctx, 2, z, (size_t)cells, err);
		free(z);
	}
	return rc;
}

static int naive_load(const ct_qargs *a, ct_lookup_fn get, void *gctx, ct_qparams *p,
		      ct_dec_info *info, ct_error *err)
{
	int rc = naive_args_ok(a, err);
	if (rc)
		return rc;
	const ct_tensor *wt = get(gctx, "weight");
	if (!wt)
		return ct_fail(err, CT_EINPUT, "weight: missing");
	if (wt->dtype != weight_dtype(a) || wt->ndim != 2 || wt->nelem == 0)
		return ct_fail(err, CT_EINPUT, "weight: is %s with %d dimensions (expected %s "
			       "[rows, cols])", ct_dtype_name(wt->dtype), wt->ndim,
			       ct_dtype_name(weight_dtype(a)));
	const ct_tensor *scale = get(gctx, "weight_scale");
	if (!scale)
		return ct_fail(err, CT_EINPUT, "weight_scale: missing");
	if (!ct_dtype_is_float(scale->dtype) || ct_dtype_size(scale->dtype) < 2)
		return ct_fail(err, CT_EINPUT, "weight_scale: dtype %s (expected F32, F16 or "
			       "BF16)", ct_dtype_name(scale->dtype));
	const ct_tensor *zp = get(gctx, "weight_zero_point");
	if (!a->symmetric && !zp)
		return ct_fail(err, CT_EINPUT, "weight_zero_point: missing for an asymmetric "
			       "scheme");
	info->rows = wt->shape[0];
	info->cols = wt->shape[1];
	info->dtype = scale->dtype;
	ct_qparams local;
	ct_qparams *q = p ? p : &local;
	rc = ct_qparams_init(a, scale->dtype, info->rows, info->cols, q, err);
	if (rc)
		return rc;
	rc = ct_codec_load_scales(q, scale, "weight_scale", err);
	if (!rc && !a->symmetric) {
		uint64_t cells = q->srows * q->scols;
		if (zp->dtype != CT_I8 || zp->nelem != cells)
			rc = ct_fail(err, CT_EINPUT, "weight_zero_point: expected I8 with %" PRIu64
				     " elements", cells);
		for (uint64_t i = 0; !rc && i < cells; i++)
			q->zp[i] = (int8_t)zp->data[i];
	}
	if (!p || rc)
		ct_qparams_free(q);
	return rc;
}

static int naive_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		       ct_dec_info *info, ct_error *err)
{
	return naive_load(m->args, get, gctx, NULL, info, err);
}

typedef struct byte_codes {
	const ct_tensor *w;
	uint64_t cols;
	bool is_signed;
} byte_codes;

static int read_byte_row(void *ctx, uint64_t r, int32_t *q, ct_error *err)
{
	(void)err;
	byte_codes *b = ctx;
	const uint8_t *row = b->w->data + r * b->cols;
	for (uint64_t c = 0; c < b->cols; c++)
		q[c] = b->is_signed ? (int32_t)(int8_t)row[c] : (int32_t)row[c];
	return CT_OK;
}

static int naive_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
			ct_dtype out_dt, ct_emit_fn emit, void *ctx, ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = naive_load(m->args, get, gctx, &p, &info, err);
	if (rc)
		return rc;
	byte_codes b = { .w = get(gctx, "weight"), .cols = info.cols,
			 .is_signed = m->args->type == CT_QTYPE_INT };
	rc = ct_codec_dequantize_rows(&p, read_byte_row, &b, out_dt, emit, ctx, err);
	ct_qparams_free(&p);
	return rc;
}

/* int8 codes are all values (|q| <= 128); an e4m3 code is NaN when its
 * low 7 bits are all set (0x7F, 0xFF: torch.float8_e4m3fn has no infinity,
 * compressed-tensors quant_args.py FP8_E4M3_DATA max 448), found by a scan
 * of the bytes; otherwise only the product can overflow. */
static int naive_bound(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dec_bound *b,
		       ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = naive_load(m->args, get, gctx, &p, &info, err);
	if (rc)
		return rc;
	bool is_int = m->args->type == CT_QTYPE_INT;
	ct_codec_bound_of(&p, is_int ? 128.0 : 448.0, b);
	b->maybe_nan = false;
	if (!is_int) {
		const ct_tensor *w = get(gctx, "weight");
		uint8_t nan = 0;
		for (uint64_t i = 0; i < w->nelem; i++)
			nan |= (uint8_t)((w->data[i] & 0x7F) == 0x7F);
		b->maybe_nan = nan != 0;
	}
	ct_qparams_free(&p);
	return CT_OK;
}

#define NAIVE_CODEC(sym, fmt)                                                  \
	const ct_codec sym = {                                                 \
		.format = fmt,                                                 \
		.suffixes = naive_suffixes,                                    \
		.outputs = naive_outputs,                                      \
		.encode = naive_encode,                                        \
		.check = naive_check,                                          \
		.decode = naive_decode,                                        \
		.bound = naive_bound,                                          \
	}

NAIVE_CODEC(ct_codec_naive, CT_FMT_NAIVE);
NAIVE_CODEC(ct_codec_int, CT_FMT_INT);
NAIVE_CODEC(ct_codec_float, CT_FMT_FLOAT);
