/* cmd_decompress.c - `ctensors decompress`: compressed checkpoint back to dense. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qconfig.h"

typedef struct decompress_args {
	const cli_command *self;
	const char *config;
	ct_dtype dtype;
	bool fused;
	cli_write_opts write;
} decompress_args;

/* the names torch and numpy give the same dtypes */
static const char *const dtype_aliases[] = {
	"fp16", "f16", "float16", "f16", "half", "f16", "bfloat16", "bf16",
	"fp32", "f32", "float32", "f32", "float", "f32", NULL,
};

static int on_opt(void *ctx, int id, const char *arg)
{
	decompress_args *a = ctx;
	switch (id) {
	case 'c': a->config = arg; break;
	case OPT_DTYPE:
		if (strcmp(arg, "bf16") == 0)
			a->dtype = CT_BF16;
		else if (strcmp(arg, "f16") == 0)
			a->dtype = CT_F16;
		else if (strcmp(arg, "f32") == 0)
			a->dtype = CT_F32;
		else
			return cli_bad_choice(a->self, "--dtype", arg, "bf16 f16 f32", dtype_aliases);
		break;
	case OPT_FUSED: a->fused = true; break;
	default: return cli_write_option(a->self, id, arg, &a->write);
	}
	return EXIT_OK;
}

int cmd_decompress(int argc, char **argv, const cli_command *self)
{
	decompress_args a = { .self = self, .dtype = CT_DTYPE_COUNT,
			      .write = cli_write_defaults() };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (argc - optind != 2)
		return cli_usage(self, "expected INPUT and OUTPUT");
	const char *input = argv[optind], *output = argv[optind + 1];
	cli_report_paths(input, output);
	st = cli_parts_resolve(self, &a.write, input, false);
	if (st)
		return st;
	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL;
	ct_qconfig *cfg = NULL;
	ct_plan *plan = NULL;
	int rc = cli_open_checkpoint(input, &ck, &err);
	if (!rc)
		rc = ct_ckpt_load_qconfig(ck, a.config, &cfg, &err);
	if (!rc)
		rc = cli_parts_prepare(ck, &a.write, &err);
	cli_write_opts wo = a.write;
	wo.dest = output;
	wo.config_path = a.config;
	if (!rc)
		rc = cli_output_open(&wo, ck, &wo.out, &err);
	if (!rc)
		rc = ct_plan_decompress(ck, cfg, a.dtype, &plan, &err);
	ct_fuse_spec *specs = NULL;
	size_t n_specs = 0;
	if (!rc && a.fused) {
		rc = ct_fuse_specs_read(ck, &specs, &n_specs, &err);
		if (!rc && !n_specs)
			rc = ct_fail(&err, CT_EINPUT, "%s: --fused: the checkpoint records no fused "
				     "experts (ctensors quantize records them when it splits a fused "
				     "input)", input);
		if (!rc)
			rc = ct_plan_fuse_experts(plan, specs, n_specs, &err);
	}
	if (!rc)
		rc = cli_layout_plan(plan, ck, &wo, &err);
	if (!rc)
		cli_report_plan(plan, output, ck->kind == CT_CKPT_DIR, false);
	if (!rc)
		cli_parts_report(plan, &wo);
	if (!rc)
		rc = cli_write_plan(plan, ck, &wo, &err);
	if (!rc && !cli_split(&wo)) {
		/* what was decoded, named by how: dequantized (the summary has
		 * always called it decompressed) and sparse-decompressed; a
		 * 2:4 int8/fp8 weight is both */
		char q[64] = "", sp[64] = "";
		if (plan->params_quantized || !plan->sparse_numel)
			snprintf(q, sizeof(q), "%" PRIu64 " weights decompressed",
				 plan->params_quantized);
		if (plan->sparse_numel)
			snprintf(sp, sizeof(sp), "%s%" PRIu64 " weights sparse-decompressed",
				 q[0] ? ", " : "", plan->sparse_numel);
		cli_summary(input, output, "%s%s", q, sp);
	}
	cli_output_close(wo.out);
	cli_parts_free(&a.write);
	int status = rc ? cli_fail(&err) : EXIT_OK;
	ct_plan_free(plan);
	ct_fuse_specs_free(specs, n_specs);
	ct_qconfig_free(cfg);
	ct_ckpt_close(ck);
	return status;
}
