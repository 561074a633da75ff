/*
 * plan.h - what every output shard will hold, decided and validated before
 * the first byte is written.
 *
 * A plan maps each input shard to an output shard of the same name and each
 * input tensor to one item: copied as it is, quantized into a codec's
 * tensors, or decoded back to a dense weight. Every output tensor is
 * declared in the shard's ct_st_builder, so sizes are known up front.
 */
#ifndef CT_PLAN_H
#define CT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "checkpoint.h"
#include "codec.h"
#include "qconfig.h"
#include "safetensors.h"
#include "strbuf.h"

typedef enum ct_item_kind {
	CT_ITEM_COPY,      /* tensor passes through unchanged */
	CT_ITEM_QUANT,     /* dense weight -> codec outputs */
	CT_ITEM_DECODE,    /* codec tensors -> dense weight */
	CT_ITEM_FUSE,      /* per-expert weights -> one fused 3-D tensor */
	CT_ITEM_CONVERT,   /* one output tensor of a foreign-format module (convert.h) */
} ct_item_kind;

struct ct_fuse_item;
struct ct_conv;
struct ct_conv_out;

typedef struct ct_plan_item {
	ct_item_kind kind;
	const ct_tensor *src;      /* COPY/QUANT: the input tensor; DECODE: the module's first tensor */
	size_t shard;              /* input shard of src */
	char *module;              /* QUANT/DECODE: module name */
	int group;                 /* config group index, -1 for sparse-only */
	const ct_codec *codec;     /* quantization codec, NULL for sparse-only */
	ct_module_desc desc;
	const ct_codec *sparse;    /* sparsity codec applied to the (quantized) weight, or NULL */
	ct_module_desc sdesc;      /* what the sparsity codec sees */
	size_t n_sparse_out;       /* the first outputs are the sparsity codec's */
	float gs;                  /* NVFP4 global scale */
	bool frozen;               /* QUANT: qparams read from the input, not computed */
	size_t n_out;
	int out_id[CT_CODEC_MAX_OUT];      /* builder ids of the outputs */
	ct_codec_tensor *out;      /* what each output is, CT_CODEC_MAX_OUT of them (NULL for
				    * a COPY, which is its src: a plan of a million copied
				    * tensors holds no codec tensors) */
	ct_dtype out_dtype;        /* DECODE: dtype written */
	uint64_t in_bytes;         /* input bytes this item consumes (progress) */
	char *why;                 /* COPY of a module's weight: why it stays dense, or NULL */
	const char *out_name;      /* COPY: the name written (src->name unless a conversion
				    * renames it; then it lives as long as the conversion) */
	const struct ct_moe_block *moe; /* a part of this fused expert block, or NULL: */
	uint64_t expert;           /* src is then a view of expert `expert`'s part, */
	int part;                  /* (ct_moe_part) with NULL data when it must be gathered */
	struct ct_fuse_item *fuse; /* FUSE: the per-expert items it gathers */
	const struct ct_conv_out *conv; /* CONVERT: the output tensor it makes */
	bool mweight;              /* quantize: src is a module's weight, of class mclass, */
	ct_modclass mclass;        /* that config group mgroup claims (-1: none claims it; */
	int mgroup;                /* a group without weights claims it all the same) */
} ct_plan_item;

typedef struct ct_plan_shard {
	char *name;                /* output base name (= input shard name) */
	ct_plan_item *items;
	size_t n_items;
	ct_st_builder *builder;
} ct_plan_shard;

/* A module lenient planning could not decode, and why. */
typedef struct ct_plan_problem {
	char *module;
	char *message;
	size_t shard;
} ct_plan_problem;

