/*
 * qconfig.c - the compressed-tensors quantization_config (FORMAT.md §4.1, §5):
 * parsing with the library's validation, the preset schemes of CT 0.18.0,
 * normalization (format inference, refusal of what needs calibration data)
 * and writing the object back as the library writes it.
 *
 * Errors read "LABEL: field.path: what is wrong (what is allowed)".
 */
#include "qconfig.h"
#include "suggest.h"
#include "strbuf.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ---------------------------------------------------------------- limits --- */

/* Config groups in one config (real ones have a handful). */
#define CT_QCONFIG_MAX_GROUPS 4096
/* Entries of one targets/ignore list (MoE models list thousands of gates). */
#define CT_QCONFIG_MAX_LIST (1u << 20)
/* Largest group_size and block dimension (codecs do int64 arithmetic on them). */
#define CT_QCONFIG_MAX_GROUP_SIZE INT32_MAX
/* Largest MAJOR or MINOR of a version string. */
#define CT_QCONFIG_MAX_VERSION_PART 1000000
/* Bit widths ctensors implements (the library allows int up to 32). */
#define CT_QCONFIG_INT_BITS_MIN 1
#define CT_QCONFIG_INT_BITS_MAX 8
/* Field paths in messages ("config_groups.group_0.weights.num_bits"). */
#define CT_QCONFIG_PATH_MAX 512
/* Bytes of an untrusted value quoted in a message before it is cut. */
#define CT_QCONFIG_SHOW_MAX 64
/* What the library version ctensors emulates writes. */
#define CT_QCONFIG_VERSION "0.18.0"
#define CT_QCONFIG_VERSION_MAJOR 0
#define CT_QCONFIG_VERSION_MINOR 18
#define CT_QCONFIG_QUANT_METHOD "compressed-tensors"
#define CT_QCONFIG_STATUS_COMPRESSED "compressed"
/* Observer names a static weight default to / that ctensors reproduces. */
#define CT_OBS_MEMORYLESS_MINMAX "memoryless_minmax"
#define CT_OBS_MINMAX "minmax"
#define CT_OBS_STATIC_MINMAX "static_minmax"
/* Group sizes the fp4/mx formats fix. */
#define CT_NVFP4_GROUP 16
#define CT_MX_GROUP 32

/* ----------------------------------------------------------------- names --- */

static const char *const format_names[CT_FMT_COUNT] = {
	[CT_FMT_NONE] = NULL,
	[CT_FMT_DENSE] = "dense",
	[CT_FMT_NAIVE] = "naive-quantized",
	[CT_FMT_INT] = "int-quantized",
	[CT_FMT_FLOAT] = "float-quantized",
	[CT_FMT_PACK] = "pack-quantized",
	[CT_FMT_NVFP4] = "nvfp4-pack-quantized",
	[CT_FMT_MXFP4] = "mxfp4-pack-quantized",
	[CT_FMT_MXFP8] = "mxfp8-quantized",
	[CT_FMT_MIXED] = "mixed-precision",
	[CT_FMT_SPARSE_BITMASK] = "sparse-bitmask",
	[CT_FMT_SPARSE_24] = "sparse-24-bitmask",
	[CT_FMT_MARLIN_24] = "marlin-24",
};
#define FORMATS_ALLOWED "dense, naive-quantized, int-quantized, float-quantized, " \
	"pack-quantized, nvfp4-pack-quantized, mxfp4-pack-quantized, mxfp8-quantized, " \
	"mixed-precision, sparse-bitmask, sparse-24-bitmask, marlin-24"

const char *ct_format_name(ct_format f)
{
	return (unsigned)f < CT_FMT_COUNT ? format_names[f] : NULL;
}

bool ct_format_from_name(const char *s, ct_format *out)
{
	if (!s)
		return false;
	for (int f = CT_FMT_NONE + 1; f < CT_FMT_COUNT; f++) {
		if (strcmp(s, format_names[f]) == 0) {
			if (out)
				*out = (ct_format)f;
			return true;
		}
	}
	return false;
}

static const char *const strategy_names[] = {
	[CT_STRAT_TENSOR] = "tensor",
	[CT_STRAT_CHANNEL] = "channel",
	[CT_STRAT_GROUP] = "group",
	[CT_STRAT_BLOCK] = "block",
	[CT_STRAT_TOKEN] = "token",
	[CT_STRAT_TENSOR_GROUP] = "tensor_group",
	[CT_STRAT_ATTN_HEAD] = "attn_head",
};
#define N_STRATEGIES (sizeof(strategy_names) / sizeof(strategy_names[0]))

static const char *strategy_name(ct_strategy s)
{
	return (unsigned)s < N_STRATEGIES ? strategy_names[s] : "?";
}

/* torch dtype spellings; the first entry of a dtype is how str(dtype) prints. */
static const struct torch_dtype {
	const char *name;
	ct_dtype dt;
} torch_dtypes[] = {
	{ "float8_e4m3fn", CT_F8_E4M3 },
	{ "float8_e5m2", CT_F8_E5M2 },
	{ "uint8", CT_U8 },
	{ "int8", CT_I8 },
	{ "int16", CT_I16 },
	{ "short", CT_I16 },
	{ "int32", CT_I32 },
	{ "int", CT_I32 },
	{ "float16", CT_F16 },
	{ "half", CT_F16 },
	{ "bfloat16", CT_BF16 },
	{ "float32", CT_F32 },
	{ "float", CT_F32 },
};
#define N_TORCH_DTYPES (sizeof(torch_dtypes) / sizeof(torch_dtypes[0]))
#define TORCH_PREFIX "torch."
#define DTYPES_ALLOWED "torch.float8_e4m3fn, torch.float8_e5m2, torch.uint8, torch.int8, " \
	"torch.int16, torch.int32, torch.float16, torch.bfloat16, torch.float32"

static const char *torch_dtype_name(ct_dtype dt)
{
	for (size_t i = 0; i < N_TORCH_DTYPES; i++)
		if (torch_dtypes[i].dt == dt)
			return torch_dtypes[i].name;
	return NULL;
}

static const char *const status_names[] = {
	"initialized", "calibration", "frozen", "compressed", "decompressed", NULL,
};

/* ASCII-only case folding: Python's .lower()/.upper() agree on every name
 * accepted here, and the C library's versions depend on the locale. */
static bool ascii_ieq(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (!x)
			return true;
	}
}

/* --------------------------------------------------------------- presets --- */

/* One QuantizationArgs of a preset, as CT 0.18.0's quant_scheme.py writes it. */
typedef struct preset_args {
	int bits;
	ct_qtype type;
	bool asym;
	ct_strategy strategy;
	int64_t group_size;        /* 0: none */
	int64_t block;             /* block_structure [block, block]; 0: none */
	ct_dynamic dynamic;
	ct_dtype scale_dtype;
	bool has_scale_dtype;
	const char *observer;      /* NULL: the default */
} preset_args;

typedef struct preset {
	const char *name;
	bool has_w, has_in;
	preset_args w, in;
	const char *use;           /* refused: the closest data-free preset */
	const char *use_why;
} preset;

#define INT_W(b, g) { .bits = (b), .type = CT_QTYPE_INT, .strategy = CT_STRAT_GROUP, .group_size = (g) }
#define INT_TOKEN_A(b) { .bits = (b), .type = CT_QTYPE_INT, .strategy = CT_STRAT_TOKEN, .dynamic = CT_DYN_TRUE }
#define FP8_TOKEN_A { .bits = 8, .type = CT_QTYPE_FLOAT, .strategy = CT_STRAT_TOKEN, .dynamic = CT_DYN_TRUE }
#define NVFP4_ARGS(dyn, obs) { .bits = 4, .type = CT_QTYPE_FLOAT, .strategy = CT_STRAT_TENSOR_GROUP, \
	.group_size = CT_NVFP4_GROUP, .dynamic = (dyn), .scale_dtype = CT_F8_E4M3, .has_scale_dtype = true, \
	.observer = (obs) }
#define MX_ARGS(b, dyn) { .bits = (b), .type = CT_QTYPE_FLOAT, .strategy = CT_STRAT_GROUP, \
	.group_size = CT_MX_GROUP, .dynamic = (dyn), .scale_dtype = CT_U8, .has_scale_dtype = true }
#define INT_CH_W(b) { .bits = (b), .type = CT_QTYPE_INT, .strategy = CT_STRAT_CHANNEL }
#define FP8_W(strat) { .bits = 8, .type = CT_QTYPE_FLOAT, .strategy = (strat) }
#define W_ONLY(n, wa) { .name = (n), .has_w = true, .w = wa }
#define W_A(n, wa, ia) { .name = (n), .has_w = true, .w = wa, .has_in = true, .in = ia }

