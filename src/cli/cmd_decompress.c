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
	bool force, plain_metadata;
	int threads;
	int progress;
} decompress_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	decompress_args *a = ctx;
	uint64_t v;
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
			return cli_usage(a->self, "--dtype: '%s' is not one of bf16, f16, f32", arg);
		break;
	case 'j':
		if (!cli_parse_uint(arg, 256, &v) || v == 0)
			return cli_usage(a->self, "--threads: '%s' is not an integer from 1 to 256",
					 arg);
		a->threads = (int)v;
		break;
	case 'f': a->force = true; break;
	case OPT_PROGRESS: a->progress = 1; break;
	case OPT_NO_PROGRESS: a->progress = 0; break;
	case OPT_PLAIN_METADATA: a->plain_metadata = true; break;
	case 'q': cli_verbosity = 0; break;
	case 'v': cli_verbosity = 2; break;
	}
	return EXIT_OK;
}

int cli_load_checkpoint_config(const ct_checkpoint *ck, const char *path, ct_qconfig **cfg,
			       ct_error *err)
{
	*cfg = NULL;
	json_t *j = NULL;
	int rc;
	const char *label = path;
	if (path) {
		rc = ct_json_load_file(path, 64u << 20, &j, err);
	} else {
		rc = ct_ckpt_qconfig(ck, &j, err);
		label = ck->config ? "config.json" : ck->shard_names[0];
		if (!rc && !j)
			rc = ct_fail(err, CT_EINPUT, "%s: no quantization_config in the checkpoint "
				     "(name one with -c CONFIG)", ck->shard_names[0]);
	}
	if (!rc)
		rc = ct_qconfig_parse(j, label, cfg, err);
	json_decref(j);
	return rc;
}

int cmd_decompress(int argc, char **argv, const cli_command *self)
{
	decompress_args a = { .self = self, .dtype = CT_DTYPE_COUNT,
			      .threads = cli_default_threads(), .progress = -1 };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (argc - optind != 2)
		return cli_usage(self, "expected INPUT and OUTPUT");
	const char *input = argv[optind], *output = argv[optind + 1];
	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL;
	ct_qconfig *cfg = NULL;
	ct_plan *plan = NULL;
	int rc = ct_ckpt_open(input, &ck, &err);
	if (!rc)
		rc = cli_load_checkpoint_config(ck, a.config, &cfg, &err);
	if (!rc)
		rc = ct_plan_decompress(ck, cfg, a.dtype, &plan, &err);
	cli_write_opts wo = { .dest = output, .force = a.force, .threads = a.threads,
			      .plain_metadata = a.plain_metadata, .progress = a.progress };
	if (!rc)
		rc = cli_layout_plan(plan, ck, &wo, &err);
	if (!rc)
		rc = cli_write_plan(plan, ck, &wo, &err);
	if (!rc && cli_verbosity > 0)
		fprintf(stderr, "ctensors: %s -> %s: %" PRIu64 " weights decompressed\n", input,
			output, plan->params_quantized);
	int status = rc ? cli_fail(&err) : EXIT_OK;
	ct_plan_free(plan);
	ct_qconfig_free(cfg);
	ct_ckpt_close(ck);
	return status;
}
