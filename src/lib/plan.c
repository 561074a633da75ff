#include "plan.h"
#include "convert.h"
#include "arch.h"
#include "moe.h"
#include "strbuf.h"
#include "threads.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_NAME_MAX 4096 /* longest tensor name handled */

/* What the fused tensors of a block are made of, per expert (the spec must
 * outlive the plan's execution). */
enum { FUSED_GATE_UP, FUSED_DOWN, FUSED_GATE_UP_BIAS, FUSED_DOWN_BIAS };

typedef struct ct_fuse_item {
	const ct_fuse_spec *spec;
	int which;                 /* FUSED_* */
	ct_plan_item *parts;       /* [experts][n_parts]: gate and up, or the one part */
	size_t n_parts;            /* 1 or 2 per expert */
	size_t n_total;            /* experts * n_parts */
	ct_dtype dt;
} ct_fuse_item;


bool ct_module_of(const char *name, char *buf, size_t size)
{
	const char *dot = strrchr(name, '.');
	if (!dot || (size_t)(dot - name) >= size)
		return false;
	memcpy(buf, name, (size_t)(dot - name));
	buf[dot - name] = '\0';
	return true;
}

bool ct_plan_pack_padded(const ct_qconfig *cfg)
{
	return cfg->version_major == 0 && cfg->version_minor < 18;
}

void ct_plan_free(ct_plan *p)
{
	if (!p)
		return;
	ct_strlist_free(&p->partners);
	for (size_t s = 0; s < p->n_shards; s++) {
		for (size_t i = 0; i < p->shards[s].n_items; i++) {
			ct_plan_item *it = &p->shards[s].items[i];
			free(it->module);
			free(it->why);
			free(it->out);
			if (it->fuse) {
				for (size_t j = 0; j < it->fuse->n_total; j++) {
					free(it->fuse->parts[j].module);
					free(it->fuse->parts[j].out);
				}
				free(it->fuse->parts);
				free(it->fuse);
			}
		}
		free(p->shards[s].items);
		free(p->shards[s].name);
		ct_st_builder_free(p->shards[s].builder);
	}
	free(p->shards);
	for (size_t i = 0; i < p->n_problems; i++) {
		free(p->problems[i].module);
		free(p->problems[i].message);
	}
	free(p->problems);
	for (size_t i = 0; i < p->n_virt; i++) {
		free(p->virt_names[i]);
		free(p->virt[i]);
	}
	free(p->virt_names);
	free(p->virt);
	ct_moe_free(p->moe, p->n_moe);
	ct_strlist_free(&p->warnings);
	free(p);
}

static int plan_alloc(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_plan **out,
		      ct_error *err)
{
	ct_plan *p = calloc(1, sizeof(*p));
	if (!p)
		return ct_fail(err, CT_EIO, "out of memory");
	p->ckpt = ck;
	p->cfg = cfg;
	p->shards = calloc(ck->n_shards ? ck->n_shards : 1, sizeof(ct_plan_shard));
	if (!p->shards) {
		free(p);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	p->n_shards = ck->n_shards;
	for (size_t s = 0; s < ck->n_shards; s++) {
		ct_plan_shard *sh = &p->shards[s];
		const char *base = strrchr(ck->shard_names[s], '/');
		sh->name = strdup(base ? base + 1 : ck->shard_names[s]);
		sh->items = calloc(ck->shards[s]->n_tensors ? ck->shards[s]->n_tensors : 1,
				   sizeof(ct_plan_item));
		sh->builder = ct_st_builder_new();
		if (!sh->name || !sh->items || !sh->builder) {
			ct_plan_free(p);
			return ct_fail(err, CT_EIO, "out of memory");
		}
	}
	*out = p;
	return CT_OK;
}

/* A tensor carried over byte for byte, under name. */
static int add_copy_as(ct_plan *p, size_t s, const ct_tensor *t, const char *name, ct_error *err)
{
	ct_plan_shard *sh = &p->shards[s];
	ct_plan_item *it = &sh->items[sh->n_items];
	it->kind = CT_ITEM_COPY;
	it->src = t;
	it->out_name = name;
	it->shard = s;
	it->in_bytes = t->end - t->begin;
	int id = -1;   /* a plan that is only read declares no output */
	if (sh->builder) {
		id = ct_st_builder_add(sh->builder, name, t->dtype, t->ndim, t->shape, err);
		if (id < 0)
			return -id;
	}
	it->out_id[0] = id;
	it->n_out = 1;
	sh->n_items++;
	p->in_bytes += it->in_bytes;
	if (ct_dtype_is_float(t->dtype))
		p->params_total += t->nelem;
	return CT_OK;
}

static int add_copy(ct_plan *p, size_t s, const ct_tensor *t, ct_error *err)
{
	return add_copy_as(p, s, t, t->name, err);
}

static int add_outputs(ct_plan *p, size_t s, ct_plan_item *it, ct_error *err)
{
	ct_plan_shard *sh = &p->shards[s];
	char name[CT_NAME_MAX];
	for (size_t k = 0; k < it->n_out; k++) {
		it->out_id[k] = -1;
		if (!sh->builder)
			continue;   /* a plan that is only read */
		int n = snprintf(name, sizeof(name), "%s.%s", it->module, it->out[k].suffix);
		if (n < 0 || (size_t)n >= sizeof(name))
			return ct_fail(err, CT_EINPUT, "%s: name too long", it->module);
		int id = ct_st_builder_add(sh->builder, name, it->out[k].dtype, it->out[k].ndim,
					   it->out[k].shape, err);
		if (id < 0)
			return -id;
		it->out_id[k] = id;
	}
	return CT_OK;
}

typedef struct lookup_ctx {
	const ct_checkpoint *ck;
	const char *module;
	const ct_tensor *virtual_weight;   /* stands in for "weight" when set */
} lookup_ctx;

static const ct_tensor *lookup(void *ctx, const char *suffix)
{
	lookup_ctx *l = ctx;
	if (l->virtual_weight && strcmp(suffix, "weight") == 0)
		return l->virtual_weight;
	char name[CT_NAME_MAX];
	int n = snprintf(name, sizeof(name), "%s.%s", l->module, suffix);
	if (n < 0 || (size_t)n >= sizeof(name))
		return NULL;
	const ct_tref *r = ct_ckpt_find(l->ck, name);
	return r ? r->t : NULL;
}

/* An emit target that fills a buffer (bounds checked). */
typedef struct sink_buf {
	uint8_t *data;
	uint64_t len, cap;
} sink_buf;

static int emit_to_memory(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	(void)k;
	sink_buf *b = ctx;
	if (len > b->cap - b->len)
		return ct_fail(err, CT_EINTERNAL, "decoded more bytes than planned");
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return CT_OK;
}

/* ------------------------------------------------------------- quantize --- */

/* Sibling modules vLLM fuses, which must share one NVFP4 global scale. */
static const char *const fused_sets[][4] = {
	{ "q_proj", "k_proj", "v_proj", NULL },
	{ "gate_proj", "up_proj", NULL, NULL },
	{ "q_a_proj", "kv_a_proj_with_mqa", NULL, NULL },
	{ "w1", "w3", NULL, NULL },
};

bool ct_fusion_key(const char *module, char *key, size_t size)
{
	const char *dot = strrchr(module, '.');
	const char *leaf = dot ? dot + 1 : module;
	size_t plen = dot ? (size_t)(dot - module) : 0;
	for (size_t i = 0; i < sizeof(fused_sets) / sizeof(fused_sets[0]); i++) {
		for (size_t j = 0; j < 4 && fused_sets[i][j]; j++) {
			if (strcmp(leaf, fused_sets[i][j]) == 0) {
				int n = snprintf(key, size, "%.*s#%zu", (int)plen, module, i);
				return n > 0 && (size_t)n < size;
			}
		}
	}
	return false;
}

/* True when t is the weight of a module (its name ends in ".weight"); the
 * module's name goes to module and its inferred class to *cls. */
static bool weight_module(const ct_tensor *t, const ct_arch *arch, char *module, size_t size,
			  ct_modclass *cls)
{
	size_t n = t->name_len;
	if (n < 7 || strcmp(t->name + n - 7, ".weight") != 0)
		return false;
	if (!ct_module_of(t->name, module, size))
		return false;
	*cls = ct_module_class(module, t->ndim, arch);
	return true;
}

/* Marks every pattern of qm that matches a module of ck: each tensor's
 * module (with its weight's class when it has one) and every ancestor, as
 * the library walks model.named_modules(). */
static void mark_modules(const ct_checkpoint *ck, const ct_arch *arch, ct_qmatch *qm)
{
	char module[CT_NAME_MAX];
	/* the last module marked with its ancestors: the tensors of a module,
	 * and the modules of a parent, come one after another, and marking
	 * twice changes nothing */
	char prev[CT_NAME_MAX] = "";
	bool have_prev = false;
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		ct_modclass cls;
		if (!ct_module_of(t->name, module, sizeof(module)))
			continue;
		if (have_prev && strcmp(module, prev) == 0)
			continue;
		if (!weight_module(t, arch, module, sizeof(module), &cls)) {
			cls = CT_MOD_OTHER;
			char w[CT_NAME_MAX];
			if (snprintf(w, sizeof(w), "%s.weight", module) < (int)sizeof(w)) {
				const ct_tref *r = ct_ckpt_find(ck, w);
				if (r)
					continue;   /* marked with its weight */
			}
		}
		ct_qmatch_mark(qm, module, cls);
		char cur[CT_NAME_MAX];
		memcpy(cur, module, strlen(module) + 1);
		for (char *dot = strrchr(module, '.'); dot; dot = strrchr(module, '.')) {
			*dot = '\0';
			size_t n = (size_t)(dot - module);
			/* an ancestor of the last module (marked as such, so
			 * are the rest); the last module itself was marked with
			 * its own class, not as an ancestor */
			if (have_prev && strncmp(prev, module, n) == 0 && prev[n] == '.')
				break;
			ct_qmatch_mark(qm, module, CT_MOD_OTHER);
		}
		memcpy(prev, cur, strlen(cur) + 1);
		have_prev = true;
	}
}

typedef struct gs_entry {
	ct_plan_item *item;
	size_t shard;
	char key[CT_NAME_MAX];
	bool fused;
	bool wanted;
	float absmax;
	uint64_t bad;              /* the element that is not finite */
	int rc;                    /* CT_EIO: its data could not be read */
} gs_entry;

/* Orders indices into the entries: fused sets first, by key; ties by
 * index, so the order is the same in every job. */
static int cmp_gs_key(const void *a, const void *b, void *ctx)
{
	const gs_entry *e = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const gs_entry *x = &e[i], *y = &e[j];
	if (x->fused != y->fused)
		return x->fused ? -1 : 1;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return i < j ? -1 : i > j;
}

/* Whether two entries share one global scale: a fused set's members do,
 * an unfused module shares with nobody. */
static bool same_set(const gs_entry *x, const gs_entry *y)
{
	return x->fused && y->fused && strcmp(x->key, y->key) == 0;
}

static bool needs_global_scale(const ct_plan_item *it)
{
	return it->kind == CT_ITEM_QUANT && it->codec &&
	       it->desc.args->strategy == CT_STRAT_TENSOR_GROUP;
}

/* The bytes of an item's source: mapped in its shard, or, for a part of a
 * fused expert tensor that does not lie contiguously, gathered into *owned
 * (the caller frees it). NULL when out of memory. */
static const uint8_t *item_data(const ct_checkpoint *ck, const ct_plan_item *it, uint8_t **owned,
				ct_error *err)
{
	*owned = NULL;
	if (it->src->data || !it->moe)
		return it->src->data;
	uint8_t *buf = malloc(it->src->end ? (size_t)it->src->end : 1);
	if (!buf) {
		ct_fail(err, CT_EIO, "out of memory for %s", it->src->name);
		return NULL;
	}
	ct_moe_part_gather(it->moe, it->expert, (ct_moe_part)it->part, buf);
	/* the expert's slab of the fused tensor is done with for now */
	size_t shard;
	const ct_tensor *t = ct_moe_part_source(it->moe, (ct_moe_part)it->part, &shard);
	uint64_t slab = (t->end - t->begin) / it->moe->experts;
	ct_st_release(ck->shards[shard], t->data + it->expert * slab, slab);
	*owned = buf;
	return buf;
}

/* The NVFP4 weights' absmax, read by several threads: each takes the next
 * entry; after a failure, entries past it are skipped, and every entry
 * before it is read, so the one reported is the first in shard order. */
typedef struct absmax_state {
	ct_plan *p;
	gs_entry *e;
	size_t n;
	atomic_size_t next;
	atomic_size_t first_failed;  /* n while none */
	pthread_mutex_t lock;
	ct_error err;                /* of an entry that could not be read */
} absmax_state;

static void note_failure(absmax_state *st, size_t i)
{
	size_t cur = atomic_load(&st->first_failed);
	while (i < cur && !atomic_compare_exchange_weak(&st->first_failed, &cur, i))
		;
}

