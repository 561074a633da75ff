/*
 * describe.h - what a checkpoint's tensors are, for `inspect` and anything
 * else that explains a checkpoint to a person.
 *
 *   1. roles: what each tensor is for, recognised from its name, the other
 *      tensors of its module and, when there is one, the config
 *      (FORMAT.md §2.1, §2.6, §3): "int4 g128 packed weight", "fp8 scale",
 *      "nvfp4 global scale", "norm", "sparse bitmask", ...;
 *   2. parameters: the logical weights a tensor holds (a packed tensor
 *      counts the weights it packs; scales, zero points and shapes count 0);
 *   3. statistics of a tensor's values (min, max, mean, std, zeros, NaN, Inf);
 *   4. a one-or-two-line summary of a quantization config.
 *
 * Roles and parameters come from the headers; the only data they read is
 * the 2-element I64 `weight_shape` / `shape` tensor of a module (R and C).
 * Statistics read every element.
 */
#ifndef CT_DESCRIBE_H
#define CT_DESCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "ct_error.h"
#include "qconfig.h"

/* ------------------------------------------------------------------- roles */

typedef enum ct_role {
	CT_ROLE_DENSE,          /* a weight kept as it is (Linear, lm_head, ...) */
	CT_ROLE_EMBEDDING,      /* dense weight of an embedding module */
	CT_ROLE_NORM,           /* dense weight of a norm (or any 1-D weight) */
	CT_ROLE_BIAS,
	CT_ROLE_FAKE_QUANT,     /* float weight next to a weight_scale (format dense, frozen) */
	CT_ROLE_QWEIGHT,        /* quantized weight, one value per element (int/naive/float/mxfp8) */
	CT_ROLE_PACKED,         /* weight_packed: pack-quantized, nvfp4, mxfp4, marlin-24 */
	CT_ROLE_SCALE,          /* weight_scale */
	CT_ROLE_ZERO_POINT,     /* weight_zero_point */
	CT_ROLE_GLOBAL_SCALE,   /* weight_global_scale */
	CT_ROLE_WEIGHT_SHAPE,   /* weight_shape of pack-quantized */
	CT_ROLE_G_IDX,          /* weight_g_idx (actorder group) */
	CT_ROLE_ACT_PARAM,      /* input_/output_ scale, zero point, global scale */
	CT_ROLE_KV_SCALE,       /* k_scale, v_scale, q_scale */
	CT_ROLE_SPARSE_VALUES,  /* compressed */
	CT_ROLE_SPARSE_BITMASK, /* bitmask */
	CT_ROLE_SPARSE_OFFSETS, /* row_offsets */
	CT_ROLE_SPARSE_SHAPE,   /* shape */
	CT_ROLE_MARLIN_SCALE,   /* scale_packed */
	CT_ROLE_MARLIN_META,    /* meta */
	CT_ROLE_OTHER,          /* buffers and anything not recognised */
} ct_role;

/* What one tensor is. The scheme fields describe the tensor's module and are
 * meaningful when format is a quantized one. */
typedef struct ct_tensor_desc {
	ct_role role;
	ct_format format;       /* module layout recognised from its tensors; CT_FMT_DENSE when none */
	int group;              /* config group that quantizes the module, -1 when none/no config */
	bool ignored;           /* the config's ignore list names the module */
	int bits;               /* bits per quantized weight, 0 when unknown */
	ct_qtype qtype;         /* int or float quantization */
	bool has_strategy;      /* strategy (and group_size/block) known */
	ct_strategy strategy;
	int64_t group_size;     /* group / tensor_group strategies */
	int64_t block[2];       /* block strategy: rows, cols */
	bool asymmetric;        /* a zero point is stored, or the config says so */
	uint64_t params;        /* logical parameters the tensor holds (see ct_describe_params) */
	bool act_order;         /* the module stores weight_g_idx (GPTQ activation order) */
	ct_modclass module_class; /* inferred class of the tensor's module (modclass.h);
				   * CT_MOD_COUNT when the module holds no weight */
} ct_tensor_desc;

