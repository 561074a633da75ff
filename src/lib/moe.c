/* moe.c - fused expert layouts and their per-expert parts (moe.h). */
#include "moe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* The experts module a fused tensor name belongs to ("X.experts" of
 * "X.experts.gate_up_proj"), written to prefix; which tensor it is in *kind
 * (0 gate_up, 1 down, 2 gate_up bias, 3 down bias). */
static bool fused_name(const char *name, char *prefix, size_t size, int *kind)
{
	static const char *const suffixes[] = {
		".gate_up_proj", ".down_proj", ".gate_up_proj_bias", ".down_proj_bias",
		".gate_up_proj.weight", ".down_proj.weight",
	};
	static const int kinds[] = { 0, 1, 2, 3, 0, 1 };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (!ends_with(name, suffixes[i]))
			continue;
		size_t n = strlen(name) - strlen(suffixes[i]);
		if (n < 7 || memcmp(name + n - 7, "experts", 7) != 0 || n >= size)
			continue;
		memcpy(prefix, name, n);
		prefix[n] = '\0';
		*kind = kinds[i];
		return true;
	}
	return false;
}

static bool is_expert_tensor(const char *name)
{
	return strstr(name, "experts.") != NULL || ends_with(name, "experts");
}

const char *ct_moe_layout_name(ct_moe_layout l)
{
	switch (l) {
	case CT_MOE_A: return "A ([E,2I,H] gate/up concatenated by rows, down [E,H,I])";
	case CT_MOE_B: return "B ([E,H,2I] gate/up halves, down [E,I,H], transposed)";
	default: return "C ([E,H,2I] gate/up interleaved by column, down [E,I,H], transposed)";
	}
}

void ct_moe_free(ct_moe_block *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(b[i].prefix);
	free(b);
}

static int find_block(ct_moe_block **bs, size_t *n, const char *prefix, ct_moe_block **out,
		      ct_error *err)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*bs)[i].prefix, prefix) == 0) {
			*out = &(*bs)[i];
			return CT_OK;
		}
	ct_moe_block *g = realloc(*bs, (*n + 1) * sizeof(*g));
	if (!g)
		return ct_fail(err, CT_EIO, "out of memory");
	*bs = g;
	memset(&g[*n], 0, sizeof(g[*n]));
	if (!(g[*n].prefix = strdup(prefix)))
		return ct_fail(err, CT_EIO, "out of memory");
	*out = &g[(*n)++];
	return CT_OK;
}

/* The tensor of ck named as block prefix's fused weight of that kind (0
 * gate_up, 1 down) whatever its rank, or NULL. */
static const ct_tensor *partner_of(const ct_checkpoint *ck, const char *prefix, int kind)
{
	char p[4096];
	int k;
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		if (fused_name(t->name, p, sizeof(p), &k) && k == kind && strcmp(p, prefix) == 0)
			return t;
	}
	return NULL;
}

