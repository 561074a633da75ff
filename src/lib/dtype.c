#include "dtype.h"

#include "fpconv.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Element loads copy raw little-endian bytes straight into host integers. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ctensors requires a little-endian host"
#endif

_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24, "float must be IEEE binary32");
_Static_assert(sizeof(double) == 8 && DBL_MANT_DIG == 53, "double must be IEEE binary64");

struct dtype_info {
	const char *name;
	unsigned bits;
};

/* Indexed by enum value (= rank in the Rust writer's Dtype enum). */
static const struct dtype_info dtype_table[CT_DTYPE_COUNT] = {
	[CT_BOOL] = { "BOOL", 8 },
	[CT_F4] = { "F4", 4 },
	[CT_F6_E2M3] = { "F6_E2M3", 6 },
	[CT_F6_E3M2] = { "F6_E3M2", 6 },
	[CT_U8] = { "U8", 8 },
	[CT_I8] = { "I8", 8 },
	[CT_F8_E5M2] = { "F8_E5M2", 8 },
	[CT_F8_E4M3] = { "F8_E4M3", 8 },
	[CT_F8_E8M0] = { "F8_E8M0", 8 },
	[CT_F8_E4M3FNUZ] = { "F8_E4M3FNUZ", 8 },
	[CT_F8_E5M2FNUZ] = { "F8_E5M2FNUZ", 8 },
	[CT_I16] = { "I16", 16 },
	[CT_U16] = { "U16", 16 },
	[CT_F16] = { "F16", 16 },
	[CT_BF16] = { "BF16", 16 },
	[CT_I32] = { "I32", 32 },
	[CT_U32] = { "U32", 32 },
	[CT_F32] = { "F32", 32 },
	[CT_C64] = { "C64", 64 },
	[CT_F64] = { "F64", 64 },
	[CT_I64] = { "I64", 64 },
	[CT_U64] = { "U64", 64 },
};

static bool dtype_valid(ct_dtype dt)
{
	return (unsigned)dt < (unsigned)CT_DTYPE_COUNT;
}

const char *ct_dtype_name(ct_dtype dt)
{
	/* Never NULL, so a stray value cannot crash a printf. */
	return dtype_valid(dt) ? dtype_table[dt].name : "?";
}

bool ct_dtype_from_name(const char *name, size_t len, ct_dtype *out)
{
	if (!name)
		return false;
	for (unsigned i = 0; i < (unsigned)CT_DTYPE_COUNT; i++) {
		const char *n = dtype_table[i].name;
		/* strlen check first: name need not be NUL-terminated. */
		if (strlen(n) == len && memcmp(n, name, len) == 0) {
			if (out)
				*out = (ct_dtype)i;
			return true;
		}
	}
	return false;
}

unsigned ct_dtype_bits(ct_dtype dt)
{
	return dtype_valid(dt) ? dtype_table[dt].bits : 0;
}

unsigned ct_dtype_size(ct_dtype dt)
{
	unsigned bits = ct_dtype_bits(dt);
	return bits % 8 == 0 ? bits / 8 : 0;
}

bool ct_dtype_is_float(ct_dtype dt)
{
	switch (dt) {
	case CT_F32:
	case CT_F16:
	case CT_BF16:
	case CT_F64:
	case CT_F8_E4M3:
	case CT_F8_E5M2:
	case CT_F8_E8M0:
		return true;
	default:
		return false;
	}
}

bool ct_dtype_is_int(ct_dtype dt)
{
	switch (dt) {
	case CT_BOOL:
	case CT_U8:
	case CT_I8:
	case CT_I16:
	case CT_U16:
	case CT_I32:
	case CT_U32:
	case CT_I64:
	case CT_U64:
		return true;
	default:
		return false;
	}
}

/* ---- scalar conversions ---- */

float ct_bf16_to_f32(uint16_t h)
{
	return fp_bf16_to_f32(h);
}

uint16_t ct_f32_to_bf16(float f)
{
	return fp_f32_to_bf16(f);
}

float ct_f16_to_f32(uint16_t h)
{
	return fp_f16_to_f32(h);
}

uint16_t ct_f32_to_f16(float f)
{
	return fp_f32_to_f16(f);
}

float ct_e4m3_to_f32(uint8_t b)
{
	return fp_e4m3_to_f32(b);
}

uint8_t ct_f32_to_e4m3(float f)
{
	return fp_f32_to_e4m3(f);
}

float ct_e5m2_to_f32(uint8_t b)
{
	/* e5m2 is exactly the high byte of a binary16. */
	return ct_f16_to_f32((uint16_t)(b << 8));
}

float ct_e8m0_to_f32(uint8_t b)
{
	if (b == 0xFF)
		return NAN;
	/* b = 0 gives 2^-127, a binary32 subnormal, still exact. */
	return ldexpf(1.0f, (int)b - 127);
}

