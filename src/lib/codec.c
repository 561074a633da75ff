#include "codec.h"

#include "fpconv.h"
#include "kernels.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const ct_codec ct_codec_pack;
extern const ct_codec ct_codec_naive;
extern const ct_codec ct_codec_int;
extern const ct_codec ct_codec_float;
extern const ct_codec ct_codec_nvfp4;
extern const ct_codec ct_codec_mxfp4;
extern const ct_codec ct_codec_mxfp8;
extern const ct_codec ct_codec_sparse_bitmask;
extern const ct_codec ct_codec_sparse24;

static const ct_codec *const codecs[] = {
	&ct_codec_pack,
	&ct_codec_naive,
	&ct_codec_int,
	&ct_codec_float,
	&ct_codec_nvfp4,
	&ct_codec_mxfp4,
	&ct_codec_mxfp8,
	&ct_codec_sparse_bitmask,
	&ct_codec_sparse24,
};

const ct_codec *ct_codec_for(ct_format f)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (codecs[i]->format == f)
			return codecs[i];
	return NULL;
}

void ct_codec_scale_shape(const ct_qparams *p, ct_codec_tensor *t)
{
	if (p->args->strategy == CT_STRAT_TENSOR) {
		t->ndim = 1;
		t->shape[0] = 1;
	} else {
		t->ndim = 2;
		t->shape[0] = p->srows;
		t->shape[1] = p->scols;
	}
}

#define EMIT_CHUNK 4096

/* The stored U8 of an MX scale 2^(E-127): E, with an overflowed (infinite)
 * scale as 255 and an underflowed one as 0. That is the exponent field of
 * every positive s (127 + ilogb(s) clamped to a byte: 0 for subnormals,
 * 255 for infinity); NaN, zero and negatives give 0. No libm call: there
 * is one scale per 32 weights. */
static uint8_t mx_exponent_byte(float s)
{
	if (!(s > 0.0f))
		return 0;
	uint32_t u;
	memcpy(&u, &s, sizeof(u));
	return (uint8_t)(u >> 23);
}

int ct_codec_emit_scales(const ct_qparams *p, ct_dtype dt, int k, ct_emit_fn emit,
			 void *ctx, ct_error *err)
{
	uint8_t buf[EMIT_CHUNK * 4];
	uint64_t n = p->srows * p->scols;
	int frc = ct_qparams_fill(p, p->rows, err);
	if (frc)
		return frc;
	size_t esz = ct_dtype_size(dt);
	for (uint64_t i = 0; i < n;) {
		size_t m = n - i < EMIT_CHUNK ? (size_t)(n - i) : EMIT_CHUNK;
		const float *s = p->scale + i;
		if (dt == CT_F8_E4M3) {
			ct_k_e4m3_bytes(p->simd, s, m, buf);
		} else if (dt == CT_U8) {
			for (size_t j = 0; j < m; j++)
				buf[j] = mx_exponent_byte(s[j]);
		} else {
			for (size_t j = 0; j < m; j++)
				ct_store_f32(dt, buf, j, s[j]);
		}
		int rc = emit(ctx, k, buf, m * esz, err);
		if (rc)
			return rc;
		i += m;
	}
	return CT_OK;
}

int ct_codec_expect(const ct_tensor *t, const char *suffix, ct_dtype dt, int ndim,
		    const uint64_t *shape, ct_error *err)
{
	if (!t)
		return ct_fail(err, CT_EINPUT, "%s: missing", suffix);
	bool ok = t->dtype == dt && t->ndim == ndim;
	for (int i = 0; ok && i < ndim; i++)
		ok = t->shape[i] == shape[i];
	if (ok)
		return CT_OK;
	char want[160], got[160];
	size_t a = (size_t)snprintf(want, sizeof(want), "%s [", ct_dtype_name(dt));
	for (int i = 0; i < ndim && a < sizeof(want); i++)
		a += (size_t)snprintf(want + a, sizeof(want) - a, "%s%" PRIu64, i ? ", " : "",
				      shape[i]);
	if (a < sizeof(want))
		snprintf(want + a, sizeof(want) - a, "]");
	a = (size_t)snprintf(got, sizeof(got), "%s [", ct_dtype_name(t->dtype));
	for (int i = 0; i < t->ndim && a < sizeof(got); i++)
		a += (size_t)snprintf(got + a, sizeof(got) - a, "%s%" PRIu64, i ? ", " : "",
				      t->shape[i]);
	if (a < sizeof(got))
		snprintf(got + a, sizeof(got) - a, "]");
	return ct_fail(err, CT_EINPUT, "%s: is %s (expected %s)", suffix, got, want);
}