/* Tells the layout of a block from its shapes, and its bias's presence. */
static int classify(const ct_checkpoint *ck, ct_moe_block *b, ct_error *err)
{
	const ct_tensor *gu = b->gate_up, *dn = b->down;
	const char *tried = "layout A ([E,2I,H] with down [E,H,I]) and layouts B/C ([E,H,2I] "
			    "with down [E,I,H])";
	if (!gu || !dn) {
		/* the partner may be there under its name with a rank below 3,
		 * which ct_moe_find passed over as an ordinary weight */
		const ct_tensor *other = partner_of(ck, b->prefix, gu ? 1 : 0);
		if (other)
			return ct_fail(err, CT_EINPUT, "%s: a %d-D %s beside the 3-D %s: fused experts "
				       "are two 3-D tensors (tried %s)", other->name, other->ndim,
				       gu ? "down_proj" : "gate_up_proj", (gu ? gu : dn)->name, tried);
		return ct_fail(err, CT_EINPUT, "%s: %s without %s: the expert layout cannot be told "
			       "(tried %s)", (gu ? gu : dn)->name, gu ? "gate_up_proj" : "down_proj",
			       gu ? "down_proj" : "gate_up_proj", tried);
	}
	if (gu->ndim != 3 || dn->ndim != 3 || gu->shape[0] != dn->shape[0] ||
	    gu->dtype != dn->dtype || !ct_dtype_is_float(gu->dtype))
		return ct_fail(err, CT_EINPUT, "%s, %s: fused experts must be two 3-D float tensors "
			       "of one dtype with one expert count (tried %s)", gu->name, dn->name,
			       tried);
	uint64_t E = gu->shape[0], a = gu->shape[1], c = gu->shape[2];
	uint64_t d1 = dn->shape[1], d2 = dn->shape[2];
	if (a == 2 * d2 && c == d1 && d2) {
		b->layout = CT_MOE_A;
		b->hidden = c;
		b->inter = d2;
	} else if (c == 2 * d1 && a == d2 && d1) {
		/* gpt-oss interleaves gate and up; its fused bias tells it apart
		 * from Llama 4's halves, as does its model_type with that bias
		 * dropped */
		const char *mt = json_string_value(json_object_get(ck->config, "model_type"));
		bool oss = mt && strcmp(mt, "gpt_oss") == 0;
		b->layout = b->gate_up_bias || oss ? CT_MOE_C : CT_MOE_B;
		b->hidden = a;
		b->inter = d1;
	} else {
		return ct_fail(err, CT_EINPUT, "%s [%" PRIu64 ", %" PRIu64 ", %" PRIu64 "] and %s [%"
			       PRIu64 ", %" PRIu64 ", %" PRIu64 "]: the expert layout cannot be told "
			       "(tried %s)", gu->name, E, a, c, dn->name, E, d1, d2, tried);
	}
	b->experts = E;
	/* the names the family's loader expects, which the layout cannot tell:
	 * vLLM's Mixtral, MiniMax and PhiMoE map experts.{e}.w1/w3/w2 */
	const char *family = json_string_value(json_object_get(ck->config, "model_type"));
	static const char *const w_families[] = { "mixtral", "minimax", "minimax_m2", "phimoe",
						  NULL };
	for (size_t k = 0; family && w_families[k]; k++)
		b->w_names = b->w_names || strcmp(family, w_families[k]) == 0;
	b->w_names = b->w_names || strstr(b->prefix, "block_sparse_moe.") != NULL;
	const ct_tensor *gb = b->gate_up_bias, *db = b->down_bias;
	if (gb && (gb->ndim != 2 || gb->shape[0] != E || gb->shape[1] != 2 * b->inter ||
		   gb->dtype != gu->dtype))
		return ct_fail(err, CT_EINPUT, "%s: expected [%" PRIu64 ", %" PRIu64 "] of %s", gb->name,
			       E, 2 * b->inter, ct_dtype_name(gu->dtype));
	if (db && (db->ndim != 2 || db->shape[0] != E || db->shape[1] != b->hidden ||
		   db->dtype != gu->dtype))
		return ct_fail(err, CT_EINPUT, "%s: expected [%" PRIu64 ", %" PRIu64 "] of %s", db->name,
			       E, b->hidden, ct_dtype_name(gu->dtype));
	return CT_OK;
}

int ct_moe_check_empty(const ct_checkpoint *ck, ct_error *err)
{
	char prefix[4096];
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		int kind;
		/* qwen3_5.py:load_fused_expert_weights loops over
		 * range(num_experts): with E = 0 nothing is loaded, and the
		 * split would leave no tensor in the block's place */
		if (fused_name(t->name, prefix, sizeof(prefix), &kind) && kind <= 1 &&
		    t->ndim == 3 && t->shape[0] == 0)
			return ct_fail(err, CT_EINPUT, "%s: %s: a fused block of zero experts [0, %"
				       PRIu64 ", %" PRIu64 "] (expected at least one expert)",
				       ck->shard_names[ck->tensors[i].shard], t->name, t->shape[1],
				       t->shape[2]);
	}
	return CT_OK;
}

