#include "kernels.h"

#include <math.h>
#include <string.h>

#include "fpconv.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CT_AVX2_VARIANT 1
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON) && defined(__BYTE_ORDER__) && \
	__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* NEON is part of the aarch64 baseline, so no run-time check; little-endian
 * only, because the loads of raw rows and the packed words assume it. */
#define CT_NEON_VARIANT 1
#include <arm_neon.h>
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* torch's bf16 rounding for values known not to be NaN (quotients of
 * finite weights by positive scales), without the NaN branch so that it
 * vectorizes. */
ALWAYS_INLINE float round_bf16_finite(float x)
{
	uint32_t u = fp_bits(x);
	u += UINT32_C(0x7FFF) + ((u >> 16) & 1);
	return fp_from_bits(u & UINT32_C(0xFFFF0000));
}

/* c ? a : b as bit masks: GCC will not if-convert a select that sits next
 * to a float-to-int conversion (it might trap), so loops that need one
 * would not vectorize. */
ALWAYS_INLINE uint32_t select_u32(bool c, uint32_t a, uint32_t b)
{
	uint32_t m = (uint32_t)0 - (uint32_t)c;
	return (a & m) | (b & ~m);
}

/* IEEE rounding of a finite float to the F16 grid, as a float, without
 * branches: normal results round the mantissa to 10 bits (overflowing to
 * infinity past 65504), subnormal ones to a multiple of 2^-24 by the
 * add-and-subtract trick. Same results as fp_round_f16. */
ALWAYS_INLINE float round_f16_finite(float x)
{
	uint32_t u = fp_bits(x);
	uint32_t sign = u & UINT32_C(0x80000000);
	uint32_t a = u & UINT32_C(0x7FFFFFFF);
	uint32_t r = a + UINT32_C(0xFFF) + ((a >> 13) & 1);
	r &= ~UINT32_C(0x1FFF);
	r = select_u32((int32_t)r >= (int32_t)0x47800000, UINT32_C(0x7F800000), r);
	float sub = (fp_from_bits(a) + 0.75f) - 0.75f;
	uint32_t m = select_u32((int32_t)a >= (int32_t)0x38800000, r, fp_bits(sub));
	return fp_from_bits(sign | m);
}

ALWAYS_INLINE float round_to(ct_dtype wd, float x)
{
	if (wd == CT_BF16)
		return round_bf16_finite(x);
	if (wd == CT_F16)
		return round_f16_finite(x);
	return x;
}

/* Half-to-even rounding to an integer without a libm call: adding and
 * removing 1.5 * 2^23 leaves the integer part, rounded by the FPU's
 * default mode; valid for |t| < 2^22, and quantized values are tiny. */
ALWAYS_INLINE float round_int(float t)
{
	const float magic = 12582912.0f;
	return (t + magic) - magic;
}

/* e4m3fn code of t, for |t| <= 448 (the kernel clamps first): both the
 * normal and the subnormal rounding are computed and one is selected, so
 * the loop has no branch and vectorizes. Same results as fp_f32_to_e4m3. */
ALWAYS_INLINE int32_t e4m3_code(float t)
{
	uint32_t u = fp_bits(t);
	uint32_t sign = (u >> 24) & 0x80;
	uint32_t a = u & UINT32_C(0x7FFFFFFF);
	/* normal: rebias 127 -> 7 and round the mantissa to 3 bits */
	uint32_t r = a - (UINT32_C(120) << 23);
	r += UINT32_C(0x7FFFF) + ((r >> 20) & 1);
	uint32_t normal = r >> 20;
	/* subnormal: a multiple of 2^-9, rounded half to even; computed from 0
	 * when a is not subnormal, so that no Inf or NaN reaches the int
	 * conversion (undefined behaviour, found by fuzz_roundtrip) */
	bool is_sub = (int32_t)a < (int32_t)0x3C800000;
	float v = fp_from_bits(select_u32(is_sub, a, 0)) * 512.0f;
	uint32_t sub = (uint32_t)(int32_t)((v + 8388608.0f) - 8388608.0f);
	/* a signed comparison (a < 2^31): AVX2 has no unsigned one */
	uint32_t code = select_u32(!is_sub, normal, sub);
	return (int32_t)(sign | code);
}

ALWAYS_INLINE int32_t fp4_code(float t)
{
	float a = t < 0 ? -t : t;
	/* the E2M1 grid's round-half-even thresholds */
	int32_t idx = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) +
		      (a >= 3.5f) + (a > 5.0f);
	return (t < 0 ? 8 : 0) | idx;
}

#define SPAN 256 /* elements per pass: small enough for the stack */

/* One simple loop per step, so that each vectorizes on its own. */
ALWAYS_INLINE void quant_span(ct_kernel_code code, ct_dtype wd, const float *x, size_t n,
			      float s, float z, float lo, float hi, int32_t *q)
{
	float t[SPAN];
	for (size_t i0 = 0; i0 < n; i0 += SPAN) {
		size_t m = n - i0 < SPAN ? n - i0 : SPAN;
		for (size_t i = 0; i < m; i++)
			t[i] = round_to(wd, x[i0 + i] / s);
		for (size_t i = 0; i < m; i++) {
			float v = round_to(wd, t[i] + z);
			/* NaN (of a weight the finiteness check refuses) becomes lo, never
			 * an int conversion of NaN (undefined, found by fuzz_roundtrip) */
			t[i] = v > hi ? hi : v >= lo ? v : lo;
		}
		if (code == CT_K_INT)
			for (size_t i = 0; i < m; i++)
				q[i0 + i] = (int32_t)round_int(t[i]);
		else if (code == CT_K_FP8)
			for (size_t i = 0; i < m; i++)
				q[i0 + i] = e4m3_code(t[i]);
		else
			for (size_t i = 0; i < m; i++)
				q[i0 + i] = fp4_code(t[i]);
	}
}

ALWAYS_INLINE void quant_body(ct_kernel_code code, ct_dtype wd, const float *x, size_t n,
			      size_t cell, const float *s, const int32_t *z, float lo, float hi,
			      int32_t *q)
{
	for (size_t c0 = 0, j = 0; c0 < n; c0 += cell, j++) {
		size_t m = n - c0 < cell ? n - c0 : cell;
		quant_span(code, wd, x + c0, m, s[j], z ? (float)z[j] : 0.0f, lo, hi, q + c0);
	}
}

/* Specialized copies: code and wd become constants in each. */
#define QUANT_CASES(body_fn)                                                              \
	switch (code) {                                                                   \
	case CT_K_INT:                                                                    \
		if (wd == CT_BF16) body_fn(CT_K_INT, CT_BF16, x, n, cell, s, z, lo, hi, q); \
		else if (wd == CT_F16) body_fn(CT_K_INT, CT_F16, x, n, cell, s, z, lo, hi, q); \
		else body_fn(CT_K_INT, CT_F32, x, n, cell, s, z, lo, hi, q);                \
		break;                                                                    \
	case CT_K_FP8:                                                                    \
		if (wd == CT_BF16) body_fn(CT_K_FP8, CT_BF16, x, n, cell, s, z, lo, hi, q); \
		else if (wd == CT_F16) body_fn(CT_K_FP8, CT_F16, x, n, cell, s, z, lo, hi, q); \
		else body_fn(CT_K_FP8, CT_F32, x, n, cell, s, z, lo, hi, q);                \
		break;                                                                    \
	case CT_K_FP4:                                                                    \
		if (wd == CT_BF16) body_fn(CT_K_FP4, CT_BF16, x, n, cell, s, z, lo, hi, q); \
		else if (wd == CT_F16) body_fn(CT_K_FP4, CT_F16, x, n, cell, s, z, lo, hi, q); \
		else body_fn(CT_K_FP4, CT_F32, x, n, cell, s, z, lo, hi, q);                \
		break;                                                                    \
	}

ALWAYS_INLINE float fp4_value(int32_t q)
{
	static const float mag[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };
	float v = mag[q & 7];
	return (q & 8) ? -v : v;
}

ALWAYS_INLINE void store_as(ct_dtype out_dt, void *out, size_t i, float v)
{
	uint8_t *o = out;
	if (out_dt == CT_BF16) {
		uint16_t h = fp_f32_to_bf16(v);
		memcpy(o + 2 * i, &h, 2);
	} else if (out_dt == CT_F16) {
		uint16_t h = fp_f32_to_f16(v);
		memcpy(o + 2 * i, &h, 2);
	} else {
		memcpy(o + 4 * i, &v, 4);
	}
}

ALWAYS_INLINE void dequant_body(ct_kernel_code code, ct_dtype sd, ct_dtype out_dt,
				const int32_t *q, size_t n, size_t cell, const float *s,
				const int32_t *z, void *out)
{
	for (size_t c0 = 0, j = 0; c0 < n; c0 += cell, j++) {
		size_t m = n - c0 < cell ? n - c0 : cell;
		float sj = s[j], zj = z ? (float)z[j] : 0.0f;
		for (size_t i = c0; i < c0 + m; i++) {
			float v;
			if (code == CT_K_INT)
				v = ((float)q[i] - zj) * sj;
			else if (code == CT_K_FP8)
				v = fp_e4m3_to_f32((uint8_t)q[i]) * sj;
			else
				v = fp4_value(q[i]) * sj;
			/* round to the scale's dtype, then (if asked) convert */
			v = round_to(sd, v);
			store_as(out_dt, out, i, v);
		}
	}
}

/* Specialized on the common case: output in the scale's own dtype. */
#define DEQUANT_CASES(body_fn)                                                            \
	if (sd == out_dt && sd == CT_BF16)                                                 \
		body_fn(code, CT_BF16, CT_BF16, q, n, cell, s, z, out);                    \
	else if (sd == out_dt && sd == CT_F16)                                             \
		body_fn(code, CT_F16, CT_F16, q, n, cell, s, z, out);                      \
	else if (sd == out_dt && sd == CT_F32)                                             \
		body_fn(code, CT_F32, CT_F32, q, n, cell, s, z, out);                      \
	else                                                                               \
		body_fn(code, sd, out_dt, q, n, cell, s, z, out);

ALWAYS_INLINE void minmax_body(const float *x, size_t n, size_t cell, float *lo, float *hi)
{
	for (size_t c0 = 0, j = 0; c0 < n; c0 += cell, j++) {
		size_t m = n - c0 < cell ? n - c0 : cell;
		float l = lo[j], h = hi[j];
		for (size_t i = 0; i < m; i++) {
			l = x[c0 + i] < l ? x[c0 + i] : l;
			h = x[c0 + i] > h ? x[c0 + i] : h;
		}
		lo[j] = l;
		hi[j] = h;
	}
}

ALWAYS_INLINE void pack_fixed(const int32_t *q, size_t n, int32_t offset, unsigned bits,
			      uint32_t *words)
{
	unsigned per = 32u / bits;
	size_t full = n / per;
	for (size_t w = 0; w < full; w++) {
		uint32_t word = 0;
		for (unsigned k = 0; k < per; k++)
			word |= (uint32_t)(q[w * per + k] + offset) << (k * bits);
		words[w] = word;
	}
	if (full * per < n) {
		uint32_t word = 0;
		for (size_t i = full * per; i < n; i++)
			word |= (uint32_t)(q[i] + offset) << ((i - full * per) * bits);
		words[full] = word;
	}
}

ALWAYS_INLINE void unpack_fixed(const uint8_t *words, size_t n, int32_t offset, unsigned bits,
				int32_t *q)
{
	unsigned per = 32u / bits;
	uint32_t mask = bits == 32 ? UINT32_MAX : (UINT32_C(1) << bits) - 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t w;
		memcpy(&w, words + (i / per) * 4, 4);
		q[i] = (int32_t)((w >> ((i % per) * bits)) & mask) - offset;
	}
}

ALWAYS_INLINE void unpack_body(const uint8_t *words, size_t n, int32_t offset, unsigned bits,
			       int32_t *q)
{
	if (bits == 4)
		unpack_fixed(words, n, offset, 4, q);
	else if (bits == 8)
		unpack_fixed(words, n, offset, 8, q);
	else if (bits == 2)
		unpack_fixed(words, n, offset, 2, q);
	else
		unpack_fixed(words, n, offset, 1, q);
}

ALWAYS_INLINE void pack_body(const int32_t *q, size_t n, int32_t offset, unsigned bits,
			     uint32_t *words)
{
	/* constant widths let the compiler unroll each word */
	if (bits == 4)
		pack_fixed(q, n, offset, 4, words);
	else if (bits == 8)
		pack_fixed(q, n, offset, 8, words);
	else if (bits == 2)
		pack_fixed(q, n, offset, 2, words);
	else
		pack_fixed(q, n, offset, 1, words);
}

