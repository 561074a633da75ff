#include "plan.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_NAME_MAX 4096 /* longest tensor name handled */

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
	for (size_t s = 0; s < p->n_shards; s++) {
		for (size_t i = 0; i < p->shards[s].n_items; i++)
			free(p->shards[s].items[i].module);
		free(p->shards[s].items);
		free(p->shards[s].name);
		ct_st_builder_free(p->shards[s].builder);
	}
	free(p->shards);
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
	p->shards = calloc(ck->n_shards, sizeof(ct_plan_shard));
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

static int add_copy(ct_plan *p, size_t s, const ct_tensor *t, ct_error *err)
{
	ct_plan_shard *sh = &p->shards[s];
	ct_plan_item *it = &sh->items[sh->n_items];
	it->kind = CT_ITEM_COPY;
	it->src = t;
	it->shard = s;
	it->in_bytes = t->end - t->begin;
	int id = ct_st_builder_add(sh->builder, t->name, t->dtype, t->ndim, t->shape, err);
	if (id < 0)
		return -id;
	it->out_id[0] = id;
	it->n_out = 1;
	sh->n_items++;
	p->in_bytes += it->in_bytes;
	if (ct_dtype_is_float(t->dtype))
		p->params_total += t->nelem;
	return CT_OK;
}