int ct_moe_find(const ct_checkpoint *ck, ct_moe_block **out, size_t *n_out, ct_error *err)
{
	*out = NULL;
	*n_out = 0;
	if (ct_moe_check_empty(ck, err))
		return CT_EINPUT;
	ct_moe_block *bs = NULL;
	size_t n = 0;
	int rc = CT_OK;
	char prefix[4096];
	for (size_t i = 0; i < ck->n_tensors && !rc; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		int kind;
		if (!fused_name(t->name, prefix, sizeof(prefix), &kind)) {
			if (t->ndim >= 3 && is_expert_tensor(t->name) && ct_dtype_is_float(t->dtype))
				rc = ct_fail(err, CT_EINPUT, "%s: a %d-D expert tensor whose layout cannot "
					     "be told (tried the fused gate_up_proj/down_proj layouts A, "
					     "B and C; --ignore its module to keep it dense)", t->name,
					     t->ndim);
			continue;
		}
		/* vLLM's fused loaders (qwen3_5.py:load_weights, llama4.py:
		 * load_weights) take loaded_weight[expert_id] of a tensor whose
		 * name holds "experts.gate_up_proj" / "experts.down_proj", a
		 * 2-D [out, in] per expert: a fused weight is 3-D. Above that
		 * no layout applies; below it (a shared expert's 2-D
		 * "shared_experts.gate_up_proj.weight") it is an ordinary
		 * weight. */
		if (kind <= 1 && t->ndim > 3) {
			rc = ct_fail(err, CT_EINPUT, "%s: %s: a %d-D %s: fused experts are 3-D (%s)",
				     ck->shard_names[ck->tensors[i].shard], t->name, t->ndim,
				     kind == 0 ? "gate_up_proj" : "down_proj",
				     kind == 0 ? "[E, 2I, H] or [E, H, 2I]" : "[E, H, I] or [E, I, H]");
			break;
		}
		if (kind <= 1 && t->ndim != 3)
			continue;
		ct_moe_block *b = NULL;
		rc = find_block(&bs, &n, prefix, &b, err);
		if (rc)
			break;
		size_t shard = ck->tensors[i].shard;
		if (kind == 0) {
			b->gate_up = t;
			b->shard_gate_up = shard;
		} else if (kind == 1) {
			b->down = t;
			b->shard_down = shard;
		} else if (kind == 2) {
			b->gate_up_bias = t;
			b->shard_gate_up_bias = shard;
		} else {
			b->down_bias = t;
			b->shard_down_bias = shard;
		}
	}
	for (size_t i = 0; !rc && i < n; i++) {
		if (!bs[i].gate_up && !bs[i].down)
			continue;   /* biases alone: ordinary tensors */
		rc = classify(ck, &bs[i], err);
	}
	if (rc) {
		ct_moe_free(bs, n);
		return rc;
	}
	/* drop entries that hold only biases */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (bs[i].gate_up)
			bs[k++] = bs[i];
		else
			free(bs[i].prefix);
	}
	if (k == 0) {
		free(bs);
		return CT_OK;
	}
	*out = bs;
	*n_out = k;
	return CT_OK;
}

const ct_moe_block *ct_moe_block_of(const ct_moe_block *b, size_t n, const ct_tensor *t)
{
	for (size_t i = 0; i < n; i++)
		if (t == b[i].gate_up || t == b[i].down || t == b[i].gate_up_bias ||
		    t == b[i].down_bias)
			return &b[i];
	return NULL;
}

size_t ct_moe_parts_of(const ct_moe_block *b, const ct_tensor *t, ct_moe_part parts[3])
{
	if (t == b->gate_up) {
		parts[0] = CT_PART_GATE;
		parts[1] = CT_PART_UP;
		return 2;
	}
	if (t == b->gate_up_bias) {
		parts[0] = CT_PART_GATE_BIAS;
		parts[1] = CT_PART_UP_BIAS;
		return 2;
	}
	parts[0] = t == b->down ? CT_PART_DOWN : CT_PART_DOWN_BIAS;
	return t == b->down || t == b->down_bias ? 1 : 0;
}

