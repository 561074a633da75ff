#include "quant.h"

#include "kernels.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers --- */

static bool is_fp4(const ct_qargs *a)
{
	return a->type == CT_QTYPE_FLOAT && a->num_bits == 4;
}

/* The MX scheme (power-of-two scales per 32 elements) as the library detects
 * it: fp4 in group 32, or fp8 in group 32 with uint8 scales (CT >= 0.15). */
static bool is_mx(const ct_qargs *a)
{
	if (a->type != CT_QTYPE_FLOAT || a->strategy != CT_STRAT_GROUP || a->group_size != 32)
		return false;
	return a->num_bits == 4 || (a->num_bits == 8 && a->has_scale_dtype &&
				    a->scale_dtype == CT_U8);
}

static float rnd(ct_dtype wd, float x)
{
	return ct_round_to(wd, x);
}

float ct_fp4_value(unsigned nibble)
{
	static const float mag[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };
	float v = mag[nibble & 7];
	return (nibble & 8) ? -v : v;
}

unsigned ct_fp4_round(float t)
{
	/* Thresholds of RNE on the E2M1 grid: ties go to the even mantissa. */
	float a = fabsf(t);
	unsigned idx;
	if (a <= 0.25f)
		idx = 0;
	else if (a < 0.75f)
		idx = 1;
	else if (a <= 1.25f)
		idx = 2;
	else if (a < 1.75f)
		idx = 3;
	else if (a <= 2.5f)
		idx = 4;
	else if (a < 3.5f)
		idx = 5;
	else if (a <= 5.0f)
		idx = 6;
	else
		idx = 7;
	/* sign(t) * value: a negative t that rounds to 0 keeps its sign (-0). */
	return (t < 0.0f ? 8u : 0u) | idx;
}

float ct_quant_global_scale(ct_dtype wd, float absmax)
{
	float a = absmax < ct_dtype_tiny(wd) ? ct_dtype_tiny(wd) : absmax;
	/* Python's 2688 / tensor is tensor.reciprocal() * 2688: two roundings. */
	float gs = rnd(wd, rnd(wd, 1.0f / a) * 2688.0f);
	if (isnan(gs) || isinf(gs))
		return 1.0f;
	return gs;
}

bool ct_quant_absmax(const ct_wview *w, float *absmax, uint64_t *bad_index)
{
	float amax = 0.0f;
	size_t esz = ct_dtype_size(w->wd);
	uint64_t block = ct_wview_block_rows(w);
	/* a block of rows at a time, as one long row: one call, not one per row */
	for (uint64_t r = 0; r < w->rows; r += block) {
		uint64_t m = w->rows - r < block ? w->rows - r : block;
		const uint8_t *src = (const uint8_t *)w->data + r * w->cols * esz;
		uint64_t n = m * w->cols;
		ct_wview_prefetch(w, r, r + m);
		if (!ct_k_absmax_raw(true, w->wd, src, (size_t)n, (size_t)n, &amax)) {
			for (uint64_t c = 0; c < n; c++) {
				float x;
				ct_k_load(false, w->wd, src + c * esz, &x, 1);
				if (!isfinite(x)) {
					*bad_index = r * w->cols + c;
					break;
				}
			}
			return false;
		}
		ct_wview_release(w, r, r + m);
	}
	*absmax = amax;
	return true;
}

#define CT_RELEASE_BYTES (8u << 20)

uint64_t ct_wview_block_rows(const ct_wview *w)
{
	uint64_t row = w->cols * ct_dtype_size(w->wd);
	return row && row < CT_RELEASE_BYTES ? CT_RELEASE_BYTES / row : 1;
}

void ct_wview_release(const ct_wview *w, uint64_t r0, uint64_t r1)
{
	uint64_t row = w->cols * ct_dtype_size(w->wd);
	ct_st_release(w->file, (const uint8_t *)w->data + r0 * row, (r1 - r0) * row);
}

void ct_wview_prefetch(const ct_wview *w, uint64_t r0, uint64_t r1)
{
	uint64_t row = w->cols * ct_dtype_size(w->wd);
	ct_st_prefetch(w->file, (const uint8_t *)w->data + r0 * row, (r1 - r0) * row);
}

