/*
 * dtype.h - safetensors element types and exact conversions between them.
 *
 * The enum value of each dtype is its rank in the reference (Rust) writer's
 * Dtype enum, which decides tensor order in a file (FORMAT.md §1.4, §1.6).
 * Conversions reproduce PyTorch bit for bit (FORMAT.md §1.9): f32->bf16 with
 * torch's rounding, f32->f16 IEEE round-to-nearest-even, f32->e4m3fn RNE with
 * subnormals and NaN on overflow.
 */
#ifndef CT_DTYPE_H
#define CT_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ct_dtype {
	CT_BOOL = 0,
	CT_F4 = 1,
	CT_F6_E2M3 = 2,
	CT_F6_E3M2 = 3,
	CT_U8 = 4,
	CT_I8 = 5,
	CT_F8_E5M2 = 6,
	CT_F8_E4M3 = 7,
	CT_F8_E8M0 = 8,
	CT_F8_E4M3FNUZ = 9,
	CT_F8_E5M2FNUZ = 10,
	CT_I16 = 11,
	CT_U16 = 12,
	CT_F16 = 13,
	CT_BF16 = 14,
	CT_I32 = 15,
	CT_U32 = 16,
	CT_F32 = 17,
	CT_C64 = 18,
	CT_F64 = 19,
	CT_I64 = 20,
	CT_U64 = 21,
	CT_DTYPE_COUNT
} ct_dtype;

/* The safetensors spelling ("BF16", "F8_E4M3", ...). */
const char *ct_dtype_name(ct_dtype dt);

/* Looks up a safetensors dtype name (exact, case-sensitive, len bytes). Returns
 * true and sets *out when known. */
bool ct_dtype_from_name(const char *name, size_t len, ct_dtype *out);

/* Bits per element (4 for F4, 6 for F6_*, otherwise 8·bytes). */
unsigned ct_dtype_bits(ct_dtype dt);

/* Whole bytes per element, or 0 for sub-byte dtypes (F4, F6_*). */
unsigned ct_dtype_size(ct_dtype dt);

/* True for the dtypes whose elements are real floating-point numbers that
 * ct_load_f32 can widen: F32, F16, BF16, F64, F8_E4M3, F8_E5M2, F8_E8M0. */
bool ct_dtype_is_float(ct_dtype dt);

/* True for BOOL, U8, I8, I16, U16, I32, U32, I64, U64. */
bool ct_dtype_is_int(ct_dtype dt);

/* ---- scalar conversions (bit patterns in, bit patterns out) ---- */

float ct_bf16_to_f32(uint16_t h);
uint16_t ct_f32_to_bf16(float f);   /* torch: u += 0x7FFF + ((u>>16)&1); NaN -> 0x7FC0 */
float ct_f16_to_f32(uint16_t h);
uint16_t ct_f32_to_f16(float f);    /* IEEE RNE, overflow -> inf, NaN kept quiet */
float ct_e4m3_to_f32(uint8_t b);    /* e4m3fn: 0x7F/0xFF NaN, no inf */
uint8_t ct_f32_to_e4m3(float f);    /* RNE incl. subnormals; |rounded| > 448 or NaN -> 0x7F|sign */
float ct_e5m2_to_f32(uint8_t b);
float ct_e8m0_to_f32(uint8_t b);    /* 2^(b-127); 0xFF NaN */

/* Rounds a float32 value to the nearest value of dtype dt (F32, F16, BF16)
 * and widens it back: the "compute in f32, round once to WD" of PyTorch. */
float ct_round_to(ct_dtype dt, float x);

/* ---- array access ---- */

/* Reads element i of a little-endian array of dtype dt (a float dtype per
 * ct_dtype_is_float) and widens it to float32 (F64 is rounded to nearest). */
float ct_load_f32(ct_dtype dt, const void *base, size_t i);

/* Widens n elements of src (float dtype dt) into dst. */
void ct_load_f32_n(ct_dtype dt, const void *src, float *dst, size_t n);

/* Stores v (already a value of dt for exactness) as element i of dst, dtype
 * F32, F16 or BF16 (rounding per the functions above). */
void ct_store_f32(ct_dtype dt, void *dst, size_t i, float v);

/* Reads element i of an integer dtype (ct_dtype_is_int) as int64 (U64 values
 * above INT64_MAX wrap; callers that care check the dtype). */
int64_t ct_load_i64(ct_dtype dt, const void *base, size_t i);

/* Machine epsilon of a float dtype (BF16 2^-7, F16 2^-10, F32 2^-23). */
float ct_dtype_eps(ct_dtype dt);

/* Smallest positive normal value of F32/F16/BF16. */
float ct_dtype_tiny(ct_dtype dt);

/* Largest finite value of F32/F16/BF16/F8_E4M3/F8_E5M2. */
float ct_dtype_max(ct_dtype dt);

#endif
