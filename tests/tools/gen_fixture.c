/*
 * gen_fixture - writes a small, deterministic Llama-shaped model directory.
 *
 *   gen_fixture OUTDIR
 *
 * OUTDIR gets two BF16 shards written with the library's own writer, the
 * sharded index as transformers writes it, a LlamaForCausalLM config.json,
 * and stub generation/tokenizer files. Values come from a fixed-seed
 * splitmix64 generator (never rand()), so two runs give identical bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ct_error.h"
#include "dtype.h"
#include "pyjson.h"
#include "safetensors.h"

#define HIDDEN 256
#define INTERMEDIATE 512
#define LAYERS 2
#define HEADS 4
#define KV_HEADS 2
#define HEAD_DIM (HIDDEN / HEADS)
#define VOCAB 512
#define SEED UINT64_C(0x43544e53524f5331) /* "CTNSROS1": any constant will do */
#define TRANSFORMERS_VERSION "4.46.0"

static const char *const shard_names[2] = {
	"model-00001-of-00002.safetensors",
	"model-00002-of-00002.safetensors",
};

/* ---------------------------------------------------------------- PRNG */

typedef struct rng {
	uint64_t s;
	bool have_spare;   /* Box-Muller makes two normals per draw */
	double spare;
} rng;

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below stays finite. */
static double uniform_open0(rng *r)
{
	return (double)((splitmix64(&r->s) >> 11) + 1) * 0x1p-53;
}

static double normal(rng *r)
{
	if (r->have_spare) {
		r->have_spare = false;
		return r->spare;
	}
	double u1 = uniform_open0(r);
	double u2 = uniform_open0(r);
	double rad = sqrt(-2.0 * log(u1));
	double th = 2.0 * 3.14159265358979323846 * u2;
	r->spare = rad * sin(th);
	r->have_spare = true;
	return rad * cos(th);
}

/* Each tensor gets its own stream keyed by its name, so its values do not
 * depend on the order tensors are declared or written in. */
static void rng_for(rng *r, const char *name)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	r->s = SEED ^ h;
	r->have_spare = false;
	r->spare = 0;
}

/* ---------------------------------------------------------------- sink */

typedef struct fd_sink {
	int fd;
	const char *path;
} fd_sink;

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t offset,
		     ct_error *err)
{
	fd_sink *s = ctx;
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ct_fail(err, CT_EIO, "%s: write failed: %s", s->path,
				       n < 0 ? strerror(errno) : "no progress");
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return CT_OK;
}

/* ---------------------------------------------------------------- model */

typedef struct tspec {
	char name[96];
	int ndim;
	uint64_t shape[2];
	int shard;          /* 0 or 1 */
	bool norm;          /* ones + noise instead of N(0, 0.02) */
} tspec;

#define MAX_TENSORS (3 + 9 * LAYERS)

static int n_specs;
static tspec specs[MAX_TENSORS];

