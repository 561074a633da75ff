#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <string.h>

#include "dtype.h"

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static float ffrom(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* Bitwise equality, so -0.0 != +0.0 and a wrong NaN is caught. */
#define assert_float_bits(a, b) assert_int_equal(fbits(a), fbits(b))

/* ---- names, sizes, classes ---- */

/* Independent copy of FORMAT.md §1.4, in rank order. */
static const struct {
	const char *name;
	ct_dtype dt;
	unsigned bits;
} spec_table[] = {
	{ "BOOL", CT_BOOL, 8 },
	{ "F4", CT_F4, 4 },
	{ "F6_E2M3", CT_F6_E2M3, 6 },
	{ "F6_E3M2", CT_F6_E3M2, 6 },
	{ "U8", CT_U8, 8 },
	{ "I8", CT_I8, 8 },
	{ "F8_E5M2", CT_F8_E5M2, 8 },
	{ "F8_E4M3", CT_F8_E4M3, 8 },
	{ "F8_E8M0", CT_F8_E8M0, 8 },
	{ "F8_E4M3FNUZ", CT_F8_E4M3FNUZ, 8 },
	{ "F8_E5M2FNUZ", CT_F8_E5M2FNUZ, 8 },
	{ "I16", CT_I16, 16 },
	{ "U16", CT_U16, 16 },
	{ "F16", CT_F16, 16 },
	{ "BF16", CT_BF16, 16 },
	{ "I32", CT_I32, 32 },
	{ "U32", CT_U32, 32 },
	{ "F32", CT_F32, 32 },
	{ "C64", CT_C64, 64 },
	{ "F64", CT_F64, 64 },
	{ "I64", CT_I64, 64 },
	{ "U64", CT_U64, 64 },
};
#define SPEC_N (sizeof(spec_table) / sizeof(spec_table[0]))

static void test_name_table(void **state)
{
	(void)state;
	assert_int_equal(SPEC_N, CT_DTYPE_COUNT);
	for (size_t i = 0; i < SPEC_N; i++) {
		assert_int_equal(spec_table[i].dt, (int)i);
		assert_string_equal(ct_dtype_name(spec_table[i].dt), spec_table[i].name);
		ct_dtype out = CT_DTYPE_COUNT;
		assert_true(ct_dtype_from_name(spec_table[i].name, strlen(spec_table[i].name), &out));
		assert_int_equal(out, spec_table[i].dt);
	}
	assert_non_null(ct_dtype_name(CT_DTYPE_COUNT));
}

static void test_name_unknown(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "F", "F8", "BF", "FP32", "F32 ", " F32", "F8_E4M3FN", "F8_E4M3FNU",
		"float32", "I4", "U4", "F128", "C128", "BOOLEAN",
		/* case sensitivity */
		"bf16", "Bf16", "f32", "bool", "f8_e4m3", "F8_e4m3", "u8",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ct_dtype out = CT_C64;
		assert_false(ct_dtype_from_name(bad[i], strlen(bad[i]), &out));
		assert_int_equal(out, CT_C64); /* untouched on failure */
	}
	assert_false(ct_dtype_from_name(NULL, 0, NULL));
}

static void test_name_length_limited(void **state)
{
	(void)state;
	ct_dtype out = CT_C64;
	/* Not NUL-terminated at len: a slice of a JSON buffer. */
	const char buf[] = { 'B', 'F', '1', '6', 'x', 'y' };
	assert_true(ct_dtype_from_name(buf, 4, &out));
	assert_int_equal(out, CT_BF16);
	assert_false(ct_dtype_from_name(buf, 5, &out));
	assert_false(ct_dtype_from_name(buf, 3, &out));

	assert_true(ct_dtype_from_name("F8_E4M3FNUZ", 7, &out));
	assert_int_equal(out, CT_F8_E4M3);
	assert_true(ct_dtype_from_name("F8_E4M3FNUZ", 11, &out));
	assert_int_equal(out, CT_F8_E4M3FNUZ);
	assert_true(ct_dtype_from_name("F16\"}", 3, &out));
	assert_int_equal(out, CT_F16);
	assert_true(ct_dtype_from_name("I8", 2, &out));
	assert_int_equal(out, CT_I8);
	assert_false(ct_dtype_from_name("F16", 2, &out));
	assert_false(ct_dtype_from_name("F16", 0, &out));
	/* An embedded NUL is a byte like any other. */
	assert_false(ct_dtype_from_name("F32\0", 4, &out));
	/* NULL out is allowed when only the answer matters. */
	assert_true(ct_dtype_from_name("U64", 3, NULL));
}

static void test_bits_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < SPEC_N; i++) {
		ct_dtype dt = spec_table[i].dt;
		unsigned bits = spec_table[i].bits;
		assert_int_equal(ct_dtype_bits(dt), bits);
		assert_int_equal(ct_dtype_size(dt), bits % 8 ? 0 : bits / 8);
	}
	assert_int_equal(ct_dtype_size(CT_F4), 0);
	assert_int_equal(ct_dtype_size(CT_F6_E3M2), 0);
	assert_int_equal(ct_dtype_size(CT_BF16), 2);
	assert_int_equal(ct_dtype_size(CT_C64), 8);
	assert_int_equal(ct_dtype_bits(CT_DTYPE_COUNT), 0);
	assert_int_equal(ct_dtype_size(CT_DTYPE_COUNT), 0);
}

