/*
 * gen_convert - writes convert cases beyond ../shared/convert: other bit
 * widths, group sizes, act-order, per-module overrides, GEMV padding, KV
 * scales, E8M0 block scales, more shards.
 *
 *   gen_convert OUTDIR          every case, OUTDIR/<case>/
 *   gen_convert --list          their names
 *
 * Each case is laid out as a ../shared/convert case: input/ (config.json,
 * shards, index), case.json ("result", "message" or "warning", "max_rel")
 * and expected_dequantized.safetensors. The source tensors are packed here
 * the way each producer packs them (bit by bit, from the layouts in
 * spec/CONVERT.md and the producers' sources), and the reference is each
 * tool's own dequantization formula evaluated here, so neither shares code
 * with ctensors' readers. Only the safetensors writer is the library's.
 * Values come from a fixed-seed splitmix64 generator: two runs give
 * identical bytes.
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

#define H 128
#define I 256
#define KV 64
#define VOCAB 64
#define MAX_T 160
#define MAX_SHARDS 3

/* ------------------------------------------------------------- values */

static uint64_t rng_state;

static uint64_t next_u64(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return (uint32_t)(next_u64() % n); }

static double unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

/* IEEE half from float, round to nearest even (normal and subnormal). */
static uint16_t f16_bits(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000u;
	int32_t e = (int32_t)((x >> 23) & 0xFF) - 127 + 15;
	uint32_t m = x & 0x7FFFFFu;
	if (((x >> 23) & 0xFF) == 0xFF)
		return (uint16_t)(sign | 0x7C00u | (m ? 0x200u : 0));
	if (e >= 31)
		return (uint16_t)(sign | 0x7C00u);
	if (e <= 0) {
		if (e < -10)
			return (uint16_t)sign;
		m |= 0x800000u;
		uint32_t shift = (uint32_t)(14 - e);
		uint32_t half = 1u << (shift - 1), rest = m & ((1u << shift) - 1);
		uint32_t v = m >> shift;
		if (rest > half || (rest == half && (v & 1)))
			v++;
		return (uint16_t)(sign | v);
	}
	uint32_t v = ((uint32_t)e << 10) | (m >> 13), rest = m & 0x1FFFu;
	if (rest > 0x1000u || (rest == 0x1000u && (v & 1)))
		v++;
	return (uint16_t)(sign | v);
}

static float f16_value(uint16_t h)
{
	int e = (h >> 10) & 0x1F, m = h & 0x3FF;
	float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 0x400), e - 25);
	return (h & 0x8000) ? -v : v;
}

static uint16_t bf16_bits(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	x += 0x7FFFu + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

static float e4m3_value(uint8_t c)
{
	int e = (c >> 3) & 0xF, m = c & 7;
	float v = e == 0 ? ldexpf((float)m, -9) : ldexpf((float)(8 | m), e - 10);
	return (c & 0x80) ? -v : v;
}

static float e2m1_value(unsigned c)
{
	static const float mag[8] = { 0, 0.5f, 1, 1.5f, 2, 3, 4, 6 };
	return (c & 8) ? -mag[c & 7] : mag[c & 7];
}

/* ------------------------------------------------------------ tensors */

typedef struct gtensor {
	char name[160];
	ct_dtype dt;
	int ndim;
	uint64_t shape[4];
	uint8_t *data;
	size_t len;
	int shard;
} gtensor;

static gtensor src[MAX_T], ref[MAX_T];
static int n_src, n_ref;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fprintf(stderr, "gen_convert: out of memory\n");
		exit(2);
	}
	return p;
}