int ct_codec_load_scales(ct_qparams *p, const ct_tensor *t, const char *what,
			 ct_error *err)
{
	uint64_t n = p->srows * p->scols;
	bool shape_ok = t->nelem == n &&
		((t->ndim == 2 && t->shape[0] == p->srows && t->shape[1] == p->scols) ||
		 (p->args->strategy == CT_STRAT_TENSOR && t->ndim <= 1));
	if (!shape_ok)
		return ct_fail(err, CT_EINPUT, "%s: has %" PRIu64 " elements (expected a [%"
			       PRIu64 ", %" PRIu64 "] grid for the %s strategy)", what, t->nelem,
			       p->srows, p->scols,
			       p->args->strategy == CT_STRAT_TENSOR ? "tensor" : "configured");
	for (uint64_t i = 0; i < n; i++) {
		float s;
		if (t->dtype == CT_U8)
			s = ct_round_to(CT_BF16, ldexpf(1.0f, (int)t->data[i] - 127));
		else if (ct_dtype_is_float(t->dtype))
			s = ct_load_f32(t->dtype, t->data, i);
		else
			return ct_fail(err, CT_EINPUT, "%s: dtype %s is not a scale dtype", what,
				       ct_dtype_name(t->dtype));
		/* Only a non-finite scale fails: compressed-tensors multiplies the
		 * scale through (quantization/lifecycle/forward.py: _dequantize,
		 * x_q * scale) and so do vLLM's kernels, so a negative scale is
		 * valid data (auto-round's symmetric quantizer, data_type/int.py:
		 * quant_tensor_sym, stores the sign of the larger extreme in it). */
		if (!isfinite(s))
			return ct_fail(err, CT_EINPUT, "%s: scale %" PRIu64 " is %g (expected "
				       "finite)", what, i, (double)s);
		p->scale[i] = s;
	}
	return CT_OK;
}

/* Refuses a row whose codes decompress to ±Inf: the library writes such a
 * checkpoint, but no loader can use it and verify rejects it. */
static int check_row_decodes(const ct_qparams *p, uint64_t r, const float *x, const int32_t *q,
			     ct_error *err)
{
	ct_dtype dt = ct_dequant_dtype(p);
	uint8_t *row = malloc((size_t)p->cols * 4);
	float *y = malloc((size_t)p->cols * sizeof(float));
	int rc = row && y ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	if (!rc) {
		ct_dequant_row(p, r, q, dt, row);
		ct_k_load(false, dt, row, y, (size_t)p->cols);
		for (uint64_t c = 0; c < p->cols; c++) {
			if (isfinite(y[c]))
				continue;
			rc = ct_fail(err, CT_EINPUT, "element [%" PRIu64 ", %" PRIu64 "] = %g "
				     "would decompress to %g: its code times the group's scale "
				     "overflows %s (--ignore the module or choose another scheme, or convert "
				     "the weights to BF16 or F32 first)", r, c, (double)x[c],
				     (double)y[c], ct_dtype_name(dt));
			break;
		}
	}
	free(row);
	free(y);
	return rc;
}

/* One row the slow way: widened, checked for NaN and infinity, on the
 * frozen grid if there is one, and for overflow on decompression. */
static int quantize_checked_row(const ct_wview *w, const ct_qparams *p, uint64_t r, float *x,
				int32_t *q, ct_row_fn fn, void *ctx, ct_error *err)
{
	const uint8_t *src = (const uint8_t *)w->data + r * w->cols * ct_dtype_size(w->wd);
	ct_k_load(p->simd, w->wd, src, x, (size_t)w->cols);
	bool finite = ct_k_all_finite(p->simd, x, (size_t)w->cols);
	for (uint64_t c = 0; !finite && c < w->cols; c++)
		if (!isfinite(x[c]))
			return ct_fail(err, CT_EINPUT, "element [%" PRIu64 ", %" PRIu64 "] is %s "
				       "(expected finite values to quantize)", r, c,
				       isnan(x[c]) ? "NaN" : "infinite");
	uint64_t bad;
	if (!p->check_grid) {
		ct_quant_row(p, r, x, q);
	} else if (!ct_quant_row_exact(p, r, x, q, &bad)) {
		return ct_fail(err, CT_EINPUT, "element [%" PRIu64 ", %" PRIu64 "] = %.9g is "
			       "not on the quantization grid of its stored scale (a frozen "
			       "weight must be a dequantized value)", r, bad, (double)x[bad]);
	}
	if (ct_qparams_check_overflow(p)) {
		int rc = check_row_decodes(p, r, x, q, err);
		if (rc)
			return rc;
	}
	return fn(ctx, r, q, err);
}

