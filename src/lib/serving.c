/* serving.c - a checkpoint against vLLM's compressed-tensors loader (serving.h).
 *
 * The checkpoint is read as vLLM at ct_vllm_commit builds and loads it: its
 * modules mapped onto vLLM's layers (q/k/v into qkv_proj, gate/up into
 * gate_up_proj, experts into one FusedMoE), each layer's scheme resolved the
 * way CompressedTensorsConfig resolves it (vLLM's own matching, not the
 * library's), the scheme's constructor, kernel choice and parameters checked
 * for one GPU and tensor-parallel size at a time. Without --gpu or --tp every
 * GPU of a grid and TP 1, 2, 4, 8 are tried, and the verdict says where it
 * serves. The decisions are in vllm_rules.c, each with its vLLM source.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "serving.h"

#include <inttypes.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "modclass.h"
#include "plan.h"

#define NAME_MAX_LEN 4096
#define MSG_MAX 1024
/* GPUs tried without --gpu: Turing, Ampere (A100, A10), Ada, Hopper,
 * Blackwell data centre and consumer. */
static const int GRID_SM[] = { 75, 80, 86, 89, 90, 100, 120 };
static const int GRID_TP[] = { 1, 2, 4, 8 };
#define N_GRID_SM (sizeof(GRID_SM) / sizeof(GRID_SM[0]))
#define N_GRID_TP (sizeof(GRID_TP) / sizeof(GRID_TP[0]))
#define MAX_POINTS 64
#define MAX_PER_RULE 64          /* findings of one rule kept for one target */

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

/* ------------------------------------------------------------- families --- */

/* What a model family's vLLM loader does. Read from models/<family>.py:
 * load_weights (the stacked q/k/v, gate/up branch and the plain branch:
 * "if name not in params_dict: continue" skips a tensor silently, a bare
 * params_dict[name] raises KeyError), packed_modules_mapping (the fused
 * layers should_ignore_layer and find_matched_target expand), and the
 * router's quant_config. */
typedef struct family {
	const char *model_type;
	bool stacked_skips, other_skips;
	bool router_quantized;   /* the router is built with the model's quant_config */
	bool packs_gate_up;      /* packed_modules_mapping holds gate_up_proj */
	const char *loader;      /* for messages */
	bool experts_unmapped;   /* the loader maps no per-expert 2-D names */
} family;

static const family FAMILIES[] = {
	/* models/llama.py: LlamaModel.load_weights; LlamaForCausalLM.packed_modules_mapping */
	{ "llama", false, false, false, true, "models/llama.py: LlamaModel.load_weights", false },
	/* models/qwen2.py: Qwen2Model.load_weights (stacked raises, plain skips);
	 * qwen3.py: Qwen3Model derives from it */
	{ "qwen2", false, true, false, true, "models/qwen2.py: Qwen2Model.load_weights", false },
	{ "qwen3", false, true, false, true, "models/qwen2.py: Qwen2Model.load_weights", false },
	/* models/qwen3_moe.py: Qwen3MoeModel.load_weights skips unknown names in
	 * both branches; Qwen3MoeSparseMoeBlock.gate = ReplicatedLinear(quant_config=
	 * quant_config); packed_modules_mapping holds qkv_proj only */
	{ "qwen3_moe", true, true, true, false, "models/qwen3_moe.py: Qwen3MoeModel.load_weights", false },
	/* models/qwen2_moe.py: stacked skips, plain raises; gate quant_config=None */
	{ "qwen2_moe", true, false, false, false, "models/qwen2_moe.py: Qwen2MoeModel.load_weights", false },
	/* models/qwen3_next.py: both branches skip; gate quant_config=None */
	{ "qwen3_next", true, true, false, false, "models/qwen3_next.py: Qwen3NextModel.load_weights", false },
	/* models/mixtral.py: raises; gate quant_config=None */
	{ "mixtral", false, false, false, false, "models/mixtral.py: MixtralModel.load_weights", false },
	/* models/deepseek_v2.py: raises; GateLinear without quant_config;
	 * packed_modules_mapping gate_up_proj (+ fused_qkv_a_proj) */
	{ "deepseek_v2", false, false, false, true, "models/deepseek_v2.py: DeepseekV2Model.load_weights", false },
	{ "deepseek_v3", false, false, false, true, "models/deepseek_v2.py: DeepseekV2Model.load_weights", false },
	{ "kimi_k2", false, false, false, true, "models/deepseek_v2.py: DeepseekV2Model.load_weights", false },
	/* models/gpt_oss.py: GptOssModel._load_weights_other (compressed-tensors)
	 * reads fused w13_weight/w2_weight tensors only: per-expert names are not
	 * in params_dict and skipped; router quant_config=None */
	{ "gpt_oss", false, true, false, false, "models/gpt_oss.py: GptOssModel._load_weights_other",
	  true },
	/* models/llama4.py: router quant_config=None */
	{ "llama4", false, false, false, true, "models/llama4.py: Llama4Model.load_weights", false },
	{ "llama4_text", false, false, false, true, "models/llama4.py: Llama4Model.load_weights", false },
};

static const char *cfg_str(const json_t *cfg, const char *key)
{
	const char *s = json_string_value(json_object_get(cfg, key));
	if (!s)
		s = json_string_value(json_object_get(json_object_get(cfg, "text_config"), key));
	return s;
}