static void test_classes(void **state)
{
	(void)state;
	static const ct_dtype floats[] = { CT_F32, CT_F16, CT_BF16, CT_F64,
					   CT_F8_E4M3, CT_F8_E5M2, CT_F8_E8M0 };
	static const ct_dtype ints[] = { CT_BOOL, CT_U8, CT_I8, CT_I16, CT_U16,
					 CT_I32, CT_U32, CT_I64, CT_U64 };
	unsigned nf = 0, ni = 0;
	for (int d = 0; d < CT_DTYPE_COUNT; d++) {
		bool want_f = false, want_i = false;
		for (size_t k = 0; k < sizeof(floats) / sizeof(floats[0]); k++)
			want_f |= floats[k] == (ct_dtype)d;
		for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++)
			want_i |= ints[k] == (ct_dtype)d;
		assert_int_equal(ct_dtype_is_float((ct_dtype)d), want_f);
		assert_int_equal(ct_dtype_is_int((ct_dtype)d), want_i);
		nf += want_f;
		ni += want_i;
	}
	assert_int_equal(nf, 7);
	assert_int_equal(ni, 9);
	assert_false(ct_dtype_is_float(CT_C64));
	assert_false(ct_dtype_is_float(CT_F8_E4M3FNUZ));
	assert_false(ct_dtype_is_int(CT_F4));
}

/* ---- bf16 ---- */

static void test_bf16_examples(void **state)
{
	(void)state;
	assert_int_equal(ct_f32_to_bf16(1.0f), 0x3F80);
	assert_int_equal(ct_f32_to_bf16(-2.0f), 0xC000);
	assert_int_equal(ct_f32_to_bf16(0.0f), 0x0000);
	assert_int_equal(ct_f32_to_bf16(-0.0f), 0x8000);
	assert_int_equal(ct_f32_to_bf16(INFINITY), 0x7F80);
	assert_int_equal(ct_f32_to_bf16(-INFINITY), 0xFF80);
	assert_int_equal(ct_f32_to_bf16(NAN), 0x7FC0);
	assert_int_equal(ct_f32_to_bf16(-NAN), 0x7FC0);
	assert_int_equal(ct_f32_to_bf16(ffrom(0x7F800001)), 0x7FC0);
	assert_int_equal(ct_f32_to_bf16(ffrom(0xFFFFFFFF)), 0x7FC0);
	/* 1 + 2^-8 is the tie between 1 and 1 + 2^-7: to even (1). */
	assert_int_equal(ct_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);
	/* 1 + 3*2^-8 is the tie between 1+2^-7 (odd) and 1+2^-6: up. */
	assert_int_equal(ct_f32_to_bf16(1.0f + 0x3p-8f), 0x3F82);
	assert_int_equal(ct_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-23f), 0x3F81);
	/* The torch formula rounds beyond max into infinity. */
	assert_int_equal(ct_f32_to_bf16(FLT_MAX), 0x7F80);
	assert_int_equal(ct_f32_to_bf16(-FLT_MAX), 0xFF80);
	assert_int_equal(ct_f32_to_bf16(ffrom(0x7F7F7FFF)), 0x7F7F);
	/* Subnormals round like everything else. */
	assert_int_equal(ct_f32_to_bf16(ffrom(0x00008000)), 0x0000);
	assert_int_equal(ct_f32_to_bf16(ffrom(0x00018000)), 0x0002);
	assert_int_equal(ct_f32_to_bf16(ffrom(0x00008001)), 0x0001);
	assert_float_bits(ct_bf16_to_f32(0x3F80), 1.0f);
	assert_float_bits(ct_bf16_to_f32(0x8000), -0.0f);
	assert_float_bits(ct_bf16_to_f32(0x0001), ffrom(0x00010000));
	assert_true(isnan(ct_bf16_to_f32(0x7FC0)));
}

static void test_bf16_exhaustive(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 0x10000; h++) {
		float f = ct_bf16_to_f32((uint16_t)h);
		assert_int_equal(fbits(f), h << 16);
		if (isnan(f)) {
			assert_int_equal(ct_f32_to_bf16(f), 0x7FC0);
			continue;
		}
		assert_int_equal(ct_f32_to_bf16(f), h);
		/* Consecutive codes of one sign up to the infinity code. */
		if ((h & 0x7FFF) >= 0x7F80)
			continue;
		uint32_t lo = h << 16, mid = lo | 0x8000;
		uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
		assert_int_equal(ct_f32_to_bf16(ffrom(mid)), even);
		assert_int_equal(ct_f32_to_bf16(ffrom(mid - 1)), h);
		assert_int_equal(ct_f32_to_bf16(ffrom(mid + 1)), h + 1);
		assert_int_equal(ct_f32_to_bf16(ffrom(lo + 1)), h);
		assert_int_equal(ct_f32_to_bf16(ffrom(lo + 0xFFFF)), h + 1);
	}
}

