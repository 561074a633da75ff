/*
 * src_gptq.c - GPTQ checkpoints (AutoGPTQ, GPTQModel, AutoRound's GPTQ
 * export), v1 and v2, 2/3/4/8 bits (spec/CONVERT.md §2).
 *
 * Layout of one module:
 *   qweight I32 [in*b/32, out]  dense LE bit stream of unsigned codes down
 *                                each column (element i at bit i*b)
 *   qzeros  I32 [groups, out*b/32]  the same along the output; v1 stores z-1
 *   scales  F16 [groups, out]
 *   g_idx   I32 [in]             group of each input column
 *   w[o,i] = s[g_idx[i],o] * (q[i,o] - z[g_idx[i],o])
 * Into pack-quantized: weight_packed = qweight^T (the same words),
 * weight_scale = scales^T, weight_zero_point = z packed down the output
 * (qzeros^T once v1 is decoded), weight_g_idx when g_idx is not i/g.
 */
#include "convert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "qconfig.h"

enum { T_QWEIGHT, T_QZEROS, T_SCALES, T_GIDX };
enum { Z_V2, Z_V1_FIELD, Z_V1_PACKED };

/* ------------------------------------------------------- bit streams --- */

/* Field i (b bits) of a dense little-endian stream of n words, each read
 * by word(k). */
static uint32_t field(const uint32_t *w, uint64_t nw, uint64_t i, int b)
{
	uint64_t bit = i * (uint64_t)b, k = bit / 32, sh = bit % 32;
	uint64_t v = w[k] >> sh;
	if (sh + (uint64_t)b > 32 && k + 1 < nw)
		v |= (uint64_t)w[k + 1] << (32 - sh);
	return (uint32_t)v & ((1u << b) - 1);
}

static void put_field(uint32_t *w, uint64_t i, int b, uint32_t v)
{
	uint64_t bit = i * (uint64_t)b, k = bit / 32, sh = bit % 32;
	w[k] |= v << sh;
	if (sh + (uint64_t)b > 32)
		w[k + 1] |= v >> (32 - sh);
}

/* The constant GPTQModel adds to each word to turn 2-, 4- and 8-bit v1
 * zeros into v2: a 1 at the start of every field. */
static uint32_t packed_one(int b)
{
	return b == 2 ? 0x55555555u : b == 4 ? 0x11111111u : 0x01010101u;
}

/* GPTQModel's 3-bit constants (gptqmodel/utils/model.py:
 * convert_gptq_v1_to_v2_format_module, int32 pack_dtype), added to word k
 * of a 3-word triple by k mod 3, and subtracted by its
 * convert_gptq_v2_to_v1_format_module when it saves format "gptq". They are
 * not a 1 at each field start in words 0 and 2 (they add 4 and 2 per field
 * there), so GPTQModel's own reader inverts its writer exactly but a
 * per-field reader (AutoGPTQ, vLLM's gptq kernels) does not. */
static const uint32_t gptqmodel_c3[3] = { 0x24924924u, 0x92492492u, 0x49249249u };

/* True when field i of a 3-bit stream is the last one that starts in its
 * word (fields 10, 21 and 31 of every 32): AutoGPTQ's writer
 * (auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py: QuantLinear.pack) ORs
 * (z - 1) in as a uint32, so a true zero 0 (0xFFFFFFFF) sets every bit
 * above its field in the word, and only these fields have none above;
 * auto-round's writer (auto_round_extension/torch/qlinear_torch_zp.py:
 * pack_3bits) sums the shifted int32 (z - 1), so a -1 borrows from the
 * fields above it instead. Either way a stored 7 elsewhere hides the true
 * zeros of the fields above it. */
static bool top_field3(uint64_t i)
{
	uint64_t k = i % 32;
	return k == 10 || k == 21 || k == 31;
}

/* Decodes one row of qzeros (nw words, n zeros) into z[], by variant.
 * Returns how many zeros are suspect: for 2, 4 and 8 bits, where the
 * per-field and packed-add decodes of v1 disagree; for 3 bits, per-field
 * (Z_V1_FIELD), a stored 7 that is not the top field of its word
 * (top_field3); packed (Z_V1_PACKED), where GPTQModel's decode and the
 * per-field one disagree. */
