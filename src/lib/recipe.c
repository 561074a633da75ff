/* recipe.c - llm-compressor recipes (recipe.h). */
#include "recipe.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "checkpoint.h"
#include "qconfig.h"
#include "suggest.h"

/* Deepest nesting accepted; recipes are a few levels deep. Checked on each
 * start event, while parsing, so a file nested 100,000 deep fails at once. */
#define YAML_MAX_DEPTH 64
/* Most text a document may expand to, aliases counted each time they are
 * used (a 400-byte "billion laughs" file would grow to gigabytes). */
#define YAML_MAX_EXPANDED (16u << 20)

static bool text_is(const char *s, size_t n, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strlen(list[i]) == n && memcmp(s, list[i], n) == 0)
			return true;
	return false;
}

/* s[0..n) is made of digits of base (and '_'), at least one digit. */
static bool digits_of(const char *s, size_t n, int base)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool d = base == 2 ? (c == '0' || c == '1') :
			 base == 8 ? (c >= '0' && c <= '7') :
			 base == 10 ? (c >= '0' && c <= '9') :
			 ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
		if (!d && c != '_')
			return false;
		any = any || d;
	}
	return any;
}

/* The value of digits (underscores skipped) in base; false on overflow
 * past 2^63. */
static bool digits_value(const char *s, size_t n, int base, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '_')
			continue;
		unsigned d = c <= '9' ? (unsigned)(c - '0') : c <= 'F' ? (unsigned)(c - 'A' + 10) :
			     (unsigned)(c - 'a' + 10);
		if (v > (UINT64_C(1) << 63) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + d;
		if (v > (UINT64_C(1) << 63))
			return false;
	}
	*out = v;
	return true;
}

/* [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+ (the sexagesimal part of YAML 1.1). */
static bool sexagesimal(const char *s, size_t n, size_t *colon)
{
	const char *c = memchr(s, ':', n);
	if (!c || c == s || !digits_of(s, (size_t)(c - s), 10) || s[0] == '_')
		return false;
	*colon = (size_t)(c - s);
	for (const char *p = c; p < s + n;) {
		if (*p != ':')
			return false;
		p++;
		size_t k = 0;
		while (p + k < s + n && p[k] >= '0' && p[k] <= '9')
			k++;
		if (k < 1 || k > 2 || (k == 2 && p[0] > '5'))
			return false;
		p += k;
	}
	return true;
}

/* An integer as PyYAML's SafeLoader resolves and constructs one
 * (resolver.py int regex; constructor.py:construct_yaml_int): 0b binary,
 * 0x hex, a leading 0 octal ("0200" is 128), base 60 with ':', '_'
 * ignored. NULL when s is not one. */
static json_t *yaml11_int(const char *s, size_t n)
{
	size_t i = n && (s[0] == '-' || s[0] == '+');
	bool neg = i && s[0] == '-';
	const char *d = s + i;
	size_t m = n - i;
	uint64_t v = 0;
	bool ok = false;
	if (m == 1 && d[0] == '0') {
		ok = true;
	} else if (m > 2 && d[0] == '0' && d[1] == 'b' && digits_of(d + 2, m - 2, 2)) {
		ok = digits_value(d + 2, m - 2, 2, &v);
	} else if (m > 2 && d[0] == '0' && d[1] == 'x' && digits_of(d + 2, m - 2, 16)) {
		ok = digits_value(d + 2, m - 2, 16, &v);
	} else if (m > 1 && d[0] == '0' && (digits_of(d + 1, m - 1, 8) ||
					    strspn(d + 1, "_") >= m - 1)) {
		/* "0_" is 0: the regex takes [0-7_]+, the constructor drops '_' */
		ok = digits_value(d + 1, m - 1, 8, &v);
	} else if (m > 0 && d[0] >= '1' && d[0] <= '9' && digits_of(d, m, 10)) {
		ok = digits_value(d, m, 10, &v);
	} else {
		size_t colon;
		if (m > 0 && d[0] >= '1' && d[0] <= '9' && sexagesimal(d, m, &colon) &&
		    digits_value(d, colon, 10, &v)) {
			ok = true;
			for (const char *p = d + colon; ok && p < d + m;) {
				p++;
				uint64_t part = 0;
				size_t k = 0;
				while (p + k < d + m && p[k] != ':')
					k++;
				ok = digits_value(p, k, 10, &part) && v <= (UINT64_C(1) << 57);
				v = v * 60 + part;
				p += k;
			}
		}
	}
	if (!ok || v > (neg ? (UINT64_C(1) << 63) : (UINT64_C(1) << 63) - 1))
		return NULL;
	return json_integer(neg ? (json_int_t)(0 - v) : (json_int_t)v);
}

/* A float as PyYAML resolves one: a dot is required and an exponent needs
 * its sign ("1e5" and "1.0e5" are strings, "1.0e+5" a float); .inf and
 * .nan, which JSON cannot hold, stay text. */
