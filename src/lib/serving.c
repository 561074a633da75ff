/* serving.c - a checkpoint against vLLM's compressed-tensors loader (serving.h). */
#include "serving.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "modclass.h"
#include "plan.h"

#define NAME_MAX_LEN 4096
#define NO_GROUP (-1)
#define TIED_GROUP (-2)

/* ------------------------------------------------------------- findings --- */

const char *ct_severity_name(ct_severity s)
{
	return s == CT_SEV_ERROR ? "error" : s == CT_SEV_WRONG ? "wrong" : "note";
}

static const ct_vllm_rule *rule(const char *id)
{
	for (size_t i = 0; i < ct_vllm_n_rules; i++)
		if (strcmp(ct_vllm_rules[i].id, id) == 0)
			return &ct_vllm_rules[i];
	return NULL;
}

typedef struct ctx {
	const ct_checkpoint *ck;
	const ct_qconfig *cfg;
	const ct_serving_target *t;
	ct_serving_report *r;
	size_t cap;              /* of r->findings */
	bool oom;
} ctx;

static void add_finding(ctx *c, const char *id, bool target_dependent, const char *layer,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A finding of rule id; target_dependent findings are notes unless the
 * target (GPU, TP) was given, unverified rules are always notes. */
static void add_finding(ctx *c, const char *id, bool target_dependent, const char *layer,
			const char *fmt, ...)
{
	const ct_vllm_rule *ru = rule(id);
	if (!ru || c->oom)
		return;
	if (c->r->n_findings == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		ct_finding *g = realloc(c->r->findings, cap * sizeof(*g));
		if (!g) {
			c->oom = true;
			return;
		}
		c->r->findings = g;
		c->cap = cap;
	}
	ct_finding *g = c->r->findings;
	ct_finding *f = &g[c->r->n_findings];
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	f->rule = ru;
	f->severity = ru->unverified || target_dependent ? CT_SEV_NOTE : ru->severity;
	f->layer = strdup(layer ? layer : "(config)");
	f->message = strdup(buf);
	if (!f->layer || !f->message) {
		free(f->layer);
		free(f->message);
		c->oom = true;
		return;
	}
	c->r->n_findings++;
	if (f->severity != CT_SEV_NOTE)
		c->r->n_failed++;
}

/* ------------------------------------------------------------- dispatch --- */

/* What _get_scheme_from_parts picks for a config group. */
typedef struct scheme_choice {
	const char *scheme;      /* NULL: no scheme */
	const char *kernel;
	int min_sm;              /* minimum capability vLLM checks */
	int native_sm;           /* below it vLLM runs a fallback kernel (0: none) */
	const char *fallback;    /* that fallback */
	bool wna16;
	bool fp8_block;
} scheme_choice;

static bool is_float(const ct_qargs *a, int bits)
{
	return a && a->type == CT_QTYPE_FLOAT && a->num_bits == bits;
}

static bool is_int(const ct_qargs *a, int bits)
{
	return a && a->type == CT_QTYPE_INT && (bits == 0 || a->num_bits == bits);
}

static bool is_nvfp4(const ct_qargs *a)
{
	return is_float(a, 4) && a->strategy == CT_STRAT_TENSOR_GROUP && a->group_size == 16 &&
	       a->symmetric;
}

static bool channel_or_group(const ct_qargs *a)
{
	return a->strategy == CT_STRAT_CHANNEL || a->strategy == CT_STRAT_GROUP;
}

static bool activation_format(ct_format f)
{
	return f == CT_FMT_NAIVE || f == CT_FMT_INT || f == CT_FMT_FLOAT || f == CT_FMT_NVFP4;
}

static ct_format group_format(const ct_qconfig *cfg, const ct_qscheme *sc)
{
	return sc->format != CT_FMT_NONE ? sc->format : cfg->format;
}

static scheme_choice choose(const char *scheme, const char *kernel, int min_sm, int native_sm,
			    const char *fallback)
{
	return (scheme_choice){ .scheme = scheme, .kernel = kernel, .min_sm = min_sm,
				.native_sm = native_sm, .fallback = fallback };
}

/* The scheme of group g, with findings about the group itself. */
static scheme_choice dispatch(ctx *c, size_t g)
{
	const ct_qscheme *sc = &c->cfg->groups[g];
	const ct_qargs *w = sc->weights, *in = sc->input_activations,
		       *out = sc->output_activations;
	ct_format fmt = group_format(c->cfg, sc);
	scheme_choice ch = { 0 };
	char where[256];
	snprintf(where, sizeof(where), "config group %s", sc->name ? sc->name : "?");
	if ((activation_format(fmt) || in) && !in && w->type != CT_QTYPE_FLOAT) {
		add_finding(c, "vllm-int-weight-only-format", false, where, "int%d weight-only "
			    "quantization in %s: vLLM asserts float weights there", w->num_bits,
			    ct_format_name(fmt));
		return ch;
	}
	if (is_nvfp4(w)) {
		if (in && !is_nvfp4(in)) {
			add_finding(c, "vllm-nvfp4-input", false, where, "NVFP4 weights with %s%d "
				    "input activations: \"For NVFP4 weights, input quantization must "
				    "also be NVFP4 format, None for NVFP4A16\"",
				    in->type == CT_QTYPE_FLOAT ? "fp" : "int", in->num_bits);
			return ch;
		}
		ch = choose("CompressedTensorsW4A4Fp4", in ? "FlashInfer/CUTLASS FP4" :
				      "FlashInfer/CUTLASS FP4 (W4A16)", 75, 100, "Marlin FP4");
		return ch;
	}
	if (is_float(w, 4) && w->strategy == CT_STRAT_GROUP && w->group_size == 32 && w->symmetric)
		return choose("CompressedTensorsW4A4Mxfp4", "CUTLASS MXFP4", 80, 100,
					"Marlin / emulation (dequantized in torch)");
	if (is_float(w, 8) && w->strategy == CT_STRAT_GROUP && w->group_size == 32 && w->symmetric) {
		if (!w->has_scale_dtype || w->scale_dtype != CT_U8) {
			add_finding(c, "vllm-mxfp8-scale-dtype", false, where, "MXFP8 weights without "
				    "scale_dtype torch.uint8 fall through to NotImplementedError");
			return ch;
		}
		return choose("CompressedTensorsW8A8Mxfp8", "MXFP8", 0, 0, NULL);
	}
	bool w_static = w->dynamic == CT_DYN_FALSE;
	bool in_token_dyn8 = in && in->num_bits == 8 && in->strategy == CT_STRAT_TOKEN &&
			     in->dynamic == CT_DYN_TRUE && in->symmetric;
	/* _get_scheme_from_parts matches sm90 exactly here, and does not look at
	 * the input's type */
	bool w4a8 = is_int(w, 4) && w->strategy == CT_STRAT_GROUP && in_token_dyn8;
	bool int8_in = in && is_int(in, 8);
	if (w4a8 && (c->t->sm == 90 || (c->t->sm == 0 && !int8_in))) {
		add_finding(c, "vllm-capability", true, where, "4-bit group weights with 8-bit "
			    "dynamic per-token input: W4A8Fp8 on sm90 exactly (by reading)%s",
			    int8_in ? "; W4A8Int elsewhere" : "; no scheme on other GPUs");
		return choose("CompressedTensorsW4A8Fp8", "CUTLASS W4A8 (sm90)", 90, 0, NULL);
	}
	if (w4a8 && c->t->sm == 0)
		add_finding(c, "vllm-capability", true, where, "on sm90 exactly vLLM takes "
			    "W4A8Fp8 for these weights, whatever the input type (by reading)");
	bool in_static_int8_tensor = in && is_int(in, 8) && in->strategy == CT_STRAT_TENSOR &&
				     in->dynamic == CT_DYN_FALSE;
	if (is_int(w, 0) && channel_or_group(w) && w_static && (fmt == CT_FMT_PACK ||
	    fmt == CT_FMT_INT) && in_static_int8_tensor && out && is_int(out, 8) &&
	    out->strategy == CT_STRAT_TENSOR && out->dynamic == CT_DYN_FALSE)
		return choose("CompressedTensorsWNA8O8Int", "", 0, 0, NULL);
	if (!in && is_int(w, 0) && channel_or_group(w) && w_static && fmt == CT_FMT_PACK) {
		if (!w->symmetric && w->num_bits != 4 && w->num_bits != 8) {
			add_finding(c, "vllm-wna16-asym-bits", false, where, "\"Asymmetric "
				    "quantization not supported for num_bits = %d\"", w->num_bits);
			return ch;
		}
		if (w->num_bits != 4 && w->num_bits != 8)
			add_finding(c, "vllm-dispatch", true, where, "int%d weight-only: builds before "
				    "#45185 take only 4 and 8 bits; newer ones pack 2 to 8",
				    w->num_bits);
		bool marlin = w->strategy == CT_STRAT_CHANNEL || w->group_size == 32 ||
			      w->group_size == 64 || w->group_size == 128;
		ch = choose("CompressedTensorsWNA16", marlin ? "Marlin WNA16" :
				      "a non-Marlin WNA16 kernel [unverified]", 75, 0, NULL);
		ch.wna16 = true;
		return ch;
	}
	if (activation_format(fmt)) {
		bool w_fp8 = is_float(w, 8) && w->symmetric && w_static &&
			     (w->strategy == CT_STRAT_TENSOR || w->strategy == CT_STRAT_CHANNEL ||
			      w->strategy == CT_STRAT_BLOCK);
		if (w_fp8 && (!in || (is_float(in, 8) && (in->dynamic != CT_DYN_FALSE ||
							  (in->symmetric &&
							   in->strategy == CT_STRAT_TENSOR))))) {
			ch = in ? choose("CompressedTensorsW8A8Fp8", "CUTLASS FP8", 80, 89,
						   "Marlin W8A16Fp8 (weights only)") :
				  choose("CompressedTensorsW8A16Fp8", "Marlin FP8", 80, 0,
						   NULL);
			ch.fp8_block = w->strategy == CT_STRAT_BLOCK;
			return ch;
		}
		bool w_int8 = is_int(w, 8) && w->symmetric &&
			      (w->strategy == CT_STRAT_TENSOR || w->strategy == CT_STRAT_CHANNEL);
		if (w_int8 && (in_static_int8_tensor || (in_token_dyn8 && is_int(in, 8))))
			return choose("CompressedTensorsW8A8Int8", "CUTLASS INT8", 75, 0,
						NULL);
		if (is_int(w, 4) && in_token_dyn8 && is_int(in, 8))
			return choose("CompressedTensorsW4A8Int", "", 0, 0, NULL);
	}
	char in_text[64] = "none";
	if (in)
		snprintf(in_text, sizeof(in_text), "%s%d %s%s", in->type == CT_QTYPE_FLOAT ? "fp" :
			 "int", in->num_bits, in->dynamic == CT_DYN_FALSE ? "static" : "dynamic",
			 in->strategy == CT_STRAT_TOKEN ? " per token" : "");
	add_finding(c, "vllm-dispatch", false, where, "%s%d %s weights, input %s, format %s: "
		    "\"No compressed-tensors compatible scheme was found\"",
		    w->type == CT_QTYPE_FLOAT ? "fp" : "int", w->num_bits,
		    w->symmetric ? "symmetric" : "asymmetric", in_text, ct_format_name(fmt));
	return ch;
}

/* -------------------------------------------------------------- modules --- */

typedef struct vmodule {
	char *name;
	ct_modclass cls;
	int group;               /* NO_GROUP, TIED_GROUP or the group resolved */
	bool ignored, compressed, fused3d;
	uint64_t rows, cols;
	bool has_gs;
	float gs;
	char *layer;             /* the vLLM layer it loads into */
	bool column_parallel;
	/* MoE experts */
	char *moe;               /* the FusedMoE layer ("...experts"), or NULL */
	long expert;
	int proj;                /* 0 gate/w1, 1 up/w3, 2 down/w2 */
} vmodule;

static const ct_tensor *find(const ct_checkpoint *ck, const char *module, const char *local)
{
	char name[NAME_MAX_LEN + 64];
	if (snprintf(name, sizeof(name), "%s.%s", module, local) >= (int)sizeof(name))
		return NULL;
	const ct_tref *r = ct_ckpt_find(ck, name);
	return r ? r->t : NULL;
}

static const char *leaf_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : name;
}