static json_int_t cfg_int(const json_t *cfg, const char *key)
{
	const json_t *v = json_object_get(cfg, key);
	if (!json_is_integer(v))
		v = json_object_get(json_object_get(cfg, "text_config"), key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static bool cfg_true(const json_t *cfg, const char *key)
{
	const json_t *v = json_object_get(cfg, key);
	if (!v)
		v = json_object_get(json_object_get(cfg, "text_config"), key);
	return json_is_true(v);
}

static const family *family_of(const json_t *cfg)
{
	const char *mt = cfg_str(cfg, "model_type");
	for (size_t i = 0; mt && i < sizeof(FAMILIES) / sizeof(FAMILIES[0]); i++)
		if (strcmp(mt, FAMILIES[i].model_type) == 0)
			return &FAMILIES[i];
	return &FAMILIES[0];   /* an unknown family is read as Llama's loader */
}

/* -------------------------------------------------------------- modules --- */

enum { LK_LINEAR, LK_LMHEAD, LK_EMBED, LK_ROUTER, LK_MOE, LK_OTHER };
enum { PAR_COL, PAR_ROW, PAR_REP };

typedef struct vmodule {
	char *name;
	unsigned params;         /* CT_PB bits of the tensors it holds */
	bool sparse;             /* sparse-bitmask tensors */
	bool compressed;         /* anything besides a dense weight */
	bool fused3d;
	ct_modclass cls;
	uint64_t rows, cols;
	bool has_gs;
	float gs;
	int lib_group;           /* the library's resolution: group, -1 none, -2 tied */
	bool lib_ignored;
	char *layer;             /* the vLLM layer it loads into */
	int shard;               /* index in the fused layer (q 0, k 1, v 2; gate 0, up 1) */
	char *moe;               /* the FusedMoE layer ("...experts"), or NULL */
	long expert;
	int proj;                /* 0 gate/w1, 1 up/w3, 2 down/w2 */
} vmodule;

typedef struct vlayer {
	const char *name;        /* = first module's layer */
	int kind, par;
	const char *cls;         /* vLLM class name, matched by class targets */
	size_t first, n;         /* its modules in the sorted array */
	bool fused;              /* more than one shard name maps here */
} vlayer;

static const char *leaf_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : name;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const struct { const char *shard, *fused; int idx; } FUSED[] = {
	{ "q_proj", "qkv_proj", 0 }, { "k_proj", "qkv_proj", 1 }, { "v_proj", "qkv_proj", 2 },
	{ "gate_proj", "gate_up_proj", 0 }, { "up_proj", "gate_up_proj", 1 },
	{ "q_a_proj", "fused_qkv_a_proj", 0 }, { "kv_a_proj_with_mqa", "fused_qkv_a_proj", 1 },
};
#define N_FUSED (sizeof(FUSED) / sizeof(FUSED[0]))

/* The vLLM layer of m: layers/linear.py QKVParallelLinear and
 * MergedColumnParallelLinear take q/k/v and gate/up, FusedMoE the experts
 * (layers/fused_moe/layer.py: make_expert_params_mapping). */
static int map_layer(vmodule *m)
{
	static const char *const projs[] = { "gate_proj", "up_proj", "down_proj", "w1", "w3", "w2" };
	static const int proj_of[] = { 0, 1, 2, 0, 1, 2 };
	const char *leaf = leaf_of(m->name);
	size_t plen = (size_t)(leaf - m->name);
	const char *e = NULL;
	for (const char *p = strstr(m->name, ".experts."); p; p = strstr(p + 1, ".experts."))
		e = p;
	if (e) {
		char *end;
		long ex = strtol(e + 9, &end, 10);
		if (end != e + 9 && *end == '.' && ex >= 0) {
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
	for (size_t i = 0; i < N_FUSED; i++) {
		if (strcmp(leaf, FUSED[i].shard) == 0) {
			size_t n = plen + strlen(FUSED[i].fused) + 1;
			m->layer = malloc(n);
			if (m->layer)
				snprintf(m->layer, n, "%.*s%s", (int)plen, m->name, FUSED[i].fused);
			m->shard = FUSED[i].idx;
			return m->layer ? CT_OK : CT_EIO;
		}
	}
	m->layer = strdup(m->name);
	return m->layer ? CT_OK : CT_EIO;
}

static void free_modules(vmodule *ms, size_t n)
{
	for (size_t i = 0; ms && i < n; i++) {
		free(ms[i].name);
		free(ms[i].layer);
		free(ms[i].moe);
	}
	free(ms);
}

static int param_of(const char *local)
{
	for (int p = 0; p < CT_P_COUNT; p++)
		if (strcmp(local, ct_vllm_param_name(p)) == 0)
			return p;
	return -1;
}

static bool sparse_local(const char *local)
{
	return strcmp(local, "compressed") == 0 || strcmp(local, "bitmask") == 0 ||
	       strcmp(local, "row_offsets") == 0;
}

typedef struct tent {
	const ct_tensor *t;
	size_t mlen;             /* module name length */
} tent;

static int cmp_tent(const void *x, const void *y)
{
	const tent *a = x, *b = y;
	size_t n = a->mlen < b->mlen ? a->mlen : b->mlen;
	int k = strncmp(a->t->name, b->t->name, n);
	if (k)
		return k;
	return a->mlen < b->mlen ? -1 : a->mlen > b->mlen;
}

static const ct_tensor *find(const ct_checkpoint *ck, const char *module, const char *local)
{
	char name[NAME_MAX_LEN + 64];
	if (snprintf(name, sizeof(name), "%s.%s", module, local) >= (int)sizeof(name))
		return NULL;
	const ct_tref *r = ct_ckpt_find(ck, name);
	return r ? r->t : NULL;
}

/* Every module holding a weight, dense or compressed, with the parameter
 * tensors it holds. */
static int collect(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_qmatch *qm,
		   vmodule **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	tent *ts = calloc(ck->n_tensors + 1, sizeof(*ts));
	if (!ts)
		return CT_EIO;
	size_t nt = 0;
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		const char *dot = strrchr(t->name, '.');
		if (!dot || dot == t->name)
			continue;
		if (param_of(dot + 1) < 0 && !sparse_local(dot + 1))
			continue;
		ts[nt].t = t;
		ts[nt].mlen = (size_t)(dot - t->name);
		nt++;
	}
	qsort(ts, nt, sizeof(*ts), cmp_tent);
	vmodule *ms = calloc(nt + 1, sizeof(*ms));
	if (!ms) {
		free(ts);
		return CT_EIO;
	}
	size_t n = 0;
	for (size_t i = 0; i < nt;) {
		size_t j = i + 1;
		while (j < nt && cmp_tent(&ts[i], &ts[j]) == 0)
			j++;
		vmodule *m = &ms[n];
		if (ts[i].mlen >= NAME_MAX_LEN || !(m->name = strndup(ts[i].t->name, ts[i].mlen))) {
			int rc = ts[i].mlen >= NAME_MAX_LEN ? CT_EINPUT : CT_EIO;
			free(ts);
			free_modules(ms, n + 1);
			return rc;
		}
		n++;
		const ct_tensor *w = NULL, *packed = NULL;
		for (size_t k = i; k < j; k++) {
			const char *local = ts[k].t->name + ts[k].mlen + 1;
			int p = param_of(local);
			if (p >= 0)
				m->params |= CT_PB(p);
			else
				m->sparse = true;
			if (p == CT_P_WEIGHT)
				w = ts[k].t;
			if (p == CT_P_PACKED)
				packed = ts[k].t;
		}
		m->compressed = m->sparse || (m->params & ~CT_PB(CT_P_WEIGHT)) != 0;
		const ct_tensor *main = w ? w : packed;
		int rank = main ? main->ndim : 2;
		m->fused3d = m->compressed && rank == 3;
		m->cls = ct_module_class(m->name, m->compressed ? 2 : rank, &arch);
		m->lib_ignored = qm && ct_qmatch_ignored(qm, m->name, m->cls);
		m->lib_group = -1;
		ct_error tie;
		if (qm && ct_qmatch_resolve(qm, m->name, m->cls, &m->lib_group, &tie) != CT_OK)
			m->lib_group = -2;
		const ct_tensor *shape = find(ck, m->name, "weight_shape");
		if (shape && shape->nelem == 2 && ct_dtype_is_int(shape->dtype)) {
			int64_t r = ct_load_i64(shape->dtype, shape->data, 0);
			int64_t c = ct_load_i64(shape->dtype, shape->data, 1);
			m->rows = r > 0 ? (uint64_t)r : 0;
			m->cols = c > 0 ? (uint64_t)c : 0;
		} else if (main && main->ndim >= 2) {
			m->rows = main->shape[main->ndim - 2];
			uint64_t c = main->shape[main->ndim - 1];
			if (main == packed && packed->dtype == CT_U8)
				c *= 2;
			else if (main == packed && packed->dtype == CT_I32) {
				int bits = 4;
				if (cfg && m->lib_group >= 0 && cfg->groups[m->lib_group].weights)
					bits = cfg->groups[m->lib_group].weights->num_bits;
				c *= bits > 0 && bits <= 32 ? (uint64_t)(32 / bits) : 8;
			}
			m->cols = c;
		}
		const ct_tensor *gs = find(ck, m->name, "weight_global_scale");
		if (gs && gs->dtype == CT_F32 && gs->nelem == 1) {
			memcpy(&m->gs, gs->data, 4);
			m->has_gs = true;
		}
		if (map_layer(m) != CT_OK) {
			free(ts);
			free_modules(ms, n);
			return CT_EIO;
		}
		i = j;
	}
	free(ts);
	*out = ms;
	*n_out = n;
	return CT_OK;
}

/* Modules in layer order, shards in vLLM's order (q, k, v; gate, up). */
static int cmp_layer(const void *x, const void *y)
{
	const vmodule *a = x, *b = y;
	int k = strcmp(a->layer, b->layer);
	if (k)
		return k;
	if (a->shard != b->shard)
		return a->shard < b->shard ? -1 : 1;
	return strcmp(a->name, b->name);
}

static bool is_router_name(const char *name)
{
	const char *leaf = leaf_of(name);
	size_t plen = (size_t)(leaf - name);
	if (strcmp(leaf, "router") == 0 || strcmp(leaf, "shared_expert_gate") == 0)
		return true;
	return strcmp(leaf, "gate") == 0 && plen >= 4 &&
	       (strncmp(name + plen - 4, "mlp.", 4) == 0 ||
		(plen >= 17 && strncmp(name + plen - 17, "block_sparse_moe.", 17) == 0));
}

static bool row_parallel_leaf(const char *leaf)
{
	/* layers/linear.py: RowParallelLinear, as the model files build o_proj,
	 * down_proj and their kin */
	static const char *const row[] = { "o_proj", "down_proj", "w2", "out_proj", "dense", "fc2",
					   "wo", "c_proj", "dense_4h_to_h", NULL };
	for (size_t i = 0; row[i]; i++)
		if (strcmp(leaf, row[i]) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------- vLLM's matching --- */

typedef struct vtarget {
	const char *text;
	pcre2_code *re;          /* "re:" targets */
	int group;
} vtarget;

typedef struct vmatch {
	vtarget *t;
	size_t n;
	vtarget *ig;             /* ignore entries (group unused) */
	size_t n_ig;
	const char *fused_keys[3];
	const char *const *fused_parts[3];
	size_t n_fused;
} vmatch;

static pcre2_code *compile_re(const char *text)
{
	if (strncmp(text, "re:", 3) != 0)
		return NULL;
	int code;
	PCRE2_SIZE off;
	return pcre2_compile((PCRE2_SPTR)(text + 3), PCRE2_ZERO_TERMINATED,
			     PCRE2_ANCHORED | PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
}

static bool re_match(const pcre2_code *re, const char *s)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md)
		return false;
	int rc = pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, PCRE2_ANCHORED, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* utils.py: _is_equal_or_regex_match (check_contains: the target, lowered,
 * inside the value, lowered: how class targets meet vLLM class names) */
static bool eq_or_re(const vtarget *t, const char *value, bool contains)
{
	if (strncmp(t->text, "re:", 3) == 0)
		return t->re && re_match(t->re, value);
	if (!contains)
		return strcmp(t->text, value) == 0;
	size_t a = strlen(value), b = strlen(t->text);
	for (size_t i = 0; b <= a && i + b <= a; i++)
		if (strncasecmp(value + i, t->text, b) == 0)
			return true;
	return false;
}

static void vmatch_free(vmatch *v)
{
	for (size_t i = 0; i < v->n; i++)
		pcre2_code_free(v->t[i].re);
	for (size_t i = 0; i < v->n_ig; i++)
		pcre2_code_free(v->ig[i].re);
	free(v->t);
	free(v->ig);
}

static bool attention_only(const ct_qscheme *sc)
{
	return sc->n_targets == 1 && ends_with(sc->targets[0], "Attention");
}

/* compressed_tensors.py: from_config drops attention-only groups, then
 * _quantization_scheme_map_from_config maps each target to its group (a later
 * group's same target replaces the value, the key keeps its place), and
 * get_moe_method's _add_fused_moe_to_target_scheme_map appends "FusedMoE"
 * for "Linear" (class name of RoutedExperts = FusedMoE). */
static int vmatch_build(const ct_qconfig *cfg, bool qkv_packed, bool gate_up_packed, bool mla,
			vmatch *v)
{
	memset(v, 0, sizeof(*v));
	size_t cap = 1;
	for (size_t g = 0; g < cfg->n_groups; g++)
		cap += cfg->groups[g].n_targets;
	v->t = calloc(cap, sizeof(*v->t));
	v->ig = calloc(cfg->n_ignore + 1, sizeof(*v->ig));
	if (!v->t || !v->ig)
		return CT_EIO;
	int linear = -1;
	bool fusedmoe = false;
	for (size_t g = 0; g < cfg->n_groups; g++) {
		const ct_qscheme *sc = &cfg->groups[g];
		if (attention_only(sc) || !sc->weights)
			continue;
		for (size_t k = 0; k < sc->n_targets; k++) {
			size_t i = 0;
			while (i < v->n && strcmp(v->t[i].text, sc->targets[k]) != 0)
				i++;
			if (i == v->n) {
				v->t[i].text = sc->targets[k];
				v->t[i].re = compile_re(sc->targets[k]);
				v->n++;
			}
			v->t[i].group = (int)g;
			if (strcmp(sc->targets[k], "Linear") == 0)
				linear = (int)g;
			if (strcmp(sc->targets[k], "FusedMoE") == 0)
				fusedmoe = true;
		}
	}
	if (linear >= 0 && !fusedmoe) {
		v->t[v->n].text = "FusedMoE";
		v->t[v->n].group = linear;
		v->n++;
	}
	for (size_t i = 0; i < cfg->n_ignore; i++) {
		v->ig[i].text = cfg->ignore[i];
		v->ig[i].re = compile_re(cfg->ignore[i]);
	}
	v->n_ig = cfg->n_ignore;
	static const char *const qkv[] = { "q_proj", "k_proj", "v_proj", NULL };
	static const char *const gu[] = { "gate_proj", "up_proj", NULL };
	static const char *const qa[] = { "q_a_proj", "kv_a_proj_with_mqa", NULL };
	if (qkv_packed) {
		v->fused_keys[v->n_fused] = "qkv_proj";
		v->fused_parts[v->n_fused++] = qkv;
	}
	if (gate_up_packed) {
		v->fused_keys[v->n_fused] = "gate_up_proj";
		v->fused_parts[v->n_fused++] = gu;
	}
	if (mla) {
		v->fused_keys[v->n_fused] = "fused_qkv_a_proj";
		v->fused_parts[v->n_fused++] = qa;
	}
	return CT_OK;
}

/* name with its last occurrence... all occurrences of from replaced by to
 * (str.replace) */
static bool replace_all(const char *name, const char *from, const char *to, char *out, size_t n)
{
	size_t used = 0, fl = strlen(from), tl = strlen(to);
	for (const char *p = name; *p;) {
		if (fl && strncmp(p, from, fl) == 0) {
			if (used + tl >= n)
				return false;
			memcpy(out + used, to, tl);
			used += tl;
			p += fl;
		} else {
			if (used + 1 >= n)
				return false;
			out[used++] = *p++;
		}
	}
	out[used] = '\0';
	return true;
}

static bool ignored_by(const vmatch *v, const char *name)
{
	for (size_t i = 0; i < v->n_ig; i++)
		if (eq_or_re(&v->ig[i], name, false))
			return true;
	return false;
}

static int fused_key(const vmatch *v, const char *name, bool suffix)
{
	const char *leaf = leaf_of(name);
	for (size_t i = 0; i < v->n_fused; i++)
		if (suffix ? ends_with(name, v->fused_keys[i]) : strcmp(leaf, v->fused_keys[i]) == 0)
			return (int)i;
	return -1;
}

/* utils.py: should_ignore_layer. Returns 1 ignored, 0 not, -1 the shards
 * of a fused layer disagree (ValueError). */
static int should_ignore(const vmatch *v, const char *name, char *why, size_t n)
{
	int f = fused_key(v, name, false);
	bool exact = false;
	for (size_t i = 0; i < v->n_ig; i++)
		exact = exact || strcmp(v->ig[i].text, name) == 0;
	if (f < 0 || exact)
		return ignored_by(v, name);
	int first = -1;
	for (size_t s = 0; v->fused_parts[f][s]; s++) {
		char shard[NAME_MAX_LEN];
		if (!replace_all(name, v->fused_keys[f], v->fused_parts[f][s], shard, sizeof(shard)))
			return 0;
		int ig = ignored_by(v, shard);
		if (first < 0) {
			first = ig;
		} else if (ig != first) {
			snprintf(why, n, "%s is %s but %s is not", ig ? v->fused_parts[f][s] :
				 v->fused_parts[f][0], "ignored", ig ? v->fused_parts[f][0] :
				 v->fused_parts[f][s]);
			return -1;
		}
	}
	return first > 0;
}

/* utils.py: find_matched_target: the first target equal to or matching the
 * layer name, else the first whose text the class name contains, else, for
 * a fused layer, the first shard's target when every shard matches one. */
static int find_target(const vmatch *v, const char *name, const char *cls)
{
	for (size_t i = 0; i < v->n; i++)
		if (eq_or_re(&v->t[i], name, false))
			return v->t[i].group;
	for (size_t i = 0; i < v->n; i++)
		if (eq_or_re(&v->t[i], cls, true))
			return v->t[i].group;
	int f = fused_key(v, name, true);
	if (f < 0)
		return -1;
	int first = -1;
	for (size_t s = 0; v->fused_parts[f][s]; s++) {
		char shard[NAME_MAX_LEN];
		if (!replace_all(name, v->fused_keys[f], v->fused_parts[f][s], shard, sizeof(shard)))
			return -1;
		int got = -1;
		for (size_t i = 0; i < v->n && got < 0; i++)
			if (eq_or_re(&v->t[i], shard, false))
				got = v->t[i].group;
		if (got < 0)
			return -1;
		if (s == 0)
			first = got;
	}
	return first;
}

/* ------------------------------------------------------------- findings --- */

typedef struct pfind {
	const ct_vllm_rule *rule;
	char *layer;
	char *message;
	uint64_t points;         /* bit per point where it holds */
} pfind;

typedef struct point {
	int sm, tp;
	bool failed;
} point;

typedef struct kern {
	int group;
	int sm;
	char name[160];          /* scheme-level kernel names, ", "-joined */
	ct_vscheme scheme;
} kern;

typedef struct ctx {
	const ct_checkpoint *ck;
	const ct_qconfig *cfg;
	const family *fam;
	vmatch vm;
	vmodule *ms;
	size_t n_ms;
	vlayer *ls;
	size_t n_ls;
	bool *broken;            /* group refused at config parsing */
	const char *dtype;
	json_int_t kv_heads;
	bool tied;
	point pts[MAX_POINTS];
	size_t n_pts, cur;
	pfind *fs;
	size_t n_fs, cap;
	kern *ks;
	size_t n_ks, cap_ks;
	/* per point and rule: first finding kept, the rest counted */
	size_t *rule_count;
	bool oom;
} ctx;

static void add(ctx *c, const char *id, const char *layer, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A finding of rule id at the current point (all points for checks that do
 * not depend on the GPU or TP: call with c->cur == SIZE_MAX). */
static void add(ctx *c, const char *id, const char *layer, const char *fmt, ...)
{
	const ct_vllm_rule *ru = rule(id);
	if (!ru || c->oom)
		return;
	size_t ri = (size_t)(ru - ct_vllm_rules);
	bool all = c->cur == SIZE_MAX;
	uint64_t bit = all ? (c->n_pts >= 64 ? ~0ull : (1ull << c->n_pts) - 1) : 1ull << c->cur;
	/* one target: every layer, up to a bound; a grid: the first layer per
	 * rule and target */
	if (!all && c->rule_count[ri]++ >= (c->n_pts == 1 ? MAX_PER_RULE : 1))
		return;
	char buf[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!layer)
		layer = "(config)";
	for (size_t i = 0; i < c->n_fs; i++) {
		pfind *f = &c->fs[i];
		if (f->rule == ru && strcmp(f->layer, layer) == 0 && strcmp(f->message, buf) == 0) {
			f->points |= bit;
			return;
		}
	}
	if (c->n_fs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		pfind *g = realloc(c->fs, cap * sizeof(*g));
		if (!g) {
			c->oom = true;
			return;
		}
		c->fs = g;
		c->cap = cap;
	}
	pfind *f = &c->fs[c->n_fs];
	f->rule = ru;
	f->layer = strdup(layer);
	f->message = strdup(buf);
	f->points = bit;
	if (!f->layer || !f->message) {
		free(f->layer);
		free(f->message);
		c->oom = true;
		return;
	}
	c->n_fs++;
}

/* ---------------------------------------------------------- config checks --- */

static bool same_args(const ct_qargs *a, const ct_qargs *b)
{
	if (!a || !b)
		return a == b;
	return a->num_bits == b->num_bits && a->type == b->type && a->symmetric == b->symmetric &&
	       a->has_group_size == b->has_group_size &&
	       (!a->has_group_size || a->group_size == b->group_size) &&
	       a->strategy == b->strategy && a->has_block == b->has_block &&
	       (!a->has_block || (a->block[0] == b->block[0] && a->block[1] == b->block[1])) &&
	       a->dynamic == b->dynamic && a->actorder == b->actorder &&
	       a->has_scale_dtype == b->has_scale_dtype &&
	       (!a->has_scale_dtype || a->scale_dtype == b->scale_dtype);
}

/* QuantizationArgs.dynamic of an input: true or "local" (truthy) */
static bool dyn_in(const ct_qargs *a)
{
	return a && a->dynamic != CT_DYN_FALSE;
}

static ct_format group_format(const ct_qconfig *cfg, int g)
{
	ct_format f = cfg->groups[g].format;
	return f != CT_FMT_NONE ? f : cfg->format;
}

/* The input activations vLLM keeps for group g: from_config reads them only
 * in an activation format or when given (both: the args as written). */
static const ct_qargs *group_input(const ct_qconfig *cfg, int g)
{
	return cfg->groups[g].input_activations;
}

/* scheme_dict equality (get_moe_method compares dicts by value; a fused
 * layer's shards load only if their stored scheme is the layer's) */
static bool same_scheme(const ctx *c, int a, int b)
{
	if (a < 0 || b < 0)
		return a == b;
	if (a == b)
		return true;
	return same_args(c->cfg->groups[a].weights, c->cfg->groups[b].weights) &&
	       same_args(group_input(c->cfg, a), group_input(c->cfg, b)) &&
	       group_format(c->cfg, a) == group_format(c->cfg, b);
}

static const char *gname(const ctx *c, int g)
{
	return g >= 0 ? c->cfg->groups[g].name : g == -2 ? "(ambiguous)" : "none";
}

static void describe_args(const ct_qargs *a, char *buf, size_t n)
{
	if (!a) {
		snprintf(buf, n, "none");
		return;
	}
	static const char *const strat[] = { "tensor", "channel", "group", "block", "token",
					     "tensor_group", "attn_head" };
	snprintf(buf, n, "%s%d %s%s%s", a->type == CT_QTYPE_FLOAT ? "fp" : "int", a->num_bits,
		 a->strategy >= 0 && a->strategy <= CT_STRAT_ATTN_HEAD ? strat[a->strategy] : "?",
		 a->dynamic == CT_DYN_FALSE ? " static" : " dynamic",
		 a->symmetric ? "" : " asymmetric");
}

/* Checks that hold for every GPU and TP size. */
static void check_config(ctx *c)
{
	const ct_qconfig *cfg = c->cfg;
	if (cfg->sparsity && cfg->sparsity->format != CT_FMT_DENSE)
		add(c, "vllm-sparsity", NULL, "sparsity_config %s: vLLM no longer loads sparse "
		    "compressed-tensors checkpoints", ct_format_name(cfg->sparsity->format));
	/* CompressedTensorsKVCacheMethod.validate_kv_cache_scheme: the first test is
	 * "type != float and num_bits != 8" (an int8 scheme passes it) */
	const json_t *kv = cfg->kv_cache_scheme;
	if (kv && json_is_object(kv)) {
		const char *type = json_string_value(json_object_get(kv, "type"));
		const char *strat = json_string_value(json_object_get(kv, "strategy"));
		const json_t *bits_j = json_object_get(kv, "num_bits");
		json_int_t bits = json_is_integer(bits_j) ? json_integer_value(bits_j) : -1;
		const json_t *sym = json_object_get(kv, "symmetric");
		bool is_float = type && strcmp(type, "float") == 0;
		if (!is_float && bits != 8)
			add(c, "vllm-kv-cache", NULL, "kv_cache_scheme %s%" JSON_INTEGER_FORMAT ": "
			    "\"Currently supported kv cache quantization is num_bits=8, type=float\"",
			    type ? type : "?", bits);
		else if (!strat || (strcmp(strat, "tensor") != 0 && strcmp(strat, "attn_head") != 0))
			add(c, "vllm-kv-cache", NULL, "kv_cache_scheme strategy %s: \"Invalid strategy "
			    "for compressed-tensors KV cache\" (tensor or attn_head)",
			    strat ? strat : "null");
		else if (!sym || !json_is_true(sym))
			add(c, "vllm-kv-cache", NULL, "kv_cache_scheme not symmetric: \"Only support "
			    "symmetric scaling factor for compressed-tensors KV cache\"");
		else if (!is_float || bits != 8)
			add(c, "vllm-kv-cache-fp8", NULL, "kv_cache_scheme %s%" JSON_INTEGER_FORMAT " is "
			    "accepted, but any kv_cache_scheme makes vLLM's cache fp8 (kv_cache_dtype "
			    "auto -> fp8): its %s scales are applied to an fp8 cache",
			    type ? type : "?", bits, type ? type : "?");
	}
	for (size_t g = 0; g < cfg->n_groups; g++) {
		const ct_qscheme *sc = &cfg->groups[g];
		if (attention_only(sc)) {
			add(c, "vllm-attention-group", NULL, "config group %s targets only %s: vLLM "
			    "skips it (\"Attention quant is coupled with KV-cache quantization\")",
			    sc->name, sc->targets[0]);
			continue;
		}
		const ct_qargs *w = sc->weights;
		ct_format fmt = group_format(cfg, (int)g);
		/* _quantization_scheme_map_from_config: an activation format without
		 * input activations asserts float weights */
		if (w && ct_vllm_act_format(fmt) && !sc->input_activations &&
		    w->type != CT_QTYPE_FLOAT) {
			c->broken[g] = true;
			add(c, "vllm-int-weight-only-format", NULL, "config group %s: int%d weight-only "
			    "in %s: vLLM asserts float weights there (AssertionError while parsing the "
			    "config)", sc->name, w->num_bits, ct_format_name(fmt));
		}
	}
}

/* --------------------------------------------------------- linear layers --- */

static bool tp_divides(ctx *c, const vlayer *L, uint64_t size, int tp, const char *what)
{
	if (tp <= 1 || size % (uint64_t)tp == 0)
		return true;
	add(c, "vllm-tp-divide", L->name, "%s %" PRIu64 " is not divisible by TP=%d "
	    "(layers/linear.py: divide)", what, size, tp);
	return false;
}

/* Output partition sizes (per shard) and input per GPU, as ColumnParallelLinear,
 * QKVParallelLinear (kv heads replicated when fewer than TP) and
 * RowParallelLinear split them. False when TP does not divide the layer. */
static bool partition(ctx *c, const vlayer *L, int tp, uint64_t *parts, size_t *n_parts,
		      uint64_t *n_full, uint64_t *k_full, uint64_t *k_part)
{
	const vmodule *m0 = &c->ms[L->first];
	*k_full = m0->cols;
	*k_part = m0->cols;
	*n_full = 0;
	*n_parts = 0;
	bool ok = true;
	for (size_t i = L->first; i < L->first + L->n && *n_parts < 8; i++) {
		const vmodule *m = &c->ms[i];
		uint64_t r = m->rows, part = r;
		*n_full += r;
		if (L->par == PAR_COL && tp > 1) {
			bool kv = L->fused && strcmp(leaf_of(L->name), "qkv_proj") == 0 && m->shard > 0;
			if (kv && c->kv_heads > 0 && c->kv_heads < tp && tp % c->kv_heads == 0 &&
			    r % (uint64_t)c->kv_heads == 0)
				part = r / (uint64_t)c->kv_heads;
			else if (L->kind == LK_LMHEAD)
				part = ((r + 63) / 64 * 64 + (uint64_t)tp - 1) / (uint64_t)tp;
			else if (tp_divides(c, L, r, tp, "output size"))
				part = r / (uint64_t)tp;
			else
				ok = false;
		}
		parts[(*n_parts)++] = part;
	}
	if (L->par == PAR_ROW && tp > 1) {
		if (tp_divides(c, L, *k_full, tp, "input size"))
			*k_part = *k_full / (uint64_t)tp;
		else
			ok = false;
	}
	return ok;
}

/* fp8_utils.py: validate_fp8_block_shape */
static void fp8_block_shape(ctx *c, const vlayer *L, const ct_qargs *w, int tp,
			    const uint64_t *parts, size_t n_parts, uint64_t n_full, uint64_t k_full,
			    uint64_t k_part)
{
	if (!w->has_block || w->block[0] <= 0 || w->block[1] <= 0)
		return;
	uint64_t bn = (uint64_t)w->block[0], bk = (uint64_t)w->block[1];
	if (tp > 1 && k_part && k_full / k_part == (uint64_t)tp && k_part % bk) {
		add(c, "vllm-fp8-block-shape", L->name, "\"Weight input_size_per_partition = %" PRIu64
		    " is not divisible by weight quantization block_k = %" PRIu64 "\"", k_part, bk);
		return;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < n_parts; i++)
		sum += parts[i];
	bool split = tp > 1 && sum && n_full / sum == (uint64_t)tp;
	bool merged = n_parts > 1;
	if (!split && !merged)
		return;
	size_t check = split ? n_parts : n_parts - 1;  /* merged: the last may be ragged */
	for (size_t i = 0; i < check; i++)
		if (parts[i] % bn) {
			add(c, "vllm-fp8-block-shape", L->name, "\"Weight output_partition_size = %"
			    PRIu64 " is not divisible by weight quantization block_n = %" PRIu64 "\"%s",
			    parts[i], bn, tp == 1 ? " (a merged layer is checked at TP=1 too)" : "");
			return;
		}
}

/* Records the kernel of group g on sm, at the first TP size tried (1, or --tp). */
static void note_kernel(ctx *c, int g, int sm, int tp, ct_vscheme s, const char *kernel)
{
	if (tp != c->pts[0].tp)
		return;
	for (size_t i = 0; i < c->n_ks; i++) {
		kern *k = &c->ks[i];
		if (k->group == g && k->sm == sm && k->scheme == s) {
			if (!strstr(k->name, kernel) && strlen(k->name) + strlen(kernel) + 3 < sizeof(k->name))
				strcat(strcat(k->name, ", "), kernel);
			return;
		}
	}
	if (c->n_ks == c->cap_ks) {
		size_t cap = c->cap_ks ? c->cap_ks * 2 : 16;
		kern *k = realloc(c->ks, cap * sizeof(*k));
		if (!k) {
			c->oom = true;
			return;
		}
		c->ks = k;
		c->cap_ks = cap;
	}
	kern *k = &c->ks[c->n_ks++];
	k->group = g;
	k->sm = sm;
	k->scheme = s;
	snprintf(k->name, sizeof(k->name), "%s", kernel);
}

/* The kernel a scaled-mm or FP4/FP8 scheme gets (kernels/linear/__init__.py:
 * _POSSIBLE_*_KERNELS[CUDA], first supported): named where the choice
 * depends only on the GPU. */
static const char *scheme_kernel(ct_vscheme s, const ct_qargs *w, const ct_qargs *in, int sm)
{
	switch (s) {
	case CT_VS_W8A16_FP8: return "MarlinFP8ScaledMMLinearKernel";
	case CT_VS_W4A16_FP4: return "Marlin FP4 (prepare_fp4_layer_for_marlin)";
	case CT_VS_W4A4_FP4: return sm >= 100 ? "FlashInferCutlassNvFp4LinearKernel" :
					      "MarlinNvFp4LinearKernel";
	case CT_VS_W4A4_MXFP4: return sm >= 100 ? "FlashInferMxFp4LinearKernel" :
						"MarlinMxFp4LinearKernel";
	case CT_VS_W8A8_MXFP8: return sm >= 100 ? "FlashInferCutlassMxfp8LinearKernel" :
						"MarlinMxfp8LinearKernel";
	case CT_VS_W8A8_INT8: return "CutlassInt8ScaledMMLinearKernel";
	case CT_VS_W8A8_FP8:
		/* Marlin refuses sm89 and up, FlashInfer needs sm100 and per-tensor
		 * scales (scaled_mm/flashinfer.py), CUTLASS takes the rest */
		if (w->strategy == CT_STRAT_BLOCK)
			return "a block FP8 kernel of _POSSIBLE_FP8_BLOCK_KERNELS (DeepGEMM, CUTLASS, "
			       "Triton: which depends on the build)";
		return sm >= 100 && w->strategy == CT_STRAT_TENSOR && in &&
		       in->strategy == CT_STRAT_TENSOR ? "FlashInferFP8ScaledMMLinearKernel" :
							 "CutlassFP8ScaledMMLinearKernel";
	default: return "";
	}
}

static void describe_params(unsigned set, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int p = 0; p < CT_P_COUNT && used < n; p++)
		if (set & CT_PB(p)) {
			int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
					 ct_vllm_param_name(p));
			used += w > 0 ? (size_t)w : 0;
		}
	if (!used)
		snprintf(buf, n, "nothing");
}

/* Whether the family's loader skips a tensor it has no parameter for. */
static bool skips(const ctx *c, const vlayer *L, const vmodule *m)
{
	if (L->kind == LK_LMHEAD)
		return false;  /* models/utils.py: AutoWeightsLoader._load_module raises */
	if (m->moe)
		return false;  /* expert mapping: params_dict[name_mapped] */
	return m->shard >= 0 && L->fused ? c->fam->stacked_skips : c->fam->other_skips;
}

/* The module's tensors against what its vLLM layer registers. */
static bool check_params(ctx *c, const vlayer *L, const vmodule *m, int g, ct_vscheme s,
			 unsigned want)
{
	unsigned have = m->params;
	unsigned missing = want & ~have, extra = have & ~want;
	if (!missing && !extra && !m->sparse)
		return true;
	bool skip = skips(c, L, m);
	if (!missing && !m->sparse && skip)
		return true;   /* unknown tensors skipped, every parameter filled */
	const char *id = "vllm-params";
	if (g < 0 && m->compressed)
		id = L->kind == LK_EMBED ? "vllm-embedding" : L->kind == LK_LMHEAD ? "vllm-lm-head" :
		     L->kind == LK_ROUTER ? "vllm-router" : "vllm-compressed-untargeted";
	else if (g >= 0 && have == CT_PB(CT_P_WEIGHT))
		id = L->kind == LK_ROUTER ? "vllm-router" : "vllm-dense-targeted";
	char hv[200], wv[200], unknown[200];
	describe_params(have, hv, sizeof(hv));
	describe_params(want, wv, sizeof(wv));
	describe_params(extra, unknown, sizeof(unknown));
	const char *loader = L->kind == LK_LMHEAD ? "models/utils.py: AutoWeightsLoader" :
			     c->fam->loader;
	char how[1200];
	if (extra && !skip)
		snprintf(how, sizeof(how), "%s raises on %s.%s (no such parameter)", loader,
			 m->name, strtok(unknown, ","));
	else if (extra || m->sparse)
		snprintf(how, sizeof(how), "%s skips %s silently, so %s %s never filled", loader,
			 m->sparse ? "its sparse tensors" : unknown, wv,
			 strchr(wv, ',') ? "are" : "is");
	else
		snprintf(how, sizeof(how), "nothing fills %s", wv);
	add(c, id, m->name, "%s%s%s layer: vLLM registers %s, the checkpoint holds %s: %s",
	    g >= 0 ? "group " : "", g >= 0 ? gname(c, g) : "", g >= 0 ? "" : "an unquantized",
	    wv, hv, how);
	(void)s;
	return false;
}

/* One linear layer (LinearBase or ParallelLMHead) on capability sm, TP tp. */
static void eval_linear(ctx *c, const vlayer *L, int sm, int tp)
{
	char why[MSG_MAX];
	int g = -1;
	bool quantizable = L->kind == LK_LINEAR || L->kind == LK_LMHEAD ||
			   (L->kind == LK_ROUTER && c->fam->router_quantized &&
			    strcmp(leaf_of(L->name), "gate") == 0);
	/* get_quant_method: get_scheme -> get_scheme_dict -> should_ignore_layer,
	 * find_matched_target (ParallelLMHead: a ValueError means unquantized) */
	if (quantizable && c->vm.n) {
		int ig = should_ignore(&c->vm, L->name, why, sizeof(why));
		if (ig < 0 && L->kind != LK_LMHEAD) {
			add(c, "vllm-fused-mixed", L->name, "%s: \"Found a different quantization "
			    "schemes for %s. vLLM requires all to use the same scheme\"", why,
			    leaf_of(L->name));
			return;
		}
		if (ig == 0)
			g = find_target(&c->vm, L->name, L->cls);
	}
	if (g >= 0 && c->broken[g])
		return;
	const ct_qargs *w = g >= 0 ? c->cfg->groups[g].weights : NULL;
	const ct_qargs *in = g >= 0 ? group_input(c->cfg, g) : NULL;
	ct_vscheme s = CT_VS_NONE;
	unsigned want = CT_PB(CT_P_WEIGHT);
	uint64_t parts[8] = { 0 }, n_full = 0, k_full = 0, k_part = 0;
	size_t n_parts = 0;
	bool shaped = c->ms[L->first].rows && c->ms[L->first].cols;
	bool split_ok = shaped && partition(c, L, tp, parts, &n_parts, &n_full, &k_full, &k_part);
	if (g >= 0) {
		ct_format fmt = group_format(c->cfg, g);
		s = ct_vllm_scheme(w, in, fmt, sm);
		if (s == CT_VS_NONE) {
			char wd[96], id[96];
			describe_args(w, wd, sizeof(wd));
			describe_args(in, id, sizeof(id));
			bool mx8 = w->type == CT_QTYPE_FLOAT && w->num_bits == 8 &&
				   w->strategy == CT_STRAT_GROUP && w->group_size == 32 &&
				   !ct_vllm_is_mxfp8(w);
			add(c, mx8 ? "vllm-mxfp8-scale-dtype" : "vllm-dispatch", L->name, "group %s "
			    "(weights %s, input %s, format %s): \"No compressed-tensors compatible "
			    "scheme was found\"%s", gname(c, g), wd, id, ct_format_name(fmt) ?
			    ct_format_name(fmt) : "none", mx8 ? " (MXFP8 needs scale_dtype torch.uint8)" :
			    ct_vllm_is_wna16(w, in) && fmt == CT_FMT_PACK ?
			    " (WNA16 takes num_bits 4 and 8 only)" : "");
			return;
		}
		int min = ct_vscheme_min_capability(s);
		if (sm < min) {
			add(c, "vllm-capability", L->name, "%s: \"Quantization scheme is not supported "
			    "for the current GPU. Min capability: %d. Current capability: %d.\"",
			    ct_vscheme_name(s), min, sm);
			return;
		}
		const char *kernel = scheme_kernel(s, w, in, sm);
		int64_t group = w->has_group_size && w->group_size > 0 ? w->group_size : -1;
		/* constructors (schemes/compressed_tensors_<scheme>.py: __init__) */
		if (s == CT_VS_WNA16 && group == -1 && w->strategy != CT_STRAT_CHANNEL) {
			add(c, "vllm-scheme-init", L->name, "CompressedTensorsWNA16: \"Marlin kernels "
			    "require group quantization or channelwise quantization\"");
			return;
		}
		if (s == CT_VS_W4A8_FP8 && (group != 128 || w->strategy != CT_STRAT_GROUP)) {
			add(c, "vllm-scheme-init", L->name, "CompressedTensorsW4A8Fp8: \"W4A8 kernels "
			    "require group quantization with group size 128\" (group %lld)",
			    (long long)group);
			return;
		}
		if (s == CT_VS_W8A8_FP8 && w->strategy == CT_STRAT_BLOCK && in && !dyn_in(in)) {
			add(c, "vllm-scheme-init", L->name, "CompressedTensorsW8A8Fp8: block weights "
			    "with static input scales hit \"assert not self.is_static_input_scheme\"");
			return;
		}
		if (!split_ok)
			return;
		/* create_weights */
		if ((s == CT_VS_W8A8_FP8 || s == CT_VS_W8A16_FP8) && w->strategy == CT_STRAT_BLOCK &&
		    L->kind != LK_LMHEAD)
			fp8_block_shape(c, L, w, tp, parts, n_parts, n_full, k_full, k_part);
		if (s == CT_VS_W8A16_FP8 && !ct_vllm_wfp8a16_kernel(sm)) {
			add(c, "vllm-kernel", L->name, "CompressedTensorsW8A16Fp8: \"Failed to find a "
			    "kernel that can implement the ScaledMM linear layer\" "
			    "(MarlinFP8ScaledMMLinearKernel, the only one, refuses sm%d: \"To apply "
			    "FP8 Marlin on high-capability GPUs, please set VLLM_TEST_FORCE_FP8_MARLIN=1\")",
			    sm);
			return;
		}
		if (s == CT_VS_WNA16 || s == CT_VS_W4A8_FP8 || s == CT_VS_W4A8_INT) {
			uint64_t n_part = 0;
			for (size_t i = 0; i < n_parts; i++)
				n_part += parts[i];
			ct_mp_config mc = {
				.k_full = k_full, .k_part = k_part, .n_part = n_part,
				.bits = w->num_bits, .int4 = s != CT_VS_WNA16,
				.zp = s == CT_VS_WNA16 && !w->symmetric,
				.g_idx = s != CT_VS_W4A8_INT && w->actorder == CT_ACT_GROUP,
				.group = group, .fp16 = ct_vllm_act_fp16(c->dtype, sm),
				.act_fp8 = s == CT_VS_W4A8_FP8,
			};
			bool row = k_part != k_full;
			/* CompressedTensorsW4A8Int.create_weights asserts before choosing */
			if (s == CT_VS_W4A8_INT) {
				uint64_t eff = group > 0 ? (uint64_t)group : row ? k_part : k_full;
				if (eff && k_part % eff) {
					add(c, "vllm-group-partition", L->name, "\"input_size_per_partition "
					    "%" PRIu64 " not divisible by group_size %" PRIu64 "\"", k_part,
					    eff);
					return;
				}
				mc.group = (int64_t)eff;
			}
			int k = ct_vllm_mp_kernel(&mc, sm, why, sizeof(why));
			if (k == CT_MPK_NONE) {
				add(c, "vllm-kernel", L->name, "%s (%s%d%s, group %lld, %s, input %" PRIu64
				    " and output %" PRIu64 " per GPU): \"Failed to find a kernel that "
				    "can implement the WNA16 linear layer\": %s", ct_vscheme_name(s),
				    mc.int4 ? "int" : mc.zp ? "uint" : "uint", w->num_bits,
				    mc.zp ? " with zero points" : "", (long long)mc.group,
				    mc.act_fp8 ? "fp8 activations" : mc.fp16 ? "float16" : "bfloat16",
				    k_part, n_part, why);
				return;
			}
			kernel = ct_mpkernel_name(k);
			/* WNA16/W4A8Fp8.create_weights: scales are partitioned unless
			 * act-ordered or channelwise row-parallel, and then
			 * assert input_size_per_partition % group_size == 0 */
			bool repeat = mc.g_idx || (group == -1 && row);
			uint64_t gs = group > 0 ? (uint64_t)group : k_full;
			if (s != CT_VS_W4A8_INT && !repeat && gs && k_part % gs) {
				add(c, "vllm-group-partition", L->name, "%s: assert input_size_per_partition"
				    " %% group_size == 0 (%" PRIu64 " %% %" PRIu64 ")", ct_vscheme_name(s),
				    k_part, gs);
				return;
			}
		}
		note_kernel(c, g, sm, tp, s, kernel);
		want = ct_vscheme_params(s, w, in);
	}
	/* the stored shards against the layer's scheme */
	bool tie_skip = L->kind == LK_LMHEAD && c->tied;
	if (tie_skip)
		return;  /* models/llama.py: AutoWeightsLoader(skip_prefixes=["lm_head."]) */
	if (L->fused && L->n > 1) {
		/* every shard stored alike: dense (or compressed) where vLLM quantizes
		 * (or not) is the parameters' finding below */
		int first = c->ms[L->first].compressed ? c->ms[L->first].lib_group : -1;
		bool alike = true;
		for (size_t i = L->first + 1; i < L->first + L->n; i++) {
			const vmodule *m = &c->ms[i];
			alike = alike && same_scheme(c, m->compressed ? m->lib_group : -1, first);
		}
		bool params_say = alike && (first == -1 || g < 0);
		for (size_t i = L->first; i < L->first + L->n && !params_say; i++) {
			const vmodule *m = &c->ms[i];
			int stored = m->compressed ? m->lib_group : -1;
			if (stored != -2 && !same_scheme(c, stored, g)) {
				add(c, "vllm-fused-mixed", L->name, "vLLM resolves %s to group %s (%s), "
				    "but %s is stored %s%s: the shards load into one parameter of one "
				    "scheme", leaf_of(L->name), gname(c, g), ct_vscheme_name(s),
				    leaf_of(m->name), stored >= 0 ? "in group " : "",
				    stored >= 0 ? gname(c, stored) : "dense");
				return;
			}
		}
	} else if (g >= 0) {
		const vmodule *m = &c->ms[L->first];
		if (m->compressed && m->lib_group >= 0 && !same_scheme(c, m->lib_group, g)) {
			add(c, "vllm-scheme-mismatch", L->name, "vLLM resolves it to group %s, the "
			    "library stored it in group %s", gname(c, g), gname(c, m->lib_group));
			return;
		}
	}
	for (size_t i = L->first; i < L->first + L->n; i++)
		check_params(c, L, &c->ms[i], g, s, want);
}

/* -------------------------------------------------------------- experts --- */

/* compressed_tensors_moe.py: CompressedTensorsMoEMethod.get_moe_method */
static void eval_moe(ctx *c, const vlayer *L, int sm, int tp)
{
	static const char *const names[] = { ".0.gate_proj", ".0.up_proj", ".0.down_proj" };
	int gs[3];
	for (int p = 0; p < 3; p++) {
		char name[NAME_MAX_LEN + 16];
		snprintf(name, sizeof(name), "%s%s", L->name, names[p]);
		gs[p] = c->vm.n && !ignored_by(&c->vm, name) ? find_target(&c->vm, name, "FusedMoE") : -1;
	}
	if (!same_scheme(c, gs[0], gs[2]) || !same_scheme(c, gs[1], gs[2])) {
		add(c, "vllm-moe-scheme", L->name, "expert 0: gate, up and down resolve to groups "
		    "%s, %s, %s: \"All MoE projections need to have same quantization scheme but "
		    "found multiple\"", gname(c, gs[0]), gname(c, gs[1]), gname(c, gs[2]));
		return;
	}
	int g = gs[2];
	if (g >= 0 && c->broken[g])
		return;
	unsigned want = CT_PB(CT_P_WEIGHT);
	uint64_t inter = 0, hidden = 0;
	for (size_t i = L->first; i < L->first + L->n; i++)
		if (c->ms[i].proj == 0 && !inter) {
			inter = c->ms[i].rows;
			hidden = c->ms[i].cols;
		}
	if (inter && tp > 1 && inter % (uint64_t)tp) {
		add(c, "vllm-tp-divide", L->name, "intermediate size %" PRIu64 " is not divisible by "
		    "TP=%d", inter, tp);
		return;
	}
	uint64_t i_part = tp > 1 ? inter / (uint64_t)tp : inter;
	const char *method = "UnquantizedFusedMoEMethod";
	if (g >= 0) {
		const ct_qargs *w = c->cfg->groups[g].weights, *in = group_input(c->cfg, g);
		ct_format fmt = group_format(c->cfg, g);
		int64_t group = w->has_group_size && w->group_size > 0 ? w->group_size : -1;
		char wd[96], id[96];
		describe_args(w, wd, sizeof(wd));
		describe_args(in, id, sizeof(id));
		if (ct_vllm_is_mxfp4(w)) {
			method = "CompressedTensorsW4A4Mxfp4MoEMethod";
			want = CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE);
		} else if (ct_vllm_is_mxfp8(w)) {
			method = "CompressedTensorsW8A8Mxfp8MoEMethod";
			want = CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE);
		} else if (ct_vllm_is_wna16(w, in)) {
			if ((w->num_bits != 4 && w->num_bits != 8) || fmt != CT_FMT_PACK) {
				add(c, "vllm-moe-dispatch", L->name, "group %s: \"For Fused MoE layers, "
				    "only format: pack-quantized and bits: [4, 8] is supported\" (int%d, "
				    "%s)", gname(c, g), w->num_bits, ct_format_name(fmt) ?
				    ct_format_name(fmt) : "none");
				return;
			}
			/* utils/marlin_utils.py: check_moe_marlin_supports_layer */
			uint64_t need = group > 64 ? (uint64_t)group : 64;
			bool marlin = hidden % 128 == 0 && i_part % need == 0 &&
				      (group == -1 || group == 32 || group == 64 || group == 128);
			if (!marlin && w->strategy == CT_STRAT_GROUP && w->actorder == CT_ACT_GROUP) {
				add(c, "vllm-moe-wna16", L->name, "\"WNA16MoE is not supported with "
				    "actorder=group/dynamic\" (Marlin MoE refuses the shape)");
				return;
			}
			if (!w->symmetric) {
				add(c, "vllm-moe-wna16", L->name, "%s: \"Only symmetric quantization is "
				    "supported for MoE\"", marlin ? "CompressedTensorsWNA16MarlinMoEMethod" :
				    "CompressedTensorsWNA16MoEMethod");
				return;
			}
			if (!marlin && w->strategy != CT_STRAT_GROUP) {
				add(c, "vllm-moe-wna16", L->name, "CompressedTensorsWNA16MoEMethod: assert "
				    "strategy == \"group\" (Marlin MoE refuses the shape)");
				return;
			}
			method = marlin ? "CompressedTensorsWNA16MarlinMoEMethod" :
					  "CompressedTensorsWNA16MoEMethod";
			want = CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_SHAPE) |
			       (w->actorder == CT_ACT_GROUP ? CT_PB(CT_P_GIDX) : 0);
		} else if (ct_vllm_is_nvfp4(w)) {
			if (in && !ct_vllm_is_nvfp4(in)) {
				add(c, "vllm-nvfp4-input", L->name, "\"For NVFP4 weights, input "
				    "quantization must also be NVFP4 format or None for NVFP4A16\" "
				    "(input %s)", id);
				return;
			}
			method = "CompressedTensorsW4A4Nvfp4MoEMethod";
			want = CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_GSCALE) |
			       (in ? CT_PB(CT_P_INGSCALE) : 0);
		} else if (ct_vllm_is_fp8_w8a8(w, in)) {
			/* compressed_tensors_moe_w8a8_fp8.py: __init__: tensor weights with
			 * tensor input, channel weights with token input, else block
			 * (assert); static input with channel weights refused;
			 * create_weights: block_n (and at TP > 1 block_k) divides the
			 * intermediate size per GPU */
			bool per_tensor = w->strategy == CT_STRAT_TENSOR && in->strategy == CT_STRAT_TENSOR;
			bool per_channel = w->strategy == CT_STRAT_CHANNEL && in->strategy == CT_STRAT_TOKEN;
			if (!per_tensor && !per_channel && w->strategy != CT_STRAT_BLOCK) {
				add(c, "vllm-moe-fp8-static-channel", L->name, "CompressedTensorsW8A8Fp8MoEMethod: "
				    "weights %s with input %s are neither per tensor, channel with token, "
				    "nor block: assert weight_quant.strategy == BLOCK", wd, id);
				return;
			}
			if (per_channel && !dyn_in(in)) {
				add(c, "vllm-moe-fp8-static-channel", L->name, "\"For FP8 Fused MoE layer, "
				    "we require either per tensor or channelwise, dynamic per token "
				    "quantization\"");
				return;
			}
			if (w->strategy == CT_STRAT_BLOCK && w->has_block && w->block[0] > 0 &&
			    w->block[1] > 0 && i_part) {
				uint64_t bn = (uint64_t)w->block[0], bk = (uint64_t)w->block[1];
				if (i_part % bn || (tp > 1 && i_part % bk)) {
					add(c, "vllm-fp8-block-shape", L->name, "\"The %s = %" PRIu64 " is not "
					    "divisible by weight quantization block_%s = %" PRIu64 "\"",
					    i_part % bn ? "output_size of gate's and up's weight" :
					    "input_size of down's weight", i_part, i_part % bn ? "n" : "k",
					    i_part % bn ? bn : bk);
					return;
				}
			}
			method = "CompressedTensorsW8A8Fp8MoEMethod";
			want = CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE) |
			       (!dyn_in(in) ? CT_PB(CT_P_INSCALE) : 0);
		} else if (ct_vllm_is_dynamic_token_w8a8(w, in)) {
			method = "CompressedTensorsW8A8Int8MoEMethod";
			want = CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE);
		} else if (sm == 90 && ct_vllm_is_fp8_w4a8(w, in)) {
			method = "CompressedTensorsW4A8Fp8MoEMethod";
			want = 0;
		} else if (ct_vllm_is_dynamic_token_w4a8_int(w, in)) {
			method = "CompressedTensorsW4A8Int8MoEMethod";
			want = 0;
		} else {
			add(c, "vllm-moe-dispatch", L->name, "group %s: \"Unsupported FusedMoe scheme\" "
			    "(weights %s, input %s)", gname(c, g), wd, id);
			return;
		}
		note_kernel(c, g, sm, tp, CT_VS_COUNT, method);
	}
	if (!want)
		return;
	size_t bad = 0;
	const vmodule *first = NULL;
	unsigned fhave = 0;
	for (size_t i = L->first; i < L->first + L->n; i++) {
		const vmodule *m = &c->ms[i];
		unsigned have = m->params, missing = want & ~have, extra = have & ~want;
		/* models/qwen3_moe.py: ignore_suffixes skip absent scale parameters */
		if (c->fam->stacked_skips)
			extra &= ~(CT_PB(CT_P_SCALE) | CT_PB(CT_P_INSCALE));
		if ((missing || extra) && !bad++) {
			first = m;
			fhave = have;
		}
	}
	if (bad) {
		char hv[200], wv[200];
		describe_params(fhave, hv, sizeof(hv));
		describe_params(want, wv, sizeof(wv));
		const char *id = g < 0 && first->compressed ? "vllm-compressed-untargeted" :
				 g >= 0 && fhave == CT_PB(CT_P_WEIGHT) ? "vllm-dense-targeted" :
				 "vllm-params";
		add(c, id, first->name, "%s registers %s per expert, the checkpoint holds %s (%zu "
		    "expert projection%s like it): the expert mapping finds no parameter for the "
		    "others, or leaves these unfilled", method, wv, hv, bad, bad == 1 ? "" : "s");
	}
}

