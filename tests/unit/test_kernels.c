/*
 * test_kernels.c - the vector variants of the quantization kernels agree bit
 * for bit with the portable ones, on random and on edge-case inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "kernels.h"

#define N 4099 /* not a multiple of any vector width */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* Random finite values of many magnitudes, with signed zeros, subnormals
 * and exact ties mixed in, rounded to dtype wd. */
static void fill(float *x, size_t n, ct_dtype wd)
{
	for (size_t i = 0; i < n; i++) {
		float v;
		switch (next() % 8) {
		case 0: v = 0.0f; break;
		case 1: v = -0.0f; break;
		case 2: v = ldexpf((float)(next() % 64) - 32, -140); break;
		case 3: v = (float)((int)(next() % 33) - 16) * 0.25f; break;
		default: v = ldexpf((float)(next() % 2000000) / 1e6f - 1.0f, (int)(next() % 20) - 10);
		}
		x[i] = ct_round_to(wd, v);
	}
}

static void skip_without_simd(void)
{
	if (!ct_k_have_simd())
		skip();
}

static void test_quant_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static float x[N];
	static int32_t a[N], b[N];
	static const ct_dtype wds[] = { CT_BF16, CT_F16, CT_F32 };
	static const struct { ct_kernel_code code; float lo, hi; } codes[] = {
		{ CT_K_INT, -8, 7 }, { CT_K_INT, -128, 127 }, { CT_K_INT, -2, 1 },
		{ CT_K_FP8, -448, 448 }, { CT_K_FP4, -6, 6 },
	};
	float s[N / 16 + 1];
	int32_t z[N / 16 + 1];
	for (size_t w = 0; w < 3; w++) {
		for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
			for (int round = 0; round < 4; round++) {
				fill(x, N, wds[w]);
				size_t cell = round == 0 ? 16 : round == 1 ? 32 : round == 2 ? 128 : N;
				for (size_t j = 0; j <= N / 16; j++) {
					s[j] = ct_round_to(wds[w], ldexpf(1.0f + (float)(next() % 100) / 64,
									  (int)(next() % 8) - 6));
					z[j] = codes[c].code == CT_K_INT ? (int32_t)(next() % 5) - 2 : 0;
				}
				const int32_t *zp = round % 2 ? z : NULL;
				ct_k_quant(false, codes[c].code, wds[w], x, N, cell, s, zp, codes[c].lo,
					   codes[c].hi, a);
				ct_k_quant(true, codes[c].code, wds[w], x, N, cell, s, zp, codes[c].lo,
					   codes[c].hi, b);
				assert_memory_equal(a, b, sizeof(a));
			}
		}
	}
}

static void test_quant_is_exact(void **state)
{
	/* the portable kernel itself: 2.5 -> 2, -7.5 clamps to -8, 7.5 to 7,
	 * -0.0 becomes +0 code, e4m3 of 17 ties to 16 */
	(void)state;
	float x[6] = { 2.5f, -7.5f, 7.5f, -0.0f, 0.74f, -0.1f };
	float s[1] = { 1.0f };
	int32_t q[6];
	ct_k_quant(false, CT_K_INT, CT_BF16, x, 6, 6, s, NULL, -8, 7, q);
	assert_int_equal(q[0], 2);
	assert_int_equal(q[1], -8);
	assert_int_equal(q[2], 7);
	assert_int_equal(q[3], 0);
	float y[2] = { 17.0f, -0.0f };
	ct_k_quant(false, CT_K_FP8, CT_F32, y, 2, 2, s, NULL, -448, 448, q);
	assert_int_equal(q[0], 0x58);
	assert_int_equal(q[1], 0x00);
	ct_k_quant(false, CT_K_FP4, CT_F32, x, 6, 6, s, NULL, -6, 6, q);
	assert_int_equal(q[0], 4);        /* 2.5 -> 2 (index 4) */
	assert_int_equal(q[3], 0);        /* -0.0 -> +0 */
	assert_int_equal(q[4], 1);        /* 0.74 -> 0.5 */
	assert_int_equal(q[5], 8);        /* -0.1 -> -0 */
}

static void test_minmax_and_load_agree(void **state)
{
	(void)state;
	skip_without_simd();
	static float x[N], lo1[N], hi1[N], lo2[N], hi2[N];
	fill(x, N, CT_F32);
	for (size_t cell = 1; cell < 300; cell += 37) {
		memset(lo1, 0, sizeof(lo1));
		memset(hi1, 0, sizeof(hi1));
		memset(lo2, 0, sizeof(lo2));
		memset(hi2, 0, sizeof(hi2));
		ct_k_minmax(false, x, N, cell, lo1, hi1);
		ct_k_minmax(true, x, N, cell, lo2, hi2);
		assert_memory_equal(lo1, lo2, sizeof(lo1));
		assert_memory_equal(hi1, hi2, sizeof(hi1));
	}
	static uint16_t h[N];
	static float a[N], b[N];
	for (size_t i = 0; i < N; i++)
		h[i] = (uint16_t)next();
	for (int k = 0; k < 2; k++) {
		ct_dtype dt = k ? CT_F16 : CT_BF16;
		ct_k_load(false, dt, h, a, N);
		ct_k_load(true, dt, h, b, N);
		assert_memory_equal(a, b, sizeof(a));
		assert_int_equal(ct_k_all_finite(false, a, N), ct_k_all_finite(true, a, N));
	}
}

/* Stores x (already on wd's grid) as n elements of dtype wd. */
static void store_raw(ct_dtype wd, const float *x, size_t n, void *out)
{
	for (size_t i = 0; i < n; i++)
		ct_store_f32(wd, out, i, x[i]);
}

