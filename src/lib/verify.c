#include "verify.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "hash.h"
#include "kernels.h"
#include "moe.h"
#include "plan.h"
#include "threads.h"

static void set_problem(ct_verify_tensor *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void ct_verify_report_free(ct_verify_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_tensors; i++) {
		free(r->tensors[i].name);
		free(r->tensors[i].module);
		free(r->tensors[i].file);
		free(r->tensors[i].problem);
	}
	free(r->tensors);
	free(r);
}

int ct_verify_report_add(ct_verify_report *r, ct_verify_kind kind, const char *name,
			 const char *file, const char *fmt, ...)
{
	ct_verify_tensor *grown = realloc(r->tensors, (r->n_tensors + 1) * sizeof(*grown));
	if (!grown)
		return CT_EIO;
	r->tensors = grown;
	ct_verify_tensor *v = &grown[r->n_tensors++];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->name = strdup(name ? name : "(checkpoint)");
	v->file = strdup(file ? file : "");
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->problem = strdup(buf);
	v->ok = false;
	r->ok = false;
	return v->name && v->file && v->problem ? CT_OK : CT_EIO;
}

void ct_verify_apply_default_rule(ct_verify_report *r)
{
	for (size_t i = 0; i < r->n_tensors; i++) {
		ct_verify_tensor *v = &r->tensors[i];
		if (v->kind != CT_VK_MODULE || !v->compared || !v->ok)
			continue;
		if (v->max_step == 0.0 && !(v->max_abs_err == 0.0))
			set_problem(v, "differs from the original, but its format is lossless "
				    "(max abs err %.6g)", v->max_abs_err);
		else if (isnan(v->snr_db) || v->snr_db < 0.0)
			set_problem(v, "SNR %.2f dB: the error is larger than the signal",
				    v->snr_db);
		else if (isfinite(v->max_step) && !(v->max_abs_err <= 2.0 * v->max_step))
			set_problem(v, "max abs err %.6g is more than twice the largest "
				    "quantization step of its groups (%.6g): not what its scheme "
				    "can produce", v->max_abs_err, v->max_step);
		if (!v->ok)
			r->ok = false;
	}
}

static void set_problem(ct_verify_tensor *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_problem(ct_verify_tensor *t, const char *fmt, ...)
{
	if (!t->ok)
		return; /* keep the first */
	t->ok = false;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->problem = strdup(buf);
}

/* ------------------------------------------------------------ checksums --- */

/* Bytes of a mapping read before they are given back: hashing, comparing
 * and releasing go this far at a time, so that a tensor of hundreds of MB is
 * never resident whole. */
#define CT_VERIFY_STEP (8u << 20)

/* The tensor's XXH3, 8 MB of the mapping at a time, each chunk given back
 * once hashed: a copied embedding of hundreds of MB is never mapped whole. */
static uint64_t hash_tensor(const ct_st_file *f, const ct_tensor *t)
{
	uint64_t len = t->end - t->begin;
	XXH3_state_t *st = len > CT_VERIFY_STEP ? XXH3_createState() : NULL;
	if (!st) {
		/* small, or no memory for a state: the same digest in one call */
		uint64_t h = ct_xxh3(t->data, (size_t)len);
		ct_st_release(f, t->data, len);
		return h;
	}
	XXH3_64bits_reset(st);
	for (uint64_t off = 0; off < len; off += CT_VERIFY_STEP) {
		uint64_t m = len - off < CT_VERIFY_STEP ? len - off : CT_VERIFY_STEP;
		ct_st_prefetch(f, t->data + off, m);
		ct_xxh3_update(st, t->data + off, (size_t)m);
		ct_st_release(f, t->data + off, m);
	}
	uint64_t h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h;
}

/* Checks each tensor of shard s against the shard's ctensors.xxh3 map. */
static void check_checksums(const ct_checkpoint *ck, size_t s, bool hash, ct_verify_report *r,
			    ct_verify_tensor **by_tensor)
{
	const ct_st_file *f = ck->shards[s];
	const char *text = ct_st_meta(f, "ctensors.xxh3");
	if (!text) {
		r->n_shards_without_checksums++;
		return;
	}
	r->n_shards_with_checksums++;
	json_error_t jerr;
	json_t *map = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		ct_verify_tensor *v = by_tensor[i];
		if (!json_is_object(map)) {
			set_problem(v, "__metadata__ ctensors.xxh3 is not a JSON object");
			continue;
		}
		const char *want = json_string_value(json_object_get(map, t->name));
		if (!want) {
			set_problem(v, "no checksum in __metadata__ ctensors.xxh3");
			continue;
		}
		if (!hash)
			continue;
		char got[17];
		snprintf(got, sizeof(got), "%016llx", (unsigned long long)hash_tensor(f, t));
		if (strcmp(got, want) != 0)
			set_problem(v, "checksum mismatch: bytes hash to %s, metadata says %.32s", got,
				    want);
		r->n_checksums++;
	}
	if (json_is_object(map)) {
		const char *k;
		json_t *val;
		json_object_foreach(map, k, val) {
			if (!ct_st_find(f, k) && f->n_tensors)
				set_problem(by_tensor[0], "ctensors.xxh3 lists %s, which the file "
					    "does not hold", k);
		}
	}
	json_decref(map);
}

/* ----------------------------------------------------------- decoding --- */

typedef struct cmp_state {
	const ct_tensor *orig;     /* original dense weight, or NULL */
	const ct_st_file *orig_file; /* its shard, to release compared pages */
	uint64_t released;         /* bytes of orig released so far */
	ct_dtype dt;               /* dtype of the decoded rows */
	uint64_t cols;
	uint64_t offset;           /* bytes of output seen so far */
	double max_abs, sum_sq_err, sum_sq_ref, sum_sq_out, dot;
	/* sums of the chunk being compared: chunks of CMP_CHUNK elements from
	 * the tensor's start, so the totals do not depend on how a decoder
	 * splits its output into calls */
	double part_err, part_ref, part_out, part_dot;
	bool nonfinite, exact;
	bool shape_mismatch;
	bool value_exact;          /* exact means equal F32 values (orig is a dequantization) */
	bool copy;                 /* a copied tensor: find the first element that is not the
				    * original's value in its dtype */
	uint64_t first_diff;       /* that element, or UINT64_MAX */
} cmp_state;