/* ---- f16 ---- */

static void test_f16_examples(void **state)
{
	(void)state;
	assert_int_equal(ct_f32_to_f16(1.0f), 0x3C00);
	assert_int_equal(ct_f32_to_f16(-2.0f), 0xC000);
	assert_int_equal(ct_f32_to_f16(0.0f), 0x0000);
	assert_int_equal(ct_f32_to_f16(-0.0f), 0x8000);
	assert_int_equal(ct_f32_to_f16(65504.0f), 0x7BFF);
	assert_int_equal(ct_f32_to_f16(0x1p-14f), 0x0400);
	assert_int_equal(ct_f32_to_f16(0x1p-24f), 0x0001);
	assert_int_equal(ct_f32_to_f16(-0x1p-24f), 0x8001);
	assert_int_equal(ct_f32_to_f16(0.1f), 0x2E66);
	assert_int_equal(ct_f32_to_f16(1.0f / 3.0f), 0x3555);
	/* Overflow. */
	assert_int_equal(ct_f32_to_f16(65519.996f), 0x7BFF);
	assert_int_equal(ct_f32_to_f16(65520.0f), 0x7C00);
	assert_int_equal(ct_f32_to_f16(-65520.0f), 0xFC00);
	assert_int_equal(ct_f32_to_f16(70000.0f), 0x7C00);
	assert_int_equal(ct_f32_to_f16(FLT_MAX), 0x7C00);
	assert_int_equal(ct_f32_to_f16(INFINITY), 0x7C00);
	assert_int_equal(ct_f32_to_f16(-INFINITY), 0xFC00);
	/* Underflow: 2^-25 ties to 0, anything above goes to 2^-24. */
	assert_int_equal(ct_f32_to_f16(0x1p-25f), 0x0000);
	assert_int_equal(ct_f32_to_f16(-0x1p-25f), 0x8000);
	assert_int_equal(ct_f32_to_f16(nextafterf(0x1p-25f, 1.0f)), 0x0001);
	assert_int_equal(ct_f32_to_f16(0x3p-25f), 0x0002);
	assert_int_equal(ct_f32_to_f16(0x1p-26f), 0x0000);
	assert_int_equal(ct_f32_to_f16(FLT_MIN), 0x0000);
	assert_int_equal(ct_f32_to_f16(FLT_TRUE_MIN), 0x0000);
	assert_int_equal(ct_f32_to_f16(-FLT_TRUE_MIN), 0x8000);
	/* Largest subnormal carries into the smallest normal. */
	assert_int_equal(ct_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);
	assert_int_equal(ct_f32_to_f16(nextafterf(0x1p-14f - 0x1p-25f, 0.0f)), 0x03FF);
	/* NaN: quiet, sign kept, payload dropped. */
	assert_int_equal(ct_f32_to_f16(NAN), 0x7E00);
	assert_int_equal(ct_f32_to_f16(-NAN), 0xFE00);
	assert_int_equal(ct_f32_to_f16(ffrom(0x7F800001)), 0x7E00);
	assert_int_equal(ct_f32_to_f16(ffrom(0xFFBFFFFF)), 0xFE00);
	/* Decode. */
	assert_float_bits(ct_f16_to_f32(0x3C00), 1.0f);
	assert_float_bits(ct_f16_to_f32(0x7BFF), 65504.0f);
	assert_float_bits(ct_f16_to_f32(0x0001), 0x1p-24f);
	assert_float_bits(ct_f16_to_f32(0x03FF), 0x3FFp-24f);
	assert_float_bits(ct_f16_to_f32(0x8000), -0.0f);
	assert_float_bits(ct_f16_to_f32(0x8001), -0x1p-24f);
	assert_float_bits(ct_f16_to_f32(0x7C00), INFINITY);
	assert_float_bits(ct_f16_to_f32(0xFC00), -INFINITY);
	assert_true(isnan(ct_f16_to_f32(0x7E00)));
	assert_true(isnan(ct_f16_to_f32(0x7C01)));
	assert_true(signbit(ct_f16_to_f32(0xFE00)));
}

/* Value of an f16 code computed from the definition, independently. */
static double f16_ref(uint16_t h)
{
	int e = (h >> 10) & 0x1F, m = h & 0x3FF;
	double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
	return (h & 0x8000) ? -v : v;
}

static void test_f16_exhaustive(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 0x10000; h++) {
		float f = ct_f16_to_f32((uint16_t)h);
		uint16_t back = ct_f32_to_f16(f);
		if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) {
			assert_true(isnan(f));
			assert_int_equal(back, (h & 0x8000) | 0x7E00);
			continue;
		}
		assert_int_equal(back, h);
		if ((h & 0x7FFF) == 0x7C00) {
			assert_true(isinf(f));
			continue;
		}
		assert_true((double)f == f16_ref((uint16_t)h));
		/* Midpoint with the next code of larger magnitude (up to inf). */
		double a = f16_ref((uint16_t)h);
		double b = (h & 0x7FFF) == 0x7BFF ? ((h & 0x8000) ? -65536.0 : 65536.0)
						   : f16_ref((uint16_t)(h + 1));
		float mid = (float)((a + b) / 2); /* exact: 12 significant bits */
		assert_true((double)mid == (a + b) / 2);
		uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
		float toward0 = nextafterf(mid, 0.0f);
		float away = nextafterf(mid, (h & 0x8000) ? -INFINITY : INFINITY);
		assert_int_equal(ct_f32_to_f16(mid), even);
		assert_int_equal(ct_f32_to_f16(toward0), h);
		assert_int_equal(ct_f32_to_f16(away), h + 1);
	}
}