/* CT 0.18.0 PRESET_SCHEMES plus its W{2..7}A{4,8,16} family (FORMAT.md §5.5). */
static const preset presets[] = {
	{ .name = "UNQUANTIZED", .use = NULL, .use_why = "nothing to quantize" },
	W_ONLY("W8A16", INT_W(8, 128)),
	W_ONLY("W4A16", INT_W(4, 128)),
	{ .name = "W4A16_ASYM", .has_w = true,
	  .w = { .bits = 4, .type = CT_QTYPE_INT, .asym = true, .strategy = CT_STRAT_GROUP,
		 .group_size = 128 } },
	W_A("W8A8", INT_CH_W(8), INT_TOKEN_A(8)),
	W_A("INT8", INT_CH_W(8), INT_TOKEN_A(8)),
	W_A("W4A8", INT_W(4, 128), INT_TOKEN_A(8)),
	W_A("W4AFP8", INT_W(4, 128), FP8_TOKEN_A),
	W_A("W2A4", INT_W(2, 128), INT_TOKEN_A(4)),
	W_A("W2A8", INT_W(2, 128), INT_TOKEN_A(8)),
	W_ONLY("W2A16", INT_W(2, 128)),
	W_A("W3A4", INT_W(3, 128), INT_TOKEN_A(4)),
	W_A("W3A8", INT_W(3, 128), INT_TOKEN_A(8)),
	W_ONLY("W3A16", INT_W(3, 128)),
	W_A("W4A4", INT_W(4, 128), INT_TOKEN_A(4)),
	W_A("W5A8", INT_W(5, 128), INT_TOKEN_A(8)),
	W_ONLY("W5A16", INT_W(5, 128)),
	W_A("W6A8", INT_W(6, 128), INT_TOKEN_A(8)),
	W_ONLY("W6A16", INT_W(6, 128)),
	W_A("W7A8", INT_W(7, 128), INT_TOKEN_A(8)),
	W_ONLY("W7A16", INT_W(7, 128)),
	{ .name = "FP8", .has_w = true, .has_in = true,
	  .w = FP8_W(CT_STRAT_TENSOR),
	  .in = { .bits = 8, .type = CT_QTYPE_FLOAT, .strategy = CT_STRAT_TENSOR,
		  .observer = CT_OBS_STATIC_MINMAX },
	  .use = "FP8_DYNAMIC", .use_why = "dynamic activation scales" },
	W_A("FP8_DYNAMIC", FP8_W(CT_STRAT_CHANNEL), FP8_TOKEN_A),
	{ .name = "FP8_BLOCK", .has_w = true, .has_in = true,
	  .w = { .bits = 8, .type = CT_QTYPE_FLOAT, .strategy = CT_STRAT_BLOCK, .block = 128 },
	  .in = { .bits = 8, .type = CT_QTYPE_FLOAT, .strategy = CT_STRAT_GROUP,
		  .group_size = 128, .dynamic = CT_DYN_TRUE } },
	W_ONLY("NVFP4A16", NVFP4_ARGS(CT_DYN_FALSE, NULL)),
	{ .name = "NVFP4", .has_w = true, .has_in = true,
	  .w = NVFP4_ARGS(CT_DYN_FALSE, NULL),
	  .in = NVFP4_ARGS(CT_DYN_LOCAL, CT_OBS_STATIC_MINMAX),
	  .use = "NVFP4A16", .use_why = "weights only" },
	W_ONLY("MXFP4A16", MX_ARGS(4, CT_DYN_FALSE)),
	W_A("MXFP4", MX_ARGS(4, CT_DYN_FALSE), MX_ARGS(4, CT_DYN_TRUE)),
	W_ONLY("MXFP8A16", MX_ARGS(8, CT_DYN_FALSE)),
	W_A("MXFP8", MX_ARGS(8, CT_DYN_FALSE), MX_ARGS(8, CT_DYN_TRUE)),
};
#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

/* The accepted ones, in the order of the table above. */
static const char *const preset_names[] = {
	"W8A16", "W4A16", "W4A16_ASYM", "W8A8", "INT8", "W4A8", "W4AFP8",
	"W2A4", "W2A8", "W2A16", "W3A4", "W3A8", "W3A16", "W4A4", "W5A8", "W5A16",
	"W6A8", "W6A16", "W7A8", "W7A16", "FP8_DYNAMIC", "FP8_BLOCK", "NVFP4A16",
	"MXFP4A16", "MXFP4", "MXFP8A16", "MXFP8", NULL,
};

const char *const *ct_qconfig_preset_names(void)
{
	return preset_names;
}

static const preset *preset_find(const char *name)
{
	for (size_t i = 0; i < N_PRESETS; i++)
		if (ascii_ieq(name, presets[i].name))
			return &presets[i];
	return NULL;
}

/* ----------------------------------------------------------- small utils --- */

typedef struct pctx {
	const char *label;
	ct_error *err;
} pctx;

static const char *show(char *dst, size_t size, const char *s)
{
	return ct_show(dst, size, s, CT_QCONFIG_SHOW_MAX);
}
/* Enough for show() of CT_QCONFIG_SHOW_MAX bytes, all escaped. */
#define SHOW_BUF (4 * CT_QCONFIG_SHOW_MAX + 16)

static int fail_at(const pctx *p, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(const pctx *p, const char *path, const char *fmt, ...)
{
	char what[CT_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (path && *path)
		return ct_fail(p->err, CT_EINPUT, "%s: %s: %s", p->label, path, what);
	return ct_fail(p->err, CT_EINPUT, "%s: %s", p->label, what);
}

static int oom(const pctx *p, const char *path)
{
	return ct_fail(p->err, CT_EIO, "%s: %s: out of memory", p->label, path);
}

/* dst (CT_QCONFIG_PATH_MAX bytes) = a + b, cut to fit; dst may not alias b. */
static void path_cat(char *dst, const char *a, const char *b)
{
	size_t la = strnlen(a, CT_QCONFIG_PATH_MAX - 1);
	size_t lb = strnlen(b, CT_QCONFIG_PATH_MAX - 1 - la);
	memmove(dst, a, la);
	memcpy(dst + la, b, lb);
	dst[la + lb] = '\0';
}

/* dst = base + "." + key (key shown safely). */
static void path_key(char *dst, const char *base, const char *key)
{
	char k[SHOW_BUF + 1];
	k[0] = '.';
	show(k + 1, sizeof(k) - 1, key);
	if (base && *base)
		path_cat(dst, base, k);
	else
		path_cat(dst, "", k + 1);
}

static void path_index(char *dst, const char *base, size_t i)
{
	char idx[32];
	snprintf(idx, sizeof(idx), "[%zu]", i);
	path_cat(dst, base, idx);
}

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* "; did you mean 'x'?" for word among cands (NULL-terminated), or "". */
static const char *near_text(const char *word, const char *const *cands, char *buf,
			     size_t size)
{
	size_t n = 0;
	while (cands[n])
		n++;
	char near[160];
	if (size < 2 || !ct_suggest(word, cands, n, NULL, near, sizeof(near))) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	snprintf(buf, size, "; did you mean %s?", near);
	return buf;
}

/* Every key of obj must be in keys. */
static int check_keys(const pctx *p, const char *path, const json_t *obj,
		      const char *const *keys, const char *allowed)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		if (!in_list(k, keys)) {
			char sub[CT_QCONFIG_PATH_MAX];
			path_key(sub, path, k);
			char near[200];
			return fail_at(p, sub, "unknown key%s (allowed: %s)",
				       near_text(k, keys, near, sizeof(near)), allowed);
		}
	}
	return CT_OK;
}

/* A JSON string as a C string: refuses embedded NULs, which C cannot carry. */
static int get_string(const pctx *p, const char *path, const json_t *v, const char **out)
{
	if (!json_is_string(v))
		return fail_at(p, path, "expected a string, got %s", jtype(v));
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return fail_at(p, path, "string holds a NUL character");
	*out = s;
	return CT_OK;
}

static int get_int(const pctx *p, const char *path, const json_t *v, json_int_t *out)
{
	if (!json_is_integer(v))
		return fail_at(p, path, "expected an integer, got %s", jtype(v));
	*out = json_integer_value(v);
	return CT_OK;
}

static int get_bool(const pctx *p, const char *path, const json_t *v, bool *out)
{
	if (!json_is_boolean(v))
		return fail_at(p, path, "expected true or false, got %s", jtype(v));
	*out = json_is_true(v);
	return CT_OK;
}

static int dup_string(const pctx *p, const char *path, const char *s, char **out)
{
	*out = strdup(s);
	return *out ? CT_OK : oom(p, path);
}

/* Checks that every "re:" entry compiles (Python syntax, FORMAT.md §5.6). */
static int check_patterns(const pctx *p, const char *path, char **v, size_t n)
{
	char what[CT_QCONFIG_PATH_MAX + CT_ERROR_MSG_MAX / 4];
	snprintf(what, sizeof(what), "%.*s: %s", CT_ERROR_MSG_MAX / 4, p->label, path);
	ct_matcher *m = NULL;
	int rc = ct_matcher_new((const char *const *)v, n, what, &m, p->err);
	ct_matcher_free(m);
	return rc;
}

/* A list of strings (targets, ignore); null reads as empty when allow_null. */
static int strlist_parse(const pctx *p, const char *path, const json_t *v, bool allow_null,
			 bool nonempty, char ***out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	if (json_is_null(v) && allow_null && !nonempty)
		return CT_OK;
	if (!json_is_array(v))
		return fail_at(p, path, "expected a list of strings, got %s", jtype(v));
	size_t n = json_array_size(v);
	if (nonempty && n == 0)
		return fail_at(p, path, "empty list (at least one module name, re: pattern "
			       "or Linear)");
	if (n > CT_QCONFIG_MAX_LIST)
		return fail_at(p, path, "%zu entries (at most %u)", n, CT_QCONFIG_MAX_LIST);
	char **list = calloc(n ? n : 1, sizeof(*list));
	if (!list)
		return oom(p, path);
	int rc = CT_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		char sub[CT_QCONFIG_PATH_MAX];
		const char *s;
		path_index(sub, path, i);
		rc = get_string(p, sub, json_array_get(v, i), &s);
		if (!rc)
			rc = dup_string(p, sub, s, &list[i]);
	}
	if (!rc)
		rc = check_patterns(p, path, list, n);
	if (rc) {
		strv_free(list, n);
		return rc;
	}
	*out = list;
	*n_out = n;
	return CT_OK;
}

/* ----------------------------------------------------- QuantizationArgs --- */

static const char *const qargs_keys[] = {
	"actorder", "block_structure", "dynamic", "group_size", "num_bits", "observer",
	"observer_kwargs", "scale_dtype", "strategy", "symmetric", "type", "zp_dtype", NULL,
};
#define QARGS_ALLOWED "actorder, block_structure, dynamic, group_size, num_bits, " \
	"observer, observer_kwargs, scale_dtype, strategy, symmetric, type, zp_dtype"

static void qargs_free(ct_qargs *a)
{
	if (!a)
		return;
	free(a->observer);
	json_decref(a->observer_kwargs);
	free(a);
}

/* The library's defaults (num_bits 8, int, symmetric, static, no groups). */
static ct_qargs *qargs_new(void)
{
	ct_qargs *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->num_bits = 8;
	a->type = CT_QTYPE_INT;
	a->symmetric = true;
	a->strategy = CT_STRAT_TENSOR;
	a->dynamic = CT_DYN_FALSE;
	a->actorder = CT_ACT_NONE;
	a->observer_kwargs = json_object();
	if (!a->observer_kwargs) {
		free(a);
		return NULL;
	}
	return a;
}

static bool group_like(ct_strategy s)
{
	return s == CT_STRAT_GROUP || s == CT_STRAT_TENSOR_GROUP;
}

/* The library's model validator (quant_args.py validate_model_after) plus
 * ctensors' bit-width limits; path names the args object. */