#define CMP_CHUNK 4096

static void widen(ct_dtype dt, const void *src, float *dst, size_t n)
{
	if (dt == CT_F32 || dt == CT_F16 || dt == CT_BF16)
		ct_k_load(true, dt, src, dst, n);
	else
		ct_load_f32_n(dt, src, dst, n);
}

static void flush_chunk(cmp_state *c)
{
	c->sum_sq_err += c->part_err;
	c->sum_sq_ref += c->part_ref;
	c->sum_sq_out += c->part_out;
	c->dot += c->part_dot;
	c->part_err = c->part_ref = c->part_out = c->part_dot = 0.0;
}

/* The first of m elements where a copy is not its original: the same
 * bytes when the dtypes agree, else the original's value rounded to the
 * copy's dtype (NaN for NaN); at + that index, or UINT64_MAX. */
static uint64_t first_copy_difference(ct_dtype odt, const uint8_t *o, ct_dtype dt,
				      const uint8_t *y, const float *xs, const float *ys,
				      size_t m, uint64_t at)
{
	size_t esz = ct_dtype_size(dt);
	if (odt == dt) {
		if (memcmp(o, y, m * esz) == 0)
			return UINT64_MAX;
		for (size_t i = 0; i < m; i++)
			if (memcmp(o + i * esz, y + i * esz, esz) != 0)
				return at + i;
		return UINT64_MAX;
	}
	for (size_t i = 0; i < m; i++) {
		float want = ct_round_to(dt, xs[i]);
		if (isnan(want) && isnan(ys[i]))
			continue;
		if (memcmp(&want, &ys[i], sizeof(float)) != 0)
			return at + i;
	}
	return UINT64_MAX;
}

static void compare_values(cmp_state *c, const void *buf, size_t len, ct_dtype dt,
			   uint64_t first_elem)
{
	size_t esz = ct_dtype_size(dt);
	size_t n = len / esz;
	float ys[CMP_CHUNK], xs[CMP_CHUNK];
	size_t osz = c->orig ? ct_dtype_size(c->orig->dtype) : 0;
	for (size_t i0 = 0, m; i0 < n; i0 += m) {
		uint64_t at = first_elem + i0;
		size_t room = CMP_CHUNK - (size_t)(at % CMP_CHUNK);
		m = n - i0 < room ? n - i0 : room;
		widen(dt, (const uint8_t *)buf + i0 * esz, ys, m);
		if (!ct_k_all_finite(true, ys, m))
			c->nonfinite = true;
		if (!c->orig)
			continue;
		widen(c->orig->dtype, c->orig->data + at * osz, xs, m);
		/* double sums: millions of squares lose nothing that matters */
		double e2 = c->part_err, r2 = c->part_ref, o2 = c->part_out, dot = c->part_dot;
		double mx = c->max_abs;
		for (size_t i = 0; i < m; i++) {
			double x = xs[i], y = ys[i], d = y - x;
			double ad = fabs(d);
			mx = ad > mx || isnan(ad) ? (isnan(ad) ? INFINITY : ad) : mx;
			e2 += d * d;
			r2 += x * x;
			o2 += y * y;
			dot += x * y;
		}
		c->max_abs = mx;
		if (c->copy && c->first_diff == UINT64_MAX)
			c->first_diff = first_copy_difference(c->orig->dtype, c->orig->data + at * osz,
							      dt, (const uint8_t *)buf + i0 * esz,
							      xs, ys, m, at);
		if (c->value_exact && c->exact && memcmp(xs, ys, m * sizeof(float)) != 0)
			c->exact = false;
		c->part_err = e2;
		c->part_ref = r2;
		c->part_out = o2;
		c->part_dot = dot;
		if ((at + m) % CMP_CHUNK == 0)
			flush_chunk(c);
	}
	if (c->orig && c->exact && !c->value_exact) {
		/* bit-identical only when the dtypes agree and bytes match */
		c->exact = c->orig->dtype == dt &&
			   memcmp((const uint8_t *)c->orig->data + first_elem * esz, buf, len) == 0;
	}
}

static int cmp_emit(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	(void)k;
	(void)err;
	cmp_state *c = ctx;
	size_t esz = ct_dtype_size(c->dt);
	compare_values(c, buf, len, c->dt, c->offset / esz);
	c->offset += len;
	if (c->orig) {
		/* the original's pages behind the comparison are done with */
		uint64_t done = c->offset / esz * ct_dtype_size(c->orig->dtype);
		if (done - c->released >= CT_VERIFY_STEP) {
			ct_st_release(c->orig_file, c->orig->data + c->released, done - c->released);
			c->released = done;
		}
	}
	return CT_OK;
}

static void finish_stats(cmp_state *c, ct_verify_tensor *v, uint64_t n)
{
	if (!c->orig)
		return;
	flush_chunk(c);
	v->compared = true;
	v->exact = c->exact;
	v->max_abs_err = c->max_abs;
	v->rmse = n ? sqrt(c->sum_sq_err / (double)n) : 0.0;
	if (c->sum_sq_err == 0.0)
		v->snr_db = INFINITY;
	else
		v->snr_db = 10.0 * log10(c->sum_sq_ref / c->sum_sq_err);
	double den = sqrt(c->sum_sq_ref) * sqrt(c->sum_sq_out);
	v->cosine = den > 0 ? c->dot / den : (c->sum_sq_ref == c->sum_sq_out ? 1.0 : 0.0);
}

/* One unit of work: a copied tensor or a compressed module. */
typedef struct vjob {
	const ct_plan_item *item;
	ct_verify_tensor *v;
} vjob;

typedef struct vstate {
	const ct_checkpoint *ck, *orig;
	const ct_conv *conv;       /* orig is another tool's checkpoint, read by this */
	bool copies_exact;         /* the checkpoint is compressed: what it stores dense,
				    * no codec touched */
	json_t **decoded;          /* per shard: the dense tensors a decompress decoded
				    * ("ctensors.decoded"), or NULL */
	const ct_moe_block *omoe;  /* orig's fused expert blocks, whose per-expert */
	size_t n_omoe;             /* slices the checkpoint's experts are compared with */
	vjob *jobs;
	size_t n_jobs;
	atomic_size_t next;
} vstate;

