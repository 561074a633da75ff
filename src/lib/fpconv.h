/*
 * fpconv.h - the bit-exact float conversions as inline functions, for the
 * hot loops of the quantization kernels (dtype.c exposes the same functions
 * out of line). Every function reproduces PyTorch bit for bit (FORMAT.md
 * §1.9).
 */
#ifndef CT_FPCONV_H
#define CT_FPCONV_H

#include <stdint.h>
#include <string.h>

static inline uint32_t fp_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float fp_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* m >> s rounded to nearest, ties to even (1 <= s <= 31). */
static inline uint32_t fp_shift_rne(uint32_t m, unsigned s)
{
	uint32_t q = m >> s;
	uint32_t rem = m & ((UINT32_C(1) << s) - 1);
	uint32_t half = UINT32_C(1) << (s - 1);
	return q + (rem > half || (rem == half && (q & 1)));
}

static inline float fp_bf16_to_f32(uint16_t h)
{
	return fp_from_bits((uint32_t)h << 16);
}

/* torch: u += 0x7FFF + ((u >> 16) & 1); NaN -> 0x7FC0. */
static inline uint16_t fp_f32_to_bf16(float f)
{
	uint32_t u = fp_bits(f);
	if ((u & UINT32_C(0x7FFFFFFF)) > UINT32_C(0x7F800000))
		return 0x7FC0;
	u += UINT32_C(0x7FFF) + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static inline float fp_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1F;
	uint32_t m = h & 0x3FF;
	if (e == 0x1F)
		return fp_from_bits(sign | UINT32_C(0x7F800000) | (m << 13));
	if (e == 0) {
		/* subnormal: m * 2^-24 is exact in binary32 */
		float v = (float)m * 0x1p-24f;
		return sign ? -v : v;
	}
	return fp_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

/* IEEE round-to-nearest-even, overflow to infinity, NaN kept quiet. */
static inline uint16_t fp_f32_to_f16(float f)
{
	uint32_t u = fp_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t a = u & UINT32_C(0x7FFFFFFF);
	if (a > UINT32_C(0x7F800000))
		return sign | 0x7E00;
	/* 65520 is the tie between 65504 (odd mantissa) and 2^16: up it goes */
	if (a >= UINT32_C(0x477FF000))
		return sign | 0x7C00;
	if (a >= UINT32_C(0x38800000)) {
		/* normal: rebias 127 -> 15; a mantissa carry bumps the exponent */
		a -= UINT32_C(112) << 23;
		a += UINT32_C(0xFFF) + ((a >> 13) & 1);
		return sign | (uint16_t)(a >> 13);
	}
	/* at or below 2^-25 (the tie with the smallest subnormal) -> 0 */
	if (a <= UINT32_C(0x33000000))
		return sign;
	/* subnormal result in units of 2^-24; may carry into the smallest normal */
	uint32_t e = a >> 23;
	uint32_t m = (a & UINT32_C(0x7FFFFF)) | UINT32_C(0x800000);
	return sign | (uint16_t)fp_shift_rne(m, 126 - e);
}

/* float8_e4m3fn (c10): RNE with subnormals; magnitudes that round past 448,
 * infinities and NaN become NaN (0x7F with the sign). */
static inline uint8_t fp_f32_to_e4m3(float f)
{
	uint32_t u = fp_bits(f);
	uint8_t sign = (uint8_t)((u >> 24) & 0x80);
	uint32_t a = u & UINT32_C(0x7FFFFFFF);
	if (a >= UINT32_C(0x43F00000))
		return sign | 0x7F;
	if (a >= UINT32_C(0x3C800000)) {
		a -= UINT32_C(120) << 23;
		a += UINT32_C(0x7FFFF) + ((a >> 20) & 1);
		return sign | (uint8_t)(a >> 20);
	}
	if (a <= UINT32_C(0x3A800000))
		return sign;
	uint32_t e = a >> 23;
	uint32_t m = (a & UINT32_C(0x7FFFFF)) | UINT32_C(0x800000);
	return sign | (uint8_t)fp_shift_rne(m, 141 - e);
}

static inline float fp_e4m3_to_f32(uint8_t b)
{
	uint32_t sign = (uint32_t)(b & 0x80) << 24;
	uint32_t e = (b >> 3) & 0xF, m = b & 7;
	if ((b & 0x7F) == 0x7F)
		return fp_from_bits(sign | UINT32_C(0x7FC00000));
	if (e == 0) {
		float v = (float)m * 0x1p-9f;
		return sign ? -v : v;
	}
	return fp_from_bits(sign | ((e + 120) << 23) | (m << 20));
}

/* x rounded to the nearest BF16 / F16 value, as a float. */
static inline float fp_round_bf16(float x)
{
	return fp_bf16_to_f32(fp_f32_to_bf16(x));
}

static inline float fp_round_f16(float x)
{
	return fp_f16_to_f32(fp_f32_to_f16(x));
}

#endif