typedef struct ct_plan {
	const ct_checkpoint *ckpt;
	const ct_qconfig *cfg;
	ct_plan_shard *shards;
	size_t n_shards;
	uint64_t in_bytes;         /* sum of the items' in_bytes */
	uint64_t params_quantized; /* weights quantized (QUANT) */
	uint64_t params_total;
	uint64_t sparse_zeros;     /* zeros among the sparsity targets' weights */
	uint64_t sparse_numel;     /* elements of the sparsity targets' weights (decompress:
				      of the weights sparse-decompressed) */
	ct_strlist warnings;       /* for the user: targets or ignore entries matching nothing */
	size_t n_dropped;          /* decompress: activation and KV-cache parameters left out */
	ct_plan_problem *problems; /* lenient decompress: modules left out, with the reason */
	size_t n_problems;
	struct ct_moe_block *moe;  /* quantize: the fused expert blocks split into parts */
	size_t n_moe;
	ct_tensor **virt;          /* the per-expert tensors standing for those parts */
	char **virt_names;
	size_t n_virt, cap_virt;
	const struct ct_conv *conv; /* convert: the conversion the items come from */
	ct_strlist partners;       /* with gs_shards: "TENSOR (SHARD)" of each partner read
				      for its amax from a shard outside them */
	uint64_t partner_bytes;    /* ... and the bytes those reads cover */
	bool tied_lm_head;         /* quantize: config.json ties the word embeddings and the
				      checkpoint has no lm_head.weight: the model's lm_head
				      is a dense Linear all the same */
} ct_plan;

typedef struct ct_quant_opts {
	bool skip_incompatible;    /* leave unfit weights dense and ignore them */
	bool fuse_global_scale;    /* NVFP4: share gs across q/k/v, gate/up, w1/w3 */
	bool frozen;               /* scales come from the checkpoint (weight_scale, ...) */
	const char *const *implicit_ignore; /* ignore entries the tool added itself: */
	size_t n_implicit_ignore;  /* not warned about when they match nothing */
	const bool *gs_shards;     /* NVFP4: global scales only for the modules of these
				      shards (one flag per input shard) and their fused
				      partners elsewhere; NULL: every shard */
	int threads;               /* for the weights read while planning (< 1: one) */
} ct_quant_opts;

/* Plans quantizing ckpt with cfg (normalized), and compressing the targets
 * of its sparsity config (alone, or on top of 8-bit int/float quantization
 * for sparse-24-bitmask). Modules left dense by skip_incompatible are
 * appended to cfg's ignore list. Reads the weights that need it before
 * anything is written: NVFP4 global scales, 2:4 structure, non-zero counts,
 * and records global_sparsity in cfg. */
int ct_plan_quantize(const ct_checkpoint *ckpt, ct_qconfig *cfg, const ct_quant_opts *o,
		     ct_plan **out, ct_error *err);

/* A fused expert block as a checkpoint recorded it ("ctensors.fused_experts"
 * in the metadata ctensors quantize writes for a split fused input). */
typedef struct ct_fuse_spec {
	char *prefix;              /* "model.layers.0.mlp.experts" */
	int layout;                /* ct_moe_layout */
	uint64_t experts, hidden, inter;
	char *names[4];            /* the fused tensors: gate_up, down, gate_up bias, down bias */
} ct_fuse_spec;

/* Reads the fused blocks a shard's metadata records; *n is 0 when none. */
int ct_fuse_specs_read(const ct_checkpoint *ck, ct_fuse_spec **out, size_t *n, ct_error *err);
void ct_fuse_specs_free(ct_fuse_spec *s, size_t n);

/* The metadata value recording p's split fused blocks (malloc'd JSON), or
 * NULL when there is none. */
char *ct_plan_fused_metadata(const ct_plan *p);

/* The metadata value ("ctensors.decoded") listing the dense tensors of
 * shard that a decompress plan decodes (malloc'd JSON array), or NULL when
 * it decodes none there. verify holds every other tensor of such a file to
 * its original's bits. */
char *ct_plan_decoded_metadata(const ct_plan *p, size_t shard);

/* Turns a decompress plan's per-expert items of each recorded block back
 * into the block's fused tensors, in its own layout. */
int ct_plan_fuse_experts(ct_plan *p, const ct_fuse_spec *specs, size_t n, ct_error *err);

/* Plans a conversion (convert.h, validated whole): every output tensor of
 * a converted module becomes a CONVERT item in the shard of the source
 * tensor it is made from, every tensor no module reads is copied, so the
 * output mirrors the input's shards. cv must outlive the plan. */
int ct_plan_convert(const struct ct_conv *cv, ct_plan **out, ct_error *err);

