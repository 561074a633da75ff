/*
 * src_modelopt.c - NVIDIA ModelOpt exports (hf_quant_config.json,
 * quant_method "modelopt" in config.json; spec/CONVERT.md §3, §4).
 *
 * NVFP4: weight U8 [out, in/2] (low nibble = even column, E2M1 code
 * sign<<3 | index), weight_scale F8_E4M3 [out, in/16], weight_scale_2 F32
 * 0-d, input_scale F32 0-d; w = e2m1 * (F32(weight_scale) * weight_scale_2).
 * -> nvfp4-pack-quantized: weight_packed = weight, weight_scale unchanged,
 * weight_global_scale = 1/weight_scale_2, input_global_scale = 1/input_scale
 * (CT divides by its global scales), kept 0-d as the library's converter
 * keeps them. Not bit-exact: 1/(1/x) is not always x, and the library
 * decompresses NVFP4 in BF16.
 * FP8: per-tensor, the same bytes (src_fp8.c).
 */
#include "convert.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

enum { T_WEIGHT, T_SCALE, T_SCALE2, T_INPUT };

static const float e2m1[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };

static float scalar(const ct_tref *r)
{
	float v;
	memcpy(&v, r->t->data, 4);
	return v;
}

static int produce_recip(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			 ct_error *err)
{
	(void)cv;
	float v = 1.0f / scalar(o->src);
	return emit(ctx, 0, &v, 4, err);
}

static int dequant(const ct_conv *cv, const ct_conv_module *m, float *out, ct_error *err)
{
	(void)cv;
	(void)err;
	const ct_tensor *w = m->t[T_WEIGHT]->t, *s = m->t[T_SCALE]->t;
	float s2 = scalar(m->t[T_SCALE2]);
	uint64_t sc = m->cols / 16;
	for (uint64_t r = 0; r < m->rows; r++)
		for (uint64_t c = 0; c < m->cols; c++) {
			uint8_t byte = w->data[r * (m->cols / 2) + c / 2];
			uint8_t q = c % 2 ? byte >> 4 : byte & 15u;
			float bs = ct_e4m3_to_f32(s->data[r * sc + c / 16]) * s2;
			float v = e2m1[q & 7u] * bs;
			out[r * m->cols + c] = q & 8u ? -v : v;
		}
	return CT_OK;
}

static int positive_scalar(const ct_conv *cv, const ct_tref *r, const char *module,
			   const char *what, ct_error *err)
{
	if (!r)
		return ct_fail(err, CT_EINPUT, "%s: %s.%s: missing (its weight_scale_2 is there)",
			       cv->ck->shard_names[0], module, what);
	if (r->t->dtype != CT_F32 || r->t->nelem != 1 || r->t->ndim > 1)
		return ct_fail(err, CT_EINPUT, "%s: %s.%s: %s with %" PRIu64 " elements (expected one "
			       "F32)", cv->ck->shard_names[r->shard], module, what,
			       ct_dtype_name(r->t->dtype), r->t->nelem);
	float v = scalar(r);
	if (!isfinite(v) || !(v > 0) || !isfinite(1.0f / v))
		return ct_fail(err, CT_EINPUT, "%s: %s.%s: %g (expected finite, > 0, with a finite "
			       "reciprocal)", cv->ck->shard_names[r->shard], module, what, (double)v);
	return CT_OK;
}