/* Per-checkpoint MoE checks that do not depend on the target. */
static void check_moe_static(ctx *c)
{
	for (size_t li = 0; li < c->n_ls; li++) {
		const vlayer *L = &c->ls[li];
		if (L->kind != LK_MOE)
			continue;
		int ref = -3;
		size_t differ = 0;
		const char *fd = NULL;
		for (size_t i = L->first; i < L->first + L->n; i++) {
			const vmodule *m = &c->ms[i];
			int s = m->compressed ? m->lib_group : -1;
			if (m->expert == 0 && m->proj == 0 && ref == -3)
				ref = s;
		}
		for (size_t i = L->first; i < L->first + L->n; i++) {
			const vmodule *m = &c->ms[i];
			int s = m->compressed ? m->lib_group : -1;
			if (m->expert != 0 && ref != -3 && !same_scheme(c, s, ref) && !differ++)
				fd = m->name;
		}
		if (differ)
			add(c, "vllm-moe-experts-differ", L->name, "%zu expert projections (first %s) "
			    "differ from expert 0's scheme", differ, fd);
		/* gate and up of one expert are neighbours once sorted */
		for (size_t i = L->first; i + 1 < L->first + L->n; i++) {
			const vmodule *gm = &c->ms[i], *um = &c->ms[i + 1];
			if (gm->proj == 0 && um->proj == 1 && gm->expert == um->expert && gm->has_gs &&
			    um->has_gs && gm->gs != um->gs) {
				add(c, "vllm-nvfp4-moe-global-scale", um->name, "global scale %g, but "
				    "gate_proj of expert %ld has %g: up is dequantized with gate's",
				    (double)um->gs, um->expert, (double)gm->gs);
				break;
			}
		}
	}
	for (size_t li = 0; li < c->n_ls && c->fam->experts_unmapped; li++) {
		const vlayer *L = &c->ls[li];
		if (L->kind == LK_MOE)
			add(c, "vllm-moe-loader", L->name, "%s has no per-expert mapping: "
			    "%s.0.gate_proj and the other per-expert tensors are skipped as unknown "
			    "(names ending in .down_proj.weight or .down_proj.weight_scale are renamed "
			    "w2_* and raise KeyError), so the experts are never filled", c->fam->loader,
			    L->name);
	}
	for (size_t i = 0; i < c->n_ms; i++)
		if (c->ms[i].fused3d)
			add(c, "vllm-moe-fused-3d", c->ms[i].name, "quantized 3-D expert tensors: "
			    "vLLM maps per-expert 2-D names only");
	/* NVFP4 q/k/v with different global scales: a warning of
	 * compressed_tensors_w4a4_nvfp4.py: process_weights_after_loading */
	for (size_t li = 0; li < c->n_ls; li++) {
		const vlayer *L = &c->ls[li];
		if (!L->fused || strcmp(leaf_of(L->name), "qkv_proj") != 0)
			continue;
		for (size_t i = L->first + 1; i < L->first + L->n; i++)
			if (c->ms[i].has_gs && c->ms[L->first].has_gs &&
			    c->ms[i].gs != c->ms[L->first].gs) {
				add(c, "vllm-nvfp4-qkv-global-scale", L->name, "%s has global scale %g, "
				    "%s %g", leaf_of(c->ms[L->first].name), (double)c->ms[L->first].gs,
				    leaf_of(c->ms[i].name), (double)c->ms[i].gs);
				break;
			}
	}
}

