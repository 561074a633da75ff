/*
 * codec_pack.c - pack-quantized: integer codes (q + 2^(b-1)) packed into
 * little-endian int32 words, first element in the lowest bits (FORMAT.md
 * §3.5). CT >= 0.18 packs each row as one dense bit stream; CT <= 0.17 puts
 * floor(32/b) codes in a word and leaves the top bits zero. The two agree for
 * 1, 2, 4 and 8 bits. Asymmetric group/channel zero points are packed the
 * same way down the rows.
 */
#include "codec.h"

#include "kernels.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const pack_suffixes[] = {
	"weight_packed", "weight_scale", "weight_shape", "weight_zero_point", "weight_g_idx",
	NULL
};

/* Words per packed run of n codes. */
static uint64_t packed_words(uint64_t n, int bits, bool padded)
{
	if (padded) {
		uint64_t per = (uint64_t)(32 / bits);
		return n / per + (n % per != 0);
	}
	return (n * (uint64_t)bits + 31) / 32;
}

/* Packs n unsigned codes (each < 2^bits) into words[]. */
static void pack_codes(const uint32_t *codes, uint64_t n, int bits, bool padded,
		       uint32_t *words)
{
	uint64_t nw = packed_words(n, bits, padded);
	memset(words, 0, (size_t)nw * 4);
	if (padded) {
		uint64_t per = (uint64_t)(32 / bits);
		for (uint64_t i = 0; i < n; i++)
			words[i / per] |= codes[i] << ((i % per) * (uint64_t)bits);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t bit = i * (uint64_t)bits;
		uint64_t w = bit / 32, sh = bit % 32;
		words[w] |= codes[i] << sh;
		if (sh + (uint64_t)bits > 32)
			words[w + 1] |= codes[i] >> (32 - sh);
	}
}

static void unpack_codes(const uint8_t *src, uint64_t n, int bits, bool padded,
			 uint32_t *codes)
{
	uint32_t mask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t w, sh;
		if (padded) {
			uint64_t per = (uint64_t)(32 / bits);
			w = i / per;
			sh = (i % per) * (uint64_t)bits;
		} else {
			uint64_t bit = i * (uint64_t)bits;
			w = bit / 32;
			sh = bit % 32;
		}
		uint32_t lo;
		memcpy(&lo, src + w * 4, 4);
		uint64_t v = lo >> sh;
		if (sh + (uint64_t)bits > 32) {
			uint32_t hi;
			memcpy(&hi, src + (w + 1) * 4, 4);
			v |= (uint64_t)hi << (32 - sh);
		}
		codes[i] = (uint32_t)v & mask;
	}
}

/* Zero points are packed along dim 0 for group and channel strategies. */
static bool zp_packed(const ct_qargs *a)
{
	return !a->symmetric && (a->strategy == CT_STRAT_GROUP ||
				 a->strategy == CT_STRAT_CHANNEL);
}

enum { OUT_PACKED, OUT_SCALE, OUT_SHAPE, OUT_ZP };

static int pack_outputs(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
			ct_error *err)
{
	const ct_qargs *a = m->args;
	if (a->type != CT_QTYPE_INT || a->num_bits < 1 || a->num_bits > 8 ||
	    a->strategy == CT_STRAT_TENSOR_GROUP)
		return ct_fail(err, CT_EINPUT, "pack-quantized needs int weights of 1 to 8 bits "
			       "(tensor_group is an fp4 strategy)");
	ct_qparams g;
	memset(&g, 0, sizeof(g));
	g.args = a;
	int rc = ct_qparams_init(a, m->wd, m->rows, m->cols, &g, err);
	if (rc)
		return rc;
	out[OUT_PACKED] = (ct_codec_tensor){ .suffix = "weight_packed", .dtype = CT_I32,
		.ndim = 2, .shape = { m->rows, packed_words(m->cols, a->num_bits, m->pack_padded) } };
	out[OUT_SCALE] = (ct_codec_tensor){ .suffix = "weight_scale", .dtype = m->wd };
	ct_codec_scale_shape(&g, &out[OUT_SCALE]);
	out[OUT_SHAPE] = (ct_codec_tensor){ .suffix = "weight_shape", .dtype = CT_I64,
		.ndim = 1, .shape = { 2 } };
	*n = 3;
	if (!a->symmetric) {
		ct_codec_tensor *z = &out[OUT_ZP];
		if (zp_packed(a)) {
			*z = (ct_codec_tensor){ .suffix = "weight_zero_point", .dtype = CT_I32,
				.ndim = 2, .shape = { packed_words(g.srows, a->num_bits, m->pack_padded),
						      g.scols } };
		} else {
			*z = out[OUT_SCALE];
			z->suffix = "weight_zero_point";
			z->dtype = CT_I8;
		}
		*n = 4;
	}
	ct_qparams_free(&g);
	return CT_OK;
}