/* Rewrites qj, the config a quantize plan p writes, the way
 * compressed-tensors' QuantizationConfig.from_pretrained writes it for the
 * model llm-compressor quantized (quant_config.py:from_pretrained):
 * - ignore lists, by name, every module left dense whose type some group
 *   quantized (Linear; Embedding only when an embedding is quantized;
 *   routers count as Linear), grouped by type, in the model's module order;
 * - config_groups keeps the groups that claim a module, equal schemes
 *   merged, renamed group_0, group_1, ... in the order of their first
 *   module;
 * - format is the one format left, or mixed-precision for two or more.
 * Used for recipes and presets, whose ignore llm-compressor computes. */
int ct_plan_llmc_config(const ct_plan *p, json_t *qj, ct_error *err);

/* Refuses a plan that quantizes and compresses nothing (a config whose
 * targets match no weight): CT_EINPUT. */
int ct_plan_check_nonempty(const ct_plan *p, ct_error *err);

/* Chooses, as llm-compressor does for a whole model, what cfg's sparsity
 * config targets: a 2-D weight is sparse when at least 49% of it is zero
 * (and, for sparse-24-bitmask, it has 2:4 structure). When at least as many
 * weights are sparse as not, targets are ["Linear"] and the others are
 * ignored by name; otherwise the sparse ones are targeted by name. Reads
 * every candidate weight. */
int ct_plan_select_sparse(const ct_checkpoint *ckpt, ct_qconfig *cfg, ct_error *err);

/* Plans decompressing ckpt described by cfg: every compressed module becomes
 * its dense weight (in out_dtype when not CT_DTYPE_COUNT); activation and
 * KV-cache parameters the config accounts for (input_scale, k_scale, ...)
 * are left out, as the library's decompression leaves them. */
int ct_plan_decompress(const ct_checkpoint *ckpt, const ct_qconfig *cfg, ct_dtype out_dtype,
		       ct_plan **out, ct_error *err);

/* The same; lenient (for verify) records each module that cannot be
 * decoded in p->problems and plans the rest, instead of failing. */
int ct_plan_decompress_ex(const ct_checkpoint *ckpt, const ct_qconfig *cfg, ct_dtype out_dtype,
			  bool lenient, ct_plan **out, ct_error *err);

void ct_plan_free(ct_plan *p);

/* Emits the dense weight of a DECODE item row by row as output 0. */
int ct_plan_decode(const ct_checkpoint *ck, const ct_plan_item *it, ct_emit_fn emit,
		   void *ctx, ct_error *err);

/* Bounds what a DECODE item decodes to, from its scales (ct_codec.bound):
 * -1 when there is no bound to take (sparse, or a codec without one), else
 * CT_OK or the error its decoding would fail with. */
int ct_plan_bound(const ct_checkpoint *ck, const ct_plan_item *it, ct_dec_bound *b,
		  ct_error *err);

/* Module name of a tensor name (everything before the last dot), copied
 * into buf; false when it has no dot or does not fit. */
bool ct_module_of(const char *name, char *buf, size_t size);

/* Writes the fusion key of module (parent + set number: q/k/v_proj,
 * gate/up_proj, q_a_proj/kv_a_proj_with_mqa, w1/w3, as vLLM fuses them)
 * into key, or returns false when the module is in no fused set. */
bool ct_fusion_key(const char *module, char *key, size_t size);

/* The pack-quantized layout a config version implies (padded before 0.18). */
bool ct_plan_pack_padded(const ct_qconfig *cfg);

/* ---- execution ---- */

/* Called from worker threads as items finish; must be thread-safe. */
typedef void (*ct_progress_fn)(void *ctx, uint64_t bytes_done, const ct_plan_item *item);

typedef struct ct_run_opts {
	int threads;
	const bool *shards;        /* write only these shards (one flag each), NULL: all */
	ct_progress_fn progress;
	void *progress_ctx;
} ct_run_opts;

/* Writes every shard of p (or those o->shards selects) through sinks[i]
 * (one per shard, after the caller has laid out each builder), items
 * spread over the threads, then each shard's header. Stops at the first
 * error. */
int ct_plan_execute(ct_plan *p, const ct_sink *sinks, const ct_run_opts *o, ct_error *err);

#endif