static void test_minmax_raw_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static float x[N], lo1[N], hi1[N], lo2[N], hi2[N];
	static uint8_t raw[N * 4];
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	static const size_t cells[] = { 16, 32, 128, 48, 8, 7, N, 24, 12, 40 };
	for (size_t d = 0; d < 3; d++) {
		for (size_t c = 0; c < sizeof(cells) / sizeof(cells[0]); c++) {
			fill(x, N, dts[d]);
			/* a non-finite value in some rounds, anywhere */
			if (c % 2)
				x[next() % N] = c % 4 == 1 ? NAN : -INFINITY;
			store_raw(dts[d], x, N, raw);
			memset(lo1, 0, sizeof(lo1));
			memset(hi1, 0, sizeof(hi1));
			memset(lo2, 0, sizeof(lo2));
			memset(hi2, 0, sizeof(hi2));
			bool f1 = ct_k_minmax_raw(false, dts[d], raw, N, cells[c], lo1, hi1);
			bool f2 = ct_k_minmax_raw(true, dts[d], raw, N, cells[c], lo2, hi2);
			assert_int_equal(f1, f2);
			assert_int_equal(f1, c % 2 == 0);
			assert_memory_equal(lo1, lo2, sizeof(lo1));
			assert_memory_equal(hi1, hi2, sizeof(hi1));
			/* and the same as widening first */
			float *w = malloc(N * sizeof(float));
			assert_non_null(w);
			ct_k_load(false, dts[d], raw, w, N);
			memset(lo2, 0, sizeof(lo2));
			memset(hi2, 0, sizeof(hi2));
			ct_k_minmax(false, w, N, cells[c], lo2, hi2);
			free(w);
			assert_memory_equal(lo1, lo2, sizeof(lo1));
			assert_memory_equal(hi1, hi2, sizeof(hi1));
		}
	}
}

static void test_absmax_raw_agrees(void **state)
{
	/* the absmax from the bits: the same in both paths, and the same as
	 * max(-min, max) of the min/max kernel, on random rows (with a NaN or an
	 * infinity in some rounds), on cells of zeros of either sign, and on
	 * every BF16 and F16 bit pattern */
	(void)state;
	skip_without_simd();
	static float x[N], a1[N], a2[N], lo[N], hi[N];
	static uint8_t raw[N * 4];
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	static const size_t cells[] = { 16, 32, 128, 48, 8, 7, N, 24, 12, 40, 4, 64 };
	for (size_t d = 0; d < 3; d++) {
		for (size_t c = 0; c < sizeof(cells) / sizeof(cells[0]); c++) {
			for (int round = 0; round < 4; round++) {
				fill(x, N, dts[d]);
				if (round == 1)
					x[next() % N] = NAN;
				if (round == 2)
					x[next() % N] = c % 2 ? INFINITY : -INFINITY;
				if (round == 3)
					for (size_t i = 0; i < N; i++)
						x[i] = next() % 2 ? -0.0f : 0.0f;
				store_raw(dts[d], x, N, raw);
				for (size_t j = 0; j < N; j++)
					a1[j] = a2[j] = j % 3 ? 0.0f : 0.25f; /* entry values kept */
				bool f1 = ct_k_absmax_raw(false, dts[d], raw, N, cells[c], a1);
				bool f2 = ct_k_absmax_raw(true, dts[d], raw, N, cells[c], a2);
				assert_int_equal(f1, f2);
				assert_int_equal(f1, round != 1 && round != 2);
				assert_memory_equal(a1, a2, sizeof(a1));
				memset(lo, 0, sizeof(lo));
				memset(hi, 0, sizeof(hi));
				ct_k_minmax_raw(false, dts[d], raw, N, cells[c], lo, hi);
				/* an infinity is taken by both; a cell with a NaN keeps
				 * its entry value (the min/max kernel skips the NaN) */
				for (size_t j = 0; round != 1 && j * cells[c] < N; j++) {
					float want = fmaxf(-lo[j], hi[j]);
					if (j % 3 == 0)
						want = fmaxf(want, 0.25f);
					assert_true(a1[j] == want);
				}
			}
		}
	}
	enum { P = 65536 };
	static uint16_t pat[P];
	static float p1[P / 8], p2[P / 8];
	for (uint32_t i = 0; i < P; i++)
		pat[i] = (uint16_t)(i * 40503u);
	for (size_t d = 0; d < 2; d++) {
		for (size_t cell = 8; cell <= 32; cell += 8) {
			memset(p1, 0, sizeof(p1));
			memset(p2, 0, sizeof(p2));
			assert_false(ct_k_absmax_raw(false, dts[d], pat, P, cell, p1));
			assert_false(ct_k_absmax_raw(true, dts[d], pat, P, cell, p2));
			assert_memory_equal(p1, p2, sizeof(p1));
		}
	}
}

/* v (on dt's grid) moved k steps of dt's grid up (k > 0) or down: the
 * magnitude's bit pattern as a signed integer, moved, and back. */
