/*
 * qconfig.h - the compressed-tensors quantization_config: parsing with
 * validation, preset schemes, target/ignore matching, and writing it back
 * exactly as the Python library does (FORMAT.md §4.1, §5).
 *
 * A parsed config is immutable except through the functions here; codecs and
 * the planner read its fields.
 */
#ifndef CT_QCONFIG_H
#define CT_QCONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_error.h"
#include "dtype.h"
#include "modclass.h"

typedef enum ct_qtype { CT_QTYPE_INT, CT_QTYPE_FLOAT } ct_qtype;

typedef enum ct_strategy {
	CT_STRAT_TENSOR,
	CT_STRAT_CHANNEL,
	CT_STRAT_GROUP,
	CT_STRAT_BLOCK,
	CT_STRAT_TOKEN,
	CT_STRAT_TENSOR_GROUP,
	CT_STRAT_ATTN_HEAD,
} ct_strategy;

typedef enum ct_dynamic { CT_DYN_FALSE, CT_DYN_TRUE, CT_DYN_LOCAL } ct_dynamic;
typedef enum ct_actorder { CT_ACT_NONE, CT_ACT_GROUP, CT_ACT_WEIGHT } ct_actorder;

typedef enum ct_format {
	CT_FMT_NONE = 0,          /* not given (infer) */
	CT_FMT_DENSE,
	CT_FMT_NAIVE,             /* naive-quantized */
	CT_FMT_INT,               /* int-quantized */
	CT_FMT_FLOAT,             /* float-quantized */
	CT_FMT_PACK,              /* pack-quantized */
	CT_FMT_NVFP4,             /* nvfp4-pack-quantized */
	CT_FMT_MXFP4,             /* mxfp4-pack-quantized */
	CT_FMT_MXFP8,             /* mxfp8-quantized */
	CT_FMT_MIXED,             /* mixed-precision (top level only) */
	CT_FMT_SPARSE_BITMASK,    /* sparse-bitmask */
	CT_FMT_SPARSE_24,         /* sparse-24-bitmask */
	CT_FMT_MARLIN_24,         /* marlin-24 (recognised, not supported) */
	CT_FMT_COUNT
} ct_format;

/* "pack-quantized" etc.; NULL for CT_FMT_NONE. */
const char *ct_format_name(ct_format f);
/* Exact lookup of a format string; false when unknown. */
bool ct_format_from_name(const char *s, ct_format *out);

/* One QuantizationArgs object (weights, input_activations, ...). */
typedef struct ct_qargs {
	int num_bits;
	ct_qtype type;
	bool symmetric;
	bool has_group_size;       /* group_size not null */
	int64_t group_size;
	ct_strategy strategy;
	bool has_block;            /* block_structure not null */
	int64_t block[2];          /* rows, cols */
	ct_dynamic dynamic;
	ct_actorder actorder;
	bool has_scale_dtype;
	ct_dtype scale_dtype;      /* from "torch.float8_e4m3fn", "torch.uint8", ... */
	bool has_zp_dtype;
	ct_dtype zp_dtype;
	char *observer;            /* NULL for null */
	json_t *observer_kwargs;   /* object, never NULL after parsing */
} ct_qargs;

/* One config group (QuantizationScheme). */
typedef struct ct_qscheme {
	char *name;                /* key in config_groups ("group_0") */
	char **targets;
	size_t n_targets;
	ct_qargs *weights;         /* NULL when null */
	ct_qargs *input_activations;
	ct_qargs *output_activations;
	ct_format format;          /* CT_FMT_NONE when absent (inferred by ct_qconfig_normalize) */
} ct_qscheme;

/* The sparsity_config object (CT <= 0.14), when present and non-empty. */
typedef struct ct_sparsity {
	ct_format format;          /* CT_FMT_SPARSE_BITMASK, CT_FMT_SPARSE_24 or CT_FMT_DENSE */
	bool has_global_sparsity;
	double global_sparsity;
	char **targets;
	size_t n_targets;
	char **ignore;
	size_t n_ignore;
	char *structure;           /* "unstructured", "2:4", ... or NULL */
	json_t *json;              /* the object as read, re-emitted verbatim */
} ct_sparsity;

typedef struct ct_qconfig {
	ct_qscheme *groups;
	size_t n_groups;
	char **ignore;
	size_t n_ignore;
	ct_format format;          /* top-level format (CT_FMT_NONE if absent) */
	char *quantization_status; /* "compressed", "frozen", ... or NULL */
	json_t *kv_cache_scheme;   /* kept verbatim (null/absent -> NULL) */
	json_t *transform_config;  /* kept verbatim; NULL when absent */
	bool has_sparsity_key;     /* "sparsity_config" key was present */
	ct_sparsity *sparsity;     /* NULL when absent or {} */
	char *version;             /* "0.14.0.1", "0.18.0", ... or NULL */
	int version_major, version_minor;  /* parsed from version; 0.18 when absent */
	bool has_global_compression_ratio; /* key present (written as null) */
} ct_qconfig;

/* Parses and validates a quantization_config object (or a whole config.json
 * holding one under "quantization_config" / "compression_config"). label
 * names the source in messages, which name the field, the value and what is
 * allowed (CT_EINPUT). Unknown keys are refused at every level where the
 * library forbids them. Preset names used as group keys with a target list
 * ("W4A16": ["Linear"]) are expanded. */
int ct_qconfig_parse(const json_t *obj, const char *label, ct_qconfig **out,
		     ct_error *err);

