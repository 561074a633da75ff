/* cmd_quantize.c - `ctensors quantize`: data-free round-to-nearest quantization. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pyjson.h"
#include "qconfig.h"

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
	bool dry_run, plain_metadata, no_fuse, skip_incompatible, force;
	int threads;
	int progress; /* -1 auto */
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
	case 'j':
		if (!cli_parse_uint(arg, 256, &v) || v == 0)
			return cli_usage(a->self, "--threads: '%s' is not an integer from 1 to 256", arg);
		a->threads = (int)v;
		break;
	case OPT_DRY_RUN: a->dry_run = true; break;
	case OPT_PLAIN_METADATA: a->plain_metadata = true; break;
	case OPT_NO_FUSE: a->no_fuse = true; break;
	case OPT_SKIP_INCOMPAT: a->skip_incompatible = true; break;
	case 'f': a->force = true; break;
	case 'q': cli_verbosity = 0; break;
	case 'v': cli_verbosity = 2; break;
	case OPT_PROGRESS: a->progress = 1; break;
	case OPT_NO_PROGRESS: a->progress = 0; break;
	}
	return EXIT_OK;
}

/* Modules a preset leaves dense by default (FORMAT.md §5.6): the output
 * head, embeddings and MoE routers, which loaders never expect quantized. */
static const char *const preset_default_ignore[] = {
	"re:.*(embed_tokens|wte|wpe|tok_embeddings|word_embeddings|embeddings)$",
	"re:.*mlp\\.gate$",
	"re:.*shared_expert_gate$",
	"re:.*(router|block_sparse_moe\\.gate)$",
};

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
	for (size_t i = 0; i < ck->n_tensors && !rc; i++) {
		const ct_tensor *t = ck->tensors[ck->by_name[i]].t;
		size_t n = t->name_len;
		if (n < 7 || strcmp(t->name + n - 7, ".weight") != 0 ||
		    !ct_module_of(t->name, module, sizeof(module)))
			continue;
		if (ct_matcher_match(m, module)) {
			const char *mm = module;
			rc = ct_qconfig_add_ignore(cfg, &mm, 1, err);
		}
	}
	ct_matcher_free(m);
	return rc;
}

/* Reads the preset or config file; checked before any input is opened. */
static int load_config(const quantize_args *a, ct_qconfig **cfg, ct_error *err)
{
	if (a->scheme)
		return ct_qconfig_preset(a->scheme, cfg, err);
	json_t *j = NULL;
	int rc = ct_json_load_file(a->config, 64u << 20, &j, err);
	if (!rc)
		rc = ct_qconfig_parse(j, a->config, cfg, err);
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

static void print_plan(const ct_plan *p, const ct_qconfig *cfg)
{
	char a[32], b[32];
	uint64_t in_total = 0, out_total = 0;
	for (size_t s = 0; s < p->n_shards; s++) {
		const ct_plan_shard *sh = &p->shards[s];
		printf("%s\n", sh->name);
		for (size_t i = 0; i < sh->n_items; i++) {
			const ct_plan_item *it = &sh->items[i];
			printf("  ");
			cli_put_safe(stdout, it->src->name);
			if (it->kind == CT_ITEM_COPY) {
				printf("  %s  kept\n", ct_dtype_name(it->src->dtype));
				continue;
			}
			const ct_qargs *w = it->desc.args;
			ct_format f = cfg->groups[it->group].format;
			printf("  %s -> %s %s%d", ct_dtype_name(it->src->dtype), ct_format_name(f),
			       w->type == CT_QTYPE_INT ? "int" : "fp", w->num_bits);
			if (w->strategy == CT_STRAT_GROUP || w->strategy == CT_STRAT_TENSOR_GROUP)
				printf(" g%" PRId64, w->group_size);
			else if (w->strategy == CT_STRAT_CHANNEL)
				printf(" per-channel");
			else if (w->strategy == CT_STRAT_TENSOR)
				printf(" per-tensor");
			else
				printf(" block %" PRId64 "x%" PRId64, w->block[0], w->block[1]);
			printf("%s\n", w->symmetric ? "" : " asym");
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

int cmd_quantize(int argc, char **argv, const cli_command *self)
{
	quantize_args a = { .self = self, .threads = cli_default_threads(), .progress = -1 };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (!a.scheme == !a.config)
		return cli_usage(self, "give exactly one of -s SCHEME and -c CONFIG");
	if (argc - optind != 2)
		return cli_usage(self, "expected INPUT and OUTPUT");
	const char *input = argv[optind], *output = argv[optind + 1];

	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL;
	ct_qconfig *cfg = NULL;
	ct_plan *plan = NULL;
	json_t *qj = NULL;
	char *compact = NULL;
	int rc = load_config(&a, &cfg, &err);
	if (!rc)
		rc = ct_ckpt_open(input, &ck, &err);
	if (!rc) {
		json_t *existing = NULL;
		rc = ct_ckpt_qconfig(ck, &existing, &err);
		if (!rc && existing)
			rc = ct_fail(&err, CT_EINPUT, "%s: already carries a quantization_config "
				     "(decompress it first, or use 'ctensors compress' for a "
				     "frozen checkpoint)", input);
		json_decref(existing);
	}
	if (!rc)
		rc = refine_config(&a, ck, cfg, &err);
	if (!rc) {
		ct_quant_opts qo = { .skip_incompatible = a.skip_incompatible,
				     .fuse_global_scale = !a.no_fuse };
		rc = ct_plan_quantize(ck, cfg, &qo, &plan, &err);
	}
	if (!rc) {
		qj = ct_qconfig_to_json(cfg);
		compact = qj ? ct_pyjson_dumps(qj, false) : NULL;
		if (!compact)
			rc = ct_fail(&err, CT_EIO, "out of memory");
	}
	cli_write_opts wo = { .dest = output, .force = a.force,
			      .plain_metadata = a.plain_metadata, .threads = a.threads,
			      .qconfig_compact = compact, .qconfig_json = qj };
	if (!rc)
		rc = cli_layout_plan(plan, ck, &wo, &err);
	if (!rc && a.dry_run)
		print_plan(plan, cfg);
	else if (!rc)
		rc = cli_write_plan(plan, ck, &wo, &err);
	if (!rc && !a.dry_run && cli_verbosity > 0) {
		char x[32], y[32];
		uint64_t out = 0;
		for (size_t s = 0; s < plan->n_shards; s++)
			out += ct_st_builder_file_size(plan->shards[s].builder);
		fprintf(stderr, "ctensors: %s -> %s: %" PRIu64 " weights quantized, %s -> %s\n",
			input, output, plan->params_quantized,
			cli_human_bytes(plan->in_bytes, x, sizeof(x)),
			cli_human_bytes(out, y, sizeof(y)));
	}
	int status = rc ? cli_fail(&err) : EXIT_OK;
	free(compact);
	json_decref(qj);
	ct_plan_free(plan);
	ct_qconfig_free(cfg);
	ct_ckpt_close(ck);
	return status;
}