static json_t *yaml11_float(const char *s, size_t n)
{
	size_t i = n && (s[0] == '-' || s[0] == '+');
	size_t int_digits = 0;
	if (i < n && s[i] == '.') {
		/* \.[0-9][0-9_]* with no sign in front */
		if (i != 0 || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9')
			return NULL;
	} else {
		if (i >= n || s[i] < '0' || s[i] > '9')
			return NULL;
	}
	size_t j = i;
	while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '_')) {
		int_digits++;
		j++;
	}
	if (j >= n || s[j] != '.')
		return NULL;   /* (base-60 floats are left as text: no recipe has one) */
	j++;
	while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '_'))
		j++;
	if (j < n && (s[j] == 'e' || s[j] == 'E')) {
		j++;
		if (j >= n || (s[j] != '-' && s[j] != '+'))
			return NULL;
		j++;
		size_t e0 = j;
		while (j < n && s[j] >= '0' && s[j] <= '9')
			j++;
		if (j == e0)
			return NULL;
	}
	if (j != n || n >= 64)
		return NULL;
	char buf[64];
	size_t k = 0;
	for (size_t q = 0; q < n; q++)
		if (s[q] != '_')
			buf[k++] = s[q];
	buf[k] = '\0';
	return json_real(strtod(buf, NULL));
}

/* A plain scalar as YAML 1.1 resolves it (PyYAML's SafeLoader,
 * resolver.py: null, bool, int, float; anything else is a string). */
static json_t *plain_scalar(const char *s, size_t n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on",
					     "On", "ON", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", "no", "No", "NO",
					      "off", "Off", "OFF", NULL };
	if (text_is(s, n, nulls))
		return json_null();
	if (text_is(s, n, trues))
		return json_true();
	if (text_is(s, n, falses))
		return json_false();
	json_t *v = yaml11_int(s, n);
	if (!v)
		v = yaml11_float(s, n);
	return v ? v : json_stringn(s, n);
}

/* ----------------------------------------------------------- the parser --- */

typedef struct yanchor {
	char *name;
	json_t *value;
	size_t size;       /* the text it expands to */
} yanchor;

typedef struct yctx {
	yaml_parser_t parser;
	const char *label;
	ct_error *err;
	size_t produced;   /* text the document has expanded to so far */
	yanchor *anchors;
	size_t n_anchors, cap_anchors;
} yctx;

static int ynext(yctx *c, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&c->parser, ev))
		return ct_fail(c->err, CT_EINPUT, "%s: invalid YAML: %s (line %zu, column %zu)",
			       c->label, c->parser.problem ? c->parser.problem : "parse error",
			       c->parser.problem_mark.line + 1, c->parser.problem_mark.column + 1);
	return CT_OK;
}

static int ygrow(yctx *c, size_t add, const yaml_mark_t *m)
{
	if (add > YAML_MAX_EXPANDED || c->produced > YAML_MAX_EXPANDED - add)
		return ct_fail(c->err, CT_EINPUT, "%s: line %zu: the YAML expands to more than %u "
			       "MB (aliases repeat what their anchor holds each time they are "
			       "used)", c->label, m->line + 1, YAML_MAX_EXPANDED >> 20);
	c->produced += add;
	return CT_OK;
}

static int yanchor_add(yctx *c, const char *name, json_t *v, size_t size)
{
	if (c->n_anchors == c->cap_anchors) {
		size_t cap = c->cap_anchors ? c->cap_anchors * 2 : 8;
		yanchor *a = realloc(c->anchors, cap * sizeof(*a));
		if (!a)
			return ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
		c->anchors = a;
		c->cap_anchors = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
	c->anchors[c->n_anchors++] = (yanchor){ dup, json_incref(v), size };
	return CT_OK;
}

/* Tags SafeLoader constructs (constructor.py:SafeConstructor). */
#define YTAG "tag:yaml.org,2002:"

static json_t *tagged_scalar(const char *tag, const char *s, size_t n, bool *bad)
{
	*bad = false;
	const char *t = tag + strlen(YTAG);
	json_t *v = NULL;
	if (strcmp(t, "str") == 0)
		return json_stringn(s, n);
	if (strcmp(t, "null") == 0 || strcmp(t, "bool") == 0 || strcmp(t, "int") == 0 ||
	    strcmp(t, "float") == 0) {
		v = plain_scalar(s, n);
		bool fits = strcmp(t, "null") == 0 ? json_is_null(v) :
			    strcmp(t, "bool") == 0 ? json_is_boolean(v) :
			    strcmp(t, "int") == 0 ? json_is_integer(v) :
			    json_is_real(v) || json_is_integer(v);
		if (fits && strcmp(t, "float") == 0 && json_is_integer(v)) {
			json_t *r = json_real((double)json_integer_value(v));
			json_decref(v);
			v = r;
		}
		if (!fits) {
			json_decref(v);
			*bad = true;
			return NULL;
		}
		return v;
	}
	*bad = true;
	return NULL;
}

static int parse_node(yctx *c, yaml_event_t *ev, int depth, json_t **out, size_t *size);

/* Merge keys ("<<: *defaults", or a list of them), as SafeConstructor's
 * flatten_mapping applies them: the mapping's own keys win, then the
 * merged mappings in the order listed. */
static int merge_into(yctx *c, json_t *into, json_t *merges, size_t kline)
{
	size_t n = json_array_size(merges);
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(merges, i);
		const char *k;
		json_t *v;
		json_object_foreach(m, k, v) {
			if (!json_object_get(into, k) && json_object_set(into, k, v))
				return ct_fail(c->err, CT_EIO, "%s: line %zu: out of memory", c->label,
					       kline);
		}
	}
	return CT_OK;
}