static void *absmax_worker(void *arg)
{
	absmax_state *st = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&st->next, 1);
		if (i >= st->n)
			break;
		gs_entry *g = &st->e[i];
		if (!g->wanted || i > atomic_load(&st->first_failed))
			continue;
		ct_plan_item *it = g->item;
		ct_error err;
		ct_error_clear(&err);
		uint8_t *owned;
		const uint8_t *data = item_data(st->p->ckpt, it, &owned, &err);
		if (!data) {
			pthread_mutex_lock(&st->lock);
			g->rc = CT_EIO;
			/* the message of the earliest entry that could not be read */
			if (i < atomic_load(&st->first_failed))
				st->err = err;
			note_failure(st, i);
			pthread_mutex_unlock(&st->lock);
			continue;
		}
		ct_wview w = { it->desc.wd, it->desc.rows, it->desc.cols, data,
			       owned ? NULL : st->p->ckpt->shards[g->shard] };
		if (!ct_quant_absmax(&w, &g->absmax, &g->bad))
			note_failure(st, i);
		free(owned);
	}
	return NULL;
}

/* Global scales of the NVFP4 items: one per module, or the max absmax of a
 * fused set shared by its members. Reads each targeted weight once, in
 * shard order, which also refuses NaN and Inf before anything is written.
 * With only (a flag per shard), reads only what those shards' scales need:
 * their own modules and the fused partners of those modules, wherever
 * they lie. */
static int plan_global_scales(ct_plan *p, bool fuse, const bool *only, int threads,
			      ct_error *err)
{
	size_t n = 0;
	for (size_t s = 0; s < p->n_shards; s++)
		for (size_t i = 0; i < p->shards[s].n_items; i++)
			n += needs_global_scale(&p->shards[s].items[i]);
	if (n == 0)
		return CT_OK;
	gs_entry *e = calloc(n, sizeof(gs_entry));
	size_t *by_key = malloc(n * sizeof(size_t));
	if (!e || !by_key) {
		free(e);
		free(by_key);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	size_t k = 0;
	for (size_t s = 0; s < p->n_shards; s++) {
		for (size_t i = 0; i < p->shards[s].n_items; i++) {
			ct_plan_item *it = &p->shards[s].items[i];
			if (!needs_global_scale(it))
				continue;
			e[k].item = it;
			e[k].shard = s;
			e[k].fused = fuse && ct_fusion_key(it->module, e[k].key, sizeof(e[k].key));
			if (!e[k].fused)
				snprintf(e[k].key, sizeof(e[k].key), "%s", it->module);
			by_key[k] = k;
			k++;
		}
	}
	qsort_r(by_key, n, sizeof(size_t), cmp_gs_key, e);
	/* a set is read whole when one of its members is wanted */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && same_set(&e[by_key[i]], &e[by_key[j]]))
			j++;
		bool wanted = !only;
		for (size_t t = i; t < j; t++)
			wanted |= only && only[e[by_key[t]].shard];
		for (size_t t = i; t < j; t++)
			e[by_key[t]].wanted = wanted;
		i = j;
	}
	absmax_state st = { .p = p, .e = e, .n = n };
	atomic_init(&st.next, 0);
	atomic_init(&st.first_failed, n);
	ct_error_clear(&st.err);
	pthread_mutex_init(&st.lock, NULL);
	ct_run_threads(absmax_worker, &st, threads, n);
	pthread_mutex_destroy(&st.lock);
	/* the first failing weight in shard order, whatever the threads did */
	int rc = CT_OK;
	size_t bad = atomic_load(&st.first_failed);
	if (bad < n && e[bad].rc) {
		*err = st.err;
		rc = e[bad].rc;
	} else if (bad < n) {
		rc = ct_fail(err, CT_EINPUT, "%s: %s: element %" PRIu64 " is not finite "
			     "(expected finite values to quantize)",
			     p->ckpt->shard_names[e[bad].shard], e[bad].item->src->name, e[bad].bad);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		size_t s = e[i].shard;
		if (e[i].wanted && only && !only[s]) {
			ct_strlist_addf(&p->partners, "%s (%s)", e[i].item->src->name,
					p->ckpt->shard_names[s]);
			p->partner_bytes += e[i].item->src->end - e[i].item->src->begin;
		}
	}
	if (!rc && p->partners.failed)
		rc = ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; !rc && i < n;) {
		size_t j = i + 1;
		while (j < n && same_set(&e[by_key[i]], &e[by_key[j]]))
			j++;
		float m = 0.0f;
		for (size_t t = i; t < j; t++)
			m = fmaxf(m, e[by_key[t]].absmax);
		for (size_t t = i; e[by_key[i]].wanted && t < j; t++)
			e[by_key[t]].item->gs = ct_quant_global_scale(e[by_key[t]].item->desc.wd, m);
		i = j;
	}
	free(by_key);
	free(e);
	return rc;
}

/* Matchers of the sparsity config's targets and ignore list. */
typedef struct sparse_match {
	const ct_codec *codec;
	ct_matcher *targets;
	ct_matcher *ignore;
} sparse_match;

static void sparse_match_free(sparse_match *m)
{
	ct_matcher_free(m->targets);
	ct_matcher_free(m->ignore);
}

static int sparse_match_init(const ct_qconfig *cfg, sparse_match *m, ct_error *err)
{
	memset(m, 0, sizeof(*m));
	const ct_sparsity *sp = cfg->sparsity;
	if (!sp || (sp->format != CT_FMT_SPARSE_BITMASK && sp->format != CT_FMT_SPARSE_24))
		return CT_OK;
	m->codec = ct_codec_for(sp->format);
	static const char *const linear[] = { "Linear" };
	int rc = sp->n_targets ?
		ct_matcher_new((const char *const *)sp->targets, sp->n_targets, "sparsity targets",
			       &m->targets, err) :
		ct_matcher_new(linear, 1, "sparsity targets", &m->targets, err);
	if (!rc && sp->n_ignore)
		rc = ct_matcher_new((const char *const *)sp->ignore, sp->n_ignore, "sparsity ignore",
				    &m->ignore, err);
	return rc;
}

static bool sparse_target(const sparse_match *m, const char *module, ct_modclass cls)
{
	return m->codec && ct_modclass_quantizable(cls) &&
	       ct_matcher_match(m->targets, module, cls) &&
	       !(m->ignore && ct_matcher_match(m->ignore, module, cls));
}

/* Room for the outputs of an item that makes tensors of its own (every
 * kind but a copy). */
static int item_out(ct_plan_item *it, ct_error *err)
{
	if (!it->out && !(it->out = calloc(CT_CODEC_MAX_OUT, sizeof(*it->out))))
		return ct_fail(err, CT_EIO, "out of memory");
	return CT_OK;
}

/* Declares the outputs of a weight item: the quantization codec's, with its
 * "weight" replaced by the sparsity codec's tensors when both apply. */
static int item_outputs(ct_plan_item *it, ct_error *err)
{
	ct_codec_tensor q[CT_CODEC_MAX_OUT], sp[CT_CODEC_MAX_OUT];
	size_t nq = 0, ns = 0;
	int rc = CT_OK;
	if (it->codec)
		rc = it->codec->outputs(&it->desc, q, &nq, err);
	if (!rc && it->sparse)
		rc = it->sparse->outputs(&it->sdesc, sp, &ns, err);
	if (!rc)
		rc = item_out(it, err);
	if (rc)
		return rc;
	it->n_out = 0;
	for (size_t k = 0; k < ns; k++)
		it->out[it->n_out++] = sp[k];
	it->n_sparse_out = ns;
	/* a sparse quantized module's codes live in the sparse tensors */
	for (size_t k = it->sparse ? 1 : 0; k < nq; k++)
		it->out[it->n_out++] = q[k];
	return CT_OK;
}

/* Parameters a frozen checkpoint stores beside the dense weight. */
static bool is_frozen_param(const char *local)
{
	return strcmp(local, "weight_scale") == 0 || strcmp(local, "weight_zero_point") == 0 ||
	       strcmp(local, "weight_global_scale") == 0;
}

/* In a frozen checkpoint, a quantized module's own parameters are consumed
 * by packing, not copied. */
static bool consumed_frozen_param(const ct_checkpoint *ck, const ct_arch *arch,
				  const ct_tensor *t, ct_qmatch *qm, const ct_qconfig *cfg)
{
	char module[CT_NAME_MAX];
	if (!ct_module_of(t->name, module, sizeof(module)) ||
	    !is_frozen_param(t->name + strlen(module) + 1))
		return false;
	lookup_ctx l = { ck, module, NULL };
	const ct_tensor *w = lookup(&l, "weight");
	char m2[CT_NAME_MAX];
	ct_modclass cls;
	if (!w || !weight_module(w, arch, m2, sizeof(m2), &cls) || !ct_modclass_quantizable(cls))
		return false;
	int g = ct_qmatch_group(qm, module, cls);
	return g >= 0 && cfg->groups[g].weights;
}

/* Plans one weight that a config group or the sparsity config targets. */
static int plan_weight(ct_plan *p, size_t s, const ct_tensor *t, const char *module, int g,
		       bool sparse, const ct_quant_opts *o, ct_qconfig *cfg, bool *skipped,
		       ct_error *err)
{
	const char *fname = p->ckpt->shard_names[s];
	const ct_qscheme *sc = g >= 0 ? &cfg->groups[g] : NULL;
	*skipped = false;
	if (sc && t->dtype != CT_F32 && t->dtype != CT_F16 && t->dtype != CT_BF16)
		return ct_fail(err, CT_EINPUT, "%s: %s: dtype %s cannot be quantized (expected "
			       "F32, F16 or BF16; is the checkpoint already quantized?)", fname,
			       t->name, ct_dtype_name(t->dtype));
	/* the bitmask holds the weight's own values, and a dense weight is
	 * floating point: what decodes to integers or complex numbers is no
	 * weight verify (or a loader) could use */
	if (!sc && !ct_dtype_is_float(t->dtype))
		return ct_fail(err, CT_EINPUT, "%s: %s: dtype %s cannot be sparse-compressed "
			       "(expected a floating-point weight)", fname, t->name,
			       ct_dtype_name(t->dtype));
	ct_error unfit;
	ct_error_clear(&unfit);
	if (t->ndim != 2)
		ct_fail(&unfit, CT_EINPUT, "weight has %d dimensions, only 2-D Linear weights "
			"are compressed (add --ignore '%s' or use --skip-incompatible)", t->ndim,
			module);
	else if (sc)
		ct_quant_check_shape(sc->weights, t->shape[0], t->shape[1], module, &unfit);
	if (unfit.code) {
		if (!o->skip_incompatible) {
			*err = unfit;
			return ct_error_prefix(err, "%s: %s", fname, t->name);
		}
		*skipped = true;
		return sc ? ct_qconfig_add_ignore(cfg, &module, 1, err) : CT_OK;
	}
	ct_plan_shard *sh = &p->shards[s];
	ct_plan_item *it = &sh->items[sh->n_items];
	it->kind = CT_ITEM_QUANT;
	it->src = t;
	it->shard = s;
	it->group = g;
	it->in_bytes = t->end - t->begin;
	if (!(it->module = strdup(module)))
		return ct_fail(err, CT_EIO, "out of memory");
	sh->n_items++;
	uint64_t R = t->shape[0], C = t->shape[1];
	ct_dtype weight_dt = t->dtype;
	if (sc) {
		ct_format fmt = sc->format != CT_FMT_NONE ? sc->format : cfg->format;
		it->codec = ct_codec_for(fmt);
		if (!it->codec)
			return ct_fail(err, CT_EINPUT, "%s: format %s cannot be written by ctensors",
				       module, ct_format_name(fmt) ? ct_format_name(fmt) : "(none)");
		it->desc = (ct_module_desc){ .args = sc->weights, .wd = t->dtype, .rows = R,
			.cols = C, .pack_padded = ct_plan_pack_padded(cfg) };
		bool byte_weights = fmt == CT_FMT_INT || fmt == CT_FMT_FLOAT || fmt == CT_FMT_NAIVE;
		if (sparse && (!byte_weights || !sc->weights->symmetric ||
			       cfg->sparsity->format != CT_FMT_SPARSE_24))
			return ct_fail(err, CT_EINPUT, "%s: %s: %s cannot be combined with %s%s (the "
				       "library composes sparse-24-bitmask only with symmetric "
				       "int-, float- or naive-quantized weights)", fname, t->name,
				       ct_format_name(cfg->sparsity->format), ct_format_name(fmt),
				       sc->weights->symmetric ? "" : " asymmetric");
		weight_dt = sc->weights->type == CT_QTYPE_FLOAT ? CT_F8_E4M3 : CT_I8;
		if (o->frozen) {
			lookup_ctx l = { p->ckpt, module, NULL };
			if (!lookup(&l, "weight_scale"))
				return ct_fail(err, CT_EINPUT, "%s: %s: the frozen config quantizes "
					       "%s but it has no %s.weight_scale", fname, t->name,
					       module, module);
			it->frozen = true;
		}
	}
	if (sparse) {
		it->sparse = cfg->sparsity ? ct_codec_for(cfg->sparsity->format) : NULL;
		it->sdesc = (ct_module_desc){ .wd = weight_dt, .rows = R, .cols = C };
		uint64_t nz = ct_sparse_count_nonzero(t->dtype, t->data, t->nelem);
		p->sparse_zeros += t->nelem - nz;
		p->sparse_numel += t->nelem;
		it->sdesc.nnz = nz;
		uint64_t bad;
		if (cfg->sparsity->format == CT_FMT_SPARSE_24 &&
		    !ct_sparse_is_24(t->dtype, t->data, t->nelem, &bad))
			return ct_fail(err, CT_EINPUT, "%s: %s: not 2:4 sparse: group %" PRIu64
				       " (row %" PRIu64 ", columns %" PRIu64 "-%" PRIu64 ") has more "
				       "than 2 non-zeros of 4 (prune it, or --ignore '%s')", fname,
				       t->name, bad, bad * 4 / C, bad * 4 % C, bad * 4 % C + 3, module);
	}
	int rc = item_outputs(it, err);
	if (rc)
		return ct_error_prefix(err, "%s: %s", fname, t->name);
	/* refuse inputs that already hold what we are about to write */
	for (size_t k = 0; k < it->n_out; k++) {
		lookup_ctx l = { p->ckpt, module, NULL };
		const ct_tensor *x = lookup(&l, it->out[k].suffix);
		if (x && x != t && !(it->frozen && is_frozen_param(it->out[k].suffix)))
			return ct_fail(err, CT_EINPUT, "%s: input already has %s (is it already "
				       "compressed?)", fname, x->name);
	}
	rc = add_outputs(p, s, it, err);
	p->in_bytes += it->in_bytes;
	p->params_total += t->nelem;
	p->params_quantized += sc ? t->nelem : 0;
	return rc;
}

