/*
 * gen_moe - a mixture-of-experts checkpoint in one of the on-disk expert
 * layouts, and its per-expert dense equivalent, for the held-out MoE tests.
 *
 *   gen_moe [-w] [-n] [-d NAME] [-s SEED] OUTDIR FAMILY LAYOUT E H I DTYPE LAYERS SHARDS
 *
 * OUTDIR/input: config.json and the checkpoint as the family ships it, in
 * SHARDS files (model-0000K-of-0000N.safetensors plus an index when SHARDS
 * > 1; a fused gate_up and down of one layer in different shards).
 * OUTDIR/dense_equivalent: config.json and one model.safetensors with the
 * experts as per-expert 2-D nn.Linear weights ([out, in]) named as vLLM's
 * loader for the family expects. It is made here by indexing alone, from
 * the layout definitions (spec/VLLM.md A1, wild/README.md Part 2), not by
 * the library's own split, so that quantizing both and comparing checks
 * that split:
 *   A  gate_up [E, 2I, H], down [E, H, I]:   gate = [e, :I, :], up = [e, I:, :],
 *                                            down = [e]
 *   B  gate_up [E, H, 2I], down [E, I, H]:   gate = [e, :, :I]^T, up = [e, :, I:]^T,
 *                                            down = [e]^T
 *   C  as B, gate/up interleaved by column: gate = [e, :, 0::2]^T, up = [e, :, 1::2]^T;
 *      biases gate_up_proj_bias [E, 2I] (gate = [e, 0::2], up = [e, 1::2]) and
 *      down_proj_bias [E, H]
 *   P  per-expert 2-D already: input and dense equivalent hold the same tensors.
 *   M  mixed: even layers fused as A, odd layers per-expert.
 *
 * FAMILY (names, routers, shared experts; layouts it may take):
 *   qwen3_5   mlp.experts, router mlp.gate, mlp.shared_expert + shared_expert_gate,
 *             q_norm/k_norm (A, B, P, M)
 *   qwen3_vl  mlp.experts, router mlp.gate (A, B, P)
 *   llama4    feed_forward.experts, feed_forward.router, feed_forward.shared_expert (A, B, P)
 *   gptoss    mlp.experts with biases, mlp.router (+bias), attention biases, sinks (C)
 *   deepseek  mlp.experts, mlp.gate + e_score_correction_bias (F32), mlp.shared_experts,
 *             layer 0 a dense MLP when LAYERS > 1 (A, P)
 *   glm       as deepseek, model_type glm4_moe (A, P)
 *   qwen3_next  mlp.experts, mlp.gate, mlp.shared_expert + shared_expert_gate (P)
 *   mixtral   block_sparse_moe.experts.{e}.w1/w3 [I,H], w2 [H,I], router
 *             block_sparse_moe.gate (A: transformers v5 save_original_format=False;
 *             split back to w1/w3/w2, P)
 *
 * -w: fused names end in ".weight" (gate_up_proj.weight); -n: no expert
 * biases (layout C then told by model_type gpt_oss); -d NAME: leave that
 * tensor out of the dense equivalent; -s: the seed of the values. DTYPE is
 * BF16 or F16. E, H, I: experts, hidden, intermediate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dtype.h"
#include "safetensors.h"

typedef struct tens {
	char *name;
	ct_dtype dt;
	int ndim;
	uint64_t shape[3];
	uint8_t *data;
	size_t nbytes;
	int shard;
} tens;

/* Each tensor allocated on its own: the pointers add returns stay valid
 * while the list grows. */
typedef struct tlist {
	tens **t;
	size_t n, cap;
} tlist;

typedef struct family {
	const char *name, *model_type, *arch;
	const char *block;          /* "mlp", "feed_forward", "block_sparse_moe" */
	const char *router;         /* local name of the router under block */
	const char *shared;         /* shared expert module under block, or NULL */
	bool shared_gate;           /* BLOCK.shared_expert_gate [1, H] */
	bool score_bias;            /* router e_score_correction_bias [E] F32 */
	bool first_dense;           /* layer 0 a dense MLP (DeepSeek first_k_dense_replace) */
	bool qk_norm, attn_bias;    /* attention extras */
	bool mixtral_names;         /* w1/w3/w2 */
	const char *layouts;        /* the layouts the family may take */
} family;