/* -------------------------------------------------------------- layers --- */

static int build_layers(ctx *c)
{
	c->ls = calloc(c->n_ms + 1, sizeof(*c->ls));
	if (!c->ls)
		return CT_EIO;
	for (size_t i = 0; i < c->n_ms;) {
		size_t j = i + 1;
		while (j < c->n_ms && strcmp(c->ms[j].layer, c->ms[i].layer) == 0)
			j++;
		vlayer *L = &c->ls[c->n_ls++];
		const vmodule *m = &c->ms[i];
		L->name = m->layer;
		L->first = i;
		L->n = j - i;
		L->fused = strcmp(m->layer, m->name) != 0 && !m->moe;
		const char *leaf = leaf_of(L->name);
		L->par = PAR_COL;
		if (m->moe) {
			L->kind = LK_MOE;
			L->cls = "FusedMoE";
		} else if (strcmp(leaf, "lm_head") == 0) {
			L->kind = LK_LMHEAD;
			L->cls = "ParallelLMHead";
		} else if (m->cls == CT_MOD_EMBEDDING) {
			L->kind = LK_EMBED;
			L->cls = "VocabParallelEmbedding";
		} else if (is_router_name(L->name)) {
			L->kind = LK_ROUTER;
			L->par = PAR_REP;
			L->cls = "ReplicatedLinear";
		} else if (m->cls == CT_MOD_LINEAR || m->cls == CT_MOD_CONV1D_HF) {
			L->kind = LK_LINEAR;
			if (strcmp(leaf, "qkv_proj") == 0 && L->fused) {
				L->cls = "QKVParallelLinear";
			} else if (strcmp(leaf, "fused_qkv_a_proj") == 0 && L->fused) {
				L->cls = "MergedReplicatedLinear";
				L->par = PAR_REP;
			} else if (L->fused) {
				L->cls = "MergedColumnParallelLinear";
			} else if (row_parallel_leaf(leaf)) {
				L->cls = "RowParallelLinear";
				L->par = PAR_ROW;
			} else {
				L->cls = "ColumnParallelLinear";
			}
		} else {
			L->kind = LK_OTHER;
			L->cls = "Module";
		}
		i = j;
	}
	return CT_OK;
}

