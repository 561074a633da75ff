/*
 * fuzz_roundtrip.c - libFuzzer target: quantize a small weight with every
 * codec, then decode what was written.
 *
 * Input layout:
 *   byte 0     format: pack, naive, int, float, nvfp4, mxfp4, mxfp8 (mod 7)
 *   byte 1     num_bits = 1 + (b % 8)
 *   byte 2     bit 0 type float, bit 1 asymmetric, bit 2 config version 0.17
 *              (padded pack layout), bits 3-4 weight dtype (F32, F16, BF16,
 *              BF16), bits 5-7 strategy (tensor, channel, group, block,
 *              tensor_group, token, attn_head, inferred)
 *   bytes 3-4  group_size, little-endian (0: null, 0xFFFF: -1)
 *   bytes 5-6  block_structure [rows, cols] (used with strategy block)
 *   byte 7     scale_dtype: null, uint8, float8_e4m3fn, float16, bfloat16,
 *              float32, int8 (mod 8, 7: null)
 *   byte 8     rows R = 1 + (b % 32)
 *   bytes 9-10 cols C = 1 + (u16 % 1024)
 *   rest       the weight [R, C] in the weight dtype, little-endian; repeated
 *              when short, zeros when absent
 *
 * The config goes through ct_qconfig_parse and ct_qconfig_normalize, the
 * shape through ct_quant_check_shape and the global scale through
 * ct_quant_absmax / ct_quant_global_scale, as `ctensors quantize` plans it.
 * Then ct_qparams_compute, codec->outputs, codec->encode into one exactly
 * sized buffer per declared output (writing past a declared size, or leaving
 * part of one unwritten, fails), codec->check on the result (ctensors must
 * accept what it writes, with the same shape) and codec->decode to F32.
 *
 * For finite, "tame" input (absolute maximum at most a quarter of the weight
 * dtype's largest value) check() must accept the result and every decoded
 * value must be finite and close to the weight: within about one step of
 * its cell's scale (see check_fidelity), or clamped to the cell's range. Near the top of the dtype's range the library's
 * arithmetic itself overflows by design (asymmetric: mx - mn rounds to inf in
 * WD, so the scale is inf, which check() then refuses, and 0 * inf gives NaN;
 * symmetric: q_min * s can exceed the dtype's maximum), so such inputs are
 * not held to it; set FUZZ_ROUNDTRIP_VERBOSE=1 to have one printed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "ct_error.h"
#include "plan.h"
#include "qconfig.h"
#include "quant.h"
#include "safetensors.h"

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_roundtrip: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#define HDR 11
#define MAX_ROWS 32
#define MAX_COLS 1024

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool verbose;
/* FUZZ_DEBUG=1: say why inputs stop early (for checking seeds and triage). */
static bool debug;
#define DEBUG(...) (debug ? (void)fprintf(stderr, "fuzz_roundtrip: " __VA_ARGS__) : (void)0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);
	const char *v = getenv("FUZZ_ROUNDTRIP_VERBOSE");
	verbose = v && *v && strcmp(v, "0") != 0;
	const char *d = getenv("FUZZ_DEBUG");
	debug = d && *d && strcmp(d, "0") != 0;
	return 0;
}

static const ct_format formats[] = {
	CT_FMT_PACK, CT_FMT_NAIVE, CT_FMT_INT, CT_FMT_FLOAT,
	CT_FMT_NVFP4, CT_FMT_MXFP4, CT_FMT_MXFP8,
};
static const char *const strategies[] = {
	"tensor", "channel", "group", "block", "tensor_group", "token", "attn_head", NULL,
};
static const char *const scale_dtypes[] = {
	NULL, "torch.uint8", "torch.float8_e4m3fn", "torch.float16", "torch.bfloat16",
	"torch.float32", "torch.int8", NULL,
};
static const ct_dtype wdtypes[] = { CT_F32, CT_F16, CT_BF16, CT_BF16 };

