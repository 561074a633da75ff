/*
 * convert.h - checkpoints quantized by other tools, read losslessly into
 * compressed-tensors (spec/CONVERT.md).
 *
 * One source format per reader (src_*.c), behind one interface, as codecs
 * are behind codec.h: a reader recognises its config, finds its modules,
 * validates every one of them against the config and the tensors (reading
 * the small tensors it must: zero points, g_idx, global scales), and
 * describes each output tensor as a function of one source tensor. Nothing
 * is written here: ct_plan_convert (plan.h) turns a conversion into a plan
 * whose items each make one output tensor in the shard of the tensor it is
 * made from, so output shards mirror the input's. Each reader also
 * dequantizes a module the way its own tool does, for verify --against.
 * Adding a source (GGUF, MLX) is one new src_*.c file and one line in the
 * table of convert.c.
 */
#ifndef CT_CONVERT_H
#define CT_CONVERT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "codec.h"
#include "ct_error.h"
#include "strbuf.h"

#define CT_CONV_MAX_SRC 6      /* source tensors one module is read from */

struct ct_conv;
struct ct_conv_module;
struct ct_conv_out;

/* Writes output tensor o (all its bytes, in order) through emit as output 0. */
typedef int (*ct_conv_produce_fn)(const struct ct_conv *cv, const struct ct_conv_out *o,
				  ct_emit_fn emit, void *ctx, ct_error *err);

/* The dense weight of module m as its source tool dequantizes it, F32
 * [rows, cols] into out. */
typedef int (*ct_conv_dequant_fn)(const struct ct_conv *cv, const struct ct_conv_module *m,
				  float *out, ct_error *err);

/* One tensor of the output, made from one source tensor. */
typedef struct ct_conv_out {
	char *name;                /* full output name (module + "." + suffix) */
	size_t module_len;         /* bytes of name that are the module */
	ct_dtype dtype;
	int ndim;
	uint64_t shape[CT_MAX_DIMS];
	const ct_tref *src;        /* the tensor it is made from: its shard holds it */
	size_t mod;                /* index of its module in cv->mods */
	ct_conv_produce_fn produce;
} ct_conv_out;

/* One converted module. Readers fill what their functions need. */
typedef struct ct_conv_module {
	char *name;
	int scheme;                /* index into cv->schemes */
	uint64_t rows, cols;       /* out_features, in_features */
	int bits;
	int64_t group_size;        /* -1: one group per row */
	uint64_t n_groups;
	bool sym;
	int variant;               /* reader-specific (layout, zero decoding, ...) */
	uint64_t slice;            /* reader-specific: which slice of a fused source (an expert) */
	bool has_gidx;             /* weight_g_idx written */
	bool exact;                /* decompresses to the source's values bit for bit */
	const ct_tref *t[CT_CONV_MAX_SRC]; /* source tensors by reader-defined role */
	ct_conv_dequant_fn dequant;
	char *mapping;             /* one line for --dry-run */
} ct_conv_module;

typedef struct ct_source ct_source;

typedef struct ct_conv {
	const ct_checkpoint *ck;
	const ct_source *src;      /* the reader */
	const json_t *qcfg;        /* the source's quantization_config (may be NULL) */
	const json_t *hfq;         /* hf_quant_config.json (ModelOpt) or NULL */
	const char *label;         /* where qcfg came from, for messages */
	ct_conv_module *mods;
	size_t n_mods, cap_mods;
	ct_conv_out *outs;
	size_t n_outs, cap_outs;
	size_t *outs_by_name;      /* indices into outs, sorted by name (ct_convert_out) */
	bool *consumed;            /* per ck->tensors index: read into a module */
	char **renamed;            /* per ck->tensors index: carried over under this name */
	json_t *schemes;           /* array of {weights, input_activations, format} */
	json_t *ignore;            /* array: the source's own excluded modules (CT form) */
	json_t *kv_cache_scheme;   /* or NULL */
	bool writer_packs_words;   /* GPTQ v1: the writer subtracted from whole words */
	bool writer_autoround;     /* GPTQ v1: ... and it is auto-round's */
	ct_strlist warnings;       /* for the user, one line each */
	json_t *out_qcfg;          /* the compressed-tensors quantization_config */
	char *summary;             /* "GPTQ v1 (GPTQModel) int4 g128 asym", for messages */
} ct_conv;

