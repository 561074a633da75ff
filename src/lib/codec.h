/*
 * codec.h - one compressed-tensors format per codec, behind one interface.
 *
 * A codec knows bytes and numbers, not files: it declares the tensors a
 * module becomes in its format, writes them through an emit callback, and
 * reads them back to dense rows. Adding a format is one new codec_*.c file
 * and one line in the table of codec.c.
 */
#ifndef CT_CODEC_H
#define CT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "ct_error.h"
#include "dtype.h"
#include "qconfig.h"
#include "quant.h"
#include "safetensors.h"

#define CT_CODEC_MAX_OUT 8

/* One tensor a module is stored as: module + "." + suffix. */
typedef struct ct_codec_tensor {
	const char *suffix;        /* "weight_packed", "weight_scale", ... */
	ct_dtype dtype;
	int ndim;
	uint64_t shape[CT_MAX_DIMS];
} ct_codec_tensor;

/* What a codec needs to know about the module it encodes. */
typedef struct ct_module_desc {
	const ct_qargs *args;      /* weight quantization (NULL for sparse-only) */
	ct_dtype wd;               /* dtype of the dense weight */
	uint64_t rows, cols;
	bool pack_padded;          /* pack-quantized layout of CT <= 0.17 for 3/5/6/7 bits */
	uint64_t nnz;              /* sparse-bitmask: non-zero elements of the weight */
} ct_module_desc;

/* Appends len bytes to output tensor k (index into the codec's outputs);
 * calls for one k arrive in order. */
typedef int (*ct_emit_fn)(void *ctx, int k, const void *buf, size_t len, ct_error *err);

/* Finds the stored tensor module + "." + suffix, or NULL. */
typedef const ct_tensor *(*ct_lookup_fn)(void *ctx, const char *suffix);

/* What decoding a module yields. */
typedef struct ct_dec_info {
	uint64_t rows, cols;
	ct_dtype dtype;            /* dtype the library's decompression returns */
} ct_dec_info;

/* What decoding a module can yield at most. */
typedef struct ct_dec_bound {
	double max_abs;            /* |code - zero point| * |scale| before rounding, at most */
	ct_dtype sd;               /* the dtype products are rounded to first */
	bool maybe_nan;            /* a code decodes to NaN whatever its scale */
} ct_dec_bound;

typedef struct ct_codec {
	ct_format format;
	/* Local names of the tensors a module in this format may hold; the
	 * first one is always present and identifies the format. */
	const char *const *suffixes;
	/* The tensors module m becomes. */
	int (*outputs)(const ct_module_desc *m, ct_codec_tensor *out, size_t *n,
		       ct_error *err);
	/* Writes every output: p holds the qparams (NULL for sparse formats). */
	int (*encode)(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
		      ct_emit_fn emit, void *ctx, ct_error *err);
	/* Validates the stored tensors of one module against m->args (m->rows,
	 * m->cols and m->wd are not used: the tensors say them) and says what
	 * decoding gives. Errors name the tensor and the rule. */
	int (*check)(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		     ct_dec_info *info, ct_error *err);
	/* Emits the dense weight, row by row, as output 0 in dtype out_dt. */
	int (*decode)(const ct_module_desc *m, ct_lookup_fn get, void *gctx, ct_dtype out_dt,
		      ct_emit_fn emit, void *ctx, ct_error *err);
	/* Optional: loads what decode loads (the same checks, the same errors)
	 * and bounds what it would compute, from the scales and zero points
	 * alone (and a scan of the codes where a code can be NaN), without
	 * dequantizing a row. */
	int (*bound)(const ct_module_desc *m, ct_lookup_fn get, void *gctx,
		     ct_dec_bound *b, ct_error *err);
} ct_codec;

/* max_code * the largest |scale| (over the global scale for NVFP4), plus
 * the zero points' reach for int codes, into b. */
void ct_codec_bound_of(const ct_qparams *p, double max_code, ct_dec_bound *b);

/* True when a module bounded by b decodes to finite values only in dtype
 * out_dt: every product stays below the largest finite value of the scale
 * dtype and of out_dt, with a margin for the rounding of the products. */
bool ct_dec_bound_finite(const ct_dec_bound *b, ct_dtype out_dt);