static float grid_step(ct_dtype dt, float v, int k)
{
	int64_t m;
	if (dt == CT_F32) {
		uint32_t u;
		memcpy(&u, &v, 4);
		m = u >> 31 ? -(int64_t)(u & 0x7FFFFFFF) : (int64_t)u;
	} else {
		uint16_t h = dt == CT_BF16 ? ct_f32_to_bf16(v) : ct_f32_to_f16(v);
		m = h >> 15 ? -(int64_t)(h & 0x7FFF) : (int64_t)h;
	}
	m += k;
	uint64_t mag = (uint64_t)(m < 0 ? -m : m);
	if (dt == CT_F32) {
		uint32_t u = (uint32_t)mag | (m < 0 ? 0x80000000u : 0);
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	uint16_t h = (uint16_t)(mag | (m < 0 ? 0x8000u : 0));
	return dt == CT_BF16 ? ct_bf16_to_f32(h) : ct_f16_to_f32(h);
}

static void test_fp4_codes_at_every_threshold(void **state)
{
	/* E2M1 codes of the values at, just below and just above every point
	 * and midpoint of the grid, both signs, zeros, and past the bounds:
	 * both paths (the vector one rounds on the bits) give the same codes,
	 * in F32 and from BF16 and F16 rows */
	(void)state;
	skip_without_simd();
	static const float pts[] = { 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f,
				     2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 5.0f, 6.0f, 7.0f, 1e-40f };
	enum { M = 17 * 2 * 7 * 2 + 6 };
	static const ct_dtype dts[] = { CT_F32, CT_BF16, CT_F16 };
	float x[M], s[M];
	uint8_t raw[M * 4];
	int32_t a[M], b[M];
	for (size_t d = 0; d < 3; d++) {
		size_t n = 0;
		for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
			for (int sign = 0; sign < 2; sign++)
				for (int k = -3; k <= 3; k++) {
					float v = grid_step(dts[d], ct_round_to(dts[d], sign ? -pts[i] : pts[i]), k);
					x[n++] = v;
					x[n++] = ct_round_to(dts[d], v * 0.5f); /* halves land on points too */
				}
		while (n < M)
			x[n++] = -0.0f;
		for (size_t j = 0; j < M; j++)
			s[j] = 1.0f;
		store_raw(dts[d], x, M, raw);
		bool f1 = ct_k_quant_raw(false, CT_K_FP4, CT_F32, dts[d], raw, M, 8, s, NULL, -6, 6, a);
		bool f2 = ct_k_quant_raw(true, CT_K_FP4, CT_F32, dts[d], raw, M, 8, s, NULL, -6, 6, b);
		assert_true(f1 && f2);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void test_quant_raw_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static float x[N];
	static uint8_t raw[N * 4];
	static int32_t a[N], b[N], c0[N];
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	static const struct { ct_kernel_code code; float lo, hi; } codes[] = {
		{ CT_K_INT, -8, 7 }, { CT_K_INT, -128, 127 }, { CT_K_FP8, -448, 448 },
		{ CT_K_FP4, -6, 6 },
	};
	float s[N / 8 + 1];
	int32_t z[N / 8 + 1];
	for (size_t d = 0; d < 3; d++) {
		for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
			for (int round = 0; round < 7; round++) {
				fill(x, N, dts[d]);
				store_raw(dts[d], x, N, raw);
				/* 24: a multiple of 8, not of 16; 12: not of 8 (portable) */
				static const size_t cells[] = { 16, 32, 128, 8, N, 24, 12 };
				size_t cell = cells[round];
				/* the arithmetic dtype: the weight's, or F32 (NVFP4) */
				ct_dtype wd = round >= 4 ? CT_F32 : dts[d];
				for (size_t j = 0; j <= N / 8; j++) {
					s[j] = ct_round_to(wd, ldexpf(1.0f + (float)(next() % 100) / 64,
								      (int)(next() % 8) - 6));
					z[j] = codes[c].code == CT_K_INT ? (int32_t)(next() % 5) - 2 : 0;
				}
				const int32_t *zp = round % 2 ? z : NULL;
				bool f1 = ct_k_quant_raw(false, codes[c].code, wd, dts[d], raw, N, cell,
							 s, zp, codes[c].lo, codes[c].hi, a);
				bool f2 = ct_k_quant_raw(true, codes[c].code, wd, dts[d], raw, N, cell,
							 s, zp, codes[c].lo, codes[c].hi, b);
				assert_true(f1 && f2);
				assert_memory_equal(a, b, sizeof(a));
				/* the same codes as widening first */
				ct_k_quant(false, codes[c].code, wd, x, N, cell, s, zp, codes[c].lo,
					   codes[c].hi, c0);
				assert_memory_equal(a, c0, sizeof(a));
			}
		}
	}
	/* non-finite values are reported by both */
	fill(x, N, CT_BF16);
	x[N - 3] = INFINITY;
	store_raw(CT_BF16, x, N, raw);
	assert_false(ct_k_quant_raw(false, CT_K_INT, CT_BF16, CT_BF16, raw, N, 128, s, NULL, -8, 7, a));
	assert_false(ct_k_quant_raw(true, CT_K_INT, CT_BF16, CT_BF16, raw, N, 128, s, NULL, -8, 7, b));
	x[N - 3] = 1.0f;
	x[5] = NAN;
	store_raw(CT_BF16, x, N, raw);
	assert_false(ct_k_quant_raw(true, CT_K_FP4, CT_F32, CT_BF16, raw, N, 16, s, NULL, -6, 6, b));
}

static void test_simd_where_expected(void **state)
{
	/* the agreement tests skip without a vector variant: make sure the
	 * builds that have one say so, or they would test nothing */
	(void)state;
#if defined(__aarch64__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	assert_true(ct_k_have_simd());
#else
	skip();
#endif
}

static void test_nonfinite_in_every_lane(void **state)
{
	/* one NaN or infinity at each position of the first vector steps, of a
	 * later cell and of the portable tail: both paths refuse the row, agree
	 * on the min/max (an infinity is taken, NaN is not) and on the codes */
	(void)state;
	skip_without_simd();
	enum { M = 8 * 9 + 5 };
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	static const float bad[] = { NAN, INFINITY, -INFINITY };
	float x[M], s[M], lo1[M], hi1[M], lo2[M], hi2[M];
	uint8_t raw[M * 4];
	int32_t a[M], b[M];
	for (size_t j = 0; j < M; j++)
		s[j] = 0.5f;
	for (size_t d = 0; d < 3; d++) {
		for (size_t cell = 8; cell <= 24; cell += 16) {
			for (size_t pos = 0; pos <= M; pos++) {
				for (size_t k = 0; k < 3; k++) {
					fill(x, M, dts[d]);
					if (pos < M)
						x[pos] = bad[k];
					store_raw(dts[d], x, M, raw);
					memset(lo1, 0, sizeof(lo1));
					memset(hi1, 0, sizeof(hi1));
					memset(lo2, 0, sizeof(lo2));
					memset(hi2, 0, sizeof(hi2));
					bool f1 = ct_k_minmax_raw(false, dts[d], raw, M, cell, lo1, hi1);
					bool f2 = ct_k_minmax_raw(true, dts[d], raw, M, cell, lo2, hi2);
					assert_int_equal(f1, pos == M);
					assert_int_equal(f2, pos == M);
					assert_memory_equal(lo1, lo2, sizeof(lo1));
					assert_memory_equal(hi1, hi2, sizeof(hi1));
					for (int code = 0; code < 3; code++) {
						f1 = ct_k_quant_raw(false, (ct_kernel_code)code, dts[d], dts[d], raw,
								    M, cell, s, NULL, -8, 7, a);
						f2 = ct_k_quant_raw(true, (ct_kernel_code)code, dts[d], dts[d], raw,
								    M, cell, s, NULL, -8, 7, b);
						assert_int_equal(f1, pos == M);
						assert_int_equal(f2, pos == M);
						assert_memory_equal(a, b, sizeof(a));
					}
				}
				if (pos == M)
					break;
			}
		}
	}
}

static void test_minmax_raw_zeros_and_patterns(void **state)
{
	/* the sign-of-zero contract: cells of +0, -0 and subnormals only, under
	 * starting bounds of either zero (and small nonzero ones); then every
	 * BF16 and F16 bit pattern (subnormals, NaN, infinities) in cells of 8
	 * and 24 */
	(void)state;
	skip_without_simd();
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	static const float starts[][2] = { { 0.0f, 0.0f }, { -0.0f, -0.0f }, { -0.0f, 0.0f },
					   { 0.0f, -0.0f }, { -0x1p-130f, 0x1p-130f } };
	enum { M = 8 * 12 + 3 };
	float x[M], lo1[M / 8 + 1], hi1[M / 8 + 1], lo2[M / 8 + 1], hi2[M / 8 + 1];
	uint8_t raw[M * 4];
	for (size_t d = 0; d < 3; d++) {
		float tiny = dts[d] == CT_F16 ? 0x1p-24f : 0x1p-133f;
		for (int round = 0; round < 40; round++) {
			for (size_t i = 0; i < M; i++) {
				uint32_t r = next() % 6;
				x[i] = r == 0 ? 0.0f : r == 1 || r > 3 ? -0.0f : r == 2 ? tiny : -tiny;
				if (round < 10)
					x[i] = r % 2 ? -0.0f : 0.0f; /* zeros alone */
			}
			store_raw(dts[d], x, M, raw);
			for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
				for (size_t cell = 8; cell <= 16; cell += 8) {
					for (size_t j = 0; j <= M / 8; j++) {
						lo1[j] = lo2[j] = starts[k][0];
						hi1[j] = hi2[j] = starts[k][1];
					}
					assert_true(ct_k_minmax_raw(false, dts[d], raw, M, cell, lo1, hi1));
					assert_true(ct_k_minmax_raw(true, dts[d], raw, M, cell, lo2, hi2));
					assert_memory_equal(lo1, lo2, sizeof(lo1));
					assert_memory_equal(hi1, hi2, sizeof(hi1));
				}
			}
		}
	}
	enum { P = 65536 };
	static uint16_t pat[P];
	static float plo1[P / 8], phi1[P / 8], plo2[P / 8], phi2[P / 8];
	for (uint32_t i = 0; i < P; i++)
		pat[i] = (uint16_t)(i * 40503u); /* a permutation of the patterns */
	for (size_t d = 0; d < 2; d++) {
		for (size_t cell = 8; cell <= 24; cell += 16) {
			memset(plo1, 0, sizeof(plo1));
			memset(phi1, 0, sizeof(phi1));
			memset(plo2, 0, sizeof(plo2));
			memset(phi2, 0, sizeof(phi2));
			bool f1 = ct_k_minmax_raw(false, dts[d], pat, P, cell, plo1, phi1);
			bool f2 = ct_k_minmax_raw(true, dts[d], pat, P, cell, plo2, phi2);
			assert_false(f1);
			assert_false(f2);
			assert_memory_equal(plo1, plo2, sizeof(plo1));
			assert_memory_equal(phi1, phi2, sizeof(phi1));
		}
	}
}

