/*
 * convert.c - the reader table, detection, what readers share, and the
 * compressed-tensors config of a conversion (schemes -> config groups,
 * modules left dense -> ignore), checked with the library's own matching
 * before anything is written.
 */
#include "convert.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modclass.h"
#include "plan.h"
#include "qconfig.h"

#define NAME_MAX_LEN 4096

/* ------------------------------------------------------------ readers --- */

static const ct_source *const sources[] = {
	&ct_src_gptq, &ct_src_awq, &ct_src_fp8, &ct_src_modelopt, &ct_src_autoround,
	&ct_src_mxfp4, NULL,
};

const ct_source *const *ct_sources(void)
{
	return sources;
}

const ct_source *ct_source_find(const char *name)
{
	for (size_t i = 0; sources[i]; i++)
		if (strcmp(sources[i]->name, name) == 0)
			return sources[i];
	return NULL;
}

const ct_source *ct_source_detect(const json_t *qcfg, const json_t *hfq)
{
	for (size_t i = 0; sources[i]; i++)
		if (sources[i]->detect(qcfg, hfq))
			return sources[i];
	return NULL;
}

/* ------------------------------------------------------ json helpers --- */

const char *ct_conv_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_array(v))
		v = json_array_get(v, 0);
	return json_string_value(v);
}

bool ct_conv_int(const json_t *obj, const char *key, int64_t def, int64_t lo, int64_t hi,
		 int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return true;
	}
	if (!json_is_integer(v))
		return false;
	json_int_t x = json_integer_value(v);
	if (x < lo || x > hi)
		return false;
	*out = (int64_t)x;
	return true;
}

bool ct_conv_bool(const json_t *obj, const char *key, bool def, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return true;
	}
	if (!json_is_boolean(v))
		return false;
	*out = json_is_true(v);
	return true;
}

json_t *ct_conv_int_weights(int bits, bool sym, int64_t group_size, bool actorder_group)
{
	json_t *w = json_pack("{s:i, s:s, s:b, s:s, s:b}", "num_bits", bits, "type", "int",
			      "symmetric", sym, "strategy", group_size < 0 ? "channel" : "group",
			      "dynamic", 0);
	if (!w)
		return NULL;
	json_object_set_new(w, "group_size", group_size < 0 ? json_null() :
			    json_integer((json_int_t)group_size));
	json_object_set_new(w, "actorder", actorder_group ? json_string("group") : json_null());
	return w;
}

int ct_conv_ignore_pattern(ct_conv *cv, const char *key, size_t index, const char *pat,
			   ct_error *err)
{
	ct_matcher *m = NULL;
	ct_error e;
	ct_error_clear(&e);
	int rc = ct_matcher_new(&pat, 1, "ignore", &m, &e);
	ct_matcher_free(m);
	if (rc == CT_EIO)
		return ct_fail(err, CT_EIO, "out of memory");
	if (rc)
		return ct_fail(err, CT_EINPUT, "%s: quantization_config.%s[%zu]: '%s' becomes the "
			       "ignore entry '%s', which is not a valid pattern (%s)", cv->label, key,
			       index, pat + (strncmp(pat, "re:", 3) == 0 ? 3 : 0), pat, e.msg);
	return json_array_append_new(cv->ignore, json_string(pat)) ?
	       ct_fail(err, CT_EIO, "out of memory") : CT_OK;
}

/* ---------------------------------------------------- building blocks --- */

const ct_tref *ct_conv_find(const ct_conv *cv, const char *module, const char *suffix)
{
	char name[NAME_MAX_LEN];
	int n = snprintf(name, sizeof(name), "%s.%s", module, suffix);
	if (n < 0 || (size_t)n >= sizeof(name))
		return NULL;
	return ct_ckpt_find(cv->ck, name);
}

void ct_conv_consume(ct_conv *cv, const ct_tref *r)
{
	if (r)
		cv->consumed[r - cv->ck->tensors] = true;
}

