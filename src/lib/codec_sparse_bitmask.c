/*
 * codec_sparse_bitmask.c - sparse-bitmask (CT <= 0.14, FORMAT.md §3.10):
 * the non-zero values of a 2-D weight in row-major order, a bitmask of their
 * positions (LSB first, one padded run of bytes per row), the start of each
 * row in the values, and the shape. Lossless; -0.0 counts as zero and comes
 * back as +0.0.
 */
#include "codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const sbm_suffixes[] = {
	"compressed", "bitmask", "row_offsets", "shape", NULL
};

enum { OUT_SHAPE, OUT_VALUES, OUT_MASK, OUT_OFFSETS };

static int sbm_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
		       ct_error *err)
{
	(void)err;
	out[OUT_SHAPE] = (ct_codec_tensor){ .suffix = "shape", .dtype = CT_I64, .ndim = 1,
		.shape = { 2 } };
	out[OUT_VALUES] = (ct_codec_tensor){ .suffix = "compressed", .dtype = m->wd, .ndim = 1,
		.shape = { m->nnz } };
	out[OUT_MASK] = (ct_codec_tensor){ .suffix = "bitmask", .dtype = CT_U8, .ndim = 2,
		.shape = { m->rows, (m->cols + 7) / 8 } };
	out[OUT_OFFSETS] = (ct_codec_tensor){ .suffix = "row_offsets", .dtype = CT_I64,
		.ndim = 1, .shape = { m->rows } };
	*n = 4;
	return CT_OK;
}

static int sbm_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
		      ct_emit_fn emit, void *ctx, ct_error *err)
{
	(void)p;
	size_t esz = ct_dtype_size(w->wd);
	uint64_t mask_bytes = (w->cols + 7) / 8;
	uint8_t *vals = malloc((size_t)w->cols * esz + 1);
	uint8_t *mask = malloc((size_t)mask_bytes + 1);
	int64_t *offsets = malloc((size_t)w->rows * sizeof(int64_t) + 1);
	int rc = CT_OK;
	if (!vals || !mask || !offsets)
		rc = ct_fail(err, CT_EIO, "out of memory");
	int64_t running = 0;
	for (uint64_t r = 0; !rc && r < w->rows; r++) {
		const uint8_t *row = (const uint8_t *)w->data + r * w->cols * esz;
		memset(mask, 0, (size_t)mask_bytes);
		size_t nv = 0;
		for (uint64_t c = 0; c < w->cols; c++) {
			if (ct_sparse_is_zero(w->wd, row, c))
				continue;
			mask[c / 8] |= (uint8_t)(1u << (c % 8));
			memcpy(vals + nv * esz, row + c * esz, esz);
			nv++;
		}
		offsets[r] = running;
		running += (int64_t)nv;
		if ((uint64_t)running > m->nnz) {
			rc = ct_fail(err, CT_EINTERNAL, "non-zero count changed since planning");
			break;
		}
		rc = emit(ctx, OUT_VALUES, vals, nv * esz, err);
		if (!rc)
			rc = emit(ctx, OUT_MASK, mask, (size_t)mask_bytes, err);
	}
	if (!rc && (uint64_t)running != m->nnz)
		rc = ct_fail(err, CT_EINTERNAL, "non-zero count changed since planning");
	if (!rc)
		rc = emit(ctx, OUT_OFFSETS, offsets, (size_t)w->rows * sizeof(int64_t), err);
	if (!rc) {
		int64_t shape[2] = { (int64_t)w->rows, (int64_t)w->cols };
		rc = emit(ctx, OUT_SHAPE, shape, sizeof(shape), err);
	}
	free(vals);
	free(mask);
	free(offsets);
	return rc;
}

static int popcount8(uint8_t b)
{
	return __builtin_popcount(b);
}

static int sbm_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		     ct_dec_info *info, ct_error *err)
{
	(void)m;
	const ct_tensor *shape = get(gctx, "shape");
	if (!shape || shape->nelem != 2 || shape->dtype != CT_I64)
		return ct_fail(err, CT_EINPUT, "shape: expected I64 [2]");
	int64_t R = ct_load_i64(CT_I64, shape->data, 0), C = ct_load_i64(CT_I64, shape->data, 1);
	if (R <= 0 || C <= 0 || (uint64_t)R > UINT64_MAX / (uint64_t)C / 8)
		return ct_fail(err, CT_EINPUT, "shape: [%" PRId64 ", %" PRId64 "] is not a valid "
			       "weight shape", R, C);
	uint64_t mb = ((uint64_t)C + 7) / 8;
	uint64_t ms[2] = { (uint64_t)R, mb };
	const ct_tensor *mask = get(gctx, "bitmask");
	int rc = ct_codec_expect(mask, "bitmask", CT_U8, 2, ms, err);
	if (rc)
		return rc;
	const ct_tensor *offs = get(gctx, "row_offsets");
	uint64_t os = (uint64_t)R;
	rc = ct_codec_expect(offs, "row_offsets", CT_I64, 1, &os, err);
	if (rc)
		return rc;
	const ct_tensor *vals = get(gctx, "compressed");
	if (!vals || vals->ndim != 1 || ct_dtype_size(vals->dtype) == 0)
		return ct_fail(err, CT_EINPUT, "compressed: expected a 1-D tensor of values");
	/* the counts must agree everywhere before any value is scattered */
	uint64_t total = 0;
	uint8_t pad = (uint8_t)(C % 8 ? 0xFF << (C % 8) : 0);
	for (uint64_t r = 0; r < (uint64_t)R; r++) {
		if ((uint64_t)ct_load_i64(CT_I64, offs->data, r) != total)
			return ct_fail(err, CT_EINPUT, "row_offsets: row %" PRIu64 " starts at %"
				       PRId64 " (expected %" PRIu64 ", the bits set before it)", r,
				       ct_load_i64(CT_I64, offs->data, r), total);
		const uint8_t *row = mask->data + r * mb;
		if (row[mb - 1] & pad)
			return ct_fail(err, CT_EINPUT, "bitmask: row %" PRIu64 " has padding bits "
				       "set", r);
		for (uint64_t b = 0; b < mb; b++)
			total += (uint64_t)popcount8(row[b]);
	}
	if (vals->nelem != total)
		return ct_fail(err, CT_EINPUT, "compressed: %" PRIu64 " values for %" PRIu64
			       " set bits", vals->nelem, total);
	info->rows = (uint64_t)R;
	info->cols = (uint64_t)C;
	info->dtype = vals->dtype;
	return CT_OK;
}

static int sbm_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dtype out_dt,
		      ct_emit_fn emit, void *ctx, ct_error *err)
{
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = sbm_check(m, get, gctx, &info, err);
	if (rc)
		return rc;
	return ct_codec_scatter_rows(get(gctx, "bitmask"), get(gctx, "compressed"), &info,
				     out_dt, emit, ctx, err);
}

const ct_codec ct_codec_sparse_bitmask = {
	.format = CT_FMT_SPARSE_BITMASK,
	.suffixes = sbm_suffixes,
	.outputs = sbm_outputs,
	.encode = sbm_encode,
	.check = sbm_check,
	.decode = sbm_decode,
};