static const char *shape_text(char *buf, size_t size, int ndim, const uint64_t *shape)
{
	size_t at = (size_t)snprintf(buf, size, "[");
	for (int d = 0; d < ndim && at < size; d++)
		at += (size_t)snprintf(buf + at, size - at, "%s%" PRIu64, d ? ", " : "", shape[d]);
	if (at < size)
		snprintf(buf + at, size - at, "]");
	return buf;
}

/* What a tensor is compared with: a tensor of the original, or one
 * expert's part of a fused original tensor. */
typedef struct orig_ref {
	const ct_st_file *file;    /* the shard its bytes lie in; NULL when gathered */
	ct_tensor part;            /* the per-expert slice, when it is one */
	uint8_t *owned;            /* the slice's gathered bytes (freed by orig_done) */
	const ct_moe_block *block; /* the fused block it is a slice of, or NULL */
	uint64_t expert;
	ct_moe_part which;
} orig_ref;

/* The per-expert slice "PREFIX.{e}.PART" of a fused original, as a tensor
 * of its own: layout A's weights (and halves' biases) lie contiguously in
 * the file and are used in place; the others are gathered, one expert's
 * part at a time, so a fused tensor is never copied whole. */
static const ct_tensor *fused_slice(const vstate *st, const char *name, orig_ref *ref,
				    ct_verify_tensor *v)
{
	const ct_moe_block *b;
	uint64_t e;
	ct_moe_part p;
	if (!ct_moe_resolve(st->omoe, st->n_omoe, name, &b, &e, &p))
		return NULL;
	size_t shard;
	const ct_tensor *src = ct_moe_part_source(b, p, &shard);
	ct_tensor *t = &ref->part;
	memset(t, 0, sizeof(*t));
	t->name = src->name;
	t->name_len = strlen(src->name);
	t->dtype = src->dtype;
	ct_moe_part_shape(b, p, &t->ndim, t->shape);
	/* a part is a slice of src, whose size the reader checked: no overflow */
	t->nelem = t->shape[0] * t->shape[1];
	t->end = t->nelem * ct_dtype_size(src->dtype);
	t->data = ct_moe_part_direct(b, e, p);
	if (t->data) {
		ref->file = st->orig->shards[shard];
	} else {
		if (!(ref->owned = malloc(t->end ? (size_t)t->end : 1))) {
			set_problem(v, "out of memory for the original's slice of %s", src->name);
			return NULL;
		}
		ct_moe_part_gather(b, e, p, ref->owned);
		t->data = ref->owned;
	}
	ref->block = b;
	ref->expert = e;
	ref->which = p;
	return t;
}

static const ct_tensor *original_of(const vstate *st, const char *name, ct_verify_tensor *v,
				    int ndim, const uint64_t *shape, orig_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (!st->orig)
		return NULL;
	const ct_tref *r = ct_ckpt_find(st->orig, name);
	if (!r && st->conv)
		r = ct_convert_renamed_from(st->conv, name);
	const ct_tensor *o = r ? r->t : NULL;
	if (r)
		ref->file = st->orig->shards[r->shard];
	else if (!(o = fused_slice(st, name, ref, v))) {
		set_problem(v, "not in the original checkpoint");
		return NULL;
	}
	uint64_t n = 1;
	for (int d = 0; d < ndim; d++)
		n *= shape[d];
	if (o->nelem != n || o->ndim != ndim ||
	    memcmp(o->shape, shape, (size_t)ndim * sizeof(uint64_t)) != 0) {
		char a[160], b[160];
		set_problem(v, "shape %s differs from the original's %s%s%s",
			    shape_text(a, sizeof(a), ndim, shape),
			    shape_text(b, sizeof(b), o->ndim, o->shape),
			    ref->block ? " slice of " : "", ref->block ? o->name : "");
		return NULL;
	}
	return o;
}

/* memcmp of a copied tensor and its original (same size), 8 MB at a time,
 * both released behind the comparison: an embedding of hundreds of MB is
 * never mapped whole, twice. */
static bool same_bytes_released(const ct_tensor *t, const ct_st_file *tf, const ct_tensor *o,
				const ct_st_file *of)
{
	uint64_t n = t->end - t->begin, step = CT_VERIFY_STEP;
	for (uint64_t off = 0; off < n; off += step) {
		size_t m = n - off < step ? (size_t)(n - off) : (size_t)step;
		if (memcmp(o->data + off, t->data + off, m) != 0)
			return false;
		if (tf)
			ct_st_release(tf, t->data + off, m);
		if (of)
			ct_st_release(of, o->data + off, m);
	}
	return true;
}

/* Pages of a tensor already compared need not stay resident. */
static void release_tensor(const ct_checkpoint *ck, const ct_tensor *t)
{
	if (!ck || !t)
		return;
	const ct_tref *r = ct_ckpt_find(ck, t->name);
	if (r && r->t == t)
		ct_st_release(ck->shards[r->shard], t->data, t->end - t->begin);
}

/* Done with what original_of gave: a slice's buffer is freed and its
 * expert's slab of the fused tensor released, like a whole tensor's pages. */
static void orig_done(const vstate *st, const ct_tensor *o, orig_ref *ref)
{
	if (ref->block) {
		size_t shard;
		const ct_tensor *src = ct_moe_part_source(ref->block, ref->which, &shard);
		uint64_t slab = (src->end - src->begin) / ref->block->experts;
		ct_st_release(st->orig->shards[shard], src->data + ref->expert * slab, slab);
	} else {
		release_tensor(st->orig, o);
	}
	free(ref->owned);
	ref->owned = NULL;
}

/* A module converted from another tool's checkpoint: compared with that
 * tool's dequantization, made by the reader that converted it (one module
 * in memory at a time). */
