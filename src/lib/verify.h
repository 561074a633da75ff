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

typedef struct ct_verify_tensor {
	char *name;            /* tensor (or module weight) name */
	char *file;            /* shard it lives in */
	bool ok;               /* every check on it passed */
	char *problem;         /* first failed check, or NULL */
	bool compared;         /* fidelity measured against the original */
	bool exact;            /* bit-identical after decompression */
	double max_abs_err, rmse, snr_db, cosine;
} ct_verify_tensor;

typedef struct ct_verify_report {
	ct_verify_tensor *tensors;
	size_t n_tensors;
	size_t n_checksums;         /* tensors whose checksum was checked */
	size_t n_shards_without_checksums;
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

void ct_verify_report_free(ct_verify_report *r);

#endif