ALWAYS_INLINE bool finite_body(const float *x, size_t n)
{
	/* inf and NaN are the values with every exponent bit set */
	uint32_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u = fp_bits(x[i]);
		bad |= (u & UINT32_C(0x7F800000)) == UINT32_C(0x7F800000);
	}
	return !bad;
}

ALWAYS_INLINE void load_body(ct_dtype dt, const void *src, float *dst, size_t n)
{
	const uint8_t *p = src;
	if (dt == CT_BF16) {
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			dst[i] = fp_bf16_to_f32(h);
		}
	} else if (dt == CT_F16) {
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			dst[i] = fp_f16_to_f32(h);
		}
	} else {
		memcpy(dst, src, n * sizeof(float));
	}
}

/* Through a small widened buffer, a span at a time, so that no row is ever
 * copied whole. */
ALWAYS_INLINE bool minmax_raw_body(ct_dtype dt, const void *src, size_t n, size_t cell,
				   float *lo, float *hi)
{
	float buf[SPAN];
	size_t esz = dt == CT_F32 ? 4 : 2;
	bool ok = true;
	for (size_t c0 = 0, j = 0; c0 < n; c0 += cell, j++) {
		size_t m = n - c0 < cell ? n - c0 : cell;
		for (size_t i0 = 0; i0 < m; i0 += SPAN) {
			size_t k = m - i0 < SPAN ? m - i0 : SPAN;
			load_body(dt, (const uint8_t *)src + (c0 + i0) * esz, buf, k);
			ok = finite_body(buf, k) && ok;
			minmax_body(buf, k, k, lo + j, hi + j);
		}
	}
	return ok;
}

/* Magnitudes by their bits: with the sign cleared, the order of the bit
 * patterns of F32, F16 and BF16 values is the order of the values, so the
 * largest pattern is the absmax, exactly, with no conversion per element.
 * NaN and infinity have the largest patterns of all: the one compare with
 * the infinity's pattern finds them. */
ALWAYS_INLINE uint32_t inf_bits(ct_dtype dt)
{
	return dt == CT_F32 ? UINT32_C(0x7F800000) : dt == CT_F16 ? 0x7C00u : 0x7F80u;
}

ALWAYS_INLINE float from_abs_bits(ct_dtype dt, uint32_t top)
{
	return dt == CT_F32 ? fp_from_bits(top) : dt == CT_F16 ? fp_f16_to_f32((uint16_t)top) :
	       fp_bf16_to_f32((uint16_t)top);
}

/* The cell's largest magnitude pattern into amax[j], compared as floats:
 * a NaN's pattern, the largest, is never taken, so such a cell keeps its
 * entry value. False for a NaN or an infinity. */
ALWAYS_INLINE bool absmax_finish(ct_dtype dt, uint32_t top, float *amax)
{
	float v = from_abs_bits(dt, top);
	if (v > *amax)
		*amax = v;
	return top < inf_bits(dt);
}

ALWAYS_INLINE bool absmax_raw_body(ct_dtype dt, const void *src, size_t n, size_t cell,
				   float *amax)
{
	const uint8_t *p = src;
	bool ok = true;
	for (size_t c0 = 0, j = 0; c0 < n; c0 += cell, j++) {
		size_t m = n - c0 < cell ? n - c0 : cell;
		uint32_t top = 0;
		if (dt == CT_F32) {
			for (size_t i = 0; i < m; i++) {
				uint32_t u;
				memcpy(&u, p + 4 * (c0 + i), 4);
				u &= UINT32_C(0x7FFFFFFF);
				top = u > top ? u : top;
			}
		} else {
			for (size_t i = 0; i < m; i++) {
				uint16_t h;
				memcpy(&h, p + 2 * (c0 + i), 2);
				uint32_t u = h & 0x7FFFu;
				top = u > top ? u : top;
			}
		}
		ok = absmax_finish(dt, top, amax + j) && ok;
	}
	return ok;
}

ALWAYS_INLINE bool quant_raw_body(ct_kernel_code code, ct_dtype wd, ct_dtype dt,
				  const void *src, size_t n, size_t cell, const float *s,
				  const int32_t *z, float lo, float hi, int32_t *q)
{
	float buf[SPAN];
	size_t esz = dt == CT_F32 ? 4 : 2;
	bool ok = true;
	for (size_t c0 = 0, j = 0; c0 < n; c0 += cell, j++) {
		size_t m = n - c0 < cell ? n - c0 : cell;
		for (size_t i0 = 0; i0 < m; i0 += SPAN) {
			size_t k = m - i0 < SPAN ? m - i0 : SPAN;
			load_body(dt, (const uint8_t *)src + (c0 + i0) * esz, buf, k);
			ok = finite_body(buf, k) && ok;
			quant_span(code, wd, buf, k, s[j], z ? (float)z[j] : 0.0f, lo, hi,
				   q + c0 + i0);
		}
	}
	return ok;
}

ALWAYS_INLINE void pack4_body(const int32_t *q, size_t n, int32_t offset, uint8_t *out)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		out[i / 2] = (uint8_t)(((uint32_t)(q[i] + offset) & 15) |
				       ((uint32_t)(q[i + 1] + offset) & 15) << 4);
	if (n % 2)
		out[n / 2] = (uint8_t)((uint32_t)(q[n - 1] + offset) & 15);
}

ALWAYS_INLINE void narrow8_body(const int32_t *q, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)((uint32_t)q[i] & 0xFF);
}

static void narrow8_portable(const int32_t *q, size_t n, uint8_t *out)
{
	narrow8_body(q, n, out);
}

static void e4m3_bytes_portable(const float *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = fp_f32_to_e4m3(s[i]);
}

static bool quant_raw_portable(ct_kernel_code code, ct_dtype wd, ct_dtype dt, const void *src,
			       size_t n, size_t cell, const float *s, const int32_t *z, float lo,
			       float hi, int32_t *q)
{
	return quant_raw_body(code, wd, dt, src, n, cell, s, z, lo, hi, q);
}

static void pack4_portable(const int32_t *q, size_t n, int32_t offset, uint8_t *out)
{
	pack4_body(q, n, offset, out);
}

static void quant_portable(ct_kernel_code code, ct_dtype wd, const float *x, size_t n,
			   size_t cell, const float *s, const int32_t *z, float lo, float hi,
			   int32_t *q)
{
	QUANT_CASES(quant_body)
}

static void minmax_portable(const float *x, size_t n, size_t cell, float *lo, float *hi)
{
	minmax_body(x, n, cell, lo, hi);
}

static void dequant_portable(ct_kernel_code code, ct_dtype sd, ct_dtype out_dt,
			     const int32_t *q, size_t n, size_t cell, const float *s,
			     const int32_t *z, void *out)
{
	DEQUANT_CASES(dequant_body)
}

static void unpack_portable(const uint8_t *words, size_t n, int32_t offset, unsigned bits,
			    int32_t *q)
{
	unpack_body(words, n, offset, bits, q);
}

static void pack_portable(const int32_t *q, size_t n, int32_t offset, unsigned bits,
			  uint32_t *words)
{
	pack_body(q, n, offset, bits, words);
}

static bool finite_portable(const float *x, size_t n)
{
	return finite_body(x, n);
}

static void load_portable(ct_dtype dt, const void *src, float *dst, size_t n)
{
	load_body(dt, src, dst, n);
}

static bool minmax_raw_portable(ct_dtype dt, const void *src, size_t n, size_t cell,
				float *lo, float *hi)
{
	return minmax_raw_body(dt, src, n, cell, lo, hi);
}

static bool absmax_raw_portable(ct_dtype dt, const void *src, size_t n, size_t cell,
				float *amax)
{
	return absmax_raw_body(dt, src, n, cell, amax);
}

/* ------------------------------------------------------------- scales --- */

int ct_mx_exponent(ct_dtype wd, float a, int o)
{
	float p;
	/* Round the absmax to a power of two on its own bit pattern: adding
	 * 2^(mantissa-2) ulps carries into the exponent from 1.75 up. */
	switch (wd) {
	case CT_BF16: {
		uint16_t u = ct_f32_to_bf16(a);
		u = (uint16_t)((u + 0x20) & 0xFF80);
		p = ct_bf16_to_f32(u);
		break;
	}
	case CT_F16: {
		uint16_t u = ct_f32_to_f16(a);
		u = (uint16_t)((u + 0x100) & 0xFC00);
		p = ct_f16_to_f32(u);
		break;
	}
	default: {
		uint32_t u;
		memcpy(&u, &a, 4);
		u = (u + 0x200000u) & 0xFF800000u;
		memcpy(&p, &u, 4);
		break;
	}
	}
	if (p == 0.0f)
		return 0;
	if (isinf(p))
		return 255;
	int e = 127 + ilogbf(p) - o;
	return e < 0 ? 0 : e > 255 ? 255 : e;
}

/* 2^k for -127 <= k <= 128 (2^128: infinity), built from its bits. */
static float pow2_bits(int k)
{
	uint32_t u = k >= -126 ? (uint32_t)(k + 127) << 23 : UINT32_C(1) << 22;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

ALWAYS_INLINE void nvfp4_scales_body(ct_dtype wd, const float *lo, const float *hi, size_t n,
				     float gs, float *s)
{
	for (size_t i = 0; i < n; i++) {
		float v = ct_round_to(wd, fmaxf(-lo[i], hi[i]) / 6.0f);
		v = fminf(fmaxf(gs * v, -448.0f), 448.0f);
		v = ct_e4m3_to_f32(ct_f32_to_e4m3(v));
		s[i] = v == 0.0f ? 0.125f : v;
	}
}

ALWAYS_INLINE void mx_scales_body(ct_dtype wd, const float *lo, const float *hi, size_t n,
				  int o, float zero_eps, float *s)
{
	for (size_t i = 0; i < n; i++) {
		int e = ct_mx_exponent(wd, fmaxf(-lo[i], hi[i]), o);
		float v = ct_round_to(wd, pow2_bits(e - 127));
		/* near the top of the dtype the power of two can overflow: the
		 * library then divides by infinity and decompresses NaN; take
		 * the largest finite power of two instead */
		while (isinf(v) && e > 0)
			v = ct_round_to(wd, pow2_bits(--e - 127));
		s[i] = v == 0.0f ? zero_eps : v;
	}
}

static void nvfp4_scales_portable(ct_dtype wd, const float *lo, const float *hi, size_t n,
				  float gs, float *s)
{
	nvfp4_scales_body(wd, lo, hi, n, gs, s);
}

static void mx_scales_portable(ct_dtype wd, const float *lo, const float *hi, size_t n, int o,
			       float zero_eps, float *s)
{
	mx_scales_body(wd, lo, hi, n, o, zero_eps, s);
}

#ifdef CT_AVX2_VARIANT
__attribute__((target("avx2"))) static void pack4_avx2(const int32_t *q, size_t n,
						       int32_t offset, uint8_t *out);

__attribute__((target("avx2"))) static void
quant_avx2(ct_kernel_code code, ct_dtype wd, const float *x, size_t n, size_t cell,
	   const float *s, const int32_t *z, float lo, float hi, int32_t *q)
{
	QUANT_CASES(quant_body)
}

__attribute__((target("avx2"))) static void minmax_avx2(const float *x, size_t n, size_t cell,
							float *lo, float *hi)
{
	minmax_body(x, n, cell, lo, hi);
}

/* fp_e4m3_to_f32 of the low bytes of 8 codes, from the bits: exponent and
 * mantissa move up together (rebias by adding 120 << 23), subnormals are
 * m * 2^-9 (exact), 0x7F with either sign is the quiet NaN. */
__attribute__((target("avx2"), always_inline)) static inline __m256 e4m3_value_avx2(__m256i q)
{
	__m256i mag = _mm256_and_si256(q, _mm256_set1_epi32(0x7F));
	__m256i sign = _mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x80)), 24);
	__m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, 20), _mm256_set1_epi32(120 << 23));
	__m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(q, _mm256_set1_epi32(7))),
				   _mm256_set1_ps(0x1p-9f));
	__m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(8), mag);
	__m256i r = _mm256_blendv_epi8(normal, _mm256_castps_si256(sub), is_sub);
	r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7FC00000),
			       _mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7F)));
	return _mm256_castsi256_ps(_mm256_or_si256(r, sign));
}