static int qargs_validate(const pctx *p, const char *path, const ct_qargs *a)
{
	char sub[CT_QCONFIG_PATH_MAX];
	const char *strat = strategy_name(a->strategy);
	if (a->type == CT_QTYPE_INT
	    ? (a->num_bits < CT_QCONFIG_INT_BITS_MIN || a->num_bits > CT_QCONFIG_INT_BITS_MAX)
	    : (a->num_bits != 4 && a->num_bits != 8)) {
		path_key(sub, path, "num_bits");
		return fail_at(p, sub, "%d bits is not supported for type %s (ctensors supports "
			       "%d to %d bits for int, 4 or 8 for float)", a->num_bits,
			       a->type == CT_QTYPE_INT ? "int" : "float",
			       CT_QCONFIG_INT_BITS_MIN, CT_QCONFIG_INT_BITS_MAX);
	}
	if (a->strategy == CT_STRAT_TOKEN && a->dynamic == CT_DYN_FALSE) {
		path_key(sub, path, "dynamic");
		return fail_at(p, sub, "strategy token needs dynamic true (static token "
			       "quantization is impossible)");
	}
	if (group_like(a->strategy) && (!a->has_group_size || a->group_size <= 0)) {
		path_key(sub, path, "group_size");
		return fail_at(p, sub, "strategy %s needs a positive group_size", strat);
	}
	if (a->has_group_size && a->group_size > 0 && !group_like(a->strategy)) {
		path_key(sub, path, "group_size");
		return fail_at(p, sub, "%lld needs strategy group or tensor_group (strategy is %s)",
			       (long long)a->group_size, strat);
	}
	if ((a->strategy == CT_STRAT_BLOCK) != a->has_block) {
		path_key(sub, path, "block_structure");
		if (a->has_block)
			return fail_at(p, sub, "given but strategy is %s (block_structure needs "
				       "strategy block)", strat);
		return fail_at(p, sub, "strategy block needs block_structure [rows, cols]");
	}
	if (a->actorder == CT_ACT_GROUP && !group_like(a->strategy)) {
		path_key(sub, path, "actorder");
		return fail_at(p, sub, "\"group\" needs strategy group or tensor_group (strategy "
			       "is %s)", strat);
	}
	if (a->dynamic != CT_DYN_FALSE) {
		path_key(sub, path, "dynamic");
		if (a->strategy != CT_STRAT_TOKEN && a->strategy != CT_STRAT_TENSOR &&
		    !group_like(a->strategy))
			return fail_at(p, sub, "dynamic quantization needs strategy token, tensor, "
				       "group or tensor_group (strategy is %s)", strat);
		if (a->dynamic == CT_DYN_LOCAL && a->strategy != CT_STRAT_TENSOR_GROUP)
			return fail_at(p, sub, "\"local\" needs strategy tensor_group (strategy is %s)",
				       strat);
	}
	return CT_OK;
}

/* What the validator fills in: the observer (dynamic -> none, "local" ->
 * minmax, static -> memoryless_minmax) and zp_dtype (kept only when
 * asymmetric, as the library writes null otherwise). */
static int qargs_fill(ct_qargs *a)
{
	if (a->dynamic == CT_DYN_TRUE) {
		free(a->observer);
		a->observer = NULL;
	} else if (!a->observer) {
		a->observer = strdup(a->dynamic == CT_DYN_LOCAL ? CT_OBS_MINMAX
							: CT_OBS_MEMORYLESS_MINMAX);
		if (!a->observer)
			return CT_EIO;
	}
	if (a->symmetric) {
		a->has_zp_dtype = false;
	} else if (!a->has_zp_dtype) {
		a->has_zp_dtype = true;
		a->zp_dtype = a->type == CT_QTYPE_FLOAT ? CT_F8_E4M3 : CT_I8;
	}
	return CT_OK;
}

static int parse_dtype(const pctx *p, const char *path, const json_t *v, bool *has,
		       ct_dtype *out)
{
	*has = false;
	if (json_is_null(v))
		return CT_OK;
	const char *s;
	int rc = get_string(p, path, v, &s);
	if (rc)
		return rc;
	const char *name = s;
	if (strncmp(name, TORCH_PREFIX, strlen(TORCH_PREFIX)) == 0)
		name += strlen(TORCH_PREFIX);
	for (size_t i = 0; i < N_TORCH_DTYPES; i++) {
		if (strcmp(name, torch_dtypes[i].name) == 0) {
			*has = true;
			*out = torch_dtypes[i].dt;
			return CT_OK;
		}
	}
	char shown[SHOW_BUF];
	return fail_at(p, path, "\"%s\" is not a supported torch dtype (%s)",
		       show(shown, sizeof(shown), s), DTYPES_ALLOWED);
}

/* block_structure: [rows, cols], or the "RxC" string of CT <= 0.10. */
static int parse_block(const pctx *p, const char *path, const json_t *v, ct_qargs *a)
{
	static const char *const want = "expected [rows, cols] with two positive integers "
		"(or a legacy \"RxC\" string)";
	if (json_is_null(v))
		return CT_OK;
	long long dims[2];
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		for (int k = 0; k < 2; k++) {
			if (*s < '0' || *s > '9')
				return fail_at(p, path, "%s", want);
			long long d = 0;
			for (; *s >= '0' && *s <= '9'; s++) {
				d = d * 10 + (*s - '0');
				if (d > CT_QCONFIG_MAX_GROUP_SIZE)
					return fail_at(p, path, "block dimension too large (at most "
						       "%d)", CT_QCONFIG_MAX_GROUP_SIZE);
			}
			dims[k] = d;
			if (k == 0 && *s++ != 'x')
				return fail_at(p, path, "%s", want);
		}
		if (*s || (size_t)(s - json_string_value(v)) != json_string_length(v))
			return fail_at(p, path, "%s", want);
	} else if (json_is_array(v)) {
		if (json_array_size(v) != 2)
			return fail_at(p, path, "%s; got %zu entries", want, json_array_size(v));
		for (size_t k = 0; k < 2; k++) {
			const json_t *e = json_array_get(v, k);
			if (!json_is_integer(e))
				return fail_at(p, path, "%s; entry %zu is %s", want, k, jtype(e));
			json_int_t d = json_integer_value(e);
			if (d > CT_QCONFIG_MAX_GROUP_SIZE)
				return fail_at(p, path, "block dimension too large (at most %d)",
					       CT_QCONFIG_MAX_GROUP_SIZE);
			dims[k] = (long long)d;
		}
	} else {
		return fail_at(p, path, "%s; got %s", want, jtype(v));
	}
	if (dims[0] <= 0 || dims[1] <= 0)
		return fail_at(p, path, "%s; got [%lld, %lld]", want, dims[0], dims[1]);
	a->has_block = true;
	a->block[0] = dims[0];
	a->block[1] = dims[1];
	return CT_OK;
}

/* Reads the members of one QuantizationArgs object into a (defaults set). */
static int qargs_read(const pctx *p, const char *path, const json_t *obj, ct_qargs *a,
		      bool *has_strategy)
{
	char sub[CT_QCONFIG_PATH_MAX];
	char shown[SHOW_BUF];
	const json_t *v;
	const char *s;
	json_int_t n = 0;
	int rc;

#define FIELD(key) ((v = json_object_get(obj, key)) != NULL && (path_key(sub, path, key), 1))
	if (FIELD("type")) {
		if ((rc = get_string(p, sub, v, &s)))
			return rc;
		if (ascii_ieq(s, "int"))
			a->type = CT_QTYPE_INT;
		else if (ascii_ieq(s, "float"))
			a->type = CT_QTYPE_FLOAT;
		else {
			static const char *const types[] = { "int", "float", NULL };
			char near[200];
			return fail_at(p, sub, "\"%s\" is not a quantization type%s (int or float)",
				       show(shown, sizeof(shown), s),
				       near_text(s, types, near, sizeof(near)));
		}
	}
	if (FIELD("num_bits")) {
		if ((rc = get_int(p, sub, v, &n)))
			return rc;
		if (n < 1 || n > CT_QCONFIG_INT_BITS_MAX)
			return fail_at(p, sub, "%lld bits is not supported (ctensors supports %d to "
				       "%d bits for int, 4 or 8 for float)", (long long)n,
				       CT_QCONFIG_INT_BITS_MIN, CT_QCONFIG_INT_BITS_MAX);
		a->num_bits = (int)n;
	}
	if (FIELD("symmetric") && (rc = get_bool(p, sub, v, &a->symmetric)))
		return rc;
	if (FIELD("group_size") && !json_is_null(v)) {
		if ((rc = get_int(p, sub, v, &n)))
			return rc;
		if (n == 0 || n < -1)
			return fail_at(p, sub, "%lld is invalid (null, -1 for channel, or a positive "
				       "group size)", (long long)n);
		if (n > CT_QCONFIG_MAX_GROUP_SIZE)
			return fail_at(p, sub, "%lld is too large (at most %d)", (long long)n,
				       CT_QCONFIG_MAX_GROUP_SIZE);
		a->has_group_size = true;
		a->group_size = n;
	}
	if (FIELD("strategy") && !json_is_null(v)) {
		if ((rc = get_string(p, sub, v, &s)))
			return rc;
		size_t k;
		for (k = 0; k < N_STRATEGIES; k++)
			if (ascii_ieq(s, strategy_names[k]))
				break;
		if (k == N_STRATEGIES) {
			static const char *const strats[] = { "tensor", "channel", "group", "block",
							      "token", "tensor_group", "attn_head",
							      NULL };
			char near[200];
			return fail_at(p, sub, "\"%s\" is not a strategy%s (tensor, channel, group, "
				       "block, token, tensor_group, attn_head)",
				       show(shown, sizeof(shown), s),
				       near_text(s, strats, near, sizeof(near)));
		}
		a->strategy = (ct_strategy)k;
		*has_strategy = true;
	}
	if (FIELD("block_structure") && (rc = parse_block(p, sub, v, a)))
		return rc;
	if (FIELD("dynamic")) {
		if (json_is_boolean(v))
			a->dynamic = json_is_true(v) ? CT_DYN_TRUE : CT_DYN_FALSE;
		else if (json_is_string(v) && ascii_ieq(json_string_value(v), "local"))
			a->dynamic = CT_DYN_LOCAL;
		else if (json_is_string(v))
			return fail_at(p, sub, "\"%s\" is not allowed (true, false or \"local\")",
				       show(shown, sizeof(shown), json_string_value(v)));
		else
			return fail_at(p, sub, "expected true, false or \"local\", got %s", jtype(v));
	}
	if (FIELD("actorder")) {
		/* Aliases as the library reads them: true/"dynamic" -> group,
		 * "static" -> weight, false -> none. */
		if (json_is_null(v) || json_is_false(v)) {
			a->actorder = CT_ACT_NONE;
		} else if (json_is_true(v)) {
			a->actorder = CT_ACT_GROUP;
		} else if (json_is_string(v)) {
			s = json_string_value(v);
			if (ascii_ieq(s, "group") || ascii_ieq(s, "dynamic"))
				a->actorder = CT_ACT_GROUP;
			else if (ascii_ieq(s, "weight") || ascii_ieq(s, "static"))
				a->actorder = CT_ACT_WEIGHT;
			else
				return fail_at(p, sub, "\"%s\" is not allowed (null, \"group\", "
					       "\"weight\", \"dynamic\", \"static\", true, false)",
					       show(shown, sizeof(shown), s));
		} else {
			return fail_at(p, sub, "expected null, a string or a boolean, got %s",
				       jtype(v));
		}
	}
	if (FIELD("scale_dtype") &&
	    (rc = parse_dtype(p, sub, v, &a->has_scale_dtype, &a->scale_dtype)))
		return rc;
	if (FIELD("zp_dtype") && (rc = parse_dtype(p, sub, v, &a->has_zp_dtype, &a->zp_dtype)))
		return rc;
	if (FIELD("observer") && !json_is_null(v)) {
		if ((rc = get_string(p, sub, v, &s)) || (rc = dup_string(p, sub, s, &a->observer)))
			return rc;
	}
	if (FIELD("observer_kwargs")) {
		if (!json_is_object(v))
			return fail_at(p, sub, "expected an object, got %s", jtype(v));
		json_t *copy = json_deep_copy(v);
		if (!copy)
			return oom(p, sub);
		json_decref(a->observer_kwargs);
		a->observer_kwargs = copy;
	}
#undef FIELD
	return CT_OK;
}