int ct_conv_rename(ct_conv *cv, const ct_tref *r, const char *name, ct_error *err)
{
	size_t i = (size_t)(r - cv->ck->tensors);
	if (ct_ckpt_find(cv->ck, name))
		return ct_fail(err, CT_EINPUT, "%s: %s would be carried over as %s, which the "
			       "checkpoint already holds", cv->ck->shard_names[r->shard], r->t->name,
			       name);
	free(cv->renamed[i]);
	cv->renamed[i] = strdup(name);
	return cv->renamed[i] ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

const char *ct_convert_out_name(const ct_conv *cv, const ct_tensor *t)
{
	const ct_tref *r = ct_ckpt_find(cv->ck, t->name);
	if (r && r->t == t && cv->renamed[r - cv->ck->tensors])
		return cv->renamed[r - cv->ck->tensors];
	return t->name;
}

const ct_tref *ct_convert_renamed_from(const ct_conv *cv, const char *name)
{
	/* renames are a handful (KV-cache scales): a scan is enough */
	for (size_t i = 0; i < cv->ck->n_tensors; i++)
		if (cv->renamed[i] && strcmp(cv->renamed[i], name) == 0)
			return &cv->ck->tensors[i];
	return NULL;
}

bool ct_convert_consumed(const ct_conv *cv, const ct_tensor *t)
{
	const ct_tref *r = ct_ckpt_find(cv->ck, t->name);
	return r && r->t == t && cv->consumed[r - cv->ck->tensors];
}

int ct_conv_add_module(ct_conv *cv, const char *name, ct_conv_module **out, ct_error *err)
{
	if (cv->n_mods == cv->cap_mods) {
		size_t cap = cv->cap_mods ? cv->cap_mods * 2 : 16;
		ct_conv_module *m = realloc(cv->mods, cap * sizeof(*m));
		if (!m)
			return -ct_fail(err, CT_EIO, "out of memory");
		cv->mods = m;
		cv->cap_mods = cap;
	}
	ct_conv_module *m = &cv->mods[cv->n_mods];
	memset(m, 0, sizeof(*m));
	m->name = strdup(name);
	if (!m->name)
		return -ct_fail(err, CT_EIO, "out of memory");
	m->exact = true;
	*out = m;
	return (int)cv->n_mods++;
}

int ct_conv_add_out(ct_conv *cv, size_t mod, const char *suffix, ct_dtype dt, int ndim,
		    const uint64_t *shape, const ct_tref *src, ct_conv_produce_fn produce,
		    ct_error *err)
{
	if (cv->n_outs == cv->cap_outs) {
		size_t cap = cv->cap_outs ? cv->cap_outs * 2 : 64;
		ct_conv_out *o = realloc(cv->outs, cap * sizeof(*o));
		if (!o)
			return ct_fail(err, CT_EIO, "out of memory");
		cv->outs = o;
		cv->cap_outs = cap;
	}
	const char *module = cv->mods[mod].name;
	size_t ml = strlen(module), sl = strlen(suffix);
	ct_conv_out *o = &cv->outs[cv->n_outs];
	memset(o, 0, sizeof(*o));
	o->name = malloc(ml + sl + 2);
	if (!o->name)
		return ct_fail(err, CT_EIO, "out of memory");
	memcpy(o->name, module, ml);
	o->name[ml] = '.';
	memcpy(o->name + ml + 1, suffix, sl + 1);
	o->module_len = ml;
	o->dtype = dt;
	o->ndim = ndim;
	for (int d = 0; d < ndim; d++)
		o->shape[d] = shape[d];
	o->src = src;
	o->mod = mod;
	o->produce = produce;
	ct_conv_consume(cv, src);
	cv->n_outs++;
	return CT_OK;
}

int ct_conv_scheme(ct_conv *cv, json_t *scheme, ct_error *err)
{
	if (!scheme)
		return -ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; i < json_array_size(cv->schemes); i++) {
		if (json_equal(json_array_get(cv->schemes, i), scheme)) {
			json_decref(scheme);
			return (int)i;
		}
	}
	if (json_array_append_new(cv->schemes, scheme))
		return -ct_fail(err, CT_EIO, "out of memory");
	return (int)json_array_size(cv->schemes) - 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ct_conv_modules_with(const ct_conv *cv, const char *suffix, char ***names, size_t *n,
			 ct_error *err)
{
	size_t sl = strlen(suffix), cnt = 0;
	char **v = calloc(cv->ck->n_tensors + 1, sizeof(char *));
	if (!v)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; i < cv->ck->n_tensors; i++) {
		const ct_tensor *t = cv->ck->tensors[i].t;
		if (t->name_len <= sl || strcmp(t->name + t->name_len - sl, suffix) != 0)
			continue;
		v[cnt] = strndup(t->name, t->name_len - sl);
		if (!v[cnt]) {
			ct_conv_names_free(v, cnt);
			return ct_fail(err, CT_EIO, "out of memory");
		}
		cnt++;
	}
	/* by name, so that modules and messages come in a stable order */
	qsort(v, cnt, sizeof(char *), cmp_str);
	*names = v;
	*n = cnt;
	return CT_OK;
}