/* The entries of a sequence or mapping, up to its end event; the values
 * of merge keys go to *mergesp. */
static int parse_entries(yctx *c, bool map, int depth, json_t *into, size_t *size,
			 json_t **mergesp, size_t *merge_linep)
{
	for (;;) {
		yaml_event_t kev;
		int rc = ynext(c, &kev);
		if (rc)
			return rc;
		if (kev.type == YAML_SEQUENCE_END_EVENT || kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			return CT_OK;
		}
		if (map && kev.type == YAML_SCALAR_EVENT && kev.data.scalar.length == 2 &&
		    memcmp(kev.data.scalar.value, "<<", 2) == 0 && !kev.data.scalar.tag &&
		    kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			size_t merge_line = kev.start_mark.line + 1;
			*merge_linep = merge_line;
			yaml_event_delete(&kev);
			yaml_event_t vev;
			json_t *v = NULL;
			size_t vs = 0;
			rc = ynext(c, &vev);
			if (!rc) {
				rc = parse_node(c, &vev, depth + 1, &v, &vs);
				yaml_event_delete(&vev);
			}
			bool ok = json_is_object(v);
			if (json_is_array(v)) {
				ok = true;
				for (size_t i = 0; ok && i < json_array_size(v); i++)
					ok = json_is_object(json_array_get(v, i));
			}
			if (!rc && !ok)
				rc = ct_fail(c->err, CT_EINPUT, "%s: line %zu: a merge key (<<) takes a "
					     "mapping or a list of mappings", c->label, merge_line);
			if (!rc && !*mergesp && !(*mergesp = json_array()))
				rc = ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
			if (!rc && json_is_object(v))
				rc = json_array_append(*mergesp, v) ? ct_fail(c->err, CT_EIO, "%s: out of "
									    "memory", c->label) : CT_OK;
			for (size_t i = 0; !rc && json_is_array(v) && i < json_array_size(v); i++)
				if (json_array_append(*mergesp, json_array_get(v, i)))
					rc = ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
			json_decref(v);
			if (rc)
				return rc;
			*size += vs + 2;
			continue;
		}
		if (!map) {
			json_t *v = NULL;
			size_t vs = 0;
			rc = parse_node(c, &kev, depth + 1, &v, &vs);
			yaml_event_delete(&kev);
			if (rc)
				return rc;
			*size += vs + 1;
			if (json_array_append_new(into, v))
				return ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
			continue;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			size_t line = kev.start_mark.line + 1;
			yaml_event_delete(&kev);
			return ct_fail(c->err, CT_EINPUT, "%s: line %zu: a mapping key that is not a "
				       "scalar", c->label, line);
		}
		yaml_mark_t kmark = kev.start_mark;
		size_t kline = kmark.line + 1;
		char *key = strndup((const char *)kev.data.scalar.value, kev.data.scalar.length);
		size_t klen = kev.data.scalar.length;
		yaml_event_delete(&kev);
		if (!key)
			return ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
		if (strlen(key) != klen) {
			free(key);
			return ct_fail(c->err, CT_EINPUT, "%s: line %zu: a mapping key holding a NUL",
				       c->label, kline);
		}
		rc = ygrow(c, klen + 1, &kmark);
		yaml_event_t vev;
		if (!rc)
			rc = ynext(c, &vev);
		json_t *v = NULL;
		size_t vs = 0;
		if (!rc) {
			rc = parse_node(c, &vev, depth + 1, &v, &vs);
			yaml_event_delete(&vev);
		}
		if (!rc && json_object_get(into, key)) {
			/* PyYAML keeps the last silently; a repeated key is a mistake */
			rc = ct_fail(c->err, CT_EINPUT, "%s: line %zu: key \"%s\" given twice",
				     c->label, kline, key);
		}
		/* json_object_set_new takes v, also when it refuses the key */
		if (!rc && json_object_set_new(into, key, v))
			rc = ct_fail(c->err, CT_EINPUT, "%s: line %zu: a key that is not valid UTF-8",
				     c->label, kline);
		else if (rc)
			json_decref(v);
		free(key);
		if (rc)
			return rc;
		*size += klen + vs + 2;
	}
}