/* Parses, validates and completes one QuantizationArgs object. */
static int qargs_parse(const pctx *p, const char *path, const json_t *obj, ct_qargs **out)
{
	*out = NULL;
	if (!json_is_object(obj))
		return fail_at(p, path, "expected an object or null, got %s", jtype(obj));
	int rc = check_keys(p, path, obj, qargs_keys, QARGS_ALLOWED);
	if (rc)
		return rc;
	ct_qargs *a = qargs_new();
	if (!a)
		return oom(p, path);
	bool has_strategy = false;
	rc = qargs_read(p, path, obj, a, &has_strategy);
	if (!rc && !has_strategy) {
		/* The library's inference: no group_size -> tensor, > 0 -> group,
		 * -1 -> channel. */
		if (!a->has_group_size)
			a->strategy = CT_STRAT_TENSOR;
		else if (a->group_size > 0)
			a->strategy = CT_STRAT_GROUP;
		else
			a->strategy = CT_STRAT_CHANNEL;
	}
	if (!rc)
		rc = qargs_validate(p, path, a);
	if (!rc && qargs_fill(a))
		rc = oom(p, path);
	if (rc) {
		qargs_free(a);
		return rc;
	}
	*out = a;
	return CT_OK;
}

/* --------------------------------------------------------------- schemes --- */

static const char *const scheme_keys[] = {
	"format", "input_activations", "output_activations", "targets", "weights", NULL,
};
#define SCHEME_ALLOWED "format, input_activations, output_activations, targets, weights"

static void scheme_clear(ct_qscheme *s)
{
	free(s->name);
	strv_free(s->targets, s->n_targets);
	qargs_free(s->weights);
	qargs_free(s->input_activations);
	qargs_free(s->output_activations);
	memset(s, 0, sizeof(*s));
}

static ct_qargs *preset_args_build(const preset_args *pa)
{
	ct_qargs *a = qargs_new();
	if (!a)
		return NULL;
	a->num_bits = pa->bits;
	a->type = pa->type;
	a->symmetric = !pa->asym;
	a->strategy = pa->strategy;
	a->has_group_size = pa->group_size != 0;
	a->group_size = pa->group_size;
	a->has_block = pa->block != 0;
	a->block[0] = a->block[1] = pa->block;
	a->dynamic = pa->dynamic;
	a->has_scale_dtype = pa->has_scale_dtype;
	a->scale_dtype = pa->scale_dtype;
	if ((pa->observer && !(a->observer = strdup(pa->observer))) || qargs_fill(a)) {
		qargs_free(a);
		return NULL;
	}
	return a;
}

/* The scheme of preset pr (targets left to the caller). */
static int scheme_from_preset(const pctx *p, const char *path, const preset *pr,
			      ct_qscheme *s)
{
	if ((pr->has_w && !(s->weights = preset_args_build(&pr->w))) ||
	    (pr->has_in && !(s->input_activations = preset_args_build(&pr->in))))
		return oom(p, path);
	/* The table is data: check it like any config so a typo cannot pass. */
	char sub[CT_QCONFIG_PATH_MAX];
	int rc = CT_OK;
	if (s->weights) {
		path_key(sub, path, "weights");
		rc = qargs_validate(p, sub, s->weights);
	}
	if (!rc && s->input_activations) {
		path_key(sub, path, "input_activations");
		rc = qargs_validate(p, sub, s->input_activations);
	}
	if (rc && p->err)
		p->err->code = CT_EINTERNAL;
	return rc ? CT_EINTERNAL : CT_OK;
}

/* QuantizationScheme's own validator. */
static int scheme_validate(const pctx *p, const char *path, const ct_qscheme *s)
{
	char sub[CT_QCONFIG_PATH_MAX];
	const ct_qargs *in = s->input_activations;
	if (in) {
		if (in->strategy != CT_STRAT_TOKEN && in->strategy != CT_STRAT_TENSOR &&
		    !group_like(in->strategy) && in->strategy != CT_STRAT_ATTN_HEAD) {
			path_key(sub, path, "input_activations.strategy");
			return fail_at(p, sub, "%s is not supported for activations (token, tensor, "
				       "group, tensor_group, attn_head)", strategy_name(in->strategy));
		}
		if (in->actorder != CT_ACT_NONE) {
			path_key(sub, path, "input_activations.actorder");
			return fail_at(p, sub, "activations cannot have an actorder (null)");
		}
	}
	if (s->output_activations && s->output_activations->actorder != CT_ACT_NONE) {
		path_key(sub, path, "output_activations.actorder");
		return fail_at(p, sub, "activations cannot have an actorder (null)");
	}
	if (s->format == CT_FMT_MIXED) {
		path_key(sub, path, "format");
		return fail_at(p, sub, "mixed-precision is only valid as the top-level format");
	}
	return CT_OK;
}

static int format_parse(const pctx *p, const char *path, const json_t *v, ct_format *out)
{
	*out = CT_FMT_NONE;
	if (json_is_null(v))
		return CT_OK;
	const char *s;
	int rc = get_string(p, path, v, &s);
	if (rc)
		return rc;
	if (!ct_format_from_name(s, out)) {
		char shown[SHOW_BUF], near[160];
		bool has = ct_suggest(s, format_names + CT_FMT_NONE + 1,
				      CT_FMT_COUNT - CT_FMT_NONE - 1, NULL, near, sizeof(near));
		return fail_at(p, path, "\"%s\" is not a compression format%s%s%s (%s)",
			       show(shown, sizeof(shown), s), has ? "; did you mean " : "",
			       has ? near : "", has ? "?" : "", FORMATS_ALLOWED);
	}
	return CT_OK;
}

static int scheme_parse(const pctx *p, const char *path, const char *name, const json_t *v,
			ct_qscheme *s)
{
	char sub[CT_QCONFIG_PATH_MAX];
	int rc = dup_string(p, path, name, &s->name);
	if (rc)
		return rc;
	if (json_is_array(v)) {
		/* "W4A16": ["Linear"]: a preset name mapped to its targets. */
		const preset *pr = preset_find(name);
		if (!pr)
			return fail_at(p, path, "a list of targets is only allowed under a preset "
				       "name (W4A16, FP8_DYNAMIC, NVFP4A16, ...); otherwise give a "
				       "scheme object");
		rc = strlist_parse(p, path, v, false, true, &s->targets, &s->n_targets);
		return rc ? rc : scheme_from_preset(p, path, pr, s);
	}
	if (!json_is_object(v))
		return fail_at(p, path, "expected a scheme object (or a target list under a "
			       "preset name), got %s", jtype(v));
	if ((rc = check_keys(p, path, v, scheme_keys, SCHEME_ALLOWED)))
		return rc;
	const json_t *t = json_object_get(v, "targets");
	path_key(sub, path, "targets");
	if (!t)
		return fail_at(p, sub, "missing (a non-empty list of module names, re: patterns "
			       "or Linear)");
	if ((rc = strlist_parse(p, sub, t, false, true, &s->targets, &s->n_targets)))
		return rc;
	static const char *const args_keys[] = {
		"weights", "input_activations", "output_activations",
	};
	ct_qargs **slots[] = { &s->weights, &s->input_activations, &s->output_activations };
	for (size_t k = 0; k < 3; k++) {
		const json_t *a = json_object_get(v, args_keys[k]);
		if (!a || json_is_null(a))
			continue;
		path_key(sub, path, args_keys[k]);
		if ((rc = qargs_parse(p, sub, a, slots[k])))
			return rc;
	}
	const json_t *f = json_object_get(v, "format");
	if (f) {
		path_key(sub, path, "format");
		if ((rc = format_parse(p, sub, f, &s->format)))
			return rc;
	}
	return scheme_validate(p, path, s);
}

/* -------------------------------------------------------------- sparsity --- */

static const char *const sparsity_keys[] = {
	"format", "global_sparsity", "ignore", "registry_requires_subclass",
	"sparsity_structure", "targets", NULL,
};
#define SPARSITY_ALLOWED "format, global_sparsity, ignore, registry_requires_subclass, " \
	"sparsity_structure, targets"