/* ---- e4m3fn ---- */

static void test_e4m3_examples(void **state)
{
	(void)state;
	assert_int_equal(ct_f32_to_e4m3(1.0f), 0x38);
	assert_int_equal(ct_f32_to_e4m3(0.125f), 0x20);
	assert_int_equal(ct_f32_to_e4m3(448.0f), 0x7E);
	assert_int_equal(ct_f32_to_e4m3(96.0f), 0x6C);
	assert_int_equal(ct_f32_to_e4m3(-0.0f), 0x80);
	assert_int_equal(ct_f32_to_e4m3(0.0f), 0x00);
	assert_int_equal(ct_f32_to_e4m3(17.0f), 0x58); /* tie: 16, not 18 */
	assert_int_equal(ct_f32_to_e4m3(-17.0f), 0xD8);
	assert_int_equal(ct_f32_to_e4m3(19.0f), 0x5A); /* tie: 20, not 18 */
	assert_int_equal(ct_f32_to_e4m3(-448.0f), 0xFE);
	/* 464 ties between 448 (even) and the virtual 480. */
	assert_int_equal(ct_f32_to_e4m3(464.0f), 0x7E);
	assert_int_equal(ct_f32_to_e4m3(-464.0f), 0xFE);
	assert_int_equal(ct_f32_to_e4m3(nextafterf(464.0f, 0.0f)), 0x7E);
	assert_int_equal(ct_f32_to_e4m3(nextafterf(464.0f, 1e9f)), 0x7F);
	assert_int_equal(ct_f32_to_e4m3(-nextafterf(464.0f, 1e9f)), 0xFF);
	assert_int_equal(ct_f32_to_e4m3(470.0f), 0x7F);
	assert_int_equal(ct_f32_to_e4m3(480.0f), 0x7F);
	assert_int_equal(ct_f32_to_e4m3(1e30f), 0x7F);
	assert_int_equal(ct_f32_to_e4m3(INFINITY), 0x7F);
	assert_int_equal(ct_f32_to_e4m3(-INFINITY), 0xFF);
	assert_int_equal(ct_f32_to_e4m3(NAN), 0x7F);
	assert_int_equal(ct_f32_to_e4m3(-NAN), 0xFF);
	assert_int_equal(ct_f32_to_e4m3(ffrom(0x7F800001)), 0x7F);
	/* Subnormals and underflow. */
	assert_int_equal(ct_f32_to_e4m3(0x1p-9f), 0x01);
	assert_int_equal(ct_f32_to_e4m3(0x7p-9f), 0x07);
	assert_int_equal(ct_f32_to_e4m3(0x1p-6f), 0x08);
	assert_int_equal(ct_f32_to_e4m3(0xFp-10f), 0x08); /* 7.5*2^-9 ties up to even 8 */
	assert_int_equal(ct_f32_to_e4m3(0x1p-10f), 0x00); /* tie with 2^-9: to 0 */
	assert_int_equal(ct_f32_to_e4m3(-0x1p-10f), 0x80);
	assert_int_equal(ct_f32_to_e4m3(nextafterf(0x1p-10f, 1.0f)), 0x01);
	assert_int_equal(ct_f32_to_e4m3(0x3p-10f), 0x02); /* tie 1.5 -> 2 */
	assert_int_equal(ct_f32_to_e4m3(0x5p-10f), 0x02); /* tie 2.5 -> 2 */
	assert_int_equal(ct_f32_to_e4m3(FLT_TRUE_MIN), 0x00);
	assert_int_equal(ct_f32_to_e4m3(-FLT_MIN), 0x80);
	/* Decode. */
	assert_float_bits(ct_e4m3_to_f32(0x38), 1.0f);
	assert_float_bits(ct_e4m3_to_f32(0x7E), 448.0f);
	assert_float_bits(ct_e4m3_to_f32(0xFE), -448.0f);
	assert_float_bits(ct_e4m3_to_f32(0x6C), 96.0f);
	assert_float_bits(ct_e4m3_to_f32(0x01), 0x1p-9f);
	assert_float_bits(ct_e4m3_to_f32(0x07), 0x7p-9f);
	assert_float_bits(ct_e4m3_to_f32(0x08), 0x1p-6f);
	assert_float_bits(ct_e4m3_to_f32(0x80), -0.0f);
	assert_float_bits(ct_e4m3_to_f32(0x78), 256.0f);
	assert_true(isnan(ct_e4m3_to_f32(0x7F)));
	assert_true(isnan(ct_e4m3_to_f32(0xFF)));
}