/* The children of a sequence or mapping, up to its end event. */
static int parse_children(yctx *c, bool map, int depth, json_t *into, size_t *size)
{
	json_t *merges = NULL;
	size_t merge_line = 0;
	int rc = parse_entries(c, map, depth, into, size, &merges, &merge_line);
	if (!rc && merges)
		rc = merge_into(c, into, merges, merge_line);
	json_decref(merges);
	return rc;
}

static int parse_node(yctx *c, yaml_event_t *ev, int depth, json_t **out, size_t *size)
{
	*out = NULL;
	*size = 0;
	const yaml_mark_t *m = &ev->start_mark;
	if (ev->type == YAML_ALIAS_EVENT) {
		const char *a = (const char *)ev->data.alias.anchor;
		for (size_t i = c->n_anchors; i-- > 0;)
			if (strcmp(c->anchors[i].name, a) == 0) {
				int rc = ygrow(c, c->anchors[i].size, m);
				if (rc)
					return rc;
				*out = json_incref(c->anchors[i].value);
				*size = c->anchors[i].size;
				return CT_OK;
			}
		return ct_fail(c->err, CT_EINPUT, "%s: line %zu: alias *%s names no complete anchor "
			       "before it", c->label, m->line + 1, a);
	}
	if (depth > YAML_MAX_DEPTH)
		return ct_fail(c->err, CT_EINPUT, "%s: line %zu: YAML nested deeper than %d levels",
			       c->label, m->line + 1, YAML_MAX_DEPTH);
	const char *anchor = NULL, *tag = NULL;
	int rc = CT_OK;
	json_t *v = NULL;
	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = (const char *)ev->data.scalar.anchor;
		tag = (const char *)ev->data.scalar.tag;
		const char *s = (const char *)ev->data.scalar.value;
		size_t n = ev->data.scalar.length;
		bool bad = false;
		if (tag && strcmp(tag, "!") != 0 && strncmp(tag, YTAG, strlen(YTAG)) == 0)
			v = tagged_scalar(tag, s, n, &bad);
		else if (tag && strcmp(tag, "!") != 0)
			bad = true;
		else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
			v = plain_scalar(s, n);
		else
			v = json_stringn(s, n);
		if (bad)
			return ct_fail(c->err, CT_EINPUT, "%s: line %zu: tag %s is not one PyYAML's "
				       "safe_load constructs here", c->label, m->line + 1, tag);
		if (!v)
			return ct_fail(c->err, CT_EINPUT, "%s: line %zu: a scalar that is not valid "
				       "UTF-8", c->label, m->line + 1);
		*size = n + 1;
		rc = ygrow(c, n + 1, m);
	} else if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		anchor = (const char *)(map ? ev->data.mapping_start.anchor :
				       ev->data.sequence_start.anchor);
		tag = (const char *)(map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
		if (tag && strcmp(tag, map ? YTAG "map" : YTAG "seq") != 0 && strcmp(tag, "!") != 0)
			return ct_fail(c->err, CT_EINPUT, "%s: line %zu: tag %s is not one PyYAML's "
				       "safe_load constructs here", c->label, m->line + 1, tag);
		v = map ? json_object() : json_array();
		if (!v)
			return ct_fail(c->err, CT_EIO, "%s: out of memory", c->label);
		*size = 2;
		rc = ygrow(c, 2, m);
		if (!rc)
			rc = parse_children(c, map, depth, v, size);
	} else {
		return ct_fail(c->err, CT_EINPUT, "%s: line %zu: YAML: unexpected event", c->label,
			       m->line + 1);
	}
	if (!rc && anchor)
		rc = yanchor_add(c, anchor, v, *size);
	if (rc) {
		json_decref(v);
		return rc;
	}
	*out = v;
	return CT_OK;
}

int ct_yaml_to_json(const char *text, size_t len, const char *label, json_t **out,
		    ct_error *err)
{
	*out = NULL;
	yctx c = { .label = label, .err = err };
	if (!yaml_parser_initialize(&c.parser))
		return ct_fail(err, CT_EIO, "%s: out of memory", label);
	yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
	yaml_event_t ev;
	int rc = ynext(&c, &ev);   /* stream start */
	if (!rc) {
		yaml_event_delete(&ev);
		rc = ynext(&c, &ev);
	}
	json_t *root = NULL;
	if (!rc && ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		rc = ct_fail(err, CT_EINPUT, "%s: an empty YAML document", label);
	} else if (!rc) {
		/* document start, its node, document end */
		yaml_event_delete(&ev);
		rc = ynext(&c, &ev);
		if (!rc) {
			size_t size;
			rc = parse_node(&c, &ev, 0, &root, &size);
			yaml_event_delete(&ev);
		}
		if (!rc && !(rc = ynext(&c, &ev))) {
			yaml_event_delete(&ev);   /* document end */
			rc = ynext(&c, &ev);
			if (!rc && ev.type != YAML_STREAM_END_EVENT)
				rc = ct_fail(err, CT_EINPUT, "%s: line %zu: a second YAML document "
					     "(llm-compressor reads a recipe with PyYAML's safe_load, "
					     "which takes exactly one)", label, ev.start_mark.line + 1);
			yaml_event_delete(&ev);
		}
	}
	for (size_t i = 0; i < c.n_anchors; i++) {
		free(c.anchors[i].name);
		json_decref(c.anchors[i].value);
	}
	free(c.anchors);
	yaml_parser_delete(&c.parser);
	if (rc) {
		json_decref(root);
		return rc;
	}
	*out = root;
	return CT_OK;
}