static int nvfp4_module(ct_conv *cv, const char *module, int scheme, ct_error *err)
{
	ct_conv_module *m;
	int idx = ct_conv_add_module(cv, module, &m, err);
	if (idx < 0)
		return -idx;
	m->bits = 4;
	m->sym = true;
	m->exact = false;
	m->scheme = scheme;
	m->group_size = 16;
	m->dequant = dequant;
	const ct_tref *w = m->t[T_WEIGHT] = ct_conv_find(cv, module, "weight");
	const ct_tref *s = m->t[T_SCALE] = ct_conv_find(cv, module, "weight_scale");
	m->t[T_SCALE2] = ct_conv_find(cv, module, "weight_scale_2");
	m->t[T_INPUT] = ct_conv_find(cv, module, "input_scale");
	if (!m->t[T_SCALE2])
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", module);
	if (!w || w->t->dtype != CT_U8 || w->t->ndim != 2 || w->t->nelem == 0 ||
	    (w->t->shape[1] * 2) % 16 != 0)
		return ct_fail(err, CT_EINPUT, "%s: %s.weight: %s (expected U8 [out, in/2] with in a "
			       "multiple of 16)", cv->ck->shard_names[w ? w->shard : 0], module,
			       w ? ct_dtype_name(w->t->dtype) : "missing");
	m->rows = w->t->shape[0];
	m->cols = w->t->shape[1] * 2;
	m->n_groups = m->cols / 16;
	uint64_t ss[2] = { m->rows, m->n_groups };
	int rc = ct_conv_expect(cv, s, module, "weight_scale", CT_F8_E4M3, 2, ss, err);
	if (!rc)
		rc = positive_scalar(cv, m->t[T_SCALE2], module, "weight_scale_2", err);
	if (!rc)
		rc = positive_scalar(cv, m->t[T_INPUT], module, "input_scale", err);
	if (rc)
		return rc;
	const ct_tensor *s2 = m->t[T_SCALE2]->t, *in = m->t[T_INPUT]->t;
	rc = ct_conv_add_out(cv, (size_t)idx, "weight_packed", CT_U8, 2, w->t->shape, w,
			     ct_conv_copy_bytes, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", CT_F8_E4M3, 2, ss, s,
				     ct_conv_copy_bytes, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_global_scale", CT_F32, s2->ndim,
				     s2->shape, m->t[T_SCALE2], produce_recip, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "input_global_scale", CT_F32, in->ndim,
				     in->shape, m->t[T_INPUT], produce_recip, err);
	m->mapping = rc ? NULL : strdup("ModelOpt NVFP4 -> nvfp4-pack-quantized (codes and block "
					"scales kept, global scales inverted)");
	return rc ? rc : m->mapping ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

/* vLLM fuses q/k/v and gate/up with one global scale: partners must share
 * theirs, or the fused layer would rescale some of them. */
/* ModelOpt exports the FP8 KV-cache scales on the projections
 * (self_attn.k_proj.k_scale); compressed-tensors keeps them on the
 * attention module (self_attn.k_scale), where transformers and vLLM's
 * compressed-tensors path look. Every attention needs both. */
static int kv_scales(ct_conv *cv, ct_error *err)
{
	static const char *const proj[2] = { "k_proj", "v_proj" };
	static const char *const scale[2] = { "k_scale", "v_scale" };
	const ct_checkpoint *ck = cv->ck;
	char attn[4096], name[4200];
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		static const char kw[] = ".k_proj.weight";
		size_t kl = sizeof(kw) - 1;
		if (t->name_len <= kl || strcmp(t->name + t->name_len - kl, kw) != 0 ||
		    t->name_len - kl >= sizeof(attn))
			continue;
		memcpy(attn, t->name, t->name_len - kl);
		attn[t->name_len - kl] = '\0';
		for (int k = 0; k < 2; k++) {
			snprintf(name, sizeof(name), "%s.%s", attn, scale[k]);
			if (ct_ckpt_find(ck, name))
				continue;
			snprintf(name, sizeof(name), "%s.%s.%s", attn, proj[k], scale[k]);
			const ct_tref *r = ct_ckpt_find(ck, name);
			if (!r)
				return ct_fail(err, CT_EINPUT, "%s: kv_cache_quant_algo FP8, but %s has "
					       "no %s (neither %s.%s nor %s)", cv->label, attn, scale[k],
					       attn, scale[k], name);
			snprintf(name, sizeof(name), "%s.%s", attn, scale[k]);
			int rc = ct_conv_rename(cv, r, name, err);
			if (rc)
				return rc;
		}
	}
	return CT_OK;
}

static int check_partners(ct_conv *cv, ct_error *err)
{
	for (size_t i = 0; i < cv->n_mods; i++) {
		const ct_conv_module *a = &cv->mods[i];
		for (size_t j = i + 1; j < cv->n_mods; j++) {
			const ct_conv_module *b = &cv->mods[j];
			if (!ct_conv_fused_pair(cv, i, j))
				continue;
			float x = scalar(a->t[T_SCALE2]), y = scalar(b->t[T_SCALE2]);
			if (memcmp(&x, &y, 4) != 0)
				return ct_fail(err, CT_EINPUT, "%s and %s: weight_scale_2 %.9g and %.9g "
					       "differ, but vLLM fuses them with one global scale "
					       "(ModelOpt exports share it): converting would change "
					       "their values", a->name, b->name, (double)x, (double)y);
			x = scalar(a->t[T_INPUT]);
			y = scalar(b->t[T_INPUT]);
			if (memcmp(&x, &y, 4) != 0)
				ct_strlist_addf(&cv->warnings, "%s and %s: input_scale %.9g and %.9g "
						"differ; vLLM uses one for the fused layer", a->name,
						b->name, (double)x, (double)y);
		}
	}
	return CT_OK;
}

static const char *algo_of(const ct_conv *cv)
{
	const char *a = ct_conv_str(json_object_get(cv->hfq, "quantization"), "quant_algo");
	return a ? a : ct_conv_str(cv->qcfg, "quant_algo");
}

