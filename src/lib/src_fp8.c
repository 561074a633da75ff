/*
 * src_fp8.c - FP8 checkpoints with quant_method "fp8" (spec/CONVERT.md §4).
 *
 * Block (DeepSeek-V3, Qwen3-FP8): weight F8_E4M3 [out, in] and
 * weight_scale_inv F32 [ceil(out/bn), ceil(in/bk)], a multiplier despite
 * its name, often in another shard -> FP8_BLOCK float-quantized, the same
 * bytes renamed. Per-tensor (AutoFP8, no weight_block_size): weight F8_E4M3,
 * weight_scale F32 one element, input_scale when static -> FP8, the same
 * bytes. Dequantization: F32(weight) * scale, one F32 rounding.
 */
#include "convert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

enum { T_WEIGHT, T_SCALE, T_INPUT };

/* weight_scale from E8M0 exponents: F32 2^(e-127), exact. */
static int produce_e8m0(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			ct_error *err)
{
	(void)cv;
	const ct_tensor *t = o->src->t;
	float buf[256];
	for (uint64_t i = 0; i < t->nelem; i += 256) {
		size_t n = t->nelem - i < 256 ? (size_t)(t->nelem - i) : 256;
		for (size_t k = 0; k < n; k++)
			buf[k] = ct_e8m0_to_f32(t->data[i + k]);
		int rc = emit(ctx, 0, buf, n * 4, err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

/* F32(weight) * scale of its block (per-tensor: one block). */
static int dequant(const ct_conv *cv, const ct_conv_module *m, float *out, ct_error *err)
{
	(void)cv;
	(void)err;
	const ct_tensor *w = m->t[T_WEIGHT]->t, *s = m->t[T_SCALE]->t;
	uint64_t bn = m->variant ? (uint64_t)m->group_size : m->rows;
	uint64_t bk = m->variant ? (uint64_t)m->n_groups : m->cols;
	uint64_t sc = (m->cols + bk - 1) / bk;
	for (uint64_t r = 0; r < m->rows; r++)
		for (uint64_t c = 0; c < m->cols; c++) {
			float x = ct_e4m3_to_f32(w->data[r * m->cols + c]);
			out[r * m->cols + c] = x * ct_load_f32(s->dtype, s->data,
							       (size_t)((r / bn) * sc + c / bk));
		}
	return CT_OK;
}

static json_t *fp8_args(const char *strategy, bool dynamic)
{
	return json_pack("{s:i, s:s, s:s, s:b, s:b}", "num_bits", 8, "type", "float", "strategy",
			 strategy, "symmetric", 1, "dynamic", dynamic);
}

/* A new module whose weight is F8_E4M3 [out, in], checked; its index, or
 * a negative CT_E* code. */
static int fp8_module(ct_conv *cv, const char *module, ct_conv_module **out, ct_error *err)
{
	ct_conv_module *m;
	int idx = ct_conv_add_module(cv, module, &m, err);
	if (idx < 0)
		return idx;
	*out = m;
	const ct_tref *w = m->t[T_WEIGHT] = ct_conv_find(cv, m->name, "weight");
	const char *file = cv->ck->shard_names[w ? w->shard : 0];
	if (!w)
		return -ct_fail(err, CT_EINPUT, "%s: %s.weight: missing (its scale is there)", file,
				m->name);
	if (w->t->dtype != CT_F8_E4M3 || w->t->ndim != 2 || w->t->nelem == 0)
		return -ct_fail(err, CT_EINPUT, "%s: %s: %s with %d dimensions (expected F8_E4M3 "
				"[out, in])", file, w->t->name, ct_dtype_name(w->t->dtype),
				w->t->ndim);
	m->rows = w->t->shape[0];
	m->cols = w->t->shape[1];
	m->bits = 8;
	m->sym = true;
	m->dequant = dequant;
	return idx;
}

static int block_module(ct_conv *cv, const char *module, int64_t bn, int64_t bk, ct_error *err)
{
	ct_conv_module *m;
	int idx = fp8_module(cv, module, &m, err);
	if (idx < 0)
		return -idx;
	int rc;
	m->variant = 1;
	m->group_size = bn;            /* block rows */
	m->n_groups = (uint64_t)bk;    /* block columns */
	const ct_tref *s = m->t[T_SCALE] = ct_conv_find(cv, module, "weight_scale_inv");
	if (!s)
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", module);
	uint64_t want[2] = { (m->rows + (uint64_t)bn - 1) / (uint64_t)bn,
			     (m->cols + (uint64_t)bk - 1) / (uint64_t)bk };
	const ct_tensor *t = s->t;
	bool float_ok = t->dtype == CT_F32 || t->dtype == CT_BF16 || t->dtype == CT_F16 ||
			t->dtype == CT_F8_E8M0;
	if (!float_ok || t->ndim != 2 || t->shape[0] != want[0] || t->shape[1] != want[1]) {
		char got[64] = "";
		if (t->ndim == 2)
			snprintf(got, sizeof(got), "[%" PRIu64 ", %" PRIu64 "]", t->shape[0],
				 t->shape[1]);
		else
			snprintf(got, sizeof(got), "%d-dimensional", t->ndim);
		return ct_fail(err, CT_EINPUT, "%s: %s is %s %s but weight [%" PRIu64 ", %" PRIu64
			       "] with block [%" PRId64 ", %" PRId64 "] needs F32, BF16, F16 or "
			       "F8_E8M0 [%" PRIu64 ", %" PRIu64 "] (ceil): inconsistent checkpoint",
			       cv->ck->shard_names[s->shard], t->name, ct_dtype_name(t->dtype), got,
			       m->rows, m->cols, bn, bk, want[0], want[1]);
	}
	rc = ct_conv_add_out(cv, (size_t)idx, "weight", CT_F8_E4M3, 2, m->t[T_WEIGHT]->t->shape,
			     m->t[T_WEIGHT], ct_conv_copy_bytes, err);
	/* vLLM loads every FP8 scale into an F32 parameter whatever the
	 * checkpoint's dtype (quantization/utils/fp8_utils.py:
	 * create_fp8_scale_parameter, dtype torch.float32), so the source
	 * means the product in F32; the library
	 * decompresses in the scale's dtype, so a BF16 or F16 scale (Qwen3 FP8
	 * releases ship BF16) is written as F32, an exact widening */
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", CT_F32, 2, want, s,
				     t->dtype == CT_F8_E8M0 ? produce_e8m0 :
				     t->dtype == CT_F32 ? ct_conv_copy_bytes : ct_conv_widen_f32, err);
	if (rc)
		return rc;
	json_t *w = fp8_args("block", false);
	json_t *a = fp8_args("group", true);
	if (w)
		json_object_set_new(w, "block_structure", json_pack("[I, I]", (json_int_t)bn,
								     (json_int_t)bk));
	if (a)
		json_object_set_new(a, "group_size", json_integer((json_int_t)bk));
	int sc = ct_conv_scheme(cv, json_pack("{s:o, s:o, s:s}", "weights", w,
					      "input_activations", a, "format", "float-quantized"),
				err);
	if (sc < 0)
		return -sc;
	m->scheme = sc;
	char line[160];
	snprintf(line, sizeof(line), "FP8 block [%" PRId64 ", %" PRId64 "] -> float-quantized "
		 "FP8_BLOCK (weight kept, weight_scale_inv renamed weight_scale)", bn, bk);
	m->mapping = strdup(line);
	return m->mapping ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

/* A one-element F32, F16 or BF16 scale (written as F32: widening is exact,
 * and the sources multiply in F32). */
static int one_scale(const ct_conv *cv, const ct_tref *r, const char *module, const char *what,
		     ct_error *err)
{
	ct_dtype dt = r->t->dtype;
	if ((dt == CT_F32 || dt == CT_F16 || dt == CT_BF16) && r->t->nelem == 1 &&
	    r->t->ndim <= 1)
		return CT_OK;
	return ct_fail(err, CT_EINPUT, "%s: %s.%s: %s with %" PRIu64 " elements (expected one F32, "
		       "F16 or BF16 per-tensor scale)", cv->ck->shard_names[r->shard], module, what,
		       ct_dtype_name(r->t->dtype), r->t->nelem);
}

static ct_conv_produce_fn as_f32(const ct_tref *r)
{
	return r->t->dtype == CT_F32 ? ct_conv_copy_bytes : ct_conv_widen_f32;
}

static int tensor_module(ct_conv *cv, const char *module, bool static_act, ct_error *err)
{
	ct_conv_module *m;
	int idx = fp8_module(cv, module, &m, err);
	if (idx < 0)
		return -idx;
	int rc;
	const ct_tref *s = m->t[T_SCALE] = ct_conv_find(cv, module, "weight_scale");
	if (!s)
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", module);
	rc = one_scale(cv, s, module, "weight_scale", err);
	const char *in_name = "input_scale";
	const ct_tref *in = ct_conv_find(cv, module, in_name);
	if (!in && (in = ct_conv_find(cv, module, "act_scale")))
		in_name = "act_scale";
	m->t[T_INPUT] = in;
	if (!rc && static_act && !in)
		rc = ct_fail(err, CT_EINPUT, "%s: %s: activation_scheme static but the module has "
			     "no input_scale: inconsistent checkpoint",
			     cv->ck->shard_names[m->t[T_WEIGHT]->shard], module);
	if (!rc && !static_act && in)
		rc = ct_fail(err, CT_EINPUT, "%s: %s.%s: present, but activation_scheme is dynamic: "
			     "inconsistent checkpoint", cv->ck->shard_names[in->shard], module,
			     in_name);
	if (!rc && in)
		rc = one_scale(cv, in, module, in_name, err);
	if (rc)
		return rc;
	uint64_t one[1] = { 1 };
	rc = ct_conv_add_out(cv, (size_t)idx, "weight", CT_F8_E4M3, 2, m->t[T_WEIGHT]->t->shape,
			     m->t[T_WEIGHT], ct_conv_copy_bytes, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", CT_F32, 1, one, s, as_f32(s),
				     err);
	if (!rc && in)
		rc = ct_conv_add_out(cv, (size_t)idx, "input_scale", CT_F32, 1, one, in, as_f32(in),
				     err);
	if (rc)
		return rc;
	int sc = ct_conv_scheme(cv, json_pack("{s:o, s:o, s:s}", "weights",
					      fp8_args("tensor", false), "input_activations",
					      fp8_args(static_act ? "tensor" : "token", !static_act),
					      "format", "float-quantized"), err);
	if (sc < 0)
		return -sc;
	m->scheme = sc;
	m->mapping = strdup(static_act ? "FP8 per-tensor, static input scale -> float-quantized "
			    "FP8 (same bytes)" : "FP8 per-tensor, dynamic activations -> "
			    "float-quantized (same bytes; activations per token)");
	return m->mapping ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

/* ModelOpt FP8_PER_CHANNEL_PER_TOKEN (vLLM modelopt.py:
 * ModelOptFp8PcPtLinearMethod): weight F8_E4M3 [out, in], weight_scale
 * [out] (a multiplier per output row; vLLM loads it into F32), no
 * input_scale (activations per token, dynamic) -> float-quantized FP8
 * channel, weight_scale [out, 1] F32 (an exact widening from F16 or BF16):
 * compressed-tensors' FP8_DYNAMIC scheme. */
static int channel_module(ct_conv *cv, const char *module, ct_error *err)
{
	ct_conv_module *m;
	int idx = fp8_module(cv, module, &m, err);
	if (idx < 0)
		return -idx;
	m->variant = 1;                 /* blocks of one row by every column */
	m->group_size = 1;
	m->n_groups = m->cols;
	const ct_tref *s = m->t[T_SCALE] = ct_conv_find(cv, module, "weight_scale");
	if (!s)
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", module);
	const ct_tensor *t = s->t;
	bool dt_ok = t->dtype == CT_F32 || t->dtype == CT_F16 || t->dtype == CT_BF16;
	bool shape_ok = (t->ndim == 1 && t->shape[0] == m->rows) ||
			(t->ndim == 2 && t->shape[0] == m->rows && t->shape[1] == 1);
	if (!dt_ok || !shape_ok)
		return ct_fail(err, CT_EINPUT, "%s: %s: %s with %" PRIu64 " elements in %d dimensions "
			       "(expected F32, F16 or BF16 [%" PRIu64 "], one scale per output row)",
			       cv->ck->shard_names[s->shard], t->name, ct_dtype_name(t->dtype),
			       t->nelem, t->ndim, m->rows);
	const ct_tref *in = ct_conv_find(cv, module, "input_scale");
	if (in)
		return ct_fail(err, CT_EINPUT, "%s: %s.input_scale: present, but per-token FP8 "
			       "activations are dynamic: inconsistent checkpoint",
			       cv->ck->shard_names[in->shard], module);
	uint64_t ws[2] = { m->rows, 1 };
	int rc = ct_conv_add_out(cv, (size_t)idx, "weight", CT_F8_E4M3, 2, m->t[T_WEIGHT]->t->shape,
				 m->t[T_WEIGHT], ct_conv_copy_bytes, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", CT_F32, 2, ws, s, as_f32(s),
				     err);
	if (rc)
		return rc;
	int sc = ct_conv_scheme(cv, json_pack("{s:o, s:o, s:s}", "weights",
					      fp8_args("channel", false), "input_activations",
					      fp8_args("token", true), "format", "float-quantized"),
				err);
	if (sc < 0)
		return -sc;
	m->scheme = sc;
	m->mapping = strdup("FP8 per-channel, per-token activations -> float-quantized FP8 "
			    "channel (weight kept, scales as F32 [out, 1])");
	return m->mapping ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

int ct_fp8_channel_plan_all(ct_conv *cv, ct_error *err)
{
	char **mods = NULL;
	size_t n = 0;
	int rc = ct_conv_modules_with(cv, ".weight_scale", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = channel_module(cv, mods[i], err);
	ct_conv_names_free(mods, n);
	return rc;
}

int ct_fp8_tensor_plan_all(ct_conv *cv, bool static_act, ct_error *err)
{
	char **mods = NULL;
	size_t n = 0;
	int rc = ct_conv_modules_with(cv, ".weight_scale", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = tensor_module(cv, mods[i], static_act, err);
	ct_conv_names_free(mods, n);
	if (!rc && !static_act && n)
		ct_strlist_addf(&cv->warnings, "activation_scheme dynamic: compressed-tensors has no "
				"dynamic per-tensor FP8 scheme vLLM serves; activations become dynamic "
				"per token (weights exact)");
	return rc;
}

static bool fp8_detect(const json_t *q, const json_t *hfq)
{
	(void)hfq;
	const char *m = ct_conv_str(q, "quant_method");
	return m && strcmp(m, "fp8") == 0;
}

static int fp8_plan(ct_conv *cv, ct_error *err)
{
	const json_t *q = cv->qcfg;
	const char *fmt = ct_conv_str(q, "fmt");
	if (fmt && strcmp(fmt, "e4m3") != 0)
		return ct_fail(err, CT_EINPUT, "%s: fmt '%s': convert reads e4m3 FP8 only", cv->label,
			       fmt);
	const char *act = ct_conv_str(q, "activation_scheme");
	bool static_act = act && strcmp(act, "static") == 0;
	if (act && !static_act && strcmp(act, "dynamic") != 0)
		return ct_fail(err, CT_EINPUT, "%s: activation_scheme '%s' (expected static or "
			       "dynamic)", cv->label, act);
	json_t *bs = json_object_get(q, "weight_block_size");
	if (!bs || json_is_null(bs))
		return ct_fp8_tensor_plan_all(cv, static_act, err);
	json_int_t bn = json_integer_value(json_array_get(bs, 0));
	json_int_t bk = json_integer_value(json_array_get(bs, 1));
	if (!json_is_array(bs) || json_array_size(bs) != 2 || bn < 1 || bk < 1 ||
	    bn > INT32_MAX || bk > INT32_MAX)
		return ct_fail(err, CT_EINPUT, "%s: weight_block_size: expected [rows, cols] of "
			       "positive integers", cv->label);
	if (static_act)
		return ct_fail(err, CT_EINPUT, "%s: block FP8 with activation_scheme static: no "
			       "compressed-tensors scheme holds static block activations", cv->label);
	char **mods = NULL;
	size_t n = 0;
	int rc = ct_conv_modules_with(cv, ".weight_scale_inv", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = block_module(cv, mods[i], (int64_t)bn, (int64_t)bk, err);
	ct_conv_names_free(mods, n);
	return rc;
}

const ct_source ct_src_fp8 = {
	.name = "fp8",
	.help = "FP8 (quant_method fp8): DeepSeek-style block scales, or AutoFP8 per-tensor",
	.detect = fp8_detect,
	.plan = fp8_plan,
};
