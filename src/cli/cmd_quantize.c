/* cmd_quantize.c - `ctensors quantize`: data-free round-to-nearest quantization. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pyjson.h"
#include "qconfig.h"
#include "recipe.h"
#include "serving.h"

#define MAX_PATTERNS 256

typedef struct quantize_args {
	const cli_command *self;
	const char *scheme;
	const char *config;
	const char *ignore[MAX_PATTERNS];
	size_t n_ignore;
	const char *targets[MAX_PATTERNS];
	size_t n_targets;
	uint64_t group_size;
	bool dry_run, no_fuse, skip_incompatible;
	cli_write_opts write;
} quantize_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	quantize_args *a = ctx;
	uint64_t v;
	switch (id) {
	case 's': a->scheme = arg; break;
	case 'c': a->config = arg; break;
	case OPT_IGNORE:
		if (a->n_ignore == MAX_PATTERNS)
			return cli_usage(a->self, "too many --ignore patterns");
		a->ignore[a->n_ignore++] = arg;
		break;
	case OPT_TARGETS:
		if (a->n_targets == MAX_PATTERNS)
			return cli_usage(a->self, "too many --targets patterns");
		a->targets[a->n_targets++] = arg;
		break;
	case OPT_GROUP_SIZE:
		if (!cli_parse_uint(arg, 1u << 30, &v) || v == 0)
			return cli_usage(a->self, "--group-size: '%s' is not a positive integer", arg);
		a->group_size = v;
		break;
	case OPT_DRY_RUN: a->dry_run = true; break;
	case OPT_NO_FUSE: a->no_fuse = true; break;
	case OPT_SKIP_INCOMPAT: a->skip_incompatible = true; break;
	default: return cli_write_option(a->self, id, arg, &a->write);
	}
	return EXIT_OK;
}

/* Modules a preset leaves dense by default (FORMAT.md §5.6): the output
 * head, embeddings and MoE routers, which loaders never expect quantized.
 * Each pattern is ".*(A|B|...)$": a name ending in one of the suffixes. */
static const char *const preset_default_ignore[] = {
	"re:.*(embed_tokens|wte|wpe|tok_embeddings|word_embeddings|embeddings)$",
	"re:.*mlp\\.gate$",
	"re:.*shared_expert_gate$",
	"re:.*(router|block_sparse_moe\\.gate)$",
};

/* The suffixes of the patterns above, tested with a string comparison:
 * the regex engine cost more than the tensors when there are thousands
 * (a name with a newline, where "." and "$" differ, takes the regexes). */
static const char *const preset_ignore_suffix[] = {
	"embed_tokens", "wte", "wpe", "tok_embeddings", "word_embeddings", "embeddings",
	"mlp.gate", "shared_expert_gate", "router", "block_sparse_moe.gate",
};

static bool preset_ignores(const ct_matcher *m, const char *module, size_t n,
			   ct_modclass cls)
{
	if (memchr(module, '\n', n))
		return ct_matcher_match(m, module, cls);
	for (size_t i = 0; i < sizeof(preset_ignore_suffix) / sizeof(preset_ignore_suffix[0]); i++) {
		size_t k = strlen(preset_ignore_suffix[i]);
		if (n >= k && memcmp(module + n - k, preset_ignore_suffix[i], k) == 0)
			return true;
	}
	return false;
}

/* Lists, in the written config's ignore, lm_head and every module of the
 * checkpoint that the default patterns catch. */
static int add_preset_ignores(ct_qconfig *cfg, const ct_checkpoint *ck, ct_error *err)
{
	const char *head = "lm_head";
	int rc = ct_qconfig_add_ignore(cfg, &head, 1, err);
	if (rc)
		return rc;
	ct_matcher *m = NULL;
	rc = ct_matcher_new(preset_default_ignore,
			    sizeof(preset_default_ignore) / sizeof(preset_default_ignore[0]),
			    "default ignore", &m, err);
	if (rc)
		return rc;
	char module[4096];
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	for (size_t i = 0; i < ck->n_tensors && !rc; i++) {
		const ct_tensor *t = ck->tensors[ck->by_name[i]].t;
		size_t n = t->name_len;
		if (n < 7 || strcmp(t->name + n - 7, ".weight") != 0 ||
		    !ct_module_of(t->name, module, sizeof(module)))
			continue;
		if (preset_ignores(m, module, strlen(module),
				   ct_module_class(module, t->ndim, &arch))) {
			const char *mm = module;
			rc = ct_qconfig_add_ignore(cfg, &mm, 1, err);
		}
	}
	ct_matcher_free(m);
	return rc;
}

