/* cmd_inspect.c - `ctensors inspect`: what a checkpoint holds. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "describe.h"
#include "moe.h"
#include "pyjson.h"
#include "qconfig.h"
#include "serving.h"
#include "suggest.h"

/* Longest role text (describe.h promises 64 bytes suffice). */
#define ROLE_MAX 64
/* Integer components of a name tried for folding: enough for layer and
 * expert indices, bounded so hostile names cannot blow up the work. */
#define FOLD_POSITIONS 4
/* Longest integer component folded (fits a uint32 with room). */
#define FOLD_DIGITS 9
/* Runs shown in "{0..3,5,7..9}" before the rest is elided. */
#define FOLD_RUNS_SHOWN 8
/* The name column stops growing here; longer names push their line only. */
#define NAME_COL_MAX 96

typedef struct inspect_args {
	const cli_command *self;
	bool json, tensors, stats;
	const char **names;        /* --tensor, in order given */
	size_t n_names, cap_names;
} inspect_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	inspect_args *a = ctx;
	switch (id) {
	case OPT_JSON: a->json = true; break;
	case OPT_TENSORS: a->tensors = true; break;
	case OPT_STATS: a->stats = true; break;
	case OPT_TENSOR:
		if (a->n_names == a->cap_names) {
			size_t cap = a->cap_names ? 2 * a->cap_names : 8;
			const char **p = realloc(a->names, cap * sizeof(*p));
			if (!p) {
				cli_error("out of memory");
				return EXIT_SYSTEM;
			}
			a->names = p;
			a->cap_names = cap;
		}
		a->names[a->n_names++] = arg;
		break;
	}
	return EXIT_OK;
}

/* What inspect knows about the checkpoint, shared by both views. */
typedef struct inspect {
	const char *path;
	ct_checkpoint *ck;
	json_t *qjson;             /* quantization_config object, or NULL */
	ct_qconfig *cfg;           /* parsed, or NULL */
	char cfg_note[CT_ERROR_MSG_MAX]; /* why the config was not understood, or "" */
	ct_describer *desc;
	bool *selected;            /* per tensor (file order) */
	size_t n_selected;
	ct_tensor_desc *td;        /* per tensor, selected ones filled */
	char (*role)[ROLE_MAX];
	ct_stats *stats;           /* with --stats */
	bool *has_stats;
	signed char *two_four;     /* --stats: 1 when 2:4 sparse, 0 not, -1 does not apply */
} inspect;

static void inspect_free(inspect *in)
{
	free(in->selected);
	free(in->td);
	free(in->role);
	free(in->stats);
	free(in->has_stats);
	free(in->two_four);
	ct_describer_free(in->desc);
	ct_qconfig_free(in->cfg);
	json_decref(in->qjson);
	ct_ckpt_close(in->ck);
}

/* --tensor NAME that no tensor has: the tensors of module NAME, or of the
 * module of NAME (X.weight of a compressed module is stored as
 * X.weight_packed, X.weight_scale, ...). Else the error names the nearest
 * tensors. */
static int select_module(inspect *in, const ct_checkpoint *ck, const char *name, ct_error *err)
{
	char module[4096];
	const char *bases[2] = { name, NULL };
	size_t n = strlen(name);
	if (n > 7 && strcmp(name + n - 7, ".weight") == 0 &&
	    ct_module_of(name, module, sizeof(module)))
		bases[1] = module;
	for (size_t b = 0; b < 2 && bases[b]; b++) {
		size_t len = strlen(bases[b]), found = 0;
		for (size_t i = 0; i < ck->n_tensors; i++) {
			const char *t = ck->tensors[i].t->name;
			/* the module's own tensors: one name component below it */
			if (strncmp(t, bases[b], len) != 0 || t[len] != '.' || strchr(t + len + 1, '.'))
				continue;
			found++;
			in->n_selected += !in->selected[i];
			in->selected[i] = true;
		}
		if (found)
			return CT_OK;
	}
	const char **names = malloc((ck->n_tensors ? ck->n_tensors : 1) * sizeof(*names));
	if (!names)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; i < ck->n_tensors; i++)
		names[i] = ck->tensors[i].t->name;
	char near[512];
	bool has = ct_suggest(name, names, ck->n_tensors, NULL, near, sizeof(near));
	free(names);
	return ct_fail(err, CT_EINPUT, "%s: %s: no such tensor or module%s%s%s", in->path, name,
		       has ? "; did you mean " : " (--tensors lists them)", has ? near : "",
		       has ? "?" : "");
}