/* The vLLM layer a module loads into: q/k/v into qkv_proj, gate/up into
 * gate_up_proj, q_a/kv_a into fused_qkv_a_proj, experts into their FusedMoE. */
static int map_layer(vmodule *m)
{
	static const char *const fused[][3] = {
		{ "q_proj", "qkv_proj" }, { "k_proj", "qkv_proj" }, { "v_proj", "qkv_proj" },
		{ "gate_proj", "gate_up_proj" }, { "up_proj", "gate_up_proj" },
		{ "q_a_proj", "fused_qkv_a_proj" }, { "kv_a_proj_with_mqa", "fused_qkv_a_proj" },
	};
	static const char *const row_parallel[] = { "o_proj", "down_proj", "w2", "out_proj",
						    "dense", "fc2", "wo", "c_proj", NULL };
	const char *leaf = leaf_of(m->name);
	size_t plen = (size_t)(leaf - m->name);
	m->column_parallel = true;
	for (size_t i = 0; row_parallel[i]; i++)
		if (strcmp(leaf, row_parallel[i]) == 0)
			m->column_parallel = false;
	/* ...experts.<e>.<proj> */
	static const char *const projs[] = { "gate_proj", "up_proj", "down_proj", "w1", "w3", "w2" };
	static const int proj_of[] = { 0, 1, 2, 0, 1, 2 };
	const char *e = NULL;
	for (const char *p = strstr(m->name, ".experts."); p; p = strstr(p + 1, ".experts."))
		e = p;
	if (e) {
		char *end;
		long ex = strtol(e + 9, &end, 10);
		if (end != e + 9 && *end == '.') {
			for (size_t i = 0; i < 6; i++) {
				if (strcmp(end + 1, projs[i]) == 0) {
					m->moe = strndup(m->name, (size_t)(e - m->name) + 8);
					m->expert = ex;
					m->proj = proj_of[i];
					m->layer = m->moe ? strdup(m->moe) : NULL;
					return m->layer ? CT_OK : CT_EIO;
				}
			}
		}
	}
	for (size_t i = 0; i < sizeof(fused) / sizeof(fused[0]); i++) {
		if (strcmp(leaf, fused[i][0]) == 0) {
			size_t n = plen + strlen(fused[i][1]) + 1;
			m->layer = malloc(n);
			if (m->layer)
				snprintf(m->layer, n, "%.*s%s", (int)plen, m->name, fused[i][1]);
			return m->layer ? CT_OK : CT_EIO;
		}
	}
	m->layer = strdup(m->name);
	return m->layer ? CT_OK : CT_EIO;
}