static json_t *build_config(const uint8_t *h, ct_format fmt)
{
	json_t *w = json_object();
	json_object_set_new(w, "num_bits", json_integer(1 + h[1] % 8));
	json_object_set_new(w, "type", json_string(h[2] & 1 ? "float" : "int"));
	json_object_set_new(w, "symmetric", json_boolean(!(h[2] & 2)));
	const char *strat = strategies[(h[2] >> 5) & 7];
	if (strat)
		json_object_set_new(w, "strategy", json_string(strat));
	unsigned gsz = (unsigned)h[3] | (unsigned)h[4] << 8;
	if (gsz)
		json_object_set_new(w, "group_size", json_integer(gsz == 0xFFFF ? -1 : (json_int_t)gsz));
	if (strat && strcmp(strat, "block") == 0)
		json_object_set_new(w, "block_structure", json_pack("[ii]", h[5], h[6]));
	const char *sd = scale_dtypes[h[7] % 8];
	if (sd)
		json_object_set_new(w, "scale_dtype", json_string(sd));
	return json_pack("{s:s, s:s, s:{s:{s:[s], s:s, s:o}}}",
			 "quant_method", "compressed-tensors",
			 "version", h[2] & 4 ? "0.17.0" : "0.18.0",
			 "config_groups", "group_0", "targets", "Linear",
			 "format", ct_format_name(fmt), "weights", w);
}

typedef struct outs {
	size_t n;
	ct_codec_tensor decl[CT_CODEC_MAX_OUT];
	uint8_t *buf[CT_CODEC_MAX_OUT];
	uint64_t size[CT_CODEC_MAX_OUT], written[CT_CODEC_MAX_OUT];
	ct_tensor view[CT_CODEC_MAX_OUT];
} outs;

static int emit_out(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	(void)err;
	outs *o = ctx;
	CHECK(k >= 0 && (size_t)k < o->n, "encoder emitted output %d of %zu", k, o->n);
	CHECK(len <= o->size[k] - o->written[k], "encoder wrote %llu + %zu bytes into %s of "
	      "%llu", (unsigned long long)o->written[k], len, o->decl[k].suffix,
	      (unsigned long long)o->size[k]);
	memcpy(o->buf[k] + o->written[k], buf, len);
	o->written[k] += len;
	return CT_OK;
}

static const ct_tensor *get(void *ctx, const char *suffix)
{
	outs *o = ctx;
	for (size_t k = 0; k < o->n; k++)
		if (strcmp(o->decl[k].suffix, suffix) == 0)
			return &o->view[k];
	return NULL;
}

typedef struct dec {
	uint64_t want, got;          /* bytes */
	float absmax;
	bool tame;
	const char *what;
	const ct_qparams *qp;        /* what the encoder quantized with */
	const ct_wview *w;           /* the weight */
} dec;

/* How far decoded value v of element (r, c) may be from the weight x: the
 * grid step of its cell's scale (1.5 steps of slack for the roundings in
 * WD), an eighth of |x| (fp8's relative spacing and roundings of the
 * result), and however far x lies outside what the cell can represent
 * (clamping). A decoder that applies another scale, zero point or code
 * than the encoder used lands far outside. */
static void check_fidelity(const dec *d, uint64_t at, float v)
{
	const ct_qparams *p = d->qp;
	uint64_t r = at / p->cols, c = at % p->cols;
	uint64_t cell = (r / p->cell_rows) * p->scols + c / p->cell_cols;
	float s = p->scale[cell];
	if (p->has_gs)
		s /= p->gs;
	float z = p->zp ? (float)p->zp[cell] : 0.0f;
	float lo, hi;
	if (p->args->type == CT_QTYPE_INT) {
		lo = ((float)p->q_min - z) * s;
		hi = ((float)p->q_max - z) * s;
	} else {
		lo = -(float)p->q_max * s;
		hi = (float)p->q_max * s;
	}
	float x = ct_load_f32(d->w->wd, d->w->data, (size_t)at);
	float outside = x < lo ? lo - x : x > hi ? x - hi : 0.0f;
	float allowed = 1.5f * s + 0.125f * fabsf(x) + outside + ct_dtype_tiny(d->w->wd);
	CHECK(fabsf(v - x) <= allowed, "%s: element [%llu, %llu] = %g decodes to %g (scale %g, "
	      "zero point %g: at most %g away expected)", d->what, (unsigned long long)r,
	      (unsigned long long)c, (double)x, (double)v, (double)s, (double)z,
	      (double)allowed);
}