/* Opens, reads the config, selects and describes. Returns a CT_* code. */
static int inspect_load(inspect *in, const inspect_args *a, ct_error *err)
{
	int rc = cli_open_checkpoint(in->path, &in->ck, err);
	if (rc)
		return rc;
	const ct_checkpoint *ck = in->ck;
	/* a fused block of zero experts is refused, as quantize refuses it */
	rc = ct_moe_check_empty(ck, err);
	if (rc)
		return rc;
	rc = ct_ckpt_qconfig(ck, &in->qjson, err);
	if (rc)
		return rc;
	if (in->qjson) {
		/* a config the parser refuses (a newer library's field, say) must not
		 * hide the tensors: describe them from their names and say why */
		ct_error perr;
		ct_error_clear(&perr);
		const char *label = ck->config ? ck->config_name : ck->shard_names[0];
		if (ct_qconfig_parse(in->qjson, label, &in->cfg, &perr) != CT_OK) {
			snprintf(in->cfg_note, sizeof(in->cfg_note), "%s", perr.msg);
			in->cfg = NULL;
		}
	}
	rc = ct_describer_new(ck, in->cfg, &in->desc, err);
	if (rc && in->cfg) {
		snprintf(in->cfg_note, sizeof(in->cfg_note), "%s", err->msg);
		ct_error_clear(err);
		ct_qconfig_free(in->cfg);
		in->cfg = NULL;
		rc = ct_describer_new(ck, NULL, &in->desc, err);
	}
	if (rc)
		return rc;

	size_t n = ck->n_tensors ? ck->n_tensors : 1;
	in->selected = calloc(n, sizeof(*in->selected));
	in->td = calloc(n, sizeof(*in->td));
	in->role = calloc(n, sizeof(*in->role));
	if (!in->selected || !in->td || !in->role)
		return ct_fail(err, CT_EIO, "out of memory");
	if (a->n_names) {
		for (size_t i = 0; i < a->n_names; i++) {
			const ct_tref *r = ct_ckpt_find(ck, a->names[i]);
			if (r) {
				size_t k = (size_t)(r - ck->tensors);
				in->n_selected += !in->selected[k];
				in->selected[k] = true;
			} else if ((rc = select_module(in, ck, a->names[i], err))) {
				return rc;
			}
		}
	} else {
		for (size_t i = 0; i < ck->n_tensors; i++)
			in->selected[i] = true;
		in->n_selected = ck->n_tensors;
	}
	for (size_t i = 0; i < ck->n_tensors; i++) {
		if (!in->selected[i])
			continue;
		ct_describe_tensor(in->desc, &ck->tensors[i], &in->td[i]);
		ct_tensor_desc_text(&in->td[i], in->role[i], ROLE_MAX);
	}
	if (!a->stats)
		return CT_OK;
	in->stats = calloc(n, sizeof(*in->stats));
	in->has_stats = calloc(n, sizeof(*in->has_stats));
	in->two_four = calloc(n, sizeof(*in->two_four));
	if (!in->stats || !in->has_stats || !in->two_four)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		if (!in->selected[i] || !ct_stats_supported(t->dtype))
			continue;
		rc = ct_tensor_stats(t, &in->stats[i], err);
		if (rc)
			return rc;
		in->has_stats[i] = true;
		/* 2:4 structure: at most two non-zeros in each run of four of a row */
		uint64_t bad;
		in->two_four[i] = t->ndim == 2 && t->shape[1] % 4 == 0 && t->nelem &&
				  ct_dtype_size(t->dtype) ?
			(signed char)ct_sparse_is_24(t->dtype, t->data, t->nelem, &bad) : -1;
	}
	return CT_OK;
}

/* ---------------------------------------------------------------- totals */

typedef struct totals {
	uint64_t tensors, bytes, params;
	uint64_t dt_tensors[CT_DTYPE_COUNT], dt_bytes[CT_DTYPE_COUNT];
} totals;

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static void count_totals(const inspect *in, totals *tot)
{
	memset(tot, 0, sizeof(*tot));
	for (size_t i = 0; i < in->ck->n_tensors; i++) {
		if (!in->selected[i])
			continue;
		const ct_tensor *t = in->ck->tensors[i].t;
		uint64_t b = t->end - t->begin;
		tot->tensors++;
		tot->bytes = add_sat(tot->bytes, b);
		tot->params = add_sat(tot->params, in->td[i].params);
		tot->dt_tensors[t->dtype]++;
		tot->dt_bytes[t->dtype] = add_sat(tot->dt_bytes[t->dtype], b);
	}
}

static double bits_per_weight(const totals *tot)
{
	return tot->params ? 8.0 * (double)tot->bytes / (double)tot->params : NAN;
}

/* The dtype the model would be stored in dense: the 16/32-bit float dtype
 * holding the most bytes (dense tensors and scales are in it). */
