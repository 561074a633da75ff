/*
 * codec_sparse24.c - sparse-24-bitmask (CT 0.9-0.14, FORMAT.md §3.11): a
 * weight with 2:4 structure keeps the two largest |x| of every run of four
 * ([R, C/2] values, in order), a bitmask of their positions (LSB first), and
 * its shape as I64 [[R], [C]]. When a run has more than two zeros, zeros are
 * kept too: ties go to the higher position, which matches torch.topk on CPU
 * in the cases observed (FORMAT.md §3.11; the library leaves it undefined).
 */
#include "codec.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const s24_suffixes[] = { "compressed", "bitmask", "shape", NULL };

enum { OUT_SHAPE, OUT_VALUES, OUT_MASK };

static int s24_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
		       ct_error *err)
{
	if (m->cols % 4 != 0)
		return ct_fail(err, CT_EINPUT, "columns %" PRIu64 " not a multiple of 4, which "
			       "2:4 sparsity needs", m->cols);
	out[OUT_SHAPE] = (ct_codec_tensor){ .suffix = "shape", .dtype = CT_I64, .ndim = 2,
		.shape = { 2, 1 } };
	out[OUT_VALUES] = (ct_codec_tensor){ .suffix = "compressed", .dtype = m->wd, .ndim = 2,
		.shape = { m->rows, m->cols / 2 } };
	out[OUT_MASK] = (ct_codec_tensor){ .suffix = "bitmask", .dtype = CT_U8, .ndim = 2,
		.shape = { m->rows, (m->cols + 7) / 8 } };
	*n = 3;
	return CT_OK;
}

/* The magnitude torch.topk ranks by: |x| for real floats; for one-byte
 * dtypes abs() of the byte read as int8, where -128 stays -128. */
static double magnitude(ct_dtype dt, const uint8_t *row, uint64_t c)
{
	if (ct_dtype_size(dt) == 1) {
		int v = (int8_t)row[c];
		return v == -128 ? -128.0 : (double)abs(v);
	}
	if (ct_dtype_is_float(dt))
		return fabs((double)ct_load_f32(dt, row, c));
	return fabs((double)ct_load_i64(dt, row, c));
}

static int s24_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
		      ct_emit_fn emit, void *ctx, ct_error *err)
{
	(void)p;
	(void)m;
	size_t esz = ct_dtype_size(w->wd);
	uint64_t mb = (w->cols + 7) / 8;
	uint8_t *vals = malloc((size_t)(w->cols / 2) * esz + 1);
	uint8_t *mask = malloc((size_t)mb + 1);
	int rc = vals && mask ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	for (uint64_t r = 0; !rc && r < w->rows; r++) {
		const uint8_t *row = (const uint8_t *)w->data + r * w->cols * esz;
		memset(mask, 0, (size_t)mb);
		size_t nv = 0;
		for (uint64_t g = 0; g < w->cols; g += 4) {
			int nz = 0;
			for (int k = 0; k < 4; k++)
				nz += !ct_sparse_is_zero(w->wd, row, g + (uint64_t)k);
			if (nz > 2) {
				rc = ct_fail(err, CT_EINPUT, "not 2:4 sparse: row %" PRIu64 ", columns "
					     "%" PRIu64 "-%" PRIu64 " hold %d non-zeros (at most 2 of "
					     "every 4 allowed)", r, g, g + 3, nz);
				break;
			}
			/* top two by magnitude, ties to the higher position */
			int best = -1, second = -1;
			for (int k = 3; k >= 0; k--) {
				double v = magnitude(w->wd, row, g + (uint64_t)k);
				if (best < 0 || v > magnitude(w->wd, row, g + (uint64_t)best)) {
					second = best;
					best = k;
				} else if (second < 0 ||
					   v > magnitude(w->wd, row, g + (uint64_t)second)) {
					second = k;
				}
			}
			int lo = best < second ? best : second, hi = best < second ? second : best;
			for (int k = 0; k < 2; k++) {
				uint64_t c = g + (uint64_t)(k ? hi : lo);
				mask[c / 8] |= (uint8_t)(1u << (c % 8));
				memcpy(vals + nv * esz, row + c * esz, esz);
				nv++;
			}
		}
		if (!rc)
			rc = emit(ctx, OUT_VALUES, vals, nv * esz, err);
		if (!rc)
			rc = emit(ctx, OUT_MASK, mask, (size_t)mb, err);
	}
	if (!rc) {
		int64_t shape[2] = { (int64_t)w->rows, (int64_t)w->cols };
		rc = emit(ctx, OUT_SHAPE, shape, sizeof(shape), err);
	}
	free(vals);
	free(mask);
	return rc;
}