static int add_outputs(ct_plan *p, size_t s, ct_plan_item *it, ct_error *err)
{
	ct_plan_shard *sh = &p->shards[s];
	char name[CT_NAME_MAX];
	for (size_t k = 0; k < it->n_out; k++) {
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
} lookup_ctx;

static const ct_tensor *lookup(void *ctx, const char *suffix)
{
	lookup_ctx *l = ctx;
	char name[CT_NAME_MAX];
	int n = snprintf(name, sizeof(name), "%s.%s", l->module, suffix);
	if (n < 0 || (size_t)n >= sizeof(name))
		return NULL;
	const ct_tref *r = ct_ckpt_find(l->ck, name);
	return r ? r->t : NULL;
}

/* ------------------------------------------------------------- quantize --- */

/* Sibling modules vLLM fuses, which must share one NVFP4 global scale. */
static const char *const fused_sets[][4] = {
	{ "q_proj", "k_proj", "v_proj", NULL },
	{ "gate_proj", "up_proj", NULL, NULL },
	{ "q_a_proj", "kv_a_proj_with_mqa", NULL, NULL },
	{ "w1", "w3", NULL, NULL },
};

/* Writes the fusion key of module (parent + set number) into key, or
 * returns false when the module is not part of a fused set. */
static bool fusion_key(const char *module, char *key, size_t size)
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

static bool is_candidate(const ct_tensor *t, char *module, size_t size)
{
	size_t n = t->name_len;
	if (n < 7 || strcmp(t->name + n - 7, ".weight") != 0)
		return false;
	if (!ct_module_of(t->name, module, size))
		return false;
	size_t m = strlen(module);
	/* norms are never Linear layers */
	return !(m >= 4 && strcmp(module + m - 4, "norm") == 0);
}

typedef struct gs_entry {
	ct_plan_item *item;
	char key[CT_NAME_MAX];
	bool fused;
	float absmax;
} gs_entry;

static int cmp_gs_key(const void *a, const void *b)
{
	const gs_entry *x = a, *y = b;
	if (x->fused != y->fused)
		return x->fused ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Global scales of the NVFP4 items: one per module, or the max absmax of a
 * fused set shared by its members. Reads each targeted weight once, which
 * also refuses NaN and Inf before anything is written. */
static int plan_global_scales(ct_plan *p, bool fuse, ct_error *err)
{
	size_t n = 0;
	for (size_t s = 0; s < p->n_shards; s++)
		for (size_t i = 0; i < p->shards[s].n_items; i++)
			n += p->shards[s].items[i].kind == CT_ITEM_QUANT &&
			     p->shards[s].items[i].desc.args->strategy == CT_STRAT_TENSOR_GROUP;
	if (n == 0)
		return CT_OK;
	gs_entry *e = calloc(n, sizeof(gs_entry));
	if (!e)
		return ct_fail(err, CT_EIO, "out of memory");
	size_t k = 0;
	int rc = CT_OK;
	for (size_t s = 0; s < p->n_shards && !rc; s++) {
		for (size_t i = 0; i < p->shards[s].n_items && !rc; i++) {
			ct_plan_item *it = &p->shards[s].items[i];
			if (it->kind != CT_ITEM_QUANT ||
			    it->desc.args->strategy != CT_STRAT_TENSOR_GROUP)
				continue;
			e[k].item = it;
			e[k].fused = fuse && fusion_key(it->module, e[k].key, sizeof(e[k].key));
			if (!e[k].fused)
				snprintf(e[k].key, sizeof(e[k].key), "%s", it->module);
			ct_wview w = { it->desc.wd, it->desc.rows, it->desc.cols, it->src->data };
			uint64_t bad;
			if (!ct_quant_absmax(&w, &e[k].absmax, &bad))
				rc = ct_fail(err, CT_EINPUT, "%s: %s: element %" PRIu64 " is not "
					     "finite (expected finite values to quantize)",
					     p->ckpt->shard_names[s], it->src->name, bad);
			k++;
		}
	}
	if (!rc) {
		qsort(e, n, sizeof(gs_entry), cmp_gs_key);
		for (size_t i = 0; i < n;) {
			size_t j = i;
			float m = 0.0f;
			while (j < n && e[j].fused == e[i].fused &&
			       (e[i].fused ? strcmp(e[j].key, e[i].key) == 0 : j == i)) {
				m = fmaxf(m, e[j].absmax);
				j++;
			}
			for (size_t t = i; t < j; t++)
				e[t].item->gs = ct_quant_global_scale(e[t].item->desc.wd, m);
			i = j;
		}
	}
	free(e);
	return rc;
}

int ct_plan_quantize(const ct_checkpoint *ck, ct_qconfig *cfg, const ct_quant_opts *o,
		     ct_plan **out, ct_error *err)
{
	*out = NULL;
	ct_qmatch *qm = NULL;
	int rc = ct_qconfig_compile(cfg, &qm, err);
	if (rc)
		return rc;
	ct_plan *p = NULL;
	rc = plan_alloc(ck, cfg, &p, err);
	if (rc) {
		ct_qmatch_free(qm);
		return rc;
	}
	bool padded = ct_plan_pack_padded(cfg);
	char module[CT_NAME_MAX];
	for (size_t s = 0; s < ck->n_shards && !rc; s++) {
		const ct_st_file *f = ck->shards[s];
		const char *fname = ck->shard_names[s];
		for (size_t i = 0; i < f->n_tensors && !rc; i++) {
			const ct_tensor *t = &f->tensors[i];
			int g = is_candidate(t, module, sizeof(module)) ?
				ct_qmatch_group(qm, module) : -1;
			const ct_qscheme *sc = g >= 0 ? &cfg->groups[g] : NULL;
			if (!sc || !sc->weights) {
				rc = add_copy(p, s, t, err);
				continue;
			}
			if (t->dtype != CT_F32 && t->dtype != CT_F16 && t->dtype != CT_BF16) {
				rc = ct_fail(err, CT_EINPUT, "%s: %s: dtype %s cannot be quantized "
					     "(expected F32, F16 or BF16; is the checkpoint already "
					     "quantized?)", fname, t->name, ct_dtype_name(t->dtype));
				break;
			}
			ct_error unfit;
			ct_error_clear(&unfit);
			if (t->ndim != 2)
				ct_fail(&unfit, CT_EINPUT, "weight has %d dimensions, only 2-D Linear "
					"weights are quantized (add --ignore '%s' or use "
					"--skip-incompatible)", t->ndim, module);
			else
				ct_quant_check_shape(sc->weights, t->shape[0], t->shape[1], module,
						     &unfit);
			if (unfit.code) {
				if (!o->skip_incompatible) {
					*err = unfit;
					rc = ct_error_prefix(err, "%s: %s", fname, t->name);
					break;
				}
				const char *m1 = module;
				rc = ct_qconfig_add_ignore(cfg, &m1, 1, err);
				if (!rc)
					rc = add_copy(p, s, t, err);
				continue;
			}
			ct_plan_shard *sh = &p->shards[s];
			ct_plan_item *it = &sh->items[sh->n_items];
			it->kind = CT_ITEM_QUANT;
			it->src = t;
			it->shard = s;
			it->group = g;
			it->in_bytes = t->end - t->begin;
			if (!(it->module = strdup(module))) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			sh->n_items++;
			ct_format fmt = sc->format != CT_FMT_NONE ? sc->format : cfg->format;
			it->codec = ct_codec_for(fmt);
			if (!it->codec) {
				rc = ct_fail(err, CT_EINPUT, "%s: format %s cannot be written by "
					     "ctensors", module, ct_format_name(fmt) ?
					     ct_format_name(fmt) : "(none)");
				break;
			}
			it->desc = (ct_module_desc){ .args = sc->weights, .wd = t->dtype,
				.rows = t->shape[0], .cols = t->shape[1], .pack_padded = padded };
			rc = it->codec->outputs(&it->desc, it->out, &it->n_out, err);
			if (rc) {
				ct_error_prefix(err, "%s", module);
				break;
			}
			/* Refuse inputs that already hold what we are about to write. */
			for (size_t k = 0; k < it->n_out && !rc; k++) {
				lookup_ctx l = { ck, module };
				const ct_tensor *x = lookup(&l, it->out[k].suffix);
				if (x && x != t)
					rc = ct_fail(err, CT_EINPUT, "%s: input already has %s "
						     "(is it already quantized?)", fname, x->name);
			}
			if (!rc)
				rc = add_outputs(p, s, it, err);
			p->in_bytes += it->in_bytes;
			p->params_total += t->nelem;
			p->params_quantized += t->nelem;
		}
	}
	if (!rc)
		rc = plan_global_scales(p, o->fuse_global_scale, err);
	ct_qmatch_free(qm);
	if (rc) {
		ct_plan_free(p);
		return rc;
	}
	*out = p;
	return CT_OK;
}

/* ----------------------------------------------------------- decompress --- */

/* Local names that only compressed modules have. */
static const char *const compressed_marks[] = {
	"weight_packed", "weight_scale", "weight_global_scale", "weight_zero_point",
	"weight_shape", "weight_g_idx", NULL
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
	if (strcmp(local, "weight") != 0)
		return false;
	lookup_ctx l = { ck, module };
	return lookup(&l, "weight_scale") != NULL;
}

int ct_plan_decompress(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_dtype out_dtype,
		       ct_plan **out, ct_error *err)
{
	*out = NULL;
	ct_qmatch *qm = NULL;
	int rc = ct_qconfig_compile(cfg, &qm, err);
	if (rc)
		return rc;
	ct_plan *p = NULL;
	rc = plan_alloc(ck, cfg, &p, err);
	if (rc) {
		ct_qmatch_free(qm);
		return rc;
	}
	bool padded = ct_plan_pack_padded(cfg);
	char module[CT_NAME_MAX];
	for (size_t s = 0; s < ck->n_shards && !rc; s++) {
		const ct_st_file *f = ck->shards[s];
		const char *fname = ck->shard_names[s];
		for (size_t i = 0; i < f->n_tensors && !rc; i++) {
			const ct_tensor *t = &f->tensors[i];
			if (!compressed_module_of(ck, t, module, sizeof(module))) {
				rc = add_copy(p, s, t, err);
				continue;
			}
			int g = ct_qmatch_group(qm, module);
			if (g < 0 || !cfg->groups[g].weights) {
				rc = ct_fail(err, CT_EINPUT, "%s: %s: compressed tensor of a module "
					     "that no config group targets (is the config the "
					     "checkpoint's?)", fname, t->name);
				break;
			}
			const ct_qscheme *sc = &cfg->groups[g];
			ct_format fmt = sc->format != CT_FMT_NONE ? sc->format : cfg->format;
			const ct_codec *codec = ct_codec_for(fmt);
			if (!codec) {
				rc = ct_fail(err, CT_EINPUT, "%s: %s: format %s cannot be read by "
					     "ctensors", fname, module, ct_format_name(fmt) ?
					     ct_format_name(fmt) : "(none)");
				break;
			}
			/* One item per module, placed with its primary tensor. */
			const char *primary = codec->suffixes[0];
			if (strcmp(t->name + strlen(module) + 1, primary) != 0) {
				lookup_ctx l = { ck, module };
				if (!lookup(&l, primary))
					rc = ct_fail(err, CT_EINPUT, "%s: %s: %s.%s is missing for "
						     "format %s", fname, t->name, module, primary,
						     ct_format_name(fmt));
				continue;
			}
			lookup_ctx l = { ck, module };
			if (lookup(&l, "weight_g_idx")) {
				rc = ct_fail(err, CT_EINPUT, "%s: %s.weight_g_idx: activation "
					     "ordering (g_idx) is not supported", fname, module);
				break;
			}
			ct_plan_shard *sh = &p->shards[s];
			ct_plan_item *it = &sh->items[sh->n_items];
			it->kind = CT_ITEM_DECODE;
			it->src = t;
			it->shard = s;
			it->group = g;
			it->codec = codec;
			if (!(it->module = strdup(module))) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			sh->n_items++;
			it->desc = (ct_module_desc){ .args = sc->weights, .pack_padded = padded };
			ct_dec_info info;
			rc = codec->check(&it->desc, lookup, &l, &info, err);
			if (rc) {
				ct_error_prefix(err, "%s: %s", fname, module);
				break;
			}
			it->desc.rows = info.rows;
			it->desc.cols = info.cols;
			it->desc.wd = info.dtype;
			it->out_dtype = out_dtype == CT_DTYPE_COUNT ? info.dtype : out_dtype;
			it->out[0] = (ct_codec_tensor){ .suffix = "weight", .dtype = it->out_dtype,
				.ndim = 2, .shape = { info.rows, info.cols } };
			it->n_out = 1;
			for (size_t k = 0; codec->suffixes[k]; k++) {
				const ct_tensor *x = lookup(&l, codec->suffixes[k]);
				if (x)
					it->in_bytes += x->end - x->begin;
			}
			rc = add_outputs(p, s, it, err);
			p->in_bytes += it->in_bytes;
			p->params_total += info.rows * info.cols;
			p->params_quantized += info.rows * info.cols;
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
	const ct_plan_item *it;
} emit_ctx;

static int emit_to_builder(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	emit_ctx *e = ctx;
	return ct_st_write(e->b, e->sink, e->it->out_id[k], buf, len, err);
}

#define COPY_CHUNK (8u << 20)

static int run_item(exec_state *st, ct_plan_item *it, ct_error *err)
{
	ct_plan_shard *sh = &st->plan->shards[it->shard];
	const ct_sink *sink = &st->sinks[it->shard];
	emit_ctx e = { sh->builder, sink, it };
	const char *fname = st->plan->ckpt->shard_names[it->shard];
	int rc = CT_OK;
	switch (it->kind) {
	case CT_ITEM_COPY: {
		uint64_t n = it->src->end - it->src->begin;
		for (uint64_t off = 0; off < n && !rc; off += COPY_CHUNK) {
			size_t m = n - off < COPY_CHUNK ? (size_t)(n - off) : COPY_CHUNK;
			rc = ct_st_write(sh->builder, sink, it->out_id[0], it->src->data + off, m,
					 err);
		}
		break;
	}
	case CT_ITEM_QUANT: {
		ct_wview w = { it->desc.wd, it->desc.rows, it->desc.cols, it->src->data };
		ct_qparams qp;
		rc = ct_qparams_compute(it->desc.args, &w, it->gs, &qp, err);
		if (!rc) {
			rc = it->codec->encode(&it->desc, &w, &qp, emit_to_builder, &e, err);
			ct_qparams_free(&qp);
		}
		if (rc && rc != CT_EIO)
			ct_error_prefix(err, "%s: %s", fname, it->src->name);
		break;
	}
	case CT_ITEM_DECODE: {
		lookup_ctx l = { st->plan->ckpt, it->module };
		rc = it->codec->decode(&it->desc, lookup, &l, it->out_dtype, emit_to_builder, &e,
				       err);
		if (rc && rc != CT_EIO)
			ct_error_prefix(err, "%s: %s", fname, it->module);
		break;
	}
	}
	return rc;
}

static void *worker(void *arg)
{
	exec_state *st = arg;
	for (;;) {
		if (atomic_load(&st->failed))
			break;
		size_t i = atomic_fetch_add(&st->next, 1);
		if (i >= st->n_items)
			break;
		ct_error err;
		ct_error_clear(&err);
		int rc = run_item(st, st->items[i], &err);
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
		uint64_t done = atomic_fetch_add(&st->done_bytes, st->items[i]->in_bytes) +
				st->items[i]->in_bytes;
		if (st->opts->progress)
			st->opts->progress(st->opts->progress_ctx, done, st->items[i]);
	}
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

#define CT_MAX_THREADS 256

int ct_plan_execute(ct_plan *p, const ct_sink *sinks, const ct_run_opts *o, ct_error *err)
{
	exec_state st;
	memset(&st, 0, sizeof(st));
	st.plan = p;
	st.sinks = sinks;
	st.opts = o;
	for (size_t s = 0; s < p->n_shards; s++)
		st.n_items += p->shards[s].n_items;
	st.items = malloc((st.n_items ? st.n_items : 1) * sizeof(ct_plan_item *));
	if (!st.items)
		return ct_fail(err, CT_EIO, "out of memory");
	size_t k = 0;
	for (size_t s = 0; s < p->n_shards; s++)
		for (size_t i = 0; i < p->shards[s].n_items; i++)
			st.items[k++] = &p->shards[s].items[i];
	qsort(st.items, st.n_items, sizeof(ct_plan_item *), cmp_item_size);
	atomic_init(&st.next, 0);
	atomic_init(&st.failed, false);
	atomic_init(&st.done_bytes, 0);
	pthread_mutex_init(&st.lock, NULL);
	int threads = o->threads < 1 ? 1 : o->threads > CT_MAX_THREADS ? CT_MAX_THREADS : o->threads;
	if ((size_t)threads > st.n_items)
		threads = st.n_items ? (int)st.n_items : 1;
	pthread_t tid[CT_MAX_THREADS];
	int started = 0;
	for (int i = 1; i < threads; i++) {
		if (pthread_create(&tid[started], NULL, worker, &st) != 0)
			break;
		started++;
	}
	worker(&st);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&st.lock);
	free(st.items);
	if (atomic_load(&st.failed)) {
		*err = st.err;
		return st.err.code ? st.err.code : CT_EINTERNAL;
	}
	for (size_t s = 0; s < p->n_shards; s++) {
		int rc = ct_st_finish(p->shards[s].builder, &sinks[s], err);
		if (rc)
			return rc;
	}
	return CT_OK;
}