static ct_dtype dense_dtype(const totals *tot)
{
	static const ct_dtype cands[] = { CT_BF16, CT_F16, CT_F32 };
	ct_dtype best = CT_BF16;
	uint64_t most = 0;
	for (size_t i = 0; i < 3; i++) {
		if (tot->dt_bytes[cands[i]] > most) {
			most = tot->dt_bytes[cands[i]];
			best = cands[i];
		}
	}
	return best;
}

/* Size over what the same parameters take dense. */
static double compression_ratio(const totals *tot)
{
	double dense = (double)tot->params * ct_dtype_size(dense_dtype(tot));
	return dense > 0 ? (double)tot->bytes / dense : NAN;
}

/* ------------------------------------------------------------------ JSON */

static json_t *json_real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *stats_json(const ct_stats *s, signed char two_four)
{
	json_t *o = json_object();
	json_object_set_new(o, "two_four", two_four < 0 ? json_null() : json_boolean(two_four));
	json_object_set_new(o, "min", json_real_or_null(s->min));
	json_object_set_new(o, "max", json_real_or_null(s->max));
	json_object_set_new(o, "mean", json_real_or_null(s->mean));
	json_object_set_new(o, "std", json_real_or_null(s->std));
	json_object_set_new(o, "zeros", s->count ? json_real((double)s->zeros / (double)s->count) :
			    json_null());
	json_object_set_new(o, "nan", json_integer((json_int_t)s->nan));
	json_object_set_new(o, "inf", json_integer((json_int_t)s->inf));
	return o;
}

