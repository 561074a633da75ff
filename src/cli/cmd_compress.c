/* cmd_compress.c - `ctensors compress`: sparse formats of dense weights, without
 * deciding any quantization parameter. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "qconfig.h"
#include "recipe.h"

typedef struct compress_args {
	const cli_command *self;
	const char *format;
	const char *config;
	bool dry_run, skip_incompatible;
	cli_write_opts write;
} compress_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	compress_args *a = ctx;
	switch (id) {
	case 'F':
		if (strcmp(arg, "sparse-bitmask") != 0 && strcmp(arg, "sparse-24-bitmask") != 0)
			return cli_bad_choice(a->self, "-F", arg, "sparse-bitmask sparse-24-bitmask",
					      NULL);
		a->format = arg;
		break;
	case 'c': a->config = arg; break;
	case OPT_DRY_RUN: a->dry_run = true; break;
	case OPT_SKIP_INCOMPAT: a->skip_incompatible = true; break;
	default: return cli_write_option(a->self, id, arg, &a->write);
	}
	return EXIT_OK;
}

/* The sparsity config to apply: -F FORMAT (whole model, as LLMC writes it)
 * or the sparsity_config of -c CONFIG. */
static int load_config(const compress_args *a, ct_qconfig **cfg, ct_error *err)
{
	*cfg = NULL;
	if (a->format) {
		ct_format f;
		if (!ct_format_from_name(a->format, &f) ||
		    (f != CT_FMT_SPARSE_BITMASK && f != CT_FMT_SPARSE_24))
			return ct_fail(err, CT_EUSAGE, "-F: '%s' is not a compress format "
				       "(sparse-bitmask, sparse-24-bitmask)", a->format);
		json_t *j = json_pack("{s:s, s:{s:s}}", "quant_method", "compressed-tensors",
				      "sparsity_config", "format", a->format);
		int rc = j ? ct_qconfig_parse(j, "-F", cfg, err) : ct_fail(err, CT_EIO, "out of memory");
		json_decref(j);
		if (!rc) {
			/* a fresh sparsity config: drop the stub parsed above */
			json_decref((*cfg)->sparsity->json);
			free((*cfg)->sparsity->structure);
			free((*cfg)->sparsity);
			(*cfg)->sparsity = NULL;
			rc = ct_qconfig_set_sparsity(*cfg, f, err);
		}
		return rc;
	}
	json_t *j = NULL;
	int rc = ct_config_load(a->config, 64u << 20, &j, err);
	if (!rc)
		rc = ct_qconfig_parse(j, a->config, cfg, err);
	json_decref(j);
	if (rc)
		return rc;
	ct_qconfig *c = *cfg;
	if (c->n_groups) {
		/* A frozen checkpoint: its scales are in the tensors; pack them. */
		if (!c->quantization_status || strcmp(c->quantization_status, "frozen") != 0)
			return ct_fail(err, CT_EUSAGE, "%s: the config quantizes but its "
				       "quantization_status is %s, not frozen (use 'ctensors "
				       "quantize -c' to decide scales)", a->config,
				       c->quantization_status ? c->quantization_status : "absent");
		/* "dense" describes how the frozen file is stored; the packed format
		 * is what the library would pick */
		if (c->format == CT_FMT_DENSE)
			c->format = CT_FMT_NONE;
		for (size_t g = 0; g < c->n_groups; g++)
			if (c->groups[g].format == CT_FMT_DENSE)
				c->groups[g].format = CT_FMT_NONE;
		return ct_qconfig_normalize(c, err);
	}
	if (!(*cfg)->sparsity || ((*cfg)->sparsity->format != CT_FMT_SPARSE_BITMASK &&
				  (*cfg)->sparsity->format != CT_FMT_SPARSE_24))
		return ct_fail(err, CT_EINPUT, "%s: sparsity_config.format: expected "
			       "sparse-bitmask or sparse-24-bitmask", a->config);
	return CT_OK;
}

int cmd_compress(int argc, char **argv, const cli_command *self)
{
	compress_args a = { .self = self, .write = cli_write_defaults() };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (!a.format == !a.config)
		return cli_usage(self, "give exactly one of -F FORMAT and -c CONFIG");
	if (argc - optind != 2)
		return cli_usage(self, "expected INPUT and OUTPUT");
	const char *input = argv[optind];
	a.write.dest = argv[optind + 1];
	a.write.config_path = a.config;
	cli_report_paths(input, a.write.dest);
	st = cli_parts_resolve(self, &a.write, input, a.dry_run);
	if (st)
		return st;
	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL;
	ct_qconfig *cfg = NULL;
	int rc = load_config(&a, &cfg, &err);
	if (!rc)
		rc = cli_open_dense_input(input, cfg->n_groups > 0, &ck, &err);
	if (!rc)
		rc = cli_parts_prepare(ck, &a.write, &err);
	/* before choosing the targets, which reads every candidate weight */
	if (!rc && !a.dry_run)
		rc = cli_output_open(&a.write, ck, &a.write.out, &err);
	if (!rc && a.format)
		rc = ct_plan_select_sparse(ck, cfg, &err);
	if (!rc) {
		cli_encode_opts eo = {
			.input = input, .dry_run = a.dry_run,
			.quant = { .skip_incompatible = a.skip_incompatible,
				   .frozen = cfg->n_groups > 0, .gs_shards = a.write.slice },
			.write = a.write,
		};
		rc = cli_encode(ck, cfg, &eo, &err);
	}
	cli_output_close(a.write.out);
	cli_parts_free(&a.write);
	int status = rc ? cli_fail(&err) : EXIT_OK;
	ct_qconfig_free(cfg);
	ct_ckpt_close(ck);
	return status;
}