typedef struct plan_ctx {
	ct_plan *p;
	ct_qmatch *qm;
	const sparse_match *sm;
	const ct_quant_opts *o;
	ct_qconfig *cfg;
	const ct_arch *arch;
	bool experts;              /* the checkpoint has MoE experts (routers exist) */
	long long num_layers;      /* config.json's num_hidden_layers, -1 unknown */
} plan_ctx;

/* Plans one tensor, a stored one or a part of a fused expert tensor: its
 * item (quantized, sparse-compressed or copied) and, for a weight kept
 * dense, why. */
static int plan_tensor(plan_ctx *pc, size_t s, const ct_tensor *t, ct_error *err)
{
	ct_plan *p = pc->p;
	ct_qmatch *qm = pc->qm;
	const ct_quant_opts *o = pc->o;
	ct_qconfig *cfg = pc->cfg;
	const sparse_match sm = *pc->sm;
	char module[CT_NAME_MAX];
	int rc = CT_OK;
	ct_modclass cls = CT_MOD_OTHER;
	bool cand = weight_module(t, pc->arch, module, sizeof(module), &cls);
	int g = -1, claimed = -1;
	char why[160] = "";
	if (cand) {
		rc = ct_qmatch_resolve(qm, module, cls, &g, err);
		if (rc)
			return ct_error_prefix(err, "%s", p->ckpt->shard_names[s]);
		claimed = g >= 0 && ct_modclass_quantizable(cls) ? g : -1;
		if (!o->frozen && ct_module_dropped_on_load(module, pc->num_layers)) {
			/* transformers drops it on load (modclass.h), so no model
			 * llm-compressor quantizes holds it: kept dense, and ignored
			 * by name when a target reaches it, so that vLLM loads it
			 * unquantized for speculative decoding */
			snprintf(why, sizeof(why), "dropped by transformers on load (MTP): kept "
				 "dense for vLLM's speculative decoding");
			if (g >= 0 && ct_modclass_quantizable(cls)) {
				const char *mm = module;
				rc = ct_qconfig_add_ignore(cfg, &mm, 1, err);
				if (rc)
					return rc;
			}
			g = claimed = -1;
		} else if (g >= 0 && pc->experts && !o->frozen && cls == CT_MOD_LINEAR &&
			   ct_module_is_router(module)) {
			/* transformers v5 routers hold a bare parameter, not an
			 * nn.Linear: compressed-tensors lifecycle/apply.py:
			 * apply_quantization_config quantizes only Linear and
			 * Embedding instances, so llm-compressor leaves them dense
			 * whatever the targets (modclass.h) */
			snprintf(why, sizeof(why), "MoE router: a bare parameter in transformers "
				 "v5, not a Linear module, which the library never quantizes");
			/* and listed in ignore, as llm-compressor lists it: a target
			 * that reaches a dense module is what verify and vLLM refuse */
			const char *mm = module;
			rc = ct_qconfig_add_ignore(cfg, &mm, 1, err);
			if (rc)
				return rc;
			g = claimed = -1;
		} else if (g >= 0 && !cfg->groups[g].weights) {
			snprintf(why, sizeof(why), "group %s quantizes no weights",
				 cfg->groups[g].name);
			g = -1;
		} else if (g >= 0 && !ct_modclass_quantizable(cls)) {
			snprintf(why, sizeof(why), "%s module: compressed-tensors "
				 "quantizes only Linear and Embedding modules",
				 ct_modclass_name(cls));
			g = -1;
		} else if (g < 0 && ct_qmatch_ignored(qm, module, cls)) {
			snprintf(why, sizeof(why), "ignored");
		} else if (g < 0) {
			snprintf(why, sizeof(why), "%s module: no target matches",
				 ct_modclass_name(cls));
		}
	}
	bool sparse = cand && sparse_target(&sm, module, cls);
	bool skipped = false;
	if (g >= 0 || sparse)
		rc = plan_weight(p, s, t, module, g, sparse, o, cfg, &skipped, err);
	if (skipped)
		snprintf(why, sizeof(why), "does not fit the scheme (--skip-incompatible)");
	if (!rc && ((g < 0 && !sparse) || skipped))
		rc = add_copy(p, s, t, err);
	if (!rc && why[0] && (g < 0 || skipped) && !sparse) {
		ct_plan_shard *sh = &p->shards[s];
		if (!(sh->items[sh->n_items - 1].why = strdup(why)))
			rc = ct_fail(err, CT_EIO, "out of memory");
	}
	if (!rc && cand && p->shards[s].n_items) {
		ct_plan_item *last = &p->shards[s].items[p->shards[s].n_items - 1];
		last->mweight = true;
		last->mclass = cls;
		last->mgroup = skipped ? -1 : claimed;
	}
	return rc;
}

/* Room for the items of the per-expert parts, in their source's shard. */
static int reserve_moe_items(ct_plan *p, const ct_moe_block *moe, size_t n, ct_error *err)
{
	for (size_t s = 0; s < p->n_shards; s++) {
		size_t extra = 0;
		for (size_t i = 0; i < n; i++) {
			const ct_moe_block *b = &moe[i];
			extra += (b->shard_gate_up == s ? 2 : 0) * b->experts;
			extra += (b->shard_down == s ? 1 : 0) * b->experts;
			extra += (b->gate_up_bias && b->shard_gate_up_bias == s ? 2 : 0) * b->experts;
			extra += (b->down_bias && b->shard_down_bias == s ? 1 : 0) * b->experts;
		}
		if (!extra)
			continue;
		size_t cap = p->ckpt->shards[s]->n_tensors + extra;
		ct_plan_item *items = realloc(p->shards[s].items, cap * sizeof(*items));
		if (!items)
			return ct_fail(err, CT_EIO, "out of memory");
		memset(items + p->shards[s].n_items, 0, (cap - p->shards[s].n_items) * sizeof(*items));
		p->shards[s].items = items;
	}
	return CT_OK;
}

/* A fused expert tensor becomes its per-expert parts, each planned as the
 * stored tensor of that name would be. */
static int plan_moe_tensor(plan_ctx *pc, size_t s, const ct_tensor *t, const ct_moe_block *b,
			   ct_error *err)
{
	ct_plan *p = pc->p;
	ct_moe_part parts[3];
	size_t n = ct_moe_parts_of(b, t, parts);
	for (uint64_t e = 0; e < b->experts; e++) {
		for (size_t k = 0; k < n; k++) {
			ct_tensor *v = calloc(1, sizeof(*v));
			char **names = p->virt_names;
			ct_tensor **virt = p->virt;
			if (p->n_virt == p->cap_virt) {
				/* geometric: a large MoE model has tens of thousands of parts */
				size_t cap = p->cap_virt ? p->cap_virt * 2 : 64;
				names = realloc(p->virt_names, cap * sizeof(char *));
				if (names)
					p->virt_names = names;
				virt = names ? realloc(p->virt, cap * sizeof(*virt)) : NULL;
				if (virt) {
					p->virt = virt;
					p->cap_virt = cap;
				}
			}
			char name[CT_NAME_MAX];
			int len = snprintf(name, sizeof(name), "%s.%" PRIu64 ".%s", b->prefix, e,
					   ct_moe_part_suffix(b, parts[k]));
			char *dup = v && names && virt && len > 0 && len < (int)sizeof(name) ?
				    strdup(name) : NULL;
			if (!dup) {
				free(v);
				return ct_fail(err, CT_EIO, "out of memory");
			}
			p->virt_names[p->n_virt] = dup;
			p->virt[p->n_virt++] = v;
			v->name = dup;
			v->name_len = (size_t)len;
			v->dtype = t->dtype;
			ct_moe_part_shape(b, parts[k], &v->ndim, v->shape);
			v->nelem = v->ndim == 2 ? v->shape[0] * v->shape[1] : v->shape[0];
			v->begin = 0;
			v->end = v->nelem * ct_dtype_size(t->dtype);
			v->data = ct_moe_part_direct(b, e, parts[k]);
			if (v->ndim == 2) {
				char module[CT_NAME_MAX];
				ct_modclass cls;
				if (weight_module(v, pc->arch, module, sizeof(module), &cls))
					ct_qmatch_mark(pc->qm, module, cls);
			}
			ct_plan_shard *sh = &p->shards[s];
			size_t before = sh->n_items;
			int rc = plan_tensor(pc, s, v, err);
			if (rc)
				return rc;
			for (size_t i = before; i < sh->n_items; i++) {
				sh->items[i].moe = b;
				sh->items[i].expert = e;
				sh->items[i].part = parts[k];
			}
		}
	}
	return CT_OK;
}

int ct_plan_quantize(const ct_checkpoint *ck, ct_qconfig *cfg, const ct_quant_opts *o,
		     ct_plan **out, ct_error *err)
{
	*out = NULL;
	ct_qmatch *qm = NULL;
	sparse_match sm;
	int rc = ct_qconfig_compile(cfg, &qm, err);
	if (rc)
		return rc;
	rc = sparse_match_init(cfg, &sm, err);
	ct_plan *p = NULL;
	if (!rc)
		rc = plan_alloc(ck, cfg, &p, err);
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	if (!rc)
		mark_modules(ck, &arch, qm);
	/* tie_word_embeddings: transformers builds lm_head (an nn.Linear
	 * sharing the embedding's weight), which the checkpoint leaves out;
	 * llm-compressor sees it, and lists it in ignore while it is dense */
	if (!rc && json_is_true(json_object_get(ck->config, "tie_word_embeddings")) &&
	    !ct_ckpt_find(ck, "lm_head.weight")) {
		p->tied_lm_head = true;
		ct_qmatch_mark(qm, "lm_head", CT_MOD_LINEAR);
		if (ct_qmatch_group(qm, "lm_head", CT_MOD_LINEAR) >= 0)
			ct_strlist_addf(&p->warnings, "lm_head is tied to the embedding "
					"(tie_word_embeddings) and has no weight of its own: left "
					"dense, and listed in ignore for a recipe or preset");
	}
	ct_moe_block *moe = NULL;
	size_t n_moe = 0;
	if (!rc)
		rc = ct_moe_find(ck, &moe, &n_moe, err);
	if (!rc) {
		/* a config.json the tensors contradict is no checkpoint a loader
		 * reads as written: refused before a byte is planned */
		ct_strlist bad = { 0 };
		ct_arch_check(ck, moe, n_moe, &bad);
		if (bad.n || bad.failed)
			rc = bad.n ? ct_fail(err, CT_EINPUT, "%s: %s", ck->kind == CT_CKPT_DIR ? ck->dir :
					     ck->shard_names[0], bad.items[0]) :
				     ct_fail(err, CT_EIO, "out of memory");
		ct_strlist_free(&bad);
	}
	if (!rc && n_moe && (o->frozen || sm.codec))
		rc = ct_fail(err, CT_EINPUT, "%s: fused 3-D experts (%s) can be quantized, but not "
			     "%s", moe[0].gate_up->name, ct_moe_layout_name(moe[0].layout),
			     o->frozen ? "packed from a frozen checkpoint" : "sparse-compressed");
	if (!rc && n_moe)
		rc = reserve_moe_items(p, moe, n_moe, err);
	p->moe = moe;
	p->n_moe = n_moe;
	plan_ctx pc = { p, qm, &sm, o, cfg, &arch, n_moe > 0, ct_arch_num_layers(ck->config) };
	for (size_t i = 0; !rc && !pc.experts && i < ck->n_tensors; i++)
		pc.experts = strstr(ck->tensors[i].t->name, ".experts.") != NULL;
	for (size_t s = 0; !rc && s < ck->n_shards; s++) {
		const ct_st_file *f = ck->shards[s];
		for (size_t i = 0; i < f->n_tensors && !rc; i++) {
			const ct_tensor *t = &f->tensors[i];
			if (o->frozen && consumed_frozen_param(ck, &arch, t, qm, cfg))
				continue;
			const ct_moe_block *mb = n_moe ? ct_moe_block_of(moe, n_moe, t) : NULL;
			rc = mb ? plan_moe_tensor(&pc, s, t, mb, err) : plan_tensor(&pc, s, t, err);
		}
	}
	if (!rc)
		ct_qmatch_unused(qm, o->implicit_ignore, o->n_implicit_ignore, &p->warnings);
	if (!rc && p->warnings.failed)
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (!rc)
		rc = plan_global_scales(p, o->fuse_global_scale, o->gs_shards, o->threads, err);
	if (!rc && sm.codec && p->sparse_numel)
		rc = ct_qconfig_set_global_sparsity(cfg, (double)p->sparse_zeros /
						    (double)p->sparse_numel, err);
	ct_qmatch_free(qm);
	sparse_match_free(&sm);
	if (rc) {
		ct_plan_free(p);
		return rc;
	}
	*out = p;
	return CT_OK;
}