static void compare_converted(vstate *st, const ct_plan_item *it, const ct_conv_module *cm,
			      const char *wname, ct_verify_tensor *v)
{
	if (cm->rows != it->out[0].shape[0] || cm->cols != it->out[0].shape[1]) {
		set_problem(v, "shape differs from the original");
		return;
	}
	uint64_t n = cm->rows * cm->cols;
	float *ref = malloc(n ? (size_t)n * sizeof(float) : 1);
	if (!ref) {
		set_problem(v, "out of memory for the original's dequantization");
		return;
	}
	ct_error err;
	ct_error_clear(&err);
	if (cm->dequant(st->conv, cm, ref, &err) != CT_OK) {
		set_problem(v, "the original does not dequantize: %s", err.msg);
		free(ref);
		return;
	}
	ct_tensor o = { .name = wname, .dtype = CT_F32, .ndim = 2,
			.shape = { cm->rows, cm->cols }, .nelem = n, .begin = 0,
			.end = n * sizeof(float), .data = (const uint8_t *)ref };
	cmp_state c = { .orig = &o, .dt = it->out_dtype, .cols = it->desc.cols, .exact = true,
			.value_exact = true };
	if (ct_plan_decode(st->ck, it, cmp_emit, &c, &err) != CT_OK)
		set_problem(v, "does not decode: %s", err.msg);
	else
		finish_stats(&c, v, n);
	if (c.nonfinite)
		set_problem(v, "decodes to NaN or Inf");
	free(ref);
}

/* Bytes a reader makes, compared as they come with a stored tensor. */
typedef struct remade {
	const ct_tensor *t;
	uint64_t at;
	bool same;
} remade;

static int remade_emit(void *ctx, int k, const void *buf, size_t len, ct_error *err)
{
	(void)k;
	(void)err;
	remade *r = ctx;
	uint64_t n = r->t->end - r->t->begin;
	if (r->same && (len > n - r->at || memcmp(r->t->data + r->at, buf, len) != 0))
		r->same = false;
	r->at += r->same ? len : 0;
	return CT_OK;
}

/* A dense tensor that a reader split out of a fused source (a per-expert
 * bias of gpt-oss): the same bytes as the reader makes from the source. */
static void compare_remade(vstate *st, const ct_tensor *t, const ct_conv_out *o,
			   ct_verify_tensor *v)
{
	remade r = { .t = t, .same = o->dtype == t->dtype && o->ndim == t->ndim &&
		     memcmp(o->shape, t->shape, (size_t)t->ndim * sizeof(uint64_t)) == 0 };
	ct_error err;
	ct_error_clear(&err);
	if (r.same && o->produce(st->conv, o, remade_emit, &r, &err) != CT_OK) {
		set_problem(v, "the original does not give it: %s", err.msg);
		return;
	}
	v->compared = true;
	v->exact = r.same && r.at == t->end - t->begin;
	v->snr_db = v->exact ? INFINITY : 0.0;
	v->cosine = v->exact ? 1.0 : 0.0;
	if (!v->exact)
		set_problem(v, "differs from the original's %s", o->src->t->name);
	release_tensor(st->ck, t);
}

/* Whether t is known to be a copy of its original: every dense tensor of
 * a compressed checkpoint, and those a decompress did not decode. A dense
 * checkpoint of unknown making is measured, not held to bits. */
static bool is_copy(const vstate *st, const ct_tref *own, const ct_tensor *t)
{
	if (st->copies_exact)
		return true;
	const json_t *d = own && st->decoded ? st->decoded[own->shard] : NULL;
	return d && !json_object_get(d, t->name);
}

/* A copied tensor that is not its original's bits: no codec touched it,
 * so no error is tolerable, however small (a halved norm, a swapped row). */
static void copy_differs(ct_verify_tensor *v, const ct_tensor *t, const ct_tensor *o,
			 uint64_t at)
{
	char where[64] = "";
	if (at != UINT64_MAX)
		snprintf(where, sizeof(where), ", first at element %" PRIu64, at);
	if (o->dtype == t->dtype)
		set_problem(v, "differs from the original%s (a tensor stored unquantized must be "
			    "bit-identical to it)", where);
	else
		set_problem(v, "differs from the original %s rounded to %s%s (a tensor stored "
			    "unquantized must be bit-identical to it)", ct_dtype_name(o->dtype),
			    ct_dtype_name(t->dtype), where);
}