static const family families[] = {
	{ "qwen3_5", "qwen3_5_moe_text", "Qwen3_5MoeForCausalLM", "mlp", "gate", "shared_expert",
	  true, false, false, true, false, false, "ABPM" },
	{ "qwen3_vl", "qwen3_vl_moe_text", "Qwen3VLMoeForConditionalGeneration", "mlp", "gate",
	  NULL, false, false, false, true, false, false, "ABP" },
	{ "llama4", "llama4_text", "Llama4ForCausalLM", "feed_forward", "router", "shared_expert",
	  false, false, false, false, false, false, "ABP" },
	{ "gptoss", "gpt_oss", "GptOssForCausalLM", "mlp", "router", NULL, false, false, false,
	  false, true, false, "C" },
	{ "deepseek", "deepseek_v3", "DeepseekV3ForCausalLM", "mlp", "gate", "shared_experts",
	  false, true, true, false, false, false, "AP" },
	{ "glm", "glm4_moe", "Glm4MoeForCausalLM", "mlp", "gate", "shared_experts", false, true,
	  true, false, false, false, "AP" },
	{ "qwen3_next", "qwen3_next", "Qwen3NextForCausalLM", "mlp", "gate", "shared_expert", true,
	  false, false, true, false, false, "P" },
	{ "mixtral", "mixtral", "MixtralForCausalLM", "block_sparse_moe", "gate", NULL, false, false,
	  false, false, false, true, "AP" },
};

enum { VOCAB = 64, HEAD_DIM = 64, HEADS = 2, KV_HEADS = 1, SHARED_I = 128, DENSE_I = 256 };

static uint64_t rng;

static void die(const char *what)
{
	fprintf(stderr, "gen_moe: %s\n", what);
	exit(1);
}

static void *xcalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static double next_unit(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static tens *add(tlist *l, const char *name, ct_dtype dt, int ndim, const uint64_t *shape,
		 int shard)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->t = realloc(l->t, l->cap * sizeof(*l->t));
		if (!l->t)
			die("out of memory");
	}
	tens *t = xcalloc(sizeof(*t));
	l->t[l->n++] = t;
	t->name = strdup(name);
	t->dt = dt;
	t->ndim = ndim;
	uint64_t n = 1;
	for (int d = 0; d < ndim; d++)
		n *= t->shape[d] = shape[d];
	t->nbytes = (size_t)n * ct_dtype_size(dt);
	t->data = xcalloc(t->nbytes);
	t->shard = shard;
	if (!t->name)
		die("out of memory");
	return t;
}

/* Seeded values whose magnitude varies from stretch to stretch (so that
 * groups and rows get scales of their own), with a rare outlier. */
static void fill(tens *t)
{
	size_t n = t->nbytes / ct_dtype_size(t->dt);
	for (size_t k = 0; k < n; k++) {
		double mag = 0.25 + 0.25 * (double)((k / 37) % 7);
		double v = next_unit() * mag;
		if (k % 613 == 5)
			v *= 6.0;
		ct_store_f32(t->dt, t->data, k, (float)v);
	}
}

static tens *gen(tlist *in, tlist *eq, const char *name, ct_dtype dt, int ndim,
		 const uint64_t *shape, int shard)
{
	tens *t = add(in, name, dt, ndim, shape, shard);
	fill(t);
	if (eq) {
		tens *c = add(eq, name, dt, ndim, shape, 0);
		memcpy(c->data, t->data, t->nbytes);
	}
	return t;
}

/* ---------------------------------------------------------- writing --- */

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	ssize_t n = pwrite(fd, buf, len, (off_t)off);
	if (n < 0 || (size_t)n != len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

static void write_file(const char *path, const tlist *l, int shard, const char *drop)
{
	ct_error err;
	ct_st_builder *b = ct_st_builder_new();
	int *ids = xcalloc((l->n + 1) * sizeof(int));
	for (size_t i = 0; i < l->n; i++) {
		const tens *t = l->t[i];
		ids[i] = -1;
		if (t->shard != shard || (drop && strcmp(drop, t->name) == 0))
			continue;
		if ((ids[i] = ct_st_builder_add(b, t->name, t->dt, t->ndim, t->shape, &err)) < 0)
			die(err.msg);
	}
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ct_sink sink = { fd_pwrite, &fd };
	if (fd < 0)
		die(strerror(errno));
	if (ct_st_builder_meta(b, "format", "pt", &err) || ct_st_builder_layout(b, false, &err))
		die(err.msg);
	for (size_t i = 0; i < l->n; i++)
		if (ids[i] >= 0 && ct_st_write(b, &sink, ids[i], l->t[i]->data, l->t[i]->nbytes, &err))
			die(err.msg);
	if (ct_st_finish(b, &sink, &err))
		die(err.msg);
	close(fd);
	ct_st_builder_free(b);
	free(ids);
}

static void write_text(const char *dir, const char *name, json_t *j)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
		die("cannot write a JSON file");
}

