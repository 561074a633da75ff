/*
 * fuzz_checkpoint.c - libFuzzer target for opening model directories and
 * running the commands' plans on them.
 *
 * Input: byte 0 is the mode, the rest are files separated by "@@FILE@@":
 *   record 0   the index (model.safetensors.index.json, or with mode bit 2
 *              custom.safetensors.index.json, found by scanning the directory)
 *   record 1   config.json
 *   record 2.. shards: model-00001-of-00002.safetensors,
 *              model-00002-of-00002.safetensors, model.safetensors,
 *              extra.safetensors
 * An empty record means the file is absent. The files are written into a
 * directory made once per process (under $TMPDIR, else /dev/shm, else /tmp;
 * removed at exit, though not after a crash), and
 * ct_ckpt_open is given, by mode bits 0-1, the directory (0, 3), the index
 * file (1), or the first shard present as a bare file (2).
 *
 * Mode bits 3-5 pick a preset, bit 6 --skip-incompatible, bit 7 a sparsity
 * config on top (sparse-24-bitmask, or sparse-bitmask with bit 2); bits 6
 * and 7 together: a sparsity config alone (`ctensors compress -F`).
 *
 * When the checkpoint opens: every tensor is looked up by name, config.json
 * and the index are serialized with ct_pyjson_dumps (as the writer rewrites
 * them), and then, like the CLI:
 *   - with a quantization_config: ct_qconfig_parse, then decompress
 *     (ct_plan_decompress and ct_plan_execute), or, when its status is
 *     "frozen", compress it (normalize, ct_plan_quantize with frozen);
 *   - without one: quantize with the preset (ct_qconfig_preset, the CLI's
 *     default ignores, normalize, ct_plan_quantize), or compress -F;
 * executing the plan into memory (when the output is at most 16 MB) through
 * the CLI's layout. Every output file must parse again with ct_st_parse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"
#include "ct_error.h"
#include "plan.h"
#include "pyjson.h"
#include "qconfig.h"
#include "safetensors.h"

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_checkpoint: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#define SEP "@@FILE@@"
#define MAX_OUTPUT (16u << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const shard_files[] = {
	"model-00001-of-00002.safetensors",
	"model-00002-of-00002.safetensors",
	"model.safetensors",
	"extra.safetensors",
};
#define N_SHARD_FILES (sizeof(shard_files) / sizeof(shard_files[0]))
static const char *const other_files[] = {
	"model.safetensors.index.json",
	"custom.safetensors.index.json",
	"config.json",
};
#define N_OTHER_FILES (sizeof(other_files) / sizeof(other_files[0]))

static const char *const presets[] = {
	"W4A16", "W8A8", "NVFP4A16", "MXFP4A16", "FP8_DYNAMIC", "W4A16_ASYM", "MXFP8A16",
	"FP8_BLOCK",
};

static char dir[256];

/* FUZZ_DEBUG=1: say why inputs stop early (for checking seeds and triage). */
static bool debug;
#define DEBUG(...) (debug ? (void)fprintf(stderr, "fuzz_checkpoint: " __VA_ARGS__) : (void)0)