int ct_plan_check_nonempty(const ct_plan *p, ct_error *err)
{
	if (p->params_quantized || p->sparse_numel)
		return CT_OK;
	const ct_checkpoint *ck = p->ckpt;
	return ct_fail(err, CT_EINPUT, "%s: nothing to %s: no weight of the checkpoint is "
		       "matched by the config's targets and left to quantize (--dry-run says "
		       "why each weight is kept)", ck->kind == CT_CKPT_DIR ? ck->dir :
		       ck->shard_names[0], p->cfg->n_groups ? "quantize" : "compress");
}

#define SPARSE_MIN_ZEROS 0.49 /* llm-compressor's threshold for a sparse module */

int ct_plan_select_sparse(const ct_checkpoint *ck, ct_qconfig *cfg, ct_error *err)
{
	if (!cfg->sparsity)
		return ct_fail(err, CT_EINTERNAL, "no sparsity config to target");
	bool two_four = cfg->sparsity->format == CT_FMT_SPARSE_24;
	char **sparse = calloc(ck->n_tensors + 1, sizeof(char *));
	char **dense = calloc(ck->n_tensors + 1, sizeof(char *));
	size_t ns = 0, nd = 0;
	int rc = sparse && dense ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	char module[CT_NAME_MAX];
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	for (size_t i = 0; !rc && i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[ck->by_name[i]].t;
		ct_modclass cls;
		/* the sparsity config's targets are "Linear" */
		if (!weight_module(t, &arch, module, sizeof(module), &cls) || cls != CT_MOD_LINEAR ||
		    ct_dtype_size(t->dtype) == 0)
			continue;
		/* not a float weight: kept dense and ignored by name, never a
		 * bitmask that decodes to integers */
		bool candidate = ct_dtype_is_float(t->dtype);
		uint64_t zeros = candidate ? t->nelem - ct_sparse_count_nonzero(t->dtype, t->data,
									      t->nelem) : 0;
		uint64_t bad;
		bool is_sparse = candidate && t->nelem &&
				 (double)zeros >= SPARSE_MIN_ZEROS * (double)t->nelem &&
				 (!two_four || (t->shape[1] % 4 == 0 &&
						ct_sparse_is_24(t->dtype, t->data, t->nelem, &bad)));
		char *copy = strdup(module);
		if (!copy) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		if (is_sparse)
			sparse[ns++] = copy;
		else
			dense[nd++] = copy;
	}
	if (!rc && ns == 0)
		rc = ct_fail(err, CT_EINPUT, "%s: no weight is at least %d%% zeros%s: nothing to "
			     "compress (prune the model first)", ck->kind == CT_CKPT_DIR ? ck->dir :
			     ck->shard_names[0], (int)(SPARSE_MIN_ZEROS * 100),
			     two_four ? " with 2:4 structure" : "");
	if (!rc) {
		static const char *const linear[] = { "Linear" };
		if (ns >= nd)
			rc = ct_qconfig_set_sparsity_lists(cfg, linear, 1, (const char *const *)dense,
							   nd, err);
		else
			rc = ct_qconfig_set_sparsity_lists(cfg, (const char *const *)sparse, ns,
							   (const char *const *)dense, nd, err);
	}
	for (size_t i = 0; i < ns; i++)
		free(sparse[i]);
	for (size_t i = 0; i < nd; i++)
		free(dense[i]);
	free(sparse);
	free(dense);
	return rc;
}

/* ----------------------------------------------------------- decompress --- */

/* Local names that only compressed modules have. */
static const char *const compressed_marks[] = {
	"weight_packed", "weight_scale", "weight_global_scale", "weight_zero_point",
	"weight_shape", "weight_g_idx", "compressed", "bitmask", "row_offsets", NULL
};

static bool is_mark(const char *local)
{
	for (size_t i = 0; compressed_marks[i]; i++)
		if (strcmp(local, compressed_marks[i]) == 0)
			return true;
	return false;
}

/* True when tensor t belongs to a compressed module (which is then written
 * to module). */
static bool compressed_module_of(const ct_checkpoint *ck, const ct_tensor *t, char *module,
				 size_t size)
{
	if (!ct_module_of(t->name, module, size))
		return false;
	const char *local = t->name + strlen(module) + 1;
	if (is_mark(local))
		return true;
	lookup_ctx l = { ck, module, NULL };
	if (strcmp(local, "shape") == 0)
		return lookup(&l, "compressed") != NULL;
	if (strcmp(local, "weight") != 0)
		return false;
	return lookup(&l, "weight_scale") != NULL;
}

/* Adds the decode item of module, whose tensor t is the primary one. */
static int plan_decode_module(ct_plan *p, size_t s, const ct_tensor *t, const char *module,
			      const ct_qconfig *cfg, ct_qmatch *qm, const ct_arch *arch,
			      ct_dtype out_dtype, ct_error *err)
{
	const ct_checkpoint *ck = p->ckpt;
	const char *fname = ck->shard_names[s];
	ct_tensor virt;
	lookup_ctx l = { ck, module, NULL };
	bool sparse = lookup(&l, "compressed") != NULL;
	bool quant = lookup(&l, "weight_scale") != NULL;
	const ct_tensor *dense = lookup(&l, "weight");
	const ct_tensor *packed = lookup(&l, "weight_packed");
	if (dense && (packed || sparse))
		return ct_fail(err, CT_EINPUT, "%s: %s: holds both a weight (%s) and compressed "
			       "tensors (%s): which one a loader takes is undefined", fname, module,
			       ct_dtype_name(dense->dtype), packed ? "weight_packed" : "compressed");
	int g = -1;
	if (quant) {
		/* a compressed module holds a 2-D weight */
		ct_modclass cls = ct_module_class(module, 2, arch);
		int rc = ct_qmatch_resolve(qm, module, cls, &g, err);
		if (rc)
			return ct_error_prefix(err, "%s", fname);
		/* writers that match by name alone quantized embeddings under
		 * "Linear": decode them with the group that names them so */
		if (g < 0 && cls != CT_MOD_LINEAR && !ct_qmatch_ignored(qm, module, cls)) {
			rc = ct_qmatch_resolve(qm, module, CT_MOD_LINEAR, &g, err);
			if (rc)
				return ct_error_prefix(err, "%s", fname);
		}
	}
	if (quant && (g < 0 || !cfg->groups[g].weights))
		return ct_fail(err, CT_EINPUT, "%s: %s: compressed tensors of a module that no "
			       "config group targets (is the config the checkpoint's?)", fname,
			       module);

	const ct_codec *codec = NULL, *scodec = NULL;
	if (!quant && !sparse)
		return ct_fail(err, CT_EINPUT, "%s: %s: compressed tensors but neither %s.weight_scale "
			       "nor %s.compressed (not a compressed-tensors module)", fname, t->name,
			       module, module);
	if (quant) {
		const ct_qscheme *sc = &cfg->groups[g];
		ct_format fmt = sc->format != CT_FMT_NONE ? sc->format : cfg->format;
		if (!(codec = ct_codec_for(fmt)) || codec->format == CT_FMT_SPARSE_BITMASK ||
		    codec->format == CT_FMT_SPARSE_24)
			return ct_fail(err, CT_EINPUT, "%s: %s: format %s cannot be read by ctensors",
				       fname, module, ct_format_name(fmt) ? ct_format_name(fmt) :
				       "(none)");
	}
	if (lookup(&l, "weight_g_idx") && (!codec || codec->format != CT_FMT_PACK))
		return ct_fail(err, CT_EINPUT, "%s: %s.weight_g_idx: activation order is read for "
			       "pack-quantized modules only", fname, module);
	if (sparse) {
		const ct_sparsity *sp = cfg->sparsity;
		if (!sp || !(scodec = ct_codec_for(sp->format)) ||
		    (sp->format != CT_FMT_SPARSE_BITMASK && sp->format != CT_FMT_SPARSE_24))
			return ct_fail(err, CT_EINPUT, "%s: %s: sparse tensors but the config has no "
				       "sparse-bitmask or sparse-24-bitmask sparsity_config", fname,
				       module);
	}
	/* one item per module, placed with its primary tensor */
	const char *primary = sparse ? "compressed" : codec->suffixes[0];
	if (strcmp(t->name + strlen(module) + 1, primary) != 0) {
		if (!lookup(&l, primary))
			return ct_fail(err, CT_EINPUT, "%s: %s: %s.%s is missing", fname, t->name,
				       module, primary);
		return CT_OK;
	}
	ct_plan_shard *sh = &p->shards[s];
	ct_plan_item *it = &sh->items[sh->n_items];
	it->kind = CT_ITEM_DECODE;
	it->src = t;
	it->shard = s;
	it->group = g;
	it->codec = codec;
	it->sparse = scodec;
	if (!(it->module = strdup(module)))
		return ct_fail(err, CT_EIO, "out of memory");
	sh->n_items++;
	ct_dec_info info = { 0, 0, CT_DTYPE_COUNT };
	int rc = CT_OK;
	if (scodec) {
		rc = scodec->check(&it->sdesc, lookup, &l, &info, err);
		it->sdesc.rows = info.rows;
		it->sdesc.cols = info.cols;
		it->sdesc.wd = info.dtype;
		/* the quantization codec reads the scattered codes as "weight" */
		virt = (ct_tensor){ .name = "weight", .dtype = info.dtype, .ndim = 2,
			.shape = { info.rows, info.cols }, .nelem = info.rows * info.cols };
		l.virtual_weight = &virt;
	}
	if (!rc && codec) {
		it->desc = (ct_module_desc){ .args = cfg->groups[g].weights,
			.pack_padded = ct_plan_pack_padded(cfg) };
		rc = codec->check(&it->desc, lookup, &l, &info, err);
	}
	if (rc)
		return ct_error_prefix(err, "%s: %s", fname, module);
	it->desc.rows = info.rows;
	it->desc.cols = info.cols;
	it->desc.wd = info.dtype;
	it->out_dtype = out_dtype == CT_DTYPE_COUNT ? info.dtype : out_dtype;
	if (!ct_dtype_is_float(it->out_dtype))
		return ct_fail(err, CT_EINPUT, "%s: %s: decodes to %s values without a scale",
			       fname, module, ct_dtype_name(it->out_dtype));
	rc = item_out(it, err);
	if (rc)
		return rc;
	it->out[0] = (ct_codec_tensor){ .suffix = "weight", .dtype = it->out_dtype, .ndim = 2,
		.shape = { info.rows, info.cols } };
	it->n_out = 1;
	for (size_t k = 0; compressed_marks[k]; k++) {
		const ct_tensor *x = lookup(&l, compressed_marks[k]);
		if (x)
			it->in_bytes += x->end - x->begin;
	}
	const ct_tensor *x = lookup(&l, "weight");
	if (x && x != &virt)
		it->in_bytes += x->end - x->begin;
	rc = add_outputs(p, s, it, err);
	p->in_bytes += it->in_bytes;
	p->params_total += info.rows * info.cols;
	p->params_quantized += codec ? info.rows * info.cols : 0;
	/* decompress: the weights a sparsity codec scatters back (alone for
	 * sparse-bitmask, under a quantization codec for 2:4 int8/fp8) */
	p->sparse_numel += scodec ? info.rows * info.cols : 0;
	return rc;
}

/* Parameters of activations and of the KV cache that calibrated
 * checkpoints carry (input_scale, input_global_scale, k_scale, ...): the
 * dense model has none, and the library's decompression drops them when the
 * config accounts for them. */
static bool dropped_on_decompress(const ct_tensor *t, const ct_qconfig *cfg)
{
	const char *dot = strrchr(t->name, '.');
	const char *local = dot ? dot + 1 : t->name;
	static const char *const act[] = { "input_scale", "input_zero_point",
					   "input_global_scale", NULL };
	static const char *const out_act[] = { "output_scale", "output_zero_point", NULL };
	static const char *const kv[] = { "k_scale", "v_scale", "q_scale", "k_zero_point",
					  "v_zero_point", NULL };
	bool has_in = false, has_out = false;
	for (size_t g = 0; g < cfg->n_groups; g++) {
		has_in = has_in || cfg->groups[g].input_activations;
		has_out = has_out || cfg->groups[g].output_activations;
	}
	for (size_t i = 0; act[i]; i++)
		if (has_in && strcmp(local, act[i]) == 0)
			return true;
	for (size_t i = 0; out_act[i]; i++)
		if (has_out && strcmp(local, out_act[i]) == 0)
			return true;
	for (size_t i = 0; kv[i]; i++)
		if (cfg->kv_cache_scheme && strcmp(local, kv[i]) == 0)
			return true;
	return false;
}