static void run_job(vstate *st, vjob *j)
{
	const ct_plan_item *it = j->item;
	ct_verify_tensor *v = j->v;
	if (it->kind == CT_ITEM_COPY) {
		const ct_tensor *t = it->src;
		if (!st->orig)
			return;
		const ct_conv_out *made = st->conv && !ct_ckpt_find(st->orig, t->name) ?
					  ct_convert_out(st->conv, t->name) : NULL;
		if (made) {
			compare_remade(st, t, made, v);
			return;
		}
		orig_ref ref;
		const ct_tensor *o = original_of(st, t->name, v, t->ndim, t->shape, &ref);
		if (!o) {
			free(ref.owned);
			return;
		}
		const ct_tref *own = ct_ckpt_find(st->ck, t->name);
		const ct_st_file *own_file = own ? st->ck->shards[own->shard] : NULL;
		bool same_bytes = o->dtype == t->dtype &&
				  same_bytes_released(t, own_file, o, ref.file);
		if (same_bytes) {
			/* passed through untouched: exact, NaN and Inf included */
			v->compared = true;
			v->exact = true;
			v->snr_db = INFINITY;
			v->cosine = 1.0;
		} else if (ct_dtype_is_float(t->dtype) && ct_dtype_is_float(o->dtype)) {
			/* measured for the listing; but a tensor no codec touched
			 * must be the original's bits, whatever its error looks like */
			cmp_state c = { .orig = o, .orig_file = ref.file, .dt = t->dtype, .cols = 0,
					.exact = true, .copy = true, .first_diff = UINT64_MAX };
			/* in blocks, releasing both behind the comparison */
			uint64_t n = t->end - t->begin, step = CT_VERIFY_STEP;
			step -= step % ct_dtype_size(t->dtype);
			for (uint64_t off = 0; off < n; off += step) {
				size_t m = n - off < step ? (size_t)(n - off) : (size_t)step;
				cmp_emit(&c, 0, t->data + off, m, NULL);
				if (own_file)
					ct_st_release(own_file, t->data + off, m);
			}
			finish_stats(&c, v, t->nelem);
			v->exact = c.first_diff == UINT64_MAX;
			if (!v->exact && is_copy(st, own, t))
				copy_differs(v, t, o, c.first_diff);
			else if (c.nonfinite)
				set_problem(v, "holds NaN or Inf");
		} else {
			v->compared = true;
			v->exact = false;
			v->cosine = 0.0;
			v->snr_db = 0.0;
			copy_differs(v, t, o, UINT64_MAX);
		}
		release_tensor(st->ck, t);
		orig_done(st, o, &ref);
		return;
	}
	/* a compressed module: decode it, row by row */
	char wname[4096];
	snprintf(wname, sizeof(wname), "%s.weight", it->module);
	const ct_conv_module *cm = st->conv ? ct_convert_module(st->conv, it->module) : NULL;
	if (cm) {
		compare_converted(st, it, cm, wname, v);
		return;
	}
	if (!st->orig) {
		/* Nothing to compare: what decoding can find is a load error or a
		 * value that is NaN or Inf. Where the codec bounds its values from
		 * the scales (no E2M1 or int code is invalid, an e4m3 NaN code is
		 * found by a byte scan), a bound within the output dtype proves
		 * every value finite without dequantizing a row; otherwise, or
		 * past the bound, the full decode decides as before. */
		ct_dec_bound b = { 0.0, CT_DTYPE_COUNT, true };
		ct_error berr;
		ct_error_clear(&berr);
		int brc = ct_plan_bound(st->ck, it, &b, &berr);
		if (brc > 0) {
			set_problem(v, "does not decode: %s", berr.msg);
			return;
		}
		if (brc == CT_OK && ct_dec_bound_finite(&b, it->out_dtype))
			return;
	}
	orig_ref ref;
	const ct_tensor *o = original_of(st, wname, v, 2, it->out[0].shape, &ref);
	cmp_state c = { .orig = o, .orig_file = o ? ref.file : NULL, .dt = it->out_dtype,
			.cols = it->desc.cols, .exact = true };
	ct_error err;
	ct_error_clear(&err);
	if (ct_plan_decode(st->ck, it, cmp_emit, &c, &err) != CT_OK) {
		set_problem(v, "does not decode: %s", err.msg);
	} else {
		finish_stats(&c, v, it->desc.rows * it->desc.cols);
		if (c.nonfinite)
			set_problem(v, "decodes to NaN or Inf");
	}
	if (o)
		orig_done(st, o, &ref);
	free(ref.owned);
}

static void *vworker(void *arg)
{
	vstate *st = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&st->next, 1);
		if (i >= st->n_jobs)
			break;
		run_job(st, &st->jobs[i]);
	}
	return NULL;
}

/* Targets of the config that were left dense (a loader would expect
 * compressed tensors there), and compressed modules the config does not
 * quantize as the library matches it (by name, regex or inferred class). */
static void check_targets(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_qmatch *qm,
			  ct_verify_report *r, ct_verify_tensor **slot_of_tref)
{
	char module[4096];
	ct_arch arch;
	ct_arch_from_config(ck->config, &arch);
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		size_t n = t->name_len;
		if (!ct_module_of(t->name, module, sizeof(module)))
			continue;
		const char *local = t->name + strlen(module) + 1;
		bool dense_weight = n >= 7 && strcmp(local, "weight") == 0;
		bool packed = strcmp(local, "weight_packed") == 0 ||
			      (dense_weight && ct_dtype_size(t->dtype) == 1);
		if (!dense_weight && !packed)
			continue;
		char scale[4096 + 16];
		snprintf(scale, sizeof(scale), "%s.weight_scale", module);
		bool compressed = ct_ckpt_find(ck, scale) != NULL;
		ct_modclass cls = ct_module_class(module, compressed ? 2 : t->ndim, &arch);
		int g;
		ct_error tie;
		if (ct_qmatch_resolve(qm, module, cls, &g, &tie) != CT_OK) {
			set_problem(slot_of_tref[i], "%s", tie.msg);
			continue;
		}
		bool quantizes = g >= 0 && cfg->groups[g].weights && ct_modclass_quantizable(cls);
		if (compressed && !quantizes)
			set_problem(slot_of_tref[i], "compressed, but no config group quantizes "
				    "this %s module as compressed-tensors matches targets%s",
				    ct_modclass_name(cls), g < 0 && ct_qmatch_ignored(qm, module, cls) ?
				    " (the ignore list names it)" : "");
		else if (!compressed && quantizes && dense_weight && ct_dtype_is_float(t->dtype) &&
			 ct_dtype_size(t->dtype) >= 2)
			set_problem(slot_of_tref[i], "targeted by config group %s but not "
				    "compressed", cfg->groups[g].name);
	}
	(void)r;
}

static const ct_tensor *module_tensor(const ct_checkpoint *ck, const char *module,
				      const char *local)
{
	char name[4096 + 64];
	if (snprintf(name, sizeof(name), "%s.%s", module, local) >= (int)sizeof(name))
		return NULL;
	const ct_tref *r = ct_ckpt_find(ck, name);
	return r ? r->t : NULL;
}

/* The largest step between two neighbouring values a module's grid can
 * represent: its largest scale times the widest gap of the code grid (1 for
 * int, 2 for FP4 E2M1 between 4 and 6, 32 for FP8 E4M3 between 416 and
 * 448). 0 for lossless (sparse-only) modules; NAN when it cannot be told. */