void ct_conv_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int ct_conv_expect(const ct_conv *cv, const ct_tref *r, const char *module, const char *suffix,
		   ct_dtype dt, int ndim, const uint64_t *shape, ct_error *err)
{
	const char *file = cv->ck->shard_names[r ? r->shard : 0];
	if (!r)
		return ct_fail(err, CT_EINPUT, "%s: %s.%s: missing (the module's other tensors are "
			       "there)", file, module, suffix);
	const ct_tensor *t = r->t;
	bool dt_ok = dt == CT_DTYPE_COUNT ? (t->dtype == CT_F16 || t->dtype == CT_BF16 ||
					     t->dtype == CT_F32) : t->dtype == dt;
	bool shape_ok = t->ndim == ndim;
	for (int d = 0; shape_ok && d < ndim; d++)
		shape_ok = t->shape[d] == shape[d];
	if (dt_ok && shape_ok)
		return CT_OK;
	char want[256] = "", got[256] = "";
	size_t a = 0, b = 0;
	for (int d = 0; d < ndim && a < sizeof(want) - 24; d++)
		a += (size_t)snprintf(want + a, sizeof(want) - a, "%s%" PRIu64, d ? ", " : "",
				      shape[d]);
	for (int d = 0; d < t->ndim && b < sizeof(got) - 24; d++)
		b += (size_t)snprintf(got + b, sizeof(got) - b, "%s%" PRIu64, d ? ", " : "",
				      t->shape[d]);
	return ct_fail(err, CT_EINPUT, "%s: %s: %s [%s] (expected %s [%s])", file, t->name,
		       ct_dtype_name(t->dtype), got,
		       dt == CT_DTYPE_COUNT ? "F16, BF16 or F32" : ct_dtype_name(dt), want);
}

/* ------------------------------------------------- shared producers --- */

#define CHUNK (1u << 20)