/* Elements quantized per call when rows are narrow: a few rows at a time
 * cost one kernel call, and their codes stay in cache for the packer. */
#define CT_QUANT_BATCH_ELEMS 16384u

int ct_codec_quantize_rows(const ct_wview *w, const ct_qparams *p, ct_row_fn fn,
			   void *ctx, ct_error *err)
{
	uint64_t batch = ct_quant_rows_batch(p, w->cols < CT_QUANT_BATCH_ELEMS ?
					     CT_QUANT_BATCH_ELEMS / w->cols : 1);
	float *x = malloc((size_t)w->cols * sizeof(float));
	int32_t *q = malloc((size_t)(batch * w->cols) * sizeof(int32_t));
	int rc = CT_OK;
	if (!x || !q)
		rc = ct_fail(err, CT_EIO, "out of memory");
	size_t esz = ct_dtype_size(w->wd);
	uint64_t block = ct_wview_block_rows(w), released = 0;
	uint64_t fetched = 0;
	for (uint64_t r = 0; !rc && r < w->rows;) {
		if (r - released >= block) {
			ct_wview_release(w, released, r);
			released = r;
		}
		if (r >= fetched) {
			/* a block of rows mapped in one call */
			fetched = w->rows - r < block ? w->rows : r + block;
			ct_wview_prefetch(w, r, fetched);
		}
		uint64_t m = w->rows - r < batch ? w->rows - r : batch;
		/* deferred scales: observe a few rows, then quantize them */
		rc = ct_qparams_fill(p, r + m, err);
		if (rc)
			break;
		const uint8_t *src = (const uint8_t *)w->data + r * w->cols * esz;
		bool checked = p->check_grid || ct_qparams_check_overflow(p);
		/* the common case: codes straight from the mapped rows, one pass */
		if (!checked && ct_quant_rows_raw(p, r, m, src, q)) {
			for (uint64_t i = 0; !rc && i < m; i++)
				rc = fn(ctx, r + i, q + i * w->cols, err);
			r += m;
			continue;
		}
		/* a row to check, or one with NaN or infinity: row by row */
		for (uint64_t end = r + m; !rc && r < end; r++)
			rc = quantize_checked_row(w, p, r, x, q, fn, ctx, err);
	}
	ct_wview_release(w, released, w->rows);
	free(x);
	free(q);
	return rc;
}

/* Bytes of decoded rows per emit: at least the safetensors writer's buffer,
 * so that the rows go from here to the file with no copy in between. */
#define CT_DEQUANT_BATCH_BYTES (1u << 20)

int ct_codec_dequantize_rows(const ct_qparams *p, ct_codes_fn codes, void *cctx,
			     ct_dtype out_dt, ct_emit_fn emit, void *ctx, ct_error *err)
{
	size_t row_bytes = (size_t)p->cols * ct_dtype_size(out_dt);
	uint64_t batch = row_bytes && row_bytes < CT_DEQUANT_BATCH_BYTES ?
			 (CT_DEQUANT_BATCH_BYTES + row_bytes - 1) / row_bytes : 1;
	if (batch > p->rows)
		batch = p->rows ? p->rows : 1;
	int32_t *q = malloc((size_t)p->cols * sizeof(int32_t));
	/* ct_dequant_row writes up to 4 bytes per element */
	uint8_t *rows = malloc((size_t)(batch - 1) * row_bytes + (size_t)p->cols * 4);
	int rc = CT_OK;
	if (!q || !rows)
		rc = ct_fail(err, CT_EIO, "out of memory");
	for (uint64_t r = 0; !rc && r < p->rows;) {
		uint64_t m = p->rows - r < batch ? p->rows - r : batch;
		for (uint64_t i = 0; !rc && i < m; i++) {
			rc = codes(cctx, r + i, q, err);
			if (!rc)
				ct_dequant_row(p, r + i, q, out_dt, rows + i * row_bytes);
		}
		if (!rc)
			rc = emit(ctx, 0, rows, (size_t)m * row_bytes, err);
		r += m;
	}
	free(q);
	free(rows);
	return rc;
}