float ct_round_to(ct_dtype dt, float x)
{
	switch (dt) {
	case CT_BF16:
		return ct_bf16_to_f32(ct_f32_to_bf16(x));
	case CT_F16:
		return ct_f16_to_f32(ct_f32_to_f16(x));
	default:
		/* F32, and anything else: no rounding defined. */
		return x;
	}
}

/* ---- array access ---- */

static uint8_t load_u8(const void *base, size_t i)
{
	return ((const uint8_t *)base)[i];
}

static uint16_t load_u16(const void *base, size_t i)
{
	uint16_t v;
	memcpy(&v, (const unsigned char *)base + i * sizeof(v), sizeof(v));
	return v;
}

static uint32_t load_u32(const void *base, size_t i)
{
	uint32_t v;
	memcpy(&v, (const unsigned char *)base + i * sizeof(v), sizeof(v));
	return v;
}

static uint64_t load_u64(const void *base, size_t i)
{
	uint64_t v;
	memcpy(&v, (const unsigned char *)base + i * sizeof(v), sizeof(v));
	return v;
}

float ct_load_f32(ct_dtype dt, const void *base, size_t i)
{
	switch (dt) {
	case CT_F32:
		return fp_from_bits(load_u32(base, i));
	case CT_F16:
		return ct_f16_to_f32(load_u16(base, i));
	case CT_BF16:
		return ct_bf16_to_f32(load_u16(base, i));
	case CT_F64: {
		uint64_t u = load_u64(base, i);
		double d;
		memcpy(&d, &u, sizeof(d));
		return (float)d;
	}
	case CT_F8_E4M3:
		return ct_e4m3_to_f32(load_u8(base, i));
	case CT_F8_E5M2:
		return ct_e5m2_to_f32(load_u8(base, i));
	case CT_F8_E8M0:
		return ct_e8m0_to_f32(load_u8(base, i));
	default:
		return NAN;
	}
}

void ct_load_f32_n(ct_dtype dt, const void *src, float *dst, size_t n)
{
	switch (dt) {
	case CT_F32:
		if (n)
			memcpy(dst, src, n * sizeof(float));
		return;
	case CT_BF16:
		for (size_t i = 0; i < n; i++)
			dst[i] = ct_bf16_to_f32(load_u16(src, i));
		return;
	case CT_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = ct_f16_to_f32(load_u16(src, i));
		return;
	default:
		for (size_t i = 0; i < n; i++)
			dst[i] = ct_load_f32(dt, src, i);
		return;
	}
}

void ct_store_f32(ct_dtype dt, void *dst, size_t i, float v)
{
	unsigned char *p = dst;
	switch (dt) {
	case CT_F32:
		memcpy(p + i * 4, &v, 4);
		return;
	case CT_F16: {
		uint16_t h = ct_f32_to_f16(v);
		memcpy(p + i * 2, &h, 2);
		return;
	}
	case CT_BF16: {
		uint16_t h = ct_f32_to_bf16(v);
		memcpy(p + i * 2, &h, 2);
		return;
	}
	default:
		return;
	}
}

int64_t ct_load_i64(ct_dtype dt, const void *base, size_t i)
{
	switch (dt) {
	case CT_BOOL: /* the raw byte, so callers can reject values other than 0/1 */
	case CT_U8:
		return load_u8(base, i);
	case CT_I8:
		return (int8_t)load_u8(base, i);
	case CT_U16:
		return load_u16(base, i);
	case CT_I16:
		return (int16_t)load_u16(base, i);
	case CT_U32:
		return load_u32(base, i);
	case CT_I32:
		return (int32_t)load_u32(base, i);
	case CT_I64:
	case CT_U64:
		/* Implementation-defined narrowing; gcc and clang wrap modulo 2^64. */
		return (int64_t)load_u64(base, i);
	default:
		return 0;
	}
}

float ct_dtype_eps(ct_dtype dt)
{
	switch (dt) {
	case CT_BF16:
		return 0x1p-7f;
	case CT_F16:
		return 0x1p-10f;
	case CT_F32:
		return FLT_EPSILON;
	default:
		return 0.0f;
	}
}

float ct_dtype_tiny(ct_dtype dt)
{
	switch (dt) {
	case CT_BF16:
	case CT_F32:
		return FLT_MIN;
	case CT_F16:
		return 0x1p-14f;
	default:
		return 0.0f;
	}
}

float ct_dtype_max(ct_dtype dt)
{
	switch (dt) {
	case CT_F32:
		return FLT_MAX;
	case CT_F16:
		return 65504.0f;
	case CT_BF16:
		return 0x1.FEp127f; /* bits 0x7F7F */
	case CT_F8_E4M3:
		return 448.0f;
	case CT_F8_E5M2:
		return 57344.0f;
	default:
		return 0.0f;
	}
}