static void write_dir(const char *dir, const tlist *l, int shards, json_t *config,
		      const char *drop)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die(strerror(errno));
	write_text(dir, "config.json", config);
	char path[4096];
	if (shards == 1) {
		snprintf(path, sizeof(path), "%s/model.safetensors", dir);
		write_file(path, l, 0, drop);
		return;
	}
	json_t *wm = json_object();
	for (int s = 0; s < shards; s++) {
		char name[64];
		snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", s + 1, shards);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		write_file(path, l, s, drop);
		for (size_t i = 0; i < l->n; i++)
			if (l->t[i]->shard == s)
				json_object_set_new(wm, l->t[i]->name, json_string(name));
	}
	json_t *index = json_pack("{s:{},s:o}", "metadata", "weight_map", wm);
	write_text(dir, "model.safetensors.index.json", index);
	json_decref(index);
}

static void free_list(tlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->t[i]->name);
		free(l->t[i]->data);
		free(l->t[i]);
	}
	free(l->t);
}

/* ----------------------------------------------------------- experts --- */

/* Copies element (r, c) of a row-major [rows, cols] slab. */
static void put(tens *dst, uint64_t at, const tens *src, uint64_t from)
{
	size_t esz = ct_dtype_size(src->dt);
	memcpy(dst->data + at * esz, src->data + from * esz, esz);
}