/* ----------------------------------------------------------- modifiers --- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* The modifiers llm-compressor registers (src/llmcompressor/modifiers/:
 * every Modifier subclass ModifierFactory finds), for "did you mean". */
static const char *const modifier_names[] = {
	"QuantizationModifier", "GPTQModifier", "AWQModifier", "SmoothQuantModifier",
	"SparseGPTModifier", "WandaPruningModifier", "AutoRoundModifier",
	"LogarithmicEqualizationModifier", "ConstantPruningModifier", "MagnitudePruningModifier",
	"SpinQuantModifier", "QuIPModifier", "REAPPruningModifier", NULL,
};

/* Modifiers that compute something from calibration data. */
static const char *const calibrated[] = {
	"GPTQModifier", "AWQModifier", "SmoothQuantModifier", "SparseGPTModifier",
	"WandaPruningModifier", "AutoRoundModifier", "LogarithmicEqualizationModifier",
	"REAPPruningModifier", NULL,
};

#define RECIPE_MAX_MODIFIERS 32

typedef struct found {
	const char *names[RECIPE_MAX_MODIFIERS];
	const json_t *args[RECIPE_MAX_MODIFIERS];
	char where[RECIPE_MAX_MODIFIERS][160];
	size_t n;
} found;

static size_t count_of(const char *const *list)
{
	size_t n = 0;
	while (list[n])
		n++;
	return n;
}