typedef struct pack_ctx {
	const ct_module_desc *m;
	ct_emit_fn emit;
	void *ectx;
	uint32_t *codes;
	uint32_t *words;
} pack_ctx;

static int pack_row(void *ctx, uint64_t r, const int32_t *q, ct_error *err)
{
	(void)r;
	pack_ctx *pc = ctx;
	int b = pc->m->args->num_bits;
	int32_t off = 1 << (b - 1);
	if (32 % b == 0) {
		ct_k_pack(true, q, (size_t)pc->m->cols, off, (unsigned)b, pc->words);
	} else {
		for (uint64_t c = 0; c < pc->m->cols; c++)
			pc->codes[c] = (uint32_t)(q[c] + off);
		pack_codes(pc->codes, pc->m->cols, b, pc->m->pack_padded, pc->words);
	}
	return pc->emit(pc->ectx, OUT_PACKED, pc->words,
			(size_t)packed_words(pc->m->cols, b, pc->m->pack_padded) * 4, err);
}

static int emit_zero_points(const ct_module_desc *m, const ct_qparams *p,
			    ct_emit_fn emit, void *ctx, ct_error *err)
{
	const ct_qargs *a = p->args;
	uint64_t cells = p->srows * p->scols;
	if (!zp_packed(a)) {
		int8_t *z = malloc(cells ? (size_t)cells : 1);
		if (!z)
			return ct_fail(err, CT_EIO, "out of memory");
		for (uint64_t i = 0; i < cells; i++)
			z[i] = (int8_t)p->zp[i];
		int rc = emit(ctx, OUT_ZP, z, (size_t)cells, err);
		free(z);
		return rc;
	}
	/* Transpose to [G, R], pack each of the G runs, transpose back. */
	uint64_t R = p->srows, G = p->scols;
	uint64_t W = packed_words(R, a->num_bits, m->pack_padded);
	uint32_t *col = malloc((size_t)R * 4);
	uint32_t *packed = malloc((size_t)(W * G) * 4 + 4);
	uint32_t *words = malloc((size_t)W * 4 + 4);
	int rc = CT_OK;
	if (!col || !packed || !words) {
		rc = ct_fail(err, CT_EIO, "out of memory");
		goto done;
	}
	uint32_t off = 1u << (a->num_bits - 1);
	for (uint64_t g = 0; g < G; g++) {
		for (uint64_t r = 0; r < R; r++)
			col[r] = (uint32_t)(p->zp[r * G + g] + (int32_t)off);
		pack_codes(col, R, a->num_bits, m->pack_padded, words);
		for (uint64_t w = 0; w < W; w++)
			packed[w * G + g] = words[w];
	}
	rc = emit(ctx, OUT_ZP, packed, (size_t)(W * G) * 4, err);
done:
	free(col);
	free(packed);
	free(words);
	return rc;
}

static int pack_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
		       ct_emit_fn emit, void *ctx, ct_error *err)
{
	pack_ctx pc = { .m = m, .emit = emit, .ectx = ctx };
	pc.codes = malloc((size_t)m->cols * 4);
	pc.words = malloc((size_t)packed_words(m->cols, m->args->num_bits, m->pack_padded) * 4 + 4);
	int rc = CT_OK;
	if (!pc.codes || !pc.words)
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (!rc)
		rc = ct_codec_quantize_rows(w, p, pack_row, &pc, err);
	free(pc.codes);
	free(pc.words);
	if (!rc)
		rc = ct_codec_emit_scales(p, m->wd, OUT_SCALE, emit, ctx, err);
	if (!rc) {
		int64_t shape[2] = { (int64_t)m->rows, (int64_t)m->cols };
		rc = emit(ctx, OUT_SHAPE, shape, sizeof(shape), err);
	}
	if (!rc && !m->args->symmetric)
		rc = emit_zero_points(m, p, emit, ctx, err);
	return rc;
}