/* Value of an e4m3fn code from the definition (FORMAT.md §1.9). */
static double e4m3_ref(uint8_t b)
{
	int e = (b >> 3) & 0xF, m = b & 7;
	double v = e ? (1 + m / 8.0) * ldexp(1, e - 7) : m / 8.0 * ldexp(1, -6);
	return (b & 0x80) ? -v : v;
}

static void test_e4m3_exhaustive(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		if ((b & 0x7F) == 0x7F)
			continue;
		float f = ct_e4m3_to_f32((uint8_t)b);
		assert_true((double)f == e4m3_ref((uint8_t)b));
		assert_int_equal(!!signbit(f), b >> 7);
		assert_int_equal(ct_f32_to_e4m3(f), b);
		/* Midpoint with the next code of larger magnitude; past 0x7E that
		 * is the virtual 480, whose side of the tie is NaN. */
		double a = e4m3_ref((uint8_t)b);
		double c = (b & 0x7F) == 0x7E ? ((b & 0x80) ? -480.0 : 480.0)
					      : e4m3_ref((uint8_t)(b + 1));
		float mid = (float)((a + c) / 2);
		assert_true((double)mid == (a + c) / 2);
		unsigned even = (b & 1) ? b + 1 : b;
		float toward0 = nextafterf(mid, 0.0f);
		float away = nextafterf(mid, (b & 0x80) ? -INFINITY : INFINITY);
		assert_int_equal(ct_f32_to_e4m3(mid), even);
		assert_int_equal(ct_f32_to_e4m3(toward0), b);
		assert_int_equal(ct_f32_to_e4m3(away), b + 1);
	}
}

/* Nearest code by brute force: an oracle that shares no code with the encoder. */
static uint8_t e4m3_oracle(float f)
{
	if (isnan(f) || fabsf(f) > 464.0f)
		return signbit(f) ? 0xFF : 0x7F;
	uint8_t best = 0;
	double bestd = INFINITY;
	for (unsigned b = 0; b < 0x7F; b++) {
		double d = fabs(fabs((double)f) - e4m3_ref((uint8_t)b));
		if (d < bestd || (d == bestd && !(b & 1))) {
			bestd = d;
			best = (uint8_t)b;
		}
	}
	return (uint8_t)(best | (signbit(f) ? 0x80 : 0));
}

static void test_e4m3_oracle_sweep(void **state)
{
	(void)state;
	/* An odd stride through [0, 2^9) visits varied mantissas at every exponent. */
	for (uint32_t u = 0; u < 0x44000000; u += 0x1F3F) {
		float f = ffrom(u);
		assert_int_equal(ct_f32_to_e4m3(f), e4m3_oracle(f));
		assert_int_equal(ct_f32_to_e4m3(-f), e4m3_oracle(-f));
	}
}

/* ---- e5m2, e8m0 ---- */

static void test_e5m2_decode(void **state)
{
	(void)state;
	assert_float_bits(ct_e5m2_to_f32(0x3C), 1.0f);
	assert_float_bits(ct_e5m2_to_f32(0x3D), 1.25f);
	assert_float_bits(ct_e5m2_to_f32(0xC0), -2.0f);
	assert_float_bits(ct_e5m2_to_f32(0x7B), 57344.0f);
	assert_float_bits(ct_e5m2_to_f32(0x04), 0x1p-14f);
	assert_float_bits(ct_e5m2_to_f32(0x01), 0x1p-16f);
	assert_float_bits(ct_e5m2_to_f32(0x03), 0x3p-16f);
	assert_float_bits(ct_e5m2_to_f32(0x00), 0.0f);
	assert_float_bits(ct_e5m2_to_f32(0x80), -0.0f);
	assert_float_bits(ct_e5m2_to_f32(0x7C), INFINITY);
	assert_float_bits(ct_e5m2_to_f32(0xFC), -INFINITY);
	assert_true(isnan(ct_e5m2_to_f32(0x7D)));
	assert_true(isnan(ct_e5m2_to_f32(0x7F)));
	assert_true(isnan(ct_e5m2_to_f32(0xFE)));
	/* All finite codes ascend strictly. */
	for (unsigned b = 1; b <= 0x7B; b++)
		assert_true(ct_e5m2_to_f32((uint8_t)b) > ct_e5m2_to_f32((uint8_t)(b - 1)));
}

static void test_e8m0_decode(void **state)
{
	(void)state;
	assert_float_bits(ct_e8m0_to_f32(0x7F), 1.0f);
	assert_float_bits(ct_e8m0_to_f32(0x80), 2.0f);
	assert_float_bits(ct_e8m0_to_f32(0x7E), 0.5f);
	assert_float_bits(ct_e8m0_to_f32(0xFE), 0x1p127f);
	assert_float_bits(ct_e8m0_to_f32(0x01), 0x1p-126f);
	assert_int_equal(fbits(ct_e8m0_to_f32(0x00)), 0x00400000); /* 2^-127, subnormal */
	assert_true(isnan(ct_e8m0_to_f32(0xFF)));
	for (unsigned b = 0; b < 0xFF; b++)
		assert_true((double)ct_e8m0_to_f32((uint8_t)b) == ldexp(1.0, (int)b - 127));
}