static void sparsity_free(ct_sparsity *sp)
{
	if (!sp)
		return;
	strv_free(sp->targets, sp->n_targets);
	strv_free(sp->ignore, sp->n_ignore);
	free(sp->structure);
	json_decref(sp->json);
	free(sp);
}

static int sparsity_read(const pctx *p, const char *path, const json_t *obj, ct_sparsity *sp)
{
	char sub[CT_QCONFIG_PATH_MAX];
	const json_t *v;
	const char *s;
	int rc;
	if ((rc = check_keys(p, path, obj, sparsity_keys, SPARSITY_ALLOWED)))
		return rc;
	path_key(sub, path, "format");
	if (!(v = json_object_get(obj, "format")))
		return fail_at(p, sub, "missing (sparse-bitmask, sparse-24-bitmask or dense)");
	if ((rc = get_string(p, sub, v, &s)))
		return rc;
	if (strcmp(s, "sparse-bitmask") == 0) {
		sp->format = CT_FMT_SPARSE_BITMASK;
	} else if (strcmp(s, "sparse-24-bitmask") == 0) {
		sp->format = CT_FMT_SPARSE_24;
	} else if (strcmp(s, "dense") == 0) {
		sp->format = CT_FMT_DENSE;
	} else {
		char shown[SHOW_BUF];
		return fail_at(p, sub, "\"%s\" is not a sparsity format (sparse-bitmask, "
			       "sparse-24-bitmask or dense)", show(shown, sizeof(shown), s));
	}
	if ((v = json_object_get(obj, "global_sparsity")) && !json_is_null(v)) {
		path_key(sub, path, "global_sparsity");
		if (!json_is_number(v))
			return fail_at(p, sub, "expected a number, got %s", jtype(v));
		sp->has_global_sparsity = true;
		sp->global_sparsity = json_number_value(v);
	}
	if ((v = json_object_get(obj, "targets"))) {
		path_key(sub, path, "targets");
		if ((rc = strlist_parse(p, sub, v, true, false, &sp->targets, &sp->n_targets)))
			return rc;
	}
	if ((v = json_object_get(obj, "ignore"))) {
		path_key(sub, path, "ignore");
		if ((rc = strlist_parse(p, sub, v, true, false, &sp->ignore, &sp->n_ignore)))
			return rc;
	}
	if ((v = json_object_get(obj, "registry_requires_subclass"))) {
		bool b;
		path_key(sub, path, "registry_requires_subclass");
		if ((rc = get_bool(p, sub, v, &b)))
			return rc;
	}
	if ((v = json_object_get(obj, "sparsity_structure")) && !json_is_null(v)) {
		path_key(sub, path, "sparsity_structure");
		if ((rc = get_string(p, sub, v, &s)) || (rc = dup_string(p, sub, s, &sp->structure)))
			return rc;
	}
	if (!(sp->json = json_deep_copy(obj)))
		return oom(p, path);
	return CT_OK;
}

/* ---------------------------------------------------------------- config --- */

static const char *const top_keys[] = {
	"config_groups", "format", "global_compression_ratio", "ignore", "kv_cache_scheme",
	"quant_method", "quantization_status", "run_compressed", "sparsity_config",
	"transform_config", "version", NULL,
};
#define TOP_ALLOWED "config_groups, format, global_compression_ratio, ignore, " \
	"kv_cache_scheme, quant_method, quantization_status, run_compressed, sparsity_config, " \
	"transform_config, version"

void ct_qconfig_free(ct_qconfig *c)
{
	if (!c)
		return;
	for (size_t g = 0; g < c->n_groups; g++)
		scheme_clear(&c->groups[g]);
	free(c->groups);
	strv_free(c->ignore, c->n_ignore);
	free(c->quantization_status);
	json_decref(c->kv_cache_scheme);
	json_decref(c->transform_config);
	sparsity_free(c->sparsity);
	free(c->version);
	free(c);
}

/* "MAJOR.MINOR[anything]" ("0.14.0.1", "0.18.1.dev5+g1234"). */
static bool version_parse(const char *s, int *major, int *minor)
{
	int part[2];
	for (int k = 0; k < 2; k++) {
		if (*s < '0' || *s > '9')
			return false;
		long v = 0;
		for (; *s >= '0' && *s <= '9'; s++) {
			v = v * 10 + (*s - '0');
			if (v > CT_QCONFIG_MAX_VERSION_PART)
				return false;
		}
		part[k] = (int)v;
		if (k == 0 && *s++ != '.')
			return false;
	}
	*major = part[0];
	*minor = part[1];
	return true;
}

static int groups_parse(const pctx *p, const char *path, const json_t *v, ct_qconfig *c)
{
	if (!json_is_object(v))
		return fail_at(p, path, "expected an object (group name -> scheme), got %s",
			       jtype(v));
	size_t n = json_object_size(v);
	if (n > CT_QCONFIG_MAX_GROUPS)
		return fail_at(p, path, "%zu groups (at most %d)", n, CT_QCONFIG_MAX_GROUPS);
	if (n == 0)
		return CT_OK;
	c->groups = calloc(n, sizeof(*c->groups));
	if (!c->groups)
		return oom(p, path);
	const char *name;
	const json_t *g;
	/* jansson keeps insertion order: groups stay in file order, which
	 * decides the first matching group. */
	json_object_foreach((json_t *)v, name, g) {
		char sub[CT_QCONFIG_PATH_MAX];
		path_key(sub, path, name);
		ct_qscheme *s = &c->groups[c->n_groups++];
		int rc = scheme_parse(p, sub, name, g, s);
		if (rc)
			return rc;
	}
	return CT_OK;
}

/* Finds the quantization_config inside a whole config.json, if it is one. */
static int locate(const pctx *p, const json_t *obj, const json_t **q, const char **base)
{
	static const char *const wrappers[] = { "quantization_config", "compression_config" };
	*q = obj;
	*base = "";
	for (size_t k = 0; k < 2; k++) {
		const json_t *v = json_object_get(obj, wrappers[k]);
		if (v) {
			*base = wrappers[k];
			*q = v;
			break;
		}
	}
	const json_t *tc = json_object_get(obj, "text_config");
	if (!**base && json_is_object(tc) && json_object_get(tc, "quantization_config")) {
		*base = "text_config.quantization_config";
		*q = json_object_get(tc, "quantization_config");
	}
	if (**base && !json_is_object(*q))
		return fail_at(p, *base, "expected an object, got %s%s", jtype(*q),
			       json_is_null(*q) ? " (the checkpoint is not quantized)" : "");
	if (!**base && !json_object_get(obj, "config_groups") &&
	    !json_object_get(obj, "sparsity_config") && !json_object_get(obj, "quant_method")) {
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)obj, k, v) {
			if (!in_list(k, top_keys))
				return fail_at(p, NULL, "no quantization_config found (expected a "
					       "quantization_config object, or a config.json holding "
					       "one under quantization_config, compression_config or "
					       "text_config.quantization_config)");
		}
	}
	return CT_OK;
}

static int top_parse(const pctx *p, const char *base, const json_t *q, ct_qconfig *c)
{
	char sub[CT_QCONFIG_PATH_MAX];
	const json_t *v;
	const char *s;
	int rc;
	if ((rc = check_keys(p, base, q, top_keys, TOP_ALLOWED)))
		return rc;
#define FIELD(key) ((v = json_object_get(q, key)) != NULL && (path_key(sub, base, key), 1))
	if (FIELD("quant_method")) {
		if ((rc = get_string(p, sub, v, &s)))
			return rc;
		if (strcmp(s, CT_QCONFIG_QUANT_METHOD) != 0) {
			char shown[SHOW_BUF];
			return fail_at(p, sub, "\"%s\" is not supported (only %s)",
				       show(shown, sizeof(shown), s), CT_QCONFIG_QUANT_METHOD);
		}
	}
	if (FIELD("config_groups") && (rc = groups_parse(p, sub, v, c)))
		return rc;
	if (FIELD("format") && (rc = format_parse(p, sub, v, &c->format)))
		return rc;
	if (FIELD("global_compression_ratio")) {
		if (!json_is_null(v) && !json_is_number(v))
			return fail_at(p, sub, "expected a number or null, got %s", jtype(v));
		c->has_global_compression_ratio = true;
	}
	if (FIELD("ignore") &&
	    (rc = strlist_parse(p, sub, v, true, false, &c->ignore, &c->n_ignore)))
		return rc;
	if (FIELD("kv_cache_scheme") && !json_is_null(v)) {
		ct_qargs *kv;
		if ((rc = qargs_parse(p, sub, v, &kv)))
			return rc;
		qargs_free(kv);
		if (!(c->kv_cache_scheme = json_deep_copy(v)))
			return oom(p, sub);
	}
	if (FIELD("quantization_status") && !json_is_null(v)) {
		if ((rc = get_string(p, sub, v, &s)))
			return rc;
		if (!in_list(s, status_names)) {
			char shown[SHOW_BUF];
			return fail_at(p, sub, "\"%s\" is not a status (initialized, calibration, "
				       "frozen, compressed, decompressed)",
				       show(shown, sizeof(shown), s));
		}
		if ((rc = dup_string(p, sub, s, &c->quantization_status)))
			return rc;
	}
	if (FIELD("sparsity_config") && !json_is_null(v)) {
		if (!json_is_object(v))
			return fail_at(p, sub, "expected an object, got %s", jtype(v));
		c->has_sparsity_key = true;
		if (json_object_size(v) > 0) {
			if (!(c->sparsity = calloc(1, sizeof(*c->sparsity))))
				return oom(p, sub);
			if ((rc = sparsity_read(p, sub, v, c->sparsity)))
				return rc;
		}
	}
	if (FIELD("transform_config") && !json_is_null(v)) {
		if (!json_is_object(v))
			return fail_at(p, sub, "expected an object, got %s", jtype(v));
		if (!(c->transform_config = json_deep_copy(v)))
			return oom(p, sub);
	}
	if (FIELD("version") && !json_is_null(v)) {
		if ((rc = get_string(p, sub, v, &s)))
			return rc;
		if (!version_parse(s, &c->version_major, &c->version_minor)) {
			char shown[SHOW_BUF];
			return fail_at(p, sub, "\"%s\" is not a version (MAJOR.MINOR[...], e.g. "
				       "\"0.18.0\")", show(shown, sizeof(shown), s));
		}
		if ((rc = dup_string(p, sub, s, &c->version)))
			return rc;
	}
#undef FIELD
	return CT_OK;
}