/* One layer's fused experts, and their per-expert split into eq. */
static void fused_experts(tlist *in, tlist *eq, const family *f, char layout, int layer,
			  uint64_t E, uint64_t H, uint64_t I, ct_dtype dt, int shards,
			  bool weight_suffix, bool biases)
{
	char prefix[256], name[512];
	snprintf(prefix, sizeof(prefix), "model.layers.%d.%s.experts", layer, f->block);
	const char *sfx = weight_suffix ? ".weight" : "";
	bool rows = layout == 'A';
	uint64_t gu_shape[3] = { E, rows ? 2 * I : H, rows ? H : 2 * I };
	uint64_t dn_shape[3] = { E, rows ? H : I, rows ? I : H };
	/* gate_up and down of one layer in different shards */
	snprintf(name, sizeof(name), "%s.gate_up_proj%s", prefix, sfx);
	tens *gu = gen(in, NULL, name, dt, 3, gu_shape, (2 * layer) % shards);
	snprintf(name, sizeof(name), "%s.down_proj%s", prefix, sfx);
	tens *dn = gen(in, NULL, name, dt, 3, dn_shape, (2 * layer + 1) % shards);
	tens *gub = NULL, *dnb = NULL;
	if (layout == 'C' && biases) {
		/* each bias in the other weight's shard */
		snprintf(name, sizeof(name), "%s.gate_up_proj_bias", prefix);
		gub = gen(in, NULL, name, dt, 2, (uint64_t[]){ E, 2 * I }, (2 * layer + 1) % shards);
		snprintf(name, sizeof(name), "%s.down_proj_bias", prefix);
		dnb = gen(in, NULL, name, dt, 2, (uint64_t[]){ E, H }, (2 * layer) % shards);
	}
	/* vLLM's Mixtral-style loaders name the experts w1 (gate), w3 (up), w2 */
	const char *gn = f->mixtral_names ? "w1" : "gate_proj";
	const char *un = f->mixtral_names ? "w3" : "up_proj";
	const char *dnn = f->mixtral_names ? "w2" : "down_proj";
	for (uint64_t e = 0; e < E; e++) {
		char en[32];
		snprintf(en, sizeof(en), "%llu", (unsigned long long)e);
		snprintf(name, sizeof(name), "%s.%s.%s.weight", prefix, en, gn);
		tens *g = add(eq, name, dt, 2, (uint64_t[]){ I, H }, 0);
		snprintf(name, sizeof(name), "%s.%s.%s.weight", prefix, en, un);
		tens *u = add(eq, name, dt, 2, (uint64_t[]){ I, H }, 0);
		snprintf(name, sizeof(name), "%s.%s.%s.weight", prefix, en, dnn);
		tens *d = add(eq, name, dt, 2, (uint64_t[]){ H, I }, 0);
		uint64_t gbase = e * 2 * I * H, dbase = e * H * I;
		for (uint64_t i = 0; i < I; i++) {
			for (uint64_t h = 0; h < H; h++) {
				uint64_t at = i * H + h;
				if (layout == 'A') {          /* [2I, H]: rows */
					put(g, at, gu, gbase + i * H + h);
					put(u, at, gu, gbase + (I + i) * H + h);
				} else if (layout == 'B') {   /* [H, 2I]: column halves */
					put(g, at, gu, gbase + h * 2 * I + i);
					put(u, at, gu, gbase + h * 2 * I + I + i);
				} else {                      /* [H, 2I]: even, odd columns */
					put(g, at, gu, gbase + h * 2 * I + 2 * i);
					put(u, at, gu, gbase + h * 2 * I + 2 * i + 1);
				}
			}
		}
		for (uint64_t h = 0; h < H; h++)
			for (uint64_t i = 0; i < I; i++)
				put(d, h * I + i, dn, layout == 'A' ? dbase + h * I + i :
				    dbase + i * H + h);
		if (!gub)
			continue;
		snprintf(name, sizeof(name), "%s.%s.gate_proj.bias", prefix, en);
		tens *gb = add(eq, name, dt, 1, (uint64_t[]){ I }, 0);
		snprintf(name, sizeof(name), "%s.%s.up_proj.bias", prefix, en);
		tens *ub = add(eq, name, dt, 1, (uint64_t[]){ I }, 0);
		snprintf(name, sizeof(name), "%s.%s.down_proj.bias", prefix, en);
		tens *db = add(eq, name, dt, 1, (uint64_t[]){ H }, 0);
		for (uint64_t i = 0; i < I; i++) {
			put(gb, i, gub, e * 2 * I + 2 * i);
			put(ub, i, gub, e * 2 * I + 2 * i + 1);
		}
		for (uint64_t h = 0; h < H; h++)
			put(db, h, dnb, e * H + h);
	}
}

/* One layer's per-expert 2-D experts, the same in input and equivalent;
 * an expert's gate, up and down in shards (layer + e + k) % shards, so that
 * an NVFP4 gate/up pair spans two files. */
static void per_expert(tlist *in, tlist *eq, const family *f, int layer, uint64_t E,
		       uint64_t H, uint64_t I, ct_dtype dt, int shards)
{
	const char *names[3] = { "gate_proj", "up_proj", "down_proj" };
	if (f->mixtral_names) {
		names[0] = "w1";
		names[1] = "w3";
		names[2] = "w2";
	}
	for (uint64_t e = 0; e < E; e++)
		for (int k = 0; k < 3; k++) {
			char name[512];
			snprintf(name, sizeof(name), "model.layers.%d.%s.experts.%llu.%s.weight", layer,
				 f->block, (unsigned long long)e, names[k]);
			uint64_t shape[2] = { k == 2 ? H : I, k == 2 ? I : H };
			gen(in, eq, name, dt, 2, shape, (int)((layer + e + k) % (uint64_t)shards));
		}
}

/* A layer's attention, norms and (unless it is a dense layer) router and
 * shared expert. */