static bool in_names(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* "; did you mean 'x'?" or "" (suggest.h, the matcher the options use). */
static const char *did_you_mean(const char *word, const char *const *cands, size_t n,
				char *buf, size_t size)
{
	char near[200];
	buf[0] = '\0';
	if (ct_suggest(word, cands, n, NULL, near, sizeof(near)))
		snprintf(buf, size, "; did you mean %s?", near);
	return buf;
}

/* A key with its last "_word" replaced by suffix ("quant_modifers" ->
 * "quant_modifiers"), into buf; the key itself when it has no '_'. */
static const char *with_suffix(const char *key, const char *suffix, char *buf, size_t size)
{
	const char *us = strrchr(key, '_');
	int n = us ? (int)(us - key) : (int)strlen(key);
	snprintf(buf, size, "%.*s%s", n, key, suffix);
	return buf;
}

static int add_modifier(found *f, const char *label, const char *where, const char *name,
			const json_t *args, ct_error *err)
{
	char near[240];
	if (!in_names(name, modifier_names))
		return ct_fail(err, CT_EUSAGE, "%s: %s%s\"%s\" is not an llm-compressor modifier%s",
			       label, where, *where ? ": " : "", name,
			       did_you_mean(name, modifier_names, count_of(modifier_names), near,
					    sizeof(near)));
	if (!json_is_object(args) && !json_is_null(args))
		return ct_fail(err, CT_EUSAGE, "%s: %s%s%s: expected its arguments as a mapping",
			       label, where, *where ? "." : "", name);
	if (f->n == RECIPE_MAX_MODIFIERS)
		return ct_fail(err, CT_EINPUT, "%s: more than %d modifiers", label,
			       RECIPE_MAX_MODIFIERS);
	f->names[f->n] = name;
	f->args[f->n] = args;
	snprintf(f->where[f->n], sizeof(f->where[f->n]), "%s%s%s", where, *where ? "." : "", name);
	f->n++;
	return CT_OK;
}

/* A mapping of modifier names to their arguments (a *_modifiers group, or a
 * bare modifier mapping). */
static int add_group(found *f, const char *label, const char *where, const json_t *group,
		     ct_error *err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)group, k, v) {
		int rc = add_modifier(f, label, where, k, v, err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

/* The modifiers of a recipe, read as llm-compressor's loader reads them
 * (src/llmcompressor/recipe/recipe.py:Recipe.from_dict): top-level
 * "<name>_stage" mappings holding "<name>_modifiers" mappings of modifier
 * names to their arguments, and "args". Accepted besides, as they are
 * unambiguous: a bare modifier mapping at the top level, a bare
 * "<name>_modifiers" group, and a list of modifier mappings. Any other key
 * is refused (CT_EUSAGE) naming it, with the nearest valid key, where the
 * loader would silently skip it and run no modifier. */
static int read_modifiers(const json_t *root, const char *label, found *f, ct_error *err)
{
	char near[240], cand[3][200];
	if (json_is_array(root)) {
		size_t i;
		json_t *x;
		json_array_foreach(root, i, x) {
			char where[32];
			snprintf(where, sizeof(where), "[%zu]", i);
			if (!json_is_object(x))
				return ct_fail(err, CT_EUSAGE, "%s: %s: expected a modifier mapping "
					       "(QuantizationModifier: {...})", label, where);
			int rc = add_group(f, label, where, x, err);
			if (rc)
				return rc;
		}
		return CT_OK;
	}
	if (!json_is_object(root))
		return ct_fail(err, CT_EUSAGE, "%s: expected a recipe mapping (quant_stage: "
			       "{quant_modifiers: {QuantizationModifier: ...}})", label);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)root, k, v) {
		int rc = CT_OK;
		if (strcmp(k, "args") == 0) {
			continue;   /* recipe variables; nothing here refers to them */
		} else if (ends_with(k, "_stage") && json_is_object(v)) {
			const char *gk;
			json_t *gv;
			json_object_foreach(v, gk, gv) {
				char where[200];
				snprintf(where, sizeof(where), "%s.%s", k, gk);
				if (ends_with(gk, "_modifiers") && json_is_object(gv)) {
					rc = add_group(f, label, where, gv, err);
				} else if (ends_with(gk, "_modifiers")) {
					rc = ct_fail(err, CT_EUSAGE, "%s: %s: expected a mapping of "
						     "modifiers", label, where);
				} else {
					const char *c[2] = {
						with_suffix(gk, "_modifiers", cand[0], sizeof(cand[0])),
						"quant_modifiers",
					};
					rc = ct_fail(err, CT_EUSAGE, "%s: %s: not a modifier group (a "
						     "stage holds <name>_modifiers keys)%s", label, where,
						     did_you_mean(gk, c, 2, near, sizeof(near)));
				}
				if (rc)
					return rc;
			}
		} else if (ends_with(k, "_stage")) {
			rc = ct_fail(err, CT_EUSAGE, "%s: %s: expected a mapping of modifier groups",
				     label, k);
		} else if (ends_with(k, "_modifiers") && json_is_object(v)) {
			rc = add_group(f, label, k, v, err);
		} else if (in_names(k, modifier_names)) {
			rc = add_modifier(f, label, "", k, v, err);
		} else {
			const char *c[4 + sizeof(modifier_names) / sizeof(modifier_names[0])];
			size_t n = 0;
			c[n++] = with_suffix(k, "_stage", cand[0], sizeof(cand[0]));
			c[n++] = with_suffix(k, "_modifiers", cand[1], sizeof(cand[1]));
			c[n++] = "args";
			for (size_t i = 0; modifier_names[i]; i++)
				c[n++] = modifier_names[i];
			rc = ct_fail(err, CT_EUSAGE, "%s: %s: not a recipe key (expected "
				     "<name>_stage, a modifier or args)%s", label, k,
				     did_you_mean(k, c, n, near, sizeof(near)));
		}
		if (rc)
			return rc;
	}
	return CT_OK;
}

bool ct_recipe_is_recipe(const json_t *v)
{
	/* a quantization_config (or a config.json holding one) written as
	 * YAML has these; anything else is read, strictly, as a recipe */
	static const char *const qc_keys[] = { "config_groups", "quantization_config",
					       "compression_config", "quant_method", NULL };
	if (!json_is_object(v))
		return true;   /* a list of modifiers; anything else is refused as one */
	for (size_t i = 0; qc_keys[i]; i++)
		if (json_object_get(v, qc_keys[i]))
			return false;
	return true;
}

/* A list of strings from a string or a list (llm-compressor takes both). */
static json_t *string_list(const json_t *v)
{
	if (json_is_string(v)) {
		json_t *a = json_array();
		json_array_append(a, (json_t *)v);
		return a;
	}
	return json_is_array(v) ? json_deep_copy(v) : NULL;
}

/* The scheme object of preset name with the given targets, as the library
 * expands it. */
