/* describe.c - roles, parameter counts and statistics of a checkpoint's tensors. */
#include "describe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "strbuf.h"

/* Module names up to this long are built on the stack; longer ones (names
 * come from files) on the heap. */
#define NAME_STACK 512
/* Elements per statistics chunk: small enough to stay in L1. */
#define STATS_CHUNK 1024
/* Entries of a target/ignore list shown in a config summary. */
#define SUMMARY_TARGETS 4
#define SUMMARY_IGNORE 6

struct ct_describer {
	const ct_checkpoint *ck;
	const ct_qconfig *cfg;     /* NULL without a config */
	ct_qmatch *match;          /* compiled from cfg, or NULL */
	ct_arch arch;              /* from config.json, for module classes */
};

int ct_describer_new(const ct_checkpoint *ck, const ct_qconfig *cfg, ct_describer **out,
		     ct_error *err)
{
	*out = NULL;
	ct_describer *d = calloc(1, sizeof(*d));
	if (!d)
		return ct_fail(err, CT_EIO, "out of memory");
	d->ck = ck;
	d->cfg = cfg;
	ct_arch_from_config(ck->config, &d->arch);
	if (cfg) {
		int rc = ct_qconfig_compile(cfg, &d->match, err);
		if (rc) {
			free(d);
			return rc;
		}
	}
	*out = d;
	return CT_OK;
}

void ct_describer_free(ct_describer *d)
{
	if (!d)
		return;
	ct_qmatch_free(d->match);
	free(d);
}

/* ================================================================= modules */

/* The tensors a module may hold (FORMAT.md §2.1), found by name. */
typedef struct modinfo {
	const ct_tensor *weight, *packed, *scale, *zp, *wshape, *gscale, *g_idx;
	const ct_tensor *comp, *bitmask, *offsets, *shape, *spacked, *meta;
	ct_format fmt;             /* recognised layout (FORMAT.md §2.6) */
	bool have_rc;              /* rows × cols of the logical weight known and checked */
	uint64_t rc_params;        /* that product (all dimensions for 3-D) */
	int packed_bits;           /* pack-quantized: bits the packed width implies, 0 unknown */
	uint64_t rows, cols;       /* for inferring the strategy; 0 unknown */
} modinfo;

/* name[0..mlen), plus "." + local when local is given, NUL-terminated: in
 * stack when it fits, else malloc'd (the caller frees what is not stack).
 * NULL when out of memory. */
static char *module_copy(const char *name, size_t mlen, const char *local, char *stack,
			 size_t stack_size)
{
	size_t llen = local ? strlen(local) + 1 : 0;
	size_t need = mlen + llen + 1;
	char *buf = need <= stack_size ? stack : malloc(need);
	if (!buf)
		return NULL;
	memcpy(buf, name, mlen);
	if (local) {
		buf[mlen] = '.';
		memcpy(buf + mlen + 1, local, llen);
	} else {
		buf[mlen] = '\0';
	}
	return buf;
}

/* The tensor called name[0..mlen) + "." + local, or NULL. */
static const ct_tensor *sibling(const ct_checkpoint *ck, const char *name, size_t mlen,
				const char *local)
{
	char stack[NAME_STACK];
	char *buf = module_copy(name, mlen, local, stack, sizeof(stack));
	if (!buf)
		return NULL;
	const ct_tref *r = ct_ckpt_find(ck, buf);
	if (buf != stack)
		free(buf);
	return r ? r->t : NULL;
}

static bool is_i64_vector(const ct_tensor *t, uint64_t n)
{
	return t && t->dtype == CT_I64 && t->nelem == n && t->end - t->begin == 8 * n;
}

/* Reads the values of a small I64 tensor; false when one is negative. */
static bool read_dims(const ct_tensor *t, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t x = ct_load_i64(CT_I64, t->data, i);
		if (x < 0)
			return false;
		v[i] = (uint64_t)x;
	}
	return true;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* True when C codes of b bits pack into P int32 words, in the CT 0.18
 * dense layout or the padded layout of CT <= 0.17 (FORMAT.md §3.5). */
static bool pack_fits(uint64_t c, int b, uint64_t p)
{
	uint64_t bits;
	if (__builtin_mul_overflow(c, (uint64_t)b, &bits))
		return false;
	return ceil_div(bits, 32) == p || ceil_div(c, 32 / (uint64_t)b) == p;
}