/* A source format. */
struct ct_source {
	const char *name;          /* --from value: "gptq", "awq", ... */
	const char *help;          /* one line */
	/* Claims a checkpoint from its configs (either may be NULL). */
	bool (*detect)(const json_t *qcfg, const json_t *hfq);
	/* Finds and validates every module, adds modules, outputs and schemes. */
	int (*plan)(ct_conv *cv, ct_error *err);
};

/* ---- the interface the CLI and the planner use ---- */

/* The readers, NULL-terminated, and one by name (NULL when unknown). */
const ct_source *const *ct_sources(void);
const ct_source *ct_source_find(const char *name);

/* The reader whose config ck carries (qcfg: the source quantization_config,
 * hfq: hf_quant_config.json, either NULL); NULL when none claims it. */
const ct_source *ct_source_detect(const json_t *qcfg, const json_t *hfq);

/* The quantization_config of a checkpoint made by another tool (new
 * reference or NULL): from path (a config.json or the object itself) or
 * the checkpoint's config.json; and ModelOpt's hf_quant_config.json beside
 * a model directory (or NULL). *label names where the config came from. */
#define CT_HFQ_NAME "hf_quant_config.json"
int ct_source_configs_load(const ct_checkpoint *ck, const char *path, json_t **q, json_t **hfq,
			   const char **label, ct_error *err);

/* Reads and validates the whole conversion of ck: the reader is detected
 * from the configs, or from (when not NULL) a --from name, which must then
 * agree with detection (CT_EUSAGE otherwise). Every module is checked
 * before anything is written; a checkpoint that cannot be converted exactly
 * fails with CT_EINPUT naming the module and the reason. label names where
 * qcfg came from. */
int ct_convert_open(const ct_checkpoint *ck, const json_t *qcfg, const json_t *hfq,
		    const char *label, const char *from, ct_conv **out, ct_error *err);

void ct_convert_free(ct_conv *cv);

/* The converted module called name, or NULL. */
const ct_conv_module *ct_convert_module(const ct_conv *cv, const char *name);

/* The output tensor called name, or NULL. */
const ct_conv_out *ct_convert_out(const ct_conv *cv, const char *name);

/* True when the tensor at index i of cv->ck is read into a module. */
bool ct_convert_consumed(const ct_conv *cv, const ct_tensor *t);

/* The name source tensor t is carried over under: its own unless renamed. */
const char *ct_convert_out_name(const ct_conv *cv, const ct_tensor *t);

/* The source tensor carried over renamed as name, or NULL. */
const ct_tref *ct_convert_renamed_from(const ct_conv *cv, const char *name);

/* ---- for readers (src_*.c) ---- */

/* The tensor module + "." + suffix, or NULL. */
const ct_tref *ct_conv_find(const ct_conv *cv, const char *module, const char *suffix);

/* Adds a module (name copied); returns its index or a negative CT_E* code. */
int ct_conv_add_module(ct_conv *cv, const char *name, ct_conv_module **out, ct_error *err);

/* Adds output module.suffix made from src by produce; marks src consumed. */
int ct_conv_add_out(ct_conv *cv, size_t mod, const char *suffix, ct_dtype dt, int ndim,
		    const uint64_t *shape, const ct_tref *src, ct_conv_produce_fn produce,
		    ct_error *err);

/* True when modules i and j of cv are partners vLLM fuses (q/k/v_proj,
 * gate/up_proj of one parent). */
bool ct_conv_fused_pair(const ct_conv *cv, size_t i, size_t j);

/* Marks a source tensor as read into a module without an output of its own. */
void ct_conv_consume(ct_conv *cv, const ct_tref *r);

/* Carries source tensor r over, bytes unchanged, under another name (a
 * source's KV-cache scale on k_proj becomes the attention module's). */
int ct_conv_rename(ct_conv *cv, const ct_tref *r, const char *name, ct_error *err);

/* Appends pattern pat (made from element index of the source config's list
 * key) to cv->ignore; one the library's matcher cannot compile fails with
 * CT_EINPUT naming cv->label and key. */