static uint64_t decode_zeros(const uint8_t *row, uint64_t nw, uint64_t n, int b, int variant,
			     uint32_t *words, uint32_t *z)
{
	memcpy(words, row, (size_t)nw * 4);
	uint64_t differ = 0;
	if (variant == Z_V2) {
		for (uint64_t i = 0; i < n; i++)
			z[i] = field(words, nw, i, b);
		return 0;
	}
	uint32_t mask = (1u << b) - 1;
	for (uint64_t i = 0; i < n; i++)
		z[i] = (field(words, nw, i, b) + 1) & mask;
	if (b == 3 && variant == Z_V1_FIELD) {
		for (uint64_t i = 0; i < n; i++)
			differ += z[i] == 0 && !top_field3(i);
		return differ;
	}
	for (uint64_t k = 0; k < nw; k++)
		words[k] += b == 3 ? gptqmodel_c3[k % 3] : packed_one(b);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t p = field(words, nw, i, b);
		if (p != z[i])
			differ++;
		if (variant == Z_V1_PACKED)
			z[i] = p;
	}
	return differ;
}

/* --------------------------------------------------------- producers --- */

/* weight_zero_point: the decoded zeros [groups, out], packed down the
 * output for each group, i.e. [out*b/32, groups]. */
static int produce_zeros(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			 ct_error *err)
{
	const ct_conv_module *m = &cv->mods[o->mod];
	const ct_tensor *qz = m->t[T_QZEROS]->t;
	uint64_t G = qz->shape[0], W = qz->shape[1], n = m->rows;
	uint32_t *words = malloc((size_t)(W + 1) * 4);
	uint32_t *z = malloc((size_t)(n + 1) * 4);
	uint32_t *packed = calloc((size_t)(G * W + 1), 4);
	uint32_t *col = malloc((size_t)(G + 1) * 4);
	int rc = CT_OK;
	if (!words || !z || !packed || !col)
		rc = ct_fail(err, CT_EIO, "out of memory");
	for (uint64_t g = 0; !rc && g < G; g++) {
		decode_zeros(qz->data + g * W * 4, W, n, m->bits, m->variant, words, z);
		for (uint64_t i = 0; i < n; i++)
			put_field(packed + g * W, i, m->bits, z[i]);
	}
	for (uint64_t k = 0; !rc && k < W; k++) {
		for (uint64_t g = 0; g < G; g++)
			col[g] = packed[g * W + k];
		rc = emit(ctx, 0, col, (size_t)G * 4, err);
	}
	free(words);
	free(z);
	free(packed);
	free(col);
	return rc;
}

/* The source's own dequantization: the product rounded once to the scales'
 * dtype (the F16 product of GPTQ's readers), widened to F32. */