static json_t *uint_json(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static int cmp_shard_name(const void *pa, const void *pb, void *ctx)
{
	const ct_checkpoint *ck = ctx;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int c = strcmp(ck->shard_names[a], ck->shard_names[b]);
	return c ? c : a < b ? -1 : a > b;
}

/* File order: shards by name (model-00001-of-… first; the checkpoint keeps
 * them in order of first mention in weight_map, which follows tensor names),
 * then each shard's tensors in data order, as ck->tensors holds them. */
static size_t *file_order(const ct_checkpoint *ck)
{
	size_t n = ck->n_tensors, ns = ck->n_shards;
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	size_t *shards = malloc((ns ? ns : 1) * sizeof(*shards));
	size_t *start = calloc(ns + 1, sizeof(*start));
	if (!order || !shards || !start) {
		free(order);
		order = NULL;
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		start[ck->tensors[i].shard + 1]++;
	for (size_t s = 0; s < ns; s++) {
		start[s + 1] += start[s];
		shards[s] = s;
	}
	qsort_r(shards, ns, sizeof(*shards), cmp_shard_name, (void *)ck);
	size_t o = 0;
	for (size_t k = 0; k < ns; k++)
		for (size_t i = start[shards[k]]; i < start[shards[k] + 1]; i++)
			order[o++] = i;
done:
	free(shards);
	free(start);
	return order;
}

/* The verdict of `verify --serving vllm` on the headers and config, for the
 * summary: problems (vLLM refuses or serves wrong numbers) and notes. */
static bool vllm_verdict(const inspect *in, size_t *problems, size_t *notes)
{
	ct_serving_report *r = NULL;
	ct_error err;
	ct_error_clear(&err);
	if (ct_serving_check_vllm(in->ck, in->cfg, NULL, &r, &err) != CT_OK)
		return false;
	*problems = r->n_failed;
	*notes = r->n_findings - r->n_failed;
	ct_serving_report_free(r);
	return true;
}

static int print_json(const inspect *in, bool with_stats)
{
	const ct_checkpoint *ck = in->ck;
	size_t *order = file_order(ck);
	if (!order) {
		cli_error("out of memory");
		return EXIT_SYSTEM;
	}
	json_t *doc = json_object();
	json_t *arr = json_array();
	for (size_t k = 0; k < ck->n_tensors; k++) {
		size_t i = order[k];
		if (!in->selected[i])
			continue;
		const ct_tensor *t = ck->tensors[i].t;
		json_t *o = json_object();
		json_t *shape = json_array();
		for (int d = 0; d < t->ndim; d++)
			json_array_append_new(shape, uint_json(t->shape[d]));
		json_object_set_new(o, "name", json_stringn(t->name, t->name_len));
		json_object_set_new(o, "dtype", json_string(ct_dtype_name(t->dtype)));
		json_object_set_new(o, "shape", shape);
		json_object_set_new(o, "bytes", uint_json(t->end - t->begin));
		json_object_set_new(o, "file", json_string(ck->shard_names[ck->tensors[i].shard]));
		json_object_set_new(o, "role", json_string(in->role[i]));
		json_object_set_new(o, "parameters", uint_json(in->td[i].params));
		/* the class that target matching infers for the tensor's module */
		json_object_set_new(o, "module_class", in->td[i].module_class == CT_MOD_COUNT ?
				    json_null() : json_string(ct_modclass_name(in->td[i].module_class)));
		if (with_stats)
			json_object_set_new(o, "stats", in->has_stats[i] ?
					    stats_json(&in->stats[i], in->two_four[i]) :
					    json_null());
		json_array_append_new(arr, o);
	}
	totals tot;
	count_totals(in, &tot);
	json_object_set_new(doc, "schema", json_integer(1));
	json_object_set_new(doc, "tensors", arr);
	json_t *meta = ck->n_shards ? ck->shards[0]->metadata : NULL;
	json_object_set_new(doc, "metadata", meta ? json_incref(meta) : json_object());
	json_object_set_new(doc, "quantization_config",
			    in->qjson ? json_incref(in->qjson) : json_null());
	json_t *t = json_object();
	json_object_set_new(t, "tensors", uint_json(tot.tensors));
	json_object_set_new(t, "bytes", uint_json(tot.bytes));
	json_object_set_new(t, "parameters", uint_json(tot.params));
	json_object_set_new(t, "bits_per_weight", json_real_or_null(bits_per_weight(&tot)));
	json_object_set_new(t, "compression_ratio", json_real_or_null(compression_ratio(&tot)));
	json_object_set_new(t, "dense_dtype", json_string(ct_dtype_name(dense_dtype(&tot))));
	json_t *by = json_object();
	for (int d = 0; d < CT_DTYPE_COUNT; d++) {
		if (!tot.dt_tensors[d])
			continue;
		json_t *e = json_object();
		json_object_set_new(e, "tensors", uint_json(tot.dt_tensors[d]));
		json_object_set_new(e, "bytes", uint_json(tot.dt_bytes[d]));
		json_object_set_new(by, ct_dtype_name((ct_dtype)d), e);
	}
	json_object_set_new(t, "by_dtype", by);
	json_object_set_new(doc, "totals", t);
	ct_moe_block *moe = NULL;
	size_t n_moe = 0;
	ct_error merr;
	if (ct_moe_find(ck, &moe, &n_moe, &merr) == CT_OK && n_moe) {
		json_t *ma = json_array();
		for (size_t m = 0; m < n_moe; m++)
			json_array_append_new(ma, json_pack("{s:s,s:s,s:I,s:I,s:I}", "module",
							    moe[m].prefix, "layout",
							    moe[m].layout == CT_MOE_A ? "A" :
							    moe[m].layout == CT_MOE_B ? "B" : "C",
							    "experts", (json_int_t)moe[m].experts,
							    "hidden", (json_int_t)moe[m].hidden,
							    "intermediate", (json_int_t)moe[m].inter));
		json_object_set_new(doc, "fused_experts", ma);
	}
	ct_moe_free(moe, n_moe);
	size_t problems, notes;
	if (vllm_verdict(in, &problems, &notes))
		json_object_set_new(doc, "vllm", json_pack("{s:b,s:I,s:I}", "ok", problems == 0,
							   "problems", (json_int_t)problems, "notes",
							   (json_int_t)notes));
	free(order);
	return cli_print_json(doc, EXIT_OK);
}

/* ----------------------------------------------------------- human view */

/* Columns cli_put_safe takes to print s[0..n): escapes are wider than the
 * byte they stand for, a valid UTF-8 sequence is one column. */
static size_t safe_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;
	while (*p) {
		unsigned c = *p;
		if (c < 0x20 || c == 0x7F) {
			w += c == '\n' || c == '\t' || c == '\r' ? 2 : 4;
			p++;
		} else if (c < 0x80) {
			w++;
			p++;
		} else {
			size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 :
				     (c & 0xF8) == 0xF0 ? 4 : 0;
			size_t k = 1;
			while (len && k < len && (p[k] & 0xC0) == 0x80)
				k++;
			if (len && k == len && !(c == 0xC2 && p[1] < 0xA0)) {
				w++;
				p += len;
			} else {
				w += 4;
				p++;
			}
		}
	}
	return w;
}

static void pad(size_t n)
{
	while (n--)
		fputc(' ', stdout);
}

/* Natural order: digit runs compare as numbers, so layer 2 < layer 10. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			const char *za = a, *zb = b;
			while (*za == '0')
				za++;
			while (*zb == '0')
				zb++;
			const char *ea = za, *eb = zb;
			while (*ea >= '0' && *ea <= '9')
				ea++;
			while (*eb >= '0' && *eb <= '9')
				eb++;
			if (ea - za != eb - zb)
				return ea - za < eb - zb ? -1 : 1;
			int c = memcmp(za, zb, (size_t)(ea - za));
			if (c)
				return c;
			if (za - a != zb - b) /* same value, fewer leading zeros first */
				return za - a < zb - b ? -1 : 1;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

/* One output line: a tensor, or a fold of tensors whose names differ in one
 * integer component. */
typedef struct line {
	size_t first;              /* tensor (file order index) shown for dtype/shape/role */
	size_t count;
	uint64_t bytes;
	char *label;               /* folded name, or NULL to print the tensor's own */
} line;

/* A candidate position for folding: tensor idx with its integer component
 * at name[start..end) of value val. */
typedef struct fold_ent {
	size_t idx;
	const ct_tensor *t;
	const char *role;
	size_t start, end;
	uint32_t val;
} fold_ent;

static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	if (na != nb)
		return na < nb ? -1 : 1;
	return memcmp(a, b, na);
}