/* Records a module that cannot be decoded (lenient planning), once. */
static int add_problem(ct_plan *p, const char *module, size_t shard, const char *msg,
		       ct_error *err)
{
	for (size_t i = p->n_problems; i > 0; i--)
		if (strcmp(p->problems[i - 1].module, module) == 0)
			return CT_OK;
	ct_plan_problem *grown = realloc(p->problems, (p->n_problems + 1) * sizeof(*grown));
	if (!grown)
		return ct_fail(err, CT_EIO, "out of memory");
	p->problems = grown;
	ct_plan_problem *x = &grown[p->n_problems];
	x->module = strdup(module);
	x->message = strdup(msg);
	x->shard = shard;
	if (!x->module || !x->message) {
		free(x->module);
		free(x->message);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	p->n_problems++;
	return CT_OK;
}

static bool module_failed(const ct_plan *p, const char *module)
{
	for (size_t i = p->n_problems; i > 0; i--)
		if (strcmp(p->problems[i - 1].module, module) == 0)
			return true;
	return false;
}

int ct_plan_decompress(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_dtype out_dtype,
		       ct_plan **out, ct_error *err)
{
	return ct_plan_decompress_ex(ck, cfg, out_dtype, false, out, err);
}

int ct_plan_decompress_ex(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_dtype out_dtype,
			  bool lenient, ct_plan **out, ct_error *err)
{
	*out = NULL;
	ct_qmatch *qm = NULL;
	int rc = ct_qconfig_compile(cfg, &qm, err);
	if (rc)
		return rc;
	ct_plan *p = NULL;
	rc = plan_alloc(ck, cfg, &p, err);
	/* a lenient plan is read, never written (verify): no output is
	 * declared, which would cost a builder entry for every tensor */
	for (size_t s = 0; !rc && lenient && s < p->n_shards; s++) {
		ct_st_builder_free(p->shards[s].builder);
		p->shards[s].builder = NULL;
	}
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	char module[CT_NAME_MAX];
	for (size_t s = 0; !rc && s < ck->n_shards; s++) {
		const ct_st_file *f = ck->shards[s];
		for (size_t i = 0; i < f->n_tensors && !rc; i++) {
			const ct_tensor *t = &f->tensors[i];
			if (compressed_module_of(ck, t, module, sizeof(module))) {
				if (lenient && module_failed(p, module))
					continue;
				ct_plan_shard *sh = &p->shards[s];
				size_t before = sh->n_items;
				rc = plan_decode_module(p, s, t, module, cfg, qm, &arch, out_dtype,
							err);
				if (rc == CT_EINPUT && lenient) {
					/* keep planning: verify reports every module */
					while (sh->n_items > before) {
						sh->n_items--;
						free(sh->items[sh->n_items].module);
						free(sh->items[sh->n_items].out);
						memset(&sh->items[sh->n_items], 0, sizeof(ct_plan_item));
					}
					rc = add_problem(p, module, s, err->msg, err);
					ct_error_clear(err);
				}
			} else if (dropped_on_decompress(t, cfg))
				p->n_dropped++;
			else
				rc = add_copy(p, s, t, err);
		}
	}
	ct_qmatch_free(qm);
	if (rc) {
		ct_plan_free(p);
		return rc;
	}
	*out = p;
	return CT_OK;
}

/* Releases the pages of every stored tensor of a module (see ct_st_release). */
static void release_module(const ct_checkpoint *ck, const char *module)
{
	char name[CT_NAME_MAX];
	for (size_t k = 0; compressed_marks[k]; k++) {
		snprintf(name, sizeof(name), "%s.%s", module, compressed_marks[k]);
		const ct_tref *r = ct_ckpt_find(ck, name);
		if (r)
			ct_st_release(ck->shards[r->shard], r->t->data, r->t->end - r->t->begin);
	}
	snprintf(name, sizeof(name), "%s.weight", module);
	const ct_tref *r = ct_ckpt_find(ck, name);
	if (r)
		ct_st_release(ck->shards[r->shard], r->t->data, r->t->end - r->t->begin);
}

static int decode_module(const ct_checkpoint *ck, const ct_plan_item *it, ct_emit_fn emit,
			 void *ctx, ct_error *err);

int ct_plan_decode(const ct_checkpoint *ck, const ct_plan_item *it, ct_emit_fn emit,
		   void *ctx, ct_error *err)
{
	int rc = decode_module(ck, it, emit, ctx, err);
	release_module(ck, it->module);
	return rc;
}

int ct_plan_bound(const ct_checkpoint *ck, const ct_plan_item *it, ct_dec_bound *b,
		  ct_error *err)
{
	if (it->sparse || !it->codec || !it->codec->bound)
		return -1;
	lookup_ctx l = { ck, it->module, NULL };
	int rc = it->codec->bound(&it->desc, lookup, &l, b, err);
	release_module(ck, it->module);
	return rc;
}

static int decode_module(const ct_checkpoint *ck, const ct_plan_item *it, ct_emit_fn emit,
			 void *ctx, ct_error *err)
{
	lookup_ctx l = { ck, it->module, NULL };
	if (!it->sparse)
		return it->codec->decode(&it->desc, lookup, &l, it->out_dtype, emit, ctx, err);
	if (!it->codec)
		return it->sparse->decode(&it->sdesc, lookup, &l, it->out_dtype, emit, ctx, err);
	/* sparse codes first, scattered into memory, then dequantized */
	uint64_t bytes = it->sdesc.rows * it->sdesc.cols * ct_dtype_size(it->sdesc.wd);
	uint8_t *codes = malloc(bytes ? (size_t)bytes : 1);
	if (!codes)
		return ct_fail(err, CT_EIO, "out of memory for %" PRIu64 " bytes of codes", bytes);
	sink_buf sb = { codes, 0, bytes };
	int rc = it->sparse->decode(&it->sdesc, lookup, &l, it->sdesc.wd, emit_to_memory, &sb,
				    err);
	if (!rc) {
		ct_tensor virt = { .name = "weight", .dtype = it->sdesc.wd, .ndim = 2,
			.shape = { it->sdesc.rows, it->sdesc.cols },
			.nelem = it->sdesc.rows * it->sdesc.cols, .begin = 0, .end = bytes,
			.data = codes };
		l.virtual_weight = &virt;
		rc = it->codec->decode(&it->desc, lookup, &l, it->out_dtype, emit, ctx, err);
	}
	free(codes);
	return rc;
}

/* ------------------------------------------------------------ convert --- */

int ct_plan_convert(const ct_conv *cv, ct_plan **out, ct_error *err)
{
	const ct_checkpoint *ck = cv->ck;
	ct_plan *p = NULL;
	int rc = plan_alloc(ck, NULL, &p, err);
	if (rc)
		return rc;
	p->conv = cv;
	/* outputs per source tensor, so each shard's items fit */
	size_t *first = calloc(ck->n_tensors + 1, sizeof(size_t));
	size_t *count = calloc(ck->n_tensors + 1, sizeof(size_t));
	size_t *order = calloc(cv->n_outs + 1, sizeof(size_t));
	size_t *per_shard = calloc(ck->n_shards + 1, sizeof(size_t));
	if (!first || !count || !order || !per_shard)
		rc = ct_fail(err, CT_EIO, "out of memory");
	for (size_t k = 0; !rc && k < cv->n_outs; k++)
		count[cv->outs[k].src - ck->tensors]++;
	for (size_t i = 0, at = 0; !rc && i < ck->n_tensors; i++) {
		first[i] = at;
		at += count[i];
		per_shard[ck->tensors[i].shard] += count[i] ? count[i] : 1;
		count[i] = 0;
	}
	for (size_t k = 0; !rc && k < cv->n_outs; k++) {
		size_t i = (size_t)(cv->outs[k].src - ck->tensors);
		order[first[i] + count[i]++] = k;
	}
	for (size_t s = 0; !rc && s < ck->n_shards; s++) {
		ct_plan_item *items = realloc(p->shards[s].items, (per_shard[s] + 1) *
					      sizeof(ct_plan_item));
		if (!items) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		memset(items, 0, (per_shard[s] + 1) * sizeof(ct_plan_item));
		p->shards[s].items = items;
	}
	for (size_t i = 0; !rc && i < ck->n_tensors; i++) {
		const ct_tref *r = &ck->tensors[i];
		if (!cv->consumed[i]) {
			rc = add_copy_as(p, r->shard, r->t, ct_convert_out_name(cv, r->t), err);
			continue;
		}
		for (size_t c = 0; !rc && c < count[i]; c++) {
			const ct_conv_out *o = &cv->outs[order[first[i] + c]];
			ct_plan_shard *sh = &p->shards[r->shard];
			ct_plan_item *it = &sh->items[sh->n_items];
			it->kind = CT_ITEM_CONVERT;
			it->src = r->t;
			it->shard = r->shard;
			it->conv = o;
			it->group = cv->mods[o->mod].scheme;
			it->module = strndup(o->name, o->module_len);
			if (!it->module) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			rc = item_out(it, err);
			if (rc)
				break;
			it->n_out = 1;
			it->out[0] = (ct_codec_tensor){ .suffix = o->name + o->module_len + 1,
				.dtype = o->dtype, .ndim = o->ndim };
			memcpy(it->out[0].shape, o->shape, sizeof(o->shape));
			/* the source's bytes count once, with its first output */
			it->in_bytes = c ? 0 : r->t->end - r->t->begin;
			sh->n_items++;
			rc = add_outputs(p, r->shard, it, err);
			p->in_bytes += it->in_bytes;
		}
	}
	for (size_t m = 0; !rc && m < cv->n_mods; m++) {
		p->params_quantized += cv->mods[m].rows * cv->mods[m].cols;
		p->params_total += cv->mods[m].rows * cv->mods[m].cols;
	}
	free(first);
	free(count);
	free(order);
	free(per_shard);
	if (rc) {
		ct_plan_free(p);
		return rc;
	}
	*out = p;
	return CT_OK;
}

/* ------------------------------------------------------------ execution --- */

typedef struct exec_state {
	ct_plan *plan;
	const ct_sink *sinks;
	const ct_run_opts *opts;
	ct_plan_item **items;      /* every item, largest first */
	size_t n_items;
	atomic_size_t next;
	atomic_bool failed;
	atomic_uint_fast64_t done_bytes;
	pthread_mutex_t lock;
	ct_error err;              /* first error, under lock */
} exec_state;

typedef struct emit_ctx {
	ct_st_builder *b;
	const ct_sink *sink;
	const int *ids;            /* builder id of each codec output */
	uint8_t *capture;          /* output 0 goes here instead, when set */
	size_t captured;
} emit_ctx;

static int emit_to_builder(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	emit_ctx *e = ctx;
	if (k == 0 && e->capture) {
		memcpy(e->capture + e->captured, buf, len);
		e->captured += len;
		return CT_OK;
	}
	return ct_st_write(e->b, e->sink, e->ids[k], buf, len, err);
}

/* Encodes a weight item: quantize, sparse-compress, or quantize and then
 * sparse-compress the codes (which are then held in memory, one byte per
 * weight). Sparse outputs come first in it->out_id, then the quantization
 * codec's outputs after its "weight". */
/* The qparams a frozen checkpoint stores: weight_scale, and when present
 * weight_zero_point (all zero for symmetric schemes) and weight_global_scale. */
static int load_frozen_qparams(const ct_checkpoint *ck, const ct_plan_item *it,
			       ct_qparams *qp, ct_error *err)
{
	lookup_ctx l = { ck, it->module, NULL };
	const ct_qargs *a = it->desc.args;
	int rc = ct_qparams_init(a, it->desc.wd, it->desc.rows, it->desc.cols, qp, err);
	if (rc)
		return rc;
	qp->check_grid = true;
	rc = ct_codec_load_scales(qp, lookup(&l, "weight_scale"), "weight_scale", err);
	const ct_tensor *zp = lookup(&l, "weight_zero_point");
	uint64_t cells = qp->srows * qp->scols;
	/* quantizing divides by the scale: a zero one cannot (a negative one
	 * can, as compressed-tensors' _quantize divides by it) */
	for (uint64_t i = 0; !rc && i < cells; i++)
		if (qp->scale[i] == 0.0f)
			rc = ct_fail(err, CT_EINPUT, "weight_scale: scale %" PRIu64 " is 0 (expected "
				     "finite and nonzero to quantize with)", i);
	if (!rc && zp) {
		if (!ct_dtype_is_int(zp->dtype) || zp->nelem != cells)
			rc = ct_fail(err, CT_EINPUT, "weight_zero_point: %s with %" PRIu64 " elements "
				     "(expected integers on the %" PRIu64 "-cell scale grid)",
				     ct_dtype_name(zp->dtype), zp->nelem, cells);
		for (uint64_t i = 0; !rc && i < cells; i++) {
			int64_t z = ct_load_i64(zp->dtype, zp->data, i);
			if (a->symmetric && z != 0)
				rc = ct_fail(err, CT_EINPUT, "weight_zero_point: %" PRId64 " at %" PRIu64
					     " but the scheme is symmetric", z, i);
			else if (z < qp->q_min || z > qp->q_max)
				rc = ct_fail(err, CT_EINPUT, "weight_zero_point: %" PRId64 " outside [%d, "
					     "%d]", z, qp->q_min, qp->q_max);
			else if (qp->zp)
				qp->zp[i] = (int32_t)z;
		}
	} else if (!rc && !a->symmetric) {
		rc = ct_fail(err, CT_EINPUT, "weight_zero_point: missing for an asymmetric scheme");
	}
	if (!rc && a->strategy == CT_STRAT_TENSOR_GROUP) {
		const ct_tensor *g = lookup(&l, "weight_global_scale");
		uint64_t one = 1;
		rc = ct_codec_expect(g, "weight_global_scale", CT_F32, 1, &one, err);
		if (!rc) {
			memcpy(&qp->gs, g->data, 4);
			qp->has_gs = true;
			if (!isfinite(qp->gs) || !(qp->gs > 0))
				rc = ct_fail(err, CT_EINPUT, "weight_global_scale: %g (expected finite "
					     "and > 0)", (double)qp->gs);
		}
	}
	if (rc)
		ct_qparams_free(qp);
	return rc;
}

static int encode_weight(const ct_checkpoint *ck, const ct_plan_item *it, const uint8_t *data,
			 bool mapped, ct_st_builder *b, const ct_sink *sink, ct_error *err);

static int encode_item(const ct_checkpoint *ck, const ct_plan_item *it, ct_st_builder *b,
		       const ct_sink *sink, ct_error *err)
{
	uint8_t *owned;
	const uint8_t *data = item_data(ck, it, &owned, err);
	if (!data)
		return CT_EIO;
	int rc = encode_weight(ck, it, data, !owned, b, sink, err);
	free(owned);
	return rc;
}

static int encode_weight(const ct_checkpoint *ck, const ct_plan_item *it, const uint8_t *data,
			 bool mapped, ct_st_builder *b, const ct_sink *sink, ct_error *err)
{
	ct_wview w = { it->desc.wd, it->src->shape[0], it->src->shape[1], data,
		       mapped ? ck->shards[it->shard] : NULL };
	if (!it->codec) {
		w.wd = it->src->dtype;
		emit_ctx e = { b, sink, it->out_id, NULL, 0 };
		return it->sparse->encode(&it->sdesc, &w, NULL, emit_to_builder, &e, err);
	}
	ct_qparams qp;
	int rc = it->frozen ? load_frozen_qparams(ck, it, &qp, err) :
			      ct_qparams_compute(it->desc.args, &w, it->gs, &qp, err);
	if (rc)
		return rc;
	if (!it->sparse) {
		emit_ctx e = { b, sink, it->out_id, NULL, 0 };
		rc = it->codec->encode(&it->desc, &w, &qp, emit_to_builder, &e, err);
		ct_qparams_free(&qp);
		return rc;
	}
	/* map the quantization codec's outputs past its "weight" */
	int qids[CT_CODEC_MAX_OUT] = { -1 };
	for (size_t k = it->n_sparse_out; k < it->n_out; k++)
		qids[k - it->n_sparse_out + 1] = it->out_id[k];
	uint64_t bytes = it->sdesc.rows * it->sdesc.cols * ct_dtype_size(it->sdesc.wd);
	uint8_t *codes = malloc(bytes ? (size_t)bytes : 1);
	if (!codes) {
		ct_qparams_free(&qp);
		return ct_fail(err, CT_EIO, "out of memory for %" PRIu64 " bytes of codes", bytes);
	}
	emit_ctx e = { b, sink, qids, codes, 0 };
	rc = it->codec->encode(&it->desc, &w, &qp, emit_to_builder, &e, err);
	ct_qparams_free(&qp);
	if (!rc) {
		ct_wview cw = { it->sdesc.wd, it->sdesc.rows, it->sdesc.cols, codes, NULL };
		emit_ctx se = { b, sink, it->out_id, NULL, 0 };
		rc = it->sparse->encode(&it->sdesc, &cw, NULL, emit_to_builder, &se, err);
	}
	free(codes);
	return rc;
}

#define COPY_CHUNK (8u << 20)

static int run_fuse(const ct_checkpoint *ck, const ct_plan_item *it, ct_st_builder *b,
		    const ct_sink *sink, ct_error *err);

/* One thread's writes, gathered in a few runs, each growing while writes
 * start where it ends in the same output: the outputs of a module (codes,
 * scale, shape) lie in separate runs of the file, one per kind, and the
 * next module's outputs follow each, so a pwrite each would cost more than
 * their bytes when there are thousands. Larger writes go straight through;
 * a run that stops growing is written when its slot is needed, the rest
 * when the thread runs out of items. */
#define CT_COMBINE_RUNS 4
#define CT_COMBINE_BYTES (256u << 10)
#define CT_COMBINE_MAX (32u << 10)

typedef struct write_run {
	const ct_sink *target;     /* the output it belongs to */
	uint64_t at;               /* file offset of buf[0] */
	size_t len;
	uint8_t *buf;
} write_run;

typedef struct write_combiner {
	const ct_sink *target;     /* of the item being run */
	write_run run[CT_COMBINE_RUNS];
	uint8_t *mem;              /* the runs' buffers, or NULL: no combining */
	unsigned next_victim;
} write_combiner;

static int run_flush(write_run *r, ct_error *err)
{
	if (!r->len)
		return CT_OK;
	size_t len = r->len;
	r->len = 0;
	return r->target->pwrite(r->target->ctx, r->buf, len, r->at, err);
}

static int combiner_flush(write_combiner *c, ct_error *err)
{
	int rc = CT_OK;
	for (int i = 0; i < CT_COMBINE_RUNS; i++) {
		int r = run_flush(&c->run[i], err);
		rc = rc ? rc : r;
	}
	return rc;
}

static int combined_pwrite(void *ctx, const void *buf, size_t len, uint64_t offset,
			   ct_error *err)
{
	write_combiner *c = ctx;
	if (!c->mem || len > CT_COMBINE_MAX)
		return c->target->pwrite(c->target->ctx, buf, len, offset, err);
	write_run *r = NULL;
	for (int i = 0; i < CT_COMBINE_RUNS && !r; i++)
		if (c->run[i].len && c->run[i].target == c->target &&
		    c->run[i].at + c->run[i].len == offset)
			r = &c->run[i];
	for (int i = 0; i < CT_COMBINE_RUNS && !r; i++)
		if (!c->run[i].len)
			r = &c->run[i];
	if (!r) {
		r = &c->run[c->next_victim++ % CT_COMBINE_RUNS];
		int rc = run_flush(r, err);
		if (rc)
			return rc;
	}
	if (len > CT_COMBINE_BYTES - r->len) {
		int rc = run_flush(r, err);
		if (rc)
			return rc;
	}
	if (!r->len) {
		r->target = c->target;
		r->at = offset;
	}
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
	return CT_OK;
}

static int run_item(exec_state *st, write_combiner *wc, ct_plan_item *it, ct_error *err)
{
	ct_plan_shard *sh = &st->plan->shards[it->shard];
	wc->target = &st->sinks[it->shard];
	const ct_sink combined = { combined_pwrite, wc };
	const ct_sink *sink = &combined;
	emit_ctx e = { sh->builder, sink, it->out_id, NULL, 0 };
	const char *fname = st->plan->ckpt->shard_names[it->shard];
	int rc = CT_OK;
	switch (it->kind) {
	case CT_ITEM_COPY: {
		uint64_t n = it->src->end - it->src->begin;
		uint8_t *owned;
		const uint8_t *data = item_data(st->plan->ckpt, it, &owned, err);
		if (!data)
			return CT_EIO;
		for (uint64_t off = 0; off < n && !rc; off += COPY_CHUNK) {
			size_t m = n - off < COPY_CHUNK ? (size_t)(n - off) : COPY_CHUNK;
			if (!owned)
				ct_st_prefetch(st->plan->ckpt->shards[it->shard], data + off, m);
			rc = ct_st_write(sh->builder, sink, it->out_id[0], data + off, m, err);
			ct_st_release(st->plan->ckpt->shards[it->shard], data + off, m);
		}
		free(owned);
		break;
	}
	case CT_ITEM_QUANT: {
		rc = encode_item(st->plan->ckpt, it, sh->builder, sink, err);
		ct_st_release(st->plan->ckpt->shards[it->shard], it->src->data,
			      it->src->end - it->src->begin);
		if (rc && rc != CT_EIO)
			ct_error_prefix(err, "%s: %s", fname, it->src->name);
		break;
	}
	case CT_ITEM_FUSE:
		rc = run_fuse(st->plan->ckpt, it, sh->builder, sink, err);
		break;
	case CT_ITEM_DECODE: {
		rc = ct_plan_decode(st->plan->ckpt, it, emit_to_builder, &e, err);
		if (rc && rc != CT_EIO)
			ct_error_prefix(err, "%s: %s", fname, it->module);
		break;
	}
	case CT_ITEM_CONVERT: {
		rc = it->conv->produce(st->plan->conv, it->conv, emit_to_builder, &e, err);
		if (it->in_bytes)
			ct_st_release(st->plan->ckpt->shards[it->shard], it->src->data,
				      it->src->end - it->src->begin);
		if (rc && rc != CT_EIO)
			ct_error_prefix(err, "%s: %s", fname, it->src->name);
		break;
	}
	}
	return rc;
}

static void *worker(void *arg)
{
	exec_state *st = arg;
	/* without its buffer a thread writes straight through */
	write_combiner wc = { .mem = malloc(CT_COMBINE_RUNS * CT_COMBINE_BYTES) };
	for (int k = 0; wc.mem && k < CT_COMBINE_RUNS; k++)
		wc.run[k].buf = wc.mem + (size_t)k * CT_COMBINE_BYTES;
	for (;;) {
		if (atomic_load(&st->failed))
			break;
		size_t i = atomic_fetch_add(&st->next, 1);
		ct_error err;
		ct_error_clear(&err);
		int rc = i < st->n_items ? run_item(st, &wc, st->items[i], &err) :
			 combiner_flush(&wc, &err);
		if (rc) {
			pthread_mutex_lock(&st->lock);
			if (!atomic_load(&st->failed)) {
				st->err = err;
				st->err.code = rc;
				atomic_store(&st->failed, true);
			}
			pthread_mutex_unlock(&st->lock);
			break;
		}
		if (i >= st->n_items)
			break;
		uint64_t done = atomic_fetch_add(&st->done_bytes, st->items[i]->in_bytes) +
				st->items[i]->in_bytes;
		if (st->opts->progress)
			st->opts->progress(st->opts->progress_ctx, done, st->items[i]);
	}
	free(wc.mem);
	return NULL;
}

static int cmp_item_size(const void *a, const void *b)
{
	const ct_plan_item *x = *(ct_plan_item *const *)a, *y = *(ct_plan_item *const *)b;
	/* big items first so that the last ones to finish are small */
	if (x->in_bytes != y->in_bytes)
		return x->in_bytes > y->in_bytes ? -1 : 1;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return x < y ? -1 : x > y;
}

typedef struct ranked_item {
	ct_plan_item *item;
	size_t rank;               /* among the items of its size in its shard */
} ranked_item;

static int cmp_ranked(const void *a, const void *b)
{
	const ranked_item *x = a, *y = b;
	if (x->item->in_bytes != y->item->in_bytes)
		return x->item->in_bytes > y->item->in_bytes ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return cmp_item_size(&x->item, &y->item);
}

/* Largest first, and items of one size taken from the shards in turn: a
 * write holds its file's inode lock (tmpfs and ext4 alike), so threads that
 * write to different files do not wait for each other. */
static int order_items(ct_plan_item **items, size_t n)
{
	qsort(items, n, sizeof(*items), cmp_item_size);
	ranked_item *r = malloc((n ? n : 1) * sizeof(*r));
	if (!r)
		return CT_EIO;
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && items[i]->in_bytes == items[i - 1]->in_bytes &&
			    items[i]->shard == items[i - 1]->shard;
		r[i] = (ranked_item){ items[i], same ? r[i - 1].rank + 1 : 0 };
	}
	qsort(r, n, sizeof(*r), cmp_ranked);
	for (size_t i = 0; i < n; i++)
		items[i] = r[i].item;
	free(r);
	return CT_OK;
}