/* fp4_value of 8 codes: the magnitude of bits 0-2 from a register table
 * (vpermps reads only the low 3 bits of each index), bit 3 the sign. */
__attribute__((target("avx2"), always_inline)) static inline __m256 e2m1_value_avx2(__m256i q)
{
	const __m256 mag = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
	__m256 v = _mm256_permutevar8x32_ps(mag, q);
	__m256i sign = _mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(8)), 28);
	return _mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(v), sign));
}

/* The full cells of dequant_avx2, specialized by the callers on the code
 * and the dtype so that the inner loop has no test. */
__attribute__((target("avx2"), always_inline)) static inline void
dequant_cells_avx2(ct_kernel_code code, bool bf16, const int32_t *q, size_t full, size_t cell,
		   const float *s, const int32_t *z, uint8_t *o)
{
	const __m256i rb = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
	const __m256i top = _mm256_set1_epi32((int)0xFFFF0000u);
	const __m256i qnan = _mm256_set1_epi32(0x7FC0);
	for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
		__m256 vs = _mm256_set1_ps(s[j]), vz = _mm256_set1_ps(z ? (float)z[j] : 0.0f);
		for (size_t i = c0; i < c0 + cell; i += 8) {
			__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(q + i));
			__m256 v = code == CT_K_INT ? _mm256_sub_ps(_mm256_cvtepi32_ps(c), vz)
				 : code == CT_K_FP8 ? e4m3_value_avx2(c) : e2m1_value_avx2(c);
			v = _mm256_mul_ps(v, vs);
			if (!bf16) {
				_mm256_storeu_ps((float *)(void *)(o + 4 * i), v);
				continue;
			}
			__m256i u = _mm256_castps_si256(v);
			u = _mm256_add_epi32(u, _mm256_add_epi32(rb, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
			u = _mm256_and_si256(u, top);
			/* on the BF16 grid now, so the converter's own rounding
			 * changes nothing: the store is the top half, except NaN */
			__m256i h = _mm256_srli_epi32(u, 16);
			__m256 un = _mm256_cmp_ps(_mm256_castsi256_ps(u), _mm256_castsi256_ps(u), _CMP_UNORD_Q);
			h = _mm256_blendv_epi8(h, qnan, _mm256_castps_si256(un));
			h = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
			_mm_storeu_si128((__m128i *)(void *)(o + 2 * i), _mm256_castsi256_si128(h));
		}
	}
}

/* Integer or e4m3 codes, output in the scale's dtype BF16 or F32, cells of
 * a multiple of 8: 8 values at a time, the products exactly as the portable
 * loop forms them ((q - z) * s, e4m3(q) * s or e2m1(q) * s), torch's BF16
 * rounding by integer ops and the converter's NaN as a blend. Everything
 * else (F16, the one-column cells of the activation order) the portable way. */
__attribute__((target("avx2"))) static void
dequant_avx2(ct_kernel_code code, ct_dtype sd, ct_dtype out_dt, const int32_t *q, size_t n,
	     size_t cell, const float *s, const int32_t *z, void *out)
{
	if (sd != out_dt || (sd != CT_BF16 && sd != CT_F32) || cell % 8 != 0) {
		DEQUANT_CASES(dequant_body)
		return;
	}
	uint8_t *o = out;
	size_t full = n / cell * cell;
	bool bf16 = sd == CT_BF16;
	if (code == CT_K_INT && bf16)
		dequant_cells_avx2(CT_K_INT, true, q, full, cell, s, z, o);
	else if (code == CT_K_INT)
		dequant_cells_avx2(CT_K_INT, false, q, full, cell, s, z, o);
	else if (code == CT_K_FP8 && bf16)
		dequant_cells_avx2(CT_K_FP8, true, q, full, cell, s, z, o);
	else if (code == CT_K_FP8)
		dequant_cells_avx2(CT_K_FP8, false, q, full, cell, s, z, o);
	else if (bf16)
		dequant_cells_avx2(CT_K_FP4, true, q, full, cell, s, z, o);
	else
		dequant_cells_avx2(CT_K_FP4, false, q, full, cell, s, z, o);
	if (full < n)
		dequant_body(code, sd, out_dt, q + full, n - full, cell, s + full / cell,
			     z ? z + full / cell : NULL, o + full * ct_dtype_size(out_dt));
}

/* 4-bit codes a word at a time (8 codes: the word broadcast, shifted by
 * lane), 8-bit ones 8 bytes at a time; other widths and the partial last
 * word the portable way. */
__attribute__((target("avx2"))) static void unpack_avx2(const uint8_t *words, size_t n,
							int32_t offset, unsigned bits,
							int32_t *q)
{
	if (bits != 4 && bits != 8) {
		unpack_body(words, n, offset, bits, q);
		return;
	}
	const __m256i off = _mm256_set1_epi32(offset);
	size_t i = 0;
	if (bits == 4) {
		const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
		const __m256i m15 = _mm256_set1_epi32(15);
		for (; i + 8 <= n; i += 8) {
			int32_t w;
			memcpy(&w, words + i / 2, 4);
			__m256i v = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w), sh), m15);
			_mm256_storeu_si256((__m256i *)(void *)(q + i), _mm256_sub_epi32(v, off));
		}
		unpack_body(words + i / 2, n - i, offset, bits, q + i);
		return;
	}
	for (; i + 8 <= n; i += 8) {
		__m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(words + i));
		_mm256_storeu_si256((__m256i *)(void *)(q + i), _mm256_sub_epi32(_mm256_cvtepu8_epi32(b), off));
	}
	unpack_body(words + i, n - i, offset, bits, q + i);
}

__attribute__((target("avx2"))) static void pack_avx2(const int32_t *q, size_t n,
						      int32_t offset, unsigned bits,
						      uint32_t *words)
{
	if (bits != 4) {
		pack_body(q, n, offset, bits, words);
		return;
	}
	/* x86 is little-endian: the words are the nibble bytes in order, the
	 * rest of a partial last word zero */
	size_t nw = (n + 7) / 8;
	uint8_t *b = (uint8_t *)words;
	pack4_avx2(q, n, offset, b);
	memset(b + (n + 1) / 2, 0, nw * 4 - (n + 1) / 2);
}

__attribute__((target("avx2"))) static bool finite_avx2(const float *x, size_t n)
{
	return finite_body(x, n);
}

/* The lowest and highest lane: min and max are exact and, with lo <= 0 <=
 * hi on entry and NaN never taken, independent of the order. */
__attribute__((target("avx2"))) static inline float hmin_avx2(__m256 v)
{
	__m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_min_ps(m, _mm_movehl_ps(m, m));
	m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}

__attribute__((target("avx2"))) static inline float hmax_avx2(__m256 v)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}

/* The min (or max) lane of each of 8 vectors, in lane k of the result:
 * pairs interleaved and reduced, then quads, then the two halves. Exact,
 * in any order, for lanes without NaN or -0. */
__attribute__((target("avx2"), always_inline)) static inline __m256
reduce8_avx2(const __m256 *v, bool min)
{
#define RED(a, b) (min ? _mm256_min_ps(a, b) : _mm256_max_ps(a, b))
	__m256 p[4];
	for (int k = 0; k < 4; k++)
		p[k] = RED(_mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]),
			   _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]));
	__m256 q0 = RED(_mm256_shuffle_ps(p[0], p[1], 0x44), _mm256_shuffle_ps(p[0], p[1], 0xEE));
	__m256 q1 = RED(_mm256_shuffle_ps(p[2], p[3], 0x44), _mm256_shuffle_ps(p[2], p[3], 0xEE));
	return RED(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
#undef RED
}

/* 8 BF16 cells of 16 to 64 values at a time (NVFP4's 16, MX's 32): each
 * cell's vectors reduced with 0 as the first accumulator, so that neither
 * NaN (min and max return their second operand) nor -0 (0 wins ties)
 * reaches the cross-cell reduction; lo and hi come in last as the second
 * operand. Since lo <= 0 <= hi on entry, the 0 changes no result, and the
 * bits are those of the one-cell loop. */
__attribute__((target("avx2"))) static size_t minmax_small_cells_avx2(const uint8_t *p,
								      size_t ncell, size_t cell,
								      float *lo, float *hi,
								      __m256i *bad)
{
	const __m256i em = _mm256_set1_epi16(0x7F80), zero = _mm256_setzero_si256();
	const __m256 z = _mm256_setzero_ps();
	size_t j = 0;
	for (; j + 8 <= ncell; j += 8) {
		__m256 mn[8], mx[8];
		for (int k = 0; k < 8; k++) {
			__m256 l = z, h = z;
			const uint8_t *c = p + 2 * (j + (size_t)k) * cell;
			for (size_t i = 0; i < cell; i += 16) {
				__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(c + 2 * i));
				*bad = _mm256_or_si256(*bad, _mm256_cmpeq_epi16(_mm256_and_si256(v, em), em));
				__m256 a = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, v));
				__m256 b = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, v));
				l = _mm256_min_ps(a, _mm256_min_ps(b, l));
				h = _mm256_max_ps(a, _mm256_max_ps(b, h));
			}
			mn[k] = l;
			mx[k] = h;
		}
		_mm256_storeu_ps(lo + j, _mm256_min_ps(reduce8_avx2(mn, true), _mm256_loadu_ps(lo + j)));
		_mm256_storeu_ps(hi + j, _mm256_max_ps(reduce8_avx2(mx, false), _mm256_loadu_ps(hi + j)));
	}
	return j;
}

/* BF16 cells of a multiple of 16: 16 values a load, widened by interleaving
 * with zeros (which permutes them, harmless for a min or a max); F32 cells
 * of a multiple of 8. _mm256_min_ps(x, l) is x < l ? x : l, as the
 * portable loop. Anything else goes the portable way. */
__attribute__((target("avx2"))) static bool minmax_raw_avx2(ct_dtype dt, const void *src,
							    size_t n, size_t cell, float *lo,
							    float *hi)
{
	if (!(dt == CT_BF16 && cell % 16 == 0) && !(dt == CT_F32 && cell % 8 == 0))
		return minmax_raw_body(dt, src, n, cell, lo, hi);
	const uint8_t *p = src;
	size_t full = n / cell * cell;
	__m256i bad = _mm256_setzero_si256();
	if (dt == CT_BF16) {
		const __m256i em = _mm256_set1_epi16(0x7F80), zero = _mm256_setzero_si256();
		size_t done = cell <= 64 ? minmax_small_cells_avx2(p, full / cell, cell, lo, hi, &bad) : 0;
		for (size_t c0 = done * cell, j = done; c0 < full; c0 += cell, j++) {
			__m256 l = _mm256_set1_ps(lo[j]), h = _mm256_set1_ps(hi[j]);
			for (size_t i = c0; i < c0 + cell; i += 16) {
				__m256i v = _mm256_loadu_si256((const __m256i *)(p + 2 * i));
				bad = _mm256_or_si256(bad, _mm256_cmpeq_epi16(_mm256_and_si256(v, em), em));
				__m256 a = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, v));
				__m256 b = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, v));
				l = _mm256_min_ps(a, l);
				h = _mm256_max_ps(a, h);
				l = _mm256_min_ps(b, l);
				h = _mm256_max_ps(b, h);
			}
			lo[j] = hmin_avx2(l);
			hi[j] = hmax_avx2(h);
		}
	} else {
		const __m256i em = _mm256_set1_epi32(0x7F800000);
		for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
			__m256 l = _mm256_set1_ps(lo[j]), h = _mm256_set1_ps(hi[j]);
			for (size_t i = c0; i < c0 + cell; i += 8) {
				__m256 a = _mm256_loadu_ps((const float *)(const void *)(p + 4 * i));
				__m256i v = _mm256_castps_si256(a);
				bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(v, em), em));
				l = _mm256_min_ps(a, l);
				h = _mm256_max_ps(a, h);
			}
			lo[j] = hmin_avx2(l);
			hi[j] = hmax_avx2(h);
		}
	}
	bool ok = _mm256_testz_si256(bad, bad);
	if (full < n)
		ok = minmax_raw_body(dt, p + full * (dt == CT_F32 ? 4 : 2), n - full, cell,
				     lo + full / cell, hi + full / cell) && ok;
	return ok;
}

/* fp_f16_to_f32 of 8 halves (zero-extended in 32-bit lanes), from the
 * bits: normals rebias by adding 112 << 23 to the shifted exponent and
 * mantissa, exponent 31 keeps its mantissa under 0xFF, subnormals are
 * m * 2^-24 (exact). */