int ct_conv_copy_bytes(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
		       ct_error *err)
{
	(void)cv;
	const ct_tensor *t = o->src->t;
	uint64_t n = t->end - t->begin;
	for (uint64_t off = 0; off < n; off += CHUNK) {
		size_t m = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
		int rc = emit(ctx, 0, t->data + off, m, err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

int ct_conv_widen_f32(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
		      ct_error *err)
{
	(void)cv;
	const ct_tensor *t = o->src->t;
	float buf[1024];
	for (uint64_t i = 0; i < t->nelem; i += 1024) {
		size_t n = t->nelem - i < 1024 ? (size_t)(t->nelem - i) : 1024;
		for (size_t k = 0; k < n; k++)
			buf[k] = ct_load_f32(t->dtype, t->data, (size_t)i + k);
		int rc = emit(ctx, 0, buf, n * 4, err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

/* A block of output rows at a time, each a column of the source: reading
 * a column element by element touches one cache line per element, so the
 * source is read row by row across the block's columns instead (contiguous
 * bytes) and scattered into the block, which stays in cache. */
#define TRANSPOSE_BLOCK (1u << 20)
#define TRANSPOSE_TILE 64

int ct_conv_transpose(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
		      ct_error *err)
{
	(void)cv;
	const ct_tensor *t = o->src->t;
	size_t esz = ct_dtype_size(t->dtype);
	uint64_t r = t->shape[0], c = t->shape[1];
	if (t->ndim != 2 || (esz != 2 && esz != 4) || o->ndim != 2 || o->shape[0] != c ||
	    o->shape[1] != r)
		return ct_fail(err, CT_EINTERNAL, "%s: transpose of an unplanned shape", o->name);
	/* the shapes were validated against the tensor's bytes: r * c * esz fits */
	uint64_t row_bytes = r * esz;
	uint64_t cols = row_bytes ? TRANSPOSE_BLOCK / row_bytes : 1;
	if (cols < 1)
		cols = 1;
	if (cols > c)
		cols = c;
	uint8_t *buf = malloc(cols && row_bytes ? (size_t)(cols * row_bytes) : 1);
	if (!buf)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	for (uint64_t j0 = 0; j0 < c && !rc; j0 += cols) {
		uint64_t nj = c - j0 < cols ? c - j0 : cols;
		for (uint64_t i0 = 0; i0 < r; i0 += TRANSPOSE_TILE) {
			uint64_t ni = r - i0 < TRANSPOSE_TILE ? r - i0 : TRANSPOSE_TILE;
			for (uint64_t jt = 0; jt < nj; jt += TRANSPOSE_TILE) {
				uint64_t nt = nj - jt < TRANSPOSE_TILE ? nj - jt : TRANSPOSE_TILE;
				for (uint64_t i = i0; i < i0 + ni; i++) {
					const uint8_t *src = t->data + (i * c + j0 + jt) * esz;
					if (esz == 4) {
						for (uint64_t j = 0; j < nt; j++) {
							uint32_t v;
							memcpy(&v, src + j * 4, 4);
							memcpy(buf + ((jt + j) * r + i) * 4, &v, 4);
						}
					} else {
						for (uint64_t j = 0; j < nt; j++) {
							uint16_t v;
							memcpy(&v, src + j * 2, 2);
							memcpy(buf + ((jt + j) * r + i) * 2, &v, 2);
						}
					}
				}
			}
		}
		rc = emit(ctx, 0, buf, (size_t)(nj * row_bytes), err);
	}
	free(buf);
	return rc;
}

int ct_conv_weight_shape(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			 ct_error *err)
{
	const ct_conv_module *m = &cv->mods[o->mod];
	int64_t v[2] = { (int64_t)m->rows, (int64_t)m->cols };
	return emit(ctx, 0, v, sizeof(v), err);
}

/* ------------------------------------------------------------ config --- */

/* The module of a dense 2-D weight that no reader converted, with its class. */
static bool dense_linear(const ct_conv *cv, const ct_arch *arch, size_t i, char *module,
			 size_t size)
{
	const ct_tensor *t = cv->ck->tensors[i].t;
	if (cv->consumed[i] || t->ndim != 2 || t->name_len < 7 ||
	    strcmp(t->name + t->name_len - 7, ".weight") != 0 ||
	    !ct_module_of(t->name, module, size))
		return false;
	return ct_module_class(module, 2, arch) == CT_MOD_LINEAR;
}

bool ct_conv_fused_pair(const ct_conv *cv, size_t i, size_t j)
{
	char ka[NAME_MAX_LEN], kb[NAME_MAX_LEN];
	return ct_fusion_key(cv->mods[i].name, ka, sizeof(ka)) &&
	       ct_fusion_key(cv->mods[j].name, kb, sizeof(kb)) && strcmp(ka, kb) == 0;
}

/* A module's fusion key beside its index, sorted by key then index (C11's
 * qsort has no context argument). */
typedef struct keyed {
	char *key;
	size_t mod;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : x->mod < y->mod ? -1 : x->mod > y->mod;
}

static const keyed *find_key(const keyed *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(v[lo].key, key) == 0 ? &v[lo] : NULL;
}

/* vLLM fuses q/k/v and gate/up into one layer with one scheme: partners
 * that are converted differently, or one converted and one dense, cannot
 * be served. Keys are computed once and sorted, so that partners are
 * neighbours: a MoE checkpoint has tens of thousands of modules, too many
 * to compare pair by pair. */
static int check_fused(const ct_conv *cv, const ct_arch *arch, ct_error *err)
{
	char key[NAME_MAX_LEN], mod[NAME_MAX_LEN];
	keyed *v = calloc(cv->n_mods + 1, sizeof(*v));
	size_t n = 0;
	int rc = v ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; !rc && i < cv->n_mods; i++) {
		if (!ct_fusion_key(cv->mods[i].name, key, sizeof(key)))
			continue;
		if (!(v[n].key = strdup(key)))
			rc = ct_fail(err, CT_EIO, "out of memory");
		else
			v[n++].mod = i;
	}
	if (!rc)
		qsort(v, n, sizeof(*v), cmp_keyed);
	/* within a run of one key, every module has the first one's scheme */
	for (size_t i = 1, first = 0; !rc && i < n; i++) {
		if (strcmp(v[i].key, v[first].key) != 0) {
			first = i;
			continue;
		}
		const ct_conv_module *a = &cv->mods[v[first].mod], *b = &cv->mods[v[i].mod];
		if (a->scheme != b->scheme)
			rc = ct_fail(err, CT_EINPUT, "%s and %s: quantized differently, but vLLM fuses "
				     "them into one layer with one scheme", a->name, b->name);
	}
	for (size_t t = 0; !rc && n && t < cv->ck->n_tensors; t++) {
		const keyed *k;
		if (dense_linear(cv, arch, t, mod, sizeof(mod)) &&
		    ct_fusion_key(mod, key, sizeof(key)) && (k = find_key(v, n, key)))
			rc = ct_fail(err, CT_EINPUT, "%s is quantized but %s is not, and vLLM fuses them "
				     "into one layer with one scheme", cv->mods[k->mod].name, mod);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].key);
	free(v);
	return rc;
}

/* Modules per scheme: the largest group targets "Linear", the others name
 * their modules (an exact name is more specific than a class). */
static json_t *config_groups(const ct_conv *cv, size_t *largest)
{
	size_t ns = json_array_size(cv->schemes);
	size_t *count = calloc(ns + 1, sizeof(size_t));
	if (!count)
		return NULL;
	for (size_t i = 0; i < cv->n_mods; i++)
		count[cv->mods[i].scheme]++;
	size_t big = 0;
	for (size_t s = 1; s < ns; s++)
		if (count[s] > count[big])
			big = s;
	*largest = big;
	json_t *groups = json_object();
	for (size_t s = 0; groups && s < ns; s++) {
		json_t *g = json_deep_copy(json_array_get(cv->schemes, s));
		json_t *targets = json_array();
		if (!g || !targets) {
			json_decref(g);
			json_decref(targets);
			json_decref(groups);
			groups = NULL;
			break;
		}
		if (s == big) {
			json_array_append_new(targets, json_string("Linear"));
		} else {
			for (size_t i = 0; i < cv->n_mods; i++)
				if ((size_t)cv->mods[i].scheme == s)
					json_array_append_new(targets, json_string(cv->mods[i].name));
		}
		json_object_set_new(g, "targets", targets);
		if (!json_object_get(g, "output_activations"))
			json_object_set_new(g, "output_activations", json_null());
		char name[32];
		snprintf(name, sizeof(name), "group_%zu", s);
		json_object_set_new(groups, name, g);
	}
	free(count);
	return groups;
}

static const char *scheme_format(const ct_conv *cv, size_t s)
{
	return json_string_value(json_object_get(json_array_get(cv->schemes, s), "format"));
}

static json_t *build_config(const ct_conv *cv, json_t *ignore)
{
	size_t largest = 0;
	json_t *groups = config_groups(cv, &largest);
	if (!groups)
		return NULL;
	const char *fmt = scheme_format(cv, 0);
	for (size_t s = 1; s < json_array_size(cv->schemes); s++)
		if (strcmp(scheme_format(cv, s), fmt) != 0)
			fmt = "mixed-precision";
	json_t *c = json_pack("{s:s, s:s, s:o, s:O, s:s, s:s, s:n}", "quant_method",
			      "compressed-tensors", "format", fmt, "config_groups", groups,
			      "ignore", ignore, "quantization_status", "compressed", "version",
			      "0.18.0", "global_compression_ratio");
	if (c)
		json_object_set(c, "kv_cache_scheme", cv->kv_cache_scheme ? cv->kv_cache_scheme :
				json_null());
	return c;
}

/* The config, parsed back as the library would read it, must quantize each
 * converted module with its own scheme and leave every other Linear dense. */
static int check_matching(const ct_conv *cv, const ct_qconfig *q, const ct_arch *arch,
			  const size_t *group_of_scheme, bool *dense_ok, ct_error *err)
{
	ct_qmatch *qm = NULL;
	int rc = ct_qconfig_compile(q, &qm, err);
	if (rc)
		return rc;
	*dense_ok = true;
	for (size_t i = 0; !rc && i < cv->n_mods; i++) {
		int g = -1;
		rc = ct_qmatch_resolve(qm, cv->mods[i].name, CT_MOD_LINEAR, &g, err);
		if (!rc && (g < 0 || (size_t)g != group_of_scheme[cv->mods[i].scheme]))
			*dense_ok = false;
	}
	char mod[NAME_MAX_LEN];
	for (size_t t = 0; !rc && *dense_ok && t < cv->ck->n_tensors; t++)
		if (dense_linear(cv, arch, t, mod, sizeof(mod)) &&
		    !ct_qmatch_ignored(qm, mod, CT_MOD_LINEAR))
			*dense_ok = false;
	ct_qmatch_free(qm);
	return rc;
}

static int finish_config(ct_conv *cv, ct_error *err)
{
	ct_arch arch;
	ct_arch_from_config(cv->ck->config, &arch);
	int rc = check_fused(cv, &arch, err);
	if (rc)
		return rc;
	/* the source's own exclusions (in the library converter's form), then
	 * every other dense Linear by name */
	json_t *ignore = json_deep_copy(cv->ignore);
	if (!ignore)
		return ct_fail(err, CT_EIO, "out of memory");
	char mod[NAME_MAX_LEN];
	for (int attempt = 0; attempt < 2 && !rc; attempt++) {
		if (attempt == 1) {
			/* a source pattern also caught a converted module: names only */
			json_array_clear(ignore);
		}
		ct_matcher *seed = NULL;
		size_t n = json_array_size(ignore);
		const char **pats = calloc(n + 1, sizeof(char *));
		if (!pats) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		for (size_t i = 0; i < n; i++)
			pats[i] = json_string_value(json_array_get(ignore, i));
		rc = ct_matcher_new(pats, n, "ignore", &seed, err);
		free(pats);
		for (size_t t = 0; !rc && t < cv->ck->n_tensors; t++)
			if (dense_linear(cv, &arch, t, mod, sizeof(mod)) &&
			    !ct_matcher_match(seed, mod, CT_MOD_LINEAR))
				json_array_append_new(ignore, json_string(mod));
		ct_matcher_free(seed);
		json_t *c = rc ? NULL : build_config(cv, ignore);
		if (!rc && !c)
			rc = ct_fail(err, CT_EIO, "out of memory");
		ct_qconfig *q = NULL;
		if (!rc)
			rc = ct_qconfig_parse(c, "the converted config", &q, err);
		json_decref(c);
		if (rc) {
			rc = ct_error_prefix(err, "internal: ");
			rc = CT_EINTERNAL;
			break;
		}
		/* group index of each scheme: the parsed groups keep their order */
		size_t ns = json_array_size(cv->schemes);
		size_t *gos = calloc(ns + 1, sizeof(size_t));
		bool ok = false;
		if (!gos) {
			rc = ct_fail(err, CT_EIO, "out of memory");
		} else {
			for (size_t s = 0; s < ns; s++) {
				char name[32];
				snprintf(name, sizeof(name), "group_%zu", s);
				gos[s] = (size_t)-1;
				for (size_t g = 0; g < q->n_groups; g++)
					if (strcmp(q->groups[g].name, name) == 0)
						gos[s] = g;
			}
			rc = check_matching(cv, q, &arch, gos, &ok, err);
		}
		free(gos);
		if (!rc && ok) {
			cv->out_qcfg = ct_qconfig_to_json(q);
			if (!cv->out_qcfg)
				rc = ct_fail(err, CT_EIO, "out of memory");
		}
		ct_qconfig_free(q);
		if (!rc && ok)
			break;
		if (!rc && attempt == 1)
			rc = ct_fail(err, CT_EINTERNAL, "the converted config does not select the "
				     "converted modules");
	}
	json_decref(ignore);
	return rc;
}

/* ---------------------------------------------------- what was read --- */

/* The values of the tensors a conversion carries into the output, checked
 * as verify checks them there (ct_codec_load_scales: a weight scale must be
 * finite, a negative one is valid data; check_act_param: an input scale
 * finite and > 0; an FP8 E4M3 weight holds no NaN code, 0x7F or 0xFF, which
 * compressed-tensors' float8_e4m3fn and vLLM read as NaN), so that convert
 * refuses with exit 3 what verify would reject after it. */
static int check_values(const ct_conv *cv, ct_error *err)
{
	for (size_t i = 0; i < cv->n_outs; i++) {
		const ct_conv_out *o = &cv->outs[i];
		const ct_tensor *t = o->src->t;
		const char *suffix = o->name + o->module_len + 1;
		const char *file = cv->ck->shard_names[o->src->shard];
		bool scale = strcmp(suffix, "weight_scale") == 0;
		bool act = strcmp(suffix, "input_scale") == 0;
		bool fp8 = o->dtype == CT_F8_E4M3 && t->dtype == CT_F8_E4M3 &&
			   (strcmp(suffix, "weight") == 0 || scale);
		if (fp8) {
			for (uint64_t k = 0; k < t->nelem; k++)
				if ((t->data[k] & 0x7F) == 0x7F)
					return ct_fail(err, CT_EINPUT, "%s: %s: element %" PRIu64 " is the "
						       "F8_E4M3 NaN code 0x%02X (expected a finite "
						       "value)", file, t->name, k, t->data[k]);
			continue;
		}
		if (!(scale || act) || !ct_dtype_is_float(t->dtype))
			continue;
		for (uint64_t k = 0; k < t->nelem; k++) {
			float v = ct_load_f32(t->dtype, t->data, (size_t)k);
			if (!isfinite(v) || (act && !(v > 0.0f)))
				return ct_fail(err, CT_EINPUT, "%s: %s: value %" PRIu64 " is %g "
					       "(expected finite%s)", file, t->name, k, (double)v,
					       act ? " and > 0" : "");
		}
	}
	/* tensors carried over renamed are KV-cache scales (k_scale, v_scale):
	 * activation parameters, finite and > 0 as check_act_param wants */
	for (size_t i = 0; i < cv->ck->n_tensors; i++) {
		const ct_tensor *t = cv->ck->tensors[i].t;
		if (!cv->renamed[i] || !ct_dtype_is_float(t->dtype))
			continue;
		for (uint64_t k = 0; k < t->nelem; k++) {
			float v = ct_load_f32(t->dtype, t->data, (size_t)k);
			if (!isfinite(v) || !(v > 0.0f))
				return ct_fail(err, CT_EINPUT, "%s: %s: value %" PRIu64 " is %g "
					       "(expected finite and > 0)",
					       cv->ck->shard_names[cv->ck->tensors[i].shard], t->name, k,
					       (double)v);
		}
	}
	return CT_OK;
}

static bool ends_with(const char *s, size_t n, const char *suffix, size_t *stem)
{
	size_t m = strlen(suffix);
	if (n <= m || strcmp(s + n - m, suffix) != 0)
		return false;
	*stem = n - m;
	return true;
}

/* What no reader consumed but cannot be carried over: the parts of a
 * GPTQ or AWQ module (qzeros, scales, g_idx) without its qweight, which
 * would reach the output as stray tensors no loader reads; and a converted
 * module whose dense weight is stored too, which would be both quantized
 * and dense. */
static int check_leftovers(const ct_conv *cv, ct_error *err)
{
	static const char *const parts[] = { ".qzeros", ".scales", ".g_idx", ".qweight" };
	for (size_t i = 0; i < cv->ck->n_tensors; i++) {
		const ct_tensor *t = cv->ck->tensors[i].t;
		size_t stem;
		if (cv->consumed[i] || cv->renamed[i])
			continue;
		for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++)
			if (ends_with(t->name, t->name_len, parts[p], &stem))
				return ct_fail(err, CT_EINPUT, "%s: %.*s: %s is stored but %.*s.qweight "
					       "is not (a quantized module needs its qweight)",
					       cv->ck->shard_names[cv->ck->tensors[i].shard],
					       (int)stem, t->name, parts[p] + 1, (int)stem, t->name);
	}
	for (size_t m = 0; m < cv->n_mods; m++) {
		const ct_tref *w = ct_conv_find(cv, cv->mods[m].name, "weight");
		if (w && !cv->consumed[w - cv->ck->tensors])
			return ct_fail(err, CT_EINPUT, "%s: %s: stored both dense (%s) and quantized "
				       "(expected one of them)", cv->ck->shard_names[w->shard],
				       cv->mods[m].name, w->t->name);
	}
	return CT_OK;
}

/* -------------------------------------------------------------- open --- */

void ct_convert_free(ct_conv *cv)
{
	if (!cv)
		return;
	for (size_t i = 0; i < cv->n_mods; i++) {
		free(cv->mods[i].name);
		free(cv->mods[i].mapping);
	}
	free(cv->mods);
	for (size_t i = 0; i < cv->n_outs; i++)
		free(cv->outs[i].name);
	free(cv->outs);
	free(cv->outs_by_name);
	free(cv->consumed);
	for (size_t i = 0; cv->renamed && i < cv->ck->n_tensors; i++)
		free(cv->renamed[i]);
	free(cv->renamed);
	json_decref(cv->schemes);
	json_decref(cv->ignore);
	json_decref(cv->kv_cache_scheme);
	json_decref(cv->out_qcfg);
	ct_strlist_free(&cv->warnings);
	free(cv->summary);
	free(cv);
}

const ct_conv_module *ct_convert_module(const ct_conv *cv, const char *name)
{
	/* modules are few next to tensors: a linear search per lookup is fine
	 * for verify, which makes one per module */
	for (size_t i = 0; i < cv->n_mods; i++)
		if (strcmp(cv->mods[i].name, name) == 0)
			return &cv->mods[i];
	return NULL;
}

/* C11's qsort has no context argument: each index is sorted beside its
 * name. */
typedef struct named_out {
	const char *name;
	size_t index;
} named_out;

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const named_out *)a)->name, ((const named_out *)b)->name);
}

