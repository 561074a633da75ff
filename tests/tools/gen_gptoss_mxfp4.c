/*
 * gen_gptoss_mxfp4 - writes a small checkpoint in the layout of the original
 * gpt-oss MXFP4 release, and its dequantization computed independently.
 *
 *   gen_gptoss_mxfp4 OUTDIR
 *
 * OUTDIR/input: config.json (GptOssForCausalLM, quantization_config
 * {quant_method mxfp4, modules_to_not_convert} as the release has it), two
 * BF16/U8 shards and their index. Two layers of E=4 experts, H=64, I=96:
 * per layer mlp.experts.gate_up_proj_blocks U8 [E, 2I, H/32, 16],
 * gate_up_proj_scales U8 [E, 2I, H/32], gate_up_proj_bias BF16 [E, 2I],
 * down_proj_blocks U8 [E, H, I/32, 16], down_proj_scales U8 [E, H, I/32],
 * down_proj_bias BF16 [E, H] (transformers' Mxfp4GptOssExperts). Layer 0
 * keeps each blocks tensor in one shard and its scales in the other.
 * Codes are uniform; exponents mostly 118..130, with 0 (subnormal results)
 * and 252 (the largest this format holds finitely) in every tensor.
 *
 * OUTDIR/expected_dequantized.safetensors: F32 per-expert weights
 * model.layers.N.mlp.experts.E.{gate,up,down}_proj.weight [out, in], made
 * the way transformers' convert_moe_packed_tensors does: the whole fused
 * tensor dequantized (low nibble = even element, lut[code] * 2^(s - 127)),
 * then split: gate = rows 0::2 of gate_up, up = rows 1::2, down = all.
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
#include "safetensors.h"

#define E 4
#define H 64
#define I 96
#define LAYERS 2
#define VOCAB 32
#define HEADS 2
#define KV_HEADS 1
#define HEAD_DIM 32
#define MAX_T 64
#define SEED UINT64_C(0x6770742d6f737334)   /* "gpt-oss4" */

static const char *const shard_names[2] = {
	"model-00001-of-00002.safetensors",
	"model-00002-of-00002.safetensors",
};

static const float lut[16] = {
	+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
	-0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
};

typedef struct tensor {
	char name[128];
	ct_dtype dt;
	int ndim;
	uint64_t shape[4];
	int shard;
	uint8_t *data;
	size_t nbytes;
} tensor;

static tensor ts[MAX_T];
static int n_ts;
static uint64_t state = SEED;