/* ------------------------------------------------------------ reporting --- */

/* "sm80, sm90 at TP=1,2" for the points in mask. */
static void describe_points(const ctx *c, uint64_t mask, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	/* the same TP sizes on every GPU tried: "every GPU at TP=4,8" */
	uint64_t tps = 0;
	bool uniform = c->n_pts > 1;
	for (size_t i = 0; i < c->n_pts; i++)
		if (mask >> i & 1)
			tps |= 1ull << (c->pts[i].tp & 63);
	for (size_t i = 0; i < c->n_pts && uniform; i++)
		uniform = (bool)(mask >> i & 1) == (bool)(tps >> (c->pts[i].tp & 63) & 1);
	bool one_sm = true;
	for (size_t i = 1; i < c->n_pts; i++)
		one_sm = one_sm && c->pts[i].sm == c->pts[0].sm;
	if (uniform && !one_sm) {
		used = (size_t)snprintf(buf, n, "every GPU at TP=");
		for (int tp = 1; tp < 64 && used < n; tp++)
			if (tps >> tp & 1) {
				int w = snprintf(buf + used, n - used, "%s%d", buf[used - 1] == '=' ? "" : ",",
						 tp);
				used += w > 0 ? (size_t)w : 0;
			}
		return;
	}
	for (size_t i = 0; i < c->n_pts && used < n; i++) {
		if (!(mask >> i & 1))
			continue;
		int sm = c->pts[i].sm;
		bool first_of_sm = true;
		for (size_t j = 0; j < i; j++)
			if (c->pts[j].sm == sm && (mask >> j & 1))
				first_of_sm = false;
		if (!first_of_sm)
			continue;
		uint64_t all = 0, have = 0;
		for (size_t j = 0; j < c->n_pts; j++)
			if (c->pts[j].sm == sm) {
				all |= 1ull << j;
				if (mask >> j & 1)
					have |= 1ull << j;
			}
		int w = snprintf(buf + used, n - used, "%ssm%d", used ? ", " : "", sm);
		used += w > 0 ? (size_t)w : 0;
		if (have != all) {
			w = snprintf(buf + used, n - used, " at TP=");
			used += w > 0 ? (size_t)w : 0;
			bool comma = false;
			for (size_t j = 0; j < c->n_pts && used < n; j++)
				if (c->pts[j].sm == sm && (mask >> j & 1)) {
					w = snprintf(buf + used, n - used, "%s%d", comma ? "," : "",
						     c->pts[j].tp);
					used += w > 0 ? (size_t)w : 0;
					comma = true;
				}
		}
	}
}