static bool modelopt_detect(const json_t *q, const json_t *hfq)
{
	const char *m = ct_conv_str(q, "quant_method");
	const char *p = ct_conv_str(json_object_get(hfq, "producer"), "name");
	return (m && strcmp(m, "modelopt") == 0) || (!q && p && strcmp(p, "modelopt") == 0);
}

static int modelopt_plan(ct_conv *cv, ct_error *err)
{
	const char *algo = algo_of(cv);
	if (!algo)
		return ct_fail(err, CT_EINPUT, "%s: ModelOpt config without quant_algo", cv->label);
	for (size_t i = 0; i < cv->ck->n_tensors; i++) {
		const ct_tensor *t = cv->ck->tensors[i].t;
		if (t->name_len >= 16 && strcmp(t->name + t->name_len - 16, ".pre_quant_scale") == 0)
			return ct_fail(err, CT_EINPUT, "%s: %s: quant_algo %s: a pre_quant_scale "
				       "(per-input-channel activation scale) that compressed-tensors "
				       "has no field for; converting would drop it and change the "
				       "model", cv->ck->shard_names[cv->ck->tensors[i].shard], t->name,
				       algo);
	}
	if (strstr(algo, "_AWQ"))
		return ct_fail(err, CT_EINPUT, "%s: quant_algo %s: its linears carry a pre_quant_scale "
			       "that compressed-tensors has no field for; not convertible", cv->label,
			       algo);
	const char *kv = ct_conv_str(json_object_get(cv->hfq, "quantization"),
				     "kv_cache_quant_algo");
	if (kv && strcmp(kv, "FP8") == 0)
		cv->kv_cache_scheme = json_pack("{s:i, s:s, s:s, s:b, s:b}", "num_bits", 8, "type",
						"float", "strategy", "tensor", "dynamic", 0,
						"symmetric", 1);
	else if (kv)
		return ct_fail(err, CT_EINPUT, "%s: kv_cache_quant_algo %s: convert reads FP8 KV "
			       "cache scales only", cv->label, kv);
	if (cv->kv_cache_scheme) {
		int rc = kv_scales(cv, err);
		if (rc)
			return rc;
	}
	if (strcmp(algo, "FP8") == 0)
		return ct_fp8_tensor_plan_all(cv, true, err);
	if (strcmp(algo, "FP8_PER_CHANNEL_PER_TOKEN") == 0)
		return ct_fp8_channel_plan_all(cv, err);
	if (strcmp(algo, "NVFP4") != 0)
		return ct_fail(err, CT_EINPUT, "%s: quant_algo %s: convert reads ModelOpt NVFP4, FP8 "
			       "and FP8_PER_CHANNEL_PER_TOKEN", cv->label, algo);
	int64_t g;
	if (!ct_conv_int(json_object_get(cv->hfq, "quantization"), "group_size", 16, 1, 1 << 20,
			 &g) || g != 16)
		return ct_fail(err, CT_EINPUT, "%s: NVFP4 group_size must be 16", cv->label);
	json_t *w = json_pack("{s:i, s:s, s:s, s:i, s:b, s:b}", "num_bits", 4, "type", "float",
			      "strategy", "tensor_group", "group_size", 16, "symmetric", 1,
			      "dynamic", 0);
	json_t *a = json_pack("{s:i, s:s, s:s, s:i, s:b, s:s}", "num_bits", 4, "type", "float",
			      "strategy", "tensor_group", "group_size", 16, "symmetric", 1,
			      "dynamic", "local");
	int sc = ct_conv_scheme(cv, json_pack("{s:o, s:o, s:s}", "weights", w,
					      "input_activations", a, "format",
					      "nvfp4-pack-quantized"), err);
	if (sc < 0)
		return -sc;
	char **mods = NULL;
	size_t n = 0;
	int rc = ct_conv_modules_with(cv, ".weight_scale_2", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = nvfp4_module(cv, mods[i], sc, err);
	ct_conv_names_free(mods, n);
	if (!rc)
		rc = check_partners(cv, err);
	if (!rc && n)
		ct_strlist_addf(&cv->warnings, "NVFP4: codes and block scales are exact; the global "
				"scales are stored as F32 reciprocals, so values agree with ModelOpt's "
				"to a few F32 ulp of one per-layer scale, not bit for bit");
	return rc;
}

const ct_source ct_src_modelopt = {
	.name = "modelopt",
	.help = "NVIDIA ModelOpt NVFP4 and FP8 (hf_quant_config.json)",
	.detect = modelopt_detect,
	.plan = modelopt_plan,
};
