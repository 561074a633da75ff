/*
 * gen_bench - writes a deterministic Llama-shaped BF16 model directory for
 * `make bench`: hidden 2048, intermediate 5632, 8 KV heads of 128, vocab
 * 32000, LAYERS layers (20 give about 2 GB), about 500 MB per shard, with an
 * index and config.json.
 *
 * With "small", the layers are a Qwen2-MoE of small tensors instead (hidden
 * 128, 64 experts of intermediate 128, all 32 kB): 32 layers give 6,371
 * tensors in 218 MB, the shape of checkpoints whose cost is per tensor.
 *
 *   gen_bench OUTDIR LAYERS [small]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyjson.h"
#include "safetensors.h"

#define VOCAB 32000
#define SMALL_HIDDEN 128
#define SMALL_EXPERTS 64

static uint64_t HIDDEN = 2048, INTER = 5632, KV = 1024;
#define SHARD_BYTES (500ull << 20)

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n <= 0)
			return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return CT_OK;
}

typedef struct spec {
	char name[128];
	uint64_t shape[2];
	int ndim;
} spec;

static uint64_t rng = 0x243F6A8885A308D3ull;

/* Values with a roughly normal shape (sum of uniforms), std about 0.02. */
static uint16_t next_bf16(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	int s = (int)(rng & 0xFF) + (int)((rng >> 8) & 0xFF) + (int)((rng >> 16) & 0xFF) +
		(int)((rng >> 24) & 0xFF) - 510;
	return ct_f32_to_bf16((float)s * (0.02f / 147.0f));
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "small") == 0)) {
		fprintf(stderr, "usage: gen_bench OUTDIR LAYERS [small]\n");
		return 2;
	}
	const char *dir = argv[1];
	int layers = atoi(argv[2]);
	bool small = argc == 4;
	if (small) {
		HIDDEN = SMALL_HIDDEN;
		KV = SMALL_HIDDEN;
		INTER = SMALL_HIDDEN;
	}
	if (layers < 1 || layers > 200 || (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
		fprintf(stderr, "gen_bench: bad arguments or cannot create %s\n", dir);
		return 2;
	}
	size_t cap = (size_t)layers * (11 + 3 * SMALL_EXPERTS + 1) + 3, n = 0;
	spec *t = calloc(cap, sizeof(spec));
	snprintf(t[n].name, sizeof(t[n].name), "model.embed_tokens.weight");
	t[n++] = (spec){ .name = "model.embed_tokens.weight", .shape = { VOCAB, HIDDEN }, .ndim = 2 };
	for (int l = 0; l < layers; l++) {
		const struct { const char *n; uint64_t r, c; } w[] = {
			{ "self_attn.q_proj", HIDDEN, HIDDEN }, { "self_attn.k_proj", KV, HIDDEN },
			{ "self_attn.v_proj", KV, HIDDEN }, { "self_attn.o_proj", HIDDEN, HIDDEN },
			{ "mlp.gate_proj", INTER, HIDDEN }, { "mlp.up_proj", INTER, HIDDEN },
			{ "mlp.down_proj", HIDDEN, INTER },
		};
		for (size_t k = 0; k < 7; k++) {
			if (small && k == 4)
				break;
			snprintf(t[n].name, sizeof(t[n].name), "model.layers.%d.%s.weight", l, w[k].n);
			t[n].shape[0] = w[k].r;
			t[n].shape[1] = w[k].c;
			t[n++].ndim = 2;
		}
		for (int e = 0; small && e < SMALL_EXPERTS; e++) {
			static const char *proj[] = { "gate_proj", "up_proj", "down_proj" };
			for (int k = 0; k < 3; k++) {
				snprintf(t[n].name, sizeof(t[n].name), "model.layers.%d.mlp.experts.%d.%s.weight",
					 l, e, proj[k]);
				t[n].shape[0] = INTER;
				t[n].shape[1] = HIDDEN;
				t[n++].ndim = 2;
			}
		}
		if (small) {
			snprintf(t[n].name, sizeof(t[n].name), "model.layers.%d.mlp.gate.weight", l);
			t[n].shape[0] = SMALL_EXPERTS;
			t[n].shape[1] = HIDDEN;
			t[n++].ndim = 2;
		}
		snprintf(t[n].name, sizeof(t[n].name), "model.layers.%d.input_layernorm.weight", l);
		t[n].shape[0] = HIDDEN;
		t[n++].ndim = 1;
		snprintf(t[n].name, sizeof(t[n].name), "model.layers.%d.post_attention_layernorm.weight", l);
		t[n].shape[0] = HIDDEN;
		t[n++].ndim = 1;
	}
	t[n++] = (spec){ .name = "model.norm.weight", .shape = { HIDDEN }, .ndim = 1 };
	t[n++] = (spec){ .name = "lm_head.weight", .shape = { VOCAB, HIDDEN }, .ndim = 2 };

	/* deal tensors into shards of about SHARD_BYTES, in order */
	int *shard = calloc(n, sizeof(int));
	int shards = 0;
	uint64_t fill = 0, total = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1) * 2;
		if (fill && fill + b > SHARD_BYTES) {
			shards++;
			fill = 0;
		}
		shard[i] = shards;
		fill += b;
		total += b;
	}
	shards++;
	json_t *wm = json_object();
	uint64_t chunk_rows = small ? VOCAB : INTER;
	uint16_t *buf = malloc((size_t)(chunk_rows * HIDDEN * 2));
	ct_error err;
	for (int s = 0; s < shards; s++) {
		char name[64], path[4096];
		snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", s + 1, shards);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		ct_st_builder *b = ct_st_builder_new();
		int *ids = calloc(n, sizeof(int));
		for (size_t i = 0; i < n; i++) {
			if (shard[i] != s)
				continue;
			ids[i] = ct_st_builder_add(b, t[i].name, CT_BF16, t[i].ndim, t[i].shape, &err);
			json_object_set_new(wm, t[i].name, json_string(name));
		}
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		ct_sink sink = { fd_pwrite, &fd };
		if (fd < 0 || ct_st_builder_meta(b, "format", "pt", &err) ||
		    ct_st_builder_layout(b, false, &err)) {
			fprintf(stderr, "gen_bench: %s\n", path);
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (shard[i] != s)
				continue;
			uint64_t rows = t[i].shape[0], cols = t[i].ndim == 2 ? t[i].shape[1] : 1;
			for (uint64_t r = 0; r < rows; r += chunk_rows) {
				uint64_t m = rows - r < chunk_rows ? rows - r : chunk_rows;
				for (uint64_t k = 0; k < m * cols; k++)
					buf[k] = t[i].ndim == 1 ? 0x3F80 : next_bf16();
				if (ct_st_write(b, &sink, ids[i], buf, (size_t)(m * cols * 2), &err)) {
					fprintf(stderr, "gen_bench: %s\n", err.msg);
					return 1;
				}
			}
		}
		if (ct_st_finish(b, &sink, &err)) {
			fprintf(stderr, "gen_bench: %s\n", err.msg);
			return 1;
		}
		close(fd);
		free(ids);
		ct_st_builder_free(b);
	}
	json_t *idx = json_pack("{s:{s:I},s:o}", "metadata", "total_size", (json_int_t)total,
				"weight_map", wm);
	char *text = ct_pyjson_dumps(idx, true);
	char path[4096];
	snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s\n", text);
	fclose(f);
	free(text);
	json_decref(idx);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "w");
	if (small)
		fprintf(f, "{\n  \"architectures\": [\n    \"Qwen2MoeForCausalLM\"\n  ],\n"
			"  \"hidden_size\": %d,\n  \"moe_intermediate_size\": %d,\n"
			"  \"model_type\": \"qwen2_moe\",\n  \"num_experts\": %d,\n"
			"  \"num_hidden_layers\": %d,\n  \"torch_dtype\": \"bfloat16\",\n"
			"  \"vocab_size\": %d\n}\n", (int)HIDDEN, (int)INTER, SMALL_EXPERTS, layers,
			VOCAB);
	else
		fprintf(f, "{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n"
			"  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n"
			"  \"model_type\": \"llama\",\n  \"num_hidden_layers\": %d,\n"
			"  \"torch_dtype\": \"bfloat16\",\n  \"vocab_size\": %d\n}\n", (int)HIDDEN,
			(int)INTER, layers, VOCAB);
	fclose(f);
	free(buf);
	free(shard);
	free(t);
	return 0;
}