int ct_plan_execute(ct_plan *p, const ct_sink *sinks, const ct_run_opts *o, ct_error *err)
{
	exec_state st;
	memset(&st, 0, sizeof(st));
	st.plan = p;
	st.sinks = sinks;
	st.opts = o;
	for (size_t s = 0; s < p->n_shards; s++)
		if (!o->shards || o->shards[s])
			st.n_items += p->shards[s].n_items;
	st.items = malloc((st.n_items ? st.n_items : 1) * sizeof(ct_plan_item *));
	if (!st.items)
		return ct_fail(err, CT_EIO, "out of memory");
	size_t k = 0;
	for (size_t s = 0; s < p->n_shards; s++)
		for (size_t i = 0; (!o->shards || o->shards[s]) && i < p->shards[s].n_items; i++)
			st.items[k++] = &p->shards[s].items[i];
	if (order_items(st.items, st.n_items)) {
		free(st.items);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	atomic_init(&st.next, 0);
	atomic_init(&st.failed, false);
	atomic_init(&st.done_bytes, 0);
	pthread_mutex_init(&st.lock, NULL);
	ct_run_threads(worker, &st, o->threads, st.n_items);
	pthread_mutex_destroy(&st.lock);
	free(st.items);
	if (atomic_load(&st.failed)) {
		*err = st.err;
		return st.err.code ? st.err.code : CT_EINTERNAL;
	}
	for (size_t s = 0; s < p->n_shards; s++) {
		if (o->shards && !o->shards[s])
			continue;
		int rc = ct_st_finish(p->shards[s].builder, &sinks[s], err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

/* ------------------------------------------------------- fused experts --- */


void ct_fuse_specs_free(ct_fuse_spec *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].prefix);
		for (int k = 0; k < 4; k++)
			free(s[i].names[k]);
	}
	free(s);
}

char *ct_plan_fused_metadata(const ct_plan *p)
{
	if (!p->n_moe)
		return NULL;
	json_t *o = json_object();
	for (size_t i = 0; o && i < p->n_moe; i++) {
		const ct_moe_block *b = &p->moe[i];
		static const char *const layouts[] = { "A", "B", "C" };
		json_t *e = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s}", "layout", layouts[b->layout],
				      "experts", (json_int_t)b->experts, "hidden",
				      (json_int_t)b->hidden, "intermediate", (json_int_t)b->inter,
				      "gate_up", b->gate_up->name, "down", b->down->name);
		if (e && b->gate_up_bias)
			json_object_set_new(e, "gate_up_bias", json_string(b->gate_up_bias->name));
		if (e && b->down_bias)
			json_object_set_new(e, "down_bias", json_string(b->down_bias->name));
		if (!e || json_object_set_new(o, b->prefix, e)) {
			json_decref(o);
			return NULL;
		}
	}
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