int ct_qconfig_parse(const json_t *obj, const char *label, ct_qconfig **out, ct_error *err)
{
	pctx p = { .label = label ? label : "config", .err = err };
	if (!out)
		return ct_fail(err, CT_EINTERNAL, "ct_qconfig_parse: no output");
	*out = NULL;
	if (!json_is_object(obj))
		return fail_at(&p, NULL, "expected a JSON object, got %s",
			       obj ? jtype(obj) : "nothing");
	const json_t *q;
	const char *base;
	int rc = locate(&p, obj, &q, &base);
	if (rc)
		return rc;
	ct_qconfig *c = calloc(1, sizeof(*c));
	if (!c)
		return oom(&p, "quantization_config");
	c->version_major = CT_QCONFIG_VERSION_MAJOR;
	c->version_minor = CT_QCONFIG_VERSION_MINOR;
	rc = top_parse(&p, base, q, c);
	if (rc) {
		ct_qconfig_free(c);
		return rc;
	}
	*out = c;
	return CT_OK;
}

/* --------------------------------------------------------------- presets --- */

int ct_qconfig_preset(const char *name, ct_qconfig **out, ct_error *err)
{
	pctx p = { .label = "preset", .err = err };
	char shown[SHOW_BUF];
	*out = NULL;
	const preset *pr = name ? preset_find(name) : NULL;
	if (!pr) {
		/* the list is the table's, so the message cannot name a preset
		 * that does not exist */
		char known[512];
		size_t at = 0;
		for (size_t i = 0; preset_names[i] && at < sizeof(known); i++)
			at += (size_t)snprintf(known + at, sizeof(known) - at, "%s%s", i ? ", " : "",
					       preset_names[i]);
		char near[160];
		size_t n_names = 0;
		while (preset_names[n_names])
			n_names++;
		bool has = ct_suggest(name, preset_names, n_names, NULL, near, sizeof(near));
		return ct_fail(err, CT_EUSAGE, "preset \"%s\" is unknown%s%s%s (%s)",
			       show(shown, sizeof(shown), name ? name : ""),
			       has ? "; did you mean " : "", has ? near : "", has ? "?" : "", known);
	}
	if (!pr->has_w)
		return ct_fail(err, CT_EUSAGE, "preset %s: %s (pick a preset that quantizes "
			       "weights, e.g. W4A16)", pr->name, pr->use_why);
	if (pr->use)
		return ct_fail(err, CT_EUSAGE, "%s needs calibration data for static activation "
			       "scales; ctensors is data-free: use %s (%s)", pr->name, pr->use,
			       pr->use_why);
	ct_qconfig *c = calloc(1, sizeof(*c));
	if (!c)
		return oom(&p, pr->name);
	int rc = CT_OK;
	c->version_major = CT_QCONFIG_VERSION_MAJOR;
	c->version_minor = CT_QCONFIG_VERSION_MINOR;
	c->has_sparsity_key = true;
	c->has_global_compression_ratio = true;
	c->transform_config = json_object();
	c->version = strdup(CT_QCONFIG_VERSION);
	c->groups = calloc(1, sizeof(*c->groups));
	if (!c->transform_config || !c->version || !c->groups)
		rc = oom(&p, pr->name);
	if (!rc) {
		ct_qscheme *s = &c->groups[0];
		c->n_groups = 1;
		s->name = strdup("group_0");
		s->targets = calloc(1, sizeof(*s->targets));
		if (s->targets && (s->targets[0] = strdup("Linear")))
			s->n_targets = 1;
		if (!s->name || !s->n_targets)
			rc = oom(&p, pr->name);
		if (!rc)
			rc = scheme_from_preset(&p, pr->name, pr, s);
	}
	if (rc) {
		ct_qconfig_free(c);
		return rc;
	}
	*out = c;
	return CT_OK;
}

/* ------------------------------------------------------------- normalize --- */

/* The data-free preset nearest to a scheme whose activations cannot be made. */
static const char *closest_preset(const ct_qargs *w, char *buf, size_t size)
{
	if (!w)
		return "W4A16";
	if (w->type == CT_QTYPE_FLOAT)
		return w->num_bits == 4 ? (w->group_size == CT_MX_GROUP ? "MXFP4A16" : "NVFP4A16")
					: "FP8_DYNAMIC";
	if (w->num_bits == 8)
		return "W8A8";
	if (w->num_bits < 2)
		return "W2A16";
	snprintf(buf, size, "W%dA8", w->num_bits);
	return buf;
}

/* Refuses activation args a data-free tool cannot produce. */
static int check_activations(const pctx *p, const char *gpath, const char *which,
			     const ct_qargs *act, const ct_qargs *w)
{
	char sub[CT_QCONFIG_PATH_MAX];
	char buf[16];
	if (!act)
		return CT_OK;
	snprintf(sub, sizeof(sub), "%.*s.%s.dynamic", CT_QCONFIG_PATH_MAX / 2, gpath, which);
	if (act->dynamic == CT_DYN_FALSE)
		return fail_at(p, sub, "false: static activation scales need calibration data; "
			       "ctensors is data-free: make the activations dynamic or drop "
			       "them (closest data-free preset: %s)",
			       closest_preset(w, buf, sizeof(buf)));
	if (act->dynamic == CT_DYN_LOCAL)
		return fail_at(p, sub, "\"local\" needs a calibrated global activation scale; "
			       "ctensors is data-free: drop %s (closest data-free preset: %s)",
			       which, w && w->type == CT_QTYPE_FLOAT && w->num_bits == 4
			       ? "NVFP4A16" : closest_preset(w, buf, sizeof(buf)));
	return CT_OK;
}

/* CT 0.18.0's format priority (compressors/format.py, FORMAT.md §2.5). */
/* The format CT 0.14 picks (FORMAT.md §2.5): what a config written by
 * that version means when it leaves the format to the library. */
static ct_format infer_format_0_14(const ct_qscheme *s)
{
	const ct_qargs *w = s->weights;
	const ct_qargs *in = s->input_activations;
	bool fp = w->type == CT_QTYPE_FLOAT;
	if (fp && w->num_bits == 4)
		return w->group_size == CT_MX_GROUP ? CT_FMT_MXFP4 : CT_FMT_NVFP4;
	if (!in)
		return !fp && (w->num_bits == 4 || w->num_bits == 8) ? CT_FMT_PACK : CT_FMT_NAIVE;
	if (fp && w->num_bits == 8 && in->type == CT_QTYPE_FLOAT)
		return CT_FMT_FLOAT;
	if (!fp && in->type == CT_QTYPE_INT)
		return CT_FMT_INT;
	return CT_FMT_NAIVE;
}

/* The format CT 0.18 picks (FORMAT.md §2.5), first match wins. */
static ct_format infer_format(const ct_qscheme *s, const ct_qconfig *c)
{
	if (c->version_major == 0 && c->version_minor < 15)
		return infer_format_0_14(s);
	const ct_qargs *w = s->weights;
	const ct_qargs *in = s->input_activations;
	bool fp = w->type == CT_QTYPE_FLOAT;
	if (fp && w->num_bits == 4 && w->group_size == CT_MX_GROUP)
		return CT_FMT_MXFP4;
	if (fp && w->num_bits == 8 && w->group_size == CT_MX_GROUP && w->has_scale_dtype &&
	    w->scale_dtype == CT_U8)
		return CT_FMT_MXFP8;
	if (fp && w->num_bits == 4 && w->group_size == CT_NVFP4_GROUP)
		return CT_FMT_NVFP4;
	if (!fp && in)
		return CT_FMT_INT;
	if (!fp && w->num_bits >= 1 && w->num_bits <= 8 && (!in || in->type == CT_QTYPE_INT))
		return CT_FMT_PACK;
	if (fp && in)
		return CT_FMT_FLOAT;
	return CT_FMT_NAIVE;
}

/* Whether format f can store weights w; else fills what it needs. */
static bool format_fits(ct_format f, const ct_qargs *w, const char **need)
{
	bool fp = w->type == CT_QTYPE_FLOAT;
	switch (f) {
	case CT_FMT_NAIVE:
		*need = "int or float 8-bit weights";
		return !fp || w->num_bits == 8;
	case CT_FMT_INT:
		*need = "int weights";
		return !fp;
	case CT_FMT_PACK:
		*need = "int weights of 1 to 8 bits";
		return !fp && w->num_bits >= 1 && w->num_bits <= 8;
	case CT_FMT_FLOAT:
		*need = "float 8-bit weights";
		return fp && w->num_bits == 8;
	case CT_FMT_NVFP4:
		*need = "float 4-bit weights with strategy tensor_group and group_size 16";
		return fp && w->num_bits == 4 && w->strategy == CT_STRAT_TENSOR_GROUP &&
		       w->group_size == CT_NVFP4_GROUP;
	case CT_FMT_MXFP4:
		*need = "float 4-bit weights with strategy group and group_size 32";
		return fp && w->num_bits == 4 && w->strategy == CT_STRAT_GROUP &&
		       w->group_size == CT_MX_GROUP;
	case CT_FMT_MXFP8:
		*need = "float 8-bit weights with strategy group, group_size 32";
		return fp && w->num_bits == 8 && w->strategy == CT_STRAT_GROUP &&
		       w->group_size == CT_MX_GROUP;
	default:
		*need = "a quantization format";
		return false;
	}
}