/* ---- round_to ---- */

static void test_round_to(void **state)
{
	(void)state;
	float xs[] = { 0.1f, -3.14159f, 1.0f + 0x1p-23f, 1e-40f, FLT_MAX, -0.0f };
	for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++)
		assert_float_bits(ct_round_to(CT_F32, xs[i]), xs[i]);
	assert_float_bits(ct_round_to(CT_BF16, 1.0f + 0x1p-8f), 1.0f);
	assert_float_bits(ct_round_to(CT_BF16, 1.0f + 0x3p-8f), 1.0f + 0x1p-6f);
	assert_float_bits(ct_round_to(CT_BF16, 0.1f), ffrom(0x3DCD0000));
	assert_float_bits(ct_round_to(CT_BF16, 70000.0f), 70144.0f);
	assert_float_bits(ct_round_to(CT_F16, 1.0f + 0x1p-11f), 1.0f);
	assert_float_bits(ct_round_to(CT_F16, 1.0f + 0x3p-11f), 1.0f + 0x1p-9f);
	assert_float_bits(ct_round_to(CT_F16, 0.1f), 0x1.998p-4f);
	assert_float_bits(ct_round_to(CT_F16, 70000.0f), INFINITY);
	assert_float_bits(ct_round_to(CT_F16, -0.0f), -0.0f);
	assert_float_bits(ct_round_to(CT_F16, 1e-8f), 0.0f);
	assert_true(isnan(ct_round_to(CT_BF16, NAN)));
	assert_true(isnan(ct_round_to(CT_F16, NAN)));
}

/* ---- array access ---- */

static void test_load_f32_unaligned(void **state)
{
	(void)state;
	unsigned char buf[64];
	memset(buf, 0xAA, sizeof(buf));

	/* F32 at odd offset: elements 1.5, -2.0. */
	const unsigned char f32[] = { 0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0 };
	memcpy(buf + 1, f32, sizeof(f32));
	assert_float_bits(ct_load_f32(CT_F32, buf + 1, 0), 1.5f);
	assert_float_bits(ct_load_f32(CT_F32, buf + 1, 1), -2.0f);

	/* F16: 1.0, -65504, 2^-24. */
	const unsigned char f16[] = { 0x00, 0x3C, 0xFF, 0xFB, 0x01, 0x00 };
	memcpy(buf + 3, f16, sizeof(f16));
	assert_float_bits(ct_load_f32(CT_F16, buf + 3, 0), 1.0f);
	assert_float_bits(ct_load_f32(CT_F16, buf + 3, 1), -65504.0f);
	assert_float_bits(ct_load_f32(CT_F16, buf + 3, 2), 0x1p-24f);

	/* BF16: 1.0, -2.0. */
	const unsigned char bf16[] = { 0x80, 0x3F, 0x00, 0xC0 };
	memcpy(buf + 5, bf16, sizeof(bf16));
	assert_float_bits(ct_load_f32(CT_BF16, buf + 5, 0), 1.0f);
	assert_float_bits(ct_load_f32(CT_BF16, buf + 5, 1), -2.0f);

	/* F64 at offset 3: 0.1, the exact tie 1 + 2^-24 (-> 1), and
	 * 1 + 2^-24 + 2^-40 (-> 1 + 2^-23): rounded, not truncated. */
	double d[3] = { 0.1, 1.0 + 0x1p-24, 1.0 + 0x1p-24 + 0x1p-40 };
	memcpy(buf + 3, d, sizeof(d));
	assert_float_bits(ct_load_f32(CT_F64, buf + 3, 0), 0.1f);
	assert_float_bits(ct_load_f32(CT_F64, buf + 3, 1), 1.0f);
	assert_float_bits(ct_load_f32(CT_F64, buf + 3, 2), 1.0f + 0x1p-23f);
	const unsigned char one_f64[] = { 0, 0, 0, 0, 0, 0, 0xF0, 0x3F };
	memcpy(buf + 7, one_f64, sizeof(one_f64));
	assert_float_bits(ct_load_f32(CT_F64, buf + 7, 0), 1.0f);

	const unsigned char f8[] = { 0x38, 0x7E, 0xFF, 0x3C, 0x7F };
	memcpy(buf + 1, f8, sizeof(f8));
	assert_float_bits(ct_load_f32(CT_F8_E4M3, buf + 1, 0), 1.0f);
	assert_float_bits(ct_load_f32(CT_F8_E4M3, buf + 1, 1), 448.0f);
	assert_true(isnan(ct_load_f32(CT_F8_E4M3, buf + 1, 2)));
	assert_float_bits(ct_load_f32(CT_F8_E5M2, buf + 1, 3), 1.0f);
	assert_float_bits(ct_load_f32(CT_F8_E8M0, buf + 1, 4), 1.0f);
	assert_float_bits(ct_load_f32(CT_F8_E8M0, buf + 1, 0), 0x1p-71f);
}