/* The deferred part of ct_qparams_compute. */
struct ct_qlazy {
	ct_wview w;
	uint64_t done;             /* scale rows computed */
	uint64_t step;             /* scale rows per fill */
	float *mn, *mx;            /* [step * scols] scratch */
	bool overflow;             /* some filled cell may decompress to infinity */
	int rc;                    /* a failed fill, returned again */
	ct_error err;
};

/* ------------------------------------------------------------- shapes --- */

static int grid(const ct_qargs *a, uint64_t rows, uint64_t cols, ct_qparams *p)
{
	switch (a->strategy) {
	case CT_STRAT_TENSOR:
		p->srows = 1;
		p->scols = 1;
		p->cell_rows = rows ? rows : 1;
		p->cell_cols = cols ? cols : 1;
		return CT_OK;
	case CT_STRAT_CHANNEL:
		p->srows = rows;
		p->scols = 1;
		p->cell_rows = 1;
		p->cell_cols = cols ? cols : 1;
		return CT_OK;
	case CT_STRAT_GROUP:
	case CT_STRAT_TENSOR_GROUP:
		if (!a->has_group_size || a->group_size <= 0)
			return CT_EINPUT;
		p->srows = rows;
		p->scols = cols / (uint64_t)a->group_size;
		p->cell_rows = 1;
		p->cell_cols = (uint64_t)a->group_size;
		return CT_OK;
	case CT_STRAT_BLOCK:
		if (!a->has_block || a->block[0] <= 0 || a->block[1] <= 0)
			return CT_EINPUT;
		p->cell_rows = (uint64_t)a->block[0];
		p->cell_cols = (uint64_t)a->block[1];
		p->srows = rows / p->cell_rows + (rows % p->cell_rows != 0);
		p->scols = cols / p->cell_cols + (cols % p->cell_cols != 0);
		return CT_OK;
	default:
		return CT_EINPUT;
	}
}

int ct_quant_check_shape(const ct_qargs *a, uint64_t rows, uint64_t cols,
			 const char *module, ct_error *err)
{
	if (rows == 0 || cols == 0)
		return ct_fail(err, CT_EINPUT, "weight has shape [%" PRIu64 ", %" PRIu64
			       "] with no elements (add --ignore '%s')", rows, cols, module);
	if (a->strategy == CT_STRAT_GROUP || a->strategy == CT_STRAT_TENSOR_GROUP) {
		uint64_t g = (uint64_t)a->group_size;
		if (cols % g != 0)
			return ct_fail(err, CT_EINPUT, "columns %" PRIu64 " not a multiple of "
				       "group_size %" PRIu64 " (add --ignore '%s' or use "
				       "--skip-incompatible)", cols, g, module);
	} else if (a->strategy != CT_STRAT_TENSOR && a->strategy != CT_STRAT_CHANNEL &&
		   a->strategy != CT_STRAT_BLOCK) {
		return ct_fail(err, CT_EINPUT, "strategy not supported for weights");
	}
	if (is_fp4(a) && cols % 2 != 0)
		return ct_fail(err, CT_EINPUT, "columns %" PRIu64 " must be even for fp4 "
			       "packing (add --ignore '%s' or use --skip-incompatible)", cols,
			       module);
	if (rows > UINT64_MAX / cols)
		return ct_fail(err, CT_EINPUT, "shape overflows");
	return CT_OK;
}

static void range_of(const ct_qargs *a, int *qmin, int *qmax)
{
	if (a->type == CT_QTYPE_FLOAT) {
		int m = a->num_bits == 4 ? 6 : 448;
		*qmin = -m;
		*qmax = m;
	} else {
		*qmin = -(1 << (a->num_bits - 1));
		*qmax = (1 << (a->num_bits - 1)) - 1;
	}
}

