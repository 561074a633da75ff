/*
 * fuzz_decode.c - libFuzzer target for every codec's decoder, driven the way
 * `ctensors decompress` and `ctensors verify` drive them.
 *
 * Input layout:
 *   byte 0     format of the one config group: pack, naive, int, float,
 *              nvfp4, mxfp4, mxfp8 (mod 8; 7: no config group)
 *   byte 1     num_bits = 1 + (b % 8)
 *   byte 2     bit 0 type float, bit 1 asymmetric, bit 2 config version 0.17
 *              (padded pack layout), bits 3-4 output dtype (stored, F32, F16,
 *              BF16), bits 5-7 strategy (tensor, channel, group, block,
 *              tensor_group, token, attn_head, inferred)
 *   bytes 3-4  group_size, little-endian (0: null, 0xFFFF: -1)
 *   bytes 5-6  block_structure [rows, cols] (used with strategy block)
 *   byte 7     bits 0-2 scale_dtype: null, uint8, float8_e4m3fn, float16,
 *              bfloat16, float32, int8, null; bits 3-4 sparsity_config: none,
 *              sparse-bitmask, sparse-24-bitmask, dense; bit 5 also run
 *              ct_verify; bit 6 verify against the checkpoint itself; bit 7
 *              the format is the top-level "format" instead of the group's
 *   rest       a safetensors file: the checkpoint (module tensors named
 *              MODULE.weight_packed, MODULE.weight_scale, MODULE.compressed,
 *              MODULE.bitmask, ...)
 *
 * The config goes through ct_qconfig_parse (as decompress and verify read a
 * checkpoint's config; no normalize). The safetensors file goes through
 * ct_st_parse and becomes a one-shard in-memory checkpoint whose tensors each
 * live in their own exactly-sized heap block, so a decoder reading past one
 * tensor is caught even when another tensor follows in the file. Then
 * ct_plan_decompress plans it and ct_plan_decode decodes every module; the
 * emit callback checks that exactly rows x cols elements of the planned
 * dtype arrive as output 0 and, for quantized modules, that none of them is
 * still the malloc fill pattern (ASan fills fresh malloc blocks with 0xFF
 * here, see __asan_default_options): a dequantized value is never all ones,
 * so such an element was never written by the decoder.
 * With byte 7 bit 5 (or without any config) ct_verify runs as well. Before
 * that, every tensor is described as `ctensors inspect` does (describe.h:
 * role, parameters, statistics, the config summary).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint.h"
#include "codec.h"
#include "ct_error.h"
#include "describe.h"
#include "plan.h"
#include "qconfig.h"
#include "safetensors.h"
#include "verify.h"

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_decode: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#define HDR 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/* Fresh malloc blocks are filled with 0xFF (up to 16 MB), so output the
 * decoder never wrote shows up as all-ones elements. */
const char *__asan_default_options(void)
{
	return "malloc_fill_byte=255:max_malloc_fill_size=16777216";
}

/* FUZZ_DEBUG=1: say why inputs stop early (for checking seeds and triage). */
static bool debug;
#define DEBUG(...) (debug ? (void)fprintf(stderr, "fuzz_decode: " __VA_ARGS__) : (void)0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);
	const char *d = getenv("FUZZ_DEBUG");
	debug = d && *d && strcmp(d, "0") != 0;
	return 0;
}

static const ct_format formats[] = {
	CT_FMT_PACK, CT_FMT_NAIVE, CT_FMT_INT, CT_FMT_FLOAT,
	CT_FMT_NVFP4, CT_FMT_MXFP4, CT_FMT_MXFP8, CT_FMT_NONE,
};
static const char *const strategies[] = {
	"tensor", "channel", "group", "block", "tensor_group", "token", "attn_head", NULL,
};
static const char *const scale_dtypes[] = {
	NULL, "torch.uint8", "torch.float8_e4m3fn", "torch.float16", "torch.bfloat16",
	"torch.float32", "torch.int8", NULL,
};
static const char *const sparsity_formats[] = {
	NULL, "sparse-bitmask", "sparse-24-bitmask", "dense",
};