static void free_modules(vmodule *ms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ms[i].name);
		free(ms[i].layer);
		free(ms[i].moe);
	}
	free(ms);
}

/* Every module holding a weight, dense or compressed, as vLLM sees it. */
static int collect(ctx *c, const ct_qmatch *qm, vmodule **out, size_t *n_out)
{
	const ct_checkpoint *ck = c->ck;
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	vmodule *ms = calloc(ck->n_tensors + 1, sizeof(vmodule));
	if (!ms)
		return CT_EIO;
	size_t n = 0;
	char name[NAME_MAX_LEN];
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[ck->by_name[i]].t;
		if (!ct_module_of(t->name, name, sizeof(name)))
			continue;
		const char *local = leaf_of(t->name);
		bool weight = strcmp(local, "weight") == 0;
		bool packed = strcmp(local, "weight_packed") == 0;
		bool sparse = strcmp(local, "compressed") == 0;
		/* one entry per module: from its weight, else its packed weight */
		if (!weight && !packed && !sparse)
			continue;
		if (!weight && find(ck, name, "weight"))
			continue;
		if (sparse && (packed || find(ck, name, "weight_packed")))
			continue;
		vmodule *m = &ms[n];
		const ct_tensor *scale = find(ck, name, "weight_scale");
		m->compressed = scale != NULL || packed || sparse;
		int rank = m->compressed ? 2 : t->ndim;
		m->fused3d = m->compressed && t->ndim == 3;
		m->cls = ct_module_class(name, rank, &arch);
		if (!(m->name = strdup(name)) || map_layer(m) != CT_OK) {
			free_modules(ms, n + 1);
			return CT_EIO;
		}
		const ct_tensor *shape = find(ck, name, "weight_shape");
		if (shape && shape->nelem == 2 && ct_dtype_is_int(shape->dtype)) {
			m->rows = (uint64_t)ct_load_i64(shape->dtype, shape->data, 0);
			m->cols = (uint64_t)ct_load_i64(shape->dtype, shape->data, 1);
		} else if (t->ndim >= 2) {
			m->rows = t->shape[t->ndim - 2];
			m->cols = t->shape[t->ndim - 1] * (packed && t->dtype == CT_U8 ? 2 : 1);
		}
		const ct_tensor *gs = find(ck, name, "weight_global_scale");
		if (gs && gs->dtype == CT_F32 && gs->nelem == 1) {
			memcpy(&m->gs, gs->data, 4);
			m->has_gs = true;
		}
		m->ignored = ct_qmatch_ignored(qm, name, m->cls);
		ct_error tie;
		if (ct_qmatch_resolve(qm, name, m->cls, &m->group, &tie) != CT_OK)
			m->group = TIED_GROUP;
		n++;
	}
	*out = ms;
	*n_out = n;
	return CT_OK;
}