static int preset_group(const char *name, const json_t *targets, json_t **out, ct_error *err)
{
	ct_qconfig *c = NULL;
	int rc = ct_qconfig_preset(name, &c, err);
	/* an unknown name is a typo (exit 2, with the nearest preset); a
	 * preset that needs calibration is input ctensors cannot apply */
	if (rc == CT_EUSAGE && !strstr(err->msg, "is unknown"))
		err->code = rc = CT_EINPUT;
	if (rc)
		return rc;
	json_t *j = ct_qconfig_to_json(c);
	ct_qconfig_free(c);
	json_t *g = json_object_get(json_object_get(j, "config_groups"), "group_0");
	if (!g) {
		json_decref(j);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	*out = json_incref(g);
	json_decref(j);
	json_object_set_new(*out, "targets", json_deep_copy(targets));
	/* the format is the library's to infer when it writes */
	json_object_del(*out, "format");
	return CT_OK;
}

int ct_recipe_to_qconfig(const json_t *recipe, const char *label, json_t **out,
			 ct_error *err)
{
	*out = NULL;
	found f = { 0 };
	int rc0 = read_modifiers(recipe, label, &f, err);
	if (rc0)
		return rc0;
	if (!f.n)
		return ct_fail(err, CT_EUSAGE, "%s: no modifier in the recipe (expected "
			       "quant_stage: {quant_modifiers: {QuantizationModifier: ...}})", label);
	for (size_t i = 0; i < f.n; i++)
		for (size_t k = 0; calibrated[k]; k++)
			if (strcmp(f.names[i], calibrated[k]) == 0) {
				bool convertible = strcmp(f.names[i], "GPTQModifier") == 0 ||
						   strcmp(f.names[i], "AWQModifier") == 0;
				return ct_fail(err, CT_EINPUT, "%s: %s needs calibration data, and "
					       "ctensors is data-free%s", label, f.names[i],
					       convertible ? "; a checkpoint it produced can be brought "
					       "in with 'ctensors convert'" : "");
			}
	size_t quant = 0;
	const json_t *mod = NULL;
	char names[512] = "";
	for (size_t i = 0; i < f.n; i++) {
		size_t l = strlen(names);
		snprintf(names + l, sizeof(names) - l, "%s%s", l ? ", " : "", f.names[i]);
		if (strcmp(f.names[i], "QuantizationModifier") == 0) {
			quant++;
			mod = f.args[i];
		}
	}
	if (quant != 1 || f.n != 1)
		return ct_fail(err, CT_EINPUT, "%s: the recipe has %s: ctensors applies exactly one "
			       "QuantizationModifier and nothing else", label, names);
	if (json_is_null(mod))
		return ct_fail(err, CT_EUSAGE, "%s: %s: no scheme and no config_groups: it "
			       "quantizes nothing", label, f.where[0]);
	/* the fields of llm-compressor's Modifier and QuantizationMixin
	 * (modifiers/modifier.py, quantization/quantization/mixin.py); the
	 * model is extra="forbid", so anything else is a mistake */
	static const char *const known[] = {
		"scheme", "config_groups", "targets", "ignore", "kv_cache_scheme", "index",
		"group", "start", "end", "update", "requires_calibration_data",
		"bypass_divisibility_checks", "weight_observer", "input_observer",
		"output_observer", "observer", NULL,
	};
	/* ... of which these change what the modifier computes */
	static const char *const unapplied[] = { "weight_observer", "input_observer",
						 "output_observer", "observer", NULL };
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)mod, k, v) {
		char near[240];
		if (!in_names(k, known))
			return ct_fail(err, CT_EUSAGE, "%s: %s: unknown argument \"%s\"%s (scheme, "
				       "config_groups, targets, ignore, kv_cache_scheme, ...)", label,
				       f.where[0], k, did_you_mean(k, known, count_of(known), near,
								  sizeof(near)));
		if (in_names(k, unapplied) && !json_is_null(v))
			return ct_fail(err, CT_EINPUT, "%s: %s: argument \"%s\" is not one ctensors "
				       "applies (it rounds to nearest with min-max scales)", label,
				       f.where[0], k);
	}
	/* a kv_cache_scheme makes the modifier require calibration data
	 * (mixin.py:QuantizationMixin._set_requires_calibration_data), with
	 * or without weight groups */
	const json_t *kv0 = json_object_get(mod, "kv_cache_scheme");
	if (kv0 && !json_is_null(kv0))
		return ct_fail(err, CT_EINPUT, "%s: %s: kv_cache_scheme needs calibration data "
			       "(k/v cache scales), and ctensors is data-free", label, f.where[0]);
	const json_t *scheme = json_object_get(mod, "scheme");
	const json_t *groups = json_object_get(mod, "config_groups");
	json_t *targets = json_object_get(mod, "targets") ?
			  string_list(json_object_get(mod, "targets")) : json_pack("[s]", "Linear");
	json_t *ignore = json_object_get(mod, "ignore") ? string_list(json_object_get(mod, "ignore")) :
			 json_array();
	int rc = CT_OK;
	if (!targets || !ignore)
		rc = ct_fail(err, CT_EUSAGE, "%s: QuantizationModifier: targets and ignore are a "
			     "name or a list of names", label);
	else if (scheme && groups && !json_is_null(scheme) && !json_is_null(groups))
		rc = ct_fail(err, CT_EUSAGE, "%s: QuantizationModifier: give one of scheme and "
			     "config_groups, not both", label);
	else if ((!scheme || json_is_null(scheme)) && (!groups || json_is_null(groups)))
		rc = ct_fail(err, CT_EUSAGE, "%s: QuantizationModifier: no scheme and no "
			     "config_groups: it quantizes nothing", label);
	if (scheme && json_is_null(scheme))
		scheme = NULL;
	if (groups && json_is_null(groups))
		groups = NULL;
	json_t *cg = rc ? NULL : json_object();
	if (!rc && groups) {
		if (!json_is_object(groups))
			rc = ct_fail(err, CT_EUSAGE, "%s: config_groups: expected a mapping", label);
		else
			json_object_update(cg, (json_t *)groups);
	} else if (!rc && json_is_string(scheme)) {
		json_t *g = NULL;
		rc = preset_group(json_string_value(scheme), targets, &g, err);
		if (!rc)
			json_object_set_new(cg, "group_0", g);
	} else if (!rc && json_is_object(scheme)) {
		/* {W4A16: [targets], FP8_DYNAMIC: [targets]}: a group each, in order */
		size_t i = 0;
		json_object_foreach((json_t *)scheme, k, v) {
			json_t *t = string_list(v);
			json_t *g = NULL;
			char gname[32];
			snprintf(gname, sizeof(gname), "group_%zu", i++);
			rc = t ? preset_group(k, t, &g, err) :
				 ct_fail(err, CT_EUSAGE, "%s: scheme: %s: expected its targets", label,
					 k);
			json_decref(t);
			if (rc)
				break;
			json_object_set_new(cg, gname, g);
		}
	} else if (!rc) {
		rc = ct_fail(err, CT_EUSAGE, "%s: QuantizationModifier: scheme is a preset name or "
			     "a mapping of preset names to targets", label);
	}
	if (rc && err->msg[0] && strncmp(err->msg, label, strlen(label)) != 0)
		ct_error_prefix(err, "%s: QuantizationModifier", label);
	if (!rc) {
		json_t *q = json_object();
		json_object_set_new(q, "config_groups", cg);
		json_object_set_new(q, "ignore", json_incref(ignore));
		const json_t *kv = json_object_get(mod, "kv_cache_scheme");
		if (kv)
			json_object_set_new(q, "kv_cache_scheme", json_deep_copy(kv));
		*out = q;
		cg = NULL;
	}
	json_decref(cg);
	json_decref(targets);
	json_decref(ignore);
	return rc;
}