static int s24_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		     ct_dec_info *info, ct_error *err)
{
	(void)m;
	const ct_tensor *shape = get(gctx, "shape");
	if (!shape || shape->nelem != 2 || shape->dtype != CT_I64)
		return ct_fail(err, CT_EINPUT, "shape: expected I64 [2, 1]");
	int64_t R = ct_load_i64(CT_I64, shape->data, 0), C = ct_load_i64(CT_I64, shape->data, 1);
	if (R <= 0 || C <= 0 || C % 4 || (uint64_t)R > UINT64_MAX / (uint64_t)C / 8)
		return ct_fail(err, CT_EINPUT, "shape: [%" PRId64 ", %" PRId64 "] is not a 2:4 "
			       "weight shape (columns a multiple of 4)", R, C);
	uint64_t mb = ((uint64_t)C + 7) / 8;
	uint64_t ms[2] = { (uint64_t)R, mb };
	const ct_tensor *mask = get(gctx, "bitmask");
	int rc = ct_codec_expect(mask, "bitmask", CT_U8, 2, ms, err);
	if (rc)
		return rc;
	const ct_tensor *vals = get(gctx, "compressed");
	if (!vals || ct_dtype_size(vals->dtype) == 0)
		return ct_fail(err, CT_EINPUT, "compressed: missing");
	uint64_t vs[2] = { (uint64_t)R, (uint64_t)C / 2 };
	rc = ct_codec_expect(vals, "compressed", vals->dtype, 2, vs, err);
	if (rc)
		return rc;
	for (uint64_t r = 0; r < (uint64_t)R; r++) {
		const uint8_t *row = mask->data + r * mb;
		for (uint64_t g = 0; g < (uint64_t)C; g += 4) {
			int bits = 0;
			for (uint64_t c = g; c < g + 4; c++)
				bits += row[c / 8] >> (c % 8) & 1;
			if (bits != 2)
				return ct_fail(err, CT_EINPUT, "bitmask: row %" PRIu64 ", columns %"
					       PRIu64 "-%" PRIu64 " flag %d positions (expected "
					       "exactly 2)", r, g, g + 3, bits);
		}
		if (C % 8 && (row[mb - 1] >> (C % 8)))
			return ct_fail(err, CT_EINPUT, "bitmask: row %" PRIu64 " has padding bits "
				       "set", r);
	}
	info->rows = (uint64_t)R;
	info->cols = (uint64_t)C;
	info->dtype = vals->dtype;
	return CT_OK;
}

static int s24_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dtype out_dt,
		      ct_emit_fn emit, void *ctx, ct_error *err)
{
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = s24_check(m, get, gctx, &info, err);
	if (rc)
		return rc;
	return ct_codec_scatter_rows(get(gctx, "bitmask"), get(gctx, "compressed"), &info,
				     out_dt, emit, ctx, err);
}

const ct_codec ct_codec_sparse24 = {
	.format = CT_FMT_SPARSE_24,
	.suffixes = s24_suffixes,
	.outputs = s24_outputs,
	.encode = s24_encode,
	.check = s24_check,
	.decode = s24_decode,
};