/* A new tensor of zeroed bytes; returns its data. */
static void *add(gtensor *list, int *n, int shard, const char *name, ct_dtype dt, int ndim,
		 uint64_t d0, uint64_t d1)
{
	if (*n >= MAX_T) {
		fprintf(stderr, "gen_convert: too many tensors\n");
		exit(2);
	}
	gtensor *t = &list[(*n)++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->dt = dt;
	t->ndim = ndim;
	t->shape[0] = d0;
	t->shape[1] = d1;
	uint64_t ne = ndim == 0 ? 1 : ndim == 1 ? d0 : d0 * d1;
	t->len = (size_t)(ne * ct_dtype_bits(dt) / 8);
	t->data = xcalloc(t->len, 1);
	t->shard = shard;
	return t->data;
}

static void *add_src(int shard, const char *name, ct_dtype dt, int ndim, uint64_t d0, uint64_t d1)
{
	return add(src, &n_src, shard, name, dt, ndim, d0, d1);
}

static float *add_ref(const char *module, uint64_t out, uint64_t in)
{
	char name[160];
	snprintf(name, sizeof(name), "%s.weight", module);
	return add(ref, &n_ref, 0, name, CT_F32, 2, out, in);
}

static void put_u16(void *base, size_t i, uint16_t v) { memcpy((uint8_t *)base + 2 * i, &v, 2); }
static void put_f32(void *base, size_t i, float v) { memcpy((uint8_t *)base + 4 * i, &v, 4); }

/* A scale of dtype dt near v, stored at element k of p; returns its value
 * (what the source means: the stored number, read exactly). */
static float put_scale(void *p, size_t k, ct_dtype dt, float v)
{
	if (dt == CT_BF16) {
		put_u16(p, k, bf16_bits(v));
		uint32_t x = (uint32_t)bf16_bits(v) << 16;
		memcpy(&v, &x, 4);
	} else if (dt == CT_F16) {
		put_u16(p, k, f16_bits(v));
		v = f16_value(f16_bits(v));
	} else {
		put_f32(p, k, v);
	}
	return v;
}

/* Dense tensors of the model that no tool quantizes. */
static void add_dense(ct_dtype dt, int shard_embed, int shard_rest)
{
	struct { const char *name; int ndim; uint64_t d0, d1; int shard; } d[] = {
		{ "model.embed_tokens.weight", 2, VOCAB, H, shard_embed },
		{ "model.layers.0.input_layernorm.weight", 1, H, 0, shard_rest },
		{ "model.layers.0.post_attention_layernorm.weight", 1, H, 0, shard_rest },
		{ "model.norm.weight", 1, H, 0, shard_rest },
		{ "lm_head.weight", 2, VOCAB, H, shard_rest },
	};
	for (size_t k = 0; k < sizeof(d) / sizeof(d[0]); k++) {
		void *p = add_src(d[k].shard, d[k].name, dt, d[k].ndim, d[k].d0, d[k].d1);
		uint64_t ne = d[k].ndim == 1 ? d[k].d0 : d[k].d0 * d[k].d1;
		for (uint64_t i = 0; i < ne; i++) {
			float v = d[k].ndim == 1 ? 1.0f + (float)(unit() - 0.5) * 0.1f :
						   (float)(unit() - 0.5) * 0.05f;
			put_u16(p, (size_t)i, dt == CT_F16 ? f16_bits(v) : bf16_bits(v));
		}
	}
}

/* A dense linear weight [out, in] (a module a tool left unquantized). */
static void add_dense_linear(int shard, const char *module, ct_dtype dt, uint64_t out, uint64_t in)
{
	char name[160];
	snprintf(name, sizeof(name), "%s.weight", module);
	void *p = add_src(shard, name, dt, 2, out, in);
	for (uint64_t i = 0; i < out * in; i++) {
		float v = (float)(unit() - 0.5) * 0.05f;
		put_u16(p, (size_t)i, dt == CT_F16 ? f16_bits(v) : bf16_bits(v));
	}
}

typedef struct lin {
	const char *name;
	uint64_t out, in;
} lin;

static const lin linears[7] = {
	{ "model.layers.0.self_attn.q_proj", H, H },
	{ "model.layers.0.self_attn.k_proj", KV, H },
	{ "model.layers.0.self_attn.v_proj", KV, H },
	{ "model.layers.0.self_attn.o_proj", H, H },
	{ "model.layers.0.mlp.gate_proj", I, H },
	{ "model.layers.0.mlp.up_proj", I, H },
	{ "model.layers.0.mlp.down_proj", H, I },
};

/* ---------------------------------------------------------- bit streams */

/* Sets field i (b bits) of a dense little-endian stream, bit by bit, with
 * word k of the stream at words[k * stride]. */
static void stream_set(uint32_t *words, size_t stride, uint64_t i, int b, uint32_t v)
{
	for (int t = 0; t < b; t++) {
		uint64_t bit = i * (uint64_t)b + (uint64_t)t;
		if ((v >> t) & 1)
			words[(bit / 32) * stride] |= 1u << (bit % 32);
	}
}

/* The constant with a 1 at the first bit of every field starting in word k. */
static uint32_t field_ones(int b, uint64_t k)
{
	uint32_t c = 0;
	for (uint64_t bit = k * 32; bit < k * 32 + 32; bit++)
		if (bit % (uint64_t)b == 0)
			c |= 1u << (bit % 32);
	return c;
}

/* ----------------------------------------------------------------- GPTQ */

enum writer { W_V2, W_GPTQMODEL, W_AUTOGPTQ, W_AUTOROUND };

typedef struct gptq_mod {
	int bits;
	int64_t group;          /* -1: one group */
	bool sym;
	bool act_order;         /* a random permutation decides the groups */
	enum writer writer;
	int zero0;              /* how many true zeros 0 to place in group 0 */
	bool neg_scales;        /* about half the scales negative (auto-round sym) */
	int shard_q, shard_s;   /* shards of qweight and of scales/qzeros/g_idx */
} gptq_mod;

/* GPTQModel's v2 -> v1 and auto-round's sum of shifted (z - 1): the
 * packed constant subtracted from each whole word, borrows and all. */
static void word_subtract(const uint32_t *z, uint64_t n, int b, uint32_t *row, uint64_t nw)
{
	for (uint64_t o = 0; o < n; o++)
		stream_set(row, 1, o, b, z[o]);
	for (uint64_t k = 0; k < nw; k++)
		row[k] -= field_ones(b, k);
}

/* auto-round's 3-bit qzeros (qlinear_torch_zp.pack): per 32 zeros, three
 * words; ten fields summed into each word, the two straddling fields OR'd
 * in as unsigned values with their spill masked into the next word. */
static void autoround_zeros3(const uint32_t *z, uint64_t n, uint32_t *row)
{
	for (uint64_t base = 0, col = 0; base + 32 <= n; base += 32, col += 3) {
		const uint32_t *f = z + base;
		uint32_t *w = row + col;
		uint32_t sum = 0;
		for (int j = 0; j < 10; j++)
			sum += (f[j] - 1) << (3 * j);
		w[0] = sum | (f[10] - 1) << 30;
		w[1] |= ((f[10] - 1) >> 2) & 1;
		sum = 0;
		for (int j = 0; j < 10; j++)
			sum += (f[11 + j] - 1) << (3 * j + 1);
		w[1] |= sum | (f[21] - 1) << 31;
		w[2] |= ((f[21] - 1) >> 1) & 3;
		sum = 0;
		for (int j = 0; j < 10; j++)
			sum += (f[22 + j] - 1) << (3 * j + 2);
		w[2] |= sum;
	}
}

/* qzeros row: the zeros z[0..n) of one group, as the writer stores them. */
static void gptq_zero_row(const uint32_t *z, uint64_t n, int b, enum writer w, uint32_t *row,
			  uint64_t nw)
{
	memset(row, 0, (size_t)nw * 4);
	switch (w) {
	case W_V2:
		for (uint64_t o = 0; o < n; o++)
			stream_set(row, 1, o, b, z[o]);
		break;
	case W_GPTQMODEL:
		if (b == 3) {
			/* GPTQModel packs v2 zeros (nn_modules/qlinear/__init__.py:
			 * pack_original, 3-bit branch) and saves format "gptq" by
			 * subtracting one constant per word position mod 3 from the
			 * whole words (utils/model.py:
			 * convert_gptq_v2_to_v1_format_module), borrows and all */
			static const uint32_t c3[3] = { 0b00100100100100100100100100100100u,
							0b10010010010010010010010010010010u,
							0b01001001001001001001001001001001u };
			for (uint64_t o = 0; o < n; o++)
				stream_set(row, 1, o, b, z[o]);
			for (uint64_t k = 0; k < nw; k++)
				row[k] -= c3[k % 3];
			break;
		}
		word_subtract(z, n, b, row, nw);
		break;
	case W_AUTOROUND:
		if (b == 3)
			autoround_zeros3(z, n, row);
		else
			word_subtract(z, n, b, row, nw);
		break;
	case W_AUTOGPTQ:
		/* (z - 1) as an unsigned 32-bit value OR'd in at the field's
		 * shift: a -1 sets every higher bit of its word */
		for (uint64_t o = 0; o < n; o++) {
			uint64_t bit = o * (uint64_t)b, k = bit / 32, sh = bit % 32;
			uint32_t v = z[o] - 1;
			row[k] |= v << sh;
			if (sh + (uint64_t)b > 32)
				row[k + 1] |= (v >> (32 - sh)) & ((1u << (sh + (uint64_t)b - 32)) - 1);
		}
		break;
	}
}

static void gptq_module(const char *module, uint64_t out, uint64_t in, const gptq_mod *p)
{
	int b = p->bits;
	/* GPTQModel keeps a partial last group: ceil(in / g) groups */
	uint64_t gsz = p->group < 0 ? in : (uint64_t)p->group;
	uint64_t G = (in + gsz - 1) / gsz;
	uint32_t maxq = (1u << b) - 1;
	uint32_t *q = xcalloc(in * out, 4), *z = xcalloc(G * out, 4);
	uint16_t *s = xcalloc(G * out, 2);
	int32_t *gidx = xcalloc(in, 4);
	uint64_t *perm = xcalloc(in, 8);
	for (uint64_t i = 0; i < in * out; i++)
		q[i] = below(maxq + 1);
	for (uint64_t i = 0; i < G * out; i++) {
		z[i] = p->sym ? 1u << (b - 1) : 1 + below(maxq);
		float sv = (float)(0.002 + unit() * 0.02);
		/* auto-round's quant_tensor_sym (data_type/int.py): max_v takes
		 * the sign of the larger extreme, scale = max_v / maxq, so a
		 * group whose minimum is the larger one has a negative scale */
		if (p->neg_scales && below(2))
			sv = -sv;
		s[i] = f16_bits(sv);
	}
	/* true zeros 0, in low fields where a whole-word subtract borrows */
	for (int k = 0; k < p->zero0 && !p->sym; k++)
		z[(uint64_t)(2 + 5 * k) % out] = 0;
	for (uint64_t i = 0; i < in; i++)
		perm[i] = i;
	if (p->act_order)
		for (uint64_t i = in - 1; i > 0; i--) {
			uint64_t j = next_u64() % (i + 1), t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
	/* GPTQ quantizes columns in the order perm, group by group */
	for (uint64_t j = 0; j < in; j++)
		gidx[perm[j]] = (int32_t)(j / gsz);

	char name[200];
	uint64_t P = in * (uint64_t)b / 32, ZW = out * (uint64_t)b / 32;
	snprintf(name, sizeof(name), "%s.qweight", module);
	uint32_t *qw = add_src(p->shard_q, name, CT_I32, 2, P, out);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++)
			stream_set(qw + o, out, i, b, q[i * out + o]);
	snprintf(name, sizeof(name), "%s.qzeros", module);
	uint32_t *qz = add_src(p->shard_s, name, CT_I32, 2, G, ZW);
	for (uint64_t g = 0; g < G; g++)
		gptq_zero_row(z + g * out, out, b, p->writer, qz + g * ZW, ZW);
	snprintf(name, sizeof(name), "%s.scales", module);
	memcpy(add_src(p->shard_s, name, CT_F16, 2, G, out), s, (size_t)(G * out * 2));
	snprintf(name, sizeof(name), "%s.g_idx", module);
	memcpy(add_src(p->shard_s, name, CT_I32, 1, in, 0), gidx, (size_t)in * 4);

	/* the tools' readers: s * (q - z) in half precision */
	float *w = add_ref(module, out, in);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++) {
			uint64_t g = (uint64_t)gidx[i];
			float v = f16_value(s[g * out + o]) *
				  (float)((int32_t)q[i * out + o] - (int32_t)z[g * out + o]);
			w[o * in + i] = f16_value(f16_bits(v));
		}
	free(q);
	free(z);
	free(s);
	free(gidx);
	free(perm);
}

static json_t *gptqmodel_config(int bits, int64_t group, bool sym, bool desc_act,
				const char *format)
{
	return json_pack("{s:i, s:s, s:f, s:f, s:b, s:s, s:I, s:b, s:{s:b, s:f, s:f, s:f, s:[s], "
			 "s:b, s:b, s:s}, s:s, s:s, s:b, s:b}",
			 "bits", bits, "checkpoint_format", format, "damp_auto_increment", 0.01,
			 "damp_percent", 0.05, "desc_act", desc_act, "format", format,
			 "group_size", (json_int_t)group, "lm_head", 0,
			 "meta", "act_group_aware", 0, "damp_auto_increment", 0.01,
			 "damp_percent", 0.05, "mse", 0.0, "quantizer", "gptqmodel:7.3.4",
			 "static_groups", 0, "true_sequential", 1,
			 "uri", "https://github.com/modelcloud/gptqmodel",
			 "pack_dtype", "int32", "quant_method", "gptq", "sym", sym,
			 "true_sequential", 1);
}

