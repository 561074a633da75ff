/*
 * encode.c - the part quantize and compress share: plan the job, then print
 * the plan (--dry-run) or write it, with the config in every file's metadata
 * and in config.json.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "moe.h"
#include "pyjson.h"
#include "qconfig.h"

static void print_plan(const ct_plan *p)
{
	char a[32], b[32];
	uint64_t in_total = 0, out_total = 0;
	for (size_t s = 0; s < p->n_shards; s++) {
		const ct_plan_shard *sh = &p->shards[s];
		printf("%s\n", sh->name);
		for (size_t m = 0; m < p->n_moe; m++) {
			const ct_moe_block *mb = &p->moe[m];
			if (mb->shard_gate_up != s)
				continue;
			printf("  ");
			cli_put_safe(stdout, mb->prefix);
			printf(": fused experts, layout %s: split into %" PRIu64 " experts of "
			       "gate_proj/up_proj [%" PRIu64 ", %" PRIu64 "] and down_proj [%" PRIu64
			       ", %" PRIu64 "]\n", ct_moe_layout_name(mb->layout), mb->experts,
			       mb->inter, mb->hidden, mb->hidden, mb->inter);
		}
		for (size_t i = 0; i < sh->n_items; i++) {
			const ct_plan_item *it = &sh->items[i];
			printf("  ");
			cli_put_safe(stdout, it->kind == CT_ITEM_COPY ? it->out_name : it->src->name);
			if (it->kind == CT_ITEM_COPY) {
				printf("  %s  kept", ct_dtype_name(it->src->dtype));
				if (it->why) {
					printf(" (");
					cli_put_safe(stdout, it->why);
					printf(")");
				}
				printf("\n");
				continue;
			}
			printf("  %s ->", ct_dtype_name(it->src->dtype));
			if (it->codec) {
				char sch[96];
				cli_scheme_text(it->desc.args, true, sch, sizeof(sch));
				printf(" %s %s", ct_format_name(it->codec->format), sch);
			}
			if (it->sparse)
				printf("%s %s (%.1f%% zeros)", it->codec ? " +" : "",
				       ct_format_name(it->sparse->format),
				       100.0 - 100.0 * (double)it->sdesc.nnz / (double)it->src->nelem);
			printf("\n");
		}
		uint64_t in = p->ckpt->shards[s]->map_size;
		uint64_t out = ct_st_builder_file_size(sh->builder);
		in_total += in;
		out_total += out;
		printf("  size %s -> %s\n", cli_human_bytes(in, a, sizeof(a)),
		       cli_human_bytes(out, b, sizeof(b)));
	}
	uint64_t data = 0;
	for (size_t s = 0; s < p->n_shards; s++)
		data += ct_st_builder_data_size(p->shards[s].builder);
	printf("total %s -> %s, %.2f bits per weight (%" PRIu64 " of %" PRIu64
	       " parameters quantized)\n", cli_human_bytes(in_total, a, sizeof(a)),
	       cli_human_bytes(out_total, b, sizeof(b)),
	       p->params_total ? 8.0 * (double)data / (double)p->params_total : 0.0,
	       p->params_quantized, p->params_total);
}

int cli_encode(const ct_checkpoint *ck, ct_qconfig *cfg, const cli_encode_opts *o,
	       ct_error *err)
{
	ct_plan *plan = NULL;
	char *compact = NULL;
	json_t *qj = NULL;
	ct_quant_opts qo = o->quant;
	qo.threads = o->write.threads;
	int rc = ct_plan_quantize(ck, cfg, &qo, &plan, err);
	for (size_t i = 0; !rc && i < plan->warnings.n; i++)
		cli_warn("%s", plan->warnings.items[i]);
	/* an empty plan fails, after --dry-run has shown why each weight is kept */
	ct_error empty;
	ct_error_clear(&empty);
	int empty_rc = rc ? CT_OK : ct_plan_check_nonempty(plan, &empty);
	if (empty_rc && !o->dry_run) {
		*err = empty;
		rc = empty_rc;
	}
	if (!rc) {
		/* after planning: skipped modules and global_sparsity are in cfg */
		qj = ct_qconfig_to_json(cfg);
		/* a recipe or preset: ignore, groups and format as llm-compressor
		 * computes them from the model it quantized */
		if (qj && o->llmc_config)
			rc = ct_plan_llmc_config(plan, qj, err);
		compact = !rc && qj ? ct_pyjson_dumps(qj, false) : NULL;
		if (!rc && !compact)
			rc = ct_fail(err, CT_EIO, "out of memory");
	}
	cli_write_opts wo = o->write;
	wo.qconfig_compact = compact;
	wo.qconfig_json = qj;
	if (!rc)
		rc = cli_layout_plan(plan, ck, &wo, err);
	if (!rc)
		cli_report_plan(plan, wo.dest, ck->kind == CT_CKPT_DIR, o->dry_run);
	if (!rc)
		cli_parts_report(plan, &wo);
	if (!rc && o->dry_run) {
		if (!o->write.json && wo.part_n)
			cli_parts_print(plan, &wo);
		else if (!o->write.json)
			print_plan(plan);
		if (empty_rc) {
			*err = empty;
			rc = empty_rc;
		}
	}
	else if (!rc)
		rc = cli_write_plan(plan, ck, &wo, err);
	if (!rc && !o->dry_run && !cli_split(&wo)) {
		char x[32], y[32], q[64] = "", sp[96] = "";
		uint64_t out = 0;
		for (size_t s = 0; s < plan->n_shards; s++)
			out += ct_st_builder_file_size(plan->shards[s].builder);
		if (plan->params_quantized)
			snprintf(q, sizeof(q), "%" PRIu64 " weights quantized, ",
				 plan->params_quantized);
		if (plan->sparse_numel)
			snprintf(sp, sizeof(sp), "%" PRIu64 " weights sparse-compressed (%.1f%% "
				 "zeros), ", plan->sparse_numel, 100.0 * (double)plan->sparse_zeros /
								 (double)plan->sparse_numel);
		cli_summary(o->input, wo.dest, "%s%s%s -> %s", q, sp,
			    cli_human_bytes(plan->in_bytes, x, sizeof(x)),
			    cli_human_bytes(out, y, sizeof(y)));
	}
	free(compact);
	json_decref(qj);
	ct_plan_free(plan);
	return rc;
}

int cli_open_dense_input(const char *path, bool allow_frozen, ct_checkpoint **out,
			 ct_error *err)
{
	int rc = cli_open_checkpoint(path, out, err);
	if (rc)
		return rc;
	json_t *existing = NULL;
	rc = ct_ckpt_qconfig(*out, &existing, err);
	/* a frozen checkpoint carries the config it is packed with */
	const char *status = json_string_value(json_object_get(existing, "quantization_status"));
	bool frozen = status && strcmp(status, "frozen") == 0;
	if (!rc && existing && !(allow_frozen && frozen))
		rc = ct_fail(err, CT_EINPUT, "%s: already carries a quantization_config (decompress "
			     "it first%s)", path, frozen ? ", or use 'ctensors compress -c' for a "
			     "frozen checkpoint" : "");
	json_decref(existing);
	if (rc) {
		ct_ckpt_close(*out);
		*out = NULL;
	}
	return rc;
}