static json_t *build_config(const uint8_t *h)
{
	ct_format fmt = formats[h[0] % 8];
	const char *sparse = sparsity_formats[(h[7] >> 3) & 3];
	if (fmt == CT_FMT_NONE && !sparse)
		return NULL;
	json_t *c = json_pack("{s:s, s:s}", "quant_method", "compressed-tensors",
			      "version", h[2] & 4 ? "0.17.0" : "0.18.0");
	if (fmt != CT_FMT_NONE) {
		json_t *w = json_object();
		json_object_set_new(w, "num_bits", json_integer(1 + h[1] % 8));
		json_object_set_new(w, "type", json_string(h[2] & 1 ? "float" : "int"));
		json_object_set_new(w, "symmetric", json_boolean(!(h[2] & 2)));
		const char *strat = strategies[(h[2] >> 5) & 7];
		if (strat)
			json_object_set_new(w, "strategy", json_string(strat));
		unsigned gsz = (unsigned)h[3] | (unsigned)h[4] << 8;
		if (gsz)
			json_object_set_new(w, "group_size",
					    json_integer(gsz == 0xFFFF ? -1 : (json_int_t)gsz));
		if (strat && strcmp(strat, "block") == 0)
			json_object_set_new(w, "block_structure", json_pack("[ii]", h[5], h[6]));
		const char *sd = scale_dtypes[h[7] & 7];
		if (sd)
			json_object_set_new(w, "scale_dtype", json_string(sd));
		json_t *g = json_pack("{s:[s], s:o}", "targets", "Linear", "weights", w);
		if (h[7] & 0x80)
			json_object_set_new(c, "format", json_string(ct_format_name(fmt)));
		else
			json_object_set_new(g, "format", json_string(ct_format_name(fmt)));
		json_object_set_new(c, "config_groups", json_pack("{s:o}", "group_0", g));
	}
	if (sparse)
		json_object_set_new(c, "sparsity_config",
				    json_pack("{s:s, s:[s], s:[s], s:s}", "format", sparse,
					      "targets", "Linear", "ignore", "lm_head",
					      "sparsity_structure",
					      strcmp(sparse, "sparse-24-bitmask") == 0 ? "2:4"
										  : "unstructured"));
	return c;
}

/* ---- a one-shard checkpoint in memory, one heap block per tensor ---- */

typedef struct memckpt {
	ct_checkpoint ck;
	ct_st_file shard;
	ct_st_file *shards[1];
	char *names[1];
	ct_tref *refs;
	size_t *by_name;
	uint8_t **blocks;
} memckpt;

static int cmp_ref_name(const void *a, const void *b, void *ctx)
{
	const ct_tref *t = ctx;
	return strcmp(t[*(const size_t *)a].t->name, t[*(const size_t *)b].t->name);
}

static void memckpt_init(memckpt *m, const ct_st_file *f)
{
	memset(m, 0, sizeof(*m));
	size_t n = f->n_tensors;
	m->shard = *f;
	m->shard.mapped = false;
	m->shard.tensors = calloc(n ? n : 1, sizeof(ct_tensor));
	m->shard.by_name = calloc(n ? n : 1, sizeof(size_t));
	m->blocks = calloc(n ? n : 1, sizeof(uint8_t *));
	m->refs = calloc(n ? n : 1, sizeof(ct_tref));
	m->by_name = calloc(n ? n : 1, sizeof(size_t));
	CHECK(m->shard.tensors && m->shard.by_name && m->blocks && m->refs && m->by_name,
	      "out of memory");
	for (size_t i = 0; i < n; i++) {
		ct_tensor *t = &m->shard.tensors[i];
		*t = f->tensors[i];
		size_t len = (size_t)(t->end - t->begin);
		m->blocks[i] = malloc(len ? len : 1);
		CHECK(m->blocks[i], "out of memory");
		memcpy(m->blocks[i], f->tensors[i].data, len);
		/* an empty tensor owns nothing: point past its 1-byte block */
		t->data = len ? m->blocks[i] : m->blocks[i] + 1;
		m->shard.by_name[i] = f->by_name[i];
		m->refs[i] = (ct_tref){ t, 0 };
		m->by_name[i] = i;
	}
	qsort_r(m->by_name, n, sizeof(size_t), cmp_ref_name, m->refs);
	m->shards[0] = &m->shard;
	m->names[0] = "model.safetensors";
	m->ck = (ct_checkpoint){ .kind = CT_CKPT_FILE, .dir = ".", .n_shards = 1,
		.shard_names = m->names, .shards = m->shards, .n_tensors = n,
		.tensors = m->refs, .by_name = m->by_name };
}

static void memckpt_free(memckpt *m)
{
	for (size_t i = 0; i < m->shard.n_tensors; i++)
		free(m->blocks[i]);
	free(m->blocks);
	free(m->shard.tensors);
	free(m->shard.by_name);
	free(m->refs);
	free(m->by_name);
}

/* ---- the output check ---- */

typedef struct sinkctx {
	ct_dtype dt;
	uint64_t want_bytes, got_bytes;
	const char *module;
	bool computed;             /* values are dequantized, not copied from the file */
} sinkctx;

static int emit(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	(void)err;
	sinkctx *s = ctx;
	CHECK(k == 0, "%s: decoder emitted output %d", s->module, k);
	CHECK(len <= s->want_bytes - s->got_bytes, "%s: decoder emitted %llu + %zu bytes of "
	      "%llu", s->module, (unsigned long long)s->got_bytes, len,
	      (unsigned long long)s->want_bytes);
	size_t esz = ct_dtype_size(s->dt);
	CHECK(esz && len % esz == 0, "%s: partial element", s->module);
	const uint8_t *p = buf;
	/* Stored values (sparse-only modules) may be anything, the all-ones
	 * pattern included; dequantized ones never are (NaN comes out as
	 * 0x7FC0.../0xFFC0..., not all ones). */
	for (size_t i = 0; s->computed && i < len; i += esz) {
		bool all_ones = true;
		for (size_t b = 0; b < esz; b++)
			all_ones = all_ones && p[i + b] == 0xFF;
		CHECK(!all_ones, "%s: decoded element %llu (%s) was never written (malloc fill "
		      "pattern)", s->module, (unsigned long long)((s->got_bytes + i) / esz),
		      ct_dtype_name(s->dt));
	}
	s->got_bytes += len;
	return CT_OK;
}

