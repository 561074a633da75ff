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
#include <stdint.h>

#include "checkpoint.h"
#include "ct_error.h"
#include "qconfig.h"

/* How bad a finding is. */
typedef enum ct_severity {
	CT_SEV_ERROR,        /* vLLM refuses the checkpoint at start-up */
	CT_SEV_WRONG,        /* vLLM loads it and serves wrong numbers */
	CT_SEV_NOTE,         /* a warning of vLLM's, or (without --gpu/--tp) true only on some
			      * GPUs or TP sizes: not a failure */
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

/* The vLLM commit the rules were read from, and its date. */
extern const char ct_vllm_commit[];
extern const char ct_vllm_commit_date[];

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
	char *kernel;            /* kernel class vLLM picks for the group's layers
				  * ("MarlinLinearKernel"; several joined by ", "), or "" */
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

/* True when some group of cfg, as the library writes it, loads on none of
 * the CUDA GPUs vLLM supports (no scheme, no kernel, or other parameters
 * than the scheme registers), with the reason in why. */
bool ct_vllm_unserved(const ct_qconfig *cfg, char *why, size_t n);

const char *ct_severity_name(ct_severity s);

/* ------------------------------------ vLLM's decisions (vllm_rules.c) --- */

/* Compressed-tensors schemes of vLLM (class names: ct_vscheme_name). */
typedef enum ct_vscheme {
	CT_VS_NONE,              /* no scheme: unquantized, or NotImplementedError */
	CT_VS_WNA16,
	CT_VS_W4A16_FP4,
	CT_VS_W4A4_FP4,
	CT_VS_W4A4_MXFP4,
	CT_VS_W8A8_MXFP8,
	CT_VS_W4A8_FP8,
	CT_VS_W4A8_INT,
	CT_VS_W8A8_FP8,
	CT_VS_W8A16_FP8,
	CT_VS_W8A8_INT8,
	CT_VS_COUNT
} ct_vscheme;

const char *ct_vscheme_name(ct_vscheme s);
int ct_vscheme_min_capability(ct_vscheme s);
/* _get_scheme_from_parts for weights w, input in (NULL: none), format fmt on
 * capability sm; CT_VS_NONE when vLLM raises NotImplementedError. */
ct_vscheme ct_vllm_scheme(const ct_qargs *w, const ct_qargs *in, ct_format fmt, int sm);
bool ct_vllm_is_nvfp4(const ct_qargs *a);
bool ct_vllm_is_mxfp4(const ct_qargs *a);
bool ct_vllm_is_mxfp8(const ct_qargs *a);
bool ct_vllm_is_fp8_w8a8(const ct_qargs *w, const ct_qargs *in);
bool ct_vllm_is_fp8_w4a8(const ct_qargs *w, const ct_qargs *in);
bool ct_vllm_is_wna16(const ct_qargs *w, const ct_qargs *in);
bool ct_vllm_is_dynamic_token_w8a8(const ct_qargs *w, const ct_qargs *in);
bool ct_vllm_is_dynamic_token_w4a8_int(const ct_qargs *w, const ct_qargs *in);
bool ct_vllm_act_format(ct_format f);

/* Parameters a layer's scheme registers, as bits CT_PB(CT_P_...). */
enum {
	CT_P_WEIGHT, CT_P_PACKED, CT_P_SCALE, CT_P_ZP, CT_P_SHAPE, CT_P_GIDX, CT_P_GSCALE,
	CT_P_INSCALE, CT_P_INGSCALE, CT_P_INZP, CT_P_COUNT
};
#define CT_PB(p) (1u << (p))
unsigned ct_vscheme_params(ct_vscheme s, const ct_qargs *w, const ct_qargs *in);
/* "weight", "weight_packed", ...; NULL out of range. */
const char *ct_vllm_param_name(int p);

/* A mixed-precision (weight-only integer) layer as MPLinearLayerConfig
 * describes it: sizes per GPU and whole. */
typedef struct ct_mp_config {
	uint64_t k_full, k_part, n_part;
	int bits;
	bool int4;               /* signed int4 (the W4A8 schemes), else uintN(bN) */
	bool zp, g_idx;
	int64_t group;           /* -1: channelwise */
	bool fp16;               /* activations float16, else bfloat16 */
	bool act_fp8;            /* W4A8-FP8: activations float8_e4m3fn */
} ct_mp_config;

enum { CT_MPK_NONE = -1, CT_MPK_CUTLASS_W4A8, CT_MPK_MACHETE, CT_MPK_ALLSPARK, CT_MPK_MARLIN,
       CT_MPK_CONCH, CT_MPK_EXLLAMA, CT_MPK_COUNT };
/* choose_mp_linear_kernel on CUDA capability sm: the kernel, or
 * CT_MPK_NONE with every kernel's reason in why. */
int ct_vllm_mp_kernel(const ct_mp_config *c, int sm, char *why, size_t n);
const char *ct_mpkernel_name(int k);
/* The activation dtype vLLM runs a model of config dtype torch_dtype in on
 * sm (auto dtype): true for float16. */
bool ct_vllm_act_fp16(const char *torch_dtype, int sm);
/* Whether the FP8 weight-only kernel list has a kernel on sm. */
bool ct_vllm_wfp8a16_kernel(int sm);

#endif
