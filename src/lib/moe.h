/*
 * moe.h - fused 3-D expert tensors, and the per-expert 2-D weights vLLM
 * loads them as.
 *
 * Three fused layouts are found on disk (spec/VLLM.md A1), told apart by
 * names, ranks and shapes, never by model_type alone:
 *   A  gate_up [E, 2I, H] (gate = rows [0, I)), down [E, H, I]
 *      (transformers v5, Qwen3.5-MoE, Gemma 4): a split by rows;
 *   B  gate_up [E, H, 2I] (gate = columns [0, I)), down [E, I, H]
 *      (Llama 4): halves, transposed to nn.Linear's [out, in];
 *   C  gate_up [E, H, 2I] with gate and up interleaved by column, down
 *      [E, I, H], biases gate_up_proj_bias [E, 2I] (interleaved) and
 *      down_proj_bias [E, H] (gpt-oss): de-interleaved and transposed.
 * Each becomes PREFIX.{e}.{gate_proj,up_proj,down_proj}.weight (and .bias),
 * named as vLLM's expert mapping expects. A part is a view: layout A's
 * weights are contiguous in the file, the others are gathered an expert at
 * a time, so a fused tensor is never copied whole.
 */
#ifndef CT_MOE_H
#define CT_MOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "ct_error.h"

typedef enum ct_moe_layout { CT_MOE_A, CT_MOE_B, CT_MOE_C } ct_moe_layout;

typedef enum ct_moe_part {
	CT_PART_GATE, CT_PART_UP, CT_PART_DOWN,
	CT_PART_GATE_BIAS, CT_PART_UP_BIAS, CT_PART_DOWN_BIAS,
	CT_PART_COUNT
} ct_moe_part;

typedef struct ct_moe_block {
	char *prefix;                    /* "model.layers.0.mlp.experts" */
	ct_moe_layout layout;
	const ct_tensor *gate_up, *down; /* the fused weights */
	const ct_tensor *gate_up_bias, *down_bias;  /* layout C, or NULL */
	size_t shard_gate_up, shard_down, shard_gate_up_bias, shard_down_bias;
	uint64_t experts, hidden, inter; /* E, H, I */
	bool w_names;                    /* experts split as w1 (gate), w3 (up), w2 (down):
					  * Mixtral-style loaders, not gate/up/down_proj */
} ct_moe_block;

/* Finds every fused expert block of ck. A 3-D tensor of an experts module
 * whose layout cannot be told is refused (CT_EINPUT, naming it and the
 * layouts tried). *out is NULL when there is none. */
int ct_moe_find(const ct_checkpoint *ck, ct_moe_block **out, size_t *n, ct_error *err);
void ct_moe_free(ct_moe_block *b, size_t n);

/* Refuses (CT_EINPUT, naming it) a fused gate_up_proj/down_proj of zero
 * experts, which a split would turn into nothing; ct_moe_find does too. */
int ct_moe_check_empty(const ct_checkpoint *ck, ct_error *err);

/* The block tensor t belongs to, or NULL; *is_source is set when t is one
 * of its fused tensors. */
const ct_moe_block *ct_moe_block_of(const ct_moe_block *b, size_t n, const ct_tensor *t);

/* "A ([E,2I,H] concatenated)", ... */
const char *ct_moe_layout_name(ct_moe_layout l);

/* Which parts a fused tensor of the block splits into (a weight into
 * gate/up or down, a bias likewise); count written to *n. */
size_t ct_moe_parts_of(const ct_moe_block *b, const ct_tensor *t, ct_moe_part parts[3]);

/* "gate_proj.weight", "up_proj.bias", ... */
const char *ct_moe_part_suffix(const ct_moe_block *b, ct_moe_part p);

/* Whether block b has part p (biases only where the fused bias exists). */
bool ct_moe_has_part(const ct_moe_block *b, ct_moe_part p);

/* The block, expert and part that a per-expert name
 * ("PREFIX.{e}.up_proj.weight", e written without leading zeros, as the
 * split names it) is a slice of, when one of the n blocks has it. */
bool ct_moe_resolve(const ct_moe_block *b, size_t n, const char *name,
		    const ct_moe_block **block, uint64_t *expert, ct_moe_part *part);

/* The shape of part p of one expert: [rows, cols] for weights (nn.Linear
 * orientation), [rows] (cols 1) for biases. */
void ct_moe_part_shape(const ct_moe_block *b, ct_moe_part p, int *ndim, uint64_t shape[2]);

/* The source tensor and shard of part p. */
const ct_tensor *ct_moe_part_source(const ct_moe_block *b, ct_moe_part p, size_t *shard);

/* The bytes of part p of expert e where they lie contiguously in the file
 * (layout A's weights), else NULL. */
const uint8_t *ct_moe_part_direct(const ct_moe_block *b, uint64_t e, ct_moe_part p);

/* Copies part p of expert e, row-major in its 2-D shape, into dst (which
 * holds rows * cols elements of the source dtype). */
void ct_moe_part_gather(const ct_moe_block *b, uint64_t e, ct_moe_part p, uint8_t *dst);

#endif