/* Sorts the outputs by name, for ct_convert_out: verify looks one up per
 * stored tensor, and a MoE checkpoint has tens of thousands. */
static int index_outs(ct_conv *cv, ct_error *err)
{
	named_out *v = malloc((cv->n_outs + 1) * sizeof(*v));
	cv->outs_by_name = malloc((cv->n_outs + 1) * sizeof(size_t));
	if (!v || !cv->outs_by_name) {
		free(v);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	for (size_t i = 0; i < cv->n_outs; i++)
		v[i] = (named_out){ cv->outs[i].name, i };
	qsort(v, cv->n_outs, sizeof(*v), cmp_named);
	for (size_t i = 0; i < cv->n_outs; i++)
		cv->outs_by_name[i] = v[i].index;
	free(v);
	return CT_OK;
}

const ct_conv_out *ct_convert_out(const ct_conv *cv, const char *name)
{
	size_t lo = 0, hi = cv->outs_by_name ? cv->n_outs : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const ct_conv_out *o = &cv->outs[cv->outs_by_name[mid]];
		int c = strcmp(o->name, name);
		if (c == 0)
			return o;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void list_names(strbuf *sb)
{
	for (size_t i = 0; sources[i]; i++)
		sb_printf(sb, "%s%s", i ? ", " : "", sources[i]->name);
}

int ct_convert_open(const ct_checkpoint *ck, const json_t *qcfg, const json_t *hfq,
		    const char *label, const char *from, ct_conv **out, ct_error *err)
{
	*out = NULL;
	const ct_source *det = ct_source_detect(qcfg, hfq);
	const ct_source *src = det;
	if (from) {
		src = ct_source_find(from);
		if (!src) {
			strbuf sb;
			sb_init(&sb);
			list_names(&sb);
			int rc = ct_fail(err, CT_EUSAGE, "--from: '%s' is not a source format (%s)",
					 from, sb.data ? sb.data : "");
			sb_free(&sb);
			return rc;
		}
		if (det && det != src)
			return ct_fail(err, CT_EUSAGE, "--from %s, but %s describes a %s checkpoint",
				       from, label, det->name);
	}
	if (!src) {
		const char *qm = ct_conv_str(qcfg, "quant_method");
		if (qm && strcmp(qm, "compressed-tensors") == 0)
			return ct_fail(err, CT_EINPUT, "%s: already compressed-tensors: nothing to "
				       "convert", label);
		if (!qcfg && !hfq)
			return ct_fail(err, CT_EINPUT, "%s: no quantization_config (a quantized "
				       "checkpoint's config.json, or -c CONFIG, says how it was "
				       "made)", label);
		return ct_fail(err, CT_EINPUT, "%s: quant_method %s%s%s: no reader for this source "
			       "(convert reads gptq, awq, fp8, modelopt, auto-round and mxfp4 checkpoints)",
			       label, qm ? "'" : "", qm ? qm : "absent", qm ? "'" : "");
	}
	ct_conv *cv = calloc(1, sizeof(*cv));
	if (!cv)
		return ct_fail(err, CT_EIO, "out of memory");
	cv->ck = ck;
	cv->src = src;
	cv->qcfg = qcfg;
	cv->hfq = hfq;
	cv->label = label;
	cv->consumed = calloc(ck->n_tensors + 1, sizeof(bool));
	cv->renamed = calloc(ck->n_tensors + 1, sizeof(char *));
	cv->schemes = json_array();
	cv->ignore = json_array();
	if (!cv->consumed || !cv->renamed || !cv->schemes || !cv->ignore) {
		ct_convert_free(cv);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	int rc = src->plan(cv, err);
	if (!rc && cv->n_mods == 0)
		rc = ct_fail(err, CT_EINPUT, "%s: a %s config, but no tensor of the checkpoint is "
			     "quantized that way", label, src->name);
	if (!rc)
		rc = check_leftovers(cv, err);
	if (!rc)
		rc = check_values(cv, err);
	if (!rc)
		rc = finish_config(cv, err);
	if (!rc)
		rc = index_outs(cv, err);
	if (!rc && cv->warnings.failed)
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (rc) {
		ct_convert_free(cv);
		return rc;
	}
	*out = cv;
	return CT_OK;
}

int ct_source_configs_load(const ct_checkpoint *ck, const char *path, json_t **q,
			    json_t **hfq, const char **label, ct_error *err)
{
	*q = *hfq = NULL;
	json_t *whole = NULL;
	int rc = CT_OK;
	if (path) {
		rc = ct_json_load_file(path, 64u << 20, &whole, err);
		*label = path;
	} else if (ck->config) {
		whole = json_incref(ck->config);
		*label = ck->config_name ? ck->config_name : "config.json";
	} else {
		*label = ck->shard_names[0];
	}
	if (rc)
		return rc;
	json_t *qc = json_object_get(whole, "quantization_config");
	if (!qc)
		qc = json_object_get(json_object_get(whole, "text_config"), "quantization_config");
	if (!qc && path && json_object_get(whole, "quant_method"))
		qc = whole;
	if (json_is_object(qc))
		*q = json_incref(qc);
	json_decref(whole);
	if (ck->kind == CT_CKPT_DIR) {
		size_t n = strlen(ck->dir) + sizeof(CT_HFQ_NAME) + 2;
		char *p = malloc(n);
		if (!p)
			return ct_fail(err, CT_EIO, "out of memory");
		snprintf(p, n, "%s/%s", ck->dir, CT_HFQ_NAME);
		struct stat st;
		if (stat(p, &st) == 0)
			rc = ct_json_load_file(p, 16u << 20, hfq, err);
		free(p);
	}
	return rc;
}
