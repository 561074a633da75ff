/*
 * src_awq.c - AutoAWQ checkpoints, GEMM and GEMV, 4-bit with zero points
 * (spec/CONVERT.md §1).
 *
 * GEMM: qweight I32 [in, out/8] packed along the output, nibble k of word j
 *       holding column 8j + ORDER[k], ORDER = [0,2,4,6,1,3,5,7]; qzeros I32
 *       [in/g, out/8] the same; scales F16 [in/g, out]; unsigned z, no offset.
 * GEMV: qweight I32 [out, in/8] sequential along the input (the words of
 *       weight_packed); qzeros I32 [out, W] sequential along the groups,
 *       W padded; scales F16 [out, 8W] padded.
 * w[o,i] = (q - z) * s, the product in F16.
 */
#include "convert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dtype.h"

enum { T_QWEIGHT, T_QZEROS, T_SCALES };
enum { V_GEMM, V_GEMV };

/* Nibble that holds output column c%8 of a GEMM word. */
static const unsigned gemm_pos[8] = { 0, 4, 1, 5, 2, 6, 3, 7 };

static uint32_t word_at(const ct_tensor *t, uint64_t r, uint64_t c)
{
	uint32_t w;
	memcpy(&w, t->data + (r * t->shape[1] + c) * 4, 4);
	return w;
}

/* Code of weight (o, i). */
static uint32_t code(const ct_conv_module *m, uint64_t o, uint64_t i)
{
	const ct_tensor *q = m->t[T_QWEIGHT]->t;
	if (m->variant == V_GEMM)
		return word_at(q, i, o / 8) >> (4 * gemm_pos[o % 8]) & 15u;
	return word_at(q, o, i / 8) >> (4 * (i % 8)) & 15u;
}

/* Zero point of (o, group g). */
static uint32_t zero(const ct_conv_module *m, uint64_t o, uint64_t g)
{
	const ct_tensor *z = m->t[T_QZEROS]->t;
	if (m->variant == V_GEMM)
		return word_at(z, g, o / 8) >> (4 * gemm_pos[o % 8]) & 15u;
	return word_at(z, o, g / 8) >> (4 * (g % 8)) & 15u;
}

static float scale(const ct_conv_module *m, uint64_t o, uint64_t g)
{
	const ct_tensor *s = m->t[T_SCALES]->t;
	size_t at = m->variant == V_GEMM ? (size_t)(g * m->rows + o) : (size_t)(o * s->shape[1] + g);
	return ct_load_f32(s->dtype, s->data, at);
}

static int produce_packed(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			  ct_error *err)
{
	const ct_conv_module *m = &cv->mods[o->mod];
	uint64_t nw = o->shape[1];
	uint32_t *row = malloc((size_t)(nw + 1) * 4);
	if (!row)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	for (uint64_t r = 0; r < m->rows && !rc; r++) {
		memset(row, 0, (size_t)nw * 4);
		for (uint64_t i = 0; i < m->cols; i++)
			row[i / 8] |= code(m, r, i) << (4 * (i % 8));
		rc = emit(ctx, 0, row, (size_t)nw * 4, err);
	}
	free(row);
	return rc;
}

/* weight_zero_point [ceil(out/8), groups]: down the output, 8 per word. */
static int produce_zeros(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			 ct_error *err)
{
	const ct_conv_module *m = &cv->mods[o->mod];
	uint64_t G = m->n_groups;
	uint32_t *row = malloc((size_t)(G + 1) * 4);
	if (!row)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	for (uint64_t w = 0; w < o->shape[0] && !rc; w++) {
		for (uint64_t g = 0; g < G; g++) {
			uint32_t v = 0;
			for (uint64_t k = 0; k < 8 && w * 8 + k < m->rows; k++)
				v |= zero(m, w * 8 + k, g) << (4 * k);
			row[g] = v;
		}
		rc = emit(ctx, 0, row, (size_t)G * 4, err);
	}
	free(row);
	return rc;
}