static void test_pack4_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static int32_t q[N];
	static uint8_t a[N / 2 + 2], b[N / 2 + 2];
	static uint32_t w1[N / 8 + 2], w2[N / 8 + 2];
	for (size_t n = N - 40; n <= N; n++) {
		for (size_t i = 0; i < n; i++)
			q[i] = (int32_t)(next() % 16) - 8;
		memset(a, 0xAA, sizeof(a));
		memset(b, 0xAA, sizeof(b));
		ct_k_pack4(false, q, n, 8, a);
		ct_k_pack4(true, q, n, 8, b);
		assert_memory_equal(a, b, sizeof(a));
		memset(w1, 0x55, sizeof(w1));
		memset(w2, 0x55, sizeof(w2));
		ct_k_pack(false, q, n, 8, 4, w1);
		ct_k_pack(true, q, n, 8, 4, w2);
		assert_memory_equal(w1, w2, sizeof(w1));
	}
}

static void test_pack_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static int32_t q[N];
	static uint32_t a[N], b[N];
	for (unsigned bits = 1; bits <= 8; bits *= 2) {
		int32_t off = 1 << (bits - 1);
		for (size_t i = 0; i < N; i++)
			q[i] = (int32_t)(next() % (1u << bits)) - off;
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		ct_k_pack(false, q, N, off, bits, a);
		ct_k_pack(true, q, N, off, bits, b);
		assert_memory_equal(a, b, sizeof(a));
		/* and back, both ways */
		static int32_t u1[N], u2[N];
		ct_k_unpack(false, (const uint8_t *)a, N, off, bits, u1);
		ct_k_unpack(true, (const uint8_t *)a, N, off, bits, u2);
		assert_memory_equal(u1, q, sizeof(q));
		assert_memory_equal(u2, q, sizeof(q));
	}
	/* layout: first code in the lowest bits (FORMAT.md §3.5 example) */
	int32_t row[8] = { 2, -6, 1, 7, -3, 0, 5, -8 };
	uint32_t w;
	ct_k_pack(false, row, 8, 8, 4, &w);
	assert_int_equal(w, 0x0D85F92A);
}