/* Orders entries so that those that may fold together are adjacent: same
 * name around the component, same dtype, shape and role. */
static int cmp_fold_key(const void *pa, const void *pb)
{
	const fold_ent *a = pa, *b = pb;
	int c = cmp_bytes(a->t->name, a->start, b->t->name, b->start);
	if (!c)
		c = cmp_bytes(a->t->name + a->end, a->t->name_len - a->end,
			      b->t->name + b->end, b->t->name_len - b->end);
	if (!c && a->t->dtype != b->t->dtype)
		c = a->t->dtype < b->t->dtype ? -1 : 1;
	if (!c && a->t->ndim != b->t->ndim)
		c = a->t->ndim < b->t->ndim ? -1 : 1;
	for (int d = 0; !c && d < a->t->ndim; d++)
		if (a->t->shape[d] != b->t->shape[d])
			c = a->t->shape[d] < b->t->shape[d] ? -1 : 1;
	if (!c)
		c = strcmp(a->role, b->role);
	if (!c && a->val != b->val)
		c = a->val < b->val ? -1 : 1;
	return c;
}

static bool same_key(const fold_ent *a, const fold_ent *b)
{
	fold_ent x = *a;
	x.val = b->val;
	return cmp_fold_key(&x, b) == 0;
}

typedef struct fold_run {
	size_t begin, len;         /* entries[begin..begin+len) share a key */
} fold_run;

static int cmp_run_len(const void *pa, const void *pb)
{
	const fold_run *a = pa, *b = pb;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->begin < b->begin ? -1 : a->begin > b->begin;
}

static int cmp_u32(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return a < b ? -1 : a > b;
}

/* "prefix{0..3,5}suffix" from sorted distinct values. */
static char *fold_label(const ct_tensor *t, size_t start, size_t end, const uint32_t *v,
			size_t n)
{
	size_t cap = start + (t->name_len - end) + 16 + FOLD_RUNS_SHOWN * 2 * (FOLD_DIGITS + 3);
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t o = 0;
	memcpy(s, t->name, start);
	o = start;
	s[o++] = '{';
	size_t runs = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (runs == FOLD_RUNS_SHOWN) {
			o += (size_t)snprintf(s + o, cap - o, ",…");
			break;
		}
		if (runs)
			s[o++] = ',';
		if (j > i)
			o += (size_t)snprintf(s + o, cap - o, "%" PRIu32 "..%" PRIu32, v[i], v[j]);
		else
			o += (size_t)snprintf(s + o, cap - o, "%" PRIu32, v[i]);
		runs++;
		i = j + 1;
	}
	s[o++] = '}';
	memcpy(s + o, t->name + end, t->name_len - end);
	o += t->name_len - end;
	s[o] = '\0';
	return s;
}

/* Finds up to FOLD_POSITIONS integer components ("12", not "012" or "1a"). */
static size_t int_components(const ct_tensor *t, size_t *starts, size_t *ends,
			     uint32_t *vals)
{
	size_t n = 0;
	const char *s = t->name;
	for (size_t i = 0; i < t->name_len && n < FOLD_POSITIONS;) {
		size_t j = i;
		while (j < t->name_len && s[j] != '.')
			j++;
		size_t len = j - i;
		bool digits = len >= 1 && len <= FOLD_DIGITS && (s[i] != '0' || len == 1);
		for (size_t k = i; digits && k < j; k++)
			digits = s[k] >= '0' && s[k] <= '9';
		if (digits) {
			uint32_t v = 0;
			for (size_t k = i; k < j; k++)
				v = v * 10 + (uint32_t)(s[k] - '0');
			starts[n] = i;
			ends[n] = j;
			vals[n] = v;
			n++;
		}
		i = j + 1;
	}
	return n;
}

/* Greedy folding: candidate sets (one per position and key) from the
 * largest down, each taking the tensors no larger set took. Sorting makes
 * it O(n log n) in the number of tensors. */