char *ct_plan_decoded_metadata(const ct_plan *p, size_t shard)
{
	const ct_plan_shard *sh = &p->shards[shard];
	json_t *a = json_array();
	bool any = false;
	for (size_t i = 0; a && i < sh->n_items; i++) {
		const ct_plan_item *it = &sh->items[i];
		if (it->kind != CT_ITEM_DECODE && it->kind != CT_ITEM_FUSE)
			continue;
		char name[4096];
		snprintf(name, sizeof(name), "%s.%s", it->module, it->out[0].suffix);
		any = true;
		if (json_array_append_new(a, json_string(name))) {
			json_decref(a);
			return NULL;
		}
	}
	char *s = a && any ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

int ct_fuse_specs_read(const ct_checkpoint *ck, ct_fuse_spec **out, size_t *n, ct_error *err)
{
	*out = NULL;
	*n = 0;
	const char *text = ck->n_shards ? ct_st_meta(ck->shards[0], "ctensors.fused_experts") : NULL;
	if (!text)
		return CT_OK;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return ct_fail(err, CT_EINPUT, "%s: __metadata__ ctensors.fused_experts is not a JSON "
			       "object", ck->shard_names[0]);
	}
	ct_fuse_spec *specs = calloc(json_object_size(o) + 1, sizeof(*specs));
	int rc = specs ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	const char *key;
	json_t *v;
	size_t k = 0;
	json_object_foreach(o, key, v) {
		if (rc)
			break;
		ct_fuse_spec *f = &specs[k++];
		const char *layout = json_string_value(json_object_get(v, "layout"));
		json_int_t e = json_integer_value(json_object_get(v, "experts"));
		json_int_t h = json_integer_value(json_object_get(v, "hidden"));
		json_int_t i = json_integer_value(json_object_get(v, "intermediate"));
		static const char *const keys[] = { "gate_up", "down", "gate_up_bias", "down_bias" };
		f->prefix = strdup(key);
		for (int t = 0; t < 4; t++) {
			const char *nm = json_string_value(json_object_get(v, keys[t]));
			f->names[t] = nm ? strdup(nm) : NULL;
		}
		bool ok = layout && strlen(layout) == 1 && layout[0] >= 'A' && layout[0] <= 'C' &&
			  e > 0 && h > 0 && i > 0 && e <= (1 << 20) && f->prefix && f->names[0] &&
			  f->names[1];
		for (int t = 0; ok && t < 4; t++) {
			/* a fused name is the block's prefix and a name moe.c's
			 * fused_name reads as that tensor: vLLM's fused loaders
			 * (qwen3_5.py, llama4.py: load_weights) match
			 * "experts.gate_up_proj" / "experts.down_proj" anywhere in
			 * the name, so ".weight" may follow */
			static const char *const leaves[4][2] = {
				{ "gate_up_proj", "gate_up_proj.weight" },
				{ "down_proj", "down_proj.weight" },
				{ "gate_up_proj_bias", NULL },
				{ "down_proj_bias", NULL },
			};
			const char *nm = f->names[t];
			size_t pl = strlen(key);
			ok = !nm || (strncmp(nm, key, pl) == 0 && nm[pl] == '.' &&
				     (strcmp(nm + pl + 1, leaves[t][0]) == 0 ||
				      (leaves[t][1] && strcmp(nm + pl + 1, leaves[t][1]) == 0)));
		}
		if (!ok) {
			rc = ct_fail(err, CT_EINPUT, "%s: __metadata__ ctensors.fused_experts: %s: not "
				     "a fused block (layout A/B/C, experts, hidden, intermediate, "
				     "gate_up, down)", ck->shard_names[0], key);
			break;
		}
		f->layout = layout[0] - 'A';
		f->experts = (uint64_t)e;
		f->hidden = (uint64_t)h;
		f->inter = (uint64_t)i;
	}
	json_decref(o);
	if (rc) {
		ct_fuse_specs_free(specs, k);
		return rc;
	}
	*out = specs;
	*n = k;
	return CT_OK;
}

/* Which block, expert and projection an item of a decompress plan is:
 * returns the spec index or -1; *part: 0 gate, 1 up, 2 down; *bias. */
static int item_expert(const ct_plan_item *it, const ct_fuse_spec *specs, size_t n,
		       uint64_t *expert, int *part, bool *bias)
{
	char name[CT_NAME_MAX];
	if (it->kind == CT_ITEM_DECODE) {
		snprintf(name, sizeof(name), "%s.weight", it->module);
	} else if (it->kind == CT_ITEM_COPY) {
		snprintf(name, sizeof(name), "%s", it->out_name);
	} else {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t pl = strlen(specs[i].prefix);
		if (strncmp(name, specs[i].prefix, pl) != 0 || name[pl] != '.')
			continue;
		char *end;
		unsigned long long e = strtoull(name + pl + 1, &end, 10);
		if (end == name + pl + 1 || *end != '.' || e >= specs[i].experts)
			continue;
		/* either naming of the splits: gate/up/down_proj, or Mixtral's w1/w3/w2 */
		static const char *const projs[] = { "gate_proj.", "up_proj.", "down_proj.",
						     "w1.", "w3.", "w2." };
		for (int p = 0; p < 3; p++) {
			size_t l = strlen(projs[p]);
			if (strncmp(end + 1, projs[p], l) != 0) {
				l = strlen(projs[p + 3]);
				if (strncmp(end + 1, projs[p + 3], l) != 0)
					continue;
			}
			const char *local = end + 1 + l;
			if (strcmp(local, "weight") != 0 && strcmp(local, "bias") != 0)
				return -1;
			*expert = e;
			*part = p;
			*bias = strcmp(local, "bias") == 0;
			return (int)i;
		}
	}
	return -1;
}

static ct_dtype item_dtype(const ct_plan_item *it)
{
	return it->kind == CT_ITEM_DECODE ? it->out_dtype : it->src->dtype;
}

static void item_shape(const ct_plan_item *it, uint64_t *rows, uint64_t *cols)
{
	if (it->kind == CT_ITEM_DECODE) {
		*rows = it->desc.rows;
		*cols = it->desc.cols;
	} else {
		*rows = it->src->shape[0];
		*cols = it->src->ndim == 2 ? it->src->shape[1] : 1;
	}
}

/* The projection part j of a fused item gathers ("gate_proj", ...). */
static const char *part_name(const ct_fuse_item *f, size_t j)
{
	bool bias = f->which == FUSED_GATE_UP_BIAS || f->which == FUSED_DOWN_BIAS;
	if (f->which == FUSED_DOWN || f->which == FUSED_DOWN_BIAS)
		return bias ? "down_proj bias" : "down_proj";
	if (f->n_parts == 2 && j % 2)
		return bias ? "up_proj bias" : "up_proj";
	return bias ? "gate_proj bias" : "gate_proj";
}

