/*
 * src_mxfp4.c - the original gpt-oss MXFP4 release (quant_method "mxfp4"):
 * fused expert tensors as *_blocks / *_scales, split per expert into
 * mxfp4-pack-quantized modules, the same bytes moved.
 *
 * Source layout, per experts module P ("model.layers.N.mlp.experts"), as
 * transformers' Mxfp4GptOssExperts declares it (integrations/mxfp4.py):
 *   1. P.gate_up_proj_blocks U8 [E, 2I, H/32, 16]: 16 bytes = 32 E2M1
 *      codes per block, low nibble = even element, high = odd;
 *   2. P.gate_up_proj_scales U8 [E, 2I, H/32]: E8M0 exponents;
 *   3. P.gate_up_proj_bias [E, 2I] (BF16 on disk);
 *   4. P.down_proj_blocks U8 [E, H, I/32, 16], P.down_proj_scales U8
 *      [E, H, I/32], P.down_proj_bias [E, H].
 * Rows are output features ([out, in] as nn.Linear); the gate_up rows are
 * interleaved: row 2r is gate row r, row 2r+1 up row r (transformers'
 * convert_moe_packed_tensors dequantizes to [E, 2I, H] and transposes to
 * the bf16 [E, H, 2I], where GptOssExperts takes gate = [..., ::2]; vLLM's
 * gpt_oss.py views the blocks as (E, 2N, -1) and keeps the interleave).
 * Dequantization (convert_moe_packed_tensors): lut[code] * 2^(scale - 127)
 * with lut = +-{0, 0.5, 1, 1.5, 2, 3, 4, 6} (code = sign << 3 | index),
 * exact in F32 and BF16 for every exponent this reader accepts.
 *
 * Output, per expert e, under the names `quantize` gives layout C
 * (moe.h): P.e.{gate_proj,up_proj,down_proj}.weight_packed U8 [out, in/2]
 * (a source row's 16-byte blocks are one row of CT nibbles, the same bit
 * order), .weight_scale U8 [out, in/32] (the same exponents), .bias split
 * like the rows (dense, same dtype). The scheme is the MXFP4A16 preset's
 * weights; modules_to_not_convert (regexes that transformers applies with
 * re.match) become "re:" ignore entries, which compressed-tensors also
 * applies with re.match.
 */
#include "convert.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

enum { T_BLOCKS, T_SCALES };
enum { P_GATE, P_UP, P_DOWN };

#define MX_GROUP 32
#define MX_BLOCK_BYTES 16       /* 32 codes, two per byte */
/* E8M0 255 is NaN for compressed-tensors but 2^128 for transformers'
 * ldexp, and 253/254 make 6 * 2^(e-127) overflow F32: no exact mapping. */
#define MX_MAX_SCALE 252
#define GATHER_BYTES (1u << 20)
#define NAME_LEN 4096

static const float fp4_lut[16] = {
	+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
	-0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
};

/* First source row of a part and the step between its rows: gate takes
 * the even rows of gate_up, up the odd ones, down every row. */
static void part_rows(int part, uint64_t *first, uint64_t *step)
{
	*first = part == P_UP ? 1 : 0;
	*step = part == P_DOWN ? 1 : 2;
}

/* The rows of one expert of a fused [E, R, ...] source (blocks, scales or
 * bias), part m->variant of expert m->slice, gathered a buffer at a time. */
static int produce_rows(const ct_conv *cv, const ct_conv_out *o, ct_emit_fn emit, void *ctx,
			ct_error *err)
{
	const ct_conv_module *m = &cv->mods[o->mod];
	const ct_tensor *t = o->src->t;
	uint64_t E = t->shape[0], R = t->shape[1], first, step;
	part_rows(m->variant, &first, &step);
	/* checked by plan: E, R > 0, R % step == 0, slice < E */
	uint64_t row = (t->end - t->begin) / E / R;
	uint64_t n = R / step;
	const uint8_t *base = t->data + m->slice * R * row;
	if (step == 1) {
		uint64_t len = n * row;
		for (uint64_t off = 0; off < len; off += GATHER_BYTES) {
			size_t k = len - off < GATHER_BYTES ? (size_t)(len - off) : GATHER_BYTES;
			int rc = emit(ctx, 0, base + off, k, err);
			if (rc)
				return rc;
		}
		return CT_OK;
	}
	uint64_t per = GATHER_BYTES / row ? GATHER_BYTES / row : 1;
	uint8_t *buf = malloc((size_t)(per * row));
	if (!buf)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	for (uint64_t r = 0; r < n && !rc; r += per) {
		uint64_t k = n - r < per ? n - r : per;
		for (uint64_t j = 0; j < k; j++)
			memcpy(buf + j * row, base + (first + (r + j) * step) * row, (size_t)row);
		rc = emit(ctx, 0, buf, (size_t)(k * row), err);
	}
	free(buf);
	return rc;
}