static int dequant(const ct_conv *cv, const ct_conv_module *m, float *out, ct_error *err)
{
	(void)cv;
	const ct_tensor *qw = m->t[T_QWEIGHT]->t, *sc = m->t[T_SCALES]->t;
	const ct_tensor *gi = m->t[T_GIDX] ? m->t[T_GIDX]->t : NULL;
	const ct_tensor *qz = m->t[T_QZEROS] ? m->t[T_QZEROS]->t : NULL;
	uint64_t P = qw->shape[0], out_f = m->rows, in_f = m->cols, G = m->n_groups;
	int b = m->bits;
	uint32_t *zz = malloc((size_t)(G * out_f + 1) * 4);
	uint32_t *col = malloc((size_t)(P + 1) * 4);
	uint32_t *words = qz ? malloc((size_t)(qz->shape[1] + 1) * 4) : NULL;
	if (!zz || !col || (qz && !words)) {
		free(zz);
		free(col);
		free(words);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	for (uint64_t g = 0; g < G; g++) {
		if (m->sym || !qz) {
			for (uint64_t o = 0; o < out_f; o++)
				zz[g * out_f + o] = 1u << (b - 1);
		} else {
			decode_zeros(qz->data + g * qz->shape[1] * 4, qz->shape[1], out_f, b,
				     m->variant, words, zz + g * out_f);
		}
	}
	for (uint64_t o = 0; o < out_f; o++) {
		for (uint64_t k = 0; k < P; k++)
			memcpy(&col[k], qw->data + (k * out_f + o) * 4, 4);
		for (uint64_t i = 0; i < in_f; i++) {
			uint64_t g;
			if (gi) {
				int32_t v;
				memcpy(&v, gi->data + i * 4, 4);
				g = (uint64_t)v;
			} else {
				g = m->group_size < 0 ? 0 : i / (uint64_t)m->group_size;
			}
			float s = ct_load_f32(sc->dtype, sc->data, (size_t)(g * out_f + o));
			float d = (float)((int64_t)field(col, P, i, b) - (int64_t)zz[g * out_f + o]);
			out[o * in_f + i] = ct_round_to(sc->dtype, s * d);
		}
	}
	free(zz);
	free(col);
	free(words);
	return CT_OK;
}

/* ------------------------------------------------------------ module --- */

static int check_gidx(const ct_conv *cv, const ct_conv_module *m, const ct_tensor *gi,
		      bool *trivial, ct_error *err)
{
	*trivial = true;
	const char *file = cv->ck->shard_names[m->t[T_GIDX]->shard];
	uint64_t *count = calloc((size_t)m->n_groups + 1, sizeof(uint64_t));
	if (!count)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	for (uint64_t i = 0; i < m->cols && !rc; i++) {
		int32_t v;
		memcpy(&v, gi->data + i * 4, 4);
		if (v < 0 || (uint64_t)v >= m->n_groups) {
			rc = ct_fail(err, CT_EINPUT, "%s: %s: g_idx[%" PRIu64 "] = %" PRId32
				     " is not a group (0 to %" PRIu64 ")", file, m->name, i, v,
				     m->n_groups - 1);
			break;
		}
		count[v]++;
		uint64_t want = m->group_size < 0 ? 0 : i / (uint64_t)m->group_size;
		if ((uint64_t)v != want)
			*trivial = false;
	}
	/* GPTQ's act-order assigns groups in quantization order, g columns
	 * each (GPTQModel quantization/gptq.py: GPTQ.quantize, g_idx = perm // group_size
	 * un-permuted); weight_g_idx must be balanced the same way for verify
	 * (ct_qparams_load_g_idx) and vLLM's act-order Marlin path */
	uint64_t g = m->group_size < 0 ? m->cols : (uint64_t)m->group_size;
	for (uint64_t k = 0; k < m->n_groups && !rc; k++)
		if (count[k] != g)
			rc = ct_fail(err, CT_EINPUT, "%s: %s.g_idx: group %" PRIu64 " holds %" PRIu64
				     " columns (expected group_size %" PRIu64 "): an unbalanced "
				     "act-order g_idx", file, m->name, k, count[k], g);
	free(count);
	return rc;
}

/* Decodes every zero of the module now, before anything is written:
 * symmetric ones must all be 2^(b-1), v1 ones must decode one way. */
static int check_zeros(ct_conv *cv, ct_conv_module *m, ct_error *err)
{
	const ct_tensor *qz = m->t[T_QZEROS]->t;
	const char *file = cv->ck->shard_names[m->t[T_QZEROS]->shard];
	uint64_t G = qz->shape[0], W = qz->shape[1], n = m->rows, differ = 0;
	uint32_t *words = malloc((size_t)(W + 1) * 4);
	uint32_t *z = malloc((size_t)(n + 1) * 4);
	int rc = CT_OK;
	if (!words || !z)
		rc = ct_fail(err, CT_EIO, "out of memory");
	for (uint64_t g = 0; !rc && g < G; g++) {
		differ += decode_zeros(qz->data + g * W * 4, W, n, m->bits, m->variant, words, z);
		for (uint64_t o = 0; m->sym && o < n && !rc; o++)
			if (z[o] != 1u << (m->bits - 1))
				rc = ct_fail(err, CT_EINPUT, "%s: %s.qzeros: zero point %" PRIu32 " at "
					     "group %" PRIu64 ", column %" PRIu64 " but the config "
					     "says sym (every zero is %u)", file, m->name, z[o], g, o,
					     1u << (m->bits - 1));
	}
	free(words);
	free(z);
	if (rc || !differ)
		return rc;
	if (m->bits == 3 && m->variant == Z_V1_FIELD)
		return ct_fail(err, CT_EINPUT, "%s: %s.qzeros: GPTQ v1 3-bit zero-point underflow: "
			       "%" PRIu64 " stored zeros are 7 (a true zero 0) below the top field of "
			       "their word; %s writer wrote (z - 1) over the fields above them, whose "
			       "true zeros are lost", file, m->name, differ,
			       cv->writer_autoround ? "auto-round's 3-bit "
			       "(a borrowing sum)" : "an AutoGPTQ-style (an OR of 0xFFFFFFFF)");
	if (m->variant == Z_V1_PACKED) {
		ct_strlist_addf(&cv->warnings, "%s: %s: per-field and packed "
				"decodes differ; packed (%s) decode used for %" PRIu64 " zero points "
				"(vLLM reads the source per field and serves this module wrongly)",
				m->name, m->bits == 3 ? "GPTQModel's 3-bit v1 constants" :
				"v1 zero-point underflow", cv->writer_autoround ? "auto-round" :
				"GPTQModel", differ);
		return CT_OK;
	}
	return ct_fail(err, CT_EINPUT, "%s: %s.qzeros: GPTQ v1 zero-point underflow: %" PRIu64
		       " zero points decode differently per field and by packed add, and the "
		       "config names no writer that subtracts from whole words (GPTQModel, "
		       "auto-round): an AutoGPTQ-style writer overwrote them, the true zeros are "
		       "lost", file, m->name, differ);
}

int ct_gptq_plan_module(ct_conv *cv, const char *module, const ct_gptq_opts *o, ct_error *err)
{
	ct_conv_module *m;
	int idx = ct_conv_add_module(cv, module, &m, err);
	if (idx < 0)
		return -idx;
	int b = o->bits;
	m->bits = b;
	m->group_size = o->group_size;
	m->sym = o->sym;
	m->dequant = dequant;
	m->t[T_QWEIGHT] = ct_conv_find(cv, module, "qweight");
	m->t[T_QZEROS] = ct_conv_find(cv, module, "qzeros");
	m->t[T_SCALES] = ct_conv_find(cv, module, "scales");
	m->t[T_GIDX] = ct_conv_find(cv, module, "g_idx");
	const ct_tref *qw = m->t[T_QWEIGHT];
	if (!qw)
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", module);
	const char *file = cv->ck->shard_names[qw->shard];
	if (qw->t->dtype != CT_I32 || qw->t->ndim != 2 || qw->t->shape[0] == 0 ||
	    qw->t->shape[1] == 0)
		return ct_fail(err, CT_EINPUT, "%s: %s: %s with %d dimensions (expected I32 [in*%d/32, "
			       "out])", file, qw->t->name, ct_dtype_name(qw->t->dtype), qw->t->ndim, b);
	uint64_t P = qw->t->shape[0], out_f = qw->t->shape[1];
	/* bounded by the tensor's bytes: no product below overflows */
	uint64_t in_f = m->t[T_GIDX] && m->t[T_GIDX]->t->ndim == 1 ? m->t[T_GIDX]->t->shape[0] :
			P * 32 / (uint64_t)b;
	/* AutoGPTQ's QuantLinear.__init__ (qlinear_cuda_old.py and the
	 * others) makes qweight [infeatures // 32 * bits, outfeatures]: the
	 * packed rows hold in_features / 32 * bits words. The message says
	 * which of the two is off: a g_idx that names another in_features,
	 * an in_features that is no multiple of 32, or rows that are no whole
	 * number of bits-wide columns. */
	if (in_f * (uint64_t)b != P * 32) {
		if (m->t[T_GIDX] && in_f % 32 == 0)
			return ct_fail(err, CT_EINPUT, "%s: %s: %" PRIu64 " packed rows hold %" PRIu64
				       " input columns of %d bits, but %s has %" PRIu64 " entries "
				       "(expected %" PRIu64 " rows: in_features / 32 * bits)", file,
				       qw->t->name, P, P * 32 / (uint64_t)b, b, m->t[T_GIDX]->t->name,
				       in_f, in_f / 32 * (uint64_t)b);
		if (m->t[T_GIDX])
			return ct_fail(err, CT_EINPUT, "%s: %s: %s has %" PRIu64 " entries, and "
				       "in_features %" PRIu64 " is not a multiple of 32 (qweight packs "
				       "in_features / 32 * bits rows; it has %" PRIu64 ")", file,
				       qw->t->name, m->t[T_GIDX]->t->name, in_f, in_f, P);
		return ct_fail(err, CT_EINPUT, "%s: %s: %" PRIu64 " packed rows of 32 bits are not a "
			       "whole number of %d-bit input columns (qweight packs in_features / 32 "
			       "* bits rows: a multiple of %d)", file, qw->t->name, P, b, b);
	}
	/* GPTQModel keeps a partial last group (its qzeros and scales have
	 * ceil(in / g) rows); compressed-tensors cannot say so: its dequantize
	 * (quantization/lifecycle/forward.py) infers group_size as columns /
	 * scale columns when it is not given, and vLLM's kernels take every
	 * group as g columns, so the last columns would be decoded with the
	 * wrong group's parameters. */
	if (m->group_size > 0 && in_f % (uint64_t)m->group_size != 0)
		return ct_fail(err, CT_EINPUT, "%s: %s: in_features %" PRIu64 " is not a multiple of "
			       "group_size %" PRId64 ": a partial last group, which compressed-tensors "
			       "cannot represent", file, module, in_f, m->group_size);
	m->rows = out_f;
	m->cols = in_f;
	m->n_groups = m->group_size < 0 ? 1 : in_f / (uint64_t)m->group_size;
	uint64_t sshape[2] = { m->n_groups, out_f };
	int rc = ct_conv_expect(cv, m->t[T_SCALES], module, "scales", CT_DTYPE_COUNT, 2, sshape,
				err);
	if (!rc && m->t[T_GIDX]) {
		uint64_t gshape[1] = { in_f };
		rc = ct_conv_expect(cv, m->t[T_GIDX], module, "g_idx", CT_I32, 1, gshape, err);
	}
	bool trivial = true;
	if (!rc && m->t[T_GIDX])
		rc = check_gidx(cv, m, m->t[T_GIDX]->t, &trivial, err);
	m->has_gidx = !trivial;
	if (!rc && m->has_gidx && !o->desc_act)
		ct_strlist_addf(&cv->warnings, "%s: g_idx is not i / group_size although desc_act "
				"is false: kept as weight_g_idx (actorder group)", module);
	if (!rc && m->t[T_QZEROS]) {
		if ((out_f * (uint64_t)b) % 32 != 0)
			return ct_fail(err, CT_EINPUT, "%s: %s: %" PRIu64 " output columns of %d bits "
				       "do not fill whole qzeros words", file, module, out_f, b);
		uint64_t zshape[2] = { m->n_groups, out_f * (uint64_t)b / 32 };
		rc = ct_conv_expect(cv, m->t[T_QZEROS], module, "qzeros", CT_I32, 2, zshape, err);
		/* 3-bit: only GPTQModel's writer works on whole words with an
		 * inverse its reader applies; auto-round's is read per field
		 * by its own reader (top_field3) */
		bool packs = cv->writer_packs_words && (b != 3 || !cv->writer_autoround);
		m->variant = !o->v1 ? Z_V2 : packs ? Z_V1_PACKED : Z_V1_FIELD;
		if (!rc)
			rc = check_zeros(cv, m, err);
	} else if (!rc && !o->sym) {
		rc = ct_fail(err, CT_EINPUT, "%s: %s.qzeros: missing, and the config says "
			     "asymmetric", file, module);
	}
	if (rc)
		return rc;
	/* the outputs, each from one source tensor */
	uint64_t wp[2] = { out_f, P }, shp[1] = { 2 }, ws[2] = { out_f, m->n_groups };
	rc = ct_conv_add_out(cv, (size_t)idx, "weight_packed", CT_I32, 2, wp, qw,
			     ct_conv_transpose, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", m->t[T_SCALES]->t->dtype, 2,
				     ws, m->t[T_SCALES], ct_conv_transpose, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_shape", CT_I64, 1, shp, qw,
				     ct_conv_weight_shape, err);
	if (!rc && !o->sym) {
		uint64_t zp[2] = { (out_f * (uint64_t)b + 31) / 32, m->n_groups };
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_zero_point", CT_I32, 2, zp,
				     m->t[T_QZEROS], produce_zeros, err);
	} else {
		ct_conv_consume(cv, m->t[T_QZEROS]);
	}
	if (!rc && m->has_gidx) {
		uint64_t gs[1] = { in_f };
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_g_idx", CT_I32, 1, gs, m->t[T_GIDX],
				     ct_conv_copy_bytes, err);
	} else {
		ct_conv_consume(cv, m->t[T_GIDX]);
	}
	if (rc)
		return rc;
	json_t *scheme = json_pack("{s:o, s:n, s:s}", "weights",
				   ct_conv_int_weights(b, o->sym, m->group_size, m->has_gidx),
				   "input_activations", "format", "pack-quantized");
	int s = ct_conv_scheme(cv, scheme, err);
	if (s < 0)
		return -s;
	m->scheme = s;
	char g[32], line[256];
	if (m->group_size < 0)
		snprintf(g, sizeof(g), "per-channel");
	else
		snprintf(g, sizeof(g), "g%" PRId64, m->group_size);
	snprintf(line, sizeof(line), "GPTQ %s int%d %s %s -> pack-quantized (qweight^T, "
		 "scales^T%s%s)", o->v1 ? "v1" : "v2", b, g, o->sym ? "sym" : "asym",
		 o->sym ? "" : ", zero points repacked",
		 m->has_gidx ? ", g_idx kept: actorder group" : "");
	m->mapping = strdup(line);
	return m->mapping ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