static bool quantizes(const ctx *c, const vmodule *m)
{
	return m->group >= 0 && c->cfg->groups[m->group].weights &&
	       ct_modclass_quantizable(m->cls);
}

/* -------------------------------------------------------------- checks --- */

static const char *group_name(const ctx *c, int g)
{
	return g >= 0 ? c->cfg->groups[g].name : g == TIED_GROUP ? "(ambiguous)" : "none";
}

static void check_config(ctx *c, scheme_choice *choice)
{
	const ct_qconfig *cfg = c->cfg;
	if (cfg->sparsity && cfg->sparsity->format != CT_FMT_DENSE)
		add_finding(c, "vllm-sparsity", false, NULL, "sparsity_config %s: \"Sparsity support "
			    "has been removed from compressed-tensors\"",
			    ct_format_name(cfg->sparsity->format));
	const json_t *kv = cfg->kv_cache_scheme;
	if (kv && json_is_object(kv)) {
		const char *type = json_string_value(json_object_get(kv, "type"));
		const char *strat = json_string_value(json_object_get(kv, "strategy"));
		json_int_t bits = json_integer_value(json_object_get(kv, "num_bits"));
		const json_t *sym = json_object_get(kv, "symmetric");
		bool ok = type && strcmp(type, "float") == 0 && bits == 8 &&
			  (!strat || strcmp(strat, "tensor") == 0 || strcmp(strat, "attn_head") == 0) &&
			  (!sym || json_is_true(sym));
		if (!ok)
			add_finding(c, "vllm-kv-cache", false, NULL, "kv_cache_scheme %s%" JSON_INTEGER_FORMAT
				    " %s%s: vLLM raises NotImplementedError", type ? type : "?", bits,
				    strat ? strat : "?", sym && !json_is_true(sym) ? " asymmetric" : "");
	}
	for (size_t g = 0; g < cfg->n_groups; g++) {
		const ct_qscheme *sc = &cfg->groups[g];
		bool attention = sc->n_targets > 0;
		for (size_t k = 0; k < sc->n_targets; k++) {
			size_t l = strlen(sc->targets[k]);
			attention = attention && l >= 9 &&
				    strcmp(sc->targets[k] + l - 9, "Attention") == 0;
		}
		if (attention) {
			add_finding(c, "vllm-attention-group", false, NULL, "config group %s targets "
				    "only attention modules: vLLM drops it with a warning", sc->name);
			continue;
		}
		if (sc->weights)
			choice[g] = dispatch(c, g);
	}
}