static json_t *autoround_config(int bits, int64_t group, bool sym, const char *packing)
{
	return json_pack("{s:b, s:s, s:i, s:I, s:s, s:s, s:b, s:i, s:i, s:s, s:s}",
			 "amp", 1, "autoround_version", "0.15.0", "bits", bits,
			 "group_size", (json_int_t)group, "block_name_to_quantize", "model.layers",
			 "data_type", "int", "sym", sym, "iters", 0, "nsamples", 128,
			 "packing_format", packing, "quant_method", "auto-round");
}

/* ------------------------------------------------------------------ AWQ */

/* AutoAWQ GEMV: qweight [out, in/8] sequential along the input, qzeros
 * [out, W] packed along groups and padded (calculate_zeros_width), scales
 * [out, 8W] padded with zeros. */
static uint64_t gemv_width(uint64_t in, uint64_t g)
{
	uint64_t mult = g >= 128 ? 1 : g == 64 ? 2 : 4;
	uint64_t base = (in / g + 7) / 8;
	return (base + mult - 1) / mult * mult;
}

static void awq_gemv_module(int shard, const char *module, uint64_t out, uint64_t in, uint64_t g)
{
	uint64_t G = in / g, W = gemv_width(in, g);
	uint8_t *q = xcalloc(out * in, 1), *z = xcalloc(out * G, 1);
	uint16_t *s = xcalloc(out * G, 2);
	for (uint64_t i = 0; i < out * in; i++)
		q[i] = (uint8_t)below(16);
	for (uint64_t i = 0; i < out * G; i++) {
		z[i] = (uint8_t)below(16);
		s[i] = f16_bits((float)(0.002 + unit() * 0.02));
	}
	char name[200];
	snprintf(name, sizeof(name), "%s.qweight", module);
	uint32_t *qw = add_src(shard, name, CT_I32, 2, out, in / 8);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++)
			qw[o * (in / 8) + i / 8] |= (uint32_t)q[o * in + i] << (4 * (i % 8));
	snprintf(name, sizeof(name), "%s.qzeros", module);
	uint32_t *qz = add_src(shard, name, CT_I32, 2, out, W);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t gi = 0; gi < G; gi++)
			qz[o * W + gi / 8] |= (uint32_t)z[o * G + gi] << (4 * (gi % 8));
	snprintf(name, sizeof(name), "%s.scales", module);
	uint16_t *sc = add_src(shard, name, CT_F16, 2, out, 8 * W);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t gi = 0; gi < G; gi++)
			sc[o * 8 * W + gi] = s[o * G + gi];
	float *w = add_ref(module, out, in);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++) {
			uint64_t gi = i / g;
			float v = (float)((int)q[o * in + i] - (int)z[o * G + gi]) *
				  f16_value(s[o * G + gi]);
			w[o * in + i] = f16_value(f16_bits(v));
		}
	free(q);
	free(z);
	free(s);
}

/* AutoAWQ GEMM: qweight [in, out/8] packed along the output, nibble k of
 * word j holding column 8j + ORDER[k]; qzeros [in/g, out/8] the same;
 * scales [in/g, out]. */
static void awq_gemm_module(int shard_q, int shard_s, const char *module, uint64_t out,
			    uint64_t in, uint64_t g)
{
	static const int order[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
	uint64_t G = in / g;
	uint8_t *q = xcalloc(out * in, 1), *z = xcalloc(out * G, 1);
	uint16_t *s = xcalloc(out * G, 2);
	for (uint64_t i = 0; i < out * in; i++)
		q[i] = (uint8_t)below(16);
	for (uint64_t i = 0; i < out * G; i++) {
		z[i] = (uint8_t)below(16);
		s[i] = f16_bits((float)(0.002 + unit() * 0.02));
	}
	char name[200];
	snprintf(name, sizeof(name), "%s.qweight", module);
	uint32_t *qw = add_src(shard_q, name, CT_I32, 2, in, out / 8);
	for (uint64_t i = 0; i < in; i++)
		for (uint64_t j = 0; j < out / 8; j++)
			for (int k = 0; k < 8; k++)
				qw[i * (out / 8) + j] |= (uint32_t)q[(8 * j + (uint64_t)order[k]) * in + i]
							 << (4 * k);
	snprintf(name, sizeof(name), "%s.qzeros", module);
	uint32_t *qz = add_src(shard_s, name, CT_I32, 2, G, out / 8);
	for (uint64_t gi = 0; gi < G; gi++)
		for (uint64_t j = 0; j < out / 8; j++)
			for (int k = 0; k < 8; k++)
				qz[gi * (out / 8) + j] |= (uint32_t)z[(8 * j + (uint64_t)order[k]) * G + gi]
							  << (4 * k);
	snprintf(name, sizeof(name), "%s.scales", module);
	uint16_t *sc = add_src(shard_s, name, CT_F16, 2, G, out);
	for (uint64_t gi = 0; gi < G; gi++)
		for (uint64_t o = 0; o < out; o++)
			sc[gi * out + o] = s[o * G + gi];
	float *w = add_ref(module, out, in);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++) {
			float v = (float)((int)q[o * in + i] - (int)z[o * G + i / g]) *
				  f16_value(s[o * G + i / g]);
			w[o * in + i] = f16_value(f16_bits(v));
		}
	free(q);
	free(z);
	free(s);
}

/* ------------------------------------------------------- per-tensor FP8 */

/* The dtype of per-tensor FP8 scales (F32; some exports write F16). */
static ct_dtype fp8_scale_dt = CT_F32;

/* weight F8_E4M3 [out, in], weight_scale 0-d (a multiplier) of dtype
 * fp8_scale_dt, and an input_scale when static. */
static void fp8_tensor_module(int shard, const char *module, uint64_t out, uint64_t in,
			      bool input_scale)
{
	char name[200];
	snprintf(name, sizeof(name), "%s.weight", module);
	uint8_t *wt = add_src(shard, name, CT_F8_E4M3, 2, out, in);
	snprintf(name, sizeof(name), "%s.weight_scale", module);
	float ws = put_scale(add_src(shard, name, fp8_scale_dt, 0, 0, 0), 0, fp8_scale_dt,
			     (float)(1e-4 + unit() * 1e-3));
	if (input_scale) {
		snprintf(name, sizeof(name), "%s.input_scale", module);
		put_scale(add_src(shard, name, fp8_scale_dt, 0, 0, 0), 0, fp8_scale_dt,
			  (float)(0.01 + unit() * 0.01));
	}
	float *w = add_ref(module, out, in);
	for (uint64_t i = 0; i < out * in; i++) {
		uint8_t c;
		do
			c = (uint8_t)below(256);
		while ((c & 0x7F) == 0x7F);
		wt[i] = c;
		w[i] = e4m3_value(c) * ws;
	}
}

/* ---------------------------------------------------------- ModelOpt FP4 */

static float e4m3_scale_code(uint8_t *c)
{
	/* a positive normal E4M3 between 2^-3 and 2^5 */
	*c = (uint8_t)(((4 + below(8)) << 3) | below(8));
	return e4m3_value(*c);
}

static void nvfp4_module(int shard, const char *module, uint64_t out, uint64_t in, float ws2,
			 float is)
{
	char name[200];
	snprintf(name, sizeof(name), "%s.weight", module);
	uint8_t *wp = add_src(shard, name, CT_U8, 2, out, in / 2);
	snprintf(name, sizeof(name), "%s.weight_scale", module);
	uint8_t *sc = add_src(shard, name, CT_F8_E4M3, 2, out, in / 16);
	snprintf(name, sizeof(name), "%s.weight_scale_2", module);
	put_f32(add_src(shard, name, CT_F32, 0, 0, 0), 0, ws2);
	snprintf(name, sizeof(name), "%s.input_scale", module);
	put_f32(add_src(shard, name, CT_F32, 0, 0, 0), 0, is);
	float *w = add_ref(module, out, in);
	for (uint64_t i = 0; i < out * in / 16; i++)
		e4m3_scale_code(&sc[i]);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++) {
			unsigned c = below(16);
			wp[(o * in + i) / 2] |= (uint8_t)(c << (4 * (i % 2)));
			float bs = e4m3_value(sc[o * (in / 16) + i / 16]);
			w[o * in + i] = e2m1_value(c) * (bs * ws2);
		}
}