/* GEMV scales: the first n_groups of each padded row. */
static int produce_scales(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			  ct_error *err)
{
	const ct_conv_module *m = &cv->mods[o->mod];
	const ct_tensor *s = m->t[T_SCALES]->t;
	size_t esz = ct_dtype_size(s->dtype);
	for (uint64_t r = 0; r < m->rows; r++) {
		int rc = emit(ctx, 0, s->data + r * s->shape[1] * esz, (size_t)(m->n_groups * esz),
			      err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

static int dequant(const ct_conv *cv, const ct_conv_module *m, float *out, ct_error *err)
{
	(void)cv;
	(void)err;
	ct_dtype sd = m->t[T_SCALES]->t->dtype;
	uint64_t g = m->group_size < 0 ? m->cols : (uint64_t)m->group_size;
	for (uint64_t o = 0; o < m->rows; o++)
		for (uint64_t i = 0; i < m->cols; i++) {
			float d = (float)((int32_t)code(m, o, i) - (int32_t)zero(m, o, i / g));
			out[o * m->cols + i] = ct_round_to(sd, scale(m, o, i / g) * d);
		}
	return CT_OK;
}

int ct_awq_plan_module(ct_conv *cv, const char *module, bool gemv, int64_t group_size,
		       ct_error *err)
{
	ct_conv_module *m;
	int idx = ct_conv_add_module(cv, module, &m, err);
	if (idx < 0)
		return -idx;
	m->bits = 4;
	m->sym = false;
	m->variant = gemv ? V_GEMV : V_GEMM;
	m->dequant = dequant;
	m->t[T_QWEIGHT] = ct_conv_find(cv, module, "qweight");
	m->t[T_QZEROS] = ct_conv_find(cv, module, "qzeros");
	m->t[T_SCALES] = ct_conv_find(cv, module, "scales");
	if (!m->t[T_QWEIGHT])
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", module);
	const ct_tensor *qw = m->t[T_QWEIGHT]->t;
	const char *file = cv->ck->shard_names[m->t[T_QWEIGHT]->shard];
	if (qw->dtype != CT_I32 || qw->ndim != 2 || qw->shape[0] == 0 || qw->shape[1] == 0)
		return ct_fail(err, CT_EINPUT, "%s: %s: %s with %d dimensions (expected I32 %s)", file,
			       qw->name, ct_dtype_name(qw->dtype), qw->ndim,
			       gemv ? "[out, in/8]" : "[in, out/8]");
	/* bounded by the tensor's bytes */
	m->rows = gemv ? qw->shape[0] : qw->shape[1] * 8;
	m->cols = gemv ? qw->shape[1] * 8 : qw->shape[0];
	uint64_t g = group_size < 0 ? m->cols : (uint64_t)group_size;
	if (m->cols % g != 0)
		return ct_fail(err, CT_EINPUT, "%s: %s: in_features %" PRIu64 " is not a multiple of "
			       "group_size %" PRIu64 " (AutoAWQ's layout needs whole groups)", file,
			       module, m->cols, g);
	m->group_size = group_size < 0 ? -1 : group_size;
	m->n_groups = m->cols / g;
	int rc;
	if (!gemv) {
		uint64_t zs[2] = { m->n_groups, m->rows / 8 }, ss[2] = { m->n_groups, m->rows };
		rc = ct_conv_expect(cv, m->t[T_QZEROS], module, "qzeros", CT_I32, 2, zs, err);
		if (!rc)
			rc = ct_conv_expect(cv, m->t[T_SCALES], module, "scales", CT_DTYPE_COUNT, 2,
					    ss, err);
	} else {
		const ct_tref *z = m->t[T_QZEROS];
		uint64_t W = z && z->t->ndim == 2 ? z->t->shape[1] : 0;
		uint64_t zs[2] = { m->rows, W }, ss[2] = { m->rows, W * 8 };
		rc = ct_conv_expect(cv, z, module, "qzeros", CT_I32, 2, zs, err);
		if (!rc && W * 8 < m->n_groups)
			rc = ct_fail(err, CT_EINPUT, "%s: %s.qzeros: %" PRIu64 " words per row hold "
				     "fewer than %" PRIu64 " groups", file, module, W, m->n_groups);
		if (!rc)
			rc = ct_conv_expect(cv, m->t[T_SCALES], module, "scales", CT_DTYPE_COUNT, 2,
					    ss, err);
	}
	if (rc)
		return rc;
	uint64_t wp[2] = { m->rows, (m->cols * 4 + 31) / 32 }, ws[2] = { m->rows, m->n_groups };
	uint64_t zp[2] = { (m->rows * 4 + 31) / 32, m->n_groups }, shp[1] = { 2 };
	ct_dtype sd = m->t[T_SCALES]->t->dtype;
	rc = ct_conv_add_out(cv, (size_t)idx, "weight_packed", CT_I32, 2, wp, m->t[T_QWEIGHT],
			     gemv ? ct_conv_copy_bytes : produce_packed, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", sd, 2, ws, m->t[T_SCALES],
				     gemv ? produce_scales : ct_conv_transpose, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_shape", CT_I64, 1, shp,
				     m->t[T_QWEIGHT], ct_conv_weight_shape, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_zero_point", CT_I32, 2, zp,
				     m->t[T_QZEROS], produce_zeros, err);
	if (rc)
		return rc;
	json_t *scheme = json_pack("{s:o, s:n, s:s}", "weights",
				   ct_conv_int_weights(4, false, m->group_size, false),
				   "input_activations", "format", "pack-quantized");
	int s = ct_conv_scheme(cv, scheme, err);
	if (s < 0)
		return -s;
	m->scheme = s;
	char line[200];
	snprintf(line, sizeof(line), "AWQ %s int4 g%" PRIu64 " asym -> pack-quantized (%s, "
		 "scales^T, zero points repacked)", gemv ? "GEMV" : "GEMM", g,
		 gemv ? "qweight words kept" : "nibbles de-interleaved, transposed");
	m->mapping = strdup(line);
	return m->mapping ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

static bool awq_detect(const json_t *q, const json_t *hfq)
{
	(void)hfq;
	const char *m = ct_conv_str(q, "quant_method");
	return m && strcmp(m, "awq") == 0;
}

/* modules_to_not_convert as the library's converter writes it. */
static int awq_ignore(ct_conv *cv, const json_t *list, ct_error *err)
{
	json_array_append_new(cv->ignore, json_string("lm_head"));
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return ct_fail(err, CT_EINPUT, "%s: modules_to_not_convert: expected strings",
				       cv->label);
		strbuf sb;
		sb_init(&sb);
		sb_printf(&sb, "re:.*%s.*", json_string_value(v));
		int rc = sb.data ? ct_conv_ignore_pattern(cv, "modules_to_not_convert", i, sb.data,
							  err) : ct_fail(err, CT_EIO, "out of memory");
		sb_free(&sb);
		if (rc)
			return rc;
	}
	return CT_OK;
}

int ct_awq_plan_all(ct_conv *cv, const json_t *q, bool gemv, ct_error *err)
{
	int64_t bits, g;
	if (!ct_conv_int(q, "bits", 4, 1, 64, &bits) || bits != 4)
		return ct_fail(err, CT_EINPUT, "%s: AWQ bits must be 4 (AutoAWQ packs 4-bit codes "
			       "only)", cv->label);
	if (!ct_conv_int(q, "group_size", 128, -1, INT32_MAX, &g) || g == 0)
		return ct_fail(err, CT_EINPUT, "%s: group_size: expected -1 or a positive integer",
			       cv->label);
	int rc = awq_ignore(cv, json_object_get(q, "modules_to_not_convert"), err);
	char **mods = NULL;
	size_t n = 0;
	if (!rc)
		rc = ct_conv_modules_with(cv, ".qweight", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = ct_awq_plan_module(cv, mods[i], gemv, g, err);
	ct_conv_names_free(mods, n);
	return rc;
}

static int awq_plan(ct_conv *cv, ct_error *err)
{
	const json_t *q = cv->qcfg;
	const char *ver = ct_conv_str(q, "version");
	/* the layout first: AutoAWQ's Marlin export (awq/modules/linear/marlin.py,
	 * WQLinear_Marlin) requires zero_point false, so a Marlin config is
	 * refused for its layout, not for the zero points it cannot have */
	bool gemv = ver && strcasecmp(ver, "gemv") == 0;
	if (ver && !gemv && strcasecmp(ver, "gemm") != 0)
		return ct_fail(err, CT_EINPUT, "%s: AutoAWQ version '%s': %s layout that no exact "
			       "mapping into compressed-tensors is defined for (convert reads gemm "
			       "and gemv)", cv->label, ver, strcasecmp(ver, "marlin") == 0 ?
			       "Marlin's tiled and permuted" : "a");
	bool zp;
	if (!ct_conv_bool(q, "zero_point", true, &zp))
		return ct_fail(err, CT_EINPUT, "%s: zero_point: expected a boolean", cv->label);
	if (!zp)
		return ct_fail(err, CT_EINPUT, "%s: zero_point false: AutoAWQ's GEMM and GEMV layouts "
			       "always carry zero points; this config matches no known layout",
			       cv->label);
	return ct_awq_plan_all(cv, q, gemv, err);
}

const ct_source ct_src_awq = {
	.name = "awq",
	.help = "AutoAWQ GEMM and GEMV: 4 bits with zero points",
	.detect = awq_detect,
	.plan = awq_plan,
};