/* Checks weight_shape against weight_packed and learns R×C and the bits. */
static void pack_dims(modinfo *m, int cfg_bits)
{
	const ct_tensor *p = m->packed;
	int k = p->ndim;
	if (k < 1 || !is_i64_vector(m->wshape, (uint64_t)k))
		return;
	uint64_t dims[CT_MAX_DIMS];
	if (!read_dims(m->wshape, dims, (size_t)k))
		return;
	uint64_t prod = 1;
	for (int i = 0; i < k; i++) {
		if (i < k - 1 && dims[i] != p->shape[i])
			return;
		if (__builtin_mul_overflow(prod, dims[i], &prod))
			return;
	}
	uint64_t c = dims[k - 1], words = p->shape[k - 1];
	static const int prefer[] = { 4, 8, 2, 3, 5, 6, 7, 1 };
	int bits = 0;
	if (cfg_bits >= 1 && cfg_bits <= 8 && pack_fits(c, cfg_bits, words))
		bits = cfg_bits;
	for (size_t i = 0; !bits && i < sizeof(prefer) / sizeof(prefer[0]); i++)
		if (pack_fits(c, prefer[i], words))
			bits = prefer[i];
	if (!bits)
		return;
	m->packed_bits = bits;
	m->have_rc = true;
	m->rc_params = prod;
	m->rows = k >= 2 ? dims[k - 2] : 1;
	m->cols = c;
}

/* Checks a sparse module's shape tensor against its bitmask [R, ceil(C/8)]. */
static void sparse_dims(modinfo *m)
{
	uint64_t v[2];
	if (!m->shape || m->shape->dtype != CT_I64 || m->shape->nelem != 2 ||
	    m->shape->end - m->shape->begin != 16 || !read_dims(m->shape, v, 2))
		return;
	const ct_tensor *b = m->bitmask;
	if (b->ndim != 2 || b->shape[0] != v[0] || b->shape[1] != ceil_div(v[1], 8))
		return;
	uint64_t prod;
	if (__builtin_mul_overflow(v[0], v[1], &prod))
		return;
	m->have_rc = true;
	m->rc_params = prod;
	m->rows = v[0];
	m->cols = v[1];
}

static bool is_float_weight(ct_dtype dt)
{
	return dt == CT_F32 || dt == CT_F16 || dt == CT_BF16 || dt == CT_F64;
}

static bool is_int_weight(ct_dtype dt)
{
	return dt == CT_I8 || dt == CT_I16 || dt == CT_I32;
}

static bool is_fp8(ct_dtype dt)
{
	return dt == CT_F8_E4M3 || dt == CT_F8_E5M2;
}

/* The layout of a module from the tensors it holds (FORMAT.md §2.6). */
static ct_format recognise(const modinfo *m)
{
	if (m->packed) {
		if (m->packed->dtype == CT_I32 && m->spacked && m->meta)
			return CT_FMT_MARLIN_24;
		if (m->packed->dtype == CT_I32)
			return CT_FMT_PACK;
		if (m->packed->dtype == CT_U8) {
			if (m->gscale || (m->scale && m->scale->dtype == CT_F8_E4M3))
				return CT_FMT_NVFP4;
			if (m->scale && m->scale->dtype == CT_U8)
				return CT_FMT_MXFP4;
		}
		return CT_FMT_NONE;
	}
	if (m->comp && m->bitmask) {
		if (m->offsets)
			return CT_FMT_SPARSE_BITMASK;
		if (m->shape && m->shape->ndim == 2)
			return CT_FMT_SPARSE_24;
		return CT_FMT_SPARSE_BITMASK;
	}
	if (m->weight && m->scale) {
		if (m->weight->dtype == CT_F8_E4M3 && m->scale->dtype == CT_U8)
			return CT_FMT_MXFP8;
		if (is_fp8(m->weight->dtype))
			return CT_FMT_FLOAT;
		if (is_int_weight(m->weight->dtype))
			return CT_FMT_INT;
	}
	return CT_FMT_DENSE;
}

static void gather(const ct_checkpoint *ck, const char *name, size_t mlen, modinfo *m)
{
	m->weight = sibling(ck, name, mlen, "weight");
	m->packed = sibling(ck, name, mlen, "weight_packed");
	m->scale = sibling(ck, name, mlen, "weight_scale");
	m->zp = sibling(ck, name, mlen, "weight_zero_point");
	m->wshape = sibling(ck, name, mlen, "weight_shape");
	m->gscale = sibling(ck, name, mlen, "weight_global_scale");
	m->g_idx = sibling(ck, name, mlen, "weight_g_idx");
	m->comp = sibling(ck, name, mlen, "compressed");
	m->bitmask = sibling(ck, name, mlen, "bitmask");
	m->offsets = m->comp ? sibling(ck, name, mlen, "row_offsets") : NULL;
	m->shape = m->comp ? sibling(ck, name, mlen, "shape") : NULL;
	m->spacked = m->packed ? sibling(ck, name, mlen, "scale_packed") : NULL;
	m->meta = m->packed ? sibling(ck, name, mlen, "meta") : NULL;
	m->fmt = recognise(m);
}

