/*
 * arch.h - what config.json says of the model's shape, against the tensors.
 *
 * Loaders build a model's layers from config.json and then copy the
 * tensors into them: vLLM's FusedMoE makes num_experts experts of
 * moe_intermediate_size (or intermediate_size) rows, and its weight
 * loaders refuse a tensor of another shape (or, for an expert id past the
 * count, skip it: vllm/model_executor/layers/fused_moe/layer.py,
 * FusedMoE.weight_loader). A config.json that contradicts the tensors is a
 * checkpoint no loader reads as written.
 */
#ifndef CT_ARCH_H
#define CT_ARCH_H

#include <stddef.h>

#include "checkpoint.h"
#include "moe.h"
#include "strbuf.h"

/* Adds to problems one line for each contradiction between ck's
 * config.json (its expert count: num_local_experts, num_experts,
 * n_routed_experts; moe_intermediate_size, intermediate_size,
 * intermediate_size_mlp) and the expert blocks, per-expert modules and
 * dense MLPs the tensors hold. moe: ck's fused blocks (ct_moe_find). A
 * checkpoint without config.json, or a key it lacks, is not checked. */
void ct_arch_check(const ct_checkpoint *ck, const ct_moe_block *moe, size_t n_moe,
		   ct_strlist *problems);

#endif