/* ------------------------------------------------------------ decoding --- */

typedef struct unpack_state {
	const ct_tensor *packed;
	int bits;
	bool padded;
	uint64_t cols, words;
	uint32_t *codes;
} unpack_state;

static int unpack_row(void *ctx, uint64_t r, int32_t *q, ct_error *err)
{
	(void)err;
	unpack_state *u = ctx;
	int32_t off = 1 << (u->bits - 1);
	const uint8_t *row = u->packed->data + r * u->words * 4;
	if (32 % u->bits == 0) {
		ct_k_unpack(true, row, (size_t)u->cols, off, (unsigned)u->bits, q);
		return CT_OK;
	}
	unpack_codes(row, u->cols, u->bits, u->padded, u->codes);
	for (uint64_t c = 0; c < u->cols; c++)
		q[c] = (int32_t)u->codes[c] - off;
	return CT_OK;
}

/* Reads [R, C] from weight_shape and checks the packed tensors. Fills p when
 * non-NULL. */
static int pack_load(const ct_qargs *a, ct_lookup_fn get, void *gctx, bool padded,
		     ct_qparams *p, ct_dec_info *info, ct_error *err)
{
	if (a->type != CT_QTYPE_INT || a->num_bits < 1 || a->num_bits > 8 ||
	    a->strategy == CT_STRAT_TENSOR_GROUP)
		return ct_fail(err, CT_EINPUT, "pack-quantized needs int weights of 1 to 8 bits "
			       "(tensor_group is an fp4 strategy)");
	const ct_tensor *shape = get(gctx, "weight_shape");
	if (!shape)
		return ct_fail(err, CT_EINPUT, "weight_shape: missing");
	if (shape->nelem != 2 || (shape->dtype != CT_I64 && shape->dtype != CT_I32))
		return ct_fail(err, CT_EINPUT, "weight_shape: is not 2 integers");
	int64_t R = ct_load_i64(shape->dtype, shape->data, 0);
	int64_t C = ct_load_i64(shape->dtype, shape->data, 1);
	/* C * bits and C * 4 (a row of codes) must not wrap */
	if (R <= 0 || C <= 0 || (uint64_t)C > UINT64_MAX / 64 ||
	    (uint64_t)R > UINT64_MAX / (uint64_t)C)
		return ct_fail(err, CT_EINPUT, "weight_shape: [%" PRId64 ", %" PRId64 "] is not "
			       "a valid weight shape", R, C);
	const ct_tensor *packed = get(gctx, "weight_packed");
	uint64_t want[2] = { (uint64_t)R, packed_words((uint64_t)C, a->num_bits, padded) };
	int rc = ct_codec_expect(packed, "weight_packed", CT_I32, 2, want, err);
	if (rc)
		return rc;
	const ct_tensor *scale = get(gctx, "weight_scale");
	if (!scale)
		return ct_fail(err, CT_EINPUT, "weight_scale: missing");
	if (!ct_dtype_is_float(scale->dtype) || ct_dtype_size(scale->dtype) < 2)
		return ct_fail(err, CT_EINPUT, "weight_scale: dtype %s (expected F32, F16 or "
			       "BF16)", ct_dtype_name(scale->dtype));
	const ct_tensor *zp = get(gctx, "weight_zero_point");
	if (a->symmetric && zp)
		return ct_fail(err, CT_EINPUT, "weight_zero_point: present but the scheme is "
			       "symmetric");
	if (!a->symmetric && !zp)
		return ct_fail(err, CT_EINPUT, "weight_zero_point: missing for an asymmetric "
			       "scheme");
	info->rows = (uint64_t)R;
	info->cols = (uint64_t)C;
	info->dtype = scale->dtype;
	ct_qparams local;
	ct_qparams *q = p ? p : &local;
	rc = ct_qparams_init(a, scale->dtype, (uint64_t)R, (uint64_t)C, q, err);
	if (rc)
		return rc;
	rc = ct_codec_load_scales(q, scale, "weight_scale", err);
	if (!rc && zp) {
		uint64_t cells = q->srows * q->scols;
		if (zp_packed(a)) {
			uint64_t W = packed_words(q->srows, a->num_bits, padded);
			uint64_t zs[2] = { W, q->scols };
			rc = ct_codec_expect(zp, "weight_zero_point", CT_I32, 2, zs, err);
			uint32_t *col = rc ? NULL : malloc((size_t)q->srows * 4);
			uint8_t *words = rc ? NULL : malloc((size_t)W * 4);
			if (!rc && (!col || !words))
				rc = ct_fail(err, CT_EIO, "out of memory");
			for (uint64_t g = 0; !rc && g < q->scols; g++) {
				for (uint64_t w = 0; w < W; w++)
					memcpy(words + w * 4, zp->data + (w * q->scols + g) * 4, 4);
				unpack_codes(words, q->srows, a->num_bits, padded, col);
				for (uint64_t r = 0; r < q->srows; r++)
					q->zp[r * q->scols + g] =
						(int32_t)col[r] - (1 << (a->num_bits - 1));
			}
			free(col);
			free(words);
		} else if (zp->nelem != cells || zp->dtype != CT_I8) {
			rc = ct_fail(err, CT_EINPUT, "weight_zero_point: expected I8 with %" PRIu64
				     " elements", cells);
		} else {
			for (uint64_t i = 0; i < cells; i++)
				q->zp[i] = (int8_t)zp->data[i];
		}
	}
	const ct_tensor *g_idx = get(gctx, "weight_g_idx");
	if (!rc && g_idx)
		rc = ct_qparams_load_g_idx(q, g_idx, err);
	if (!p || rc)
		ct_qparams_free(q);
	return rc;
}