static void test_dequant_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static int32_t q[N], z[N / 16 + 1];
	static float s[N / 16 + 1];
	static uint8_t a[N * 4], b[N * 4];
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	for (int code = 0; code < 3; code++) {
		for (size_t i = 0; i < N; i++)
			q[i] = code == 0 ? (int32_t)(next() % 256) - 128 :
			       code == 1 ? (int32_t)(next() % 256) : (int32_t)(next() % 16);
		for (size_t j = 0; j <= N / 16; j++) {
			s[j] = ldexpf(1.0f + (float)(next() % 100) / 64, (int)(next() % 16) - 8);
			z[j] = (int32_t)(next() % 9) - 4;
		}
		for (size_t sd = 0; sd < 3; sd++) {
			for (size_t od = 0; od < 3; od++) {
				ct_k_dequant(false, (ct_kernel_code)code, dts[sd], dts[od], q, N, 16, s,
					     code == 0 ? z : NULL, a);
				ct_k_dequant(true, (ct_kernel_code)code, dts[sd], dts[od], q, N, 16, s,
					     code == 0 ? z : NULL, b);
				assert_memory_equal(a, b, N * ct_dtype_size(dts[od]));
			}
		}
	}
	/* the library's int dequantization: (q - z) * s rounded to the scale dtype */
	int32_t one[2] = { 7, -8 };
	float sc[1] = { 0.0400390625f };
	uint16_t out[2];
	ct_k_dequant(false, CT_K_INT, CT_BF16, CT_BF16, one, 2, 2, sc, NULL, out);
	assert_int_equal(out[0], ct_f32_to_bf16(0.28125f));
	assert_int_equal(out[1], ct_f32_to_bf16(-0.3203125f));
}

static float e2m1_value(int32_t q)
{
	static const float mag[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };
	return (q & 8) ? -mag[q & 7] : mag[q & 7];
}

static void test_dequant_extremes(void **state)
{
	/* every e4m3 code (both NaNs, subnormals), every E2M1 code and int codes
	 * with zero points, under scales whose products overflow F16, BF16 and
	 * F32, land in the F16 or F32 subnormals or tie in F16 or BF16: the
	 * vector and portable paths, and the library's formula (product,
	 * rounded to the scale dtype, stored) */
	(void)state;
	skip_without_simd();
	enum { M = 256 * 8 + 5 };
	static int32_t q[M], z[M];
	static float s[M];
	static uint8_t a[M * 4], b[M * 4];
	static const float scales[] = { 1.0f, 0x1p120f, 0x1p-140f, 3.0e38f, 0.0123291015625f,
					1.00390625f, 0x1.00fffep-3f, 0x1p-20f, 0x1p-26f,
					1.00048828125f, 0x1.ffcp12f, 0x1.0p9f, 0x1.8p-17f };
	static const ct_dtype dts[] = { CT_BF16, CT_F32, CT_F16 };
	for (int code = 0; code < 3; code++) {
		for (size_t k = 0; k < sizeof(scales) / sizeof(scales[0]); k++) {
			for (size_t i = 0; i < M; i++) {
				q[i] = code == 1 ? (int32_t)(i % 256) :
				       code == 2 ? (int32_t)(i % 16) : (int32_t)(i % 256) - 128;
				z[i] = (int32_t)(i % 7) - 3;
				s[i] = scales[k] * (float)(1 + i % 3);
			}
			static const size_t cells[] = { 8, 128, 24 };
			for (size_t d = 0; d < 3; d++) {
				for (size_t c = 0; c < 3; c++) {
					const int32_t *zp = code ? NULL : z;
					ct_k_dequant(false, (ct_kernel_code)code, dts[d], dts[d], q, M,
						     cells[c], s, zp, a);
					ct_k_dequant(true, (ct_kernel_code)code, dts[d], dts[d], q, M,
						     cells[c], s, zp, b);
					assert_memory_equal(a, b, M * ct_dtype_size(dts[d]));
					for (size_t i = 0; i < M; i++) {
						size_t j = i / cells[c];
						float v = code == 1 ? ct_e4m3_to_f32((uint8_t)q[i]) * s[j] :
							  code == 2 ? e2m1_value(q[i]) * s[j] :
							  ((float)q[i] - (float)zp[j]) * s[j];
						if (dts[d] == CT_F32) {
							float got;
							memcpy(&got, a + 4 * i, 4);
							assert_memory_equal(&got, &v, 4);
						} else if (dts[d] == CT_BF16) {
							uint16_t got;
							memcpy(&got, a + 2 * i, 2);
							assert_int_equal(got, ct_f32_to_bf16(v));
						} else if (!isnan(v)) {
							/* (an e4m3 NaN comes out of the F16 rounding as
							 * infinity, which is the portable code's, so
							 * only the agreement above holds for it) */
							uint16_t got;
							memcpy(&got, a + 2 * i, 2);
							assert_int_equal(got, ct_f32_to_f16(v));
						}
					}
				}
			}
		}
	}
}