static double module_max_step(const ct_checkpoint *ck, const ct_plan_item *it)
{
	if (!it->codec)
		return 0.0;
	const ct_qargs *a = it->desc.args;
	const ct_tensor *sc = module_tensor(ck, it->module, "weight_scale");
	if (!a || !sc || !sc->data)
		return NAN;
	double mx = 0.0;
	for (uint64_t i = 0; i < sc->nelem; i++) {
		double v = sc->dtype == CT_U8 ? ldexp(1.0, (int)sc->data[i] - 127) :
			   ct_dtype_is_float(sc->dtype) ? ct_load_f32(sc->dtype, sc->data, i) : NAN;
		/* a negative scale is valid data (ct_codec_load_scales): its
		 * magnitude sets the step */
		v = fabs(v);
		if (!(v <= mx))
			mx = v;
	}
	if (a->strategy == CT_STRAT_TENSOR_GROUP) {
		const ct_tensor *g = module_tensor(ck, it->module, "weight_global_scale");
		float gs;
		if (!g || g->dtype != CT_F32 || g->nelem != 1)
			return NAN;
		memcpy(&gs, g->data, 4);
		mx /= gs;
	}
	double gap = a->type == CT_QTYPE_INT ? 1.0 : a->num_bits == 4 ? 2.0 : 32.0;
	return mx * gap;
}

static bool local_is_any(const char *local, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (strcmp(local, names[i]) == 0)
			return true;
	return false;
}

/* Checks an activation parameter (input_scale, k_scale, ...): a float
 * tensor whose values are finite and > 0 (zero points: integers). */
static void check_act_param(const ct_tensor *t, ct_verify_tensor *v)
{
	const char *dot = strrchr(t->name, '.');
	bool zp = dot && strstr(dot, "zero_point");
	if (zp) {
		if (!ct_dtype_is_int(t->dtype) && !ct_dtype_is_float(t->dtype))
			set_problem(v, "dtype %s is not a zero point dtype", ct_dtype_name(t->dtype));
		return;
	}
	if (!ct_dtype_is_float(t->dtype) || ct_dtype_size(t->dtype) < 2) {
		set_problem(v, "dtype %s (expected F32, F16 or BF16)", ct_dtype_name(t->dtype));
		return;
	}
	if (t->nelem == 0) {
		set_problem(v, "holds no value");
		return;
	}
	for (uint64_t i = 0; i < t->nelem; i++) {
		float x = ct_load_f32(t->dtype, t->data, i);
		if (!isfinite(x) || !(x > 0.0f)) {
			set_problem(v, "value %" PRIu64 " is %g (expected finite and > 0)", i,
				    (double)x);
			return;
		}
	}
}

/* Checks of a decodable module beyond its codec: activation order as the
 * config says, and the static activation parameters its scheme needs. */
static void check_module(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_plan_item *it,
			 ct_verify_tensor *v)
{
	if (!cfg || it->group < 0 || (size_t)it->group >= cfg->n_groups)
		return;
	const ct_qscheme *sc = &cfg->groups[it->group];
	const ct_qargs *w = sc->weights;
	bool g_idx = module_tensor(ck, it->module, "weight_g_idx") != NULL;
	if (w && w->actorder == CT_ACT_GROUP && !g_idx)
		set_problem(v, "config group %s says actorder \"group\" but %s.weight_g_idx is "
			    "missing", sc->name, it->module);
	else if (w && w->actorder != CT_ACT_GROUP && g_idx)
		set_problem(v, "%s.weight_g_idx is stored but config group %s does not say "
			    "actorder \"group\"", it->module, sc->name);
	const ct_qargs *in = sc->input_activations;
	bool static_in = in && in->dynamic == CT_DYN_FALSE;
	bool local_in = in && in->dynamic == CT_DYN_LOCAL;
	const ct_tensor *is = module_tensor(ck, it->module, "input_scale");
	const ct_tensor *igs = module_tensor(ck, it->module, "input_global_scale");
	const ct_tensor *izp = module_tensor(ck, it->module, "input_zero_point");
	if (static_in && !is)
		set_problem(v, "config group %s has static input activations but %s.input_scale "
			    "is missing", sc->name, it->module);
	else if (!static_in && is)
		set_problem(v, "%s.input_scale is stored but config group %s has no static input "
			    "activations", it->module, sc->name);
	else if (static_in && !in->symmetric && !izp)
		set_problem(v, "config group %s has asymmetric static input activations but "
			    "%s.input_zero_point is missing", sc->name, it->module);
	else if (local_in && in->strategy == CT_STRAT_TENSOR_GROUP && !igs)
		set_problem(v, "config group %s has NVFP4 input activations but "
			    "%s.input_global_scale is missing", sc->name, it->module);
	else if (!(local_in || static_in) && igs)
		set_problem(v, "%s.input_global_scale is stored but config group %s does not "
			    "quantize its input statically", it->module, sc->name);
}

/* Activation and KV-cache parameters of every stored tensor: valid values,
 * and present only where the config accounts for them. */
static void check_act_tensors(const ct_checkpoint *ck, const ct_qconfig *cfg,
			      ct_verify_tensor **slot)
{
	static const char *const act[] = { "input_scale", "input_zero_point",
					   "input_global_scale", "output_scale",
					   "output_zero_point", NULL };
	static const char *const kv[] = { "k_scale", "v_scale", "q_scale", NULL };
	bool has_out = false;
	for (size_t g = 0; cfg && g < cfg->n_groups; g++)
		has_out = has_out || cfg->groups[g].output_activations;
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		const char *dot = strrchr(t->name, '.');
		const char *local = dot ? dot + 1 : t->name;
		if (local_is_any(local, kv)) {
			if (!cfg || !cfg->kv_cache_scheme)
				set_problem(slot[i], "a KV-cache scale, but the config has no "
					    "kv_cache_scheme");
			else
				check_act_param(t, slot[i]);
		} else if (local_is_any(local, act)) {
			if (!cfg || (strncmp(local, "output_", 7) == 0 && !has_out))
				set_problem(slot[i], "an activation parameter, but the config does "
					    "not quantize that activation");
			else
				check_act_param(t, slot[i]);
		}
	}
	/* a static kv_cache_scheme needs k_scale and v_scale on every attention
	 * module that has projections */
	const json_t *kvs = cfg ? cfg->kv_cache_scheme : NULL;
	const json_t *dyn = json_object_get(kvs, "dynamic");
	if (!kvs || (dyn && !json_is_false(dyn)))
		return;
	char module[4096];
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		if (!ct_module_of(t->name, module, sizeof(module)))
			continue;
		size_t n = strlen(module);
		/* the attention module is the parent of k_proj */
		static const char kp[] = ".k_proj";
		if (n < sizeof(kp) - 1 || strcmp(module + n - (sizeof(kp) - 1), kp) != 0)
			continue;
		if (strcmp(t->name + n, ".weight") != 0 && strcmp(t->name + n, ".weight_packed") != 0)
			continue;
		module[n - (sizeof(kp) - 1)] = '\0';
		for (size_t k = 0; k < 2; k++) {
			const char *want = k ? "v_scale" : "k_scale";
			if (!module_tensor(ck, module, want))
				set_problem(slot[i], "the config has a static kv_cache_scheme but "
					    "%s.%s is missing", module, want);
		}
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The checkpoint's tensors and the modules its plan decodes, for telling
 * which tensors of the original it lacks. */