int ct_qparams_init(const ct_qargs *args, ct_dtype wd, uint64_t rows, uint64_t cols,
		    ct_qparams *p, ct_error *err)
{
	memset(p, 0, sizeof(*p));
	p->args = args;
	p->wd = wd;
	p->rows = rows;
	p->cols = cols;
	if (grid(args, rows, cols, p) != CT_OK)
		return ct_fail(err, CT_EINPUT, "quantization strategy has no scale grid");
	if ((args->strategy == CT_STRAT_GROUP || args->strategy == CT_STRAT_TENSOR_GROUP) &&
	    cols % (uint64_t)args->group_size != 0)
		return ct_fail(err, CT_EINPUT, "columns %" PRIu64 " not a multiple of group_size %"
			       PRId64, cols, args->group_size);
	if (rows == 0 || cols == 0)
		return ct_fail(err, CT_EINPUT, "weight has no elements");
	range_of(args, &p->q_min, &p->q_max);
	p->simd = true;
	uint64_t cells = p->srows * p->scols;
	p->scale = calloc(cells ? cells : 1, sizeof(float));
	if (!args->symmetric)
		p->zp = calloc(cells ? cells : 1, sizeof(int32_t));
	if (!p->scale || (!args->symmetric && !p->zp)) {
		ct_qparams_free(p);
		return ct_fail(err, CT_EIO, "out of memory for %" PRIu64 " scales", cells);
	}
	return CT_OK;
}

void ct_qparams_free(ct_qparams *p)
{
	free(p->scale);
	free(p->zp);
	free(p->g_idx);
	free(p->g_scale);
	free(p->g_zp);
	if (p->lazy) {
		free(p->lazy->mn);
		free(p->lazy->mx);
		free(p->lazy);
	}
	p->lazy = NULL;
	p->scale = NULL;
	p->zp = NULL;
	p->g_idx = NULL;
	p->g_scale = NULL;
	p->g_zp = NULL;
}