__attribute__((target("avx2"), always_inline)) static inline __m256i f16_widen_avx2(__m256i h)
{
	__m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
	__m256i mag = _mm256_and_si256(h, _mm256_set1_epi32(0x7FFF));
	__m256i e = _mm256_and_si256(mag, _mm256_set1_epi32(0x7C00));
	__m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, 13), _mm256_set1_epi32(112 << 23));
	__m256i special = _mm256_or_si256(_mm256_set1_epi32(0x7F800000),
		_mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x3FF)), 13));
	__m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(mag), _mm256_set1_ps(0x1p-24f));
	__m256i r = _mm256_blendv_epi8(normal, special, _mm256_cmpeq_epi32(e, _mm256_set1_epi32(0x7C00)));
	r = _mm256_blendv_epi8(r, _mm256_castps_si256(sub), _mm256_cmpeq_epi32(e, _mm256_setzero_si256()));
	return _mm256_or_si256(r, sign);
}

/* The largest of 16 u16 lanes: SSE4.1's minpos on the complements. */
__attribute__((target("avx2"), always_inline)) static inline uint32_t hmax_u16_avx2(__m256i v)
{
	__m128i m = _mm_max_epu16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	return 0xFFFFu & ~(uint32_t)_mm_cvtsi128_si32(_mm_minpos_epu16(_mm_xor_si128(m,
		_mm_set1_epi16(-1))));
}

__attribute__((target("avx2"), always_inline)) static inline uint32_t hmax_u32_avx2(__m256i v)
{
	__m128i m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
	m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
	return (uint32_t)_mm_cvtsi128_si32(m);
}

/* 8 cells of 16 to 64 16-bit values at a time (NVFP4's 16, MX's 32): one
 * register of magnitudes per cell, the 8 reduced together by interleaving
 * (halves, then words, then pairs of words), widened to floats and taken
 * into amax by maxps, which keeps the entry value for a NaN as
 * absmax_finish does. Returns the cells done; *bad gets the lanes that saw
 * a NaN or an infinity. */
__attribute__((target("avx2"))) static size_t absmax_small_cells_avx2(ct_dtype dt,
								      const uint8_t *p,
								      size_t ncell, size_t cell,
								      float *amax, __m256i *bad)
{
	const __m256i mask = _mm256_set1_epi16(0x7FFF);
	const __m256i below_inf = _mm256_set1_epi16((short)(inf_bits(dt) - 1));
	/* [c0 c2 c4 c6 c1 c3 c5 c7] as words to c0..c7 */
	const __m128i order = _mm_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
	size_t j = 0;
	for (; j + 8 <= ncell; j += 8) {
		__m256i m[8];
		for (int k = 0; k < 8; k++) {
			const uint8_t *c = p + 2 * (j + (size_t)k) * cell;
			__m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)c), mask);
			for (size_t i = 16; i < cell; i += 16)
				v = _mm256_max_epu16(v, _mm256_and_si256(
					_mm256_loadu_si256((const __m256i *)(const void *)(c + 2 * i)), mask));
			m[k] = v;
		}
		__m256i t[4];
		for (int k = 0; k < 4; k++)
			t[k] = _mm256_max_epu16(_mm256_permute2x128_si256(m[2 * k], m[2 * k + 1], 0x20),
						_mm256_permute2x128_si256(m[2 * k], m[2 * k + 1], 0x31));
		__m256i u = _mm256_max_epu16(_mm256_unpacklo_epi16(t[0], t[1]),
					     _mm256_unpackhi_epi16(t[0], t[1]));
		__m256i w = _mm256_max_epu16(_mm256_unpacklo_epi16(t[2], t[3]),
					     _mm256_unpackhi_epi16(t[2], t[3]));
		__m256i x = _mm256_max_epu16(_mm256_unpacklo_epi32(u, w), _mm256_unpackhi_epi32(u, w));
		x = _mm256_max_epu16(x, _mm256_shuffle_epi32(x, 0x4E));
		__m128i top = _mm_shuffle_epi8(_mm256_castsi256_si128(_mm256_permute4x64_epi64(x, 0x08)),
					       order);
		*bad = _mm256_or_si256(*bad, _mm256_cmpgt_epi16(_mm256_castsi128_si256(top), below_inf));
		__m256i h = _mm256_cvtepu16_epi32(top);
		__m256 f = dt == CT_BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)) :
					   _mm256_castsi256_ps(f16_widen_avx2(h));
		_mm256_storeu_ps(amax + j, _mm256_max_ps(f, _mm256_loadu_ps(amax + j)));
	}
	return j;
}

/* absmax_raw_body for 16-bit cells of a multiple of 16 and F32 cells of a
 * multiple of 8: an and and an integer max per register, one horizontal
 * max per cell; the partial last cell the portable way. */
__attribute__((target("avx2"))) static bool absmax_raw_avx2(ct_dtype dt, const void *src,
							    size_t n, size_t cell, float *amax)
{
	bool wide = dt == CT_F32;
	if (!(wide ? cell % 8 == 0 : (dt == CT_BF16 || dt == CT_F16) && cell % 16 == 0))
		return absmax_raw_body(dt, src, n, cell, amax);
	const uint8_t *p = src;
	size_t full = n / cell * cell, esz = wide ? 4 : 2;
	const __m256i mask = wide ? _mm256_set1_epi32(0x7FFFFFFF) : _mm256_set1_epi16(0x7FFF);
	__m256i bad = _mm256_setzero_si256();
	size_t done = !wide && cell <= 64 ? absmax_small_cells_avx2(dt, p, full / cell, cell, amax,
								     &bad) : 0;
	bool ok = _mm256_testz_si256(bad, bad);
	for (size_t c0 = done * cell, j = done; c0 < full; c0 += cell, j++) {
		const uint8_t *c = p + c0 * esz, *e = c + cell * esz;
		__m256i m0 = _mm256_setzero_si256(), m1 = m0;
		/* two accumulators: the max has a latency, the loads do not wait */
		for (; c + 64 <= e; c += 64) {
			__m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)c), mask);
			__m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)(c + 32)), mask);
			m0 = wide ? _mm256_max_epu32(m0, a) : _mm256_max_epu16(m0, a);
			m1 = wide ? _mm256_max_epu32(m1, b) : _mm256_max_epu16(m1, b);
		}
		if (c < e) {
			__m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)c), mask);
			m0 = wide ? _mm256_max_epu32(m0, a) : _mm256_max_epu16(m0, a);
		}
		uint32_t top = wide ? hmax_u32_avx2(_mm256_max_epu32(m0, m1)) :
				      hmax_u16_avx2(_mm256_max_epu16(m0, m1));
		ok = absmax_finish(dt, top, amax + j) && ok;
	}
	if (full < n)
		ok = absmax_raw_body(dt, p + full * esz, n - full, cell, amax + full / cell) && ok;
	return ok;
}

/* e4m3_code on 8 lanes, |t| <= 448: the same integer steps for the normal
 * rounding, the same float multiply and half-to-even rounding for the
 * subnormal one, selected by the same signed comparison. */
__attribute__((target("avx2"), always_inline)) static inline __m256i e4m3_code_avx2(__m256 t)
{
	__m256i u = _mm256_castps_si256(t);
	__m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80));
	__m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
	__m256i r = _mm256_sub_epi32(a, _mm256_set1_epi32(120 << 23));
	r = _mm256_add_epi32(r, _mm256_add_epi32(_mm256_set1_epi32(0x7FFFF),
		_mm256_and_si256(_mm256_srli_epi32(r, 20), _mm256_set1_epi32(1))));
	__m256i normal = _mm256_srli_epi32(r, 20);
	__m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3C800000), a);
	/* cvtps rounds in the FPU's mode, the default half to even, as the
	 * portable add-and-subtract; a <= 448 keeps every lane in range, and
	 * the lanes that are not subnormal are dropped by the blend */
	__m256i sub = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_castsi256_ps(a),
						       _mm256_set1_ps(512.0f)));
	return _mm256_or_si256(sign, _mm256_blendv_epi8(normal, sub, is_sub));
}

/* round_bf16_finite and round_f16_finite on 8 lanes: the same integer
 * steps, the same float add-and-subtract for F16 subnormals, the same
 * signed comparisons as selects. */
__attribute__((target("avx2"), always_inline)) static inline __m256 round_to_avx2(ct_dtype wd,
										   __m256 x)
{
	__m256i u = _mm256_castps_si256(x);
	if (wd == CT_BF16) {
		u = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF),
			_mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
		return _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32((int)0xFFFF0000u)));
	}
	if (wd != CT_F16)
		return x;
	__m256i sign = _mm256_and_si256(u, _mm256_set1_epi32((int)0x80000000u));
	__m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
	__m256i r = _mm256_add_epi32(a, _mm256_add_epi32(_mm256_set1_epi32(0xFFF),
		_mm256_and_si256(_mm256_srli_epi32(a, 13), _mm256_set1_epi32(1))));
	r = _mm256_andnot_si256(_mm256_set1_epi32(0x1FFF), r);
	r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7F800000),
			       _mm256_cmpgt_epi32(r, _mm256_set1_epi32(0x47800000 - 1)));
	const __m256 k = _mm256_set1_ps(0.75f);
	__m256 sub = _mm256_sub_ps(_mm256_add_ps(_mm256_castsi256_ps(a), k), k);
	__m256i m = _mm256_blendv_epi8(_mm256_castps_si256(sub), r,
				       _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x38800000 - 1)));
	return _mm256_castsi256_ps(_mm256_or_si256(sign, m));
}

/* One vector of 8 values of a cell: the steps of quant_span, each an exact
 * IEEE operation or the same bit manipulation, so the same results. */
__attribute__((target("avx2"), always_inline)) static inline __m256i
quant8_avx2(ct_kernel_code code, ct_dtype wd, bool has_z, __m256 x, __m256 s, __m256 z, __m256 lo,
	    __m256 hi)
{
	__m256 t = round_to_avx2(wd, _mm256_div_ps(x, s));
	/* Without a zero point t + 0 is t, or +0 for -0, both on the wd grid
	 * already, where rounding changes nothing: the add stays, for the
	 * sign of zero that e4m3 codes keep; E2M1 codes give -0 and +0 the
	 * same code (only t < 0 sets the sign), so there it goes too. */
	__m256 v = has_z ? round_to_avx2(wd, _mm256_add_ps(t, z)) :
		   code == CT_K_FP4 ? t : _mm256_add_ps(t, z);
	/* The portable clamp by max and min. v is never -0 here: t is on the
	 * wd grid, so t + z is t itself, a zero (+0 when rounding to nearest)
	 * or at least an ulp of t away from zero, and rounding keeps it; so
	 * where v equals a bound the two give the same bits. maxps returns its
	 * second operand for NaN, so NaN becomes lo as in the portable clamp. */
	v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
	/* cvtps rounds half to even (the default mode) as round_int does */
	if (code == CT_K_INT)
		return _mm256_cvtps_epi32(v);
	if (code == CT_K_FP8)
		return e4m3_code_avx2(v);
	/* E2M1 of |v| <= 6 (the caller's bounds) rounded half to even on the
	 * bits, as e4m3_code_avx2: from 1 up the code is the exponent and the
	 * top mantissa bit after rounding off the other 22, less 252 (the
	 * exponent of 1.0 is code 2, a carry into the exponent lands on the
	 * next code); below 1 it is 2|v| rounded to an integer (0, 1 or 2).
	 * Every threshold of ct_fp4_round falls out, ties included. */
	__m256i a = _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7FFFFFFF));
	__m256i r = _mm256_add_epi32(a, _mm256_set1_epi32(0x1FFFFF - (252 << 22)));
	r = _mm256_srli_epi32(_mm256_add_epi32(r, _mm256_and_si256(_mm256_srli_epi32(a, 22),
								   _mm256_set1_epi32(1))), 22);
	__m256i sub = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(2.0f)));
	__m256i idx = _mm256_blendv_epi8(r, sub, _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3F800000), a));
	__m256i neg = _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
	return _mm256_or_si256(idx, _mm256_and_si256(neg, _mm256_set1_epi32(8)));
}

/* The full cells of quant_raw_avx2, specialized by the caller on the code
 * and the two dtypes so that the inner loop is straight code with its
 * constants in registers. Returns the lanes that saw a NaN or infinity. */