/* ------------------------------------------------------------ config --- */

static bool gptq_detect(const json_t *q, const json_t *hfq)
{
	(void)hfq;
	const char *m = ct_conv_str(q, "quant_method");
	return m && strcmp(m, "gptq") == 0;
}

/* GPTQModel's `dynamic`: "-:regex" leaves matching modules dense, "+:regex"
 * or "regex" overrides bits, group_size, sym, desc_act; first match wins. */
static int dynamic_rule(const ct_conv *cv, const char *module, const json_t **over,
			bool *skip, ct_error *err)
{
	*over = NULL;
	*skip = false;
	json_t *dyn = json_object_get(cv->qcfg, "dynamic");
	if (!json_is_object(dyn))
		return CT_OK;
	const char *key;
	json_t *val;
	json_object_foreach(dyn, key, val) {
		bool neg = strncmp(key, "-:", 2) == 0;
		const char *re = neg || strncmp(key, "+:", 2) == 0 ? key + 2 : key;
		strbuf sb;
		sb_init(&sb);
		sb_printf(&sb, "re:%s", re);
		const char *pat = sb.data;
		ct_matcher *mt = NULL;
		int rc = pat ? ct_matcher_new(&pat, 1, "dynamic", &mt, err) :
			       ct_fail(err, CT_EIO, "out of memory");
		sb_free(&sb);
		if (rc)
			return ct_error_prefix(err, "%s: quantization_config.dynamic", cv->label);
		bool hit = ct_matcher_match(mt, module, CT_MOD_LINEAR);
		ct_matcher_free(mt);
		if (!hit)
			continue;
		if (neg)
			*skip = true;
		else if (!json_is_object(val))
			return ct_fail(err, CT_EINPUT, "%s: quantization_config.dynamic[\"%s\"]: "
				       "expected an object of overrides", cv->label, key);
		else
			*over = val;
		return CT_OK;
	}
	return CT_OK;
}