static void check_capability(ctx *c, const scheme_choice *choice)
{
	for (size_t g = 0; g < c->cfg->n_groups; g++) {
		const scheme_choice *ch = &choice[g];
		if (!ch->scheme || !ch->min_sm)
			continue;
		char where[256];
		snprintf(where, sizeof(where), "config group %s", c->cfg->groups[g].name);
		int sm = c->t->sm;
		if (!sm) {
			add_finding(c, "vllm-capability", true, where, "%s needs sm%d or newer",
				    ch->scheme, ch->min_sm);
			if (ch->native_sm)
				add_finding(c, "vllm-capability", true, where, "below sm%d vLLM runs %s "
					    "instead of %s (slower)", ch->native_sm, ch->fallback,
					    ch->kernel);
			continue;
		}
		if (sm < ch->min_sm)
			add_finding(c, "vllm-capability", false, where, "\"Quantization scheme is not "
				    "supported for the current GPU. Min capability: %d. Current "
				    "capability: %d.\" (%s)", ch->min_sm, sm, ch->scheme);
		else if (ch->native_sm && sm < ch->native_sm)
			add_finding(c, "vllm-capability", true, where, "on sm%d vLLM runs %s instead "
				    "of %s (slower)", sm, ch->fallback, ch->kernel);
		if (ch->fp8_block && ch->native_sm && sm < ch->native_sm)
			add_finding(c, "vllm-capability", true, where, "the stored W8A16Fp8 fallback "
				    "takes only channel and tensor weights, not blocks [unverified for "
				    "newer builds]");
	}
}

/* Shards of a fused layer must agree; NVFP4 q/k/v should share a scale. */
/* Modules in layer order, so that the shards of one vLLM layer and the
 * experts of one MoE block are neighbours. */
static int cmp_layer(const void *x, const void *y)
{
	const vmodule *a = x, *b = y;
	int k = strcmp(a->layer, b->layer);
	return k ? k : strcmp(a->name, b->name);
}

/* The end of the run of modules starting at i that share its layer. */
static size_t layer_end(const vmodule *ms, size_t n, size_t i)
{
	size_t j = i + 1;
	while (j < n && strcmp(ms[j].layer, ms[i].layer) == 0)
		j++;
	return j;
}