/* ------------------------------------------------------------ bounds --- */

void ct_codec_bound_of(const ct_qparams *p, double max_code, ct_dec_bound *b)
{
	/* the scales the decoder multiplies by (ct_dequant_row): p->scale, over
	 * p->gs for NVFP4, gathered by g_idx from the same grid; (q - z) for int
	 * codes, |q| <= max_code */
	uint64_t n = p->srows * p->scols;
	float smax = 0.0f;
	int32_t zmax = 0;
	for (uint64_t i = 0; i < n; i++) {
		float a = fabsf(p->scale[i]);
		smax = a > smax ? a : smax;
		int32_t z = p->zp ? p->zp[i] : 0;
		z = z < 0 ? -z : z;
		zmax = z > zmax ? z : zmax;
	}
	double s = p->has_gs ? (double)smax / (double)p->gs : (double)smax;
	b->max_abs = (max_code + (double)zmax) * s;
	b->sd = ct_dequant_dtype(p);
}

static double max_finite(ct_dtype dt)
{
	switch (dt) {
	case CT_F16:
		return 65504.0;
	case CT_BF16:
		return 0x1.fep127;
	case CT_F32:
		return (double)FLT_MAX;
	default:
		return 0.0;
	}
}

bool ct_dec_bound_finite(const ct_dec_bound *b, ct_dtype out_dt)
{
	double lim = max_finite(b->sd);
	double lo = max_finite(out_dt);
	lim = lo < lim ? lo : lim;
	/* each product is one F32 multiply (and, for NVFP4, one F32 division
	 * of the scale) rounded to nearest: a relative error of 2^-23 at most,
	 * far inside the margin; a product below the largest finite value of
	 * both dtypes rounds to a finite value in each */
	return !b->maybe_nan && isfinite(b->max_abs) && b->max_abs <= 0.99 * lim;
}

/* ------------------------------------------------------------ fp4 rows --- */

void ct_codec_pack_nibbles(const int32_t *q, uint64_t n, uint8_t *out)
{
	ct_k_pack4(true, q, (size_t)(n & ~(uint64_t)1), 0, out);
}

void ct_codec_unpack_nibbles(const uint8_t *in, uint64_t n, int32_t *q)
{
	for (uint64_t i = 0; i + 1 < n; i += 2) {
		q[i] = in[i / 2] & 15;
		q[i + 1] = in[i / 2] >> 4;
	}
}

typedef struct fp4_ctx {
	ct_emit_fn emit;
	void *ectx;
	uint64_t cols;
	uint8_t *buf;
} fp4_ctx;

static int fp4_row(void *ctx, uint64_t r, const int32_t *q, ct_error *err)
{
	(void)r;
	fp4_ctx *f = ctx;
	ct_codec_pack_nibbles(q, f->cols, f->buf);
	return f->emit(f->ectx, 0, f->buf, (size_t)(f->cols / 2), err);
}

int ct_codec_fp4_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
			ct_dtype scale_dt, ct_emit_fn emit, void *ctx, ct_error *err)
{
	fp4_ctx f = { .emit = emit, .ectx = ctx, .cols = m->cols };
	f.buf = malloc((size_t)(m->cols / 2) + 1);
	if (!f.buf)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = ct_codec_quantize_rows(w, p, fp4_row, &f, err);
	free(f.buf);
	if (!rc)
		rc = ct_codec_emit_scales(p, scale_dt, 1, emit, ctx, err);
	return rc;
}

int ct_codec_fp4_load(const ct_qargs *a, ct_lookup_fn get, void *gctx, ct_dtype scale_dt,
		      ct_qparams *p, ct_dec_info *info, ct_error *err)
{
	if (a->type != CT_QTYPE_FLOAT || a->num_bits != 4 || !a->has_group_size ||
	    a->group_size <= 0)
		return ct_fail(err, CT_EINPUT, "fp4 formats need float 4-bit weights with a "
			       "group_size");
	const ct_tensor *packed = get(gctx, "weight_packed");
	if (!packed)
		return ct_fail(err, CT_EINPUT, "weight_packed: missing");
	if (packed->dtype != CT_U8 || packed->ndim != 2 || packed->shape[0] == 0 ||
	    packed->shape[1] == 0)
		return ct_fail(err, CT_EINPUT, "weight_packed: expected U8 [rows, cols/2]");
	uint64_t R = packed->shape[0], C = packed->shape[1] * 2;
	uint64_t g = (uint64_t)a->group_size;
	if (C % g != 0)
		return ct_fail(err, CT_EINPUT, "weight_packed: %" PRIu64 " columns not a "
			       "multiple of group_size %" PRIu64, C, g);
	const ct_tensor *scale = get(gctx, "weight_scale");
	uint64_t ss[2] = { R, C / g };
	int rc = ct_codec_expect(scale, "weight_scale", scale_dt, 2, ss, err);
	if (rc)
		return rc;
	info->rows = R;
	info->cols = C;
	info->dtype = CT_BF16;
	if (!p)
		return CT_OK;
	rc = ct_qparams_init(a, CT_BF16, R, C, p, err);
	if (!rc)
		rc = ct_codec_load_scales(p, scale, "weight_scale", err);
	if (rc)
		ct_qparams_free(p);
	return rc;
}