/* Reads bits, group_size, sym, desc_act from obj over the defaults in o. */
static int read_opts(const json_t *obj, const char *where, ct_gptq_opts *o, ct_error *err)
{
	int64_t bits, g;
	bool sym, da;
	if (!ct_conv_int(obj, "bits", o->bits, 1, 64, &bits))
		return ct_fail(err, CT_EINPUT, "%s: bits: expected an integer", where);
	if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
		return ct_fail(err, CT_EINPUT, "%s: bits %" PRId64 ": GPTQ's layout is read for 2, "
			       "3, 4 and 8 bits", where, bits);
	if (!ct_conv_int(obj, "group_size", o->group_size, -1, INT32_MAX, &g) || g == 0)
		return ct_fail(err, CT_EINPUT, "%s: group_size: expected -1 or a positive integer",
			       where);
	if (!ct_conv_bool(obj, "sym", o->sym, &sym) ||
	    !ct_conv_bool(obj, "desc_act", o->desc_act, &da))
		return ct_fail(err, CT_EINPUT, "%s: sym and desc_act must be booleans", where);
	o->bits = (int)bits;
	o->group_size = g;
	o->sym = sym;
	o->desc_act = da;
	return CT_OK;
}

/* The checkpoint format: v1, v2, or a layout no mapping exists for. */
static int gptq_version(const ct_conv *cv, bool *v1, ct_error *err)
{
	const char *f = ct_conv_str(cv->qcfg, "format");
	if (!f)
		f = ct_conv_str(cv->qcfg, "checkpoint_format");
	/* AutoGPTQ before checkpoint_format (auto_gptq/modeling/_base.py:
	 * BaseQuantizeConfig.is_marlin_format) said Marlin this way */
	if (json_is_true(json_object_get(cv->qcfg, "is_marlin_format")))
		f = "marlin";
	if (!f || strcmp(f, "gptq") == 0) {
		*v1 = true;
		return CT_OK;
	}
	if (strcmp(f, "gptq_v2") == 0) {
		*v1 = false;
		return CT_OK;
	}
	return ct_fail(err, CT_EINPUT, "%s: GPTQ format '%s': %s", cv->label, f,
		       strcmp(f, "marlin") == 0 || strcmp(f, "gptq_p") == 0 ||
		       strcmp(f, "bitblas") == 0 || strcmp(f, "qqq") == 0 ?
		       "a different tensor layout that no exact mapping into compressed-tensors "
		       "is defined for (convert reads formats gptq and gptq_v2)" :
		       "unknown (convert reads formats gptq and gptq_v2)");
}

