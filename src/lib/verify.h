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

#endif