static void decode_all(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_dtype out_dt)
{
	ct_plan *plan = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_plan_decompress(ck, cfg, out_dt, &plan, &err);
	if (rc != CT_OK) {
		CHECK(err.msg[0], "planning failed without a message");
		DEBUG("plan: %s\n", err.msg);
		return;
	}
	for (size_t s = 0; s < plan->n_shards; s++) {
		for (size_t i = 0; i < plan->shards[s].n_items; i++) {
			const ct_plan_item *it = &plan->shards[s].items[i];
			if (it->kind != CT_ITEM_DECODE)
				continue;
			const ct_codec_tensor *o = &it->out[0];
			uint64_t nelem, nbytes;
			CHECK(ct_tensor_nbytes(o->dtype, o->ndim, o->shape, &nelem, &nbytes),
			      "%s: planned output has no size", it->module);
			sinkctx sk = { .dt = o->dtype, .want_bytes = nbytes, .module = it->module,
				       .computed = it->codec != NULL };
			ct_error_clear(&err);
			rc = ct_plan_decode(ck, it, emit, &sk, &err);
			DEBUG("%s: %s %llu bytes: %s\n", it->module, rc ? "failed" : "decoded",
			      (unsigned long long)sk.got_bytes, rc ? err.msg : "ok");
			if (rc == CT_OK)
				CHECK(sk.got_bytes == nbytes, "%s: decoded %llu bytes of %llu",
				      it->module, (unsigned long long)sk.got_bytes,
				      (unsigned long long)nbytes);
			else
				CHECK(err.msg[0], "%s: decode failed without a message", it->module);
		}
	}
	ct_plan_free(plan);
}

/* `ctensors inspect`: what every tensor is, its statistics, the config. */
static void describe_all(const ct_checkpoint *ck, const ct_qconfig *cfg)
{
	ct_describer *d = NULL;
	ct_error err;
	ct_error_clear(&err);
	if (ct_describer_new(ck, cfg, &d, &err) != CT_OK) {
		CHECK(err.msg[0], "describer failed without a message");
		return;
	}
	char buf[256];
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tref *r = &ck->tensors[i];
		ct_tensor_desc td;
		ct_describe_tensor(d, r, &td);
		(void)ct_describe_role(d, r, buf, sizeof(buf));
		(void)ct_tensor_desc_text(&td, buf, sizeof(buf));
		(void)ct_describe_params(d, r);
		if (ct_stats_supported(r->t->dtype)) {
			ct_stats st;
			if (ct_tensor_stats(r->t, &st, &err) == CT_OK)
				CHECK(st.count == r->t->nelem && st.finite + st.nan + st.inf == st.count,
				      "%s: statistics count %llu elements of %llu", r->t->name,
				      (unsigned long long)st.count, (unsigned long long)r->t->nelem);
		}
	}
	ct_describer_free(d);
	if (cfg)
		free(ct_describe_qconfig(cfg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	ct_error err;
	ct_error_clear(&err);
	ct_qconfig *cfg = NULL;
	json_t *j = build_config(data);
	if (j) {
		int rc = ct_qconfig_parse(j, "config.json", &cfg, &err);
		json_decref(j);
		if (rc != CT_OK) {
			DEBUG("config: %s\n", err.msg);
			return 0;
		}
	}
	ct_st_file *f = NULL;
	if (ct_st_parse("model.safetensors", data + HDR, size - HDR, &f, &err) != CT_OK) {
		DEBUG("file: %s\n", err.msg);
		ct_qconfig_free(cfg);
		return 0;
	}
	memckpt m;
	memckpt_init(&m, f);

	describe_all(&m.ck, cfg);
	static const ct_dtype out_dts[] = { CT_DTYPE_COUNT, CT_F32, CT_F16, CT_BF16 };
	if (cfg)
		decode_all(&m.ck, cfg, out_dts[(data[2] >> 3) & 3]);
	if (!cfg || (data[7] & 0x20)) {
		ct_verify_report *rep = NULL;
		ct_error_clear(&err);
		int rc = ct_verify(&m.ck, cfg, (data[7] & 0x40) ? &m.ck : NULL, 1, &rep, &err);
		CHECK(rc == CT_OK || err.msg[0], "ct_verify failed without a message");
		DEBUG("verify: %s%s\n", rc ? "failed: " : rep && rep->ok ? "ok" : "problems",
		      rc ? err.msg : "");
		ct_verify_report_free(rep);
	}

	memckpt_free(&m);
	ct_st_close(f);
	ct_qconfig_free(cfg);
	return 0;
}
