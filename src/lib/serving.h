/*
 * serving.h - will vLLM load this checkpoint, and serve the right numbers?
 *
 * The checkpoint is read as vLLM reads it: the config of config.json (not
 * the copy in the shard metadata), and the modules as vLLM maps them onto
 * its layers (q/k/v into qkv_proj, gate/up into gate_up_proj, MoE experts
 * into w13/w2). Every finding names the rule it comes from; the rules, with
 * the vLLM source each was read from, are a table (vllm_rules.c), so that a
 * new vLLM release means editing the table.
 */
#ifndef CT_SERVING_H
#define CT_SERVING_H

#include <stdbool.h>
#include <stddef.h>

#include "checkpoint.h"
#include "ct_error.h"
#include "qconfig.h"

/* How bad a finding is. */
typedef enum ct_severity {
	CT_SEV_ERROR,        /* vLLM refuses the checkpoint at start-up */
	CT_SEV_WRONG,        /* vLLM loads it and serves wrong numbers */
	CT_SEV_NOTE,         /* depends on the GPU or TP size, or unverified: not a failure */
} ct_severity;

/* One rule of the table. */
typedef struct ct_vllm_rule {
	const char *id;          /* "vllm-dispatch", ... */
	ct_severity severity;    /* when the target is known and the rule is verified */
	const char *checks;      /* what it matches, in a few words */
	const char *fix;         /* what to do about it */
	const char *source;      /* vLLM file and function it was read from */
	bool unverified;         /* VLLM.md marks it unverified: a note, never a failure */
} ct_vllm_rule;

/* The rule table and its length. */
extern const ct_vllm_rule ct_vllm_rules[];
extern const size_t ct_vllm_n_rules;

/* What the checkpoint is served on; 0 when not given. */
typedef struct ct_serving_target {
	int sm;                  /* compute capability: 80 for sm80, 90, 100, ... */
	int tp;                  /* tensor-parallel size */
} ct_serving_target;

typedef struct ct_finding {
	const ct_vllm_rule *rule;
	ct_severity severity;    /* as judged for the target (a note without one) */
	char *layer;             /* vLLM layer ("model.layers.0.self_attn.qkv_proj"), or "(config)" */
	char *message;
} ct_finding;

/* The kernel vLLM picks for the modules of one config group. */
typedef struct ct_kernel_choice {
	char *group;
	char *scheme;            /* vLLM scheme class ("CompressedTensorsWNA16") */
	char *kernel;            /* kernel, where it can be told ("Marlin"), or "" */
} ct_kernel_choice;

typedef struct ct_serving_report {
	ct_finding *findings;
	size_t n_findings;
	ct_kernel_choice *kernels;
	size_t n_kernels;
	size_t n_failed;         /* findings of severity ERROR or WRONG */
	size_t n_layers;         /* vLLM layers looked at */
} ct_serving_report;

/* Checks ck, described by cfg (the config vLLM reads, or NULL when the
 * checkpoint is dense), against vLLM's loader for target. Findings go into
 * the report; the return value is an error only when the check could not
 * run (CT_EIO). */
int ct_serving_check_vllm(const ct_checkpoint *ck, const ct_qconfig *cfg,
			  const ct_serving_target *target, ct_serving_report **out, ct_error *err);

void ct_serving_report_free(ct_serving_report *r);

const char *ct_severity_name(ct_severity s);

#endif