static void layer_rest(tlist *in, tlist *eq, const family *f, int layer, bool dense, uint64_t E,
		       uint64_t H, ct_dtype dt, int shards)
{
	char name[512];
	int sh = layer % shards;
	char pre[64];
	snprintf(pre, sizeof(pre), "model.layers.%d", layer);
	static const char *const proj[4] = { "q_proj", "k_proj", "v_proj", "o_proj" };
	for (int k = 0; k < 4; k++) {
		uint64_t out = k == 0 ? HEADS * HEAD_DIM : k < 3 ? KV_HEADS * HEAD_DIM : H;
		uint64_t inn = k == 3 ? HEADS * HEAD_DIM : H;
		snprintf(name, sizeof(name), "%s.self_attn.%s.weight", pre, proj[k]);
		gen(in, eq, name, dt, 2, (uint64_t[]){ out, inn }, sh);
		if (f->attn_bias) {
			snprintf(name, sizeof(name), "%s.self_attn.%s.bias", pre, proj[k]);
			gen(in, eq, name, dt, 1, (uint64_t[]){ out }, sh);
		}
	}
	if (f->qk_norm) {
		snprintf(name, sizeof(name), "%s.self_attn.q_norm.weight", pre);
		gen(in, eq, name, dt, 1, (uint64_t[]){ HEAD_DIM }, sh);
		snprintf(name, sizeof(name), "%s.self_attn.k_norm.weight", pre);
		gen(in, eq, name, dt, 1, (uint64_t[]){ HEAD_DIM }, sh);
	}
	if (f->attn_bias) {
		snprintf(name, sizeof(name), "%s.self_attn.sinks", pre);
		gen(in, eq, name, dt, 1, (uint64_t[]){ HEADS }, sh);
	}
	snprintf(name, sizeof(name), "%s.input_layernorm.weight", pre);
	gen(in, eq, name, dt, 1, (uint64_t[]){ H }, sh);
	snprintf(name, sizeof(name), "%s.post_attention_layernorm.weight", pre);
	gen(in, eq, name, dt, 1, (uint64_t[]){ H }, sh);
	if (dense)
		return;
	snprintf(name, sizeof(name), "%s.%s.%s.weight", pre, f->block, f->router);
	gen(in, eq, name, dt, 2, (uint64_t[]){ E, H }, sh);
	if (f->attn_bias) {
		snprintf(name, sizeof(name), "%s.%s.%s.bias", pre, f->block, f->router);
		gen(in, eq, name, dt, 1, (uint64_t[]){ E }, sh);
	}
	if (f->score_bias) {
		snprintf(name, sizeof(name), "%s.%s.%s.e_score_correction_bias", pre, f->block,
			 f->router);
		gen(in, eq, name, CT_F32, 1, (uint64_t[]){ E }, sh);
	}
	if (f->shared) {
		static const char *const sp[3] = { "gate_proj", "up_proj", "down_proj" };
		for (int k = 0; k < 3; k++) {
			snprintf(name, sizeof(name), "%s.%s.%s.%s.weight", pre, f->block, f->shared,
				 sp[k]);
			uint64_t shape[2] = { k == 2 ? H : SHARED_I, k == 2 ? SHARED_I : H };
			gen(in, eq, name, dt, 2, shape, sh);
		}
	}
	if (f->shared_gate) {
		snprintf(name, sizeof(name), "%s.%s.shared_expert_gate.weight", pre, f->block);
		gen(in, eq, name, dt, 2, (uint64_t[]){ 1, H }, sh);
	}
}

/* DeepSeek's first layers: a dense MLP whose gate_proj is no router. */
static void dense_mlp(tlist *in, tlist *eq, int layer, uint64_t H, ct_dtype dt, int shards)
{
	static const char *const sp[3] = { "gate_proj", "up_proj", "down_proj" };
	for (int k = 0; k < 3; k++) {
		char name[512];
		snprintf(name, sizeof(name), "model.layers.%d.mlp.%s.weight", layer, sp[k]);
		uint64_t shape[2] = { k == 2 ? H : DENSE_I, k == 2 ? DENSE_I : H };
		gen(in, eq, name, dt, 2, shape, layer % shards);
	}
}

