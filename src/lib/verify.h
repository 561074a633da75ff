/*
 * verify.h - is a checkpoint intact and faithful?
 *
 * Integrity: every structural rule of FORMAT.md §8 that the codecs know
 * (shapes and dtypes of packed tensors and scales, zero points present
 * exactly when asymmetric, scales finite and positive), every target of the
 * config compressed and every compressed tensor covered by the config, every
 * compressed module decodes, and the ctensors.xxh3 checksums match the
 * bytes. Fidelity (with an original): every tensor decoded and compared,
 * one row at a time, so memory does not grow with the model.
 */
#ifndef CT_VERIFY_H
#define CT_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "qconfig.h"

/* What an entry of the report is about. */
typedef enum ct_verify_kind {
	CT_VK_TENSOR,          /* a stored tensor: checksum, structure, passthrough fidelity */
	CT_VK_MODULE,          /* a compressed module: decodes, fidelity of its weight */
	CT_VK_CHECKPOINT,      /* the checkpoint as a whole: files, index, config */
} ct_verify_kind;

typedef struct ct_verify_tensor {
	ct_verify_kind kind;
	char *name;            /* tensor name; a module's: its weight ("X.weight") */
	char *module;          /* CT_VK_MODULE: the module name */
	char *file;            /* shard it lives in */
	bool ok;               /* every check on it passed */
	char *problem;         /* first failed check, or NULL */
	bool compared;         /* fidelity measured against the original */
	bool exact;            /* bit-identical after decompression */
	double max_abs_err, rmse, snr_db, cosine;
	double max_step;       /* CT_VK_MODULE: largest quantization step of its groups
				* (0 for lossless formats, NAN when unknown) */
} ct_verify_tensor;

typedef struct ct_verify_report {
	ct_verify_tensor *tensors;
	size_t n_tensors;
	size_t n_checksums;         /* tensors whose checksum was checked */
	size_t n_shards_without_checksums;
	size_t n_shards_with_checksums;
	size_t n_stored;            /* stored tensors (entries of kind CT_VK_TENSOR from the checkpoint) */
	size_t n_decoded;           /* compressed modules decoded */
	bool has_config;
	bool ok;                    /* every tensor ok */
} ct_verify_report;

/* Checks ck (described by cfg, or dense when cfg is NULL) and, when orig is
 * given, compares every tensor with it. Problems with the checkpoint go into
 * the report (not errors); the return value is an error only when the check
 * itself could not run (out of memory: CT_EIO). */
int ct_verify(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_checkpoint *orig,
	      int threads, ct_verify_report **out, ct_error *err);

/* The same, where orig is a checkpoint of another tool that conv (from
 * ct_convert_open on orig) reads: each module conv converted is compared
 * with the source tool's own dequantization of it, value for value
 * (--exact: every F32 value bit-identical), and the source tensors the
 * conversion consumed are not missing. */
struct ct_conv;
int ct_verify_ex(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_checkpoint *orig,
		 const struct ct_conv *conv, int threads, ct_verify_report **out, ct_error *err);

/* The same, where structure_only (what a writer checks before it commits)
 * reads headers, index, config and the small parameter tensors, but hashes
 * no tensor and decodes no module. */
int ct_verify_scan(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_checkpoint *orig,
		   const struct ct_conv *conv, int threads, bool structure_only,
		   ct_verify_report **out, ct_error *err);

/* Adds a failed entry of the given kind (for checks made outside ct_verify:
 * files, index, config). Returns CT_EIO when out of memory. */
int ct_verify_report_add(ct_verify_report *r, ct_verify_kind kind, const char *name,
			 const char *file, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The rule --against applies without thresholds: a module whose largest
 * error exceeds twice the largest quantization step of its groups, or
 * whose SNR is negative, or a lossless (sparse) module that is not exact,
 * fails. Marks such entries and clears r->ok. */
void ct_verify_apply_default_rule(ct_verify_report *r);

void ct_verify_report_free(ct_verify_report *r);

/* ---- the verdict: everything verify decides, in one call (verdict.c) ---- */

#include <jansson.h>

#include "serving.h"
#include "strbuf.h"

typedef struct ct_verify_opts {
	const char *config;          /* CONFIG file to read the checkpoint with (-c) */
	const json_t *config_json;   /* ... or the config itself (a writer's own) */
	const char *config_label;    /* names config_json in messages */
	const char *against;         /* ORIGINAL to compare with, or NULL */
	bool exact;                  /* every compared tensor bit-identical */
	bool has_snr, has_cos, has_abs;
	double min_snr, min_cos, max_abs;
	bool require_checksums;      /* a file without ctensors.xxh3 fails */
	bool serving_vllm;           /* vLLM's loader too (serving.c) */
	ct_serving_target target;    /* --gpu, --tp (0: unknown) */
	int threads;
	bool structure_only;         /* a writer's check before its commit: no tensor
				      * hashed, no module decoded */
} ct_verify_opts;

typedef struct ct_verdict {
	ct_verify_report *report;    /* every finding, per tensor, module, checkpoint */
	ct_serving_report *serving;  /* with serving_vllm, unless no config vLLM reads */
	ct_strlist warnings;         /* for the user, one line each */
	bool ok;                     /* what verify's exit status says */
} ct_verdict;

/* The verdict on the checkpoint at path: opened leniently (its defects are
 * findings), read with the config loaders read, compared with o->against,
 * held to the thresholds and, when asked, to vLLM's loader. Returns an
 * error only when the check cannot run (an unreadable path or config, an
 * original that cannot be opened, out of memory); *out is then NULL. */
int ct_verify_checkpoint(const char *path, const ct_verify_opts *o, ct_verdict **out,
			 ct_error *err);
void ct_verdict_free(ct_verdict *v);

/* Failed entries of the report, and the first of them (NULL when none). */
size_t ct_verdict_problems(const ct_verdict *v);
const ct_verify_tensor *ct_verdict_first_problem(const ct_verdict *v);

/* The document `verify --json` prints (new reference), and the one it
 * prints when the check could not run. */
json_t *ct_verdict_json(const ct_verdict *v, const ct_verify_opts *o);
json_t *ct_verdict_error_json(const char *message, int status);

#endif