/* ------------------------------------------------------------ FP8 block */

/* DeepSeek-style block FP8; scales of dtype sdt (Qwen3 FP8 releases ship
 * BF16 weight_scale_inv; vLLM reads every dtype into F32,
 * create_fp8_scale_parameter). */
static void fp8_block_module(int shard_w, int shard_s, const char *module, uint64_t out,
			     uint64_t in, ct_dtype sdt)
{
	char name[200];
	bool e8m0 = sdt == CT_F8_E8M0;
	uint64_t R = (out + 127) / 128, C = (in + 127) / 128;
	snprintf(name, sizeof(name), "%s.weight", module);
	uint8_t *wt = add_src(shard_w, name, CT_F8_E4M3, 2, out, in);
	snprintf(name, sizeof(name), "%s.weight_scale_inv", module);
	uint8_t *sc = add_src(shard_s, name, sdt, 2, R, C);
	float *scale = xcalloc(R * C, 4);
	for (uint64_t k = 0; k < R * C; k++) {
		if (e8m0) {
			sc[k] = (uint8_t)(118 + below(8));
			scale[k] = ldexpf(1.0f, sc[k] - 127);
		} else {
			scale[k] = put_scale(sc, (size_t)k, sdt, (float)(1e-4 + unit() * 1e-3));
		}
	}
	float *w = add_ref(module, out, in);
	for (uint64_t o = 0; o < out; o++)
		for (uint64_t i = 0; i < in; i++) {
			uint8_t c;
			do
				c = (uint8_t)below(256);
			while ((c & 0x7F) == 0x7F);   /* no NaN */
			wt[o * in + i] = c;
			w[o * in + i] = e4m3_value(c) * scale[(o / 128) * C + i / 128];
		}
	free(scale);
}

/* --------------------------------------------------------------- writing */

static void die_err(const ct_error *err)
{
	fprintf(stderr, "gen_convert: %s\n", err->msg);
	exit(2);
}

typedef struct fd_sink {
	int fd;
} fd_sink;

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t offset, ct_error *err)
{
	fd_sink *s = ctx;
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ct_fail(err, CT_EIO, "write failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return CT_OK;
}

/* Writes the tensors of list in shard sh (or all, sh < 0) to path. */
static uint64_t write_st(const char *path, const gtensor *list, int n, int sh)
{
	ct_error err = { 0 };
	ct_st_builder *b = ct_st_builder_new();
	int ids[MAX_T];
	if (!b || ct_st_builder_meta(b, "format", "pt", &err))
		die_err(&err);
	for (int i = 0; i < n; i++) {
		ids[i] = -1;
		if (sh >= 0 && list[i].shard != sh)
			continue;
		ids[i] = ct_st_builder_add(b, list[i].name, list[i].dt, list[i].ndim,
					   list[i].shape, &err);
		if (ids[i] < 0)
			die_err(&err);
	}
	if (ct_st_builder_layout(b, false, &err))
		die_err(&err);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "gen_convert: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fd_sink fs = { fd };
	ct_sink sink = { fd_pwrite, &fs };
	for (int i = 0; i < n; i++)
		if (ids[i] >= 0 && ct_st_write(b, &sink, ids[i], list[i].data, list[i].len, &err))
			die_err(&err);
	if (ct_st_finish(b, &sink, &err))
		die_err(&err);
	uint64_t size = ct_st_builder_data_size(b);
	close(fd);
	ct_st_builder_free(b);
	return size;
}

static void write_json(const char *path, json_t *v)
{
	char *text = v ? ct_pyjson_dumps(v, true) : NULL;
	FILE *fp = text ? fopen(path, "wb") : NULL;
	if (!fp || fputs(text, fp) < 0 || fputc('\n', fp) == EOF || fclose(fp) != 0) {
		fprintf(stderr, "gen_convert: %s: cannot write\n", path);
		exit(2);
	}
	free(text);
	json_decref(v);
}

static void mkdir_or_die(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_convert: %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static json_t *model_config(json_t *qcfg, const char *torch_dtype)
{
	json_t *c = json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:s, s:i}",
			      "architectures", "LlamaForCausalLM", "model_type", "llama",
			      "hidden_size", H, "intermediate_size", I, "num_attention_heads", 4,
			      "num_key_value_heads", 2, "num_hidden_layers", 1,
			      "vocab_size", VOCAB, "rms_norm_eps", 1e-5, "torch_dtype", torch_dtype,
			      "transformers_version", "4.56.0", "max_position_embeddings", 256);
	if (qcfg)
		json_object_set_new(c, "quantization_config", qcfg);
	return c;
}

typedef struct gcase {
	const char *name;
	const char *result;     /* "convert" or "refuse" */
	const char *message;    /* refusals: stderr contains it */
	const char *warning;    /* conversions: stderr contains it */
	double max_rel;         /* 0: bit for bit */
	int shards;
	void (*build)(json_t **qcfg, json_t **hfq, const char **dtype);
} gcase;

static void write_case(const char *outdir, const gcase *c)
{
	char dir[2048], in[2100], path[2200];
	snprintf(dir, sizeof(dir), "%s/%s", outdir, c->name);
	snprintf(in, sizeof(in), "%s/input", dir);
	mkdir_or_die(dir);
	mkdir_or_die(in);
	json_t *qcfg = NULL, *hfq = NULL;
	const char *dtype = "float16";
	n_src = n_ref = 0;
	fp8_scale_dt = CT_F32;
	rng_state = 0;
	for (const char *p = c->name; *p; p++)
		rng_state = rng_state * 131 + (uint8_t)*p;
	c->build(&qcfg, &hfq, &dtype);
	write_json((snprintf(path, sizeof(path), "%s/config.json", in), path),
		   model_config(qcfg, dtype));
	if (hfq)
		write_json((snprintf(path, sizeof(path), "%s/hf_quant_config.json", in), path), hfq);
	if (c->shards == 1) {
		snprintf(path, sizeof(path), "%s/model.safetensors", in);
		write_st(path, src, n_src, -1);
	} else {
		json_t *map = json_object();
		uint64_t total = 0;
		for (int sh = 0; sh < c->shards; sh++) {
			char file[64];
			snprintf(file, sizeof(file), "model-%05d-of-%05d.safetensors", sh + 1, c->shards);
			snprintf(path, sizeof(path), "%s/%s", in, file);
			total += write_st(path, src, n_src, sh);
			for (int i = 0; i < n_src; i++)
				if (src[i].shard == sh)
					json_object_set_new(map, src[i].name, json_string(file));
		}
		write_json((snprintf(path, sizeof(path), "%s/model.safetensors.index.json", in), path),
			   json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total,
				     "weight_map", map));
	}
	if (strcmp(c->result, "convert") == 0) {
		snprintf(path, sizeof(path), "%s/expected_dequantized.safetensors", dir);
		write_st(path, ref, n_ref, -1);
	}
	json_t *expect = json_pack("{s:s}", "result", c->result);
	if (c->message)
		json_object_set_new(expect, "message", json_string(c->message));
	if (c->warning)
		json_object_set_new(expect, "warning", json_string(c->warning));
	json_t *cj = json_pack("{s:s, s:s, s:o}", "name", c->name, "made_by",
			       "tests/tools/gen_convert.c", "expect", expect);
	json_object_set_new(cj, "dequantized_compare", c->max_rel > 0 ?
			    json_pack("{s:s, s:f}", "mode", "rel", "max_rel", c->max_rel) :
			    json_pack("{s:s}", "mode", "exact"));
	write_json((snprintf(path, sizeof(path), "%s/case.json", dir), path), cj);
	for (int i = 0; i < n_src; i++)
		free(src[i].data);
	for (int i = 0; i < n_ref; i++)
		free(ref[i].data);
}

/* ----------------------------------------------------------------- cases */

static void gptq_all(const gptq_mod *base, const gptq_mod *over[7], int shards)
{
	for (int k = 0; k < 7; k++) {
		gptq_mod p = over && over[k] ? *over[k] : *base;
		/* qweight and its scales in different shards where there are two */
		p.shard_q = shards > 1 ? k % shards : 0;
		p.shard_s = shards > 1 ? (k + 1) % shards : 0;
		gptq_module(linears[k].name, linears[k].out, linears[k].in, &p);
	}
	add_dense(CT_F16, 0, shards - 1);
}