static void test_load_f32_n(void **state)
{
	(void)state;
	static const ct_dtype dts[] = { CT_F32, CT_F16, CT_BF16, CT_F64,
					CT_F8_E4M3, CT_F8_E5M2, CT_F8_E8M0 };
	unsigned char src[1 + 16 * 8];
	for (size_t k = 0; k < sizeof(src); k++)
		src[k] = (unsigned char)(k * 37 + 11);
	for (size_t d = 0; d < sizeof(dts) / sizeof(dts[0]); d++) {
		float dst[18];
		for (size_t k = 0; k < 18; k++)
			dst[k] = -7.0f;
		ct_load_f32_n(dts[d], src + 1, dst + 1, 16);
		assert_float_bits(dst[0], -7.0f);
		assert_float_bits(dst[17], -7.0f);
		for (size_t i = 0; i < 16; i++) {
			uint32_t want = fbits(ct_load_f32(dts[d], src + 1, i));
			assert_int_equal(fbits(dst[i + 1]), want);
		}
		ct_load_f32_n(dts[d], src + 1, dst, 0);
		assert_float_bits(dst[0], -7.0f);
	}
	/* Known values through the bulk path. */
	const unsigned char bf16[] = { 0xAA, 0x80, 0x3F, 0x40, 0x40, 0x80, 0xBF };
	float out[3];
	ct_load_f32_n(CT_BF16, bf16 + 1, out, 3);
	assert_float_bits(out[0], 1.0f);
	assert_float_bits(out[1], 3.0f);
	assert_float_bits(out[2], -1.0f);
	const unsigned char f16[] = { 0xAA, 0x00, 0x3C, 0x00, 0x42, 0x00, 0xBC };
	ct_load_f32_n(CT_F16, f16 + 1, out, 3);
	assert_float_bits(out[0], 1.0f);
	assert_float_bits(out[1], 3.0f);
	assert_float_bits(out[2], -1.0f);
	const unsigned char f32[] = { 0xAA, 0, 0, 0x80, 0x3F, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0xBF };
	ct_load_f32_n(CT_F32, f32 + 1, out, 3);
	assert_float_bits(out[0], 1.0f);
	assert_float_bits(out[1], 3.0f);
	assert_float_bits(out[2], -1.0f);
}

static void test_store_f32(void **state)
{
	(void)state;
	unsigned char buf[16];

	memset(buf, 0xAA, sizeof(buf));
	ct_store_f32(CT_F32, buf + 1, 1, -2.0f);
	const unsigned char want32[] = { 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
					 0x00, 0x00, 0x00, 0xC0, 0xAA };
	assert_memory_equal(buf, want32, sizeof(want32));

	memset(buf, 0xAA, sizeof(buf));
	ct_store_f32(CT_F16, buf + 1, 2, 1.0f);
	ct_store_f32(CT_F16, buf + 1, 0, 1.0f + 0x1p-11f); /* tie -> 1.0 */
	ct_store_f32(CT_F16, buf + 1, 1, 1e6f);            /* -> inf */
	const unsigned char want16[] = { 0xAA, 0x00, 0x3C, 0x00, 0x7C, 0x00, 0x3C, 0xAA };
	assert_memory_equal(buf, want16, sizeof(want16));

	memset(buf, 0xAA, sizeof(buf));
	ct_store_f32(CT_BF16, buf + 3, 0, -1.0f);
	ct_store_f32(CT_BF16, buf + 3, 1, 1.0f + 0x3p-8f); /* tie -> up (even) */
	const unsigned char wantbf[] = { 0xAA, 0xAA, 0xAA, 0x80, 0xBF, 0x82, 0x3F, 0xAA };
	assert_memory_equal(buf, wantbf, sizeof(wantbf));

	/* Store then load is the identity on values of the dtype. */
	static const ct_dtype dts[] = { CT_F32, CT_F16, CT_BF16 };
	float vals[] = { 0.0f, -0.0f, 1.0f, -65504.0f, 0x1p-24f, 0.375f };
	for (size_t d = 0; d < 3; d++)
		for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
			float v = ct_round_to(dts[d], vals[k]);
			ct_store_f32(dts[d], buf + 1, 2, v);
			assert_float_bits(ct_load_f32(dts[d], buf + 1, 2), v);
		}
}