__attribute__((target("avx2"), always_inline)) static inline __m256i
quant_cells_avx2(ct_kernel_code code, ct_dtype wd, ct_dtype dt, bool has_z, const uint8_t *p,
		 size_t full, size_t cell, const float *s, const int32_t *z, float lo, float hi,
		 int32_t *q)
{
	__m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
	const __m256i em = _mm256_set1_epi32(0x7F800000);
	__m256i bad = _mm256_setzero_si256();
	for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
		__m256 vs = _mm256_set1_ps(s[j]), vz = _mm256_set1_ps(z ? (float)z[j] : 0.0f);
		for (size_t i = c0; i < c0 + cell; i += 8) {
			__m256i u;
			if (dt == CT_BF16)
				u = _mm256_slli_epi32(_mm256_cvtepu16_epi32(
					_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i))), 16);
			else if (dt == CT_F16)
				u = f16_widen_avx2(_mm256_cvtepu16_epi32(
					_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i))));
			else
				u = _mm256_loadu_si256((const __m256i *)(const void *)(p + 4 * i));
			bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(u, em), em));
			__m256i c = quant8_avx2(code, wd, has_z, _mm256_castsi256_ps(u), vs, vz, vlo,
						vhi);
			_mm256_storeu_si256((__m256i *)(void *)(q + i), c);
		}
	}
	return bad;
}

#define QUANT_CELLS(code_, wd_, dt_)                                                   \
	(z ? quant_cells_avx2(code_, wd_, dt_, true, p, full, cell, s, z, lo, hi, q) :     \
	     quant_cells_avx2(code_, wd_, dt_, false, p, full, cell, s, z, lo, hi, q))
/* the arithmetic is in the weight's dtype, or F32 (NVFP4) */
#define QUANT_CELLS_DT(code_)                                                          \
	(wd == CT_F32 ? (dt == CT_BF16 ? QUANT_CELLS(code_, CT_F32, CT_BF16) :             \
			 dt == CT_F16 ? QUANT_CELLS(code_, CT_F32, CT_F16) :                \
			 QUANT_CELLS(code_, CT_F32, CT_F32)) :                              \
	 wd == CT_BF16 ? QUANT_CELLS(code_, CT_BF16, CT_BF16) : QUANT_CELLS(code_, CT_F16, CT_F16))

/* BF16, F16 or F32 input, arithmetic in the input's dtype or in F32,
 * integer, e4m3 or E2M1 codes, cells of a multiple of 8: one pass, 8 values
 * at a time; anything else as the portable loops compiled for AVX2. */
__attribute__((target("avx2"))) static bool
quant_raw_avx2(ct_kernel_code code, ct_dtype wd, ct_dtype dt, const void *src, size_t n,
	       size_t cell, const float *s, const int32_t *z, float lo, float hi, int32_t *q)
{
	if ((wd != dt && wd != CT_F32) || (dt != CT_BF16 && dt != CT_F16 && dt != CT_F32) ||
	    cell % 8 != 0 || (code == CT_K_FP4 && !(lo >= -6.0f && hi <= 6.0f)))
		return quant_raw_body(code, wd, dt, src, n, cell, s, z, lo, hi, q);
	const uint8_t *p = src;
	size_t full = n / cell * cell;
	__m256i bad = code == CT_K_INT ? QUANT_CELLS_DT(CT_K_INT) :
		      code == CT_K_FP8 ? QUANT_CELLS_DT(CT_K_FP8) : QUANT_CELLS_DT(CT_K_FP4);
	bool ok = _mm256_testz_si256(bad, bad);
	if (full < n)
		ok = quant_raw_body(code, wd, dt, p + full * (dt == CT_F32 ? 4 : 2), n - full, cell,
				    s + full / cell, z ? z + full / cell : NULL, lo, hi, q + full) && ok;
	return ok;
}

/* 32 codes to 16 bytes: narrow to bytes (packus keeps 0..15), undo the
 * lane interleaving, then join pairs with maddubs (b0 + 16 * b1). */
__attribute__((target("avx2"))) static void pack4_avx2(const int32_t *q, size_t n,
						       int32_t offset, uint8_t *out)
{
	const __m256i off = _mm256_set1_epi32(offset), m15 = _mm256_set1_epi32(15);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	const __m256i mul = _mm256_set1_epi16(0x1001);
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		const __m256i *v = (const __m256i *)(const void *)(q + i);
		__m256i a = _mm256_and_si256(_mm256_add_epi32(_mm256_loadu_si256(v), off), m15);
		__m256i b = _mm256_and_si256(_mm256_add_epi32(_mm256_loadu_si256(v + 1), off), m15);
		__m256i c = _mm256_and_si256(_mm256_add_epi32(_mm256_loadu_si256(v + 2), off), m15);
		__m256i d = _mm256_and_si256(_mm256_add_epi32(_mm256_loadu_si256(v + 3), off), m15);
		__m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, d));
		bytes = _mm256_permutevar8x32_epi32(bytes, perm);
		__m256i pairs = _mm256_maddubs_epi16(bytes, mul);
		__m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(pairs, pairs), 0x08);
		_mm_storeu_si128((__m128i *)(void *)(out + i / 2), _mm256_castsi256_si128(packed));
	}
	pack4_body(q + i, n - i, offset, out + i / 2);
}

/* 32 values to 32 bytes: the low bytes, masked so that the saturating
 * packs keep them, then the lanes put back in order. */
__attribute__((target("avx2"))) static void narrow8_avx2(const int32_t *q, size_t n,
							 uint8_t *out)
{
	const __m256i m = _mm256_set1_epi32(0xFF);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		const __m256i *v = (const __m256i *)(const void *)(q + i);
		__m256i a = _mm256_and_si256(_mm256_loadu_si256(v), m);
		__m256i b = _mm256_and_si256(_mm256_loadu_si256(v + 1), m);
		__m256i c = _mm256_and_si256(_mm256_loadu_si256(v + 2), m);
		__m256i d = _mm256_and_si256(_mm256_loadu_si256(v + 3), m);
		__m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, d));
		bytes = _mm256_permutevar8x32_epi32(bytes, perm);
		_mm256_storeu_si256((__m256i *)(void *)(out + i), bytes);
	}
	narrow8_body(q + i, n - i, out + i);
}

/* fp_f32_to_e4m3 of 8 values at a time: e4m3_code_avx2 where |s| is under
 * 464 (everything that rounds to at most 448), NaN with the sign from 464
 * up (infinities and NaN included), as the portable converter; then the
 * low bytes of 32 codes at once. */
__attribute__((target("avx2"))) static void e4m3_bytes_avx2(const float *s, size_t n,
							    uint8_t *out)
{
	const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), last = _mm256_set1_epi32(0x43F00000 - 1);
	const __m256i nan = _mm256_set1_epi32(0x7F), sign = _mm256_set1_epi32(0x80);
	int32_t c[32];
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		for (int k = 0; k < 4; k++) {
			__m256 v = _mm256_loadu_ps(s + i + 8 * k);
			__m256i u = _mm256_castps_si256(v);
			__m256i over = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), last);
			__m256i sat = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u, 24), sign),
						      nan);
			__m256i code = _mm256_blendv_epi8(e4m3_code_avx2(v), sat, over);
			_mm256_storeu_si256((__m256i *)(void *)(c + 8 * k), code);
		}
		narrow8_avx2(c, 32, out + i);
	}
	e4m3_bytes_portable(s + i, n - i, out + i);
}

__attribute__((target("avx2"))) static void load_avx2(ct_dtype dt, const void *src,
						      float *dst, size_t n)
{
	load_body(dt, src, dst, n);
}
/* The NVFP4 scale of 8 cells: e4m3(clamp(gs * rnd_wd(max(-lo, hi) / 6),
 * +-448)), with 0 replaced by 0.125. max_ps equals fmaxf here (no NaN;
 * the sign of a zero amax cannot matter, both give the 0.125). */
__attribute__((target("avx2"))) static void nvfp4_scales_avx2(ct_dtype wd, const float *lo,
							       const float *hi, size_t n,
							       float gs, float *s)
{
	const __m256 six = _mm256_set1_ps(6.0f), g = _mm256_set1_ps(gs);
	const __m256 top = _mm256_set1_ps(448.0f), bottom = _mm256_set1_ps(-448.0f);
	const __m256 eps = _mm256_set1_ps(0.125f), zero = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 l = _mm256_loadu_ps(lo + i), h = _mm256_loadu_ps(hi + i);
		__m256 a = _mm256_max_ps(_mm256_sub_ps(zero, l), h);
		__m256 v = round_to_avx2(wd, _mm256_div_ps(a, six));
		v = _mm256_mul_ps(g, v);
		v = _mm256_min_ps(_mm256_max_ps(v, bottom), top);
		v = e4m3_value_avx2(e4m3_code_avx2(v));
		v = _mm256_blendv_ps(v, eps, _mm256_cmp_ps(v, zero, _CMP_EQ_OQ));
		_mm256_storeu_ps(s + i, v);
	}
	nvfp4_scales_body(wd, lo + i, hi + i, n - i, gs, s + i);
}

/* The MX scale of 8 cells, for BF16 and F32 weights: the power of two of
 * ct_mx_exponent from the bits of the (BF16-rounded) absmax, 2^127 where
 * that overflows, 2^-127 for exponent 0 (both exact in BF16 and F32, so
 * never 0). */
__attribute__((target("avx2"))) static void mx_scales_avx2(ct_dtype wd, const float *lo,
							    const float *hi, size_t n, int o,
							    float zero_eps, float *s)
{
	if (wd != CT_BF16 && wd != CT_F32) {
		mx_scales_body(wd, lo, hi, n, o, zero_eps, s);
		return;
	}
	const __m256 zero = _mm256_setzero_ps();
	const __m256i carry = _mm256_set1_epi32(0x200000), keep = _mm256_set1_epi32((int)0xFF800000u);
	const __m256i ff = _mm256_set1_epi32(0xFF), off = _mm256_set1_epi32(o);
	const __m256i e_max = _mm256_set1_epi32(254), one = _mm256_set1_epi32(1);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 l = _mm256_loadu_ps(lo + i), h = _mm256_loadu_ps(hi + i);
		__m256 a = _mm256_max_ps(_mm256_sub_ps(zero, l), h);
		if (wd == CT_BF16)
			a = round_to_avx2(CT_BF16, a);
		__m256i bits = _mm256_and_si256(_mm256_add_epi32(_mm256_castps_si256(a), carry), keep);
		__m256i ex = _mm256_and_si256(_mm256_srli_epi32(bits, 23), ff);
		/* 255 (an infinite power of two) stays 255, then becomes 254 */
		__m256i e = _mm256_sub_epi32(ex, off);
		e = _mm256_max_epi32(e, _mm256_setzero_si256());
		e = _mm256_blendv_epi8(e, ff, _mm256_cmpeq_epi32(ex, ff));
		e = _mm256_min_epi32(e, e_max);
		__m256i sb = _mm256_slli_epi32(e, 23);
		sb = _mm256_blendv_epi8(sb, _mm256_set1_epi32(0x00400000),
					_mm256_cmpgt_epi32(one, e));
		_mm256_storeu_si256((__m256i *)(void *)(s + i), sb);
	}
	mx_scales_body(wd, lo + i, hi + i, n - i, o, zero_eps, s + i);
}
#endif

#ifdef CT_NEON_VARIANT
/*
 * The NEON variants (aarch64, where Advanced SIMD is baseline): the
 * algorithms of the AVX2 intrinsics above, four float lanes to a register
 * and two registers a step, so cells of a multiple of 8 take the vector
 * path and everything else, the partial last cell included, the portable
 * code, as there. Where the two instruction sets differ in a way that could
 * change bits, the code follows the portable expression rather than the x86
 * instruction: FMIN, FMAX and their -NM forms order -0 below +0 and treat
 * NaN otherwise than minps/maxps and the portable ternaries, so min, max
 * and the clamp are a compare and a select, the ternary itself. The F16
 * conversions (FCVTL, FCVTN) are exact IEEE conversions under the default
 * FPCR (IEEE half, no flush to zero), which Linux starts a process with and
 * which the portable code's rounding assumes as well.
 */

/* x < l ? x : l and x > h ? x : h, the portable loop's selects: NaN is never
 * taken, so an accumulator holds its start or a value beyond it, and with
 * lo <= 0 <= hi on entry every zero it holds is that start's. */
ALWAYS_INLINE float32x4_t min_sel_neon(float32x4_t x, float32x4_t l)
{
	return vbslq_f32(vcltq_f32(x, l), x, l);
}