/* Smallest power of two p with ceil(n/p) == k, else ceil(n/k): the group or
 * block size that gives k groups over n elements. */
static int64_t guess_size(uint64_t n, uint64_t k)
{
	if (k == 0 || n == 0)
		return 0;
	for (uint64_t p = 1; p <= (1ull << 30); p <<= 1)
		if (ceil_div(n, p) == k)
			return (int64_t)p;
	uint64_t g = ceil_div(n, k);
	return g > INT64_MAX ? 0 : (int64_t)g;
}

/* Strategy from the shape of the scale against the weight's R×C (§3). */
static void infer_strategy(const ct_tensor *s, uint64_t rows, uint64_t cols,
			   ct_tensor_desc *td)
{
	if (!s || rows == 0 || cols == 0)
		return;
	if (s->nelem == 1) {
		td->strategy = CT_STRAT_TENSOR;
		td->has_strategy = true;
		return;
	}
	if (s->ndim < 2)
		return;
	uint64_t sr = s->shape[s->ndim - 2], sc = s->shape[s->ndim - 1];
	if (sr == rows && sc == 1) {
		td->strategy = CT_STRAT_CHANNEL;
	} else if (sr == rows) {
		td->strategy = CT_STRAT_GROUP;
		td->group_size = guess_size(cols, sc);
	} else {
		td->strategy = CT_STRAT_BLOCK;
		td->block[0] = guess_size(rows, sr);
		td->block[1] = guess_size(cols, sc);
	}
	td->has_strategy = true;
}