/* Reads the preset or config file; checked before any input is opened. */
static int load_config(const quantize_args *a, ct_qconfig **cfg, bool *recipe, ct_error *err)
{
	*recipe = false;
	if (a->scheme)
		return ct_qconfig_preset(a->scheme, cfg, err);
	json_t *j = NULL;
	int rc = ct_config_load_ex(a->config, 64u << 20, &j, recipe, err);
	if (!rc) {
		rc = ct_qconfig_parse(j, a->config, cfg, err);
		/* in a recipe, a key or value the schema does not know is a typo
		 * of the user's, as llm-compressor's pydantic models refuse it */
		if (rc == CT_EINPUT && *recipe)
			err->code = rc = CT_EUSAGE;
	}
	json_decref(j);
	return rc;
}

/* Applies the options that refine the config, then the defaults the
 * library fills in. */
static int refine_config(const quantize_args *a, const ct_checkpoint *ck, ct_qconfig *cfg,
			 ct_error *err)
{
	int rc = a->scheme ? add_preset_ignores(cfg, ck, err) : CT_OK;
	if (!rc && a->n_targets)
		rc = ct_qconfig_set_targets(cfg, a->targets, a->n_targets, err);
	if (!rc && a->n_ignore)
		rc = ct_qconfig_add_ignore(cfg, a->ignore, a->n_ignore, err);
	if (!rc && a->group_size)
		rc = ct_qconfig_set_group_size(cfg, (int64_t)a->group_size, err);
	if (!rc)
		rc = ct_qconfig_normalize(cfg, err);
	return rc;
}

int cmd_quantize(int argc, char **argv, const cli_command *self)
{
	quantize_args a = { .self = self, .write = cli_write_defaults() };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (!a.scheme == !a.config)
		return cli_usage(self, "give exactly one of -s SCHEME and -c CONFIG");
	if (argc - optind != 2)
		return cli_usage(self, "expected INPUT and OUTPUT");
	const char *input = argv[optind];
	a.write.dest = argv[optind + 1];
	a.write.config_path = a.config;
	cli_report_paths(input, a.write.dest);
	st = cli_parts_resolve(self, &a.write, input, a.dry_run);
	if (st)
		return st;
	/* shared global scales or not: the same layout, other bytes */
	a.write.plan_tag = a.no_fuse ? "no-fuse-global-scale" : "fuse-global-scale";

	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL;
	ct_qconfig *cfg = NULL;
	bool recipe = false;
	int rc = load_config(&a, &cfg, &recipe, &err);
	if (!rc)
		rc = cli_open_dense_input(input, false, &ck, &err);
	if (!rc)
		rc = cli_parts_prepare(ck, &a.write, &err);
	if (!rc)
		rc = refine_config(&a, ck, cfg, &err);
	/* a preset vLLM cannot load on any CUDA GPU is written, with a warning
	 * (serving.h: ct_vllm_unserved; verify --serving vllm fails it) */
	char why[512];
	if (!rc && a.scheme && ct_vllm_unserved(cfg, why, sizeof(why)))
		cli_warn("preset %s: vLLM (%.8s) cannot load the result on any CUDA GPU: %s",
			 a.scheme, ct_vllm_commit, why);
	if (!rc && cfg->n_groups == 0)
		rc = ct_fail(&err, CT_EUSAGE, "%s: the config has no quantization groups (use "
			     "'ctensors compress' for a sparsity-only config)", a.config);
	/* the output is checked (and its temporary made) before the work */
	if (!rc && !a.dry_run)
		rc = cli_output_open(&a.write, ck, &a.write.out, &err);
	if (!rc) {
		static const char *const preset_ignore[] = { "lm_head" };
		cli_encode_opts eo = {
			.input = input, .dry_run = a.dry_run,
			.llmc_config = a.scheme || recipe,
			.quant = { .skip_incompatible = a.skip_incompatible,
				   .fuse_global_scale = !a.no_fuse,
				   .implicit_ignore = a.scheme ? preset_ignore : NULL,
				   .n_implicit_ignore = a.scheme ? 1 : 0,
				   .gs_shards = a.write.slice },
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