ALWAYS_INLINE float32x4_t max_sel_neon(float32x4_t x, float32x4_t h)
{
	return vbslq_f32(vcgtq_f32(x, h), x, h);
}

/* Eight elements of dtype dt (BF16, F16, F32) from byte offset i * size at
 * p, widened to two float vectors; bad gains the lanes whose exponent bits
 * are all set (NaN, Inf). Loads are of bytes: rows need no alignment.
 * BF16 widens by shifting into the top half; F16 by FCVTL, exact for every
 * half, subnormals included, which differs from fp_f16_to_f32 only in
 * quieting a signaling NaN: min/max skip NaN, and the quantizer's division
 * quiets it anyway. */
ALWAYS_INLINE float32x4x2_t load8_neon(ct_dtype dt, const uint8_t *p, size_t i,
				       uint32x4_t *bad)
{
	float32x4x2_t x;
	if (dt == CT_F32) {
		uint32x4_t a = vreinterpretq_u32_u8(vld1q_u8(p + 4 * i));
		uint32x4_t b = vreinterpretq_u32_u8(vld1q_u8(p + 4 * i + 16));
		const uint32x4_t em = vdupq_n_u32(0x7F800000);
		*bad = vorrq_u32(*bad, vceqq_u32(vandq_u32(a, em), em));
		*bad = vorrq_u32(*bad, vceqq_u32(vandq_u32(b, em), em));
		x.val[0] = vreinterpretq_f32_u32(a);
		x.val[1] = vreinterpretq_f32_u32(b);
		return x;
	}
	uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p + 2 * i));
	const uint16x8_t em = vdupq_n_u16(dt == CT_BF16 ? 0x7F80 : 0x7C00);
	*bad = vorrq_u32(*bad, vreinterpretq_u32_u16(vceqq_u16(vandq_u16(h, em), em)));
	if (dt == CT_BF16) {
		x.val[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
		x.val[1] = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
	} else {
		float16x8_t f = vreinterpretq_f16_u16(h);
		x.val[0] = vcvt_f32_f16(vget_low_f16(f));
		x.val[1] = vcvt_high_f32_f16(f);
	}
	return x;
}

/* The full cells of minmax_raw_neon, specialized on the dtype by the caller.
 * Two accumulators per bound (one per register of a step) halve the chain of
 * dependent selects; they and then the lanes combine in any order (see
 * min_sel_neon), so FMINV and FMAXV, which never see a NaN here, finish. */
ALWAYS_INLINE uint32x4_t minmax_cells_neon(ct_dtype dt, const uint8_t *p, size_t full,
					   size_t cell, float *lo, float *hi)
{
	uint32x4_t bad = vdupq_n_u32(0);
	for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
		float32x4_t la = vdupq_n_f32(lo[j]), lb = la;
		float32x4_t ha = vdupq_n_f32(hi[j]), hb = ha;
		for (size_t i = c0; i < c0 + cell; i += 8) {
			float32x4x2_t x = load8_neon(dt, p, i, &bad);
			la = min_sel_neon(x.val[0], la);
			ha = max_sel_neon(x.val[0], ha);
			lb = min_sel_neon(x.val[1], lb);
			hb = max_sel_neon(x.val[1], hb);
		}
		lo[j] = vminvq_f32(min_sel_neon(lb, la));
		hi[j] = vmaxvq_f32(max_sel_neon(hb, ha));
	}
	return bad;
}

/* BF16, F16 or F32 cells of a multiple of 8: eight values a step, no widened
 * copy; anything else the portable way, as is the partial last cell. */
static bool minmax_raw_neon(ct_dtype dt, const void *src, size_t n, size_t cell, float *lo,
			    float *hi)
{
	if ((dt != CT_BF16 && dt != CT_F16 && dt != CT_F32) || cell % 8 != 0)
		return minmax_raw_body(dt, src, n, cell, lo, hi);
	const uint8_t *p = src;
	size_t full = n / cell * cell;
	uint32x4_t bad = dt == CT_BF16 ? minmax_cells_neon(CT_BF16, p, full, cell, lo, hi) :
			 dt == CT_F16 ? minmax_cells_neon(CT_F16, p, full, cell, lo, hi) :
			 minmax_cells_neon(CT_F32, p, full, cell, lo, hi);
	bool ok = vmaxvq_u32(bad) == 0;
	if (full < n)
		ok = minmax_raw_body(dt, p + full * (dt == CT_F32 ? 4 : 2), n - full, cell,
				     lo + full / cell, hi + full / cell) && ok;
	return ok;
}

/* absmax_raw_body for 16-bit cells of a multiple of 8 and F32 cells of a
 * multiple of 4: an and and an integer max per register, UMAXV per cell. */
static bool absmax_raw_neon(ct_dtype dt, const void *src, size_t n, size_t cell, float *amax)
{
	bool wide = dt == CT_F32;
	if (!(wide ? cell % 4 == 0 : (dt == CT_BF16 || dt == CT_F16) && cell % 8 == 0))
		return absmax_raw_body(dt, src, n, cell, amax);
	const uint8_t *p = src;
	size_t full = n / cell * cell, esz = wide ? 4 : 2;
	bool ok = true;
	for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
		const uint8_t *c = p + c0 * esz, *e = c + cell * esz;
		uint32_t top;
		if (wide) {
			uint32x4_t m = vdupq_n_u32(0);
			for (; c < e; c += 16)
				m = vmaxq_u32(m, vandq_u32(vld1q_u32((const uint32_t *)(const void *)c),
							  vdupq_n_u32(0x7FFFFFFF)));
			top = vmaxvq_u32(m);
		} else {
			uint16x8_t m = vdupq_n_u16(0);
			for (; c < e; c += 16)
				m = vmaxq_u16(m, vandq_u16(vld1q_u16((const uint16_t *)(const void *)c),
							  vdupq_n_u16(0x7FFF)));
			top = vmaxvq_u16(m);
		}
		ok = absmax_finish(dt, top, amax + j) && ok;
	}
	if (full < n)
		ok = absmax_raw_body(dt, p + full * esz, n - full, cell, amax + full / cell) && ok;
	return ok;
}

/* round_bf16_finite and round_f16_finite on 4 lanes, as round_to_avx2: the
 * same integer steps, the same float add-and-subtract for F16 subnormals,
 * and the portable code's comparisons, which are signed (a sum wrapped by a
 * NaN's bits is no overflow). */
ALWAYS_INLINE float32x4_t round_to_neon(ct_dtype wd, float32x4_t x)
{
	uint32x4_t u = vreinterpretq_u32_f32(x);
	const uint32x4_t one = vdupq_n_u32(1);
	if (wd == CT_BF16) {
		u = vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7FFF), vandq_u32(vshrq_n_u32(u, 16), one)));
		return vreinterpretq_f32_u32(vandq_u32(u, vdupq_n_u32(0xFFFF0000u)));
	}
	if (wd != CT_F16)
		return x;
	uint32x4_t sign = vandq_u32(u, vdupq_n_u32(0x80000000u));
	uint32x4_t a = vandq_u32(u, vdupq_n_u32(0x7FFFFFFF));
	uint32x4_t r = vaddq_u32(a, vaddq_u32(vdupq_n_u32(0xFFF), vandq_u32(vshrq_n_u32(a, 13), one)));
	r = vbicq_u32(r, vdupq_n_u32(0x1FFF));
	uint32x4_t over = vcgeq_s32(vreinterpretq_s32_u32(r), vdupq_n_s32(0x47800000));
	r = vbslq_u32(over, vdupq_n_u32(0x7F800000), r);
	const float32x4_t k = vdupq_n_f32(0.75f);
	float32x4_t sub = vsubq_f32(vaddq_f32(vreinterpretq_f32_u32(a), k), k);
	uint32x4_t normal = vcgeq_s32(vreinterpretq_s32_u32(a), vdupq_n_s32(0x38800000));
	uint32x4_t m = vbslq_u32(normal, r, vreinterpretq_u32_f32(sub));
	return vreinterpretq_f32_u32(vorrq_u32(sign, m));
}

/* e4m3_code on 4 lanes, |t| <= 448, as e4m3_code_avx2: the integer steps of
 * the normal rounding, the float multiply and add-and-subtract of the
 * subnormal one (from 0 in lanes that are not subnormal, so that no large
 * value reaches the conversion), selected by the same signed comparison. */
ALWAYS_INLINE int32x4_t e4m3_code_neon(float32x4_t t)
{
	uint32x4_t u = vreinterpretq_u32_f32(t);
	uint32x4_t sign = vandq_u32(vshrq_n_u32(u, 24), vdupq_n_u32(0x80));
	uint32x4_t a = vandq_u32(u, vdupq_n_u32(0x7FFFFFFF));
	uint32x4_t r = vsubq_u32(a, vdupq_n_u32(UINT32_C(120) << 23));
	r = vaddq_u32(r, vaddq_u32(vdupq_n_u32(0x7FFFF),
				   vandq_u32(vshrq_n_u32(r, 20), vdupq_n_u32(1))));
	uint32x4_t normal = vshrq_n_u32(r, 20);
	uint32x4_t is_sub = vcltq_s32(vreinterpretq_s32_u32(a), vdupq_n_s32(0x3C800000));
	float32x4_t v = vmulq_f32(vreinterpretq_f32_u32(vandq_u32(a, is_sub)), vdupq_n_f32(512.0f));
	const float32x4_t magic = vdupq_n_f32(8388608.0f);
	int32x4_t sub = vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
	uint32x4_t code = vbslq_u32(is_sub, vreinterpretq_u32_s32(sub), normal);
	return vreinterpretq_s32_u32(vorrq_u32(sign, code));
}

/* One register of 4 values of a cell: the steps of quant_span, each an exact
 * IEEE operation or the same bit manipulation, so the same results. */
ALWAYS_INLINE int32x4_t quant4_neon(ct_kernel_code code, ct_dtype wd, float32x4_t x,
				    float32x4_t s, float32x4_t z, float32x4_t lo, float32x4_t hi)
{
	float32x4_t t = round_to_neon(wd, vdivq_f32(x, s));
	float32x4_t v = round_to_neon(wd, vaddq_f32(t, z));
	/* v > hi ? hi : v >= lo ? v : lo, as two selects: NaN fails both tests
	 * and becomes lo, and a bound is taken only where the portable clamp
	 * takes it, so no argument about the sign of zero is needed */
	v = vbslq_f32(vcgtq_f32(v, hi), hi, vbslq_f32(vcgeq_f32(v, lo), v, lo));
	if (code == CT_K_INT) {
		/* integral after the magic add and subtract, so FCVTZS's
		 * truncation is the portable cast */
		const float32x4_t magic = vdupq_n_f32(12582912.0f);
		return vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
	}
	if (code == CT_K_FP8)
		return e4m3_code_neon(v);
	/* E2M1: the index is the number of round-half-even thresholds passed;
	 * a passed comparison is all ones, -1, so the sum is minus the count */
	float32x4_t a = vabsq_f32(v);
	uint32x4_t idx = vcgtq_f32(a, vdupq_n_f32(0.25f));
	idx = vaddq_u32(idx, vcgeq_f32(a, vdupq_n_f32(0.75f)));
	idx = vaddq_u32(idx, vcgtq_f32(a, vdupq_n_f32(1.25f)));
	idx = vaddq_u32(idx, vcgeq_f32(a, vdupq_n_f32(1.75f)));
	idx = vaddq_u32(idx, vcgtq_f32(a, vdupq_n_f32(2.5f)));
	idx = vaddq_u32(idx, vcgeq_f32(a, vdupq_n_f32(3.5f)));
	idx = vaddq_u32(idx, vcgtq_f32(a, vdupq_n_f32(5.0f)));
	idx = vsubq_u32(vdupq_n_u32(0), idx);
	uint32x4_t neg = vandq_u32(vcltq_f32(v, vdupq_n_f32(0.0f)), vdupq_n_u32(8));
	return vreinterpretq_s32_u32(vorrq_u32(idx, neg));
}

/* The full cells of quant_raw_neon, specialized by the caller on the code
 * and the two dtypes so that the inner loop is straight code. Returns the
 * lanes that saw a NaN or infinity. */
