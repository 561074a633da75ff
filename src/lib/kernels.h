/*
 * kernels.h - the inner loops of quantization, with runtime SIMD dispatch.
 *
 * Each kernel exists as portable C and, on x86-64, as an AVX2 variant (the
 * same C compiled for AVX2, or intrinsics for the hot loops that do the
 * portable code's operations lane by lane), chosen at run time by CPU
 * support; on little-endian aarch64 the hot loops have NEON variants of the
 * same kind, always used (NEON is baseline there). Callers may insist on
 * the portable code (simd = false) so tests can check the two agree bit for
 * bit. Every operation is an exactly
 * rounded IEEE operation or integer bit manipulation, so the vector code
 * cannot differ from the scalar code.
 */
#ifndef CT_KERNELS_H
#define CT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

typedef enum ct_kernel_code {
	CT_K_INT,   /* integer values, rounded half to even */
	CT_K_FP8,   /* e4m3 codes */
	CT_K_FP4,   /* E2M1 nibbles (sign << 3 | index) */
} ct_kernel_code;

/* For i < n, in cells of `cell` consecutive elements with scale s[i/cell]
 * and zero point z[i/cell] (z NULL: 0): t = rnd(x[i] / s); t = rnd(t + z);
 * t = clamp(t, lo, hi); q[i] = code of t, where rnd rounds to wd (F32: no
 * extra rounding). */
void ct_k_quant(bool simd, ct_kernel_code code, ct_dtype wd, const float *x, size_t n,
		size_t cell, const float *s, const int32_t *z, float lo, float hi, int32_t *q);

/* ct_k_quant straight from n elements of dtype dt (F32, F16, BF16) at src,
 * with no widened copy of the row. Returns false when some element is NaN
 * or infinite (q is then unspecified). */
bool ct_k_quant_raw(bool simd, ct_kernel_code code, ct_dtype wd, ct_dtype dt,
		    const void *src, size_t n, size_t cell, const float *s, const int32_t *z,
		    float lo, float hi, int32_t *q);

/* Packs n codes q[i] + offset (each 0..15) two to a byte, element 2k in the
 * low nibble: (n + 1) / 2 bytes. */
void ct_k_pack4(bool simd, const int32_t *q, size_t n, int32_t offset, uint8_t *out);

/* out[i] = the low byte of q[i], for i < n: e4m3 codes (0..255) and int8
 * values (-128..127, two's complement) as stored. */
void ct_k_narrow8(bool simd, const int32_t *q, size_t n, uint8_t *out);

/* out[i] = fp_f32_to_e4m3(s[i]) for i < n: scales stored as float8_e4m3fn.
 * Vector variants: AVX2 and NEON. */
void ct_k_e4m3_bytes(bool simd, const float *s, size_t n, uint8_t *out);

/* The inverse: for i < n, in cells as above, out[i] = code's value times
 * s (int: (q - z) * s; fp8: e4m3(q) * s; fp4: E2M1(q) * s) rounded to sd,
 * stored as out_dt (F32, F16 or BF16). */
void ct_k_dequant(bool simd, ct_kernel_code code, ct_dtype sd, ct_dtype out_dt,
		  const int32_t *q, size_t n, size_t cell, const float *s, const int32_t *z,
		  void *out);

/* For each cell j of `cell` consecutive elements of x[0..n):
 * lo[j] = min(lo[j], cell's values), hi[j] = max(hi[j], ...); x finite. */
void ct_k_minmax(bool simd, const float *x, size_t n, size_t cell, float *lo, float *hi);

/* ct_k_minmax straight from n elements of dtype dt (F32, F16, BF16) at
 * src, with no widened copy; lo[j] <= 0 <= hi[j] on entry (so that the
 * sign of a zero result does not depend on the order of the lanes).
 * Returns false when some element is NaN or infinite (they are skipped). */
bool ct_k_minmax_raw(bool simd, ct_dtype dt, const void *src, size_t n, size_t cell,
		     float *lo, float *hi);

/* For each cell j of `cell` consecutive elements of dtype dt (F32, F16,
 * BF16) at src: amax[j] = max(amax[j], the cell's largest |x|), amax[j] >= 0
 * on entry; what symmetric scales need, from the bit patterns alone.
 * Returns false when some element is NaN or infinite (an infinity is taken;
 * a cell with a NaN leaves amax[j] as it was). */
bool ct_k_absmax_raw(bool simd, ct_dtype dt, const void *src, size_t n, size_t cell,
		     float *amax);

/* Packs n codes q[i] + offset, each `bits` wide (bits dividing 32), into
 * little-endian words, first code in the lowest bits; a partial last word
 * is zero-filled. */
void ct_k_pack(bool simd, const int32_t *q, size_t n, int32_t offset, unsigned bits,
	       uint32_t *words);

/* The inverse of ct_k_pack: n codes minus offset from the words. */
void ct_k_unpack(bool simd, const uint8_t *words, size_t n, int32_t offset, unsigned bits,
		 int32_t *q);

/* True when every x[i] is finite. */
bool ct_k_all_finite(bool simd, const float *x, size_t n);

/* Widens n elements of dtype dt (F32, F16, BF16) to float. */
void ct_k_load(bool simd, ct_dtype dt, const void *src, float *dst, size_t n);

/* MX scale exponent E (0..255) for a group's absmax a in dtype wd; o = 2 for
 * FP4, 8 for FP8. */
int ct_mx_exponent(ct_dtype wd, float a, int o);

/* The scales of n cells of an NVFP4 weight (symmetric E2M1 in groups, e4m3
 * scales under the global scale gs) from each cell's lo and hi:
 * s = e4m3(clamp(gs * rnd_wd(max(-lo, hi) / 6), -448, 448)), 0 -> 0.125.
 * Vector variants: AVX2 and NEON. */
void ct_k_nvfp4_scales(bool simd, ct_dtype wd, const float *lo, const float *hi, size_t n,
		       float gs, float *s);

/* The scales of n cells of an MX weight: rnd_wd(2^(E - 127)) with E =
 * ct_mx_exponent(wd, max(-lo, hi), o), the largest finite power of two where
 * that overflows wd, and zero_eps where it rounds to 0. The vector variants
 * (AVX2, NEON) take BF16 and F32 weights. */
void ct_k_mx_scales(bool simd, ct_dtype wd, const float *lo, const float *hi, size_t n, int o,
		    float zero_eps, float *s);

/* True when vector variants exist and this CPU runs them (AVX2; NEON). */
bool ct_k_have_simd(void);

#endif