static int emit(ct_serving_report *r, size_t *cap, const ct_vllm_rule *ru, ct_severity sev,
		const char *layer, const char *msg)
{
	if (r->n_findings == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		ct_finding *g = realloc(r->findings, nc * sizeof(*g));
		if (!g)
			return CT_EIO;
		r->findings = g;
		*cap = nc;
	}
	ct_finding *f = &r->findings[r->n_findings];
	f->rule = ru;
	f->severity = sev;
	f->layer = strdup(layer);
	f->message = strdup(msg);
	if (!f->layer || !f->message) {
		free(f->layer);
		free(f->message);
		return CT_EIO;
	}
	r->n_findings++;
	if (sev != CT_SEV_NOTE)
		r->n_failed++;
	return CT_OK;
}

static int report(ctx *c, ct_serving_report *r)
{
	uint64_t all = c->n_pts >= 64 ? ~0ull : (1ull << c->n_pts) - 1, passing = 0;
	for (size_t i = 0; i < c->n_pts; i++) {
		bool failed = false;
		for (size_t k = 0; k < c->n_fs; k++)
			failed = failed || ((c->fs[k].points >> i & 1) &&
					    c->fs[k].rule->severity != CT_SEV_NOTE);
		if (!failed)
			passing |= 1ull << i;
	}
	bool single = c->n_pts == 1;
	/* serving nowhere: the failures that hold everywhere are the cause,
	 * the others (where they are not alone) notes */
	bool universal = false;
	for (size_t k = 0; k < c->n_fs && !passing; k++)
		universal = universal || (c->fs[k].points == all &&
					  c->fs[k].rule->severity != CT_SEV_NOTE);
	size_t cap = 0;
	char where[512], msg[MSG_MAX + 600];
	/* notes of one rule on one layer at several targets: one note, the
	 * targets joined, the first target's message */
	size_t *merged = calloc(c->n_fs + 1, sizeof(*merged));
	if (!merged)
		return CT_EIO;
	for (size_t k = 0; k < c->n_fs && !single && passing; k++)
		for (size_t j = 0; j < k; j++)
			if (!merged[j] && c->fs[j].rule == c->fs[k].rule &&
			    strcmp(c->fs[j].layer, c->fs[k].layer) == 0) {
				c->fs[j].points |= c->fs[k].points;
				merged[k] = j + 1;
				break;
			}
	for (size_t k = 0; k < c->n_fs; k++) {
		const pfind *f = &c->fs[k];
		/* --gpu and --tp given: a finding is an error or nothing */
		if (merged[k] || (single && f->rule->severity == CT_SEV_NOTE))
			continue;
		bool several = false;
		for (size_t j = k + 1; j < c->n_fs; j++)
			several = several || merged[j] == k + 1;
		ct_severity sev = f->rule->severity;
		if (!single && (passing || (universal && f->points != all)))
			sev = CT_SEV_NOTE;  /* it serves elsewhere: where not is a note */
		if (f->points != all) {
			describe_points(c, f->points, where, sizeof(where));
			snprintf(msg, sizeof(msg), "on %s: %s%s", where, f->message,
				 several ? " (the first of these targets; the others differ in sizes "
				 "or kernels)" : "");
		} else {
			snprintf(msg, sizeof(msg), "%s", f->message);
		}
		if (emit(r, &cap, f->rule, sev, f->layer, msg)) {
			free(merged);
			return CT_EIO;
		}
	}
	free(merged);
	if (!single) {
		if (passing == all)
			snprintf(where, sizeof(where), "every GPU tried");
		else if (passing)
			describe_points(c, passing, where, sizeof(where));
		snprintf(msg, sizeof(msg), passing ? "serves on %s (tried: sm75, sm80, sm86, sm89, "
			 "sm90, sm100, sm120 unless --gpu, TP 1, 2, 4, 8 unless --tp)" :
			 "serves on none of the GPUs and TP sizes tried%s", passing ? where : "");
		if (emit(r, &cap, rule("vllm-targets"), CT_SEV_NOTE, "(checkpoint)", msg))
			return CT_EIO;
	}
	/* kernels: per group, at TP 1 (or --tp), each GPU's choice */
	for (size_t g = 0; g < c->cfg->n_groups; g++) {
		char kbuf[1024] = "", sbuf[256] = "";
		size_t ku = 0;
		bool any = false;
		for (size_t i = 0; i < c->n_ks; i++) {
			const kern *k = &c->ks[i];
			if (k->group != (int)g)
				continue;
			any = true;
			const char *sn = k->scheme == CT_VS_COUNT ? "FusedMoE" : ct_vscheme_name(k->scheme);
			if (!strstr(sbuf, sn) && strlen(sbuf) + strlen(sn) + 3 < sizeof(sbuf))
				strcat(strcat(sbuf, sbuf[0] ? ", " : ""), sn);
			if (ku < sizeof(kbuf)) {
				int w = single ? snprintf(kbuf + ku, sizeof(kbuf) - ku, "%s%s",
							  ku ? ", " : "", k->name) :
						 snprintf(kbuf + ku, sizeof(kbuf) - ku, "%ssm%d: %s",
							  ku ? "; " : "", k->sm, k->name);
				ku += w > 0 ? (size_t)w : 0;
			}
		}
		if (!any)
			continue;
		ct_kernel_choice *kc = realloc(r->kernels, (r->n_kernels + 1) * sizeof(*kc));
		if (!kc)
			return CT_EIO;
		r->kernels = kc;
		kc = &kc[r->n_kernels++];
		kc->group = strdup(c->cfg->groups[g].name ? c->cfg->groups[g].name : "?");
		kc->scheme = strdup(sbuf);
		kc->kernel = strdup(kbuf);
		if (!kc->group || !kc->scheme || !kc->kernel)
			return CT_EIO;
	}
	return CT_OK;
}