/* Weight args ctensors can compute without data, in a layout it can write. */
static int check_weights(const pctx *p, const char *wpath, const ct_qargs *w)
{
	char sub[CT_QCONFIG_PATH_MAX];
	if (w->dynamic != CT_DYN_FALSE) {
		path_key(sub, wpath, "dynamic");
		return fail_at(p, sub, "dynamic weight quantization is not supported (false)");
	}
	if (w->actorder != CT_ACT_NONE) {
		path_key(sub, wpath, "actorder");
		return fail_at(p, sub, "\"%s\" needs calibration data (GPTQ activation "
			       "ordering); ctensors is data-free: set it to null",
			       w->actorder == CT_ACT_GROUP ? "group" : "weight");
	}
	if (w->strategy == CT_STRAT_TOKEN || w->strategy == CT_STRAT_ATTN_HEAD) {
		path_key(sub, wpath, "strategy");
		return fail_at(p, sub, "%s is not supported for weights (tensor, channel, group, "
			       "tensor_group, block)", strategy_name(w->strategy));
	}
	if (w->observer && strcmp(w->observer, CT_OBS_MEMORYLESS_MINMAX) != 0 &&
	    strcmp(w->observer, CT_OBS_MINMAX) != 0 &&
	    strcmp(w->observer, CT_OBS_STATIC_MINMAX) != 0) {
		char shown[SHOW_BUF];
		path_key(sub, wpath, "observer");
		return fail_at(p, sub, "\"%s\" is not supported (ctensors computes min-max "
			       "scales: memoryless_minmax, minmax or static_minmax)",
			       show(shown, sizeof(shown), w->observer));
	}
	if (w->type == CT_QTYPE_FLOAT && w->num_bits == 4 &&
	    !(w->strategy == CT_STRAT_TENSOR_GROUP && w->group_size == CT_NVFP4_GROUP) &&
	    !(w->strategy == CT_STRAT_GROUP && w->group_size == CT_MX_GROUP)) {
		path_key(sub, wpath, "group_size");
		return fail_at(p, sub, "float 4-bit weights need strategy tensor_group with "
			       "group_size 16 (nvfp4) or strategy group with group_size 32 "
			       "(mxfp4); strategy is %s", strategy_name(w->strategy));
	}
	if (w->has_scale_dtype && w->scale_dtype == CT_U8 &&
	    !(w->type == CT_QTYPE_FLOAT && w->strategy == CT_STRAT_GROUP &&
	      w->group_size == CT_MX_GROUP)) {
		path_key(sub, wpath, "scale_dtype");
		return fail_at(p, sub, "torch.uint8 (MX exponent scales) needs float weights "
			       "with strategy group and group_size 32");
	}
	return CT_OK;
}

static bool group_format_supported(ct_format f)
{
	return f != CT_FMT_MARLIN_24 && f != CT_FMT_MIXED && f != CT_FMT_DENSE &&
	       f != CT_FMT_SPARSE_BITMASK && f != CT_FMT_SPARSE_24;
}

static int normalize_group(const pctx *p, ct_qscheme *s, ct_format top, const ct_qconfig *c)
{
	char gpath[CT_QCONFIG_PATH_MAX];
	char sub[CT_QCONFIG_PATH_MAX];
	path_key(gpath, "config_groups", s->name ? s->name : "?");
	int rc;
	if (!s->weights) {
		if (s->input_activations || s->output_activations)
			return fail_at(p, gpath, "weights is null but activations are quantized: "
				       "only activation scales, which need calibration data; "
				       "give weights or drop the activations");
		return CT_OK;  /* nothing to quantize: matched modules stay dense */
	}
	path_key(sub, gpath, "weights");
	if ((rc = check_weights(p, sub, s->weights)))
		return rc;
	if ((rc = check_activations(p, gpath, "input_activations", s->input_activations,
				    s->weights)) ||
	    (rc = check_activations(p, gpath, "output_activations", s->output_activations,
				    s->weights)))
		return rc;
	if (s->format == CT_FMT_NONE)
		s->format = top != CT_FMT_NONE ? top : infer_format(s, c);
	path_key(sub, gpath, "format");
	if (!group_format_supported(s->format))
		return fail_at(p, sub, "%s is not supported as a group format (%s)",
			       ct_format_name(s->format),
			       s->format == CT_FMT_MARLIN_24 ? "legacy; use pack-quantized"
			       : "use a quantization format or leave it out to infer it");
	const char *need;
	if (!format_fits(s->format, s->weights, &need))
		return fail_at(p, sub, "%s needs %s (weights are %s %d-bit, strategy %s)",
			       ct_format_name(s->format), need,
			       s->weights->type == CT_QTYPE_FLOAT ? "float" : "int",
			       s->weights->num_bits, strategy_name(s->weights->strategy));
	return CT_OK;
}

int ct_qconfig_normalize(ct_qconfig *c, ct_error *err)
{
	pctx p = { .label = "quantization_config", .err = err };
	if (!c)
		return ct_fail(err, CT_EINTERNAL, "ct_qconfig_normalize: no config");
	if (c->kv_cache_scheme)
		return fail_at(&p, "kv_cache_scheme", "needs calibration data (k/v cache "
			       "scales); ctensors is data-free: set it to null");
	if (c->transform_config && json_object_size(c->transform_config) > 0)
		return fail_at(&p, "transform_config", "transforms (Hadamard/SpinQuant "
			       "rotations) are not supported; use {}");
	if (c->n_groups == 0) {
		if (c->sparsity)
			return CT_OK;  /* sparse-only (CT <= 0.14): nothing else to fill */
		return fail_at(&p, "config_groups", "no quantization scheme and no sparsity: "
			       "nothing to do (give a scheme or a preset)");
	}
	/* A single top-level format applies to groups that name none. */
	ct_format top = CT_FMT_NONE;
	if (c->format != CT_FMT_MIXED && c->format != CT_FMT_DENSE &&
	    c->format != CT_FMT_SPARSE_BITMASK && c->format != CT_FMT_SPARSE_24)
		top = c->format;  /* marlin-24 too: refused per group below */
	ct_format single = CT_FMT_NONE;
	bool mixed = false;
	for (size_t g = 0; g < c->n_groups; g++) {
		int rc = normalize_group(&p, &c->groups[g], top, c);
		if (rc)
			return rc;
		ct_format f = c->groups[g].format;
		if (f == CT_FMT_NONE || f == CT_FMT_DENSE)
			continue;
		if (single != CT_FMT_NONE && single != f)
			mixed = true;
		single = f;
	}
	char *status = strdup(CT_QCONFIG_STATUS_COMPRESSED);
	if (!status)
		return oom(&p, "quantization_status");
	free(c->quantization_status);
	c->quantization_status = status;
	c->format = mixed ? CT_FMT_MIXED : single != CT_FMT_NONE ? single : CT_FMT_DENSE;
	c->has_global_compression_ratio = true;
	c->has_sparsity_key = true;
	return CT_OK;
}

/* -------------------------------------------------------------- mutators --- */

/* Copies names into a fresh list after checking each as a pattern. */
static int copy_patterns(const pctx *p, const char *path, const char *const *names,
			 size_t n, char ***out)
{
	*out = NULL;
	if (n > CT_QCONFIG_MAX_LIST)
		return ct_fail(p->err, CT_EUSAGE, "%s: %zu entries (at most %u)", path, n,
			       CT_QCONFIG_MAX_LIST);
	char **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return oom(p, path);
	for (size_t i = 0; i < n; i++) {
		size_t bad;
		if (!names[i] || !ct_utf8_valid(names[i], strlen(names[i]), &bad)) {
			strv_free(v, n);
			return ct_fail(p->err, CT_EUSAGE, "%s[%zu]: %s", path, i,
				       names[i] ? "not valid UTF-8" : "missing");
		}
		if (!(v[i] = strdup(names[i]))) {
			strv_free(v, n);
			return oom(p, path);
		}
	}
	int rc = check_patterns(p, path, v, n);
	if (rc) {
		strv_free(v, n);
		if (p->err)
			p->err->code = CT_EUSAGE;
		return CT_EUSAGE;
	}
	*out = v;
	return CT_OK;
}

int ct_qconfig_add_ignore(ct_qconfig *c, const char *const *names, size_t n, ct_error *err)
{
	pctx p = { .label = "ignore", .err = err };
	if (!c || (n && !names))
		return ct_fail(err, CT_EINTERNAL, "ct_qconfig_add_ignore: no config or names");
	char **add;
	int rc = copy_patterns(&p, "ignore", names, n, &add);
	if (rc)
		return rc;
	if (c->n_ignore + n > CT_QCONFIG_MAX_LIST) {
		strv_free(add, n);
		return ct_fail(err, CT_EUSAGE, "ignore: more than %u entries", CT_QCONFIG_MAX_LIST);
	}
	char **grown = realloc(c->ignore, (c->n_ignore + n + 1) * sizeof(*grown));
	if (!grown) {
		strv_free(add, n);
		return oom(&p, "ignore");
	}
	c->ignore = grown;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < c->n_ignore && !seen; k++)
			seen = strcmp(c->ignore[k], add[i]) == 0;
		if (seen)
			free(add[i]);
		else
			c->ignore[c->n_ignore++] = add[i];
	}
	free(add);
	return CT_OK;
}

int ct_qconfig_set_targets(ct_qconfig *c, const char *const *targets, size_t n,
			   ct_error *err)
{
	pctx p = { .label = "targets", .err = err };
	if (!c || (n && !targets))
		return ct_fail(err, CT_EINTERNAL, "ct_qconfig_set_targets: no config or targets");
	if (n == 0)
		return ct_fail(err, CT_EUSAGE, "targets: empty list (at least one module name, "
			       "re: pattern or Linear)");
	char ***fresh = calloc(c->n_groups ? c->n_groups : 1, sizeof(*fresh));
	if (!fresh)
		return oom(&p, "targets");
	int rc = CT_OK;
	for (size_t g = 0; g < c->n_groups && !rc; g++)
		rc = copy_patterns(&p, "targets", targets, n, &fresh[g]);
	for (size_t g = 0; g < c->n_groups; g++) {
		if (rc) {
			strv_free(fresh[g], fresh[g] ? n : 0);
			continue;
		}
		strv_free(c->groups[g].targets, c->groups[g].n_targets);
		c->groups[g].targets = fresh[g];
		c->groups[g].n_targets = n;
	}
	free(fresh);
	return rc;
}