ALWAYS_INLINE uint32x4_t quant_cells_neon(ct_kernel_code code, ct_dtype wd, ct_dtype dt,
					  const uint8_t *p, size_t full, size_t cell,
					  const float *s, const int32_t *z, float lo, float hi,
					  int32_t *q)
{
	const float32x4_t vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
	uint32x4_t bad = vdupq_n_u32(0);
	for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
		float32x4_t vs = vdupq_n_f32(s[j]), vz = vdupq_n_f32(z ? (float)z[j] : 0.0f);
		for (size_t i = c0; i < c0 + cell; i += 8) {
			float32x4x2_t x = load8_neon(dt, p, i, &bad);
			vst1q_s32(q + i, quant4_neon(code, wd, x.val[0], vs, vz, vlo, vhi));
			vst1q_s32(q + i + 4, quant4_neon(code, wd, x.val[1], vs, vz, vlo, vhi));
		}
	}
	return bad;
}

#define QUANT_CELLS_NEON(code_, wd_, dt_) \
	quant_cells_neon(code_, wd_, dt_, p, full, cell, s, z, lo, hi, q)
/* the arithmetic is in the weight's dtype, or F32 (NVFP4) */
#define QUANT_CELLS_DT_NEON(code_)                                                       \
	(wd == CT_F32 ? (dt == CT_BF16 ? QUANT_CELLS_NEON(code_, CT_F32, CT_BF16) :          \
			 dt == CT_F16 ? QUANT_CELLS_NEON(code_, CT_F32, CT_F16) :             \
			 QUANT_CELLS_NEON(code_, CT_F32, CT_F32)) :                           \
	 wd == CT_BF16 ? QUANT_CELLS_NEON(code_, CT_BF16, CT_BF16) :                        \
			 QUANT_CELLS_NEON(code_, CT_F16, CT_F16))

/* As quant_raw_avx2: BF16, F16 or F32 input, arithmetic in the input's dtype
 * or in F32, integer, e4m3 or E2M1 codes, cells of a multiple of 8, eight
 * values a step; anything else, and the partial last cell, the portable way. */
static bool quant_raw_neon(ct_kernel_code code, ct_dtype wd, ct_dtype dt, const void *src,
			   size_t n, size_t cell, const float *s, const int32_t *z, float lo,
			   float hi, int32_t *q)
{
	if ((wd != dt && wd != CT_F32) || (dt != CT_BF16 && dt != CT_F16 && dt != CT_F32) ||
	    cell % 8 != 0 || (code == CT_K_FP4 && !(lo >= -6.0f && hi <= 6.0f)))
		return quant_raw_body(code, wd, dt, src, n, cell, s, z, lo, hi, q);
	const uint8_t *p = src;
	size_t full = n / cell * cell;
	uint32x4_t bad = code == CT_K_INT ? QUANT_CELLS_DT_NEON(CT_K_INT) :
			 code == CT_K_FP8 ? QUANT_CELLS_DT_NEON(CT_K_FP8) :
			 QUANT_CELLS_DT_NEON(CT_K_FP4);
	bool ok = vmaxvq_u32(bad) == 0;
	if (full < n)
		ok = quant_raw_body(code, wd, dt, p + full * (dt == CT_F32 ? 4 : 2), n - full, cell,
				    s + full / cell, z ? z + full / cell : NULL, lo, hi, q + full) && ok;
	return ok;
}

/* 32 codes to 16 bytes: LD2 splits the even and odd codes, SLI puts each
 * odd one (plus the offset) above its even neighbour's low nibble, and two
 * narrowings keep the low byte of each pair, which is the pair's byte. */
static void pack4_neon(const int32_t *q, size_t n, int32_t offset, uint8_t *out)
{
	const int32x4_t off = vdupq_n_s32(offset);
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		uint32x4_t pairs[4];
		for (int k = 0; k < 4; k++) {
			int32x4x2_t c = vld2q_s32(q + i + 8 * k);
			uint32x4_t even = vreinterpretq_u32_s32(vaddq_s32(c.val[0], off));
			uint32x4_t odd = vreinterpretq_u32_s32(vaddq_s32(c.val[1], off));
			pairs[k] = vsliq_n_u32(even, odd, 4);
		}
		uint16x8_t h0 = vmovn_high_u32(vmovn_u32(pairs[0]), pairs[1]);
		uint16x8_t h1 = vmovn_high_u32(vmovn_u32(pairs[2]), pairs[3]);
		vst1q_u8(out + i / 2, vmovn_high_u16(vmovn_u16(h0), h1));
	}
	pack4_body(q + i, n - i, offset, out + i / 2);
}

/* 16 values to 16 bytes: narrowing keeps the low half, twice. */
static void narrow8_neon(const int32_t *q, size_t n, uint8_t *out)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		uint32x4_t a = vreinterpretq_u32_s32(vld1q_s32(q + i));
		uint32x4_t b = vreinterpretq_u32_s32(vld1q_s32(q + i + 4));
		uint32x4_t c = vreinterpretq_u32_s32(vld1q_s32(q + i + 8));
		uint32x4_t d = vreinterpretq_u32_s32(vld1q_s32(q + i + 12));
		uint16x8_t ab = vmovn_high_u32(vmovn_u32(a), b);
		uint16x8_t cd = vmovn_high_u32(vmovn_u32(c), d);
		vst1q_u8(out + i, vmovn_high_u16(vmovn_u16(ab), cd));
	}
	narrow8_body(q + i, n - i, out + i);
}

/* As pack_avx2: 4-bit words are the nibble bytes in order (little-endian),
 * the rest of a partial last word zero; other widths the portable way. */
static void pack_neon(const int32_t *q, size_t n, int32_t offset, unsigned bits,
		      uint32_t *words)
{
	if (bits != 4) {
		pack_body(q, n, offset, bits, words);
		return;
	}
	size_t nw = (n + 7) / 8;
	uint8_t *b = (uint8_t *)words;
	pack4_neon(q, n, offset, b);
	memset(b + (n + 1) / 2, 0, nw * 4 - (n + 1) / 2);
}

/* fp_e4m3_to_f32 of the low bytes of 4 codes, as e4m3_value_avx2: exponent
 * and mantissa move up together (rebias by adding 120 << 23), subnormals
 * are m * 2^-9 (exact), 0x7F with either sign is the quiet NaN. */
ALWAYS_INLINE float32x4_t e4m3_value_neon(int32x4_t c)
{
	uint32x4_t q = vreinterpretq_u32_s32(c);
	uint32x4_t mag = vandq_u32(q, vdupq_n_u32(0x7F));
	uint32x4_t sign = vshlq_n_u32(vandq_u32(q, vdupq_n_u32(0x80)), 24);
	uint32x4_t normal = vaddq_u32(vshlq_n_u32(mag, 20), vdupq_n_u32(UINT32_C(120) << 23));
	float32x4_t sub = vmulq_f32(vcvtq_f32_u32(vandq_u32(q, vdupq_n_u32(7))), vdupq_n_f32(0x1p-9f));
	uint32x4_t r = vbslq_u32(vcltq_u32(mag, vdupq_n_u32(8)), vreinterpretq_u32_f32(sub), normal);
	r = vbslq_u32(vceqq_u32(mag, vdupq_n_u32(0x7F)), vdupq_n_u32(0x7FC00000), r);
	return vreinterpretq_f32_u32(vorrq_u32(r, sign));
}

/* nvfp4_scales_avx2 on 4 lanes: the same steps; vmaxq and vminq equal
 * fmaxf and fminf here (no NaN reaches them; a zero amax of either sign
 * gives the 0.125). */
static void nvfp4_scales_neon(ct_dtype wd, const float *lo, const float *hi, size_t n,
			      float gs, float *s)
{
	const float32x4_t six = vdupq_n_f32(6.0f), g = vdupq_n_f32(gs);
	const float32x4_t top = vdupq_n_f32(448.0f), bottom = vdupq_n_f32(-448.0f);
	const float32x4_t eps = vdupq_n_f32(0.125f), zero = vdupq_n_f32(0.0f);
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		float32x4_t a = vmaxq_f32(vsubq_f32(zero, vld1q_f32(lo + i)), vld1q_f32(hi + i));
		float32x4_t v = vmulq_f32(g, round_to_neon(wd, vdivq_f32(a, six)));
		v = vminq_f32(vmaxq_f32(v, bottom), top);
		v = e4m3_value_neon(e4m3_code_neon(v));
		vst1q_f32(s + i, vbslq_f32(vceqq_f32(v, zero), eps, v));
	}
	nvfp4_scales_body(wd, lo + i, hi + i, n - i, gs, s + i);
}

/* mx_scales_avx2 on 4 lanes, BF16 and F32 weights: the same integer steps
 * on the bits of the (BF16-rounded) absmax. */
static void mx_scales_neon(ct_dtype wd, const float *lo, const float *hi, size_t n, int o,
			   float zero_eps, float *s)
{
	if (wd != CT_BF16 && wd != CT_F32) {
		mx_scales_body(wd, lo, hi, n, o, zero_eps, s);
		return;
	}
	const float32x4_t zero = vdupq_n_f32(0.0f);
	const int32x4_t ff = vdupq_n_s32(0xFF), off = vdupq_n_s32(o);
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		float32x4_t a = vmaxq_f32(vsubq_f32(zero, vld1q_f32(lo + i)), vld1q_f32(hi + i));
		if (wd == CT_BF16)
			a = round_to_neon(CT_BF16, a);
		uint32x4_t bits = vandq_u32(vaddq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x200000)),
					    vdupq_n_u32(0xFF800000u));
		int32x4_t ex = vandq_s32(vreinterpretq_s32_u32(vshrq_n_u32(bits, 23)), ff);
		/* 255 (an infinite power of two) stays 255, then becomes 254 */
		int32x4_t e = vmaxq_s32(vsubq_s32(ex, off), vdupq_n_s32(0));
		e = vbslq_s32(vceqq_s32(ex, ff), ff, e);
		e = vminq_s32(e, vdupq_n_s32(254));
		uint32x4_t sb = vshlq_n_u32(vreinterpretq_u32_s32(e), 23);
		sb = vbslq_u32(vcltq_s32(e, vdupq_n_s32(1)), vdupq_n_u32(0x00400000), sb);
		vst1q_f32(s + i, vreinterpretq_f32_u32(sb));
	}
	mx_scales_body(wd, lo + i, hi + i, n - i, o, zero_eps, s + i);
}

/* e4m3_bytes_avx2 on 4 lanes: e4m3_code_neon under 464, NaN with the sign
 * from 464 up, then the low bytes of 8 codes at once. */
static void e4m3_bytes_neon(const float *s, size_t n, uint8_t *out)
{
	const uint32x4_t abs = vdupq_n_u32(0x7FFFFFFF);
	const int32x4_t last = vdupq_n_s32(0x43F00000 - 1);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint16x4_t h[2];
		for (int k = 0; k < 2; k++) {
			float32x4_t v = vld1q_f32(s + i + 4 * k);
			uint32x4_t u = vreinterpretq_u32_f32(v);
			uint32x4_t over = vcgtq_s32(vreinterpretq_s32_u32(vandq_u32(u, abs)), last);
			uint32x4_t sat = vorrq_u32(vandq_u32(vshrq_n_u32(u, 24), vdupq_n_u32(0x80)),
						   vdupq_n_u32(0x7F));
			uint32x4_t code = vbslq_u32(over, sat, vreinterpretq_u32_s32(e4m3_code_neon(v)));
			h[k] = vmovn_u32(code);
		}
		vst1_u8(out + i, vmovn_u16(vcombine_u16(h[0], h[1])));
	}
	e4m3_bytes_portable(s + i, n - i, out + i);
}

/* fp4_value of 4 codes from the bits of the E2M1 nibble: index i >= 2 is
 * 2^(i/2 - 1) * (1 + (i & 1) / 2), so its float bits are i << 22 plus the
 * bits of 0.5; indices 0 and 1 are i * 0.5 (exact); bit 3 is the sign. */
ALWAYS_INLINE float32x4_t fp4_value_neon(int32x4_t c)
{
	uint32x4_t q = vreinterpretq_u32_s32(c);
	uint32x4_t idx = vandq_u32(q, vdupq_n_u32(7));
	uint32x4_t normal = vaddq_u32(vshlq_n_u32(idx, 22), vdupq_n_u32(0x3F000000));
	float32x4_t small = vmulq_f32(vcvtq_f32_u32(idx), vdupq_n_f32(0.5f));
	uint32x4_t r = vbslq_u32(vcltq_u32(idx, vdupq_n_u32(2)), vreinterpretq_u32_f32(small), normal);
	uint32x4_t sign = vshlq_n_u32(vandq_u32(q, vdupq_n_u32(8)), 28);
	return vreinterpretq_f32_u32(vorrq_u32(r, sign));
}