const char *ct_moe_part_suffix(const ct_moe_block *b, ct_moe_part p)
{
	static const char *const names[] = { "gate_proj.weight", "up_proj.weight",
					     "down_proj.weight", "gate_proj.bias", "up_proj.bias",
					     "down_proj.bias" };
	static const char *const w_names[] = { "w1.weight", "w3.weight", "w2.weight", "w1.bias",
					       "w3.bias", "w2.bias" };
	if (p >= CT_PART_COUNT)
		return "";
	return b->w_names ? w_names[p] : names[p];
}

bool ct_moe_has_part(const ct_moe_block *b, ct_moe_part p)
{
	switch (p) {
	case CT_PART_GATE_BIAS:
	case CT_PART_UP_BIAS:
		return b->gate_up_bias != NULL;
	case CT_PART_DOWN_BIAS:
		return b->down_bias != NULL;
	default:
		return p < CT_PART_COUNT;
	}
}

bool ct_moe_resolve(const ct_moe_block *b, size_t n, const char *name,
		    const ct_moe_block **block, uint64_t *expert, ct_moe_part *part)
{
	for (size_t i = 0; i < n; i++) {
		size_t pl = strlen(b[i].prefix);
		if (strncmp(name, b[i].prefix, pl) != 0 || name[pl] != '.')
			continue;
		const char *d = name + pl + 1;
		/* the expert index: decimal, no leading zero, below E; the
		 * loop stops long before e * 10 could overflow */
		uint64_t e = 0;
		size_t nd = 0;
		while (d[nd] >= '0' && d[nd] <= '9' && e < b[i].experts && e <= UINT64_MAX / 16)
			e = e * 10 + (uint64_t)(d[nd++] - '0');
		if (nd == 0 || d[nd] != '.' || e >= b[i].experts || (d[0] == '0' && nd > 1))
			continue;
		for (int p = 0; p < CT_PART_COUNT; p++) {
			if (strcmp(d + nd + 1, ct_moe_part_suffix(&b[i], (ct_moe_part)p)) != 0 ||
			    !ct_moe_has_part(&b[i], (ct_moe_part)p))
				continue;
			*block = &b[i];
			*expert = e;
			*part = (ct_moe_part)p;
			return true;
		}
	}
	return false;
}

void ct_moe_part_shape(const ct_moe_block *b, ct_moe_part p, int *ndim, uint64_t shape[2])
{
	switch (p) {
	case CT_PART_GATE:
	case CT_PART_UP:
		*ndim = 2;
		shape[0] = b->inter;
		shape[1] = b->hidden;
		return;
	case CT_PART_DOWN:
		*ndim = 2;
		shape[0] = b->hidden;
		shape[1] = b->inter;
		return;
	case CT_PART_GATE_BIAS:
	case CT_PART_UP_BIAS:
		*ndim = 1;
		shape[0] = b->inter;
		shape[1] = 1;
		return;
	default:
		*ndim = 1;
		shape[0] = b->hidden;
		shape[1] = 1;
		return;
	}
}

const ct_tensor *ct_moe_part_source(const ct_moe_block *b, ct_moe_part p, size_t *shard)
{
	switch (p) {
	case CT_PART_GATE:
	case CT_PART_UP:
		*shard = b->shard_gate_up;
		return b->gate_up;
	case CT_PART_DOWN:
		*shard = b->shard_down;
		return b->down;
	case CT_PART_GATE_BIAS:
	case CT_PART_UP_BIAS:
		*shard = b->shard_gate_up_bias;
		return b->gate_up_bias;
	default:
		*shard = b->shard_down_bias;
		return b->down_bias;
	}
}

const uint8_t *ct_moe_part_direct(const ct_moe_block *b, uint64_t e, ct_moe_part p)
{
	size_t shard;
	const ct_tensor *src = ct_moe_part_source(b, p, &shard);
	size_t esz = ct_dtype_size(src->dtype);
	uint64_t H = b->hidden, I = b->inter;
	bool halves = b->layout != CT_MOE_C;
	switch (p) {
	case CT_PART_GATE:
		return b->layout == CT_MOE_A ? src->data + e * 2 * I * H * esz : NULL;
	case CT_PART_UP:
		return b->layout == CT_MOE_A ? src->data + (e * 2 * I + I) * H * esz : NULL;
	case CT_PART_DOWN:
		return b->layout == CT_MOE_A ? src->data + e * H * I * esz : NULL;
	case CT_PART_GATE_BIAS:
		return halves ? src->data + e * 2 * I * esz : NULL;
	case CT_PART_UP_BIAS:
		return halves ? src->data + (e * 2 * I + I) * esz : NULL;
	default:
		return src->data + e * H * esz;
	}
}