/* Shards of a fused layer must agree; NVFP4 q/k/v should share a scale. */
static void check_fused(ctx *c, vmodule *ms, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t end = layer_end(ms, n, i);
		const vmodule *b = &ms[i];
		bool reported = false, scale_reported = false;
		for (size_t k = i + 1; k < end && !b->moe; k++) {
			const vmodule *a = &ms[k];
			bool differ = a->compressed != b->compressed || a->ignored != b->ignored ||
				      a->group != b->group;
			if (differ && !reported) {
				reported = true;
				add_finding(c, "vllm-fused-mixed", false, a->layer, "%s is %s (group %s) "
					    "but %s is %s (group %s): \"vLLM requires all to use the same "
					    "scheme\"", leaf_of(b->name), b->compressed ? "quantized" :
					    b->ignored ? "ignored" : "dense", group_name(c, b->group),
					    leaf_of(a->name), a->compressed ? "quantized" : a->ignored ?
					    "ignored" : "dense", group_name(c, a->group));
			} else if (!differ && !scale_reported && a->has_gs && b->has_gs &&
				   a->gs != b->gs && strstr(a->layer, "qkv_proj")) {
				scale_reported = true;
				add_finding(c, "vllm-nvfp4-qkv-global-scale", false, a->layer, "%s has "
					    "global scale %g, %s %g", leaf_of(b->name), (double)b->gs,
					    leaf_of(a->name), (double)a->gs);
			}
		}
		i = end;
	}
}

static bool is_router(const vmodule *m)
{
	const char *leaf = leaf_of(m->name);
	size_t plen = (size_t)(leaf - m->name);
	if (strcmp(leaf, "router") == 0 || strcmp(leaf, "shared_expert_gate") == 0)
		return true;
	return strcmp(leaf, "gate") == 0 && plen >= 4 &&
	       (strncmp(m->name + plen - 4, "mlp.", 4) == 0 ||
		(plen >= 17 && strncmp(m->name + plen - 17, "block_sparse_moe.", 17) == 0));
}

static void check_modules(ctx *c, vmodule *ms, size_t n, bool has_experts, const scheme_choice *choice)
{
	bool class_linear = false;
	size_t unmatched = 0;
	const char *first_unmatched = NULL;
	for (size_t g = 0; g < c->cfg->n_groups; g++)
		for (size_t k = 0; k < c->cfg->groups[g].n_targets; k++)
			class_linear = class_linear || strcmp(c->cfg->groups[g].targets[k], "Linear") == 0;
	for (size_t i = 0; i < n; i++) {
		vmodule *m = &ms[i];
		if (m->fused3d)
			add_finding(c, "vllm-moe-fused-3d", false, m->name, "quantized 3-D expert "
				    "tensors: vLLM maps per-expert 2-D names only (KeyError)");
		if (has_experts && is_router(m)) {
			if (m->compressed)
				add_finding(c, "vllm-router", false, m->name, "the router is quantized on "
					    "disk: DeepSeek's gate asserts no quantization, gpt-oss's "
					    "router and shared_expert_gate are plain Linear layers");
			else if (quantizes(c, m) && !m->ignored)
				add_finding(c, "vllm-router", false, m->name, "the router is dense but the "
					    "targets reach it (group %s): vLLM builds a quantized layer "
					    "and looks for %s.weight_packed", group_name(c, m->group),
					    m->name);
			continue;
		}
		if (m->cls == CT_MOD_EMBEDDING && m->compressed) {
			bool wna16 = m->group >= 0 && choice[m->group].wna16;
			add_finding(c, "vllm-embedding", !wna16 ? false : true, m->name, wna16 ?
				    "a quantized embedding loads only in vLLM builds with #44340 "
				    "(2026-06)" : "\"compressed-tensors embeddings only support "
				    "weight-only INT group/channel (WNA16) quantization\"");
			continue;
		}
		if (m->compressed && !m->fused3d && !quantizes(c, m) && m->group != TIED_GROUP) {
			add_finding(c, "vllm-compressed-untargeted", false, m->name, "stored compressed, "
				    "but %s: vLLM builds it unquantized and finds no parameter for "
				    "its compressed tensors", m->ignored ? "the ignore list names it" :
				    "no config group targets it");
			continue;
		}
		if (m->cls != CT_MOD_LINEAR || m->compressed)
			continue;
		if (quantizes(c, m))
			add_finding(c, "vllm-dense-targeted", false, m->name, "dense, but config group "
				    "%s targets it: vLLM builds a quantized layer and finds no "
				    "weight_packed (KeyError)", group_name(c, m->group));
		else if (m->group == NO_GROUP && !m->ignored && !class_linear && !m->moe &&
			 !unmatched++)
			first_unmatched = m->name;
	}
	if (unmatched)
		add_finding(c, "vllm-unmatched-linear", false, first_unmatched, "%zu Linear "
			    "layer%s (first %s) that no target and no ignore entry names",
			    unmatched, unmatched == 1 ? "" : "s", first_unmatched);
}

static int scheme_of(const ctx *c, const vmodule *m)
{
	return m->compressed || quantizes(c, m) ? m->group : NO_GROUP;
}