int ct_plan_fuse_experts(ct_plan *p, const ct_fuse_spec *specs, size_t n, ct_error *err)
{
	if (!n)
		return CT_OK;
	/* four fused tensors per block, each gathering up to two parts per expert */
	ct_fuse_item *fi = calloc(n * 4, sizeof(*fi));
	size_t *home = calloc(n, sizeof(size_t));
	bool *found = calloc(n, sizeof(bool));
	int rc = fi && home && found ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		for (int w = 0; w < 4 && !rc; w++) {
			ct_fuse_item *f = &fi[i * 4 + w];
			f->spec = &specs[i];
			f->which = w;
			f->n_parts = w == FUSED_GATE_UP || w == FUSED_GATE_UP_BIAS ? 2 : 1;
			f->n_total = (size_t)specs[i].experts * f->n_parts;
			f->dt = CT_DTYPE_COUNT;
			if (!specs[i].names[w])
				continue;
			f->parts = calloc((size_t)specs[i].experts * f->n_parts, sizeof(ct_plan_item));
			if (!f->parts)
				rc = ct_fail(err, CT_EIO, "out of memory");
		}
	}
	/* take the per-expert items out of the plan, the rest stays */
	for (size_t s = 0; !rc && s < p->n_shards; s++) {
		ct_plan_shard *sh = &p->shards[s];
		size_t keep = 0;
		for (size_t i = 0; i < sh->n_items; i++) {
			ct_plan_item *it = &sh->items[i];
			uint64_t e = 0;
			int part = 0;
			bool bias = false;
			int k = item_expert(it, specs, n, &e, &part, &bias);
			int w = bias ? (part == 2 ? FUSED_DOWN_BIAS : FUSED_GATE_UP_BIAS) :
				       (part == 2 ? FUSED_DOWN : FUSED_GATE_UP);
			ct_fuse_item *f = k >= 0 ? &fi[(size_t)k * 4 + (size_t)w] : NULL;
			if (!f || !f->parts) {
				sh->items[keep++] = *it;
				continue;
			}
			if (!found[k]) {
				found[k] = true;
				home[k] = s;
			}
			f->parts[e * f->n_parts + (f->n_parts == 2 ? (size_t)part : 0)] = *it;
		}
		sh->n_items = keep;
	}
	/* every expert must be there, alike */
	for (size_t k = 0; !rc && k < n * 4; k++) {
		ct_fuse_item *f = &fi[k];
		const ct_fuse_spec *sp = f->spec;
		if (!f->parts)
			continue;
		uint64_t want_r = f->which == FUSED_DOWN || f->which == FUSED_DOWN_BIAS ? sp->hidden :
				  sp->inter;
		uint64_t want_c = f->which == FUSED_GATE_UP ? sp->hidden :
				  f->which == FUSED_DOWN ? sp->inter : 1;
		for (size_t j = 0; !rc && j < sp->experts * f->n_parts; j++) {
			const ct_plan_item *it = &f->parts[j];
			uint64_t r, c;
			if (!it->src) {
				rc = ct_fail(err, CT_EINPUT, "%s: --fused: expert %zu has no %s (the "
					     "checkpoint lacks a projection of the recorded block)",
					     sp->names[f->which], j / f->n_parts, part_name(f, j));
				break;
			}
			item_shape(it, &r, &c);
			ct_dtype dt = item_dtype(it);
			if (f->dt == CT_DTYPE_COUNT)
				f->dt = dt;
			if (r != want_r || c != want_c)
				/* a shape --dtype cannot change: the recorded block
				 * and the checkpoint's expert disagree */
				rc = ct_fail(err, CT_EINPUT, "%s: --fused: expert %zu's %s is [%" PRIu64
					     ", %" PRIu64 "] where the recorded block (hidden %" PRIu64
					     ", intermediate %" PRIu64 ") needs [%" PRIu64 ", %" PRIu64
					     "]", sp->names[f->which], j / f->n_parts,
					     part_name(f, j), r, c, sp->hidden, sp->inter, want_r,
					     want_c);
			else if (dt != f->dt || !ct_dtype_size(dt))
				rc = ct_fail(err, CT_EINPUT, "%s: --fused: expert %zu's %s is %s where "
					     "the block needs %s (decompress with --dtype to make experts "
					     "alike)", sp->names[f->which], j / f->n_parts,
					     part_name(f, j), ct_dtype_name(dt), ct_dtype_name(f->dt));
		}
	}
	/* the builders are rebuilt: the per-expert tensors are gone */
	for (size_t s = 0; !rc && s < p->n_shards; s++) {
		ct_plan_shard *sh = &p->shards[s];
		size_t extra = 0;
		for (size_t k = 0; k < n; k++)
			extra += found[k] && home[k] == s ? 4 : 0;
		ct_plan_item *items = realloc(sh->items, (sh->n_items + extra + 1) * sizeof(*items));
		ct_st_builder *b = ct_st_builder_new();
		if (!items || !b) {
			if (items)
				sh->items = items;
			ct_st_builder_free(b);
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		sh->items = items;
		ct_st_builder_free(sh->builder);
		sh->builder = b;
		for (size_t i = 0; !rc && i < sh->n_items; i++) {
			ct_plan_item *it = &sh->items[i];
			if (it->kind == CT_ITEM_COPY) {
				int id = ct_st_builder_add(b, it->src->name, it->src->dtype,
							   it->src->ndim, it->src->shape, err);
				if (id < 0)
					rc = -id;
				else
					it->out_id[0] = id;
			} else {
				rc = add_outputs(p, s, it, err);
			}
		}
		for (size_t k = 0; !rc && k < n * 4; k++) {
			ct_fuse_item *f = &fi[k];
			size_t blk = k / 4;
			if (!f->parts || !found[blk] || home[blk] != s)
				continue;
			const ct_fuse_spec *sp = f->spec;
			ct_plan_item *it = &sh->items[sh->n_items];
			memset(it, 0, sizeof(*it));
			it->kind = CT_ITEM_FUSE;
			it->shard = s;
			it->src = f->parts[0].src;
			it->fuse = malloc(sizeof(*f));
			it->module = strdup(sp->prefix);
			if (!it->fuse || !it->module) {
				free(it->fuse);
				free(it->module);
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			*it->fuse = *f;
			f->parts = NULL;   /* owned by the item now */
			rc = item_out(it, err);
			if (rc)
				break;
			uint64_t E = sp->experts, H = sp->hidden, I = sp->inter;
			bool rows_first = sp->layout == CT_MOE_A;
			ct_codec_tensor *o = &it->out[0];
			o->suffix = sp->names[it->fuse->which] + strlen(sp->prefix) + 1;
			o->dtype = it->fuse->dt;
			switch (it->fuse->which) {
			case FUSED_GATE_UP:
				o->ndim = 3;
				o->shape[0] = E;
				o->shape[1] = rows_first ? 2 * I : H;
				o->shape[2] = rows_first ? H : 2 * I;
				break;
			case FUSED_DOWN:
				o->ndim = 3;
				o->shape[0] = E;
				o->shape[1] = rows_first ? H : I;
				o->shape[2] = rows_first ? I : H;
				break;
			case FUSED_GATE_UP_BIAS:
				o->ndim = 2;
				o->shape[0] = E;
				o->shape[1] = 2 * I;
				break;
			default:
				o->ndim = 2;
				o->shape[0] = E;
				o->shape[1] = H;
				break;
			}
			it->n_out = 1;
			for (size_t j = 0; j < E * it->fuse->n_parts; j++)
				it->in_bytes += it->fuse->parts[j].in_bytes;
			sh->n_items++;
			rc = add_outputs(p, s, it, err);
		}
	}
	for (size_t k = 0; fi && k < n * 4; k++) {
		/* parts not handed to an item: free what they own */
		for (size_t j = 0; fi[k].parts && j < fi[k].spec->experts * fi[k].n_parts; j++) {
			free(fi[k].parts[j].module);
			free(fi[k].parts[j].why);
			free(fi[k].parts[j].out);
		}
		free(fi[k].parts);
	}
	free(fi);
	free(home);
	free(found);
	return rc;
}

/* One expert's part, decoded or copied, into dst (rows * cols elements). */
static int fuse_part(const ct_checkpoint *ck, const ct_plan_item *it, uint8_t *dst,
		     uint64_t bytes, ct_error *err)
{
	if (it->kind == CT_ITEM_COPY) {
		if (it->src->end - it->src->begin != bytes)
			return ct_fail(err, CT_EINTERNAL, "%s: size changed", it->src->name);
		memcpy(dst, it->src->data, (size_t)bytes);
		ct_st_release(ck->shards[it->shard], it->src->data, bytes);
		return CT_OK;
	}
	sink_buf sb = { dst, 0, bytes };
	int rc = ct_plan_decode(ck, it, emit_to_memory, &sb, err);
	if (!rc && sb.len != bytes)
		rc = ct_fail(err, CT_EINTERNAL, "%s: decoded %" PRIu64 " of %" PRIu64 " bytes",
			     it->module, sb.len, bytes);
	return rc;
}

/* Writes a fused tensor expert by expert, in the block's layout: A keeps
 * nn.Linear's rows (gate above up), B and C the transposed [H, 2I] with
 * gate and up in halves (B) or interleaved by column (C). */
static int run_fuse(const ct_checkpoint *ck, const ct_plan_item *it, ct_st_builder *b,
		    const ct_sink *sink, ct_error *err)
{
	const ct_fuse_item *f = it->fuse;
	const ct_fuse_spec *sp = f->spec;
	size_t esz = ct_dtype_size(f->dt);
	uint64_t H = sp->hidden, I = sp->inter;
	bool vec = f->which == FUSED_GATE_UP_BIAS || f->which == FUSED_DOWN_BIAS;
	uint64_t per = f->which == FUSED_GATE_UP || f->which == FUSED_DOWN ? H * I :
		       f->which == FUSED_GATE_UP_BIAS ? I : H;
	uint64_t slab = per * f->n_parts;
	uint8_t *parts = malloc((size_t)(slab * esz));
	uint8_t *out = malloc((size_t)(slab * esz));
	int rc = parts && out ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	for (uint64_t e = 0; !rc && e < sp->experts; e++) {
		for (size_t k = 0; !rc && k < f->n_parts; k++)
			rc = fuse_part(ck, &f->parts[e * f->n_parts + k], parts + k * per * esz,
				       per * esz, err);
		if (rc)
			break;
		const uint8_t *src = parts;
		if (sp->layout == CT_MOE_A || (vec && sp->layout == CT_MOE_B) ||
		    f->which == FUSED_DOWN_BIAS) {
			/* the parts one after the other, as they are */
			src = parts;
		} else if (f->which == FUSED_DOWN) {
			/* [H, I] back to [I, H] */
			for (uint64_t h = 0; h < H; h++)
				for (uint64_t i = 0; i < I; i++)
					memcpy(out + (i * H + h) * esz, parts + (h * I + i) * esz, esz);
			src = out;
		} else if (vec) {
			/* C's bias: gate and up interleaved */
			for (uint64_t i = 0; i < I; i++) {
				memcpy(out + 2 * i * esz, parts + i * esz, esz);
				memcpy(out + (2 * i + 1) * esz, parts + (I + i) * esz, esz);
			}
			src = out;
		} else {
			/* gate and up [I, H] each, to one [H, 2I] */
			bool inter = sp->layout == CT_MOE_C;
			for (uint64_t h = 0; h < H; h++)
				for (uint64_t i = 0; i < I; i++)
					for (int k = 0; k < 2; k++) {
						uint64_t col = inter ? 2 * i + (uint64_t)k :
							       (uint64_t)k * I + i;
						memcpy(out + (h * 2 * I + col) * esz,
						       parts + ((uint64_t)k * I * H + i * H + h) * esz,
						       esz);
					}
			src = out;
		}
		rc = ct_st_write(b, sink, it->out_id[0], src, (size_t)(slab * esz), err);
	}
	free(parts);
	free(out);
	return rc;
}

/* ------------------------------------------- the config llm-compressor writes --- */

/* Rank of a name part inside a decoder layer, as transformers declares the
 * submodules (attention before the MLP; q, k, v, o; gate, up, down); 0 for
 * the rest, which come after them and compare as text. */
static int part_rank(const char *s, size_t n)
{
	static const char *const order[] = {
		"self_attn", "attn", "attention", "linear_attn", "mlp", "block_sparse_moe",
		"feed_forward", "moe", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
		"up_proj", "down_proj", NULL,
	};
	for (int i = 0; order[i]; i++)
		if (strlen(order[i]) == n && memcmp(order[i], s, n) == 0)
			return i + 1;
	return 0;
}

static bool all_digits_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* Module names in the order model.named_modules() walks them, as far as a
 * checkpoint tells: part by part, layer indices as numbers, the parts of a
 * layer in declaration order, and the output head (top-level "lm_head")
 * after the model it follows in every *ForCausalLM. */
static int model_order_cmp(const char *a, const char *b)
{
	bool top = true;
	while (*a && *b) {
		size_t na = strcspn(a, "."), nb = strcspn(b, ".");
		if (na != nb || memcmp(a, b, na) != 0) {
			if (top) {
				bool ha = na == 7 && memcmp(a, "lm_head", 7) == 0;
				bool hb = nb == 7 && memcmp(b, "lm_head", 7) == 0;
				if (ha != hb)
					return ha ? 1 : -1;
			}
			if (all_digits_n(a, na) && all_digits_n(b, nb) && na < 20 && nb < 20) {
				unsigned long long x = strtoull(a, NULL, 10), y = strtoull(b, NULL, 10);
				if (x != y)
					return x < y ? -1 : 1;
			}
			/* known parts first, in their order, then the rest as text:
			 * a total order, which qsort needs */
			int ra = part_rank(a, na), rb = part_rank(b, nb);
			ra = ra ? ra : 1000;
			rb = rb ? rb : 1000;
			if (ra != rb)
				return ra < rb ? -1 : 1;
			size_t m = na < nb ? na : nb;
			int c = memcmp(a, b, m);
			if (c)
				return c;
			return na < nb ? -1 : 1;
		}
		a += na;
		b += nb;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		top = false;
	}
	return *a ? 1 : *b ? -1 : 0;
}

typedef struct llmc_rec {
	const char *module;
	ct_modclass cls;
	int group;
	size_t seq;
} llmc_rec;

static int llmc_rec_cmp(const void *x, const void *y)
{
	const llmc_rec *a = x, *b = y;
	int c = model_order_cmp(a->module, b->module);
	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int ct_plan_llmc_config(const ct_plan *p, json_t *qj, ct_error *err)
{
	const ct_qconfig *cfg = p->cfg;
	json_t *old_cg = json_object_get(qj, "config_groups");
	if (!json_is_object(old_cg) || cfg->n_groups == 0)
		return CT_OK;
	size_t n = 0;
	for (size_t s = 0; s < p->n_shards; s++)
		n += p->shards[s].n_items;
	llmc_rec *r = calloc(n + 1, sizeof(*r));
	int *newidx = malloc(cfg->n_groups * sizeof(int));
	json_t *cg = json_object(), *ign = json_array();
	int rc = r && newidx && cg && ign ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	size_t m = 0;
	for (size_t s = 0; !rc && s < p->n_shards; s++)
		for (size_t i = 0; i < p->shards[s].n_items; i++) {
			const ct_plan_item *it = &p->shards[s].items[i];
			if (!it->mweight)
				continue;
			/* a copied weight has no module name of its own */
			char buf[CT_NAME_MAX];
			const char *mod = it->module;
			if (!mod && ct_module_of(it->src->name, buf, sizeof(buf)))
				mod = buf;
			if (!mod)
				continue;
			if (!(r[m].module = strdup(mod))) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			r[m].seq = m;
			r[m].cls = it->mclass;
			r[m].group = it->mgroup;
			m++;
		}
	if (!rc && p->tied_lm_head) {
		r[m].module = strdup("lm_head");
		r[m].cls = CT_MOD_LINEAR;
		r[m].group = -1;
		r[m].seq = m;
		if (r[m++].module == NULL)
			rc = ct_fail(err, CT_EIO, "out of memory");
	}
	if (!rc)
		qsort(r, m, sizeof(*r), llmc_rec_cmp);
	/* the types some group quantizes (quant_config.py:from_pretrained,
	 * quantization_type_names; get_vllm_module_type maps routers, which
	 * keep class Linear here, to "Linear") */
	bool qtype[CT_MOD_COUNT] = { false };
	for (size_t g = 0; !rc && g < cfg->n_groups; g++)
		newidx[g] = -1;
	int kept = 0;
	const char *one_format = NULL;
	bool mixed = false;
	for (size_t i = 0; !rc && i < m; i++) {
		int g = r[i].group;
		if (g < 0 || (size_t)g >= cfg->n_groups)
			continue;
		qtype[r[i].cls] = true;
		if (newidx[g] >= 0)
			continue;
		json_t *grp = json_object_get(old_cg, cfg->groups[g].name);
		if (!grp) {
			rc = ct_fail(err, CT_EINTERNAL, "group %s is not in the config",
				     cfg->groups[g].name);
			break;
		}
		/* equal schemes are one (from_pretrained: `scheme not in
		 * quantization_schemes`) */
		const char *k;
		json_t *v;
		json_object_foreach(cg, k, v) {
			if (json_equal(v, grp)) {
				newidx[g] = atoi(k + 6);
				break;
			}
		}
		if (newidx[g] >= 0)
			continue;
		char name[32];
		snprintf(name, sizeof(name), "group_%d", kept);
		newidx[g] = kept++;
		if (json_object_set(cg, name, grp)) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		const char *f = json_string_value(json_object_get(grp, "format"));
		if (f && one_format && strcmp(f, one_format) != 0)
			mixed = true;
		if (f)
			one_format = f;
	}
	/* ignore: the dense modules of a quantized type, one type after the
	 * other in the order each type first shows up, names deduplicated */
	ct_modclass types[CT_MOD_COUNT];
	size_t nt = 0;
	for (size_t i = 0; !rc && i < m; i++) {
		if (r[i].group >= 0 || !qtype[r[i].cls])
			continue;
		bool seen = false;
		for (size_t t = 0; t < nt && !seen; t++)
			seen = types[t] == r[i].cls;
		if (!seen)
			types[nt++] = r[i].cls;
	}
	for (size_t t = 0; !rc && t < nt; t++)
		for (size_t i = 0; !rc && i < m; i++) {
			if (r[i].group >= 0 || r[i].cls != types[t])
				continue;
			if (i > 0 && strcmp(r[i - 1].module, r[i].module) == 0 &&
			    r[i - 1].group < 0 && r[i - 1].cls == r[i].cls)
				continue;
			if (json_array_append_new(ign, json_string(r[i].module)))
				rc = ct_fail(err, CT_EIO, "out of memory");
		}
	if (!rc && kept > 0) {
		if (json_object_set(qj, "config_groups", cg) || json_object_set(qj, "ignore", ign))
			rc = ct_fail(err, CT_EIO, "out of memory");
		if (!rc && !cfg->sparsity && one_format)
			rc = json_object_set_new(qj, "format", json_string(mixed ? "mixed-precision" :
									    one_format)) ?
			     ct_fail(err, CT_EIO, "out of memory") : CT_OK;
	}
	for (size_t i = 0; r && i < m; i++)
		free((char *)r[i].module);
	free(r);
	free(newidx);
	json_decref(cg);
	json_decref(ign);
	return rc;
}