int ct_qparams_load_g_idx(ct_qparams *p, const ct_tensor *t, ct_error *err)
{
	const ct_qargs *a = p->args;
	if (a->strategy != CT_STRAT_GROUP)
		return ct_fail(err, CT_EINPUT, "weight_g_idx: stored, but the strategy is not "
			       "group (activation order needs groups)");
	if ((t->dtype != CT_I32 && t->dtype != CT_I64) || t->ndim != 1 || t->nelem != p->cols)
		return ct_fail(err, CT_EINPUT, "weight_g_idx: %s with %" PRIu64 " elements "
			       "(expected I32 [%" PRIu64 "], a group per column)",
			       ct_dtype_name(t->dtype), t->nelem, p->cols);
	uint64_t *count = calloc(p->scols ? p->scols : 1, sizeof(uint64_t));
	int32_t *g = malloc((size_t)p->cols * sizeof(int32_t));
	if (!count || !g) {
		free(count);
		free(g);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	bool trivial = true;
	int rc = CT_OK;
	for (uint64_t j = 0; j < p->cols; j++) {
		int64_t v = ct_load_i64(t->dtype, t->data, j);
		if (v < 0 || (uint64_t)v >= p->scols) {
			rc = ct_fail(err, CT_EINPUT, "weight_g_idx: column %" PRIu64 " has group %"
				     PRId64 " (expected 0 to %" PRIu64 ")", j, v, p->scols - 1);
			break;
		}
		g[j] = (int32_t)v;
		count[v]++;
		trivial = trivial && (uint64_t)v == j / p->cell_cols;
	}
	for (uint64_t k = 0; !rc && k < p->scols; k++)
		if (count[k] != p->cell_cols)
			rc = ct_fail(err, CT_EINPUT, "weight_g_idx: group %" PRIu64 " holds %"
				     PRIu64 " columns (expected group_size %" PRIu64 ")", k,
				     count[k], p->cell_cols);
	free(count);
	if (rc || trivial) {
		free(g);
		return rc;
	}
	p->g_idx = g;
	p->g_scale = malloc((size_t)p->cols * sizeof(float));
	if (p->zp)
		p->g_zp = malloc((size_t)p->cols * sizeof(int32_t));
	if (!p->g_scale || (p->zp && !p->g_zp))
		return ct_fail(err, CT_EIO, "out of memory");
	return CT_OK;
}

/* The dtype scales are cast to: the configured scale_dtype; NVFP4 scales
 * are stored as e4m3 even when an old config does not say so. */
static bool scale_dtype_of(const ct_qargs *a, ct_dtype *dt)
{
	if (a->has_scale_dtype) {
		*dt = a->scale_dtype;
		return true;
	}
	if (is_fp4(a) && a->strategy == CT_STRAT_TENSOR_GROUP) {
		*dt = CT_F8_E4M3;
		return true;
	}
	return false;
}

/* The value a zero scale is replaced with (FORMAT.md §4.4 step 6). */
static float zero_scale_eps(const ct_qargs *a, ct_dtype s_dtype)
{
	ct_dtype sd;
	if (scale_dtype_of(a, &sd)) {
		if (sd == CT_F8_E4M3)
			return 0.125f;
		if (ct_dtype_is_int(sd))
			return 1.0f;
		return ct_dtype_eps(sd);
	}
	return ct_dtype_eps(s_dtype);
}

/* Casts s to the configured scale_dtype and back (value only). */
static float cast_scale_dtype(const ct_qargs *a, float s)
{
	ct_dtype sd;
	if (!scale_dtype_of(a, &sd))
		return s;
	switch (sd) {
	case CT_F8_E4M3:
		s = fminf(fmaxf(s, -448.0f), 448.0f);
		return ct_e4m3_to_f32(ct_f32_to_e4m3(s));
	case CT_F16:
	case CT_BF16:
	case CT_F32: {
		float m = ct_dtype_max(sd);
		s = fminf(fmaxf(s, -m), m);
		return ct_round_to(sd, s);
	}
	default:
		return s;
	}
}

/* Input bytes observed per fill: small enough to be in cache when the same
 * rows are quantized right after. */
#define CT_FILL_BYTES (256u << 10)

/* A positive finite scale, by its bits: 0x00000001..0x7F7FFFFF, one
 * unsigned compare that vectorizes (isfinite does not). */
static bool scale_usable(float s)
{
	uint32_t u;
	memcpy(&u, &s, sizeof(u));
	return u - 1u < UINT32_C(0x7F7FFFFF);
}

/* Observes scale rows [s0, s1) of w and computes their scales, with mn/mx
 * scratch of (s1 - s0) * scols cells. */
static int compute_cells(const ct_qparams *p, const ct_wview *w, uint64_t s0, uint64_t s1,
			 float *mn, float *mx, bool release, bool *overflow, ct_error *err)
{
	const ct_qargs *a = p->args;
	uint64_t ncell = (s1 - s0) * p->scols;
	memset(mn, 0, (size_t)ncell * sizeof(float));
	memset(mx, 0, (size_t)ncell * sizeof(float));
	/* min(amin, 0) and max(amax, 0): starting at 0 does both, and covers the
	 * zero padding of partial blocks. */
	size_t esz = ct_dtype_size(w->wd);
	uint64_t r0 = s0 * p->cell_rows;
	uint64_t r1 = s1 * p->cell_rows < w->rows ? s1 * p->cell_rows : w->rows;
	uint64_t block = ct_wview_block_rows(w), released = r0;
	/* With one row per cell and whole cells per row, the cells of
	 * consecutive rows follow each other in memory and in mn/mx: a block of
	 * rows is observed as one long row (narrow rows cost one call, not one
	 * per row). */
	uint64_t run = p->cell_rows == 1 && w->cols % p->cell_cols == 0 ? block : 1;
	for (uint64_t r = r0; r < r1; r += run) {
		if (release && r - released >= block) {
			ct_wview_release(w, released, r);
			released = r;
		}
		uint64_t m = r1 - r < run ? r1 - r : run;
		if (release && run > 1)
			ct_wview_prefetch(w, r, r + m);
		uint64_t base = (r / p->cell_rows - s0) * p->scols;
		const uint8_t *src = (const uint8_t *)w->data + r * w->cols * esz;
		/* symmetric scales see max(-min, max) only: the absmax alone, from
		 * the bits, leaving mn at 0 */
		if (a->symmetric)
			ct_k_absmax_raw(p->simd, w->wd, src, (size_t)(m * w->cols),
					(size_t)p->cell_cols, mx + base);
		else
			ct_k_minmax_raw(p->simd, w->wd, src, (size_t)(m * w->cols),
					(size_t)p->cell_cols, mn + base, mx + base);
	}
	if (release)
		ct_wview_release(w, released, r1);

	ct_dtype wd = w->wd;
	bool mx_fmt = is_mx(a);
	bool tg = a->strategy == CT_STRAT_TENSOR_GROUP;
	float bit_range = (float)(p->q_max - p->q_min);
	float half = bit_range / 2.0f;
	float gs = p->gs;
	float *scale = p->scale + s0 * p->scols;
	int32_t *zp = p->zp ? p->zp + s0 * p->scols : NULL;
	ct_dtype sd;
	bool nvfp4 = a->symmetric && tg && bit_range == 12.0f && scale_dtype_of(a, &sd) &&
		     sd == CT_F8_E4M3;
	if (a->symmetric && mx_fmt)
		ct_k_mx_scales(p->simd, wd, mn, mx, (size_t)ncell, a->num_bits == 4 ? 2 : 8,
			       zero_scale_eps(a, wd), scale);
	else if (nvfp4)
		ct_k_nvfp4_scales(p->simd, wd, mn, mx, (size_t)ncell, gs, scale);
	for (uint64_t i = 0; !(a->symmetric && mx_fmt) && !nvfp4 && i < ncell; i++) {
		float s;
		if (a->symmetric) {
			float amax = fmaxf(-mn[i], mx[i]);
			s = rnd(wd, amax / half);
		} else {
			s = rnd(wd, rnd(wd, mx[i] - mn[i]) / bit_range);
			/* The zero point uses the scale before zero scales are
			 * replaced: 0/0 is NaN, which the library casts to 0. */
			float z = rnd(wd, (float)p->q_min - rnd(wd, mn[i] / s));
			if (isnan(z))
				z = 0.0f;
			z = fminf(fmaxf(z, (float)p->q_min), (float)p->q_max);
			zp[i] = (int32_t)rintf(z);
		}
		ct_dtype s_dtype = wd;
		if (tg) {
			s = gs * s;
			s_dtype = CT_F32;
		}
		s = cast_scale_dtype(a, s);
		if (s == 0.0f)
			s = zero_scale_eps(a, s_dtype);
		scale[i] = s;
	}
	/* A scale that overflowed the weight dtype (F16 weights spanning more
	 * than 65504) would be written as Inf, which no loader can use and
	 * verify rejects: the library writes it all the same, ctensors refuses. */
	bool bad_scale = false;
	for (uint64_t i = 0; i < ncell; i++)
		bad_scale |= !scale_usable(scale[i]);
	for (uint64_t i = 0; bad_scale && i < ncell; i++) {
		/* NaN and Inf weights are named by the row pass instead */
		if (scale_usable(scale[i]) || !isfinite(mn[i]) ||
		    !isfinite(mx[i]))
			continue;
		uint64_t cr0 = (s0 + i / p->scols) * p->cell_rows;
		uint64_t cc0 = (i % p->scols) * p->cell_cols;
		if (a->symmetric)
			return ct_fail(err, CT_EINPUT, "the scale of the group at row %" PRIu64
				       ", column %" PRIu64 " is %g: its largest magnitude is %g, "
				       "which %s cannot scale (convert the weights to BF16 or F32 "
				       "first)", cr0, cc0, (double)scale[i], (double)mx[i],
				       ct_dtype_name(wd));
		return ct_fail(err, CT_EINPUT, "the scale of the group at row %" PRIu64 ", column %"
			       PRIu64 " is %g: its weights span [%g, %g], a range %s cannot hold "
			       "(use a symmetric scheme, or convert the weights to BF16 or F32 "
			       "first)", cr0, cc0, (double)scale[i], (double)mn[i], (double)mx[i],
			       ct_dtype_name(wd));
	}
	/* (q - z) * s rounded to the weight dtype can overflow for the extreme
	 * codes of a group whose values sit at the top of that dtype: then the
	 * rows are checked as they are quantized (ct_codec_quantize_rows). */
	ct_dtype dq = ct_dequant_dtype(p);
	float top = dq == CT_F16 ? 65504.0f : dq == CT_BF16 ? 3.3895314e38f : FLT_MAX;
	/* a loose bound: the row pass then checks the exact values. No early
	 * exit and no libm call, so that the loop vectorizes (the codes and
	 * zero points are small integers: no NaN reaches the max) */
	bool over = false;
	float lim = 0.5f * top, q_lo = (float)p->q_min, q_hi = (float)p->q_max;
	if (!zp) {
		/* one distance for every cell: the largest scale decides, since
		 * the division and the product are monotonic. Scales are positive
		 * here (or the weights were not finite): their bits order them
		 * and the integer max vectorizes, where a float max would not. */
		int32_t top_bits = 0;
		for (uint64_t i = 0; i < ncell; i++) {
			int32_t b;
			memcpy(&b, &scale[i], sizeof(b));
			top_bits = b > top_bits ? b : top_bits;
		}
		float smax;
		memcpy(&smax, &top_bits, sizeof(smax));
		float worst = fabsf(q_lo) > fabsf(q_hi) ? fabsf(q_lo) : fabsf(q_hi);
		over = !(worst * (tg ? smax / gs : smax) < lim);
	}
	for (uint64_t i = 0; zp && i < ncell; i++) {
		float z = (float)zp[i];
		float below = fabsf(q_lo - z), above = fabsf(q_hi - z);
		float worst = below > above ? below : above;
		float s_eff = tg ? scale[i] / gs : scale[i];
		over |= !(worst * s_eff < lim);
	}
	*overflow = *overflow || over;
	return CT_OK;
}

int ct_qparams_compute(const ct_qargs *a, const ct_wview *w, float gs,
		       ct_qparams *p, ct_error *err)
{
	int rc = ct_qparams_init(a, w->wd, w->rows, w->cols, p, err);
	if (rc)
		return rc;
	p->has_gs = a->strategy == CT_STRAT_TENSOR_GROUP;
	p->gs = gs;
	uint64_t row_bytes = w->cols * ct_dtype_size(w->wd);
	uint64_t step = CT_FILL_BYTES / (row_bytes * p->cell_rows + 1);
	step = step < 1 ? 1 : step;
	if (p->srows > 1 && step < p->srows) {
		/* one pass: the rows are observed a few at a time, just before
		 * they are quantized */
		struct ct_qlazy *l = calloc(1, sizeof(*l));
		float *mn = malloc((size_t)(step * p->scols) * sizeof(float));
		float *mx = malloc((size_t)(step * p->scols) * sizeof(float));
		if (!l || !mn || !mx) {
			free(l);
			free(mn);
			free(mx);
			ct_qparams_free(p);
			return ct_fail(err, CT_EIO, "out of memory");
		}
		l->w = *w;
		l->step = step;
		l->mn = mn;
		l->mx = mx;
		p->lazy = l;
		return CT_OK;
	}
	uint64_t cells = p->srows * p->scols;
	float *mn = malloc((size_t)cells * sizeof(float));
	float *mx = malloc((size_t)cells * sizeof(float));
	if (!mn || !mx) {
		free(mn);
		free(mx);
		ct_qparams_free(p);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	bool overflow = false;
	rc = compute_cells(p, w, 0, p->srows, mn, mx, true, &overflow, err);
	p->check_overflow = overflow;
	free(mn);
	free(mx);
	if (rc)
		ct_qparams_free(p);
	return rc;
}

int ct_qparams_fill(const ct_qparams *p, uint64_t r_end, ct_error *err)
{
	struct ct_qlazy *l = p->lazy;
	if (!l)
		return CT_OK;
	if (l->rc) {
		*err = l->err;
		return l->rc;
	}
	uint64_t want = (r_end + p->cell_rows - 1) / p->cell_rows;
	want = want > p->srows ? p->srows : want;
	while (l->done < want) {
		uint64_t s1 = l->done + l->step < p->srows ? l->done + l->step : p->srows;
		/* writes p's scale and zero-point arrays, which p defers */
		int rc = compute_cells(p, &l->w, l->done, s1, l->mn, l->mx, false,
				       &l->overflow, err);
		if (rc) {
			l->rc = rc;
			l->err = *err;
			return rc;
		}
		l->done = s1;
	}
	return CT_OK;
}

bool ct_qparams_check_overflow(const ct_qparams *p)
{
	return p->check_overflow || (p->lazy && p->lazy->overflow);
}

/* ------------------------------------------------------------ per row --- */

void ct_quant_row(const ct_qparams *p, uint64_t r, const float *x, int32_t *q)
{
	const ct_qargs *a = p->args;
	uint64_t base = (r / p->cell_rows) * p->scols;
	ct_kernel_code code = a->type == CT_QTYPE_INT ? CT_K_INT :
			      a->num_bits == 8 ? CT_K_FP8 : CT_K_FP4;
	const int32_t *z = p->zp ? p->zp + base : NULL;
	/* The library always adds a (possibly zero) zero point, which also turns
	 * -0.0 into +0.0: the kernel does too. */
	if (!p->has_gs) {
		ct_k_quant(p->simd, code, p->wd, x, (size_t)p->cols, (size_t)p->cell_cols,
			   p->scale + base, z, (float)p->q_min, (float)p->q_max, q);
		return;
	}
	/* NVFP4: the effective scale is f32(s)/gs and all work is f32. */
	float eff[64];
	for (uint64_t j0 = 0; j0 < p->scols; j0 += 64) {
		uint64_t m = p->scols - j0 < 64 ? p->scols - j0 : 64;
		for (uint64_t j = 0; j < m; j++)
			eff[j] = p->scale[base + j0 + j] / p->gs;
		uint64_t c0 = j0 * p->cell_cols;
		uint64_t c1 = (j0 + m) * p->cell_cols < p->cols ? (j0 + m) * p->cell_cols : p->cols;
		ct_k_quant(p->simd, code, CT_F32, x + c0, (size_t)(c1 - c0), (size_t)p->cell_cols,
			   eff, z ? z + j0 : NULL, (float)p->q_min, (float)p->q_max, q + c0);
	}
}

uint64_t ct_quant_rows_batch(const ct_qparams *p, uint64_t max_rows)
{
	/* one row per cell (group, channel) or one cell for all (tensor) */
	bool flat = (p->cell_rows == 1 && p->cols % p->cell_cols == 0) ||
		    (p->srows == 1 && p->scols == 1);
	return flat && max_rows > 1 ? max_rows : 1;
}

bool ct_quant_rows_raw(const ct_qparams *p, uint64_t r, uint64_t nrows, const void *src,
		       int32_t *q)
{
	const ct_qargs *a = p->args;
	uint64_t n = nrows * p->cols;
	/* the rows' cells follow each other (ct_quant_rows_batch), or there
	 * is one cell for the whole tensor */
	bool one_cell = p->srows == 1 && p->scols == 1;
	uint64_t cell = one_cell ? n : p->cell_cols;
	uint64_t base = one_cell ? 0 : (r / p->cell_rows) * p->scols;
	uint64_t cells = one_cell ? 1 : nrows * p->scols;
	ct_kernel_code code = a->type == CT_QTYPE_INT ? CT_K_INT :
			      a->num_bits == 8 ? CT_K_FP8 : CT_K_FP4;
	const int32_t *z = p->zp ? p->zp + base : NULL;
	if (!p->has_gs)
		return ct_k_quant_raw(p->simd, code, p->wd, p->wd, src, (size_t)n, (size_t)cell,
				      p->scale + base, z, (float)p->q_min, (float)p->q_max, q);
	/* NVFP4: the effective scale is f32(s)/gs and all work is f32. */
	float eff[64];
	bool ok = true;
	size_t esz = ct_dtype_size(p->wd);
	for (uint64_t j0 = 0; j0 < cells; j0 += 64) {
		uint64_t m = cells - j0 < 64 ? cells - j0 : 64;
		for (uint64_t j = 0; j < m; j++)
			eff[j] = p->scale[base + j0 + j] / p->gs;
		uint64_t c0 = j0 * cell;
		uint64_t c1 = (j0 + m) * cell < n ? (j0 + m) * cell : n;
		ok = ct_k_quant_raw(p->simd, code, CT_F32, p->wd, (const uint8_t *)src + c0 * esz,
				    (size_t)(c1 - c0), (size_t)cell, eff, z ? z + j0 : NULL,
				    (float)p->q_min, (float)p->q_max, q + c0) && ok;
	}
	return ok;
}

/* The real value code q stands for under scale s and zero point z. */
static float code_value(const ct_qargs *a, int32_t q, float s, float z)
{
	if (a->type == CT_QTYPE_INT)
		return ((float)q - z) * s;
	if (a->num_bits == 8)
		return ct_e4m3_to_f32((uint8_t)q) * s;
	return ct_fp4_value((unsigned)q) * s;
}

static bool same_value(float a, float b)
{
	return a == b && signbit(a) == signbit(b);
}

/* Codes next to q in value order that might stand for the same number:
 * rounding of the forward path can land one or two codes away, and the two
 * zeros differ only in sign. */
static int neighbours(const ct_qparams *p, int32_t q, int32_t *out)
{
	const ct_qargs *a = p->args;
	int n = 0;
	if (a->type == CT_QTYPE_INT) {
		for (int d = -2; d <= 2; d++)
			if (d && q + d >= p->q_min && q + d <= p->q_max)
				out[n++] = q + d;
		return n;
	}
	int mag_bits = a->num_bits == 8 ? 7 : 3;
	int32_t sign = q & (1 << mag_bits), mag = q & ((1 << mag_bits) - 1);
	int32_t top = a->num_bits == 8 ? 0x7E : 7;
	for (int d = -2; d <= 2; d++)
		if (d && mag + d >= 0 && mag + d <= top)
			out[n++] = sign | (mag + d);
	out[n++] = q ^ (1 << mag_bits); /* the other zero */
	return n;
}

bool ct_quant_row_exact(const ct_qparams *p, uint64_t r, const float *x, int32_t *q,
			uint64_t *bad_col)
{
	ct_quant_row(p, r, x, q);
	uint64_t base = (r / p->cell_rows) * p->scols;
	for (uint64_t j = 0; j < p->scols; j++) {
		uint64_t c0 = j * p->cell_cols;
		uint64_t c1 = c0 + p->cell_cols < p->cols ? c0 + p->cell_cols : p->cols;
		float s = p->scale[base + j];
		if (p->has_gs)
			s = s / p->gs;
		float z = p->zp ? (float)p->zp[base + j] : 0.0f;
		for (uint64_t c = c0; c < c1; c++) {
			if (same_value(rnd(p->wd, code_value(p->args, q[c], s, z)), x[c]))
				continue;
			int32_t cand[8];
			int n = neighbours(p, q[c], cand);
			int k;
			for (k = 0; k < n; k++)
				if (same_value(rnd(p->wd, code_value(p->args, cand[k], s, z)), x[c]))
					break;
			if (k == n) {
				*bad_col = c;
				return false;
			}
			q[c] = cand[k];
		}
	}
	return true;
}

ct_dtype ct_dequant_dtype(const ct_qparams *p)
{
	if (is_fp4(p->args) || is_mx(p->args))
		return CT_BF16;
	return p->wd;
}

void ct_dequant_row(const ct_qparams *p, uint64_t r, const int32_t *q, ct_dtype out_dt,
		    void *out)
{
	const ct_qargs *a = p->args;
	uint64_t base = (r / p->cell_rows) * p->scols;
	ct_kernel_code code = a->type == CT_QTYPE_INT ? CT_K_INT :
			      a->num_bits == 8 ? CT_K_FP8 : CT_K_FP4;
	const int32_t *z = p->zp ? p->zp + base : NULL;
	if (p->g_idx && !p->has_gs) {
		/* activation order: gather the scale (and zero point) of each
		 * column's group, then dequantize column by column */
		for (uint64_t j = 0; j < p->cols; j++) {
			p->g_scale[j] = p->scale[base + (uint64_t)p->g_idx[j]];
			if (z)
				p->g_zp[j] = z[p->g_idx[j]];
		}
		ct_k_dequant(p->simd, code, ct_dequant_dtype(p), out_dt, q, (size_t)p->cols, 1,
			     p->g_scale, z ? p->g_zp : NULL, out);
		return;
	}
	if (!p->has_gs) {
		ct_k_dequant(p->simd, code, ct_dequant_dtype(p), out_dt, q, (size_t)p->cols,
			     (size_t)p->cell_cols, p->scale + base, z, out);
		return;
	}
	/* NVFP4: v * (s / gs) in f32, then BF16 */
	float eff[64];
	size_t osz = ct_dtype_size(out_dt);
	for (uint64_t j0 = 0; j0 < p->scols; j0 += 64) {
		uint64_t m = p->scols - j0 < 64 ? p->scols - j0 : 64;
		for (uint64_t j = 0; j < m; j++)
			eff[j] = p->scale[base + j0 + j] / p->gs;
		uint64_t c0 = j0 * p->cell_cols;
		uint64_t c1 = (j0 + m) * p->cell_cols < p->cols ? (j0 + m) * p->cell_cols : p->cols;
		ct_k_dequant(p->simd, code, ct_dequant_dtype(p), out_dt, q + c0, (size_t)(c1 - c0),
			     (size_t)p->cell_cols, eff, z ? z + j0 : NULL,
			     (uint8_t *)out + c0 * osz);
	}
}