/* A JSON document that is a recipe rather than a quantization_config: a
 * list, or a mapping with a stage, a modifier group or a modifier at the
 * top and none of a config's keys. */
static bool json_recipe_shaped(const json_t *v)
{
	if (json_is_array(v))
		return true;
	if (!json_is_object(v) || !ct_recipe_is_recipe(v))
		return false;
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x) {
		if (ends_with(k, "_stage") || ends_with(k, "_modifiers") || in_names(k, modifier_names))
			return true;
	}
	return false;
}

int ct_config_load(const char *path, size_t max_bytes, json_t **out, ct_error *err)
{
	bool recipe;
	return ct_config_load_ex(path, max_bytes, out, &recipe, err);
}

int ct_config_load_ex(const char *path, size_t max_bytes, json_t **out, bool *recipe,
		      ct_error *err)
{
	*out = NULL;
	*recipe = false;
	bool yaml = ends_with(path, ".yaml") || ends_with(path, ".yml");
	json_t *doc = NULL;
	int rc;
	if (!yaml) {
		/* recipe.py:Recipe.create_instance reads .json recipes with
		 * json.loads, and a file of another name as JSON, else YAML */
		rc = ct_json_load_file(path, max_bytes, &doc, err);
		if (!rc && !json_recipe_shaped(doc)) {
			*out = doc;
			return CT_OK;
		}
		if (rc && !ends_with(path, ".json")) {
			ct_error jerr = *err;
			char *text;
			size_t len;
			json_t *y = NULL;
			ct_error_clear(err);
			if (ct_read_file(path, max_bytes, &text, &len, err) == CT_OK) {
				if (ct_yaml_to_json(text, len, path, &y, err) == CT_OK &&
				    (json_is_object(y) || json_is_array(y))) {
					doc = y;
					y = NULL;
					rc = CT_OK;
				}
				free(text);
			}
			json_decref(y);
			if (rc)
				*err = jerr;   /* neither: the JSON reader's message */
			else
				ct_error_clear(err);
		}
		if (rc)
			return rc;
	} else {
		char *text;
		size_t len;
		rc = ct_read_file(path, max_bytes, &text, &len, err);
		if (rc)
			return rc;
		rc = ct_yaml_to_json(text, len, path, &doc, err);
		free(text);
	}
	if (!rc && ct_recipe_is_recipe(doc)) {
		*recipe = true;
		rc = ct_recipe_to_qconfig(doc, path, out, err);
	}
	else if (!rc)
		*out = json_incref(doc);   /* a quantization_config written as YAML */
	json_decref(doc);
	return rc;
}