/* ---------------------------------------------------------------- entry --- */

int ct_serving_check_vllm(const ct_checkpoint *ck, const ct_qconfig *cfg,
			  const ct_serving_target *target, ct_serving_report **out, ct_error *err)
{
	*out = NULL;
	static const ct_serving_target none;
	if (!target)
		target = &none;
	ct_serving_report *r = calloc(1, sizeof(*r));
	if (!r)
		return ct_fail(err, CT_EIO, "out of memory");
	ct_qconfig empty;
	memset(&empty, 0, sizeof(empty));
	ctx c;
	memset(&c, 0, sizeof(c));
	c.ck = ck;
	c.cfg = cfg ? cfg : &empty;
	c.fam = family_of(ck->config);
	c.dtype = cfg_str(ck->config, "torch_dtype");
	if (!c.dtype)
		c.dtype = cfg_str(ck->config, "dtype");
	c.kv_heads = cfg_int(ck->config, "num_key_value_heads");
	c.tied = cfg_true(ck->config, "tie_word_embeddings");
	bool mla = cfg_int(ck->config, "q_lora_rank") > 0;
	size_t n_sm = target->sm ? 1 : N_GRID_SM, n_tp = target->tp ? 1 : N_GRID_TP;
	for (size_t i = 0; i < n_sm; i++)
		for (size_t j = 0; j < n_tp && c.n_pts < MAX_POINTS; j++) {
			c.pts[c.n_pts].sm = target->sm ? target->sm : GRID_SM[i];
			c.pts[c.n_pts].tp = target->tp ? target->tp : GRID_TP[j];
			c.n_pts++;
		}
	ct_qmatch *qm = NULL;
	int rc = CT_OK;
	if (ct_qconfig_compile(c.cfg, &qm, err) != CT_OK) {
		ct_serving_report_free(r);
		return err->code == CT_EIO ? CT_EIO : ct_fail(err, CT_EINPUT, "%s", err->msg);
	}
	c.broken = calloc(c.cfg->n_groups + 1, sizeof(*c.broken));
	c.rule_count = calloc(ct_vllm_n_rules, sizeof(*c.rule_count));
	if (!c.broken || !c.rule_count)
		rc = CT_EIO;
	/* packed_modules_mapping: models/deepseek_v2.py adds qkv_proj only for MHA
	 * (qk_nope/qk_rope head dims 0) and fused_qkv_a_proj with q_lora_rank;
	 * models/qwen3_moe.py adds gate_up_proj when mlp_only_layers is set */
	bool deepseek = strncmp(c.fam->model_type, "deepseek", 8) == 0 ||
			strcmp(c.fam->model_type, "kimi_k2") == 0;
	bool qkv_packed = !deepseek || (cfg_int(ck->config, "qk_nope_head_dim") == 0 &&
					cfg_int(ck->config, "qk_rope_head_dim") == 0);
	const json_t *mlp_only = json_object_get(ck->config, "mlp_only_layers");
	bool gate_up_packed = c.fam->packs_gate_up ||
			      (c.fam->router_quantized && json_array_size(mlp_only) > 0);
	if (!rc)
		rc = vmatch_build(c.cfg, qkv_packed, gate_up_packed, mla, &c.vm);
	if (!rc)
		rc = collect(ck, cfg, qm, &c.ms, &c.n_ms);
	if (!rc) {
		qsort(c.ms, c.n_ms, sizeof(*c.ms), cmp_layer);
		rc = build_layers(&c);
	}
	if (!rc) {
		bool compressed = false;
		for (size_t i = 0; i < c.n_ms && !compressed; i++)
			compressed = c.ms[i].compressed;
		/* without a config vLLM loads every layer unquantized; a dense
		 * checkpoint has nothing to check */
		bool check_layers = cfg || compressed;
		c.cur = SIZE_MAX;
		check_config(&c);
		if (check_layers)
			check_moe_static(&c);
		for (size_t p = 0; p < c.n_pts && check_layers; p++) {
			c.cur = p;
			memset(c.rule_count, 0, ct_vllm_n_rules * sizeof(*c.rule_count));
			for (size_t li = 0; li < c.n_ls; li++) {
				const vlayer *L = &c.ls[li];
				if (L->kind == LK_MOE)
					eval_moe(&c, L, c.pts[p].sm, c.pts[p].tp);
				else if (L->kind != LK_OTHER)
					eval_linear(&c, L, c.pts[p].sm, c.pts[p].tp);
			}
		}
		r->n_layers = c.n_ls;
		if (!c.oom)
			rc = report(&c, r);
	}
	for (size_t i = 0; i < c.n_fs; i++) {
		free(c.fs[i].layer);
		free(c.fs[i].message);
	}
	free(c.fs);
	free(c.ks);
	free(c.ls);
	free_modules(c.ms, c.n_ms);
	free(c.broken);
	free(c.rule_count);
	vmatch_free(&c.vm);
	ct_qmatch_free(qm);
	if (rc || c.oom) {
		ct_serving_report_free(r);
		return rc == CT_EINPUT ? ct_fail(err, CT_EINPUT, "a module name is longer than %d "
						 "bytes", NAME_MAX_LEN) :
					 ct_fail(err, CT_EIO, "out of memory");
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

/* ------------------------------------------------------------- presets --- */

/* The parameters the library writes for a group in format fmt (codecs:
 * pack-quantized packs into weight_packed with weight_shape, the activation
 * formats keep weight). */
static unsigned written_params(ct_format fmt, const ct_qargs *w, const ct_qargs *in)
{
	bool static_in = in && !dyn_in(in);
	switch (fmt) {
	case CT_FMT_PACK:
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_SHAPE) |
		       (w->symmetric ? 0 : CT_PB(CT_P_ZP)) |
		       (w->actorder == CT_ACT_GROUP ? CT_PB(CT_P_GIDX) : 0);
	case CT_FMT_NVFP4:
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE) | CT_PB(CT_P_GSCALE) |
		       (in ? CT_PB(CT_P_INGSCALE) : 0);
	case CT_FMT_MXFP4:
		return CT_PB(CT_P_PACKED) | CT_PB(CT_P_SCALE);
	default:
		return CT_PB(CT_P_WEIGHT) | CT_PB(CT_P_SCALE) | (static_in ? CT_PB(CT_P_INSCALE) : 0) |
		       (static_in && in->type == CT_QTYPE_INT && !in->symmetric ? CT_PB(CT_P_INZP) : 0);
	}
}