static void remove_dir(void)
{
	char p[512];
	for (size_t i = 0; i < N_SHARD_FILES; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, shard_files[i]);
		unlink(p);
	}
	for (size_t i = 0; i < N_OTHER_FILES; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, other_files[i]);
		unlink(p);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);
	const char *d = getenv("FUZZ_DEBUG");
	debug = d && *d && strcmp(d, "0") != 0;
	/* $TMPDIR when set (run.sh points it at a directory it removes), else
	 * /dev/shm (no disk I/O), else /tmp */
	struct stat st;
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/fuzz_checkpoint.XXXXXX", base);
	CHECK(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
	atexit(remove_dir);
	return 0;
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0, "%s: %s", path, strerror(errno));
	while (n) {
		ssize_t w = write(fd, p, n);
		CHECK(w > 0, "%s: %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static const uint8_t *find_sep(const uint8_t *p, const uint8_t *end)
{
	size_t k = strlen(SEP);
	for (; (size_t)(end - p) >= k; p++)
		if (memcmp(p, SEP, k) == 0)
			return p;
	return NULL;
}

/* ---- executing a plan into memory ---- */

typedef struct membuf {
	uint8_t *p;
	size_t size;
} membuf;

static int mem_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	membuf *m = ctx;
	(void)err;
	CHECK(off <= m->size && len <= m->size - off, "wrote [%llu, +%zu) into a file of %zu",
	      (unsigned long long)off, len, m->size);
	memcpy(m->p + off, buf, len);
	return CT_OK;
}

/* cli_layout_plan: the input's metadata, the config, ctensors.version. */
static int layout(ct_plan *plan, const ct_checkpoint *ck, const char *qcompact, ct_error *err)
{
	for (size_t s = 0; s < plan->n_shards; s++) {
		ct_st_builder *b = plan->shards[s].builder;
		const ct_st_file *f = ck->shards[s];
		int rc = ct_st_builder_meta(b, "format", "pt", err);
		if (!rc && f->metadata) {
			const char *k;
			json_t *v;
			json_object_foreach(f->metadata, k, v) {
				if (strcmp(k, "format") == 0 || strcmp(k, "quantization_config") == 0 ||
				    strncmp(k, "ctensors.", 9) == 0)
					continue;
				rc = ct_st_builder_meta(b, k, json_string_value(v), err);
				if (rc)
					break;
			}
		}
		if (!rc && qcompact)
			rc = ct_st_builder_meta(b, "quantization_config", qcompact, err);
		if (!rc)
			rc = ct_st_builder_meta(b, "ctensors.version", "fuzz", err);
		if (!rc)
			rc = ct_st_builder_layout(b, true, err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

static void execute(ct_plan *plan, const ct_checkpoint *ck, const char *qcompact)
{
	ct_error err;
	ct_error_clear(&err);
	if (layout(plan, ck, qcompact, &err) != CT_OK) {
		CHECK(err.msg[0], "layout failed without a message");
		DEBUG("layout: %s\n", err.msg);
		return;
	}
	uint64_t total = 0;
	for (size_t s = 0; s < plan->n_shards; s++)
		total += ct_st_builder_file_size(plan->shards[s].builder);
	if (total > MAX_OUTPUT)
		return;
	size_t n = plan->n_shards;
	membuf *bufs = calloc(n ? n : 1, sizeof(membuf));
	ct_sink *sinks = calloc(n ? n : 1, sizeof(ct_sink));
	CHECK(bufs && sinks, "out of memory");
	for (size_t s = 0; s < n; s++) {
		bufs[s].size = (size_t)ct_st_builder_file_size(plan->shards[s].builder);
		bufs[s].p = calloc(1, bufs[s].size ? bufs[s].size : 1);
		CHECK(bufs[s].p, "out of memory");
		sinks[s] = (ct_sink){ mem_pwrite, &bufs[s] };
	}
	ct_run_opts ro = { .threads = 1 };
	int rc = ct_plan_execute(plan, sinks, &ro, &err);
	DEBUG("execute: %s\n", rc ? err.msg : "ok");
	if (rc == CT_OK) {
		for (size_t s = 0; s < n; s++) {
			ct_st_file *g = NULL;
			ct_error e2;
			ct_error_clear(&e2);
			CHECK(ct_st_parse("output", bufs[s].p, bufs[s].size, &g, &e2) == CT_OK,
			      "written shard %zu does not parse: %s", s, e2.msg);
			ct_st_close(g);
		}
	} else {
		CHECK(err.msg[0], "execution failed without a message");
		CHECK(rc != CT_EINTERNAL, "internal error: %s", err.msg);
	}
	for (size_t s = 0; s < n; s++)
		free(bufs[s].p);
	free(bufs);
	free(sinks);
}

/* What cli_encode does after planning: the config as written, then write. */
static void encode_and_execute(ct_plan *plan, const ct_checkpoint *ck, const ct_qconfig *cfg)
{
	json_t *qj = ct_qconfig_to_json(cfg);
	CHECK(qj, "to_json of a planned config failed");
	char *compact = ct_pyjson_dumps(qj, false);
	CHECK(compact, "config not serializable");
	execute(plan, ck, compact);
	free(compact);
	json_decref(qj);
}

static void decompress(const ct_checkpoint *ck, const ct_qconfig *cfg)
{
	ct_plan *plan = NULL;
	ct_error err;
	ct_error_clear(&err);
	if (ct_plan_decompress(ck, cfg, CT_DTYPE_COUNT, &plan, &err) != CT_OK) {
		CHECK(err.msg[0], "decompress planning failed without a message");
		DEBUG("decompress plan: %s\n", err.msg);
		return;
	}
	execute(plan, ck, NULL);
	ct_plan_free(plan);
}

/* cmd_quantize's add_preset_ignores: lm_head, and every module of the
 * checkpoint the default patterns catch. */
static int add_preset_ignores(ct_qconfig *cfg, const ct_checkpoint *ck, ct_error *err)
{
	static const char *const defaults[] = {
		"re:.*(embed_tokens|wte|wpe|tok_embeddings|word_embeddings|embeddings)$",
		"re:.*mlp\\.gate$",
		"re:.*shared_expert_gate$",
		"re:.*(router|block_sparse_moe\\.gate)$",
	};
	const char *head = "lm_head";
	int rc = ct_qconfig_add_ignore(cfg, &head, 1, err);
	if (rc)
		return rc;
	ct_matcher *m = NULL;
	rc = ct_matcher_new(defaults, sizeof(defaults) / sizeof(defaults[0]), "default ignore",
			    &m, err);
	CHECK(rc == CT_OK, "default ignore patterns: %s", err->msg);
	char module[4096];
	for (size_t i = 0; i < ck->n_tensors && !rc; i++) {
		const ct_tensor *t = ck->tensors[ck->by_name[i]].t;
		size_t n = t->name_len;
		if (n < 7 || strcmp(t->name + n - 7, ".weight") != 0 ||
		    !ct_module_of(t->name, module, sizeof(module)))
			continue;
		if (ct_matcher_match(m, module, ct_module_class(module, t->ndim, NULL))) {
			const char *mm = module;
			rc = ct_qconfig_add_ignore(cfg, &mm, 1, err);
		}
	}
	ct_matcher_free(m);
	return rc;
}

static void quantize(const ct_checkpoint *ck, ct_qconfig *cfg, uint8_t mode, bool frozen,
		     bool preset)
{
	ct_error err;
	ct_error_clear(&err);
	if (preset) {
		if (add_preset_ignores(cfg, ck, &err) != CT_OK)
			return;
		if ((mode & 0x80) &&
		    ct_qconfig_set_sparsity(cfg, (mode & 0x04) ? CT_FMT_SPARSE_BITMASK
							   : CT_FMT_SPARSE_24, &err) != CT_OK)
			return;
	} else if (frozen) {
		if (cfg->format == CT_FMT_DENSE)
			cfg->format = CT_FMT_NONE;
		for (size_t g = 0; g < cfg->n_groups; g++)
			if (cfg->groups[g].format == CT_FMT_DENSE)
				cfg->groups[g].format = CT_FMT_NONE;
	}
	if (ct_qconfig_normalize(cfg, &err) != CT_OK) {
		DEBUG("normalize: %s\n", err.msg);
		return;
	}
	ct_quant_opts qo = { .skip_incompatible = preset && (mode & 0x40) != 0,
			     .fuse_global_scale = true, .frozen = frozen };
	ct_plan *plan = NULL;
	if (ct_plan_quantize(ck, cfg, &qo, &plan, &err) != CT_OK) {
		CHECK(err.msg[0], "quantize planning failed without a message");
		DEBUG("quantize plan: %s\n", err.msg);
		return;
	}
	encode_and_execute(plan, ck, cfg);
	ct_plan_free(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	char path[512];
	for (size_t i = 0; i < N_SHARD_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, shard_files[i]);
		unlink(path);
	}
	for (size_t i = 0; i < N_OTHER_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, other_files[i]);
		unlink(path);
	}
	const uint8_t *p = data + 1, *end = data + size;
	const char *first_shard = NULL;
	const char *index_name = (mode & 4) ? other_files[1] : other_files[0];
	for (size_t rec = 0; rec < 2 + N_SHARD_FILES && p <= end; rec++) {
		const uint8_t *q = find_sep(p, end);
		const uint8_t *stop = q ? q : end;
		size_t n = (size_t)(stop - p);
		if (n) {
			const char *name = rec == 0 ? index_name : rec == 1 ? "config.json"
									 : shard_files[rec - 2];
			put_file(name, p, n);
			if (rec >= 2 && !first_shard)
				first_shard = name;
		}
		if (!q)
			break;
		p = q + strlen(SEP);
	}
	switch (mode & 3) {
	case 0:
	case 3:
		snprintf(path, sizeof(path), "%s", dir);
		break;
	case 1:
		snprintf(path, sizeof(path), "%s/%s", dir, index_name);
		break;
	default:
		snprintf(path, sizeof(path), "%s/%s", dir, first_shard ? first_shard : "none");
		break;
	}

	ct_checkpoint *ck = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_ckpt_open(path, &ck, &err);
	if (rc != CT_OK) {
		CHECK(ck == NULL, "output set on failure");
		CHECK(err.msg[0] && (rc == CT_EINPUT || rc == CT_EIO), "open: code %d: %s", rc,
		      err.msg);
		DEBUG("open: %s\n", err.msg);
		return 0;
	}
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tref *r = &ck->tensors[i];
		CHECK(r->shard < ck->n_shards, "shard index");
		CHECK(ct_ckpt_find(ck, r->t->name) == r, "lookup of %s", r->t->name);
	}
	for (size_t s = 0; s < ck->n_shards; s++)
		free(ct_ckpt_shard_path(ck, s));
	if (ck->config)
		free(ct_pyjson_dumps(ck->config, true));
	if (ck->index)
		free(ct_pyjson_dumps(ck->index, true));

	json_t *qj = NULL;
	rc = ct_ckpt_qconfig(ck, &qj, &err);
	if (rc != CT_OK) {
		CHECK(err.msg[0], "qconfig: no message");
		DEBUG("qconfig: %s\n", err.msg);
	} else if (qj) {
		ct_qconfig *cfg = NULL;
		if (ct_qconfig_parse(qj, "config.json", &cfg, &err) != CT_OK)
			DEBUG("config: %s\n", err.msg);
		if (cfg) {
			const char *status = cfg->quantization_status;
			if (status && strcmp(status, "frozen") == 0 && cfg->n_groups)
				quantize(ck, cfg, mode, true, false);
			else
				decompress(ck, cfg);
			ct_qconfig_free(cfg);
		}
		json_decref(qj);
	} else if ((mode & 0xC0) == 0xC0) {
		/* compress -F: a sparsity config alone */
		ct_qconfig *cfg = NULL;
		json_t *j = json_pack("{s:s}", "quant_method", "compressed-tensors");
		rc = ct_qconfig_parse(j, "-F", &cfg, &err);
		json_decref(j);
		CHECK(rc == CT_OK, "empty config: %s", err.msg);
		rc = ct_qconfig_set_sparsity(cfg, (mode & 0x04) ? CT_FMT_SPARSE_BITMASK
							  : CT_FMT_SPARSE_24, &err);
		CHECK(rc == CT_OK, "set_sparsity: %s", err.msg);
		quantize(ck, cfg, mode, false, false);
		ct_qconfig_free(cfg);
	} else {
		ct_qconfig *cfg = NULL;
		rc = ct_qconfig_preset(presets[(mode >> 3) & 7], &cfg, &err);
		CHECK(rc == CT_OK, "preset: %s", err.msg);
		quantize(ck, cfg, mode, false, true);
		ct_qconfig_free(cfg);
	}
	ct_ckpt_close(ck);
	return 0;
}