int ct_conv_ignore_pattern(ct_conv *cv, const char *key, size_t index, const char *pat,
			   ct_error *err);

/* Index of scheme (stolen reference) in cv->schemes, added when new. */
int ct_conv_scheme(ct_conv *cv, json_t *scheme, ct_error *err);

/* {num_bits, type "int", symmetric, strategy, group_size, actorder, dynamic false}
 * weights of an int scheme (group_size -1: channel). */
json_t *ct_conv_int_weights(int bits, bool sym, int64_t group_size, bool actorder_group);

/* Modules whose source name ends in suffix (".qweight"), as malloc'd names
 * in checkpoint order; *n is their count. */
int ct_conv_modules_with(const ct_conv *cv, const char *suffix, char ***names, size_t *n,
			 ct_error *err);
void ct_conv_names_free(char **names, size_t n);

/* Produce functions shared by readers: the source bytes unchanged; a 2-D
 * matrix of 2- or 4-byte elements transposed; weight_shape [rows, cols]. */
int ct_conv_copy_bytes(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
		       ct_error *err);
int ct_conv_transpose(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
		      ct_error *err);
/* The source's float values widened to F32 (exact from F16, BF16, E8M0). */
int ct_conv_widen_f32(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
		      ct_error *err);
int ct_conv_weight_shape(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			 ct_error *err);

/* Checks tensor r (named module.suffix in messages) has dtype dt (or any
 * of the float dtypes when dt is CT_DTYPE_COUNT) and the given shape. */
int ct_conv_expect(const ct_conv *cv, const ct_tref *r, const char *module, const char *suffix,
		   ct_dtype dt, int ndim, const uint64_t *shape, ct_error *err);

/* A string or the first string of an array in obj[key], or NULL. */
const char *ct_conv_str(const json_t *obj, const char *key);
/* obj[key] as an integer in [lo, hi] (def when absent); false when it is
 * something else. */
bool ct_conv_int(const json_t *obj, const char *key, int64_t def, int64_t lo, int64_t hi,
		 int64_t *out);
/* obj[key] as a boolean (def when absent); false when not a boolean. */
bool ct_conv_bool(const json_t *obj, const char *key, bool def, bool *out);

/* ---- shared integer layouts (src_gptq.c) ---- */

/* GPTQ-family module with qweight [in*b/32, out] I32, scales [n_groups,
 * out], qzeros [n_groups, out*b/32], optional g_idx [in]. */
typedef struct ct_gptq_opts {
	int bits;
	int64_t group_size;
	bool sym;
	bool v1;                   /* qzeros store z - 1 */
	bool desc_act;
} ct_gptq_opts;

/* Plans one GPTQ-layout module with the given options (the AutoRound and
 * GPTQModel readers call it per module with their overrides). */
int ct_gptq_plan_module(ct_conv *cv, const char *module, const ct_gptq_opts *o, ct_error *err);

/* One AutoAWQ GEMM/GEMV module (4-bit, zero point, group g); every module
 * of an AWQ-layout checkpoint whose config is q (bits, group_size,
 * modules_to_not_convert). */
int ct_awq_plan_module(ct_conv *cv, const char *module, bool gemv, int64_t group_size,
		       ct_error *err);
int ct_awq_plan_all(ct_conv *cv, const json_t *q, bool gemv, ct_error *err);

/* Per-tensor FP8 modules (AutoFP8, ModelOpt FP8): X.weight F8_E4M3 with a
 * one-element X.weight_scale; static: X.input_scale (or AutoFP8's old
 * X.act_scale) required. */
int ct_fp8_tensor_plan_all(ct_conv *cv, bool static_act, ct_error *err);

/* Per-channel FP8 modules (ModelOpt FP8_PER_CHANNEL_PER_TOKEN): X.weight
 * F8_E4M3 with X.weight_scale [out], dynamic per-token activations. */
int ct_fp8_channel_plan_all(ct_conv *cv, ct_error *err);

/* The readers. */
extern const ct_source ct_src_gptq, ct_src_awq, ct_src_fp8, ct_src_modelopt,
	ct_src_autoround, ct_src_mxfp4;

#endif