static json_t *make_config(const family *f, uint64_t E, uint64_t H, uint64_t I, ct_dtype dt,
			   int layers)
{
	json_t *c = json_pack("{s:[s],s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:b,s:f}",
			      "architectures", f->arch, "model_type", f->model_type,
			      "hidden_size", (json_int_t)H, "num_hidden_layers", (json_int_t)layers,
			      "num_attention_heads", (json_int_t)HEADS, "num_key_value_heads",
			      (json_int_t)KV_HEADS, "head_dim", (json_int_t)HEAD_DIM, "vocab_size",
			      (json_int_t)VOCAB, "num_experts_per_tok", (json_int_t)(E > 1 ? 2 : 1),
			      "torch_dtype", dt == CT_BF16 ? "bfloat16" : "float16",
			      "tie_word_embeddings", 0, "rms_norm_eps", 1e-5);
	if (!c)
		die("out of memory");
	bool local = strcmp(f->name, "gptoss") == 0 || strcmp(f->name, "llama4") == 0 ||
		     strcmp(f->name, "mixtral") == 0;
	json_object_set_new(c, local ? "num_local_experts" : "num_experts", json_integer((json_int_t)E));
	json_object_set_new(c, local ? "intermediate_size" : "moe_intermediate_size",
			    json_integer((json_int_t)I));
	if (f->first_dense) {
		json_object_set_new(c, "n_routed_experts", json_integer((json_int_t)E));
		json_object_set_new(c, "first_k_dense_replace", json_integer(layers > 1 ? 1 : 0));
		json_object_set_new(c, "intermediate_size", json_integer(DENSE_I));
	}
	if (f->shared)
		json_object_set_new(c, "shared_expert_intermediate_size", json_integer(SHARED_I));
	return c;
}

int main(int argc, char **argv)
{
	bool weight_suffix = false, biases = true;
	const char *drop = NULL;
	rng = 0x9E3779B97F4A7C15ull;
	int opt;
	while ((opt = getopt(argc, argv, "wnd:s:")) != -1) {
		switch (opt) {
		case 'w': weight_suffix = true; break;
		case 'n': biases = false; break;
		case 'd': drop = optarg; break;
		case 's': rng ^= strtoull(optarg, NULL, 10) * 0xD1B54A32D192ED03ull; break;
		default: return 2;
		}
	}
	if (argc - optind != 9) {
		fprintf(stderr, "usage: gen_moe [-w] [-n] [-d NAME] [-s SEED] OUTDIR FAMILY LAYOUT E "
			"H I DTYPE LAYERS SHARDS\n");
		return 2;
	}
	char **a = argv + optind;
	const family *f = NULL;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strcmp(families[i].name, a[1]) == 0)
			f = &families[i];
	char layout = a[2][0];
	uint64_t E = strtoull(a[3], NULL, 10), H = strtoull(a[4], NULL, 10);
	uint64_t I = strtoull(a[5], NULL, 10);
	ct_dtype dt = strcmp(a[6], "F16") == 0 ? CT_F16 : CT_BF16;
	int layers = atoi(a[7]), shards = atoi(a[8]);
	if (!f || !layout || a[2][1] || !strchr(f->layouts, layout))
		die("unknown family, or a layout the family does not take");
	if ((strcmp(a[6], "F16") != 0 && strcmp(a[6], "BF16") != 0) || E < 1 || E > 256 ||
	    H < 1 || H > 8192 || I < 1 || I > 8192 || layers < 1 || layers > 8 || shards < 1 ||
	    shards > 8)
		die("sizes out of range");
	if (rng == 0)
		rng = 1;
	tlist in = { 0 }, eq = { 0 };
	gen(&in, &eq, "model.embed_tokens.weight", dt, 2, (uint64_t[]){ VOCAB, H }, 0);
	for (int l = 0; l < layers; l++) {
		bool dense = f->first_dense && l == 0 && layers > 1;
		layer_rest(&in, &eq, f, l, dense, E, H, dt, shards);
		if (dense)
			dense_mlp(&in, &eq, l, H, dt, shards);
		else if (layout == 'P' || (layout == 'M' && l % 2))
			per_expert(&in, &eq, f, l, E, H, I, dt, shards);
		else
			fused_experts(&in, &eq, f, layout == 'M' ? 'A' : layout, l, E, H, I, dt,
				      shards, weight_suffix, biases);
	}
	gen(&in, &eq, "model.norm.weight", dt, 1, (uint64_t[]){ H }, shards - 1);
	gen(&in, &eq, "lm_head.weight", dt, 2, (uint64_t[]){ VOCAB, H }, shards - 1);
	const char *out = a[0];
	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		die(strerror(errno));
	json_t *config = make_config(f, E, H, I, dt, layers);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/input", out);
	write_dir(dir, &in, shards, config, NULL);
	snprintf(dir, sizeof(dir), "%s/dense_equivalent", out);
	write_dir(dir, &eq, 1, config, drop);
	json_decref(config);
	free_list(&in);
	free_list(&eq);
	return 0;
}