/* True when the config names a v1 writer that subtracts the packed
 * constant from whole words (GPTQModel, auto-round). */
static bool word_writer(const json_t *q)
{
	if (json_object_get(q, "autoround_version"))
		return true;
	json_t *qz = json_object_get(json_object_get(q, "meta"), "quantizer");
	if (json_is_string(qz))
		return strncmp(json_string_value(qz), "gptqmodel", 9) == 0;
	size_t i;
	json_t *v;
	json_array_foreach(qz, i, v)
		if (json_is_string(v) && strncmp(json_string_value(v), "gptqmodel", 9) == 0)
			return true;
	return false;
}

static int gptq_plan(ct_conv *cv, ct_error *err)
{
	const json_t *q = cv->qcfg;
	const char *pd = ct_conv_str(q, "pack_dtype");
	if (pd && strcmp(pd, "int32") != 0 && strcmp(pd, "torch.int32") != 0)
		return ct_fail(err, CT_EINPUT, "%s: pack_dtype '%s': convert reads GPTQ words packed "
			       "as int32 only", cv->label, pd);
	ct_gptq_opts base = { .bits = 4, .group_size = 128, .sym = true };
	bool v1 = true;
	int rc = gptq_version(cv, &v1, err);
	if (!rc)
		rc = read_opts(q, cv->label, &base, err);
	if (rc)
		return rc;
	base.v1 = v1;
	cv->writer_packs_words = word_writer(q);
	cv->writer_autoround = json_object_get(q, "autoround_version") != NULL;
	char **mods = NULL;
	size_t n = 0;
	rc = ct_conv_modules_with(cv, ".qweight", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		const json_t *over;
		bool skip;
		rc = dynamic_rule(cv, mods[i], &over, &skip, err);
		if (!rc && skip)
			rc = ct_fail(err, CT_EINPUT, "%s: quantized, but quantization_config.dynamic "
				     "leaves it unquantized", mods[i]);
		ct_gptq_opts o = base;
		if (!rc && over) {
			char where[512];
			snprintf(where, sizeof(where), "%s: dynamic override for %s", cv->label,
				 mods[i]);
			rc = read_opts(over, where, &o, err);
		}
		if (!rc)
			rc = ct_gptq_plan_module(cv, mods[i], &o, err);
	}
	ct_conv_names_free(mods, n);
	return rc;
}

const ct_source ct_src_gptq = {
	.name = "gptq",
	.help = "GPTQ v1/v2 (AutoGPTQ, GPTQModel): 2, 3, 4, 8 bits, act-order",
	.detect = gptq_detect,
	.plan = gptq_plan,
};