static bool local_is(const char *local, const char *s)
{
	return strcmp(local, s) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* The last component of name[0..mlen) contains sub (for embed/norm names). */
static bool last_component_has(const char *name, size_t mlen, const char *sub)
{
	size_t start = mlen;
	while (start > 0 && name[start - 1] != '.')
		start--;
	size_t n = strlen(sub);
	for (size_t i = start; i + n <= mlen; i++)
		if (memcmp(name + i, sub, n) == 0)
			return true;
	return false;
}

static bool last_component_is(const char *name, size_t mlen, const char *s)
{
	size_t n = strlen(s);
	return mlen >= n && memcmp(name + mlen - n, s, n) == 0 &&
	       (mlen == n || name[mlen - n - 1] == '.');
}

static bool last_component_starts(const char *name, size_t mlen, const char *s)
{
	size_t start = mlen;
	while (start > 0 && name[start - 1] != '.')
		start--;
	size_t n = strlen(s);
	return mlen - start >= n && memcmp(name + start, s, n) == 0;
}

static ct_role dense_role(const ct_tensor *t, const char *name, size_t mlen)
{
	if (last_component_has(name, mlen, "embed") || last_component_is(name, mlen, "wte") ||
	    last_component_is(name, mlen, "wpe"))
		return CT_ROLE_EMBEDDING;
	if (last_component_has(name, mlen, "norm") || last_component_starts(name, mlen, "ln") ||
	    t->ndim == 1)
		return CT_ROLE_NORM;
	return CT_ROLE_DENSE;
}

static bool quantized_format(ct_format f)
{
	return f != CT_FMT_DENSE && f != CT_FMT_NONE && f != CT_FMT_SPARSE_BITMASK;
}

/* Bits and strategy of a quantized module: from the config group that
 * quantizes it, else from what its tensors tell. */
static void scheme_of(const ct_describer *d, const char *name, size_t mlen, modinfo *m,
		      ct_tensor_desc *td)
{
	/* a sparse-only module may match a group's targets without being quantized */
	bool quant = (m->fmt != CT_FMT_DENSE && m->fmt != CT_FMT_SPARSE_BITMASK &&
		      !(m->fmt == CT_FMT_SPARSE_24 && !m->scale)) || (m->weight && m->scale);
	const ct_qargs *w = NULL;
	if (d->match && quant) {
		char stack[NAME_STACK];
		char *mod = module_copy(name, mlen, NULL, stack, sizeof(stack));
		if (mod) {
			td->group = ct_qmatch_group(d->match, mod, ct_module_class(mod, 2, &d->arch));
			if (mod != stack)
				free(mod);
		}
		if (td->group >= 0)
			w = d->cfg->groups[td->group].weights;
	}
	const ct_tensor *ref = m->weight ? m->weight : m->comp;
	if (m->fmt == CT_FMT_PACK)
		pack_dims(m, w && w->type == CT_QTYPE_INT ? w->num_bits : 0);
	else if (m->fmt == CT_FMT_SPARSE_24 || m->fmt == CT_FMT_SPARSE_BITMASK)
		sparse_dims(m);
	else if ((m->fmt == CT_FMT_NVFP4 || m->fmt == CT_FMT_MXFP4) && m->packed->ndim >= 2) {
		m->rows = m->packed->shape[m->packed->ndim - 2];
		m->cols = 2 * m->packed->shape[m->packed->ndim - 1];
	} else if (ref && ref->ndim >= 2 && m->fmt != CT_FMT_MARLIN_24) {
		m->rows = ref->shape[ref->ndim - 2];
		m->cols = ref->shape[ref->ndim - 1];
	}

	td->asymmetric = m->zp != NULL;
	switch (m->fmt) {
	case CT_FMT_NVFP4:
		td->qtype = CT_QTYPE_FLOAT;
		td->bits = 4;
		td->strategy = CT_STRAT_TENSOR_GROUP;
		td->group_size = 16;
		td->has_strategy = true;
		break;
	case CT_FMT_MXFP4:
	case CT_FMT_MXFP8:
		td->qtype = CT_QTYPE_FLOAT;
		td->bits = m->fmt == CT_FMT_MXFP4 ? 4 : 8;
		td->strategy = CT_STRAT_GROUP;
		td->group_size = 32;
		td->has_strategy = true;
		break;
	case CT_FMT_PACK:
	case CT_FMT_MARLIN_24:
		td->qtype = CT_QTYPE_INT;
		td->bits = m->packed_bits;
		break;
	case CT_FMT_FLOAT:
		td->qtype = CT_QTYPE_FLOAT;
		td->bits = 8;
		break;
	case CT_FMT_INT:
		td->qtype = CT_QTYPE_INT;
		td->bits = (int)ct_dtype_bits(m->weight->dtype);
		break;
	case CT_FMT_SPARSE_24:
		if (m->scale && is_int_weight(m->comp->dtype)) {
			td->qtype = CT_QTYPE_INT;
			td->bits = (int)ct_dtype_bits(m->comp->dtype);
		} else if (m->scale && is_fp8(m->comp->dtype)) {
			td->qtype = CT_QTYPE_FLOAT;
			td->bits = 8;
		}
		break;
	default:
		break;
	}
	if (!td->has_strategy)
		infer_strategy(m->scale, m->rows, m->cols, td);
	if (w && m->fmt != CT_FMT_NVFP4 && m->fmt != CT_FMT_MXFP4 && m->fmt != CT_FMT_MXFP8) {
		td->bits = w->num_bits;
		td->qtype = w->type;
		td->strategy = w->strategy;
		td->group_size = w->has_group_size ? w->group_size : 0;
		td->block[0] = w->has_block ? w->block[0] : 0;
		td->block[1] = w->has_block ? w->block[1] : 0;
		td->has_strategy = true;
		td->asymmetric = !w->symmetric;
	}
	/* the int-quantized / naive-quantized split only the config knows */
	if (td->group >= 0 && m->fmt == CT_FMT_INT) {
		ct_format f = d->cfg->groups[td->group].format;
		if (f == CT_FMT_NONE)
			f = d->cfg->format;
		if (f == CT_FMT_NAIVE || f == CT_FMT_INT || f == CT_FMT_FLOAT)
			m->fmt = f;
	}
}

static ct_role role_of(const ct_tensor *t, const char *local, const char *name, size_t mlen,
		       const modinfo *m, bool has_module)
{
	if (!has_module)
		return local_is(local, "weight") || is_float_weight(t->dtype) ? CT_ROLE_DENSE :
		       CT_ROLE_OTHER;
	if (local_is(local, "weight")) {
		if (quantized_format(m->fmt))
			return CT_ROLE_QWEIGHT;
		if (m->scale && is_float_weight(t->dtype))
			return CT_ROLE_FAKE_QUANT;
		return dense_role(t, name, mlen);
	}
	if (local_is(local, "weight_packed"))
		return CT_ROLE_PACKED;
	if (local_is(local, "weight_scale"))
		return CT_ROLE_SCALE;
	if (local_is(local, "weight_zero_point"))
		return CT_ROLE_ZERO_POINT;
	if (local_is(local, "weight_global_scale"))
		return CT_ROLE_GLOBAL_SCALE;
	if (local_is(local, "weight_shape"))
		return CT_ROLE_WEIGHT_SHAPE;
	if (local_is(local, "weight_g_idx"))
		return CT_ROLE_G_IDX;
	if ((starts_with(local, "input_") || starts_with(local, "output_")) &&
	    (ends_with(local, "_scale") || ends_with(local, "_zero_point")))
		return CT_ROLE_ACT_PARAM;
	if (local_is(local, "k_scale") || local_is(local, "v_scale") || local_is(local, "q_scale"))
		return CT_ROLE_KV_SCALE;
	if (m->fmt == CT_FMT_SPARSE_BITMASK || m->fmt == CT_FMT_SPARSE_24) {
		if (local_is(local, "compressed"))
			return CT_ROLE_SPARSE_VALUES;
		if (local_is(local, "bitmask"))
			return CT_ROLE_SPARSE_BITMASK;
		if (local_is(local, "row_offsets"))
			return CT_ROLE_SPARSE_OFFSETS;
		if (local_is(local, "shape"))
			return CT_ROLE_SPARSE_SHAPE;
	}
	if (m->fmt == CT_FMT_MARLIN_24) {
		if (local_is(local, "scale_packed"))
			return CT_ROLE_MARLIN_SCALE;
		if (local_is(local, "meta"))
			return CT_ROLE_MARLIN_META;
	}
	if (local_is(local, "bias"))
		return CT_ROLE_BIAS;
	return CT_ROLE_OTHER;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t params_of(const ct_tensor *t, const modinfo *m, const ct_tensor_desc *td)
{
	switch (td->role) {
	case CT_ROLE_PACKED:
		if (m->fmt == CT_FMT_NVFP4 || m->fmt == CT_FMT_MXFP4)
			return mul_sat(t->nelem, 2);
		if (m->fmt == CT_FMT_PACK && m->have_rc)
			return m->rc_params;
		if (m->fmt == CT_FMT_MARLIN_24 && (td->bits == 4 || td->bits == 8))
			return mul_sat(t->nelem, (uint64_t)(64 / td->bits));
		/* no trustworthy weight_shape: what the words hold at these bits */
		if (td->bits >= 1 && td->bits <= 32)
			return mul_sat(t->nelem, (uint64_t)(32 / td->bits));
		return t->nelem;
	case CT_ROLE_SPARSE_VALUES:
		if (m->have_rc)
			return m->rc_params;
		return m->fmt == CT_FMT_SPARSE_24 ? mul_sat(t->nelem, 2) : t->nelem;
	case CT_ROLE_SCALE:
	case CT_ROLE_ZERO_POINT:
	case CT_ROLE_GLOBAL_SCALE:
	case CT_ROLE_WEIGHT_SHAPE:
	case CT_ROLE_G_IDX:
	case CT_ROLE_ACT_PARAM:
	case CT_ROLE_KV_SCALE:
	case CT_ROLE_SPARSE_BITMASK:
	case CT_ROLE_SPARSE_OFFSETS:
	case CT_ROLE_SPARSE_SHAPE:
	case CT_ROLE_MARLIN_SCALE:
	case CT_ROLE_MARLIN_META:
		return 0;
	default:
		return t->nelem;
	}
}

void ct_describe_tensor(const ct_describer *d, const ct_tref *r, ct_tensor_desc *out)
{
	const ct_tensor *t = r->t;
	memset(out, 0, sizeof(*out));
	out->group = -1;
	out->format = CT_FMT_DENSE;
	const char *dot = strrchr(t->name, '.');
	bool has_module = dot != NULL;
	size_t mlen = dot ? (size_t)(dot - t->name) : 0;
	const char *local = dot ? dot + 1 : t->name;
	modinfo m;
	memset(&m, 0, sizeof(m));
	m.fmt = CT_FMT_DENSE;
	if (has_module) {
		gather(d->ck, t->name, mlen, &m);
		if (m.fmt != CT_FMT_DENSE || (m.weight && m.scale))
			scheme_of(d, t->name, mlen, &m, out);
	}
	out->role = role_of(t, local, t->name, mlen, &m, has_module);
	out->format = m.fmt == CT_FMT_NONE ? CT_FMT_DENSE : m.fmt;
	out->module_class = CT_MOD_COUNT;
	out->act_order = m.g_idx != NULL;
	int weight_rank = m.weight ? m.weight->ndim : out->format != CT_FMT_DENSE ? 2 : 0;
	if (has_module && weight_rank) {
		char stack[NAME_STACK];
		char *mod = module_copy(t->name, mlen, NULL, stack, sizeof(stack));
		if (mod) {
			out->module_class = ct_module_class(mod, weight_rank, &d->arch);
			/* the role of a dense weight follows the class that matching uses */
			bool dense = out->role == CT_ROLE_DENSE || out->role == CT_ROLE_EMBEDDING ||
				     out->role == CT_ROLE_NORM;
			if (dense && local_is(local, "weight"))
				out->role = out->module_class == CT_MOD_EMBEDDING ? CT_ROLE_EMBEDDING :
					    out->module_class == CT_MOD_NORM ? CT_ROLE_NORM :
					    CT_ROLE_DENSE;
			if (d->match && (out->role == CT_ROLE_DENSE || out->role == CT_ROLE_EMBEDDING))
				out->ignored = ct_qmatch_ignored(d->match, mod, out->module_class);
			if (mod != stack)
				free(mod);
		}
	}
	out->params = params_of(t, &m, out);
}

uint64_t ct_describe_params(const ct_describer *d, const ct_tref *r)
{
	ct_tensor_desc td;
	ct_describe_tensor(d, r, &td);
	return td.params;
}

/* =================================================================== texts */

/* "int4", "fp8", "nvfp4": the kind of number a module stores. */
static void scheme_short(const ct_tensor_desc *td, char *buf, size_t size)
{
	switch (td->format) {
	case CT_FMT_NVFP4: snprintf(buf, size, "nvfp4"); return;
	case CT_FMT_MXFP4: snprintf(buf, size, "mxfp4"); return;
	case CT_FMT_MXFP8: snprintf(buf, size, "mxfp8"); return;
	default: break;
	}
	if (td->bits > 0)
		snprintf(buf, size, "%s%d", td->qtype == CT_QTYPE_FLOAT ? "fp" : "int", td->bits);
	else
		buf[0] = '\0';
}

/* The short form plus how scales are shared: "int4 g128", "fp8 per-channel". */
static void scheme_full(const ct_tensor_desc *td, char *buf, size_t size)
{
	scheme_short(td, buf, size);
	size_t n = strlen(buf);
	bool mx = td->format == CT_FMT_NVFP4 || td->format == CT_FMT_MXFP4 ||
		  td->format == CT_FMT_MXFP8;
	if (td->has_strategy && !mx) {
		const char *sep = n ? " " : "";
		switch (td->strategy) {
		case CT_STRAT_GROUP:
		case CT_STRAT_TENSOR_GROUP:
			snprintf(buf + n, size - n, "%sg%lld", sep, (long long)td->group_size);
			break;
		case CT_STRAT_CHANNEL:
			snprintf(buf + n, size - n, "%sper-channel", sep);
			break;
		case CT_STRAT_TENSOR:
			snprintf(buf + n, size - n, "%sper-tensor", sep);
			break;
		case CT_STRAT_BLOCK:
			snprintf(buf + n, size - n, "%sblock %lldx%lld", sep, (long long)td->block[0],
				 (long long)td->block[1]);
			break;
		case CT_STRAT_TOKEN:
			snprintf(buf + n, size - n, "%sper-token", sep);
			break;
		case CT_STRAT_ATTN_HEAD:
			snprintf(buf + n, size - n, "%sper-head", sep);
			break;
		}
		n = strlen(buf);
	}
	if (td->asymmetric && n + 1 < size)
		snprintf(buf + n, size - n, "%sasym", n ? " " : "");
}

/* "x y" when x is not empty, else y alone. */
static const char *joined(char *buf, size_t size, const char *x, const char *y)
{
	snprintf(buf, size, "%s%s%s", x, *x ? " " : "", y);
	return buf;
}

const char *ct_tensor_desc_text(const ct_tensor_desc *td, char *buf, size_t size)
{
	char s[48], f[96];
	scheme_short(td, s, sizeof(s));
	scheme_full(td, f, sizeof(f));
	bool sp24 = td->format == CT_FMT_SPARSE_24;
	switch (td->role) {
	case CT_ROLE_DENSE:
		snprintf(buf, size, "%s", td->ignored ? "dense (ignored)" : "dense");
		break;
	case CT_ROLE_EMBEDDING: snprintf(buf, size, "embedding"); break;
	case CT_ROLE_NORM: snprintf(buf, size, "norm"); break;
	case CT_ROLE_BIAS: snprintf(buf, size, "bias"); break;
	case CT_ROLE_FAKE_QUANT:
		snprintf(buf, size, "dense (fake-quant%s%s)", *f ? " " : "", f);
		break;
	case CT_ROLE_QWEIGHT:
		joined(buf, size, *f ? f : "quantized", "weight");
		break;
	case CT_ROLE_PACKED:
		if (td->format == CT_FMT_MARLIN_24)
			snprintf(buf, size, "marlin-24%s%s packed weight", *f ? " " : "", f);
		else
			joined(buf, size, f, td->act_order ? "packed weight, act-order" :
			       "packed weight");
		break;
	case CT_ROLE_SCALE: joined(buf, size, s, "scale"); break;
	case CT_ROLE_ZERO_POINT:
		joined(buf, size, s, td->format == CT_FMT_PACK ? "zero point (packed)" :
		       "zero point");
		break;
	case CT_ROLE_GLOBAL_SCALE: joined(buf, size, s, "global scale"); break;
	case CT_ROLE_WEIGHT_SHAPE: snprintf(buf, size, "weight shape"); break;
	case CT_ROLE_G_IDX: snprintf(buf, size, "group index (actorder)"); break;
	case CT_ROLE_ACT_PARAM: snprintf(buf, size, "activation parameter"); break;
	case CT_ROLE_KV_SCALE: snprintf(buf, size, "attention / kv-cache scale"); break;
	case CT_ROLE_SPARSE_VALUES:
		if (sp24 && *f)
			snprintf(buf, size, "2:4 sparse %s values", f);
		else
			snprintf(buf, size, "%ssparse values", sp24 ? "2:4 " : "");
		break;
	case CT_ROLE_SPARSE_BITMASK:
		snprintf(buf, size, "%ssparse bitmask", sp24 ? "2:4 " : "");
		break;
	case CT_ROLE_SPARSE_OFFSETS: snprintf(buf, size, "sparse row offsets"); break;
	case CT_ROLE_SPARSE_SHAPE:
		snprintf(buf, size, "%ssparse shape", sp24 ? "2:4 " : "");
		break;
	case CT_ROLE_MARLIN_SCALE: snprintf(buf, size, "marlin-24 scale"); break;
	case CT_ROLE_MARLIN_META: snprintf(buf, size, "marlin-24 metadata"); break;
	case CT_ROLE_OTHER: snprintf(buf, size, "other"); break;
	}
	return buf;
}

const char *ct_describe_role(const ct_describer *d, const ct_tref *r, char *buf, size_t size)
{
	ct_tensor_desc td;
	ct_describe_tensor(d, r, &td);
	return ct_tensor_desc_text(&td, buf, size);
}

/* ============================================================= statistics */

bool ct_stats_supported(ct_dtype dt)
{
	switch (dt) {
	case CT_F32: case CT_F16: case CT_BF16: case CT_F64:
	case CT_F8_E4M3: case CT_F8_E5M2: case CT_F8_E8M0:
		return true;
	default:
		return ct_dtype_is_int(dt);
	}
}

typedef struct acc {
	uint64_t n;                /* finite values so far */
	double mean, m2, min, max;
} acc;

/* Folds n finite values into a: two passes over the chunk (cache-hot),
 * then Chan's parallel merge, so that large means do not eat the variance. */
static void acc_chunk(acc *a, const double *v, size_t n)
{
	if (n == 0)
		return;
	double sum = 0, mn = v[0], mx = v[0];
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
		mn = v[i] < mn ? v[i] : mn;
		mx = v[i] > mx ? v[i] : mx;
	}
	double mean = sum / (double)n, m2 = 0;
	for (size_t i = 0; i < n; i++)
		m2 += (v[i] - mean) * (v[i] - mean);
	if (a->n == 0) {
		a->n = n;
		a->mean = mean;
		a->m2 = m2;
		a->min = mn;
		a->max = mx;
		return;
	}
	double na = (double)a->n, nb = (double)n, nt = na + nb;
	double delta = mean - a->mean;
	a->mean += delta * nb / nt;
	a->m2 += m2 + delta * delta * na * nb / nt;
	a->n += n;
	a->min = mn < a->min ? mn : a->min;
	a->max = mx > a->max ? mx : a->max;
}

static double load_value(ct_dtype dt, const void *data, uint64_t i)
{
	if (dt == CT_F64) {
		double x;
		memcpy(&x, (const uint8_t *)data + 8 * i, 8);
		return x;
	}
	if (dt == CT_U64) {
		uint64_t x;
		memcpy(&x, (const uint8_t *)data + 8 * i, 8);
		return (double)x;
	}
	if (ct_dtype_is_int(dt))
		return (double)ct_load_i64(dt, data, (size_t)i);
	return (double)ct_load_f32(dt, data, (size_t)i);
}

int ct_array_stats(ct_dtype dt, const void *data, uint64_t n, ct_stats *out, ct_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!ct_stats_supported(dt))
		return ct_fail(err, CT_EINPUT, "statistics of %s values are not supported",
			       ct_dtype_name(dt));
	double buf[STATS_CHUNK];
	acc a = { 0 };
	size_t k = 0;
	for (uint64_t i = 0; i < n; i++) {
		double x = load_value(dt, data, i);
		if (isnan(x)) {
			out->nan++;
			continue;
		}
		if (isinf(x)) {
			out->inf++;
			continue;
		}
		out->zeros += x == 0;
		buf[k++] = x;
		if (k == STATS_CHUNK) {
			acc_chunk(&a, buf, k);
			k = 0;
		}
	}
	acc_chunk(&a, buf, k);
	out->count = n;
	out->finite = a.n;
	if (a.n == 0) {
		out->min = out->max = out->mean = out->std = NAN;
	} else {
		out->min = a.min;
		out->max = a.max;
		out->mean = a.mean;
		out->std = sqrt(a.m2 > 0 ? a.m2 / (double)a.n : 0);
	}
	return CT_OK;
}