static void check_moe(ctx *c, vmodule *ms, size_t n, const scheme_choice *choice)
{
	for (size_t i = 0; i < n;) {
		size_t end = layer_end(ms, n, i);
		const vmodule *m = &ms[i];
		if (!m->moe) {
			i = end;
			continue;
		}
		int ref[3] = { -3, -3, -3 };
		for (size_t j = i; j < end; j++)
			if (ms[j].expert == 0)
				ref[ms[j].proj] = scheme_of(c, &ms[j]);
		int want = ref[0] != -3 ? ref[0] : ref[1] != -3 ? ref[1] : ref[2];
		for (int p = 0; p < 3; p++)
			if (ref[p] != -3 && ref[p] != want) {
				add_finding(c, "vllm-moe-scheme", false, m->moe, "expert 0: %s and gate "
					    "resolve to groups %s and %s: \"All MoE projections need to "
					    "have same quantization scheme\"", p == 2 ? "down" : "up",
					    group_name(c, ref[p]), group_name(c, want));
				break;
			}
		size_t differ = 0, bad_wna16 = 0, bad_fp8 = 0;
		const char *first_differ = NULL;
		for (size_t j = i; j < end; j++) {
			const vmodule *x = &ms[j];
			int s = scheme_of(c, x);
			if (x->expert != 0 && s != want && !differ++)
				first_differ = x->name;
			if (s < 0)
				continue;
			const ct_qscheme *sc = &c->cfg->groups[s];
			const ct_qargs *w = sc->weights;
			if (choice[s].wna16 && (!w->symmetric || (w->num_bits != 4 && w->num_bits != 8))
			    && !bad_wna16++)
				add_finding(c, "vllm-moe-wna16", false, x->name, "int%d %s experts: "
					    "\"Only symmetric quantization is supported for MoE\" (4 or 8 "
					    "bits)", w->num_bits, w->symmetric ? "symmetric" : "asymmetric");
			const ct_qargs *in = sc->input_activations;
			if (is_float(w, 8) && w->strategy == CT_STRAT_CHANNEL && in &&
			    in->dynamic == CT_DYN_FALSE && !bad_fp8++)
				add_finding(c, "vllm-moe-fp8-static-channel", false, x->name, "\"For FP8 "
					    "Fused MoE layer, we require either per tensor or channelwise, "
					    "dynamic per token quantization\"");
		}
		/* gate and up of one expert are neighbours once sorted by name */
		for (size_t j = i; j + 1 < end; j++) {
			const vmodule *g = &ms[j], *u = &ms[j + 1];
			if (g->proj == 0 && u->proj == 1 && g->expert == u->expert && g->has_gs &&
			    u->has_gs && g->gs != u->gs)
				add_finding(c, "vllm-nvfp4-moe-global-scale", false, u->name, "global "
					    "scale %g, but gate_proj of expert %ld has %g: up is "
					    "dequantized with gate's", (double)u->gs, u->expert,
					    (double)g->gs);
		}
		if (differ)
			add_finding(c, "vllm-moe-experts-differ", false, m->moe, "%zu expert "
				    "projections (first %s) differ from expert 0's scheme", differ,
				    first_differ);
		i = end;
	}
}

/* Marlin's and FP8 block's divisibility by the tensor-parallel slice. */
static void check_tp(ctx *c, vmodule *ms, size_t n, const scheme_choice *choice)
{
	static const int sizes[] = { 1, 2, 4, 8 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		int tp = c->t->tp ? c->t->tp : sizes[k];
		size_t marlin_bad = 0, block_bad = 0;
		const char *marlin_first = NULL, *block_first = NULL;
		char why[128] = "", bwhy[128] = "";
		for (size_t i = 0; i < n; i++) {
			const vmodule *m = &ms[i];
			int g = scheme_of(c, m);
			if (g < 0 || !m->rows || !m->cols)
				continue;
			const ct_qargs *w = c->cfg->groups[g].weights;
			uint64_t out = m->column_parallel ? m->rows / (uint64_t)tp : m->rows;
			uint64_t in = m->column_parallel ? m->cols : m->cols / (uint64_t)tp;
			bool split_ok = m->column_parallel ? m->rows % (uint64_t)tp == 0 :
						     m->cols % (uint64_t)tp == 0;
			if (choice[g].wna16) {
				uint64_t gsz = w->strategy == CT_STRAT_GROUP ? (uint64_t)w->group_size : 0;
				bool ok = split_ok && out % 64 == 0 && in % 128 == 0 && (!gsz || in % gsz == 0);
				if (!ok && !marlin_bad++) {
					marlin_first = m->name;
					snprintf(why, sizeof(why), "out %" PRIu64 ", in %" PRIu64, out, in);
				}
			}
			if (choice[g].fp8_block && tp > 1) {
				uint64_t bn = (uint64_t)w->block[0], bk = (uint64_t)w->block[1];
				bool ok = split_ok && (m->column_parallel ? out % bn == 0 : in % bk == 0);
				if (!ok && !block_bad++) {
					block_first = m->name;
					snprintf(bwhy, sizeof(bwhy), "%s %" PRIu64 " per GPU, block %" PRIu64,
						 m->column_parallel ? "output" : "input",
						 m->column_parallel ? out : in,
						 m->column_parallel ? bn : bk);
				}
			}
		}
		bool judged = c->t->tp != 0;
		if (marlin_bad)
			add_finding(c, "vllm-marlin-shape", !judged, marlin_first, "at TP=%d, %zu "
				    "weight-only layer%s cannot run on Marlin (needs output %% 64, input "
				    "%% 128 and %% group per GPU; first: %s)", tp, marlin_bad,
				    marlin_bad == 1 ? "" : "s", why);
		if (block_bad)
			add_finding(c, "vllm-fp8-block-tp", !judged, block_first, "at TP=%d, %zu "
				    "layer%s: \"is not divisible by weight quantization block\" (first: "
				    "%s)", tp, block_bad, block_bad == 1 ? "" : "s", bwhy);
		if (judged)
			break;
	}
}