int ct_qconfig_set_group_size(ct_qconfig *c, int64_t group_size, ct_error *err)
{
	if (!c)
		return ct_fail(err, CT_EINTERNAL, "ct_qconfig_set_group_size: no config");
	if (group_size <= 0 || group_size > CT_QCONFIG_MAX_GROUP_SIZE)
		return ct_fail(err, CT_EUSAGE, "group_size: %lld is not allowed (1 to %d)",
			       (long long)group_size, CT_QCONFIG_MAX_GROUP_SIZE);
	pctx p = { .label = "group_size", .err = err };
	/* Validate every group first so a refusal leaves c unchanged. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t g = 0; g < c->n_groups; g++) {
			ct_qargs *w = c->groups[g].weights;
			if (!w)
				continue;
			ct_qargs t = *w;
			t.has_group_size = true;
			t.group_size = group_size;
			/* tensor_group keeps its strategy (nvfp4's global scale). */
			if (t.strategy != CT_STRAT_TENSOR_GROUP)
				t.strategy = CT_STRAT_GROUP;
			if (w->strategy == CT_STRAT_BLOCK) {
				char shown[SHOW_BUF];
				return ct_fail(err, CT_EUSAGE, "group_size: config_groups.%s.weights "
					       "uses strategy block (block_structure); a group size "
					       "does not apply",
					       show(shown, sizeof(shown), c->groups[g].name));
			}
			char gpath[CT_QCONFIG_PATH_MAX], wpath[CT_QCONFIG_PATH_MAX];
			path_key(gpath, "config_groups", c->groups[g].name ? c->groups[g].name : "?");
			path_key(wpath, gpath, "weights");
			if (qargs_validate(&p, wpath, &t)) {
				if (err)
					err->code = CT_EUSAGE;
				return CT_EUSAGE;
			}
			if (pass == 1)
				*w = t;
		}
	}
	return CT_OK;
}

/* --------------------------------------------------------------- to_json --- */

/* Sets o[k] = v, consuming v; remembers any failure in *ok. */
static void put(json_t *o, const char *k, json_t *v, bool *ok)
{
	if (!v || json_object_set_new(o, k, v) != 0)
		*ok = false;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *dtype_json(bool has, ct_dtype dt)
{
	if (!has)
		return json_null();
	const char *name = torch_dtype_name(dt);
	if (!name)
		return NULL;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s%s", TORCH_PREFIX, name);
	return json_string(buf);
}

/* All 12 members, as pydantic dumps QuantizationArgs. */
static json_t *qargs_json(const ct_qargs *a)
{
	if (!a)
		return json_null();
	json_t *o = json_object();
	if (!o)
		return NULL;
	bool ok = true;
	put(o, "actorder", a->actorder == CT_ACT_GROUP ? json_string("group")
			   : a->actorder == CT_ACT_WEIGHT ? json_string("weight") : json_null(),
	    &ok);
	put(o, "block_structure", a->has_block
	    ? json_pack("[II]", (json_int_t)a->block[0], (json_int_t)a->block[1]) : json_null(),
	    &ok);
	put(o, "dynamic", a->dynamic == CT_DYN_LOCAL ? json_string("local")
			  : json_boolean(a->dynamic == CT_DYN_TRUE), &ok);
	put(o, "group_size", a->has_group_size ? json_integer(a->group_size) : json_null(), &ok);
	put(o, "num_bits", json_integer(a->num_bits), &ok);
	put(o, "observer", str_or_null(a->observer), &ok);
	put(o, "observer_kwargs", a->observer_kwargs ? json_deep_copy(a->observer_kwargs)
						     : json_object(), &ok);
	put(o, "scale_dtype", dtype_json(a->has_scale_dtype, a->scale_dtype), &ok);
	put(o, "strategy", json_string(strategy_name(a->strategy)), &ok);
	put(o, "symmetric", json_boolean(a->symmetric), &ok);
	put(o, "type", json_string(a->type == CT_QTYPE_FLOAT ? "float" : "int"), &ok);
	put(o, "zp_dtype", dtype_json(!a->symmetric && a->has_zp_dtype, a->zp_dtype), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *scheme_json(const ct_qscheme *s)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	bool ok = true;
	put(o, "format", str_or_null(ct_format_name(s->format)), &ok);
	put(o, "input_activations", qargs_json(s->input_activations), &ok);
	put(o, "output_activations", qargs_json(s->output_activations), &ok);
	put(o, "targets", strv_json(s->targets, s->n_targets), &ok);
	put(o, "weights", qargs_json(s->weights), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *copy_or_empty(const json_t *v)
{
	return v ? json_deep_copy(v) : json_object();
}

json_t *ct_qconfig_to_json(const ct_qconfig *c)
{
	if (!c)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	bool ok = true;
	put(o, "quant_method", json_string(CT_QCONFIG_QUANT_METHOD), &ok);
	if (c->n_groups == 0 && c->has_sparsity_key) {
		/* Sparse-only (CT <= 0.14): exactly the keys the input had. */
		put(o, "sparsity_config", copy_or_empty(c->sparsity ? c->sparsity->json : NULL),
		    &ok);
		if (c->transform_config)
			put(o, "transform_config", json_deep_copy(c->transform_config), &ok);
		if (c->version)
			put(o, "version", json_string(c->version), &ok);
	} else {
		json_t *groups = json_object();
		for (size_t g = 0; groups && g < c->n_groups; g++)
			put(groups, c->groups[g].name, scheme_json(&c->groups[g]), &ok);
		put(o, "config_groups", groups, &ok);
		put(o, "format", str_or_null(ct_format_name(c->format)), &ok);
		put(o, "global_compression_ratio", json_null(), &ok);
		put(o, "ignore", strv_json(c->ignore, c->n_ignore), &ok);
		put(o, "kv_cache_scheme", c->kv_cache_scheme ? json_deep_copy(c->kv_cache_scheme)
							     : json_null(), &ok);
		put(o, "quantization_status", str_or_null(c->quantization_status), &ok);
		put(o, "sparsity_config", copy_or_empty(c->sparsity ? c->sparsity->json : NULL),
		    &ok);
		put(o, "transform_config", copy_or_empty(c->transform_config), &ok);
		put(o, "version", json_string(c->version ? c->version : CT_QCONFIG_VERSION), &ok);
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ------------------------------------------------------- sparsity setters --- */

int ct_qconfig_set_sparsity(ct_qconfig *c, ct_format format, ct_error *err)
{
	if (format != CT_FMT_SPARSE_BITMASK && format != CT_FMT_SPARSE_24)
		return ct_fail(err, CT_EUSAGE, "%s is not a sparsity format (sparse-bitmask or "
			       "sparse-24-bitmask)", ct_format_name(format) ? ct_format_name(format)
									 : "(none)");
	bool fresh = c->sparsity == NULL;
	if (fresh) {
		ct_sparsity *sp = calloc(1, sizeof(*sp));
		json_t *j = json_pack("{s:s, s:n, s:[s], s:b, s:s, s:[s]}", "format",
				      ct_format_name(format), "global_sparsity", "ignore", "lm_head",
				      "registry_requires_subclass", 0, "sparsity_structure",
				      format == CT_FMT_SPARSE_24 ? "2:4" : "unstructured",
				      "targets", "Linear");
		char **targets = calloc(1, sizeof(char *)), **ignore = calloc(1, sizeof(char *));
		if (!sp || !j || !targets || !ignore || !(targets[0] = strdup("Linear")) ||
		    !(ignore[0] = strdup("lm_head")) ||
		    !(sp->structure = strdup(format == CT_FMT_SPARSE_24 ? "2:4" : "unstructured"))) {
			if (targets)
				free(targets[0]);
			if (ignore)
				free(ignore[0]);
			free(targets);
			free(ignore);
			json_decref(j);
			if (sp)
				free(sp->structure);
			free(sp);
			return ct_fail(err, CT_EIO, "out of memory");
		}
		sp->json = j;
		sp->targets = targets;
		sp->n_targets = 1;
		sp->ignore = ignore;
		sp->n_ignore = 1;
		c->sparsity = sp;
		c->has_sparsity_key = true;
		if (!c->transform_config)
			c->transform_config = json_object();
		if (c->n_groups == 0 && !c->version) {
			c->version = strdup("0.14.0.1");
			c->version_major = 0;
			c->version_minor = 14;
		}
	}
	c->sparsity->format = format;
	if (json_object_set_new(c->sparsity->json, "format",
				json_string(ct_format_name(format))) != 0)
		return ct_fail(err, CT_EIO, "out of memory");
	return CT_OK;
}

int ct_qconfig_set_global_sparsity(ct_qconfig *c, double fraction, ct_error *err)
{
	if (!c->sparsity)
		return ct_fail(err, CT_EINTERNAL, "global_sparsity without a sparsity config");
	/* Python's round(x, 4): correctly rounded decimal, which printf gives */
	char buf[32];
	snprintf(buf, sizeof(buf), "%.4f", fraction);
	double v = strtod(buf, NULL);
	c->sparsity->has_global_sparsity = true;
	c->sparsity->global_sparsity = v;
	if (json_object_set_new(c->sparsity->json, "global_sparsity", json_real(v)) != 0)
		return ct_fail(err, CT_EIO, "out of memory");
	return CT_OK;
}

static int copy_strv(const char *const *in, size_t n, char ***out)
{
	char **v = calloc(n ? n : 1, sizeof(char *));
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!(v[i] = strdup(in[i]))) {
			strv_free(v, i);
			return -1;
		}
	}
	*out = v;
	return 0;
}

int ct_qconfig_set_sparsity_lists(ct_qconfig *c, const char *const *targets, size_t n_targets,
				  const char *const *ignore, size_t n_ignore, ct_error *err)
{
	ct_sparsity *sp = c->sparsity;
	if (!sp)
		return ct_fail(err, CT_EINTERNAL, "sparsity lists without a sparsity config");
	char **t = NULL, **ig = NULL;
	json_t *jt = json_array(), *ji = json_array();
	bool ok = jt && ji && copy_strv(targets, n_targets, &t) == 0 &&
		  copy_strv(ignore, n_ignore, &ig) == 0;
	for (size_t i = 0; ok && i < n_targets; i++)
		ok = json_array_append_new(jt, json_string(targets[i])) == 0;
	for (size_t i = 0; ok && i < n_ignore; i++)
		ok = json_array_append_new(ji, json_string(ignore[i])) == 0;
	if (!ok || json_object_set_new(sp->json, "targets", jt) != 0) {
		if (t)
			strv_free(t, n_targets);
		if (ig)
			strv_free(ig, n_ignore);
		json_decref(ji);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	if (json_object_set_new(sp->json, "ignore", ji) != 0) {
		strv_free(t, n_targets);
		strv_free(ig, n_ignore);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	strv_free(sp->targets, sp->n_targets);
	strv_free(sp->ignore, sp->n_ignore);
	sp->targets = t;
	sp->n_targets = n_targets;
	sp->ignore = ig;
	sp->n_ignore = n_ignore;
	return CT_OK;
}