/* dst[r][c] = src[r * rs + c * cs] (strides in elements) for a rows x cols
 * part, row-major. A transposing gather reads or writes with a large stride
 * either way, so it goes tile by tile, both tiles staying in cache, with
 * typed copies for the common element sizes (a memcpy of a variable size
 * per element costs a call each). */
#define GATHER_TILE 64
#define GATHER_LOOP(T)                                                                    \
	do {                                                                              \
		T *d = (T *)(void *)dst;                                                  \
		const T *s = (const T *)(const void *)src;                                \
		for (uint64_t r = r0; r < r1; r++)                                        \
			for (uint64_t c = c0; c < c1; c++)                                \
				d[r * cols + c] = s[r * rs + c * cs];                     \
	} while (0)

static void gather2d(uint8_t *dst, const uint8_t *src, uint64_t rows, uint64_t cols, uint64_t rs,
		     uint64_t cs, size_t esz)
{
	for (uint64_t r0 = 0; r0 < rows; r0 += GATHER_TILE) {
		uint64_t r1 = rows - r0 < GATHER_TILE ? rows : r0 + GATHER_TILE;
		for (uint64_t c0 = 0; c0 < cols; c0 += GATHER_TILE) {
			uint64_t c1 = cols - c0 < GATHER_TILE ? cols : c0 + GATHER_TILE;
			/* typed only where aligned: a file's data offsets need
			 * not be multiples of the element size */
			if (esz == 2 && ((uintptr_t)src | (uintptr_t)dst) % 2 == 0)
				GATHER_LOOP(uint16_t);
			else if (esz == 4 && ((uintptr_t)src | (uintptr_t)dst) % 4 == 0)
				GATHER_LOOP(uint32_t);
			else
				for (uint64_t r = r0; r < r1; r++)
					for (uint64_t c = c0; c < c1; c++)
						memcpy(dst + (r * cols + c) * esz,
						       src + (r * rs + c * cs) * esz, esz);
		}
	}
}

void ct_moe_part_gather(const ct_moe_block *b, uint64_t e, ct_moe_part p, uint8_t *dst)
{
	size_t shard;
	const ct_tensor *src = ct_moe_part_source(b, p, &shard);
	size_t esz = ct_dtype_size(src->dtype);
	uint64_t H = b->hidden, I = b->inter;
	int ndim;
	uint64_t shape[2];
	ct_moe_part_shape(b, p, &ndim, shape);
	const uint8_t *direct = ct_moe_part_direct(b, e, p);
	if (direct) {
		memcpy(dst, direct, (size_t)(shape[0] * shape[1] * esz));
		return;
	}
	const uint8_t *base;
	switch (p) {
	case CT_PART_GATE:
	case CT_PART_UP: {
		/* [H, 2I] per expert: column i of gate is I-halves or even columns */
		base = src->data + e * H * 2 * I * esz;
		bool inter = b->layout == CT_MOE_C;
		uint64_t off = p == CT_PART_UP ? (inter ? 1 : I) : 0;
		uint64_t step = inter ? 2 : 1;
		gather2d(dst, base + off * esz, I, H, step, 2 * I, esz);
		return;
	}
	case CT_PART_DOWN:
		/* [I, H] per expert, transposed to [H, I] */
		base = src->data + e * I * H * esz;
		gather2d(dst, base, H, I, 1, H, esz);
		return;
	default:
		/* interleaved bias: even entries are gate's, odd up's */
		base = src->data + e * 2 * I * esz;
		for (uint64_t i = 0; i < I; i++)
			memcpy(dst + i * esz, base + (2 * i + (p == CT_PART_UP_BIAS)) * esz, esz);
		return;
	}
}