/* convert_moe_packed_tensors for one expert's part, F32 [rows, cols]. */
static int dequant(const ct_conv *cv, const ct_conv_module *m, float *out, ct_error *err)
{
	(void)cv;
	(void)err;
	const ct_tensor *b = m->t[T_BLOCKS]->t, *s = m->t[T_SCALES]->t;
	uint64_t R = b->shape[1], G = b->shape[2], first, step;
	part_rows(m->variant, &first, &step);
	for (uint64_t r = 0; r < m->rows; r++) {
		uint64_t sr = m->slice * R + first + r * step;
		const uint8_t *codes = b->data + sr * G * MX_BLOCK_BYTES;
		const uint8_t *exps = s->data + sr * G;
		for (uint64_t c = 0; c < m->cols; c++) {
			uint8_t byte = codes[c / 2];
			uint8_t q = c % 2 ? byte >> 4 : byte & 15u;
			out[r * m->cols + c] = ldexpf(fp4_lut[q], (int)exps[c / MX_GROUP] - 127);
		}
	}
	return CT_OK;
}

/* ------------------------------------------------------------ checks --- */

static const char *shard_of(const ct_conv *cv, const ct_tref *r)
{
	return cv->ck->shard_names[r ? r->shard : 0];
}

static int shape_text(char *buf, size_t size, const ct_tensor *t)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int d = 0; d < t->ndim && at + 24 < size; d++)
		at += (size_t)snprintf(buf + at, size - at, "%s%" PRIu64, d ? ", " : "",
				       t->shape[d]);
	return 0;
}

/* blocks U8 [E, R, G, 16] with E, R, G > 0; *rows = R, *groups = G. */
static int check_blocks(const ct_conv *cv, const ct_tref *r, uint64_t *rows, uint64_t *groups,
			ct_error *err)
{
	const ct_tensor *t = r->t;
	char got[256];
	shape_text(got, sizeof(got), t);
	if (t->dtype != CT_U8)
		return ct_fail(err, CT_EINPUT, "%s: %s: %s (MXFP4 blocks are U8, two E2M1 codes a "
			       "byte)", shard_of(cv, r), t->name, ct_dtype_name(t->dtype));
	if (t->ndim != 4 || t->shape[0] == 0 || t->shape[1] == 0 || t->shape[2] == 0)
		return ct_fail(err, CT_EINPUT, "%s: %s: U8 [%s] (expected [experts, out, in/32, 16] "
			       "with no empty dimension)", shard_of(cv, r), t->name, got);
	if (t->shape[3] != MX_BLOCK_BYTES)
		return ct_fail(err, CT_EINPUT, "%s: %s: U8 [%s]: the last dimension must be 16 bytes "
			       "(one block of 32 E2M1 codes), not %" PRIu64, shard_of(cv, r), t->name,
			       got, t->shape[3]);
	*rows = t->shape[1];
	*groups = t->shape[2];
	return CT_OK;
}

/* scales U8 = blocks.shape[:-1], every exponent <= MX_MAX_SCALE. */
static int check_scales(const ct_conv *cv, const ct_tref *blocks, const ct_tref *r,
			ct_error *err)
{
	const ct_tensor *b = blocks->t, *t = r->t;
	char got[256], want[256];
	shape_text(got, sizeof(got), t);
	shape_text(want, sizeof(want), b);
	if (t->dtype != CT_U8)
		return ct_fail(err, CT_EINPUT, "%s: %s: %s (MXFP4 scales are U8 E8M0 exponents)",
			       shard_of(cv, r), t->name, ct_dtype_name(t->dtype));
	bool ok = t->ndim == 3;
	for (int d = 0; ok && d < 3; d++)
		ok = t->shape[d] == b->shape[d];
	if (!ok)
		return ct_fail(err, CT_EINPUT, "%s: %s: U8 [%s], but %s is [%s]: the scales must be "
			       "the blocks' shape without its last dimension (one exponent per "
			       "block of 32)", shard_of(cv, r), t->name, got, b->name, want);
	for (uint64_t i = 0; i < t->nelem; i++)
		if (t->data[i] > MX_MAX_SCALE)
			return ct_fail(err, CT_EINPUT, "%s: %s: exponent %u at element %" PRIu64 " (E8M0 "
				       "255 is NaN and above %d the values overflow F32: no exact "
				       "mapping)", shard_of(cv, r), t->name, (unsigned)t->data[i], i,
				       MX_MAX_SCALE);
	return CT_OK;
}