static void c_gptq_v2_asym2_g64(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 2, .group = 64, .writer = W_V2, .zero0 = 3 };
	gptq_all(&p, NULL, 2);
	*q = gptqmodel_config(2, 64, false, false, "gptq_v2");
}

static void c_gptq_v1_asym2_g32_gptqmodel(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 2, .group = 32, .writer = W_GPTQMODEL, .zero0 = 2 };
	gptq_all(&p, NULL, 1);
	*q = gptqmodel_config(2, 32, false, false, "gptq");
}

static void c_gptq_v2_asym3_g32(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 32, .writer = W_V2, .zero0 = 2 };
	gptq_all(&p, NULL, 2);
	*q = gptqmodel_config(3, 32, false, false, "gptq_v2");
}

static void c_gptq_v1_asym3_g64_gptqmodel(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 64, .writer = W_GPTQMODEL, .zero0 = 3 };
	gptq_all(&p, NULL, 1);
	*q = gptqmodel_config(3, 64, false, false, "gptq");
}

static void c_autoround_gptq_sym3_g128(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 128, .sym = true, .writer = W_AUTOROUND };
	gptq_all(&p, NULL, 2);
	*q = autoround_config(3, 128, true, "auto_round:auto_gptq");
}

static void c_gptq_v1_asym8_channel(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 8, .group = -1, .writer = W_GPTQMODEL, .zero0 = 2 };
	gptq_all(&p, NULL, 2);
	*q = gptqmodel_config(8, -1, false, false, "gptq");
}

static void c_gptq_v1_sym4_g32_desc_act(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 32, .sym = true, .act_order = true,
		       .writer = W_AUTOGPTQ };
	gptq_all(&p, NULL, 2);
	*q = json_pack("{s:i, s:i, s:b, s:b, s:b, s:f, s:b, s:s, s:s, s:s, s:n}", "bits", 4,
		       "group_size", 32, "desc_act", 1, "sym", 1, "true_sequential", 1,
		       "damp_percent", 0.01, "static_groups", 0, "model_file_base_name", "model",
		       "quant_method", "gptq", "checkpoint_format", "gptq",
		       "model_name_or_path");
}

static void c_gptq_v2_asym4_g64_desc_act(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 64, .act_order = true, .writer = W_V2, .zero0 = 1 };
	gptq_all(&p, NULL, 1);
	*q = gptqmodel_config(4, 64, false, true, "gptq_v2");
}

/* GPTQModel's dynamic: down_proj at 8 bits g32, o_proj left dense. */
static void c_gptq_v2_dynamic(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod base = { .bits = 4, .group = 128, .writer = W_V2 };
	gptq_mod down = { .bits = 8, .group = 32, .writer = W_V2 };
	for (int k = 0; k < 7; k++) {
		if (k == 3) {
			add_dense_linear(0, linears[k].name, CT_F16, linears[k].out, linears[k].in);
			continue;
		}
		gptq_mod p = k == 6 ? down : base;
		p.shard_q = k % 2;
		p.shard_s = k % 2;
		gptq_module(linears[k].name, linears[k].out, linears[k].in, &p);
	}
	add_dense(CT_F16, 0, 1);
	*q = gptqmodel_config(4, 128, false, false, "gptq_v2");
	json_object_set_new(*q, "dynamic",
			    json_pack("{s:{s:i, s:i}, s:{}}", "+:.*down_proj", "bits", 8,
				      "group_size", 32, "-:.*o_proj"));
}

static void c_gptq_marlin_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 128, .sym = true, .writer = W_GPTQMODEL };
	gptq_all(&p, NULL, 1);
	*q = gptqmodel_config(4, 128, true, false, "marlin");
}

static void c_gptq_pack_int16_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 128, .sym = true, .writer = W_GPTQMODEL };
	gptq_all(&p, NULL, 1);
	*q = gptqmodel_config(4, 128, true, false, "gptq");
	json_object_set_new(*q, "pack_dtype", json_string("int16"));
}

/* auto-round with per-module overrides: q/k/v together at 8 bits g64,
 * down_proj at 2 bits g32. */
static void c_autoround_gptq_extra_config(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod base = { .bits = 4, .group = 128, .sym = true, .writer = W_AUTOROUND };
	gptq_mod qkv = { .bits = 8, .group = 64, .sym = true, .writer = W_AUTOROUND };
	gptq_mod down = { .bits = 2, .group = 32, .sym = true, .writer = W_AUTOROUND };
	const gptq_mod *over[7] = { &qkv, &qkv, &qkv, NULL, NULL, NULL, &down };
	gptq_all(&base, over, 2);
	*q = autoround_config(4, 128, true, "auto_round:auto_gptq");
	json_t *ex = json_object();
	for (int k = 0; k < 3; k++)
		json_object_set_new(ex, linears[k].name,
				    json_pack("{s:i, s:i, s:b, s:s}", "bits", 8, "group_size", 64,
					      "sym", 1, "data_type", "int"));
	json_object_set_new(ex, linears[6].name,
			    json_pack("{s:i, s:i, s:b, s:s}", "bits", 2, "group_size", 32, "sym", 1,
				      "data_type", "int"));
	json_object_set_new(*q, "extra_config", ex);
}

/* extra_config that gives q_proj another scheme than k_proj and v_proj,
 * which vLLM fuses into one qkv_proj: refused. */
static void c_autoround_extra_config_unfused_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod base = { .bits = 4, .group = 128, .sym = true, .writer = W_AUTOROUND };
	gptq_mod q8 = { .bits = 8, .group = 128, .sym = true, .writer = W_AUTOROUND };
	const gptq_mod *over[7] = { &q8, NULL, NULL, NULL, NULL, NULL, NULL };
	gptq_all(&base, over, 1);
	*q = autoround_config(4, 128, true, "auto_round:auto_gptq");
	json_object_set_new(*q, "extra_config",
			    json_pack("{s:{s:i}}", linears[0].name, "bits", 8));
}

static void c_awq_gemv_g64(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	for (int k = 0; k < 7; k++) {
		if (k == 3)
			add_dense_linear(1, linears[k].name, CT_F16, linears[k].out, linears[k].in);
		else
			awq_gemv_module(k % 2, linears[k].name, linears[k].out, linears[k].in, 64);
	}
	add_dense(CT_F16, 0, 1);
	*q = json_pack("{s:i, s:i, s:[s], s:s, s:s, s:b}", "bits", 4, "group_size", 64,
		       "modules_to_not_convert", "o_proj", "quant_method", "awq",
		       "version", "gemv", "zero_point", 1);
}

static void c_awq_gemv_g32(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	for (int k = 0; k < 7; k++)
		awq_gemv_module(0, linears[k].name, linears[k].out, linears[k].in, 32);
	add_dense(CT_F16, 0, 0);
	*q = json_pack("{s:i, s:i, s:s, s:s, s:b}", "bits", 4, "group_size", 32,
		       "quant_method", "awq", "version", "GEMV", "zero_point", 1);
}

static void c_awq_gemv_g128(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	for (int k = 0; k < 7; k++)
		awq_gemv_module(k % 2, linears[k].name, linears[k].out, linears[k].in, 128);
	add_dense(CT_F16, 1, 0);
	*q = json_pack("{s:i, s:i, s:s, s:s, s:b}", "bits", 4, "group_size", 128,
		       "quant_method", "awq", "version", "gemv", "zero_point", 1);
}

/* ModelOpt NVFP4 over three shards, fused partners in different shards,
 * with FP8 KV-cache scales. */
