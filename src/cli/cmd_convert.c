/* cmd_convert.c - `ctensors convert`: a checkpoint quantized by another tool
 * into compressed-tensors, without requantizing (src/lib/convert.h). */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "pyjson.h"

typedef struct convert_args {
	const cli_command *self;
	const char *from;
	const char *config;
	bool dry_run;
	cli_write_opts write;
} convert_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	convert_args *a = ctx;
	switch (id) {
	case OPT_FROM: a->from = arg; break;
	case 'c': a->config = arg; break;
	case OPT_DRY_RUN: a->dry_run = true; break;
	default: return cli_write_option(a->self, id, arg, &a->write);
	}
	return EXIT_OK;
}

static void print_mapping(const ct_conv *cv, const ct_plan *p)
{
	char a[32], b[32];
	printf("source: %s\n", cv->src->name);
	for (size_t i = 0; i < cv->n_mods; i++) {
		const ct_conv_module *m = &cv->mods[i];
		printf("  ");
		cli_put_safe(stdout, m->name);
		printf(" [%" PRIu64 ", %" PRIu64 "]: ", m->rows, m->cols);
		cli_put_safe(stdout, m->mapping ? m->mapping : "");
		printf("%s\n", m->exact ? "" : " (not bit-exact)");
	}
	uint64_t in = 0, out = 0;
	size_t copies = 0;
	for (size_t s = 0; s < p->n_shards; s++) {
		const ct_plan_shard *sh = &p->shards[s];
		for (size_t i = 0; i < sh->n_items; i++)
			copies += sh->items[i].kind == CT_ITEM_COPY;
		in += p->ckpt->shards[s]->map_size;
		out += ct_st_builder_file_size(sh->builder);
		printf("%s: %s -> %s\n", sh->name, cli_human_bytes(p->ckpt->shards[s]->map_size, a,
								      sizeof(a)),
		       cli_human_bytes(ct_st_builder_file_size(sh->builder), b, sizeof(b)));
	}
	printf("total %s -> %s: %zu modules converted, %zu tensors kept as they are\n",
	       cli_human_bytes(in, a, sizeof(a)), cli_human_bytes(out, b, sizeof(b)), cv->n_mods,
	       copies);
}

static int run(const convert_args *a, const char *input, ct_error *err)
{
	ct_checkpoint *ck = NULL;
	json_t *q = NULL, *hfq = NULL, *qj = NULL;
	ct_conv *cv = NULL;
	ct_plan *plan = NULL;
	char *compact = NULL;
	const char *label = input;
	cli_write_opts wo = a->write;
	int rc = cli_open_checkpoint(input, &ck, err);
	if (!rc)
		rc = cli_parts_prepare(ck, &wo, err);
	if (!rc)
		rc = ct_source_configs_load(ck, a->config, &q, &hfq, &label, err);
	if (!rc)
		rc = ct_convert_open(ck, q, hfq, label, a->from, &cv, err);
	for (size_t i = 0; !rc && i < cv->warnings.n; i++)
		cli_warn("%s", cv->warnings.items[i]);
	if (!rc)
		rc = ct_plan_convert(cv, &plan, err);
	if (!rc) {
		qj = json_incref(cv->out_qcfg);
		compact = ct_pyjson_dumps(qj, false);
		if (!compact)
			rc = ct_fail(err, CT_EIO, "out of memory");
	}
	wo.config_path = a->config;
	wo.qconfig_compact = compact;
	wo.qconfig_json = qj;
	/* the source's own quantization configs would mislead loaders of the
	 * compressed-tensors output: ModelOpt's hf_quant_config.json, and the
	 * quantize_config.json GPTQ writers save beside config.json (GPTQModel
	 * quantization/config.py: QUANT_CONFIG_FILENAME), which GPTQ loaders
	 * read as the checkpoint's format */
	static const char *const not_copied[] = { CT_HFQ_NAME, "quantize_config.json", NULL };
	wo.not_copied = not_copied;
	if (!rc)
		rc = cli_layout_plan(plan, ck, &wo, err);
	if (!rc)
		cli_report_plan(plan, wo.dest, ck->kind == CT_CKPT_DIR, a->dry_run);
	if (!rc)
		cli_parts_report(plan, &wo);
	if (!rc && a->dry_run) {
		if (!a->write.json && wo.part_n)
			cli_parts_print(plan, &wo);
		else if (!a->write.json)
			print_mapping(cv, plan);
	} else if (!rc) {
		rc = cli_output_open(&wo, ck, &wo.out, err);
		if (!rc)
			rc = cli_write_plan(plan, ck, &wo, err);
		cli_output_close(wo.out);
	}
	if (!rc && !a->dry_run && !cli_split(&wo)) {
		size_t inexact = 0;
		for (size_t i = 0; i < cv->n_mods; i++)
			inexact += !cv->mods[i].exact;
		cli_summary(input, wo.dest, "%zu %s modules converted, %s", cv->n_mods,
			    cv->src->name, inexact ? "codes and block scales exact, global "
			    "scales inverted in F32 (not bit-exact)" : "exact");
	}
	free(compact);
	json_decref(qj);
	ct_plan_free(plan);
	cli_parts_free(&wo);
	ct_convert_free(cv);
	json_decref(q);
	json_decref(hfq);
	ct_ckpt_close(ck);
	return rc;
}

int cmd_convert(int argc, char **argv, const cli_command *self)
{
	convert_args a = { .self = self, .write = cli_write_defaults() };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (argc - optind != 2)
		return cli_usage(self, "expected INPUT and OUTPUT");
	if (a.from && !ct_source_find(a.from)) {
		strbuf sb;
		sb_init(&sb);
		for (const ct_source *const *s = ct_sources(); *s; s++)
			sb_printf(&sb, "%s%s", s == ct_sources() ? "" : " ", (*s)->name);
		st = cli_bad_choice(self, "--from", a.from, sb.data ? sb.data : "", NULL);
		sb_free(&sb);
		return st;
	}
	a.write.dest = argv[optind + 1];
	cli_report_paths(argv[optind], a.write.dest);
	st = cli_parts_resolve(self, &a.write, argv[optind], a.dry_run);
	if (st)
		return st;
	ct_error err;
	ct_error_clear(&err);
	int rc = run(&a, argv[optind], &err);
	return rc ? cli_fail(&err) : EXIT_OK;
}