static void test_unpack_tails_agree(void **state)
{
	/* 4- and 8-bit codes of every row length around the vector widths, from
	 * words with every bit pattern */
	(void)state;
	skip_without_simd();
	static uint32_t w[64];
	static int32_t a[256], b[256];
	for (int bits = 4; bits <= 8; bits += 4) {
		for (size_t n = 1; n <= 200; n++) {
			for (size_t i = 0; i < 64; i++)
				w[i] = next() << 16 ^ next();
			ct_k_unpack(false, (const uint8_t *)w, n, 1 << (bits - 1), (unsigned)bits, a);
			ct_k_unpack(true, (const uint8_t *)w, n, 1 << (bits - 1), (unsigned)bits, b);
			assert_memory_equal(a, b, n * sizeof(int32_t));
		}
	}
}

static void test_e4m3_kernel_matches_converter(void **state)
{
	/* every float bit pattern of magnitude up to 448 (stepping through the
	 * mantissa), both signs: the kernel's branchless encoder equals the
	 * reference converter */
	(void)state;
	static float x[4096];
	static int32_t q[4096];
	float s[1] = { 1.0f };
	uint32_t top = 0x43E00000; /* 448 */
	for (uint32_t base = 0; base <= top; base += 4096u * 97u) {
		size_t n = 0;
		for (uint32_t k = 0; k < 4096 && base + k * 97u <= top; k++) {
			uint32_t u = base + k * 97u;
			float v;
			memcpy(&v, &u, 4);
			x[n++] = (k & 1) ? -v : v;
		}
		ct_k_quant(false, CT_K_FP8, CT_F32, x, n, n, s, NULL, -448, 448, q);
		for (size_t i = 0; i < n; i++) {
			float t = x[i] + 0.0f;
			assert_int_equal(q[i], ct_f32_to_e4m3(t));
		}
	}
}

/* The e4m3 code the library computes for x under scale s with arithmetic
 * in wd: x / s and + 0 (the zero point) each rounded to wd, clamped to
 * +-448 (NaN to -448), then the reference converter. */
static int32_t e4m3_reference(ct_dtype wd, float x, float s)
{
	float t = ct_round_to(wd, ct_round_to(wd, x / s) + 0.0f);
	t = t > 448.0f ? 448.0f : t >= -448.0f ? t : -448.0f;
	return ct_f32_to_e4m3(t);
}