/* The codec of a format, or NULL when ctensors cannot write or read it. */
const ct_codec *ct_codec_for(ct_format f);

/* ---- helpers shared by the codecs ---- */

/* Scale-grid shape of p as the library stores it: [1] for tensor, else
 * [srows, scols]. */
void ct_codec_scale_shape(const ct_qparams *p, ct_codec_tensor *t);

/* Emits p's scales as dtype dt (WD, F8_E4M3 codes or U8 exponents). */
int ct_codec_emit_scales(const ct_qparams *p, ct_dtype dt, int k, ct_emit_fn emit,
			 void *ctx, ct_error *err);

/* Reads stored scales into p->scale (dtype of t: float, F8_E4M3 or U8 MX
 * exponent); checks shape and that every scale is finite and > 0. */
int ct_codec_load_scales(ct_qparams *p, const ct_tensor *t, const char *what,
			 ct_error *err);

/* Quantizes every row of w and hands each row of codes to fn. */
typedef int (*ct_row_fn)(void *ctx, uint64_t r, const int32_t *q, ct_error *err);
int ct_codec_quantize_rows(const ct_wview *w, const ct_qparams *p, ct_row_fn fn,
			   void *ctx, ct_error *err);

/* Dequantizes rows whose codes fn_codes supplies and emits them as output 0. */
typedef int (*ct_codes_fn)(void *ctx, uint64_t r, int32_t *q, ct_error *err);
int ct_codec_dequantize_rows(const ct_qparams *p, ct_codes_fn codes, void *cctx,
			     ct_dtype out_dt, ct_emit_fn emit, void *ctx, ct_error *err);

/* Checks that t exists with dtype dt and the given shape. */
int ct_codec_expect(const ct_tensor *t, const char *suffix, ct_dtype dt, int ndim,
		    const uint64_t *shape, ct_error *err);


/* ---- sparsity (shared by the sparse codecs and the planner) ---- */

/* True when element i of a dtype-dt array is zero (-0.0 counts as zero). */
bool ct_sparse_is_zero(ct_dtype dt, const uint8_t *base, uint64_t i);

/* Counts the non-zero elements of n elements. */
uint64_t ct_sparse_count_nonzero(ct_dtype dt, const void *data, uint64_t n);

/* Checks 2:4 structure (at most two non-zeros in every run of four
 * consecutive elements); returns false with *bad_group set otherwise. */
bool ct_sparse_is_24(ct_dtype dt, const void *data, uint64_t n, uint64_t *bad_group);

/* Emits the dense rows of a bitmask-sparse weight (info from the codec's
 * check): the stored values in order at the set bits, zeros elsewhere,
 * converted to out_dt when it differs. */
int ct_codec_scatter_rows(const ct_tensor *mask, const ct_tensor *vals,
			  const ct_dec_info *info, ct_dtype out_dt, ct_emit_fn emit, void *ctx,
			  ct_error *err);

/* ---- FP4 nibble rows (shared by nvfp4 and mxfp4) ---- */

/* Packs n nibbles (n even) two per byte, element 2k in the low nibble. */
void ct_codec_pack_nibbles(const int32_t *q, uint64_t n, uint8_t *out);
void ct_codec_unpack_nibbles(const uint8_t *in, uint64_t n, int32_t *q);

/* Encodes an fp4 module: packed nibbles as output 0, then the scales as
 * output 1 in scale_dt. */
int ct_codec_fp4_encode(const ct_module_desc *m, const ct_wview *w, const ct_qparams *p,
			ct_dtype scale_dt, ct_emit_fn emit, void *ctx, ct_error *err);

/* Checks weight_packed U8 [R, C/2] and weight_scale (scale_dt, [R, C/group])
 * and loads the scales into p (when non-NULL). */
int ct_codec_fp4_load(const ct_qargs *a, ct_lookup_fn get, void *gctx, ct_dtype scale_dt,
		      ct_qparams *p, ct_dec_info *info, ct_error *err);

/* Emits the dense rows of an fp4 module whose qparams are loaded. */
int ct_codec_fp4_decode(const ct_qparams *p, ct_lookup_fn get, void *gctx, ct_dtype out_dt,
			ct_emit_fn emit, void *ctx, ct_error *err);
#endif