int ct_tensor_stats(const ct_tensor *t, ct_stats *out, ct_error *err)
{
	int rc = ct_array_stats(t->dtype, t->data, t->nelem, out, err);
	if (rc)
		return ct_error_prefix(err, "%s", t->name);
	return CT_OK;
}

/* ================================================================= config */

/* Appends text from a config: newlines escaped so that lines stay lines. */
static void put_text(strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			sb_puts(sb, "\\n");
		else
			sb_putc(sb, *s);
	}
}

static void put_list(strbuf *sb, char *const *v, size_t n, size_t max)
{
	for (size_t i = 0; i < n && i < max; i++) {
		if (i)
			sb_puts(sb, ", ");
		put_text(sb, v[i]);
	}
	if (n > max)
		sb_printf(sb, ", … %zu more", n - max);
}

static void put_args(strbuf *sb, const ct_qargs *a)
{
	sb_printf(sb, "%s%d %s", a->type == CT_QTYPE_FLOAT ? "fp" : "int", a->num_bits,
		  a->symmetric ? "symmetric" : "asymmetric");
	switch (a->strategy) {
	case CT_STRAT_TENSOR: sb_puts(sb, " per-tensor"); break;
	case CT_STRAT_CHANNEL: sb_puts(sb, " per-channel"); break;
	case CT_STRAT_GROUP: sb_printf(sb, " group %lld", (long long)a->group_size); break;
	case CT_STRAT_TENSOR_GROUP:
		sb_printf(sb, " tensor-group %lld", (long long)a->group_size);
		break;
	case CT_STRAT_BLOCK:
		sb_printf(sb, " block %lldx%lld", (long long)a->block[0], (long long)a->block[1]);
		break;
	case CT_STRAT_TOKEN: sb_puts(sb, " per-token"); break;
	case CT_STRAT_ATTN_HEAD: sb_puts(sb, " per-head"); break;
	}
	if (a->dynamic == CT_DYN_TRUE)
		sb_puts(sb, " dynamic");
	else if (a->dynamic == CT_DYN_LOCAL)
		sb_puts(sb, " dynamic (local)");
	if (a->actorder == CT_ACT_GROUP)
		sb_puts(sb, " actorder group");
	else if (a->actorder == CT_ACT_WEIGHT)
		sb_puts(sb, " actorder weight");
}