static void c_modelopt_nvfp4_kv_sharded(json_t **q, json_t **hfq, const char **dt)
{
	*dt = "bfloat16";
	float qkv2 = (float)(1e-4 + unit() * 1e-4), qkvi = (float)(0.01 + unit() * 0.01);
	float gu2 = (float)(1e-4 + unit() * 1e-4), gui = (float)(0.01 + unit() * 0.01);
	for (int k = 0; k < 7; k++) {
		bool qkv = k < 3, gu = k == 4 || k == 5;
		float ws2 = qkv ? qkv2 : gu ? gu2 : (float)(1e-4 + unit() * 1e-4);
		float is = qkv ? qkvi : gu ? gui : (float)(0.01 + unit() * 0.01);
		nvfp4_module(k % 3, linears[k].name, linears[k].out, linears[k].in, ws2, is);
	}
	put_f32(add_src(1, "model.layers.0.self_attn.k_proj.k_scale", CT_F32, 0, 0, 0), 0, 0.0125f);
	put_f32(add_src(2, "model.layers.0.self_attn.v_proj.v_scale", CT_F32, 0, 0, 0), 0, 0.00875f);
	add_dense(CT_BF16, 0, 2);
	*hfq = json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:[s], s:i}}", "producer", "name", "modelopt",
			 "version", "0.40.0", "quantization", "quant_algo", "NVFP4",
			 "kv_cache_quant_algo", "FP8", "exclude_modules", "lm_head", "group_size", 16);
	*q = json_pack("{s:{s:{s:{s:b, s:i, s:i, s:s}, s:[s], s:{s:b, s:i, s:i, s:s}}}, s:[s], "
		       "s:{s:s, s:s}, s:s, s:s}",
		       "config_groups", "group_0", "input_activations", "dynamic", 0, "group_size", 16,
		       "num_bits", 4, "type", "float", "targets", "Linear", "weights", "dynamic", 0,
		       "group_size", 16, "num_bits", 4, "type", "float", "ignore", "lm_head",
		       "producer", "name", "modelopt", "version", "0.40.0", "quant_algo", "NVFP4",
		       "quant_method", "modelopt");
	json_object_set_new(*q, "kv_cache_scheme",
			    json_pack("{s:i, s:s, s:b}", "num_bits", 8, "type", "float", "dynamic", 0));
}

/* FP8 KV cache announced, but v_proj has no v_scale: refused. */
static void c_modelopt_kv_missing_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_modelopt_nvfp4_kv_sharded(q, hfq, dt);
	for (int i = 0; i < n_src; i++)
		if (strstr(src[i].name, ".v_scale")) {
			free(src[i].data);
			src[i] = src[--n_src];
			break;
		}
}

static void c_fp8_block_e8m0_sharded(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq;
	*dt = "bfloat16";
	for (int k = 0; k < 7; k++)
		fp8_block_module(k % 3, (k + 2) % 3, linears[k].name, linears[k].out, linears[k].in,
				 CT_F8_E8M0);
	add_dense(CT_BF16, 2, 0);
	*q = json_pack("{s:s, s:s, s:s, s:[i, i], s:s}", "activation_scheme", "dynamic",
		       "fmt", "e4m3", "quant_method", "fp8", "weight_block_size", 128, 128,
		       "scale_fmt", "ue8m0");
}

static void c_fp8_block_not_convert(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq;
	*dt = "bfloat16";
	for (int k = 0; k < 7; k++) {
		if (k == 6)
			add_dense_linear(0, linears[k].name, CT_BF16, linears[k].out, linears[k].in);
		else
			fp8_block_module(0, 0, linears[k].name, linears[k].out, linears[k].in, CT_F32);
	}
	add_dense(CT_BF16, 0, 0);
	*q = json_pack("{s:s, s:s, s:s, s:[i, i], s:[s]}", "activation_scheme", "dynamic",
		       "fmt", "e4m3", "quant_method", "fp8", "weight_block_size", 128, 128,
		       "modules_to_not_convert", "model.layers.0.mlp.down_proj");
}

/* native auto_round packing (zeros as they are, GPTQ words), 2-bit asym,
 * with down_proj left at 16 bits (dense) by extra_config */
static void c_autoround_native_asym2_g64(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 2, .group = 64, .writer = W_V2, .zero0 = 2 };
	for (int k = 0; k < 6; k++) {
		p.shard_q = p.shard_s = k % 2;
		gptq_module(linears[k].name, linears[k].out, linears[k].in, &p);
	}
	add_dense_linear(1, linears[6].name, CT_F16, linears[6].out, linears[6].in);
	add_dense(CT_F16, 0, 1);
	*q = autoround_config(2, 64, false, "auto_round");
	json_object_set_new(*q, "extra_config",
			    json_pack("{s:{s:i, s:s}}", linears[6].name, "bits", 16, "data_type",
				      "float"));
}

static void c_awq_gemm_g64_sharded(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	for (int k = 0; k < 7; k++)
		awq_gemm_module(k % 2, (k + 1) % 2, linears[k].name, linears[k].out, linears[k].in,
				64);
	add_dense(CT_F16, 1, 0);
	*q = json_pack("{s:i, s:i, s:s, s:s, s:b}", "bits", 4, "group_size", 64,
		       "quant_method", "awq", "version", "gemm", "zero_point", 1);
}

static void c_autoround_awq_g32(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	for (int k = 0; k < 7; k++)
		awq_gemm_module(0, 0, linears[k].name, linears[k].out, linears[k].in, 32);
	add_dense(CT_F16, 0, 0);
	*q = autoround_config(4, 32, false, "auto_round:auto_awq");
}

/* ModelOpt FP8 per tensor with an FP8 KV cache. */
static void c_modelopt_fp8_kv(json_t **q, json_t **hfq, const char **dt)
{
	*dt = "bfloat16";
	for (int k = 0; k < 7; k++)
		fp8_tensor_module(k % 2, linears[k].name, linears[k].out, linears[k].in, true);
	put_f32(add_src(0, "model.layers.0.self_attn.k_proj.k_scale", CT_F32, 0, 0, 0), 0, 0.02f);
	put_f32(add_src(1, "model.layers.0.self_attn.v_proj.v_scale", CT_F32, 0, 0, 0), 0, 0.03f);
	add_dense(CT_BF16, 0, 1);
	*hfq = json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:[s]}}", "producer", "name", "modelopt",
			 "version", "0.40.0", "quantization", "quant_algo", "FP8",
			 "kv_cache_quant_algo", "FP8", "exclude_modules", "lm_head");
	*q = json_pack("{s:{s:{s:{s:b, s:i, s:s}, s:[s], s:{s:b, s:i, s:s}}}, s:[s], "
		       "s:{s:s, s:s}, s:s, s:s, s:{s:i, s:s, s:b}}",
		       "config_groups", "group_0", "input_activations", "dynamic", 0, "num_bits", 8,
		       "type", "float", "targets", "Linear", "weights", "dynamic", 0, "num_bits", 8,
		       "type", "float", "ignore", "lm_head", "producer", "name", "modelopt",
		       "version", "0.40.0", "quant_algo", "FP8", "quant_method", "modelopt",
		       "kv_cache_scheme", "num_bits", 8, "type", "float", "dynamic", 0);
}

/* AutoFP8 with dynamic activations (no input_scale) and down_proj left in
 * BF16 by ignored_layers. */
static void c_autofp8_dynamic_ignored(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq;
	*dt = "bfloat16";
	for (int k = 0; k < 6; k++)
		fp8_tensor_module(0, linears[k].name, linears[k].out, linears[k].in, false);
	add_dense_linear(0, linears[6].name, CT_BF16, linears[6].out, linears[6].in);
	add_dense(CT_BF16, 0, 0);
	*q = json_pack("{s:s, s:[s, s], s:s}", "activation_scheme", "dynamic", "ignored_layers",
		       "lm_head", linears[6].name, "quant_method", "fp8");
}

/* ------------------------------------------------ issue 31: the classes */

static gtensor *find_src(const char *name)
{
	for (int i = 0; i < n_src; i++)
		if (strcmp(src[i].name, name) == 0)
			return &src[i];
	fprintf(stderr, "gen_convert: no source tensor %s\n", name);
	exit(2);
}

static void drop_src(const char *name)
{
	gtensor *t = find_src(name);
	free(t->data);
	*t = src[--n_src];
}

static json_t *autogptq_config(int bits, int64_t group, bool sym, bool desc_act)
{
	return json_pack("{s:i, s:I, s:b, s:b, s:b, s:f, s:b, s:s, s:s, s:s, s:n}", "bits", bits,
			 "group_size", (json_int_t)group, "desc_act", desc_act, "sym", sym,
			 "true_sequential", 1, "damp_percent", 0.01, "static_groups", 0,
			 "model_file_base_name", "model", "quant_method", "gptq",
			 "checkpoint_format", "gptq", "model_name_or_path");
}

/* 1. auto-round's symmetric quantizer stores negative scales; the sign
 * multiplies through (compressed-tensors _dequantize, vLLM's kernels). */
static void c_autoround_gptq_sym4_negative_scales(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 128, .sym = true, .writer = W_AUTOROUND,
		       .neg_scales = true };
	gptq_all(&p, NULL, 2);
	*q = autoround_config(4, 128, true, "auto_round:auto_gptq");
}

static void c_autoround_gptq_sym8_g64_negative_scales(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 8, .group = 64, .sym = true, .writer = W_AUTOROUND,
		       .neg_scales = true };
	gptq_all(&p, NULL, 1);
	*q = autoround_config(8, 64, true, "auto_round:auto_gptq");
}