/* bias: float [E, R], or absent. */
static int check_bias(const ct_conv *cv, const ct_tref *r, uint64_t E, uint64_t R,
		      ct_error *err)
{
	if (!r)
		return CT_OK;
	const ct_tensor *t = r->t;
	if (ct_dtype_is_float(t->dtype) && t->ndim == 2 && t->shape[0] == E && t->shape[1] == R)
		return CT_OK;
	char got[256];
	shape_text(got, sizeof(got), t);
	return ct_fail(err, CT_EINPUT, "%s: %s: %s [%s] (expected a float [%" PRIu64 ", %" PRIu64
		       "])", shard_of(cv, r), t->name, ct_dtype_name(t->dtype), got, E, R);
}

/* A config size (hidden_size, intermediate_size), when the config has
 * one, must be what the tensors say. */
static int check_config_size(const ct_conv *cv, const ct_tref *blocks, const char *key,
			     uint64_t got, ct_error *err)
{
	int64_t v;
	if (!ct_conv_int(cv->ck->config, key, -1, -1, INT64_MAX, &v) || v < 0)
		return CT_OK;
	if (v % MX_GROUP)
		return ct_fail(err, CT_EINPUT, "%s: %s %" PRId64 " is not a multiple of 32, the "
			       "MXFP4 group: %s cannot hold it", cv->label, key, v, blocks->t->name);
	if ((uint64_t)v != got)
		return ct_fail(err, CT_EINPUT, "%s: %s: holds %s %" PRIu64 ", but the config says "
			       "%" PRId64 ": inconsistent checkpoint", shard_of(cv, blocks),
			       blocks->t->name, key, got, v);
	return CT_OK;
}

/* ----------------------------------------------------------- modules --- */

static const char *const part_names[3] = { "gate_proj", "up_proj", "down_proj" };

/* Adds P.e.<part> with its outputs. */
static int add_part(ct_conv *cv, const char *prefix, uint64_t e, int part,
		    const ct_tref *blocks, const ct_tref *scales, const ct_tref *bias,
		    uint64_t rows, uint64_t cols, int scheme, ct_error *err)
{
	char name[NAME_LEN], probe[NAME_LEN + 32];
	int n = snprintf(name, sizeof(name), "%s.%" PRIu64 ".%s", prefix, e, part_names[part]);
	if (n < 0 || (size_t)n >= sizeof(name))
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", prefix);
	/* the per-expert names must be new: a checkpoint holding both forms
	 * would get two tensors of one name */
	static const char *const suffixes[] = { "weight", "weight_packed", "weight_scale", "bias" };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(probe, sizeof(probe), "%s.%s", name, suffixes[i]);
		if (ct_ckpt_find(cv->ck, probe))
			return ct_fail(err, CT_EINPUT, "%s: %s: present beside the fused %s, which "
				       "splits into the same name", cv->label, probe, blocks->t->name);
	}
	ct_conv_module *m;
	int idx = ct_conv_add_module(cv, name, &m, err);
	if (idx < 0)
		return -idx;
	m->scheme = scheme;
	m->rows = rows;
	m->cols = cols;
	m->bits = 4;
	m->group_size = MX_GROUP;
	m->n_groups = cols / MX_GROUP;
	m->sym = true;
	m->variant = part;
	m->slice = e;
	m->t[T_BLOCKS] = blocks;
	m->t[T_SCALES] = scales;
	m->dequant = dequant;
	char line[NAME_LEN];
	snprintf(line, sizeof(line), "gpt-oss MXFP4, expert %" PRIu64 ", rows %s of %s -> "
		 "mxfp4-pack-quantized (codes and E8M0 scales copied)%s", e,
		 part == P_GATE ? "0::2" : part == P_UP ? "1::2" : "0::1", blocks->t->name,
		 bias ? ", bias split alongside" : "");
	m->mapping = strdup(line);
	if (!m->mapping)
		return ct_fail(err, CT_EIO, "out of memory");
	uint64_t wp[2] = { rows, cols / 2 }, ws[2] = { rows, cols / MX_GROUP }, bs[1] = { rows };
	int rc = ct_conv_add_out(cv, (size_t)idx, "weight_packed", CT_U8, 2, wp, blocks,
				 produce_rows, err);
	if (!rc)
		rc = ct_conv_add_out(cv, (size_t)idx, "weight_scale", CT_U8, 2, ws, scales,
				     produce_rows, err);
	if (!rc && bias)
		rc = ct_conv_add_out(cv, (size_t)idx, "bias", bias->t->dtype, 1, bs, bias,
				     produce_rows, err);
	return rc;
}