static int add_kernels(ctx *c, const scheme_choice *choice)
{
	for (size_t g = 0; g < c->cfg->n_groups; g++) {
		if (!choice[g].scheme)
			continue;
		ct_kernel_choice *k = realloc(c->r->kernels, (c->r->n_kernels + 1) * sizeof(*k));
		if (!k)
			return CT_EIO;
		c->r->kernels = k;
		k = &k[c->r->n_kernels++];
		k->group = strdup(c->cfg->groups[g].name);
		k->scheme = strdup(choice[g].scheme);
		const char *kern = choice[g].kernel;
		if (c->t->sm && choice[g].native_sm && c->t->sm < choice[g].native_sm)
			kern = choice[g].fallback;
		k->kernel = strdup(kern ? kern : "");
		if (!k->group || !k->scheme || !k->kernel)
			return CT_EIO;
	}
	return CT_OK;
}

int ct_serving_check_vllm(const ct_checkpoint *ck, const ct_qconfig *cfg,
			  const ct_serving_target *target, ct_serving_report **out, ct_error *err)
{
	*out = NULL;
	ct_serving_report *r = calloc(1, sizeof(*r));
	if (!r)
		return ct_fail(err, CT_EIO, "out of memory");
	static const ct_serving_target none;
	ct_qconfig empty;
	memset(&empty, 0, sizeof(empty));
	ctx c = { ck, cfg ? cfg : &empty, target ? target : &none, r, 0, false };
	ct_qmatch *qm = NULL;
	if (ct_qconfig_compile(c.cfg, &qm, err) != CT_OK) {
		ct_serving_report_free(r);
		return err->code == CT_EIO ? CT_EIO : ct_fail(err, CT_EINPUT, "%s", err->msg);
	}
	scheme_choice *choice = calloc(c.cfg->n_groups + 1, sizeof(*choice));
	vmodule *ms = NULL;
	size_t n = 0;
	int rc = choice ? collect(&c, qm, &ms, &n) : CT_EIO;
	size_t n_checked = n;
	if (!rc) {
		qsort(ms, n, sizeof(*ms), cmp_layer);
		/* without a config vLLM loads every layer unquantized: nothing applies */
		bool compressed = false;
		for (size_t i = 0; i < n && !compressed; i++)
			compressed = ms[i].compressed;
		if (!cfg && !compressed)
			n_checked = 0;
		bool experts = false;
		for (size_t i = 0; i < n && !experts; i++)
			experts = ms[i].moe != NULL;
		check_config(&c, choice);
		check_capability(&c, choice);
		check_fused(&c, ms, n_checked);
		check_modules(&c, ms, n_checked, experts, choice);
		check_moe(&c, ms, n_checked, choice);
		check_tp(&c, ms, n_checked, choice);
		rc = add_kernels(&c, choice);
		size_t layers = 0;
		for (size_t i = 0; i < n; i = layer_end(ms, n, i))
			layers++;
		r->n_layers = layers;
	}
	free_modules(ms, n);
	free(choice);
	ct_qmatch_free(qm);
	if (rc || c.oom) {
		ct_serving_report_free(r);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	*out = r;
	return CT_OK;
}

void ct_serving_report_free(ct_serving_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_findings; i++) {
		free(r->findings[i].layer);
		free(r->findings[i].message);
	}
	for (size_t i = 0; i < r->n_kernels; i++) {
		free(r->kernels[i].group);
		free(r->kernels[i].scheme);
		free(r->kernels[i].kernel);
	}
	free(r->findings);
	free(r->kernels);
	free(r);
}