/* 2. FP8 block with BF16 weight_scale_inv (Qwen3 FP8), F16 too; per-tensor
 * FP8 with F16 weight and input scales. */
static void c_fp8_block_bf16_scale(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq;
	*dt = "bfloat16";
	for (int k = 0; k < 7; k++)
		fp8_block_module(k % 2, (k + 1) % 2, linears[k].name, linears[k].out,
				 linears[k].in, CT_BF16);
	add_dense(CT_BF16, 0, 1);
	*q = json_pack("{s:s, s:s, s:s, s:[i, i]}", "activation_scheme", "dynamic", "fmt", "e4m3",
		       "quant_method", "fp8", "weight_block_size", 128, 128);
}

static void c_fp8_block_f16_scale(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq;
	*dt = "bfloat16";
	for (int k = 0; k < 7; k++)
		fp8_block_module(0, 0, linears[k].name, linears[k].out, linears[k].in, CT_F16);
	add_dense(CT_BF16, 0, 0);
	*q = json_pack("{s:s, s:s, s:s, s:[i, i]}", "activation_scheme", "dynamic", "fmt", "e4m3",
		       "quant_method", "fp8", "weight_block_size", 128, 128);
}

static void c_autofp8_static_f16_scales(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq;
	*dt = "float16";
	fp8_scale_dt = CT_F16;
	for (int k = 0; k < 7; k++)
		fp8_tensor_module(k % 2, linears[k].name, linears[k].out, linears[k].in, true);
	add_dense(CT_F16, 0, 1);
	*q = json_pack("{s:s, s:s}", "activation_scheme", "static", "quant_method", "fp8");
}

/* ModelOpt FP8_PER_CHANNEL_PER_TOKEN, as vLLM reads it (modelopt.py:
 * ModelOptFp8PcPtLinearMethod): weight F8_E4M3 [out, in], weight_scale
 * [out] (loaded into F32), no input_scale; w = F32(code) * scale[row]. */
static void fp8_channel_module(int shard, const char *module, uint64_t out, uint64_t in,
			       ct_dtype sdt)
{
	char name[200];
	snprintf(name, sizeof(name), "%s.weight", module);
	uint8_t *wt = add_src(shard, name, CT_F8_E4M3, 2, out, in);
	snprintf(name, sizeof(name), "%s.weight_scale", module);
	uint8_t *sc = add_src(shard, name, sdt, 1, out, 0);
	float *w = add_ref(module, out, in);
	for (uint64_t o = 0; o < out; o++) {
		float ws = put_scale(sc, (size_t)o, sdt, (float)(1e-4 + unit() * 1e-3));
		for (uint64_t i = 0; i < in; i++) {
			uint8_t c;
			do
				c = (uint8_t)below(256);
			while ((c & 0x7F) == 0x7F);
			wt[o * in + i] = c;
			w[o * in + i] = e4m3_value(c) * ws;
		}
	}
}

static void modelopt_fp8_channel(json_t **q, json_t **hfq, const char **dt, ct_dtype sdt)
{
	*dt = "bfloat16";
	for (int k = 0; k < 7; k++)
		fp8_channel_module(k % 2, linears[k].name, linears[k].out, linears[k].in, sdt);
	add_dense(CT_BF16, 0, 1);
	*hfq = json_pack("{s:{s:s, s:s}, s:{s:s, s:[s]}}", "producer", "name", "modelopt",
			 "version", "0.40.0", "quantization", "quant_algo",
			 "FP8_PER_CHANNEL_PER_TOKEN", "exclude_modules", "lm_head");
	*q = json_pack("{s:s, s:s, s:[s], s:{s:s, s:s}}", "quant_method", "modelopt",
		       "quant_algo", "FP8_PER_CHANNEL_PER_TOKEN", "ignore", "lm_head", "producer",
		       "name", "modelopt", "version", "0.40.0");
}

static void c_modelopt_fp8_channel_f16_scales(json_t **q, json_t **hfq, const char **dt)
{
	modelopt_fp8_channel(q, hfq, dt, CT_F16);
}

static void c_modelopt_fp8_channel_f32_scales(json_t **q, json_t **hfq, const char **dt)
{
	modelopt_fp8_channel(q, hfq, dt, CT_F32);
}

/* 3. GPTQModel with a group size that does not divide in_features. */
static void c_gptqmodel_partial_group_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 96, .writer = W_V2 };
	gptq_all(&p, NULL, 1);
	*q = gptqmodel_config(4, 96, false, false, "gptq_v2");
}

/* 4. 3-bit v1 zero points: GPTQModel's word constants (exact by its own
 * reader), AutoGPTQ's OR and auto-round's sum with a true zero 0
 * (refused), AutoGPTQ without one (exact). */
static void c_gptq_v1_sym3_g128_gptqmodel(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 128, .sym = true, .writer = W_GPTQMODEL };
	gptq_all(&p, NULL, 2);
	*q = gptqmodel_config(3, 128, true, false, "gptq");
}

static void c_gptq_v1_asym3_g32_autogptq(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 32, .writer = W_AUTOGPTQ };
	gptq_all(&p, NULL, 2);
	*q = autogptq_config(3, 32, false, false);
}

static void c_gptq_v1_asym3_autogptq_zero0_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 64, .writer = W_AUTOGPTQ, .zero0 = 2 };
	gptq_all(&p, NULL, 1);
	*q = autogptq_config(3, 64, false, false);
}

static void c_autoround_gptq_asym3_zero0_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 3, .group = 128, .writer = W_AUTOROUND, .zero0 = 1 };
	gptq_all(&p, NULL, 1);
	*q = autoround_config(3, 128, false, "auto_round:auto_gptq");
}

/* 5. malformed input. */
static void c_gptq_missing_qweight_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_gptq_v2_asym2_g64(q, hfq, dt);
	drop_src("model.layers.0.mlp.down_proj.qweight");
}

static void c_awq_missing_qweight_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_awq_gemm_g64_sharded(q, hfq, dt);
	drop_src("model.layers.0.self_attn.o_proj.qweight");
}

static void c_gptq_nan_scale_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_gptq_v2_asym2_g64(q, hfq, dt);
	put_u16(find_src("model.layers.0.mlp.up_proj.scales")->data, 5, 0x7E00);
}

static void c_awq_inf_scale_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_awq_gemm_g64_sharded(q, hfq, dt);
	put_u16(find_src("model.layers.0.self_attn.k_proj.scales")->data, 3, 0xFC00);
}

static void c_fp8_tensor_inf_scale_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_autofp8_dynamic_ignored(q, hfq, dt);
	put_f32(find_src("model.layers.0.self_attn.v_proj.weight_scale")->data, 0, INFINITY);
}

static void c_modelopt_nan_kv_scale_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_modelopt_fp8_kv(q, hfq, dt);
	put_f32(find_src("model.layers.0.self_attn.v_proj.v_scale")->data, 0, NAN);
}

static void c_fp8_block_nan_byte_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_fp8_block_not_convert(q, hfq, dt);
	find_src("model.layers.0.mlp.gate_proj.weight")->data[777] = 0xFF;
}

static void c_gptq_unbalanced_gidx_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_gptq_v2_asym4_g64_desc_act(q, hfq, dt);
	/* column 0 moved to another group: one group holds 65, one 63 */
	uint8_t *g = find_src("model.layers.0.self_attn.o_proj.g_idx")->data;
	int32_t v;
	memcpy(&v, g, 4);
	v = (v + 1) % 2;
	memcpy(g, &v, 4);
}

static void c_gptq_dense_and_quantized_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_gptq_v2_asym2_g64(q, hfq, dt);
	add_dense_linear(1, linears[3].name, CT_F16, linears[3].out, linears[3].in);
}

static void c_awq_bad_regex_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_awq_gemm_g64_sharded(q, hfq, dt);
	json_object_set_new(*q, "modules_to_not_convert", json_pack("[s, s]", "lm_head", "mlp.(gate"));
}

/* 6. Marlin sources: refused for their layout. */
static void c_awq_marlin_refuse(json_t **q, json_t **hfq, const char **dt)
{
	c_awq_gemm_g64_sharded(q, hfq, dt);
	json_object_set_new(*q, "version", json_string("marlin"));
	json_object_set_new(*q, "zero_point", json_false());
}

static void c_gptq_is_marlin_format_refuse(json_t **q, json_t **hfq, const char **dt)
{
	(void)hfq, (void)dt;
	gptq_mod p = { .bits = 4, .group = 128, .sym = true, .writer = W_AUTOGPTQ };
	gptq_all(&p, NULL, 1);
	*q = autogptq_config(4, 128, true, false);
	json_object_del(*q, "checkpoint_format");
	json_object_set_new(*q, "is_marlin_format", json_true());
}