/* Appends reason to buf unless it holds it already. */
static void add_reason(char *buf, size_t n, const char *reason)
{
	if (strstr(buf, reason))
		return;
	size_t used = strlen(buf);
	snprintf(buf + used, n - used, "%s%s", used ? "; " : "", reason);
}

bool ct_vllm_unserved(const ct_qconfig *cfg, char *why, size_t n)
{
	for (size_t g = 0; g < cfg->n_groups; g++) {
		const ct_qscheme *sc = &cfg->groups[g];
		const ct_qargs *w = sc->weights, *in = sc->input_activations;
		if (!w || attention_only(sc))
			continue;
		ct_format fmt = sc->format != CT_FMT_NONE ? sc->format : cfg->format;
		bool served = false;
		char reasons[640] = "", one[400];
		for (size_t i = 0; i < N_GRID_SM && !served; i++) {
			int sm = GRID_SM[i];
			ct_vscheme s = ct_vllm_scheme(w, in, fmt, sm);
			if (s == CT_VS_NONE || sm < ct_vscheme_min_capability(s))
				continue;
			if (s == CT_VS_W4A8_INT) {
				/* choose_mp_linear_kernel: no CUDA kernel takes int4 with
				 * 16-bit activations */
				snprintf(one, sizeof(one), "off sm90 it reaches %s, which no CUDA kernel "
					 "implements", ct_vscheme_name(s));
				add_reason(reasons, sizeof(reasons), one);
				continue;
			}
			if (s == CT_VS_W8A16_FP8 && !ct_vllm_wfp8a16_kernel(sm))
				continue;
			unsigned want = ct_vscheme_params(s, w, in), have = written_params(fmt, w, in);
			if (want != have) {
				char a[160], b[160];
				describe_params(want, a, sizeof(a));
				describe_params(have, b, sizeof(b));
				snprintf(one, sizeof(one), "on sm%d it reaches %s, which loads %s, but %s "
					 "holds %s", sm, ct_vscheme_name(s), a,
					 ct_format_name(fmt) ? ct_format_name(fmt) : "the format", b);
				add_reason(reasons, sizeof(reasons), one);
				continue;
			}
			served = true;
		}
		if (!served) {
			snprintf(why, n, "group %s: %s", sc->name ? sc->name : "?",
				 reasons[0] ? reasons : "no vLLM scheme takes it (_get_scheme_from_parts)");
			return true;
		}
	}
	return false;
}