typedef struct ct_describer ct_describer;

/* Prepares to describe the tensors of ck. cfg is the checkpoint's parsed
 * config or NULL; when given, modules are matched to its groups (targets
 * and ignore, FORMAT.md §5.6) so that bits and group size come from it;
 * without it they are inferred from the tensors. ck and cfg must outlive
 * the describer, which only reads them (one describer may serve several
 * threads). Returns CT_OK, CT_EINPUT for a config whose patterns do not
 * compile, CT_EIO when out of memory. */
int ct_describer_new(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_describer **out,
		     ct_error *err);

/* Frees d; safe on NULL. */
void ct_describer_free(ct_describer *d);

/* Fills *out for tensor r, an entry of the checkpoint's tensors[]. Cannot
 * fail: what cannot be recognised is CT_ROLE_OTHER / unknown bits. */
void ct_describe_tensor(const ct_describer *d, const ct_tref *r, ct_tensor_desc *out);

/* Writes a short text for the role of tensor r into buf ("int4 g128 packed
 * weight", "fp8 scale", "zero point (packed)", "dense", "norm", ...) and
 * returns buf. The text is ASCII, cut to fit size (size >= 1; 64 bytes hold
 * every scheme a real config describes). */
const char *ct_describe_role(const ct_describer *d, const ct_tref *r, char *buf, size_t size);

/* The same text from a description already made. */
const char *ct_tensor_desc_text(const ct_tensor_desc *td, char *buf, size_t size);

/* Logical parameters of tensor r: the weights it holds, not its elements.
 * A pack-quantized weight_packed counts R×C from its weight_shape, an
 * nvfp4/mxfp4 weight_packed 2 per byte, a sparse `compressed` the R×C of
 * its `shape`; scales, zero points, global scales, shapes, g_idx, bitmasks,
 * row offsets and activation parameters count 0; any other tensor counts
 * its elements. When R×C cannot be trusted (shape tensor absent or not
 * consistent with the packed tensor) it is estimated from the elements. */
uint64_t ct_describe_params(const ct_describer *d, const ct_tref *r);

/* -------------------------------------------------------------- statistics */

typedef struct ct_stats {
	uint64_t count;         /* elements */
	uint64_t finite;        /* elements that fed min, max, mean and std */
	double min, max;        /* NaN when finite == 0 */
	double mean, std;       /* population std; NaN when finite == 0 */
	uint64_t zeros;         /* elements equal to 0 (-0.0 included) */
	uint64_t nan, inf;      /* non-finite elements (excluded above) */
} ct_stats;

/* True when ct_tensor_stats can read dtype dt: F32, F16, BF16, F64,
 * F8_E4M3, F8_E5M2, F8_E8M0 and every integer dtype (BOOL, U8 ... U64). */
bool ct_stats_supported(ct_dtype dt);

/* Reads every element of t (its data must be mapped, as ct_ckpt_open leaves
 * it) and fills *out in one pass with double accumulators (chunked, merged
 * with Chan's formula). Integers are taken as their values. Returns CT_OK,
 * or CT_EINPUT naming t when its dtype is not supported. */
int ct_tensor_stats(const ct_tensor *t, ct_stats *out, ct_error *err);

/* The same over n elements of a little-endian array of dtype dt at data. */
int ct_array_stats(ct_dtype dt, const void *data, uint64_t n, ct_stats *out, ct_error *err);

/* ------------------------------------------------------------------ config */

/* A summary of cfg for people, as one or two lines separated by '\n' (no
 * trailing newline): the groups with their format, scheme and targets, and
 * the ignore list ("pack-quantized: int4 symmetric group 128 → Linear;
 * ignore: lm_head"); then the sparsity config, when there is one. Long lists
 * are cut ("… 12 more"). Text from the config is copied as it is except
 * that newlines become "\n", so the caller must still escape it for a
 * terminal. Returns a malloc'd string the caller frees, or NULL when out of
 * memory. */
char *ct_describe_qconfig(const ct_qconfig *cfg);

#endif