static int fold_lines(const inspect *in, line *lines, size_t *n_lines)
{
	const ct_checkpoint *ck = in->ck;
	size_t n = ck->n_tensors;
	fold_ent *e = malloc((n ? n : 1) * FOLD_POSITIONS * sizeof(*e));
	bool *taken = calloc(n ? n : 1, sizeof(*taken));
	uint32_t *vals = malloc((n ? n : 1) * sizeof(*vals));
	fold_run *runs = NULL;
	size_t ne = 0, nl = 0, nr = 0;
	int rc = EXIT_SYSTEM;
	if (!e || !taken || !vals)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (!in->selected[i])
			continue;
		size_t st[FOLD_POSITIONS], en[FOLD_POSITIONS];
		uint32_t v[FOLD_POSITIONS];
		size_t k = int_components(ck->tensors[i].t, st, en, v);
		for (size_t p = 0; p < k; p++)
			e[ne++] = (fold_ent){ i, ck->tensors[i].t, in->role[i], st[p], en[p], v[p] };
	}
	qsort(e, ne, sizeof(*e), cmp_fold_key);
	runs = malloc((ne ? ne : 1) * sizeof(*runs));
	if (!runs)
		goto done;
	for (size_t i = 0; i < ne;) {
		size_t j = i + 1;
		while (j < ne && same_key(&e[i], &e[j]))
			j++;
		if (j - i >= 2)
			runs[nr++] = (fold_run){ i, j - i };
		i = j;
	}
	qsort(runs, nr, sizeof(*runs), cmp_run_len);
	for (size_t r = 0; r < nr; r++) {
		size_t m = 0, first = SIZE_MAX;
		uint64_t bytes = 0;
		for (size_t k = runs[r].begin; k < runs[r].begin + runs[r].len; k++) {
			if (taken[e[k].idx])
				continue;
			vals[m++] = e[k].val;
			if (first == SIZE_MAX)
				first = k;
		}
		if (m < 2)
			continue;
		for (size_t k = runs[r].begin; k < runs[r].begin + runs[r].len; k++) {
			if (taken[e[k].idx])
				continue;
			taken[e[k].idx] = true;
			bytes = add_sat(bytes, e[k].t->end - e[k].t->begin);
		}
		qsort(vals, m, sizeof(*vals), cmp_u32);
		/* entries are sorted by value within a key: the first untaken is the
		 * lowest index, the one a reader looks for */
		char *label = fold_label(e[first].t, e[first].start, e[first].end, vals, m);
		if (!label)
			goto done;
		lines[nl++] = (line){ e[first].idx, m, bytes, label };
	}
	for (size_t i = 0; i < n; i++)
		if (in->selected[i] && !taken[i])
			lines[nl++] = (line){ i, 1, ck->tensors[i].t->end - ck->tensors[i].t->begin,
					      NULL };
	rc = EXIT_OK;
done:
	*n_lines = nl;
	free(e);
	free(taken);
	free(vals);
	free(runs);
	if (rc)
		cli_error("out of memory");
	return rc;
}

static const char *line_name(const inspect *in, const line *l)
{
	return l->label ? l->label : in->ck->tensors[l->first].t->name;
}

/* A fold sorts where its lowest member would, so that layer 0's lone tensors
 * sit among layer 0's folds rather than after every fold. */
static int cmp_lines(const void *pa, const void *pb, void *ctx)
{
	const inspect *in = ctx;
	const line *a = pa, *b = pb;
	int c = natural_cmp(in->ck->tensors[a->first].t->name, in->ck->tensors[b->first].t->name);
	return c ? c : natural_cmp(line_name(in, a), line_name(in, b));
}

static void shape_text(const ct_tensor *t, char *buf, size_t size)
{
	size_t o = (size_t)snprintf(buf, size, "[");
	for (int d = 0; d < t->ndim && o < size; d++)
		o += (size_t)snprintf(buf + o, size - o, "%s%" PRIu64, d ? ", " : "", t->shape[d]);
	if (o < size)
		snprintf(buf + o, size - o, "]");
}