static int pack_check(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		      ct_dec_info *info, ct_error *err)
{
	return pack_load(m->args, get, gctx, m->pack_padded, NULL, info, err);
}

static int pack_decode(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dtype out_dt,
		       ct_emit_fn emit, void *ctx, ct_error *err)
{
	const ct_qargs *a = m->args;
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	bool padded = m->pack_padded;
	int rc = pack_load(a, get, gctx, padded, &p, &info, err);
	if (rc)
		return rc;
	unpack_state u = { .packed = get(gctx, "weight_packed"), .bits = a->num_bits,
			   .padded = padded, .cols = info.cols };
	u.words = packed_words(info.cols, a->num_bits, padded);
	u.codes = malloc((size_t)info.cols * 4);
	if (!u.codes)
		rc = ct_fail(err, CT_EIO, "out of memory");
	else
		rc = ct_codec_dequantize_rows(&p, unpack_row, &u, out_dt, emit, ctx, err);
	free(u.codes);
	ct_qparams_free(&p);
	return rc;
}

/* Every packed code is an integer in [-2^(bits-1), 2^(bits-1)) once the
 * offset is taken off (unpack_row; compressed-tensors compressors/
 * quantized_compressors/pack_quantized.py unpack_from_int32), so no code
 * is invalid and only (q - z) * s can overflow: the bound from the scales
 * and zero points. */
static int pack_bound(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dec_bound *b,
		      ct_error *err)
{
	ct_qparams p;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = pack_load(m->args, get, gctx, m->pack_padded, &p, &info, err);
	if (rc)
		return rc;
	int bits = m->args->num_bits;
	/* an unusual width falls back to a full decode (an infinite bound) */
	ct_codec_bound_of(&p, bits >= 1 && bits <= 32 ? ldexp(1.0, bits - 1) : INFINITY, b);
	b->maybe_nan = false;
	ct_qparams_free(&p);
	return CT_OK;
}

const ct_codec ct_codec_pack = {
	.format = CT_FMT_PACK,
	.suffixes = pack_suffixes,
	.outputs = pack_outputs,
	.encode = pack_encode,
	.check = pack_check,
	.decode = pack_decode,
	.bound = pack_bound,
};