/* A config holding one group "group_0" for preset name (case-insensitive),
 * targets ["Linear"], ignore empty, version "0.18.0", expanded as CT 0.18.0
 * expands it (FORMAT.md §5.5). Presets with static activations (FP8, NVFP4,
 * ...) are refused with a message naming the closest data-free preset. */
int ct_qconfig_preset(const char *name, ct_qconfig **out, ct_error *err);

/* Names of the presets ct_qconfig_preset accepts, NULL-terminated. */
const char *const *ct_qconfig_preset_names(void);

/* Fills what the library fills before writing: each group's format (inferred
 * per CT 0.18.0 §2.5 when absent), the top-level format (single or
 * mixed-precision), quantization_status "compressed". Refuses schemes a
 * data-free tool cannot produce (static activation scales, actorder, kv cache
 * scheme) naming the field and the closest data-free preset. */
int ct_qconfig_normalize(ct_qconfig *c, ct_error *err);

/* Appends ignore entries (copied), skipping ones already present. */
int ct_qconfig_add_ignore(ct_qconfig *c, const char *const *names, size_t n,
			  ct_error *err);
/* Replaces every group's targets with the given list. */
int ct_qconfig_set_targets(ct_qconfig *c, const char *const *targets, size_t n,
			   ct_error *err);
/* Sets group_size (and strategy group) on every group's weights. */
int ct_qconfig_set_group_size(ct_qconfig *c, int64_t group_size, ct_error *err);

/* Gives c a sparsity config of format (sparse-bitmask or sparse-24-bitmask)
 * as LLMC writes one for a whole model: targets Linear, ignore lm_head, its
 * structure, and (for a config without quantization groups) version
 * "0.14.0.1", the last library that reads sparse formats. An existing
 * sparsity config keeps its targets and ignore. */
int ct_qconfig_set_sparsity(ct_qconfig *c, ct_format format, ct_error *err);

/* Replaces the sparsity config's targets and ignore lists (copied). */
int ct_qconfig_set_sparsity_lists(ct_qconfig *c, const char *const *targets, size_t n_targets,
				  const char *const *ignore, size_t n_ignore, ct_error *err);

/* Records global_sparsity (fraction of zeros), rounded to 4 decimals as the
 * library writes it. */
int ct_qconfig_set_global_sparsity(ct_qconfig *c, double fraction, ct_error *err);

/* The config as the JSON object the library writes (all 12 QuantizationArgs
 * members, sorted keys on output). */
json_t *ct_qconfig_to_json(const ct_qconfig *c);

void ct_qconfig_free(ct_qconfig *c);

/* ---- matching (FORMAT.md §5.6, compressed-tensors utils/match.py) ---- */

/* How specifically a pattern matches a module, most specific first. */
enum { CT_MATCH_NONE = -1, CT_MATCH_EXACT = 0, CT_MATCH_REGEX = 1, CT_MATCH_CLASS = 2 };

/* A compiled set of target/ignore patterns: "re:" Python regexes anchored
 * at the start (re.match) against the module name, and other entries, which
 * match a module of that exact name or of that class (modclass.h). */
typedef struct ct_matcher ct_matcher;

int ct_matcher_new(const char *const *patterns, size_t n, const char *what,
		   ct_matcher **out, ct_error *err);
/* True when some pattern matches module (of class cls). */
bool ct_matcher_match(const ct_matcher *m, const char *module, ct_modclass cls);
/* The most specific level at which a pattern matches (CT_MATCH_*), and in
 * *which the first pattern matching at that level. */
int ct_matcher_best(const ct_matcher *m, const char *module, ct_modclass cls, size_t *which);
/* Marks the patterns that match module as used. Not thread-safe. */
void ct_matcher_mark(ct_matcher *m, const char *module, ct_modclass cls);
/* The next pattern at or after *iter never marked used, or NULL. */
const char *ct_matcher_unused(const ct_matcher *m, size_t *iter);
/* Pattern i as written. */
const char *ct_matcher_pattern(const ct_matcher *m, size_t i);
void ct_matcher_free(ct_matcher *m);

/* The patterns of a whole config, compiled once by ct_qconfig_compile; c
 * must outlive them. */
typedef struct ct_qmatch ct_qmatch;
int ct_qconfig_compile(const ct_qconfig *c, ct_qmatch **out, ct_error *err);
/* Which group (index) quantizes module, as the library chooses it: none
 * (-1) when an ignore entry matches; else the group whose target matches
 * most specifically (exact name, then regex, then class). Two groups
 * matching at that same level are refused (CT_EINPUT naming both), where
 * the library would silently take one. */
int ct_qmatch_resolve(const ct_qmatch *m, const char *module, ct_modclass cls, int *group,
		      ct_error *err);
/* The same, -1 on a tie. */
int ct_qmatch_group(const ct_qmatch *m, const char *module, ct_modclass cls);
bool ct_qmatch_ignored(const ct_qmatch *m, const char *module, ct_modclass cls);
/* Marks every target and ignore entry that matches module. Not thread-safe. */
void ct_qmatch_mark(ct_qmatch *m, const char *module, ct_modclass cls);
/* Adds a warning to out for every target and ignore entry never marked,
 * except the ignore entries listed in quiet. */
struct ct_strlist;
void ct_qmatch_unused(const ct_qmatch *m, const char *const *quiet, size_t n_quiet,
		      struct ct_strlist *out);
void ct_qmatch_free(ct_qmatch *m);

#endif