static uint64_t next(void)
{
	uint64_t z = (state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static tensor *add(const char *name, ct_dtype dt, int ndim, const uint64_t *shape, int shard)
{
	if (n_ts == MAX_T) {
		fprintf(stderr, "gen_gptoss_mxfp4: too many tensors\n");
		exit(2);
	}
	tensor *t = &ts[n_ts++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->dt = dt;
	t->ndim = ndim;
	uint64_t n = 1;
	for (int d = 0; d < ndim; d++)
		n *= t->shape[d] = shape[d];
	t->shard = shard;
	t->nbytes = (size_t)n * ct_dtype_size(dt);
	t->data = malloc(t->nbytes ? t->nbytes : 1);
	if (!t->data) {
		fprintf(stderr, "gen_gptoss_mxfp4: out of memory\n");
		exit(2);
	}
	return t;
}

/* BF16 values uniform in [-scale, scale) (norm: 1 + that). */
static void dense(const char *name, int ndim, uint64_t d0, uint64_t d1, int shard, float scale,
		  bool norm)
{
	uint64_t shape[2] = { d0, d1 };
	tensor *t = add(name, CT_BF16, ndim, shape, shard);
	for (size_t i = 0; i < t->nbytes / 2; i++) {
		float u = (float)((double)(next() >> 11) / 9007199254740992.0 * 2.0 - 1.0) * scale;
		uint16_t b = ct_f32_to_bf16(norm ? 1.0f + u : u);
		memcpy(t->data + 2 * i, &b, 2);
	}
}

/* Blocks U8 [E, rows, in/32, 16] of uniform codes and scales U8 [E, rows,
 * in/32]; returns the scales. */
static tensor *mx(const char *prefix, const char *what, uint64_t rows, uint64_t in,
		  int shard_blocks, int shard_scales)
{
	char name[128];
	uint64_t bs[4] = { E, rows, in / 32, 16 }, ss[3] = { E, rows, in / 32 };
	snprintf(name, sizeof(name), "%s.%s_blocks", prefix, what);
	tensor *b = add(name, CT_U8, 4, bs, shard_blocks);
	for (size_t i = 0; i < b->nbytes; i++)
		b->data[i] = (uint8_t)(next() & 0xFF);
	snprintf(name, sizeof(name), "%s.%s_scales", prefix, what);
	tensor *s = add(name, CT_U8, 3, ss, shard_scales);
	for (size_t i = 0; i < s->nbytes; i++)
		s->data[i] = (uint8_t)(118 + next() % 13);
	/* the extremes, where F32 and BF16 exactness would first break */
	s->data[1] = 0;
	s->data[s->nbytes - 2] = 252;
	return s;
}

/* --------------------------------------------------------- reference --- */

/* The fused tensor dequantized whole, [E, rows, in] F32. */
static float *dequant_fused(const tensor *b, const tensor *s)
{
	uint64_t rows = b->shape[1], G = b->shape[2];
	float *out = malloc((size_t)(E * rows * G * 32) * sizeof(float));
	if (!out)
		exit(2);
	for (uint64_t blk = 0; blk < E * rows * G; blk++) {
		int exp = (int)s->data[blk] - 127;
		for (int j = 0; j < 16; j++) {
			uint8_t byte = b->data[blk * 16 + (uint64_t)j];
			out[blk * 32 + (uint64_t)(2 * j)] = ldexpf(lut[byte & 15], exp);
			out[blk * 32 + (uint64_t)(2 * j + 1)] = ldexpf(lut[byte >> 4], exp);
		}
	}
	return out;
}

static tensor ref[LAYERS * E * 3];
static int n_ref;

/* Rows first, first + step, ... of expert e of a dequantized [E, rows, in]. */
static void ref_part(const char *prefix, int e, const char *part, const float *fused,
		     uint64_t rows, uint64_t in, uint64_t first, uint64_t step)
{
	tensor *t = &ref[n_ref++];
	snprintf(t->name, sizeof(t->name), "%s.%d.%s.weight", prefix, e, part);
	t->dt = CT_F32;
	t->ndim = 2;
	t->shape[0] = rows / step;
	t->shape[1] = in;
	t->nbytes = (size_t)(rows / step * in) * 4;
	t->data = malloc(t->nbytes);
	if (!t->data)
		exit(2);
	for (uint64_t r = 0; r < rows / step; r++)
		memcpy(t->data + r * in * 4, fused + ((uint64_t)e * rows + first + r * step) * in,
		       (size_t)in * 4);
}

/* ------------------------------------------------------------ output --- */

typedef struct fd_sink {
	int fd;
} fd_sink;

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	fd_sink *s = ctx;
	if (pwrite(s->fd, buf, len, (off_t)off) != (ssize_t)len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

static uint64_t write_st(const char *path, tensor *list, int n, int shard)
{
	ct_error err;
	ct_error_clear(&err);
	ct_st_builder *b = ct_st_builder_new();
	int ids[MAX_T], rc = b ? ct_st_builder_meta(b, "format", "pt", &err) : CT_EIO;
	for (int i = 0; !rc && i < n; i++) {
		ids[i] = -1;
		if (shard >= 0 && list[i].shard != shard)
			continue;
		ids[i] = ct_st_builder_add(b, list[i].name, list[i].dt, list[i].ndim, list[i].shape,
					   &err);
		if (ids[i] < 0)
			rc = -ids[i];
	}
	if (!rc)
		rc = ct_st_builder_layout(b, false, &err);
	int fd = rc ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!rc && fd < 0)
		rc = ct_fail(&err, CT_EIO, "%s: %s", path, strerror(errno));
	fd_sink fs = { fd };
	ct_sink sink = { fd_pwrite, &fs };
	for (int i = 0; !rc && i < n; i++)
		if (ids[i] >= 0)
			rc = ct_st_write(b, &sink, ids[i], list[i].data, list[i].nbytes, &err);
	if (!rc)
		rc = ct_st_finish(b, &sink, &err);
	uint64_t total = rc ? 0 : ct_st_builder_data_size(b);
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = ct_fail(&err, CT_EIO, "%s: %s", path, strerror(errno));
	ct_st_builder_free(b);
	if (rc) {
		fprintf(stderr, "gen_gptoss_mxfp4: %s: %s\n", path, err.msg);
		exit(1);
	}
	return total;
}

static void write_json(const char *path, json_t *j)
{
	if (!j || json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
		fprintf(stderr, "gen_gptoss_mxfp4: %s: cannot write\n", path);
		exit(1);
	}
	json_decref(j);
}

static json_t *config(void)
{
	json_t *q = json_pack("{s:s, s:[s, s, s, s]}", "quant_method", "mxfp4",
			      "modules_to_not_convert", "model.layers.*.self_attn",
			      "model.layers.*.mlp.router", "model.embed_tokens", "lm_head");
	return json_pack("{s:[s], s:b, s:i, s:i, s:i, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:f, "
			 "s:f, s:b, s:s, s:i, s:o}",
			 "architectures", "GptOssForCausalLM", "attention_bias", 1,
			 "experts_per_token", 2, "head_dim", HEAD_DIM, "hidden_size", H,
			 "intermediate_size", I, "model_type", "gpt_oss",
			 "num_attention_heads", HEADS, "num_experts_per_tok", 2,
			 "num_hidden_layers", LAYERS, "num_key_value_heads", KV_HEADS,
			 "num_local_experts", E, "rms_norm_eps", 1e-05, "swiglu_limit", 7.0,
			 "tie_word_embeddings", 0, "torch_dtype", "bfloat16", "vocab_size", VOCAB,
			 "quantization_config", q);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_gptoss_mxfp4 OUTDIR\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/input", argv[1]);
	if ((mkdir(argv[1], 0755) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST)) {
		fprintf(stderr, "gen_gptoss_mxfp4: %s: %s\n", path, strerror(errno));
		return 1;
	}
	dense("model.embed_tokens.weight", 2, VOCAB, H, 0, 0.05f, false);
	for (int l = 0; l < LAYERS; l++) {
		char p[128], n[160];
#define NAME(fmt) (snprintf(n, sizeof(n), "model.layers.%d." fmt, l), n)
		dense(NAME("input_layernorm.weight"), 1, H, 1, l, 0.1f, true);
		dense(NAME("post_attention_layernorm.weight"), 1, H, 1, l, 0.1f, true);
		dense(NAME("self_attn.q_proj.weight"), 2, HEADS * HEAD_DIM, H, l, 0.05f, false);
		dense(NAME("self_attn.q_proj.bias"), 1, HEADS * HEAD_DIM, 1, l, 0.05f, false);
		dense(NAME("self_attn.k_proj.weight"), 2, KV_HEADS * HEAD_DIM, H, l, 0.05f, false);
		dense(NAME("self_attn.k_proj.bias"), 1, KV_HEADS * HEAD_DIM, 1, l, 0.05f, false);
		dense(NAME("self_attn.v_proj.weight"), 2, KV_HEADS * HEAD_DIM, H, l, 0.05f, false);
		dense(NAME("self_attn.v_proj.bias"), 1, KV_HEADS * HEAD_DIM, 1, l, 0.05f, false);
		dense(NAME("self_attn.o_proj.weight"), 2, H, HEADS * HEAD_DIM, l, 0.05f, false);
		dense(NAME("self_attn.o_proj.bias"), 1, H, 1, l, 0.05f, false);
		dense(NAME("self_attn.sinks"), 1, HEADS, 1, l, 0.5f, false);
		dense(NAME("mlp.router.weight"), 2, E, H, l, 0.05f, false);
		dense(NAME("mlp.router.bias"), 1, E, 1, l, 0.05f, false);
		snprintf(p, sizeof(p), "model.layers.%d.mlp.experts", l);
		/* layer 0: blocks and scales in different shards */
		tensor *gs = mx(p, "gate_up_proj", 2 * I, H, l == 0 ? 0 : 1, 1);
		tensor *gb = gs - 1;
		dense(NAME("mlp.experts.gate_up_proj_bias"), 2, E, 2 * I, 1, 0.05f, false);
		tensor *ds = mx(p, "down_proj", H, I, 1, l == 0 ? 0 : 1);
		tensor *db = ds - 1;
		dense(NAME("mlp.experts.down_proj_bias"), 2, E, H, l, 0.05f, false);
#undef NAME
		float *gu = dequant_fused(gb, gs), *dn = dequant_fused(db, ds);
		for (int e = 0; e < E; e++) {
			ref_part(p, e, "gate_proj", gu, 2 * I, H, 0, 2);
			ref_part(p, e, "up_proj", gu, 2 * I, H, 1, 2);
			ref_part(p, e, "down_proj", dn, H, I, 0, 1);
		}
		free(gu);
		free(dn);
	}
	dense("model.norm.weight", 1, H, 1, 1, 0.1f, true);
	dense("lm_head.weight", 2, VOCAB, H, 1, 0.05f, false);

	uint64_t total = 0;
	for (int s = 0; s < 2; s++) {
		snprintf(path, sizeof(path), "%s/input/%s", argv[1], shard_names[s]);
		total += write_st(path, ts, n_ts, s);
	}
	json_t *map = json_object();
	for (int i = 0; i < n_ts; i++)
		json_object_set_new(map, ts[i].name, json_string(shard_names[ts[i].shard]));
	snprintf(path, sizeof(path), "%s/input/model.safetensors.index.json", argv[1]);
	write_json(path, json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total,
				   "weight_map", map));
	snprintf(path, sizeof(path), "%s/input/config.json", argv[1]);
	write_json(path, config());
	snprintf(path, sizeof(path), "%s/expected_dequantized.safetensors", argv[1]);
	write_st(path, ref, n_ref, -1);
	for (int i = 0; i < n_ts; i++)
		free(ts[i].data);
	for (int i = 0; i < n_ref; i++)
		free(ref[i].data);
	return 0;
}