/* One experts module P: both fused weights checked against each other,
 * then three modules per expert. */
static int plan_experts(ct_conv *cv, const char *prefix, int scheme, ct_error *err)
{
	size_t pl = strlen(prefix);
	if (pl < 7 || strcmp(prefix + pl - 7, "experts") != 0)
		return ct_fail(err, CT_EINPUT, "%s: %s.gate_up_proj_blocks: MXFP4 blocks outside an "
			       "experts module (convert reads gpt-oss's fused "
			       "mlp.experts.{gate_up,down}_proj_blocks)", cv->label, prefix);
	const ct_tref *gb = ct_conv_find(cv, prefix, "gate_up_proj_blocks");
	const ct_tref *gs = ct_conv_find(cv, prefix, "gate_up_proj_scales");
	const ct_tref *gbias = ct_conv_find(cv, prefix, "gate_up_proj_bias");
	const ct_tref *db = ct_conv_find(cv, prefix, "down_proj_blocks");
	const ct_tref *ds = ct_conv_find(cv, prefix, "down_proj_scales");
	const ct_tref *dbias = ct_conv_find(cv, prefix, "down_proj_bias");
	if (!gb)
		return ct_fail(err, CT_EINPUT, "%.200s...: tensor name too long", prefix);
	if (!gs)
		return ct_fail(err, CT_EINPUT, "%s: %s: no %s.gate_up_proj_scales (MXFP4 blocks "
			       "need their E8M0 scales)", shard_of(cv, gb), gb->t->name, prefix);
	if (!db)
		return ct_fail(err, CT_EINPUT, "%s: %s: no %s.down_proj_blocks beside it (a gpt-oss "
			       "experts module has both)", shard_of(cv, gb), gb->t->name, prefix);
	if (!ds)
		return ct_fail(err, CT_EINPUT, "%s: %s: no %s.down_proj_scales (MXFP4 blocks need "
			       "their E8M0 scales)", shard_of(cv, db), db->t->name, prefix);
	uint64_t R2, GH, H, GI;
	int rc = check_blocks(cv, gb, &R2, &GH, err);
	if (!rc)
		rc = check_blocks(cv, db, &H, &GI, err);
	if (rc)
		return rc;
	uint64_t E = gb->t->shape[0];
	/* from here on products of dimensions are bounded by the tensors'
	 * element counts, which the reader checked against the file */
	if (R2 % 2)
		return ct_fail(err, CT_EINPUT, "%s: %s: %" PRIu64 " rows, odd: gate and up are "
			       "interleaved by row and must have as many each", shard_of(cv, gb),
			       gb->t->name, R2);
	uint64_t I = R2 / 2;
	/* the multiple-of-32 clause only where intermediate is none: a
	 * mismatch of E or H, or of down's own blocks, is said as it is */
	char why[96] = "";
	if (I % MX_GROUP)
		snprintf(why, sizeof(why), ", and intermediate %" PRIu64 " is not a multiple of 32",
			 I);
	if (db->t->shape[0] != E || H != GH * MX_GROUP || GI * MX_GROUP != I)
		return ct_fail(err, CT_EINPUT, "%s: %s [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", 16] "
			       "does not match %s [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", 16]: "
			       "expected [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", 16] (experts, hidden, "
			       "intermediate/32)%s", shard_of(cv, db), db->t->name, db->t->shape[0], H,
			       GI, gb->t->name, E, R2, GH, E, GH * MX_GROUP, I / MX_GROUP, why);
	if (!rc)
		rc = check_scales(cv, gb, gs, err);
	if (!rc)
		rc = check_scales(cv, db, ds, err);
	if (!rc)
		rc = check_bias(cv, gbias, E, R2, err);
	if (!rc)
		rc = check_bias(cv, dbias, E, H, err);
	if (!rc)
		rc = check_config_size(cv, gb, "hidden_size", H, err);
	if (!rc)
		rc = check_config_size(cv, gb, "intermediate_size", I, err);
	for (uint64_t e = 0; !rc && e < E; e++) {
		rc = add_part(cv, prefix, e, P_GATE, gb, gs, gbias, I, H, scheme, err);
		if (!rc)
			rc = add_part(cv, prefix, e, P_UP, gb, gs, gbias, I, H, scheme, err);
		if (!rc)
			rc = add_part(cv, prefix, e, P_DOWN, db, ds, dbias, H, I, scheme, err);
	}
	/* biases split into outputs; a module with no expert still reads them */
	ct_conv_consume(cv, gbias);
	ct_conv_consume(cv, dbias);
	return rc;
}