typedef struct missing_ctx {
	const ct_checkpoint *ck;
	const char **decoded;      /* module names, sorted */
	size_t n_decoded;
} missing_ctx;

/* Whether the original's tensor of this name is in the checkpoint: stored,
 * or the weight of a module it decodes. */
static bool present(const missing_ctx *mc, const char *name)
{
	if (ct_ckpt_find(mc->ck, name))
		return true;
	char module[4096];
	if (!ct_module_of(name, module, sizeof(module)) ||
	    strcmp(name + strlen(module), ".weight") != 0)
		return false;
	const char *key = module;
	return bsearch(&key, mc->decoded, mc->n_decoded, sizeof(*mc->decoded), cmp_names) != NULL;
}

/* Adds an entry for a tensor of the original that the checkpoint lacks
 * (of a fused one: the slice it lacks). Nonzero when out of memory. */
static int add_missing(ct_verify_report *r, vstate *st, const char *name, const char *fused)
{
	ct_verify_tensor *nv = realloc(r->tensors, (r->n_tensors + 1) * sizeof(*nv));
	if (!nv)
		return CT_EIO;
	/* slots point into the old array: rebase them */
	for (size_t k = 0; k < st->n_jobs; k++)
		st->jobs[k].v = nv + (st->jobs[k].v - r->tensors);
	r->tensors = nv;
	ct_verify_tensor *v = &r->tensors[r->n_tensors++];
	memset(v, 0, sizeof(*v));
	v->ok = true;
	v->name = strdup(name);
	v->file = strdup("(missing)");
	if (fused)
		set_problem(v, "in the original (a slice of the fused %s) but missing here", fused);
	else
		set_problem(v, "in the original but missing here");
	return CT_OK;
}

/* The next entry of r, for module (its ".weight"), stored in file: room for
 * it was counted before the entries were allocated. */
static ct_verify_tensor *add_module_entry(ct_verify_report *r, const char *module,
					  const char *file, double max_step)
{
	ct_verify_tensor *v = &r->tensors[r->n_tensors++];
	char name[4096];
	snprintf(name, sizeof(name), "%s.weight", module);
	v->kind = CT_VK_MODULE;
	v->ok = true;
	v->name = strdup(name);
	v->module = strdup(module);
	v->file = strdup(file);
	v->max_step = max_step;
	return v;
}

/* Each shard's "ctensors.decoded" list as a set (NULL entries where a shard
 * has none); NULL when out of memory, which only makes verify less strict
 * about a decompressed checkpoint's copies. */
static json_t **decoded_sets(const ct_checkpoint *ck)
{
	json_t **sets = calloc(ck->n_shards + 1, sizeof(*sets));
	for (size_t s = 0; sets && s < ck->n_shards; s++) {
		const char *text = ct_st_meta(ck->shards[s], "ctensors.decoded");
		json_t *a = text ? json_loads(text, 0, NULL) : NULL;
		if (!json_is_array(a)) {
			json_decref(a);
			continue;
		}
		sets[s] = json_object();
		size_t i;
		json_t *n;
		json_array_foreach(a, i, n) {
			if (sets[s] && json_is_string(n))
				json_object_set_new(sets[s], json_string_value(n), json_true());
		}
		json_decref(a);
	}
	return sets;
}

static void free_decoded_sets(const ct_checkpoint *ck, json_t **sets)
{
	for (size_t s = 0; sets && s < ck->n_shards; s++)
		json_decref(sets[s]);
	free(sets);
}

int ct_verify(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_checkpoint *orig,
	      int threads, ct_verify_report **out, ct_error *err)
{
	return ct_verify_ex(ck, cfg, orig, NULL, threads, out, err);
}

int ct_verify_ex(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_checkpoint *orig,
		 const ct_conv *conv, int threads, ct_verify_report **out, ct_error *err)
{
	return ct_verify_scan(ck, cfg, orig, conv, threads, false, out, err);
}