typedef struct fp4_dec {
	const ct_tensor *packed;
	uint64_t cols;
} fp4_dec;

static int fp4_codes(void *ctx, uint64_t r, int32_t *q, ct_error *err)
{
	(void)err;
	fp4_dec *d = ctx;
	ct_codec_unpack_nibbles(d->packed->data + r * (d->cols / 2), d->cols, q);
	return CT_OK;
}

int ct_codec_fp4_decode(const ct_qparams *p, ct_lookup_fn get, void *gctx, ct_dtype out_dt,
			ct_emit_fn emit, void *ctx, ct_error *err)
{
	fp4_dec d = { .packed = get(gctx, "weight_packed"), .cols = p->cols };
	return ct_codec_dequantize_rows(p, fp4_codes, &d, out_dt, emit, ctx, err);
}

/* ------------------------------------------------------------- sparsity --- */

bool ct_sparse_is_zero(ct_dtype dt, const uint8_t *base, uint64_t i)
{
	size_t esz = ct_dtype_size(dt);
	const uint8_t *p = base + i * esz;
	/* floats: every bit but the sign (the top bit of the last byte) */
	uint8_t top_mask = ct_dtype_is_float(dt) && dt != CT_F8_E8M0 ? 0x7F : 0xFF;
	for (size_t k = 0; k + 1 < esz; k++)
		if (p[k])
			return false;
	return (p[esz - 1] & top_mask) == 0;
}

uint64_t ct_sparse_count_nonzero(ct_dtype dt, const void *data, uint64_t n)
{
	uint64_t nz = 0;
	for (uint64_t i = 0; i < n; i++)
		nz += !ct_sparse_is_zero(dt, data, i);
	return nz;
}

bool ct_sparse_is_24(ct_dtype dt, const void *data, uint64_t n, uint64_t *bad_group)
{
	for (uint64_t g = 0; g + 4 <= n; g += 4) {
		int nz = 0;
		for (int k = 0; k < 4; k++)
			nz += !ct_sparse_is_zero(dt, data, g + (uint64_t)k);
		if (nz > 2) {
			*bad_group = g / 4;
			return false;
		}
	}
	return true;
}

int ct_codec_scatter_rows(const ct_tensor *mask, const ct_tensor *vals,
			  const ct_dec_info *info, ct_dtype out_dt, ct_emit_fn emit, void *ctx,
			  ct_error *err)
{
	size_t esz = ct_dtype_size(info->dtype), osz = ct_dtype_size(out_dt);
	bool convert = out_dt != info->dtype;
	uint8_t *row = malloc((size_t)info->cols * esz + 1);
	uint8_t *conv = convert ? malloc((size_t)info->cols * osz + 1) : NULL;
	int rc = row && (!convert || conv) ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	uint64_t mb = (info->cols + 7) / 8, k = 0;
	for (uint64_t r = 0; !rc && r < info->rows; r++) {
		memset(row, 0, (size_t)info->cols * esz);
		const uint8_t *bits = mask->data + r * mb;
		for (uint64_t c = 0; c < info->cols; c++)
			if (bits[c / 8] >> (c % 8) & 1)
				memcpy(row + c * esz, vals->data + (k++) * esz, esz);
		if (convert) {
			for (uint64_t c = 0; c < info->cols; c++)
				ct_store_f32(out_dt, conv, c, ct_load_f32(info->dtype, row, c));
			rc = emit(ctx, 0, conv, (size_t)info->cols * osz, err);
		} else {
			rc = emit(ctx, 0, row, (size_t)info->cols * esz, err);
		}
	}
	free(row);
	free(conv);
	return rc;
}