/* modules_to_not_convert: transformers skips a module when re.match(key)
 * finds it (should_convert_module); "re:" + key is the same test in
 * compressed-tensors. */
static int not_convert(ct_conv *cv, const json_t *list, ct_error *err)
{
	if (!list || json_is_null(list))
		return CT_OK;
	if (!json_is_array(list))
		return ct_fail(err, CT_EINPUT, "%s: modules_to_not_convert: expected a list of "
			       "strings", cv->label);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return ct_fail(err, CT_EINPUT, "%s: modules_to_not_convert: expected strings",
				       cv->label);
		strbuf sb;
		sb_init(&sb);
		sb_printf(&sb, "re:%s", json_string_value(v));
		int rc = sb.data ? ct_conv_ignore_pattern(cv, "modules_to_not_convert", i, sb.data,
							  err) : ct_fail(err, CT_EIO, "out of memory");
		sb_free(&sb);
		if (rc)
			return rc;
	}
	return CT_OK;
}

static bool ends_with(const ct_tensor *t, const char *suffix)
{
	size_t sl = strlen(suffix);
	return t->name_len >= sl && strcmp(t->name + t->name_len - sl, suffix) == 0;
}

static int mxfp4_plan(ct_conv *cv, ct_error *err)
{
	int rc = not_convert(cv, json_object_get(cv->qcfg, "modules_to_not_convert"), err);
	if (rc)
		return rc;
	/* the MXFP4A16 preset's weights; no activation quantization */
	json_t *w = json_pack("{s:i, s:s, s:s, s:i, s:b, s:b, s:s, s:s}", "num_bits", 4, "type",
			      "float", "strategy", "group", "group_size", MX_GROUP, "symmetric", 1,
			      "dynamic", 0, "scale_dtype", "torch.uint8", "observer",
			      "memoryless_minmax");
	int sc = ct_conv_scheme(cv, w ? json_pack("{s:o, s:n, s:s}", "weights", w,
						  "input_activations", "format",
						  "mxfp4-pack-quantized") : NULL, err);
	if (sc < 0)
		return -sc;
	char **mods = NULL;
	size_t n = 0;
	rc = ct_conv_modules_with(cv, ".gate_up_proj_blocks", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = plan_experts(cv, mods[i], sc, err);
	ct_conv_names_free(mods, n);
	/* every other MXFP4 tensor is of a layout this reader does not know:
	 * copied as it is, it would be served as garbage */
	for (size_t i = 0; !rc && i < cv->ck->n_tensors; i++) {
		const ct_tref *r = &cv->ck->tensors[i];
		if (cv->consumed[i])
			continue;
		if (ends_with(r->t, "_scales"))
			rc = ct_fail(err, CT_EINPUT, "%s: %s: MXFP4 scales without their blocks (gpt-oss "
				     "pairs each *_scales with a *_blocks of the same module)",
				     shard_of(cv, r), r->t->name);
		else if (ends_with(r->t, "experts.down_proj_blocks"))
			rc = ct_fail(err, CT_EINPUT, "%s: %s: no gate_up_proj_blocks beside it (a gpt-oss "
				     "experts module has both)", shard_of(cv, r), r->t->name);
		else if (ends_with(r->t, "_blocks"))
			rc = ct_fail(err, CT_EINPUT, "%s: %s: MXFP4 blocks of a layout convert does not "
				     "read (gpt-oss: mlp.experts.gate_up_proj_blocks with "
				     "down_proj_blocks)", shard_of(cv, r), r->t->name);
	}
	return rc;
}

static bool mxfp4_detect(const json_t *q, const json_t *hfq)
{
	(void)hfq;
	const char *m = ct_conv_str(q, "quant_method");
	return m && strcmp(m, "mxfp4") == 0;
}

const ct_source ct_src_mxfp4 = {
	.name = "mxfp4",
	.help = "gpt-oss MXFP4 (quant_method mxfp4): fused expert *_blocks/*_scales, per expert",
	.detect = mxfp4_detect,
	.plan = mxfp4_plan,
};