static void test_e4m3_raw_exhaustive(void **state)
{
	/* every BF16 and F16 bit pattern (NaN, infinities, subnormals, zeros) under
	 * scales that saturate, keep normals, push into the subnormals and sit
	 * between: both paths give the reference codes, and say the same about
	 * finiteness; cells of 8, 128 (FP8_BLOCK) and a whole odd row */
	(void)state;
	skip_without_simd();
	enum { M = 65536 };
	static uint16_t raw[M];
	static int32_t a[M], b[M];
	static float s[M / 8];
	static const float scales[] = { 1.0f, 0x1p-12f, 0x1p20f, 0.0123291015625f,
					3.0517578125e-05f, 0.99609375f, 1.5e-38f };
	for (uint32_t i = 0; i < M; i++)
		raw[i] = (uint16_t)i;
	for (size_t k = 0; k < 2 * sizeof(scales) / sizeof(scales[0]); k++) {
		ct_dtype dt = k % 2 ? CT_F16 : CT_BF16;
		for (int w = 0; w < 2; w++) {
			ct_dtype wd = w ? CT_F32 : dt;
			float sk = ct_round_to(wd, scales[k / 2]);
			if (!(sk > 0.0f) || isinf(sk))
				continue; /* not a scale in F16: the library refuses it */
			for (size_t j = 0; j < M / 8; j++)
				s[j] = sk;
			static const size_t cells[] = { 8, 128, M - 5 };
			for (size_t c = 0; c < 3; c++) {
				size_t n = c == 2 ? M - 5 : M;
				bool f1 = ct_k_quant_raw(false, CT_K_FP8, wd, dt, raw, n, cells[c],
							 s, NULL, -448, 448, a);
				bool f2 = ct_k_quant_raw(true, CT_K_FP8, wd, dt, raw, n, cells[c],
							 s, NULL, -448, 448, b);
				assert_false(f1);
				assert_false(f2);
				assert_memory_equal(a, b, n * sizeof(int32_t));
				/* the codes of non-finite weights are unspecified (the
				 * call refuses them), only equal between the paths */
				for (size_t i = 0; i < n; i++)
					if (isfinite(ct_load_f32(dt, raw, i)))
						assert_int_equal(a[i], e4m3_reference(wd, ct_load_f32(dt, raw, i), sk));
				/* and the int codes of the same inputs (W8A8, W4A16 on F16) */
				ct_k_quant_raw(false, CT_K_INT, wd, dt, raw, n, cells[c], s, NULL,
					       c ? -8 : -128, c ? 7 : 127, a);
				ct_k_quant_raw(true, CT_K_INT, wd, dt, raw, n, cells[c], s, NULL,
					       c ? -8 : -128, c ? 7 : 127, b);
				assert_memory_equal(a, b, n * sizeof(int32_t));
				/* and the E2M1 codes (NVFP4 in F32, MXFP4 in the weight's dtype) */
				ct_k_quant_raw(false, CT_K_FP4, wd, dt, raw, n, cells[c], s, NULL,
					       -6, 6, a);
				ct_k_quant_raw(true, CT_K_FP4, wd, dt, raw, n, cells[c], s, NULL,
					       -6, 6, b);
				assert_memory_equal(a, b, n * sizeof(int32_t));
			}
		}
	}
	/* wide int codes with large zero points: t + z lands on F16 and BF16
	 * ties, and |t + z| >= 1024 makes the rounded sum the code itself, so
	 * the vector rounding (ties to even, overflow) shows in the codes */
	static int32_t zz[M / 8];
	for (int d = 0; d < 2; d++) {
		ct_dtype dt = d ? CT_F16 : CT_BF16;
		for (size_t j = 0; j < M / 8; j++) {
			s[j] = j % 3 ? 1.0f : 0.5f;
			zz[j] = (int32_t)(next() % 16384) - 8192;
		}
		ct_k_quant_raw(false, CT_K_INT, dt, dt, raw, M, 8, s, zz, -2097152, 2097151, a);
		ct_k_quant_raw(true, CT_K_INT, dt, dt, raw, M, 8, s, zz, -2097152, 2097151, b);
		assert_memory_equal(a, b, sizeof(a));
	}
	/* random F32 bit patterns, F32 arithmetic, per-cell scales */
	static uint32_t f[M];
	for (int round = 0; round < 8; round++) {
		for (size_t i = 0; i < M; i++)
			f[i] = (uint32_t)next() << 16 ^ (uint32_t)next();
		for (size_t j = 0; j < M / 8; j++)
			s[j] = ldexpf(1.0f + (float)(next() % 1000) / 1000, (int)(next() % 60) - 30);
		size_t cell = round % 2 ? 8 : 64;
		bool f1 = ct_k_quant_raw(false, CT_K_FP8, CT_F32, CT_F32, f, M, cell, s, NULL,
					 -448, 448, a);
		bool f2 = ct_k_quant_raw(true, CT_K_FP8, CT_F32, CT_F32, f, M, cell, s, NULL,
					 -448, 448, b);
		assert_int_equal(f1, f2);
		assert_memory_equal(a, b, sizeof(a));
		for (size_t i = 0; i < M; i++) {
			float x;
			memcpy(&x, &f[i], 4);
			assert_int_equal(a[i], e4m3_reference(CT_F32, x, s[i / cell]));
		}
		ct_k_quant_raw(false, round % 4 < 2 ? CT_K_INT : CT_K_FP4, CT_F32, CT_F32, f, M, cell,
			       s, NULL, round % 4 < 2 ? -8 : -6, round % 4 < 2 ? 7 : 6, a);
		ct_k_quant_raw(true, round % 4 < 2 ? CT_K_INT : CT_K_FP4, CT_F32, CT_F32, f, M, cell,
			       s, NULL, round % 4 < 2 ? -8 : -6, round % 4 < 2 ? 7 : 6, b);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void test_narrow8_agrees(void **state)
{
	(void)state;
	skip_without_simd();
	static int32_t q[N];
	static uint8_t a[N], b[N];
	for (size_t n = N - 40; n <= N; n++) {
		for (size_t i = 0; i < n; i++)
			q[i] = n % 2 ? (int32_t)(next() % 256) : (int32_t)(next() % 256) - 128;
		memset(a, 0xAA, sizeof(a));
		memset(b, 0x55, sizeof(b));
		ct_k_narrow8(false, q, n, a);
		ct_k_narrow8(true, q, n, b);
		assert_memory_equal(a, b, n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(a[i], (uint8_t)q[i]);
	}
}

/* Scale bytes as float8_e4m3fn: the vector variant against the portable
 * converter over every 2^11th float bit pattern (both signs, zeros,
 * subnormals, the region around 448 and 464 where codes saturate to NaN,
 * infinities and NaN), in runs of every length modulo 32 for the tails. */
static void test_e4m3_bytes_agree(void **state)
{
	(void)state;
	skip_without_simd();
	enum { RUN = 4096 + 31 };
	static float x[RUN];
	static uint8_t a[RUN], b[RUN];
	static const float edges[] = { 0.0f, -0.0f, 448.0f, -448.0f, 463.99f, 464.0f, -464.0f,
				       0x1p-9f, 0x1p-10f, 0x1.8p-10f, 0x1p-6f, 0x1.fp-7f, 240.0f };
	uint32_t bits = 0;
	size_t len = 1;
	for (bool done = false; !done; len = len % 63 + 1) {
		size_t n = RUN - 64 + len;
		for (size_t i = 0; i < n; i++) {
			if (i < sizeof(edges) / sizeof(edges[0]) && len % 3 == 0) {
				x[i] = edges[i];
				continue;
			}
			memcpy(&x[i], &bits, sizeof(bits));
			bits += 1u << 11;
			done |= bits == 0;
		}
		memset(a, 0xAA, sizeof(a));
		memset(b, 0x55, sizeof(b));
		ct_k_e4m3_bytes(false, x, n, a);
		ct_k_e4m3_bytes(true, x, n, b);
		assert_memory_equal(a, b, n);
	}
}

/* Scales of NVFP4 and MX cells: the vector variants against the portable
 * loops, bit for bit, on magnitudes from subnormal to the top of each
 * dtype (where the MX power of two overflows), zeros of both signs, odd
 * counts (tails) and global scales from tiny to large. */
static void test_scales_agree(void **state)
{
	(void)state;
	skip_without_simd();
	static float lo[N], hi[N], a[N], b[N];
	static const ct_dtype wds[] = { CT_BF16, CT_F16, CT_F32 };
	static const float gss[] = { 1.0f, 2688.0f / 0.05f, 1e-3f, 7.5f, 3e5f };
	for (size_t w = 0; w < 3; w++) {
		ct_dtype wd = wds[w];
		float top = wd == CT_F16 ? 65504.0f : 3.3895314e38f;
		fill(lo, N, wd);
		fill(hi, N, wd);
		for (size_t i = 0; i < N; i++) {
			if (i % 17 == 0)
				hi[i] = ct_round_to(wd, top * (float)(1 + i % 5) / 5.0f);
			if (i % 23 == 0)
				lo[i] = -ct_round_to(wd, top * (float)(1 + i % 3) / 3.0f);
			lo[i] = lo[i] > 0.0f ? -lo[i] : lo[i];
			hi[i] = hi[i] < 0.0f ? -hi[i] : hi[i];
		}
		for (size_t n = N - 20; n <= N; n += 7) {
			for (size_t g = 0; g < sizeof(gss) / sizeof(gss[0]); g++) {
				memset(a, 0xAA, sizeof(a));
				memset(b, 0x55, sizeof(b));
				ct_k_nvfp4_scales(false, wd, lo, hi, n, gss[g], a);
				ct_k_nvfp4_scales(true, wd, lo, hi, n, gss[g], b);
				assert_memory_equal(a, b, n * sizeof(float));
			}
			for (int o = 2; o <= 8; o += 6) {
				memset(a, 0xAA, sizeof(a));
				memset(b, 0x55, sizeof(b));
				ct_k_mx_scales(false, wd, lo, hi, n, o, 0.5f, a);
				ct_k_mx_scales(true, wd, lo, hi, n, o, 0.5f, b);
				assert_memory_equal(a, b, n * sizeof(float));
				for (size_t i = 0; i < n; i++)
					assert_true(isfinite(a[i]) && a[i] > 0.0f);
			}
		}
	}
}

static void test_f16_rounding_matches_converter(void **state)
{
	/* the kernels' branchless F16 and BF16 rounding (the dequantizer rounds
	 * q * s to the scale dtype with it) against the converters over a sweep
	 * of magnitudes: subnormals, ties, overflow to infinity */
	(void)state;
	int32_t one[1] = { 1 };
	for (uint32_t u = 0x30000000; u < 0x47900000; u += 211u) {
		float x;
		memcpy(&x, &u, 4);
		for (int neg = 0; neg < 2; neg++) {
			float s1[1] = { neg ? -x : x };
			uint16_t out;
			ct_k_dequant(false, CT_K_INT, CT_F16, CT_F16, one, 1, 1, s1, NULL, &out);
			assert_int_equal(out, ct_f32_to_f16(s1[0]));
			ct_k_dequant(false, CT_K_INT, CT_BF16, CT_BF16, one, 1, 1, s1, NULL, &out);
			assert_int_equal(out, ct_f32_to_bf16(s1[0]));
		}
	}
}

static void test_finite(void **state)
{
	(void)state;
	float x[40] = { 0 };
	assert_true(ct_k_all_finite(false, x, 40));
	x[33] = INFINITY;
	assert_false(ct_k_all_finite(false, x, 40));
	assert_false(ct_k_all_finite(true, x, 40));
	x[33] = NAN;
	assert_false(ct_k_all_finite(true, x, 40));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quant_agrees),
		cmocka_unit_test(test_quant_is_exact),
		cmocka_unit_test(test_minmax_and_load_agree),
		cmocka_unit_test(test_minmax_raw_agrees),
		cmocka_unit_test(test_absmax_raw_agrees),
		cmocka_unit_test(test_fp4_codes_at_every_threshold),
		cmocka_unit_test(test_quant_raw_agrees),
		cmocka_unit_test(test_simd_where_expected),
		cmocka_unit_test(test_nonfinite_in_every_lane),
		cmocka_unit_test(test_minmax_raw_zeros_and_patterns),
		cmocka_unit_test(test_pack4_agrees),
		cmocka_unit_test(test_pack_agrees),
		cmocka_unit_test(test_dequant_agrees),
		cmocka_unit_test(test_dequant_extremes),
		cmocka_unit_test(test_unpack_tails_agree),
		cmocka_unit_test(test_e4m3_kernel_matches_converter),
		cmocka_unit_test(test_e4m3_raw_exhaustive),
		cmocka_unit_test(test_narrow8_agrees),
		cmocka_unit_test(test_e4m3_bytes_agree),
		cmocka_unit_test(test_scales_agree),
		cmocka_unit_test(test_f16_rounding_matches_converter),
		cmocka_unit_test(test_finite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