static void test_load_i64(void **state)
{
	(void)state;
	unsigned char buf[40];
	memset(buf, 0, sizeof(buf));

	const unsigned char b8[] = { 0x01, 0x80, 0xFF, 0x7F };
	memcpy(buf + 1, b8, sizeof(b8));
	assert_int_equal(ct_load_i64(CT_BOOL, buf + 1, 0), 1);
	assert_int_equal(ct_load_i64(CT_BOOL, buf + 1, 3), 0x7F);
	assert_int_equal(ct_load_i64(CT_U8, buf + 1, 1), 128);
	assert_int_equal(ct_load_i64(CT_U8, buf + 1, 2), 255);
	assert_int_equal(ct_load_i64(CT_I8, buf + 1, 1), -128);
	assert_int_equal(ct_load_i64(CT_I8, buf + 1, 2), -1);
	assert_int_equal(ct_load_i64(CT_I8, buf + 1, 3), 127);

	const unsigned char b16[] = { 0x34, 0x12, 0x00, 0x80, 0xFF, 0xFF };
	memcpy(buf + 3, b16, sizeof(b16));
	assert_int_equal(ct_load_i64(CT_U16, buf + 3, 0), 0x1234);
	assert_int_equal(ct_load_i64(CT_I16, buf + 3, 1), -32768);
	assert_int_equal(ct_load_i64(CT_U16, buf + 3, 1), 32768);
	assert_int_equal(ct_load_i64(CT_I16, buf + 3, 2), -1);
	assert_int_equal(ct_load_i64(CT_U16, buf + 3, 2), 65535);

	const unsigned char b32[] = { 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x80,
				      0xFF, 0xFF, 0xFF, 0xFF };
	memcpy(buf + 5, b32, sizeof(b32));
	assert_int_equal(ct_load_i64(CT_I32, buf + 5, 0), 0x12345678);
	assert_true(ct_load_i64(CT_I32, buf + 5, 1) == INT32_MIN);
	assert_true(ct_load_i64(CT_U32, buf + 5, 1) == INT64_C(2147483648));
	assert_true(ct_load_i64(CT_I32, buf + 5, 2) == -1);
	assert_true(ct_load_i64(CT_U32, buf + 5, 2) == INT64_C(4294967295));

	const unsigned char b64[] = { 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
				      0, 0, 0, 0, 0, 0, 0, 0x80,
				      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	memcpy(buf + 7, b64, sizeof(b64));
	assert_true(ct_load_i64(CT_I64, buf + 7, 0) == INT64_C(0x0102030405060708));
	assert_true(ct_load_i64(CT_U64, buf + 7, 0) == INT64_C(0x0102030405060708));
	assert_true(ct_load_i64(CT_I64, buf + 7, 1) == INT64_MIN);
	assert_true(ct_load_i64(CT_I64, buf + 7, 2) == -1);
	assert_true(ct_load_i64(CT_U64, buf + 7, 2) == -1); /* documented wrap */
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	(void)state;
	assert_float_bits(ct_dtype_eps(CT_BF16), 0x1p-7f);
	assert_float_bits(ct_dtype_eps(CT_F16), 0x1p-10f);
	assert_float_bits(ct_dtype_eps(CT_F32), 0x1p-23f);
	assert_float_bits(ct_dtype_tiny(CT_BF16), 0x1p-126f);
	assert_float_bits(ct_dtype_tiny(CT_F32), 0x1p-126f);
	assert_float_bits(ct_dtype_tiny(CT_F16), 0x1p-14f);
	assert_float_bits(ct_dtype_max(CT_F32), FLT_MAX);
	assert_float_bits(ct_dtype_max(CT_F16), 65504.0f);
	assert_float_bits(ct_dtype_max(CT_BF16), 3.3895314e38f);
	assert_int_equal(fbits(ct_dtype_max(CT_BF16)), 0x7F7F0000);
	assert_float_bits(ct_dtype_max(CT_F8_E4M3), 448.0f);
	assert_float_bits(ct_dtype_max(CT_F8_E5M2), 57344.0f);

	/* Consistent with the codecs. */
	assert_float_bits(ct_dtype_max(CT_F16), ct_f16_to_f32(0x7BFF));
	assert_float_bits(ct_dtype_max(CT_BF16), ct_bf16_to_f32(0x7F7F));
	assert_float_bits(ct_dtype_max(CT_F8_E4M3), ct_e4m3_to_f32(0x7E));
	assert_float_bits(ct_dtype_max(CT_F8_E5M2), ct_e5m2_to_f32(0x7B));
	assert_float_bits(ct_dtype_tiny(CT_F16), ct_f16_to_f32(0x0400));
	assert_float_bits(ct_dtype_tiny(CT_BF16), ct_bf16_to_f32(0x0080));
	static const ct_dtype rd[] = { CT_F32, CT_F16, CT_BF16 };
	for (size_t k = 0; k < 3; k++) {
		float eps = ct_dtype_eps(rd[k]);
		assert_float_bits(ct_round_to(rd[k], 1.0f + eps), 1.0f + eps);
		assert_float_bits(ct_round_to(rd[k], 1.0f + eps / 2), 1.0f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_table),
		cmocka_unit_test(test_name_unknown),
		cmocka_unit_test(test_name_length_limited),
		cmocka_unit_test(test_bits_size),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_bf16_examples),
		cmocka_unit_test(test_bf16_exhaustive),
		cmocka_unit_test(test_f16_examples),
		cmocka_unit_test(test_f16_exhaustive),
		cmocka_unit_test(test_e4m3_examples),
		cmocka_unit_test(test_e4m3_exhaustive),
		cmocka_unit_test(test_e4m3_oracle_sweep),
		cmocka_unit_test(test_e5m2_decode),
		cmocka_unit_test(test_e8m0_decode),
		cmocka_unit_test(test_round_to),
		cmocka_unit_test(test_load_f32_unaligned),
		cmocka_unit_test(test_load_f32_n),
		cmocka_unit_test(test_store_f32),
		cmocka_unit_test(test_load_i64),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