/* 12,345,678 */
static const char *grouped(uint64_t v, char *buf, size_t size)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;
	for (int i = 0; i < n && o + 2 < size; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* 4.06 M, 7.24 B */
static const char *human_count(uint64_t v, char *buf, size_t size)
{
	static const char *const unit[] = { "", " k", " M", " B", " T" };
	double x = (double)v;
	int u = 0;
	while (x >= 1000.0 && u < 4) {
		x /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%.*f%s", x < 10 ? 2 : x < 100 ? 1 : 0, x, unit[u]);
	return buf;
}

static void stat_cell(double v, int width)
{
	if (isfinite(v))
		printf("  %*.*g", width, 6, v);
	else
		printf("  %*s", width, "-");
}

#define STAT_W 12

static void print_stats_header(void)
{
	printf("  %*s  %*s  %*s  %*s  %7s  %3s  %5s  %5s", STAT_W, "min", STAT_W, "max", STAT_W,
	       "mean", STAT_W, "std", "zeros", "2:4", "nan", "inf");
}

static void print_stats_cells(const inspect *in, size_t i)
{
	if (!in->has_stats[i]) {
		printf("  (values of %s not read)", ct_dtype_name(in->ck->tensors[i].t->dtype));
		return;
	}
	const ct_stats *s = &in->stats[i];
	stat_cell(s->min, STAT_W);
	stat_cell(s->max, STAT_W);
	stat_cell(s->mean, STAT_W);
	stat_cell(s->std, STAT_W);
	if (s->count)
		printf("  %6.2f%%", 100.0 * (double)s->zeros / (double)s->count);
	else
		printf("  %7s", "-");
	printf("  %3s", in->two_four[i] < 0 ? "-" : in->two_four[i] ? "yes" : "no");
	printf("  %5" PRIu64 "  %5" PRIu64, s->nan, s->inf);
}

static void print_config(const inspect *in)
{
	const char *head = "quantization     ";
	fputs(head, stdout);
	if (in->cfg_note[0]) {
		fputs("present but not understood: ", stdout);
		cli_put_safe(stdout, in->cfg_note);
		fputc('\n', stdout);
		return;
	}
	if (!in->cfg) {
		fputs("none\n", stdout);
		return;
	}
	char *s = ct_describe_qconfig(in->cfg);
	if (!s) {
		fputs("(out of memory)\n", stdout);
		return;
	}
	/* one terminal line per summary line, each escaped */
	char *p = s;
	for (bool first = true;; first = false) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (!first)
			pad(strlen(head));
		cli_put_safe(stdout, p);
		fputc('\n', stdout);
		if (!nl)
			break;
		p = nl + 1;
	}
	free(s);
}

static int print_human(const inspect *in, const inspect_args *a)
{
	const ct_checkpoint *ck = in->ck;
	char b1[32], b2[32], b3[32];
	totals all;
	count_totals(in, &all);

	cli_put_safe(stdout, in->path);
	if (ck->kind == CT_CKPT_FILE)
		printf(": safetensors file, ");
	else
		printf(": model directory, %zu shard%s, ", ck->n_shards, ck->n_shards == 1 ? "" : "s");
	if (in->n_selected != ck->n_tensors)
		printf("%zu of %zu tensors\n\n", in->n_selected, ck->n_tensors);
	else
		printf("%zu tensor%s\n\n", ck->n_tensors, ck->n_tensors == 1 ? "" : "s");

	line *lines = calloc(ck->n_tensors ? ck->n_tensors : 1, sizeof(*lines));
	if (!lines) {
		cli_error("out of memory");
		return EXIT_SYSTEM;
	}
	size_t nl = 0;
	int st = EXIT_OK;
	bool fold = !a->tensors && !a->stats && !a->n_names;
	if (fold) {
		st = fold_lines(in, lines, &nl);
	} else {
		for (size_t i = 0; i < ck->n_tensors; i++)
			if (in->selected[i])
				lines[nl++] = (line){ i, 1, ck->tensors[i].t->end -
						      ck->tensors[i].t->begin, NULL };
	}
	if (st)
		goto done;
	qsort_r(lines, nl, sizeof(*lines), cmp_lines, (void *)in);

	char shape[512];
	size_t wname = 6, wdt = 5, wshape = 5, wcount = 0, wrole = 4;
	for (size_t i = 0; i < nl; i++) {
		const ct_tensor *t = ck->tensors[lines[i].first].t;
		size_t w = safe_width(line_name(in, &lines[i]));
		if (w > wname)
			wname = w < NAME_COL_MAX ? w : NAME_COL_MAX;
		size_t d = strlen(ct_dtype_name(t->dtype));
		wdt = d > wdt ? d : wdt;
		shape_text(t, shape, sizeof(shape));
		wshape = strlen(shape) > wshape ? strlen(shape) : wshape;
		if (lines[i].count > 1) {
			size_t c = (size_t)snprintf(b2, sizeof(b2), "%zu", lines[i].count) + 1;
			wcount = c > wcount ? c : wcount;
		}
		size_t r = strlen(in->role[lines[i].first]);
		wrole = r > wrole ? r : wrole;
	}
	/* header */
	printf("%-*s  %-*s  %-*s", (int)wname, "tensor", (int)wdt, "dtype", (int)wshape, "shape");
	if (wcount)
		printf("  %*s", (int)wcount, "");
	printf("  %9s  %-*s", "size", (int)(a->stats ? wrole : 0), "role");
	if (a->stats)
		print_stats_header();
	fputc('\n', stdout);
	for (size_t i = 0; i < nl; i++) {
		const line *l = &lines[i];
		const ct_tensor *t = ck->tensors[l->first].t;
		const char *name = line_name(in, l);
		size_t w = safe_width(name);
		cli_put_safe(stdout, name);
		pad(w < wname ? wname - w : 0);
		shape_text(t, shape, sizeof(shape));
		printf("  %-*s  %-*s", (int)wdt, ct_dtype_name(t->dtype), (int)wshape, shape);
		if (wcount) {
			if (l->count > 1) {
				/* "×" is two bytes, one column */
				int c = snprintf(b2, sizeof(b2), "%zu", l->count);
				printf("  ");
				pad(wcount - 1 - (size_t)c);
				printf("×%s", b2);
			} else {
				printf("  %*s", (int)wcount, "");
			}
		}
		printf("  %9s  ", cli_human_bytes(l->bytes, b1, sizeof(b1)));
		if (a->stats) {
			printf("%-*s", (int)wrole, in->role[l->first]);
			print_stats_cells(in, l->first);
		} else {
			fputs(in->role[l->first], stdout);
		}
		fputc('\n', stdout);
	}

	printf("\n%-8s  %7s  %10s\n", "dtype", "tensors", "size");
	for (int d = CT_DTYPE_COUNT - 1; d >= 0; d--)
		if (all.dt_tensors[d])
			printf("%-8s  %7" PRIu64 "  %10s\n", ct_dtype_name((ct_dtype)d),
			       all.dt_tensors[d], cli_human_bytes(all.dt_bytes[d], b1, sizeof(b1)));
	printf("%-8s  %7" PRIu64 "  %10s", "total", all.tensors,
	       cli_human_bytes(all.bytes, b1, sizeof(b1)));
	if (all.bytes >= 1000)
		printf("  (%s bytes)", grouped(all.bytes, b2, sizeof(b2)));
	printf("\n\nparameters       %s", grouped(all.params, b2, sizeof(b2)));
	if (all.params >= 1000)
		printf(" (%s)", human_count(all.params, b3, sizeof(b3)));
	fputc('\n', stdout);
	double bpw = bits_per_weight(&all);
	if (isfinite(bpw))
		printf("bits per weight  %.2f\n", bpw);
	else
		printf("bits per weight  -\n");
	double ratio = compression_ratio(&all);
	if (isfinite(ratio))
		printf("vs dense %-7s %.3f of %s\n", ct_dtype_name(dense_dtype(&all)), ratio,
		       cli_human_bytes((uint64_t)((double)all.params *
						 ct_dtype_size(dense_dtype(&all))), b1, sizeof(b1)));
	print_config(in);
	ct_moe_block *moe = NULL;
	size_t n_moe = 0;
	ct_error merr;
	if (ct_moe_find(in->ck, &moe, &n_moe, &merr) == CT_OK) {
		for (size_t m = 0; m < n_moe; m++) {
			printf("experts          ");
			cli_put_safe(stdout, moe[m].prefix);
			printf(": %" PRIu64 " fused, layout %s\n", moe[m].experts,
			       ct_moe_layout_name(moe[m].layout));
		}
		ct_moe_free(moe, n_moe);
	} else {
		printf("experts          ");
		cli_put_safe(stdout, merr.msg);
		printf("\n");
	}
	size_t problems, notes;
	if (vllm_verdict(in, &problems, &notes)) {
		if (problems)
			printf("vllm             %zu problem%s: vLLM would refuse it or serve wrong "
			       "numbers (ctensors verify --serving vllm)\n", problems,
			       problems == 1 ? "" : "s");
		else
			printf("vllm             passes the loader check%s\n", notes ?
			       " (notes: ctensors verify --serving vllm)" : "");
	}
done:
	for (size_t i = 0; i < nl; i++)
		free(lines[i].label);
	free(lines);
	return st;
}

int cmd_inspect(int argc, char **argv, const cli_command *self)
{
	inspect_args a = { .self = self };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done) {
		free(a.names);
		return st;
	}
	if (argc - optind != 1) {
		free(a.names);
		return cli_usage(self, "expected one CHECKPOINT");
	}
	ct_error err;
	ct_error_clear(&err);
	inspect in = { .path = argv[optind] };
	if (inspect_load(&in, &a, &err) != CT_OK)
		st = cli_fail(&err);
	else if (a.json)
		st = print_json(&in, a.stats);
	else
		st = print_human(&in, &a);
	if (!st && (fflush(stdout) != 0 || ferror(stdout))) {
		int e = errno;
		cli_check_stream(stdout);   /* a reader that left: no message */
		errno = e;
		cli_error("standard output: %s", strerror(errno ? errno : EIO));
		st = EXIT_SYSTEM;
	}
	inspect_free(&in);
	free(a.names);
	return st;
}