int ct_verify_scan(const ct_checkpoint *ck, const ct_qconfig *cfg, const ct_checkpoint *orig,
		   const ct_conv *conv, int threads, bool structure_only, ct_verify_report **out,
		   ct_error *err)
{
	*out = NULL;
	ct_verify_report *r = calloc(1, sizeof(*r));
	if (!r)
		return ct_fail(err, CT_EIO, "out of memory");
	r->has_config = cfg != NULL;
	ct_plan *plan = NULL;
	/* a dense checkpoint is described by an empty config */
	ct_qconfig none;
	memset(&none, 0, sizeof(none));
	none.version_minor = 18;
	int rc = ct_plan_decompress_ex(ck, cfg ? cfg : &none, CT_DTYPE_COUNT, true, &plan, err);
	if (rc && rc != CT_EIO) {
		/* a config that cannot describe any checkpoint: one problem */
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)",
					  ck->n_shards ? ck->shard_names[0] : ck->dir,
					  "%s", err->msg);
		ct_error_clear(err);
		if (rc) {
			ct_verify_report_free(r);
			return ct_fail(err, CT_EIO, "out of memory");
		}
		*out = r;
		return CT_OK;
	}
	if (rc) {
		free(r);
		return rc;
	}
	/* one report entry per input tensor (so checksums have a home) plus one
	 * per decoded module */
	size_t n_items = 0;
	for (size_t s = 0; s < plan->n_shards; s++)
		n_items += plan->shards[s].n_items;
	r->tensors = calloc(ck->n_tensors + n_items + plan->n_problems + 1,
			    sizeof(ct_verify_tensor));
	ct_verify_tensor **slot = calloc(ck->n_tensors + 1, sizeof(*slot));
	vstate st = { .ck = ck, .orig = orig, .conv = conv, .copies_exact = cfg != NULL };
	if (orig && !cfg)
		st.decoded = decoded_sets(ck);
	st.jobs = calloc(n_items + 1, sizeof(vjob));
	if (!r->tensors || !slot || !st.jobs) {
		free_decoded_sets(ck, st.decoded);
		free(slot);
		free(st.jobs);
		ct_plan_free(plan);
		ct_verify_report_free(r);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	/* entries for every stored tensor, in checkpoint order */
	for (size_t i = 0; i < ck->n_tensors; i++) {
		ct_verify_tensor *v = &r->tensors[r->n_tensors++];
		v->ok = true;
		v->name = strdup(ck->tensors[i].t->name);
		v->file = strdup(ck->shard_names[ck->tensors[i].shard]);
		slot[i] = v;
	}
	r->n_stored = ck->n_tensors;
	/* modules that cannot be decoded, each with its reason */
	for (size_t i = 0; i < plan->n_problems; i++) {
		const ct_plan_problem *pp = &plan->problems[i];
		ct_verify_tensor *v = add_module_entry(r, pp->module, ck->shard_names[pp->shard], NAN);
		/* the message already names the file and module */
		const char *msg = pp->message;
		size_t fl = strlen(v->file ? v->file : "");
		if (v->file && strncmp(msg, v->file, fl) == 0 && strncmp(msg + fl, ": ", 2) == 0)
			msg += fl + 2;
		size_t ml = strlen(pp->module);
		if (strncmp(msg, pp->module, ml) == 0 && strncmp(msg + ml, ": ", 2) == 0)
			msg += ml + 2;
		set_problem(v, "%s", msg);
	}
	size_t base = 0;
	for (size_t s = 0; s < ck->n_shards; s++) {
		check_checksums(ck, s, !structure_only, r, slot + base);
		base += ck->shards[s]->n_tensors;
	}
	if (cfg) {
		ct_qmatch *qm = NULL;
		if (ct_qconfig_compile(cfg, &qm, err) == CT_OK) {
			check_targets(ck, cfg, qm, r, slot);
			ct_qmatch_free(qm);
		}
	}
	check_act_tensors(ck, cfg, slot);
	/* jobs: copies map to their tensor's entry, modules get new entries */
	for (size_t s = 0; s < plan->n_shards; s++) {
		for (size_t i = 0; i < plan->shards[s].n_items; i++) {
			const ct_plan_item *it = &plan->shards[s].items[i];
			vjob *j = &st.jobs[st.n_jobs++];
			j->item = it;
			if (it->kind == CT_ITEM_COPY) {
				const ct_tref *tr = ct_ckpt_find(ck, it->src->name);
				j->v = slot[tr - ck->tensors];
			} else {
				ct_verify_tensor *v = add_module_entry(r, it->module, ck->shard_names[s],
								       module_max_step(ck, it));
				check_module(ck, cfg, it, v);
				j->v = v;
				r->n_decoded++;
			}
		}
	}
	/* original tensors that the checkpoint lacks; a fused expert tensor of
	 * the original is there when each of its per-expert parts is */
	ct_moe_block *omoe = NULL;
	size_t n_omoe = 0;
	ct_error merr;
	if (orig && ct_moe_find(orig, &omoe, &n_omoe, &merr) != CT_OK) {
		/* an original whose experts cannot be told apart is compared by
		 * name alone */
		omoe = NULL;
		n_omoe = 0;
	}
	st.omoe = omoe;
	st.n_omoe = n_omoe;
	const char **decoded_names = orig ? calloc(st.n_jobs + 1, sizeof(*decoded_names)) : NULL;
	size_t n_decoded = 0;
	for (size_t k = 0; decoded_names && k < st.n_jobs; k++)
		if (st.jobs[k].item->kind != CT_ITEM_COPY)
			decoded_names[n_decoded++] = st.jobs[k].item->module;
	if (decoded_names)
		qsort(decoded_names, n_decoded, sizeof(*decoded_names), cmp_names);
	missing_ctx mc = { ck, decoded_names, n_decoded };
	for (size_t i = 0; orig && decoded_names && i < orig->n_tensors; i++) {
		const ct_tensor *t = orig->tensors[i].t;
		if (ct_ckpt_find(ck, conv ? ct_convert_out_name(conv, t) : t->name) ||
		    (conv && ct_convert_consumed(conv, t)))
			continue;
		const ct_moe_block *b = n_omoe ? ct_moe_block_of(omoe, n_omoe, t) : NULL;
		if (!b) {
			if (!present(&mc, t->name) && add_missing(r, &st, t->name, NULL))
				break;
			continue;
		}
		ct_moe_part parts[3];
		size_t np = ct_moe_parts_of(b, t, parts);
		bool oom = false;
		for (uint64_t e = 0; e < b->experts && !oom; e++) {
			for (size_t k = 0; k < np && !oom; k++) {
				char name[4096];
				snprintf(name, sizeof(name), "%s.%" PRIu64 ".%s", b->prefix, e,
					 ct_moe_part_suffix(b, parts[k]));
				oom = !present(&mc, name) && add_missing(r, &st, name, t->name);
			}
		}
		if (oom)
			break;
	}
	free(decoded_names);
	atomic_init(&st.next, 0);
	if (!structure_only)
		ct_run_threads(vworker, &st, threads, st.n_jobs);
	r->ok = true;
	for (size_t i = 0; i < r->n_tensors; i++)
		r->ok = r->ok && r->tensors[i].ok;
	free(slot);
	free(st.jobs);
	free_decoded_sets(ck, st.decoded);
	ct_moe_free(omoe, n_omoe);
	ct_plan_free(plan);
	*out = r;
	return CT_OK;
}