static int emit_dec(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	(void)err;
	dec *d = ctx;
	CHECK(k == 0, "decoder emitted output %d", k);
	CHECK(len % 4 == 0 && len <= d->want - d->got, "decoder emitted %llu + %zu of %llu",
	      (unsigned long long)d->got, len, (unsigned long long)d->want);
	for (size_t i = 0; i < len; i += 4) {
		float v;
		memcpy(&v, (const uint8_t *)buf + i, 4);
		uint64_t at = (d->got + i) / 4;
		if (isfinite(v)) {
			if (d->tame)
				check_fidelity(d, at, v);
			continue;
		}
		if (d->tame)
			CHECK(0, "%s: finite weight (absmax %g) decodes to %g at element %llu",
			      d->what, (double)d->absmax, (double)v, (unsigned long long)at);
		if (verbose) {
			fprintf(stderr, "fuzz_roundtrip: by design: %s: absmax %g decodes to %g "
				"at element %llu\n", d->what, (double)d->absmax, (double)v,
				(unsigned long long)at);
			verbose = false; /* once per process is enough */
		}
		break;
	}
	d->got += len;
	return CT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	ct_format fmt = formats[data[0] % (sizeof(formats) / sizeof(formats[0]))];
	ct_dtype wd = wdtypes[(data[2] >> 3) & 3];
	uint64_t R = 1 + data[8] % MAX_ROWS;
	uint64_t C = 1 + ((unsigned)data[9] | (unsigned)data[10] << 8) % MAX_COLS;

	json_t *j = build_config(data, fmt);
	CHECK(j, "config JSON");
	ct_qconfig *cfg = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_qconfig_parse(j, "fuzz", &cfg, &err);
	json_decref(j);
	if (rc != CT_OK) {
		DEBUG("config: %s\n", err.msg);
		return 0;
	}
	if (ct_qconfig_normalize(cfg, &err) != CT_OK) {
		DEBUG("normalize: %s\n", err.msg);
		ct_qconfig_free(cfg);
		return 0;
	}
	const ct_qscheme *sc = &cfg->groups[0];
	const ct_qargs *a = sc->weights;
	const ct_codec *codec = ct_codec_for(sc->format);
	CHECK(codec && a, "normalized group without codec (%s)", ct_format_name(sc->format));
	if (ct_quant_check_shape(a, R, C, "m", &err) != CT_OK) {
		DEBUG("shape: %s\n", err.msg);
		ct_qconfig_free(cfg);
		return 0;
	}

	/* The weight. */
	size_t esz = ct_dtype_size(wd);
	size_t wbytes = (size_t)(R * C) * esz;
	uint8_t *wbuf = calloc(1, wbytes);
	CHECK(wbuf, "out of memory");
	const uint8_t *src = data + HDR;
	size_t srcn = size - HDR;
	for (size_t i = 0; srcn && i < wbytes; i++)
		wbuf[i] = src[i % srcn];
	ct_wview w = { .wd = wd, .rows = R, .cols = C, .data = wbuf };
	float absmax = 0.0f;
	uint64_t bad;
	bool finite = ct_quant_absmax(&w, &absmax, &bad);

	float gs = 0.0f;
	if (a->strategy == CT_STRAT_TENSOR_GROUP) {
		if (!finite)
			goto out_w; /* the planner refuses non-finite weights here */
		gs = ct_quant_global_scale(wd, absmax);
	}
	ct_module_desc desc = { .args = a, .wd = wd, .rows = R, .cols = C,
				.pack_padded = ct_plan_pack_padded(cfg) };
	outs o;
	memset(&o, 0, sizeof(o));
	if (codec->outputs(&desc, o.decl, &o.n, &err) != CT_OK) {
		DEBUG("outputs: %s\n", err.msg);
		goto out_w;
	}
	CHECK(o.n >= 1 && o.n <= CT_CODEC_MAX_OUT, "%zu outputs", o.n);
	for (size_t k = 0; k < o.n; k++) {
		ct_codec_tensor *t = &o.decl[k];
		uint64_t nelem, nbytes;
		CHECK(t->ndim >= 0 && t->ndim <= CT_MAX_DIMS &&
		      ct_tensor_nbytes(t->dtype, t->ndim, t->shape, &nelem, &nbytes),
		      "output %s has no valid size", t->suffix);
		o.size[k] = nbytes;
		o.buf[k] = malloc(nbytes ? (size_t)nbytes : 1);
		CHECK(o.buf[k], "out of memory");
		o.view[k] = (ct_tensor){ .name = t->suffix, .name_len = strlen(t->suffix),
			.dtype = t->dtype, .ndim = t->ndim, .nelem = nelem, .begin = 0,
			.end = nbytes, .data = o.buf[k] };
		memcpy(o.view[k].shape, t->shape, sizeof(t->shape));
	}

	ct_qparams qp;
	rc = ct_qparams_compute(a, &w, gs, &qp, &err);
	if (rc != CT_OK) {
		CHECK(err.msg[0], "qparams failed without a message");
		goto out_o;
	}
	rc = codec->encode(&desc, &w, &qp, emit_out, &o, &err);
	if (rc != CT_OK) {
		/* Only non-finite input may be refused, and weights whose codes
		 * would decompress to infinity in their dtype (which only values
		 * near the top of the dtype's range can do). */
		bool overflow = strstr(err.msg, "would decompress to") != NULL &&
				absmax > ct_dtype_max(wd) / 4.0f;
		CHECK(!finite || overflow, "encode of a finite weight failed: %s", err.msg);
		goto out_q;
	}
	for (size_t k = 0; k < o.n; k++)
		CHECK(o.written[k] == o.size[k], "encoder wrote %llu of the %llu bytes of %s",
		      (unsigned long long)o.written[k], (unsigned long long)o.size[k],
		      o.decl[k].suffix);

	bool tame = absmax <= ct_dtype_max(wd) / 4.0f;
	ct_module_desc ddesc = { .args = a, .pack_padded = desc.pack_padded };
	ct_dec_info info;
	rc = codec->check(&ddesc, get, &o, &info, &err);
	if (rc != CT_OK && !tame) {
		/* e.g. F16 asymmetric: mx - mn rounds to inf, so does the scale,
		 * which the reader refuses */
		if (verbose) {
			fprintf(stderr, "fuzz_roundtrip: by design: %s %s absmax %g: written "
				"scales refused: %s\n", ct_format_name(sc->format),
				ct_dtype_name(wd), (double)absmax, err.msg);
			verbose = false;
		}
		goto out_q;
	}
	CHECK(rc == CT_OK, "ctensors refuses what it wrote (%s, %s %llux%llu): %s",
	      ct_format_name(sc->format), ct_dtype_name(wd), (unsigned long long)R,
	      (unsigned long long)C, err.msg);
	CHECK(info.rows == R && info.cols == C, "decodes as %llux%llu, wrote %llux%llu",
	      (unsigned long long)info.rows, (unsigned long long)info.cols,
	      (unsigned long long)R, (unsigned long long)C);
	ddesc.rows = info.rows;
	ddesc.cols = info.cols;
	ddesc.wd = info.dtype;
	char what[128];
	snprintf(what, sizeof(what), "%s %s %llux%llu", ct_format_name(sc->format),
		 ct_dtype_name(wd), (unsigned long long)R, (unsigned long long)C);
	dec d = { .want = R * C * 4, .absmax = absmax, .tame = tame, .what = what, .qp = &qp,
		  .w = &w };
	rc = codec->decode(&ddesc, get, &o, CT_F32, emit_dec, &d, &err);
	if (rc != CT_OK && !tame) {
		/* fp4/mxfp8 check() does not read the scales; decode refuses an
		 * infinite one (the MX exponent of a weight near the dtype's top) */
		if (verbose) {
			fprintf(stderr, "fuzz_roundtrip: by design: %s absmax %g: written scales "
				"refused by decode: %s\n", what, (double)absmax, err.msg);
			verbose = false;
		}
		goto out_q;
	}
	CHECK(rc == CT_OK, "decode of what ctensors wrote failed: %s", err.msg);
	CHECK(d.got == d.want, "decoded %llu of %llu bytes", (unsigned long long)d.got,
	      (unsigned long long)d.want);
	DEBUG("%s: round trip ok\n", what);
out_q:
	ct_qparams_free(&qp);
out_o:
	for (size_t k = 0; k < o.n; k++)
		free(o.buf[k]);
out_w:
	free(wbuf);
	ct_qconfig_free(cfg);
	return 0;
}