static void add_spec(int shard, bool norm, int ndim, uint64_t d0, uint64_t d1,
		     const char *name)
{
	tspec *t = &specs[n_specs++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ndim = ndim;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->shard = shard;
	t->norm = norm;
}

static void build_specs(void)
{
	add_spec(0, false, 2, VOCAB, HIDDEN, "model.embed_tokens.weight");
	for (int l = 0; l < LAYERS; l++) {
		int sh = l == 0 ? 0 : 1;
		static const struct {
			const char *suffix;
			uint64_t rows, cols;
		} lin[] = {
			{ "self_attn.q_proj", HEADS * HEAD_DIM, HIDDEN },
			{ "self_attn.k_proj", KV_HEADS * HEAD_DIM, HIDDEN },
			{ "self_attn.v_proj", KV_HEADS * HEAD_DIM, HIDDEN },
			{ "self_attn.o_proj", HIDDEN, HEADS * HEAD_DIM },
			{ "mlp.gate_proj", INTERMEDIATE, HIDDEN },
			{ "mlp.up_proj", INTERMEDIATE, HIDDEN },
			{ "mlp.down_proj", HIDDEN, INTERMEDIATE },
		};
		char name[96];
		for (size_t i = 0; i < sizeof(lin) / sizeof(lin[0]); i++) {
			snprintf(name, sizeof(name), "model.layers.%d.%s.weight", l, lin[i].suffix);
			add_spec(sh, false, 2, lin[i].rows, lin[i].cols, name);
		}
		snprintf(name, sizeof(name), "model.layers.%d.input_layernorm.weight", l);
		add_spec(sh, true, 1, HIDDEN, 0, name);
		snprintf(name, sizeof(name), "model.layers.%d.post_attention_layernorm.weight", l);
		add_spec(sh, true, 1, HIDDEN, 0, name);
	}
	add_spec(1, true, 1, HIDDEN, 0, "model.norm.weight");
	add_spec(1, false, 2, VOCAB, HIDDEN, "lm_head.weight");
}

static uint64_t spec_nelem(const tspec *t)
{
	uint64_t n = 1;
	for (int d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

/* BF16 little-endian bytes of the tensor's values. */
static uint8_t *make_values(const tspec *t, size_t *len)
{
	uint64_t n = spec_nelem(t);
	uint8_t *buf = malloc((size_t)n * 2);
	if (!buf)
		return NULL;
	rng r;
	rng_for(&r, t->name);
	for (uint64_t i = 0; i < n; i++) {
		double v = t->norm ? 1.0 + 0.01 * normal(&r) : 0.02 * normal(&r);
		uint16_t h = ct_f32_to_bf16((float)v);
		buf[2 * i] = (uint8_t)(h & 0xFF);
		buf[2 * i + 1] = (uint8_t)(h >> 8);
	}
	*len = (size_t)n * 2;
	return buf;
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Writes shard sh; adds its tensor bytes to *total. */
static int write_shard(const char *outdir, int sh, uint64_t *total, ct_error *err)
{
	int rc = CT_OK;
	int ids[MAX_TENSORS];
	char *path = join(outdir, shard_names[sh]);
	ct_st_builder *b = ct_st_builder_new();
	int fd = -1;
	if (!path || !b) {
		rc = ct_fail(err, CT_EIO, "out of memory");
		goto out;
	}
	if ((rc = ct_st_builder_meta(b, "format", "pt", err)))
		goto out;
	for (int i = 0; i < n_specs; i++) {
		ids[i] = -1;
		if (specs[i].shard != sh)
			continue;
		ids[i] = ct_st_builder_add(b, specs[i].name, CT_BF16, specs[i].ndim,
					   specs[i].shape, err);
		if (ids[i] < 0) {
			rc = -ids[i];
			goto out;
		}
	}
	if ((rc = ct_st_builder_layout(b, false, err)))
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = ct_fail(err, CT_EIO, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	fd_sink fs = { fd, path };
	ct_sink sink = { fd_pwrite, &fs };
	for (int i = 0; i < n_specs; i++) {
		if (ids[i] < 0)
			continue;
		size_t len = 0;
		uint8_t *vals = make_values(&specs[i], &len);
		if (!vals) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			goto out;
		}
		rc = ct_st_write(b, &sink, ids[i], vals, len, err);
		free(vals);
		if (rc)
			goto out;
	}
	if ((rc = ct_st_finish(b, &sink, err)))
		goto out;
	*total += ct_st_builder_data_size(b);
out:
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = ct_fail(err, CT_EIO, "%s: close failed: %s", path, strerror(errno));
	ct_st_builder_free(b);
	free(path);
	return rc;
}

/* Writes v as json.dumps(v, indent=2, sort_keys=True) + "\n"; consumes v. */
static int write_json(const char *outdir, const char *name, json_t *v, ct_error *err)
{
	char *text = v ? ct_pyjson_dumps(v, true) : NULL;
	json_decref(v);
	char *path = join(outdir, name);
	int rc = CT_OK;
	if (!text || !path) {
		rc = ct_fail(err, CT_EIO, "%s: cannot build JSON", name);
		goto out;
	}
	FILE *fp = fopen(path, "wb");
	if (!fp) {
		rc = ct_fail(err, CT_EIO, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	bool ok = fputs(text, fp) >= 0 && fputc('\n', fp) != EOF;
	if (fclose(fp) != 0)
		ok = false;
	if (!ok)
		rc = ct_fail(err, CT_EIO, "%s: write failed", path);
out:
	free(text);
	free(path);
	return rc;
}

static json_t *index_json(uint64_t total)
{
	json_t *map = json_object();
	for (int i = 0; i < n_specs; i++)
		json_object_set_new(map, specs[i].name, json_string(shard_names[specs[i].shard]));
	return json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total,
			 "weight_map", map);
}

static json_t *config_json(void)
{
	return json_pack("{s:[s], s:b, s:f, s:i, s:i, s:i, s:s, s:i, s:f, s:i, s:i,"
			 " s:b, s:s, s:i, s:i, s:i, s:i, s:f, s:n, s:f, s:b, s:s, s:s,"
			 " s:b, s:i}",
			 "architectures", "LlamaForCausalLM",
			 "attention_bias", 0,
			 "attention_dropout", 0.0,
			 "bos_token_id", 1,
			 "eos_token_id", 2,
			 "head_dim", HEAD_DIM,
			 "hidden_act", "silu",
			 "hidden_size", HIDDEN,
			 "initializer_range", 0.02,
			 "intermediate_size", INTERMEDIATE,
			 "max_position_embeddings", 2048,
			 "mlp_bias", 0,
			 "model_type", "llama",
			 "num_attention_heads", HEADS,
			 "num_hidden_layers", LAYERS,
			 "num_key_value_heads", KV_HEADS,
			 "pretraining_tp", 1,
			 "rms_norm_eps", 1e-05,
			 "rope_scaling",
			 "rope_theta", 10000.0,
			 "tie_word_embeddings", 0,
			 "torch_dtype", "bfloat16",
			 "transformers_version", TRANSFORMERS_VERSION,
			 "use_cache", 1,
			 "vocab_size", VOCAB);
}

#define STUB_NOTE "ctensors test fixture stub: not a real tokenizer/generation setup"

static json_t *generation_config_json(void)
{
	return json_pack("{s:b, s:s, s:i, s:i, s:s}",
			 "_from_model_config", 1,
			 "_stub", STUB_NOTE,
			 "bos_token_id", 1,
			 "eos_token_id", 2,
			 "transformers_version", TRANSFORMERS_VERSION);
}

static json_t *tokenizer_json(void)
{
	return json_pack("{s:s, s:[], s:n, s:n, s:n, s:n, s:n,"
			 " s:{s:s, s:{s:i, s:i, s:i}, s:s}, s:n, s:s}",
			 "_stub", STUB_NOTE,
			 "added_tokens",
			 "decoder",
			 "normalizer",
			 "padding",
			 "post_processor",
			 "pre_tokenizer",
			 "model", "type", "WordLevel", "vocab", "<unk>", 0, "<s>", 1, "</s>", 2,
			 "unk_token", "<unk>",
			 "truncation",
			 "version", "1.0");
}

static json_t *tokenizer_config_json(void)
{
	return json_pack("{s:s, s:b, s:b, s:s, s:s, s:i, s:s, s:s}",
			 "_stub", STUB_NOTE,
			 "add_bos_token", 1,
			 "add_eos_token", 0,
			 "bos_token", "<s>",
			 "eos_token", "</s>",
			 "model_max_length", 2048,
			 "tokenizer_class", "PreTrainedTokenizerFast",
			 "unk_token", "<unk>");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_fixture OUTDIR\n");
		return 2;
	}
	const char *outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_fixture: %s: %s\n", outdir, strerror(errno));
		return 4;
	}
	build_specs();
	ct_error err = { 0 };
	uint64_t total = 0;
	int rc = CT_OK;
	for (int sh = 0; sh < 2 && !rc; sh++)
		rc = write_shard(outdir, sh, &total, &err);
	if (!rc)
		rc = write_json(outdir, "model.safetensors.index.json", index_json(total), &err);
	if (!rc)
		rc = write_json(outdir, "config.json", config_json(), &err);
	if (!rc)
		rc = write_json(outdir, "generation_config.json", generation_config_json(), &err);
	if (!rc)
		rc = write_json(outdir, "tokenizer.json", tokenizer_json(), &err);
	if (!rc)
		rc = write_json(outdir, "tokenizer_config.json", tokenizer_config_json(), &err);
	if (rc) {
		fprintf(stderr, "gen_fixture: %s\n", err.msg);
		return rc;
	}
	return 0;
}