char *ct_describe_qconfig(const ct_qconfig *cfg)
{
	strbuf sb;
	sb_init(&sb);
	for (size_t g = 0; g < cfg->n_groups; g++) {
		const ct_qscheme *s = &cfg->groups[g];
		if (g)
			sb_puts(&sb, "; ");
		if (cfg->n_groups > 1 && s->name) {
			put_text(&sb, s->name);
			sb_puts(&sb, " ");
		}
		ct_format f = s->format != CT_FMT_NONE ? s->format : cfg->format;
		sb_printf(&sb, "%s: ", f != CT_FMT_NONE ? ct_format_name(f) : "format not given");
		if (s->weights)
			put_args(&sb, s->weights);
		else
			sb_puts(&sb, "weights not quantized");
		if (s->input_activations) {
			sb_puts(&sb, ", input ");
			put_args(&sb, s->input_activations);
		}
		if (s->output_activations) {
			sb_puts(&sb, ", output ");
			put_args(&sb, s->output_activations);
		}
		sb_puts(&sb, " → ");
		put_list(&sb, s->targets, s->n_targets, SUMMARY_TARGETS);
	}
	if (cfg->n_groups && cfg->n_ignore) {
		sb_puts(&sb, "; ignore: ");
		put_list(&sb, cfg->ignore, cfg->n_ignore, SUMMARY_IGNORE);
	}
	if (cfg->n_groups && cfg->kv_cache_scheme)
		sb_puts(&sb, "; kv cache quantized");
	if (cfg->n_groups && cfg->quantization_status &&
	    strcmp(cfg->quantization_status, "compressed") != 0) {
		sb_puts(&sb, "; status ");
		put_text(&sb, cfg->quantization_status);
	}
	const ct_sparsity *sp = cfg->sparsity;
	if (sp) {
		if (cfg->n_groups)
			sb_putc(&sb, '\n');
		sb_printf(&sb, "%s: ", sp->format != CT_FMT_NONE ? ct_format_name(sp->format) :
			  "sparsity");
		if (sp->structure) {
			put_text(&sb, sp->structure);
			sb_puts(&sb, " ");
		}
		sb_puts(&sb, "sparsity");
		if (sp->has_global_sparsity)
			sb_printf(&sb, " (%.1f%% zeros)", 100.0 * sp->global_sparsity);
		sb_puts(&sb, " → ");
		put_list(&sb, sp->targets, sp->n_targets, SUMMARY_TARGETS);
		if (sp->n_ignore) {
			sb_puts(&sb, "; ignore: ");
			put_list(&sb, sp->ignore, sp->n_ignore, SUMMARY_IGNORE);
		}
	}
	if (!cfg->n_groups && !sp)
		sb_puts(&sb, "no quantization groups");
	return sb_steal(&sb, NULL);
}