static const gcase cases[] = {
	{ "autoround_native_asym2_g64", "convert", NULL, NULL, 0, 2, c_autoround_native_asym2_g64 },
	{ "awq_gemm_g64_sharded", "convert", NULL, NULL, 0, 2, c_awq_gemm_g64_sharded },
	{ "autoround_awq_g32", "convert", NULL, NULL, 0, 1, c_autoround_awq_g32 },
	{ "modelopt_fp8_kv", "convert", NULL, NULL, 0, 2, c_modelopt_fp8_kv },
	{ "autofp8_dynamic_ignored", "convert", NULL, "activation_scheme dynamic", 0, 1,
	  c_autofp8_dynamic_ignored },
	{ "gptq_v2_asym2_g64", "convert", NULL, NULL, 0, 2, c_gptq_v2_asym2_g64 },
	{ "gptq_v1_asym2_g32_gptqmodel", "convert", NULL,
	  "v1 zero-point underflow: per-field and packed decodes differ; packed (GPTQModel) decode used",
	  0, 1, c_gptq_v1_asym2_g32_gptqmodel },
	{ "gptq_v2_asym3_g32", "convert", NULL, NULL, 0, 2, c_gptq_v2_asym3_g32 },
	{ "gptq_v1_asym3_g64_gptqmodel", "convert", NULL,
	  "GPTQModel's 3-bit v1 constants: per-field and packed decodes differ", 0, 1,
	  c_gptq_v1_asym3_g64_gptqmodel },
	{ "autoround_gptq_sym3_g128", "convert", NULL, NULL, 0, 2, c_autoround_gptq_sym3_g128 },
	{ "gptq_v1_asym8_channel", "convert", NULL,
	  "v1 zero-point underflow: per-field and packed decodes differ; packed (GPTQModel) decode used",
	  0, 2, c_gptq_v1_asym8_channel },
	{ "gptq_v1_sym4_g32_desc_act", "convert", NULL, NULL, 0, 2, c_gptq_v1_sym4_g32_desc_act },
	{ "gptq_v2_asym4_g64_desc_act", "convert", NULL, NULL, 0, 1, c_gptq_v2_asym4_g64_desc_act },
	{ "gptq_v2_dynamic", "convert", NULL, NULL, 0, 2, c_gptq_v2_dynamic },
	{ "gptq_marlin_refuse", "refuse", "marlin", NULL, 0, 1, c_gptq_marlin_refuse },
	{ "gptq_pack_int16_refuse", "refuse", "pack_dtype 'int16'", NULL, 0, 1,
	  c_gptq_pack_int16_refuse },
	{ "autoround_gptq_extra_config", "convert", NULL, NULL, 0, 2, c_autoround_gptq_extra_config },
	{ "autoround_extra_config_unfused_refuse", "refuse", "model.layers.0.self_attn", NULL, 0, 1,
	  c_autoround_extra_config_unfused_refuse },
	{ "awq_gemv_g64", "convert", NULL, NULL, 0, 2, c_awq_gemv_g64 },
	{ "awq_gemv_g128", "convert", NULL, NULL, 0, 2, c_awq_gemv_g128 },
	{ "awq_gemv_g32", "convert", NULL, NULL, 0, 1, c_awq_gemv_g32 },
	{ "modelopt_nvfp4_kv_sharded", "convert", NULL, NULL, 0.00390625, 3,
	  c_modelopt_nvfp4_kv_sharded },
	{ "modelopt_kv_missing_refuse", "refuse", "has no v_scale", NULL, 0, 3,
	  c_modelopt_kv_missing_refuse },
	{ "fp8_block_e8m0_sharded", "convert", NULL, NULL, 0, 3, c_fp8_block_e8m0_sharded },
	{ "fp8_block_not_convert", "convert", NULL, NULL, 0, 1, c_fp8_block_not_convert },
	{ "autoround_gptq_sym4_negative_scales", "convert", NULL, NULL, 0, 2,
	  c_autoround_gptq_sym4_negative_scales },
	{ "autoround_gptq_sym8_g64_negative_scales", "convert", NULL, NULL, 0, 1,
	  c_autoround_gptq_sym8_g64_negative_scales },
	{ "fp8_block_bf16_scale", "convert", NULL, NULL, 0, 2, c_fp8_block_bf16_scale },
	{ "fp8_block_f16_scale", "convert", NULL, NULL, 0, 1, c_fp8_block_f16_scale },
	{ "autofp8_static_f16_scales", "convert", NULL, NULL, 0, 2, c_autofp8_static_f16_scales },
	{ "modelopt_fp8_channel_f16_scales", "convert", NULL, NULL, 0, 2,
	  c_modelopt_fp8_channel_f16_scales },
	{ "modelopt_fp8_channel_f32_scales", "convert", NULL, NULL, 0, 1,
	  c_modelopt_fp8_channel_f32_scales },
	{ "gptqmodel_partial_group_refuse", "refuse",
	  "down_proj: in_features 256 is not a multiple of group_size 96", NULL, 0, 1,
	  c_gptqmodel_partial_group_refuse },
	{ "gptq_v1_sym3_g128_gptqmodel", "convert", NULL,
	  "GPTQModel's 3-bit v1 constants: per-field and packed decodes differ", 0, 2,
	  c_gptq_v1_sym3_g128_gptqmodel },
	{ "gptq_v1_asym3_g32_autogptq", "convert", NULL, NULL, 0, 2, c_gptq_v1_asym3_g32_autogptq },
	{ "gptq_v1_asym3_autogptq_zero0_refuse", "refuse", "3-bit zero-point underflow", NULL, 0, 1,
	  c_gptq_v1_asym3_autogptq_zero0_refuse },
	{ "autoround_gptq_asym3_zero0_refuse", "refuse", "3-bit zero-point underflow", NULL, 0, 1,
	  c_autoround_gptq_asym3_zero0_refuse },
	{ "gptq_missing_qweight_refuse", "refuse", "down_proj.qweight is not", NULL, 0, 2,
	  c_gptq_missing_qweight_refuse },
	{ "awq_missing_qweight_refuse", "refuse", "o_proj.qweight is not", NULL, 0, 2,
	  c_awq_missing_qweight_refuse },
	{ "gptq_nan_scale_refuse", "refuse", "up_proj.scales: value 5 is nan (expected finite)",
	  NULL, 0, 2, c_gptq_nan_scale_refuse },
	{ "awq_inf_scale_refuse", "refuse", "k_proj.scales: value 3 is -inf (expected finite)",
	  NULL, 0, 2, c_awq_inf_scale_refuse },
	{ "fp8_tensor_inf_scale_refuse", "refuse", "v_proj.weight_scale: value 0 is inf", NULL, 0, 1,
	  c_fp8_tensor_inf_scale_refuse },
	{ "modelopt_nan_kv_scale_refuse", "refuse", "v_proj.v_scale: value 0 is nan", NULL, 0, 2,
	  c_modelopt_nan_kv_scale_refuse },
	{ "fp8_block_nan_byte_refuse", "refuse", "gate_proj.weight: element 777 is the F8_E4M3 NaN",
	  NULL, 0, 1, c_fp8_block_nan_byte_refuse },
	{ "gptq_unbalanced_gidx_refuse", "refuse", "o_proj.g_idx: group", NULL, 0, 1,
	  c_gptq_unbalanced_gidx_refuse },
	{ "gptq_dense_and_quantized_refuse", "refuse", "o_proj: stored both dense", NULL, 0, 2,
	  c_gptq_dense_and_quantized_refuse },
	{ "awq_bad_regex_refuse", "refuse", "config.json: quantization_config.modules_to_not_convert[1]",
	  NULL, 0, 2, c_awq_bad_regex_refuse },
	{ "awq_marlin_refuse", "refuse", "version 'marlin': Marlin", NULL, 0, 2, c_awq_marlin_refuse },
	{ "gptq_is_marlin_format_refuse", "refuse", "GPTQ format 'marlin'", NULL, 0, 1,
	  c_gptq_is_marlin_format_refuse },
};

int main(int argc, char **argv)
{
	size_t n = sizeof(cases) / sizeof(cases[0]);
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: gen_convert OUTDIR | --list\n");
		return 2;
	}
	mkdir_or_die(argv[1]);
	for (size_t i = 0; i < n; i++)
		write_case(argv[1], &cases[i]);
	return 0;
}