ALWAYS_INLINE float32x4_t code_value_neon(ct_kernel_code code, int32x4_t c, float32x4_t z)
{
	if (code == CT_K_INT)
		return vsubq_f32(vcvtq_f32_s32(c), z);
	return code == CT_K_FP8 ? e4m3_value_neon(c) : fp4_value_neon(c);
}

/* The full cells of dequant_neon, specialized by the caller on the code and
 * the dtype, eight values a step: the product exactly as the portable loop
 * forms it, rounded to the dtype as round_to does, then stored as
 * store_as would: BF16 is the top half (the value is on the BF16 grid, so
 * the converter's own rounding changes nothing) except NaN, which the
 * converter makes 0x7FC0 (the same unsigned comparison); F16 by FCVTN, with
 * nothing to round, because round_f16_finite returns only values on the F16
 * grid and infinities, never NaN (a NaN's bits come out as an infinity or
 * -0), and fp_f32_to_f16 converts those exactly too. */
ALWAYS_INLINE void dequant_cells_neon(ct_kernel_code code, ct_dtype sd, const int32_t *q,
				      size_t full, size_t cell, const float *s, const int32_t *z,
				      uint8_t *o)
{
	for (size_t c0 = 0, j = 0; c0 < full; c0 += cell, j++) {
		float32x4_t vs = vdupq_n_f32(s[j]), vz = vdupq_n_f32(z ? (float)z[j] : 0.0f);
		for (size_t i = c0; i < c0 + cell; i += 8) {
			float32x4_t a = vmulq_f32(code_value_neon(code, vld1q_s32(q + i), vz), vs);
			float32x4_t b = vmulq_f32(code_value_neon(code, vld1q_s32(q + i + 4), vz), vs);
			a = round_to_neon(sd, a);
			b = round_to_neon(sd, b);
			if (sd == CT_F32) {
				vst1q_u8(o + 4 * i, vreinterpretq_u8_f32(a));
				vst1q_u8(o + 4 * i + 16, vreinterpretq_u8_f32(b));
			} else if (sd == CT_F16) {
				float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(a), b);
				vst1q_u8(o + 2 * i, vreinterpretq_u8_f16(h));
			} else {
				uint32x4_t ua = vreinterpretq_u32_f32(a), ub = vreinterpretq_u32_f32(b);
				const uint32x4_t abs = vdupq_n_u32(0x7FFFFFFF), inf = vdupq_n_u32(0x7F800000);
				uint32x4_t na = vcgtq_u32(vandq_u32(ua, abs), inf);
				uint32x4_t nb = vcgtq_u32(vandq_u32(ub, abs), inf);
				uint16x8_t h = vshrn_high_n_u32(vshrn_n_u32(ua, 16), ub, 16);
				uint16x8_t nan = vmovn_high_u32(vmovn_u32(na), nb);
				h = vbslq_u16(nan, vdupq_n_u16(0x7FC0), h);
				vst1q_u8(o + 2 * i, vreinterpretq_u8_u16(h));
			}
		}
	}
}

#define DEQUANT_CELLS_NEON(code_)                                                     \
	(sd == CT_BF16 ? dequant_cells_neon(code_, CT_BF16, q, full, cell, s, z, o) :     \
	 sd == CT_F16 ? dequant_cells_neon(code_, CT_F16, q, full, cell, s, z, o) :       \
	 dequant_cells_neon(code_, CT_F32, q, full, cell, s, z, o))

/* Integer, e4m3 or E2M1 codes, output in the scale's dtype (BF16, F16 or
 * F32), cells of a multiple of 8: eight values a step. Unlike the AVX2
 * variant this covers F16 and E2M1 too: FCVTN and the E2M1 bits are cheap
 * here. Other output dtypes, other cells (the one-column cells of the
 * activation order) and the partial last cell the portable way. */
static void dequant_neon(ct_kernel_code code, ct_dtype sd, ct_dtype out_dt, const int32_t *q,
			 size_t n, size_t cell, const float *s, const int32_t *z, void *out)
{
	if (sd != out_dt || (sd != CT_BF16 && sd != CT_F16 && sd != CT_F32) || cell % 8 != 0) {
		DEQUANT_CASES(dequant_body)
		return;
	}
	uint8_t *o = out;
	size_t full = n / cell * cell;
	if (code == CT_K_INT)
		DEQUANT_CELLS_NEON(CT_K_INT);
	else if (code == CT_K_FP8)
		DEQUANT_CELLS_NEON(CT_K_FP8);
	else
		DEQUANT_CELLS_NEON(CT_K_FP4);
	if (full < n)
		dequant_body(code, sd, out_dt, q + full, n - full, cell, s + full / cell,
			     z ? z + full / cell : NULL, o + full * ct_dtype_size(out_dt));
}

/* 16 codes of 8 bits (zero-extended) minus the offset to q. */
ALWAYS_INLINE void store16_neon(int32_t *q, uint8x16_t codes, int32x4_t off)
{
	uint16x8_t lo = vmovl_u8(vget_low_u8(codes)), hi = vmovl_high_u8(codes);
	vst1q_s32(q, vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo))), off));
	vst1q_s32(q + 4, vsubq_s32(vreinterpretq_s32_u32(vmovl_high_u16(lo)), off));
	vst1q_s32(q + 8, vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi))), off));
	vst1q_s32(q + 12, vsubq_s32(vreinterpretq_s32_u32(vmovl_high_u16(hi)), off));
}

/* 4-bit codes 16 at a time (8 bytes split into nibbles and zipped back into
 * order, low nibble first), 8-bit ones 16 bytes at a time; other widths and
 * what is left (from a word boundary) the portable way. */
static void unpack_neon(const uint8_t *words, size_t n, int32_t offset, unsigned bits,
			int32_t *q)
{
	if (bits != 4 && bits != 8) {
		unpack_body(words, n, offset, bits, q);
		return;
	}
	const int32x4_t off = vdupq_n_s32(offset);
	size_t i = 0;
	if (bits == 4) {
		for (; i + 16 <= n; i += 16) {
			uint8x8_t b = vld1_u8(words + i / 2);
			uint8x8_t low = vand_u8(b, vdup_n_u8(15)), high = vshr_n_u8(b, 4);
			store16_neon(q + i, vcombine_u8(vzip1_u8(low, high), vzip2_u8(low, high)), off);
		}
		unpack_body(words + i / 2, n - i, offset, bits, q + i);
		return;
	}
	for (; i + 16 <= n; i += 16)
		store16_neon(q + i, vld1q_u8(words + i), off);
	unpack_body(words + i, n - i, offset, bits, q + i);
}
#endif

bool ct_k_have_simd(void)
{
#ifdef CT_AVX2_VARIANT
	return __builtin_cpu_supports("avx2");
#elif defined(CT_NEON_VARIANT)
	return true;
#else
	return false;
#endif
}

void ct_k_quant(bool simd, ct_kernel_code code, ct_dtype wd, const float *x, size_t n,
		size_t cell, const float *s, const int32_t *z, float lo, float hi, int32_t *q)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		quant_avx2(code, wd, x, n, cell, s, z, lo, hi, q);
		return;
	}
#endif
	(void)simd;
	quant_portable(code, wd, x, n, cell, s, z, lo, hi, q);
}

void ct_k_minmax(bool simd, const float *x, size_t n, size_t cell, float *lo, float *hi)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		minmax_avx2(x, n, cell, lo, hi);
		return;
	}
#endif
	(void)simd;
	minmax_portable(x, n, cell, lo, hi);
}

bool ct_k_minmax_raw(bool simd, ct_dtype dt, const void *src, size_t n, size_t cell,
		     float *lo, float *hi)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd())
		return minmax_raw_avx2(dt, src, n, cell, lo, hi);
#elif defined(CT_NEON_VARIANT)
	if (simd)
		return minmax_raw_neon(dt, src, n, cell, lo, hi);
#endif
	(void)simd;
	return minmax_raw_portable(dt, src, n, cell, lo, hi);
}

bool ct_k_absmax_raw(bool simd, ct_dtype dt, const void *src, size_t n, size_t cell,
		     float *amax)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd())
		return absmax_raw_avx2(dt, src, n, cell, amax);
#elif defined(CT_NEON_VARIANT)
	if (simd)
		return absmax_raw_neon(dt, src, n, cell, amax);
#endif
	(void)simd;
	return absmax_raw_portable(dt, src, n, cell, amax);
}

bool ct_k_quant_raw(bool simd, ct_kernel_code code, ct_dtype wd, ct_dtype dt,
		    const void *src, size_t n, size_t cell, const float *s, const int32_t *z,
		    float lo, float hi, int32_t *q)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd())
		return quant_raw_avx2(code, wd, dt, src, n, cell, s, z, lo, hi, q);
#elif defined(CT_NEON_VARIANT)
	if (simd)
		return quant_raw_neon(code, wd, dt, src, n, cell, s, z, lo, hi, q);
#endif
	(void)simd;
	return quant_raw_portable(code, wd, dt, src, n, cell, s, z, lo, hi, q);
}

void ct_k_pack4(bool simd, const int32_t *q, size_t n, int32_t offset, uint8_t *out)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		pack4_avx2(q, n, offset, out);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		pack4_neon(q, n, offset, out);
		return;
	}
#endif
	(void)simd;
	pack4_portable(q, n, offset, out);
}

void ct_k_e4m3_bytes(bool simd, const float *s, size_t n, uint8_t *out)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		e4m3_bytes_avx2(s, n, out);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		e4m3_bytes_neon(s, n, out);
		return;
	}
#endif
	(void)simd;
	e4m3_bytes_portable(s, n, out);
}

void ct_k_narrow8(bool simd, const int32_t *q, size_t n, uint8_t *out)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		narrow8_avx2(q, n, out);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		narrow8_neon(q, n, out);
		return;
	}
#endif
	(void)simd;
	narrow8_portable(q, n, out);
}

void ct_k_pack(bool simd, const int32_t *q, size_t n, int32_t offset, unsigned bits,
	       uint32_t *words)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		pack_avx2(q, n, offset, bits, words);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		pack_neon(q, n, offset, bits, words);
		return;
	}
#endif
	(void)simd;
	pack_portable(q, n, offset, bits, words);
}

void ct_k_load(bool simd, ct_dtype dt, const void *src, float *dst, size_t n)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		load_avx2(dt, src, dst, n);
		return;
	}
#endif
	(void)simd;
	load_portable(dt, src, dst, n);
}

bool ct_k_all_finite(bool simd, const float *x, size_t n)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd())
		return finite_avx2(x, n);
#endif
	(void)simd;
	return finite_portable(x, n);
}

void ct_k_dequant(bool simd, ct_kernel_code code, ct_dtype sd, ct_dtype out_dt,
		  const int32_t *q, size_t n, size_t cell, const float *s, const int32_t *z,
		  void *out)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		dequant_avx2(code, sd, out_dt, q, n, cell, s, z, out);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		dequant_neon(code, sd, out_dt, q, n, cell, s, z, out);
		return;
	}
#endif
	(void)simd;
	dequant_portable(code, sd, out_dt, q, n, cell, s, z, out);
}

void ct_k_unpack(bool simd, const uint8_t *words, size_t n, int32_t offset, unsigned bits,
		 int32_t *q)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		unpack_avx2(words, n, offset, bits, q);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		unpack_neon(words, n, offset, bits, q);
		return;
	}
#endif
	(void)simd;
	unpack_portable(words, n, offset, bits, q);
}

void ct_k_nvfp4_scales(bool simd, ct_dtype wd, const float *lo, const float *hi, size_t n,
		       float gs, float *s)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		nvfp4_scales_avx2(wd, lo, hi, n, gs, s);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		nvfp4_scales_neon(wd, lo, hi, n, gs, s);
		return;
	}
#endif
	(void)simd;
	nvfp4_scales_portable(wd, lo, hi, n, gs, s);
}

void ct_k_mx_scales(bool simd, ct_dtype wd, const float *lo, const float *hi, size_t n, int o,
		    float zero_eps, float *s)
{
#ifdef CT_AVX2_VARIANT
	if (simd && ct_k_have_simd()) {
		mx_scales_avx2(wd, lo, hi, n, o, zero_eps, s);
		return;
	}
#elif defined(CT_NEON_VARIANT)
	if (simd) {
		mx_scales_neon(wd, lo, hi, n, o, zero_eps, s);
		return;
	}
#endif
	(void)simd;
	mx_scales_portable(wd, lo, hi, n, o, zero_eps, s);
}
