/*
 * quant.h - round-to-nearest quantization with a min-max observer, computed
 * exactly as compressed-tensors computes it (FORMAT.md §4): every operation
 * in float32 and rounded once to the weight dtype WD, scales divided by
 * (2^b - 1)/2, NVFP4 global scales, MX power-of-two scales.
 *
 * A ct_qparams holds the scales (and zero points) of one weight matrix on its
 * scale grid; quantizing and dequantizing then work a row at a time so that
 * callers can stream row blocks.
 */
#ifndef CT_QUANT_H
#define CT_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "ct_error.h"
#include "dtype.h"
#include "qconfig.h"
#include "safetensors.h"

/* A 2-D weight view: rows x cols elements of dtype wd (F32, F16 or BF16). */
typedef struct ct_wview {
	ct_dtype wd;
	uint64_t rows, cols;
	const void *data;
	const struct ct_st_file *file;  /* mapping data lives in, to release pages of; or NULL */
} ct_wview;

/* Rows per block after which a pass over a weight releases the pages it has
 * read (ct_st_release), bounding resident memory by a block, not a tensor. */
uint64_t ct_wview_block_rows(const ct_wview *w);

/* Releases rows [r0, r1) of w's mapping. */
void ct_wview_release(const ct_wview *w, uint64_t r0, uint64_t r1);
/* Maps rows [r0, r1) of w ahead of a pass over them (ct_st_prefetch). */
void ct_wview_prefetch(const ct_wview *w, uint64_t r0, uint64_t r1);

typedef struct ct_qparams {
	const ct_qargs *args;
	ct_dtype wd;               /* weight dtype: arithmetic is rounded to it */
	uint64_t rows, cols;       /* weight shape */
	uint64_t srows, scols;     /* scale grid shape */
	uint64_t cell_rows;        /* rows of the weight per scale row (1, or block height, or rows for tensor) */
	uint64_t cell_cols;        /* columns per scale column */
	float *scale;              /* [srows*scols]: the scale value each element divides by
				    * (WD value; e4m3 value for NVFP4; 2^(E-127) for MX) */
	int32_t *zp;               /* [srows*scols] zero points, NULL when symmetric */
	bool has_gs;
	float gs;                  /* NVFP4 global scale */
	int q_min, q_max;          /* int range; float formats: ±grid max */
	bool check_grid;           /* frozen weights: quantizing must be lossless */
	bool check_overflow;       /* some code may decompress to ±Inf in the weight dtype */
	bool simd;                 /* vector kernels allowed (on by default) */
	int32_t *g_idx;            /* activation order: the group of each column, or NULL */
	float *g_scale;            /* with g_idx: one row of scales gathered per column */
	int32_t *g_zp;             /* with g_idx and zero points: the same for them */
	struct ct_qlazy *lazy;     /* ct_qparams_compute: scales computed as rows are
				    * quantized (ct_qparams_fill), or NULL: all known */
} ct_qparams;

/* Checks that the weight shape fits args (group divides columns, even
 * columns for fp4, ...). Returns CT_EINPUT with a message saying what is
 * wrong and the fix (ignoring module). */
int ct_quant_check_shape(const ct_qargs *args, uint64_t rows, uint64_t cols,
			 const char *module, ct_error *err);

/* NVFP4 global scale from the absolute maximum of the weight (or of a fused
 * set of weights) in dtype wd: f32(rne(rne(1/A) * 2688)). */
float ct_quant_global_scale(ct_dtype wd, float absmax);

/* Largest |x| of a weight (WD values); NaN/Inf make it return false with
 * *bad_index set. */
bool ct_quant_absmax(const ct_wview *w, float *absmax, uint64_t *bad_index);

/* Computes scales and zero points of w under args (min-max observer). gs is
 * used for tensor_group strategies (pass ct_quant_global_scale of the module
 * or fused set). Allocates p->scale/zp; release with ct_qparams_free. */
int ct_qparams_compute(const ct_qargs *args, const ct_wview *w, float gs,
		       ct_qparams *p, ct_error *err);

/* Makes sure the scales (and zero points) of every row below r_end are
 * computed: ct_qparams_compute defers them for strategies whose cells are
 * rows or row blocks, so that one pass over the weight both observes and
 * quantizes it while a block of rows is in cache. Writes through p's
 * arrays only. Returns the error of a scale the weight dtype cannot hold. */
int ct_qparams_fill(const ct_qparams *p, uint64_t r_end, ct_error *err);

/* True when row r's codes must be checked for decompressing to infinity
 * (rows up to r filled). */
bool ct_qparams_check_overflow(const ct_qparams *p);

/* Builds qparams from already-stored scales (frozen checkpoints, and the
 * dequantizer): scale values per cell, optional zero points. */
int ct_qparams_init(const ct_qargs *args, ct_dtype wd, uint64_t rows, uint64_t cols,
		    ct_qparams *p, ct_error *err);

/* Reads weight_g_idx (I32 or I64 [cols]) for group-strategy params: the
 * scale of column j is then that of group g_idx[j]. Refuses indices out
 * of range, and groups that do not hold exactly group_size columns (the
 * library's GPTQ writes each group full). A g_idx equal to j / group_size
 * everywhere changes nothing and is not kept. */
int ct_qparams_load_g_idx(ct_qparams *p, const struct ct_tensor *t, ct_error *err);

void ct_qparams_free(ct_qparams *p);

/* Quantizes row r of w (x: the row widened to float) into q: for int args
 * the integer values in [q_min, q_max]; for float 8-bit the e4m3 codes; for
 * float 4-bit the E2M1 nibbles (sign<<3 | index). */
void ct_quant_row(const ct_qparams *p, uint64_t r, const float *x, int32_t *q);

/* ct_quant_row for rows [r, r + nrows) from w's own data at src (no
 * widened copy), codes row after row in q. Returns false when a row holds
 * NaN or infinity (q is then unspecified). */
bool ct_quant_rows_raw(const ct_qparams *p, uint64_t r, uint64_t nrows, const void *src,
		       int32_t *q);

/* Rows that ct_quant_rows_raw takes in one call (1 when their cells do not
 * follow each other in memory: block strategies), at most max_rows. */
uint64_t ct_quant_rows_batch(const ct_qparams *p, uint64_t max_rows);

/* For frozen (already fake-quantized) weights: the codes whose dequantized
 * values, rounded to the weight dtype, are exactly the elements of row r
 * (the sign of zero included), so that packing loses nothing. False with
 * *bad_col set when an element is on no code's grid point. */
bool ct_quant_row_exact(const ct_qparams *p, uint64_t r, const float *x, int32_t *q,
			uint64_t *bad_col);

/* Dequantizes row r: q as produced by ct_quant_row, into out of dtype
 * out_dt (F32/F16/BF16) as the library's decompression does (FORMAT.md §4.8). */
void ct_dequant_row(const ct_qparams *p, uint64_t r, const int32_t *q, ct_dtype out_dt,
		    void *out);

/* The dtype decompression returns for these args: BF16 for fp4 formats and
 * MX, else the scale dtype (= WD). */
ct_dtype ct_dequant_dtype(const ct_qparams *p);

/* E2M1 value of a nibble, and the nibble of a float already on the grid. */
float ct_fp4_value(unsigned nibble);
/* Rounds t (clamped to ±6) to the E2M1 grid, ties to even; nibble result. */
unsigned ct_fp4_round(float t);


#endif
