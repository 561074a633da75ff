/*
 * st_header.c - the safetensors header, read in one pass.
 *
 * A header is a JSON object of up to CT_ST_HEADER_MAX bytes that can list a
 * million tensors. A JSON tree of it costs about 1.5 kB a tensor; this
 * reader costs what it keeps: one ct_tensor per entry and the names,
 * unescaped into one buffer no longer than the header. Only __metadata__,
 * a small object of strings, is handed to jansson.
 *
 * It accepts exactly the JSON that jansson's strict parser accepts (no
 * trailing commas, no leading zeros, no lone surrogates, no NUL, integers
 * within int64, a depth of at most CT_HDR_MAX_DEPTH), and rejects duplicate
 * keys as jansson's JSON_REJECT_DUPLICATES does: tensors once all names are
 * known (sorted), keys of an entry and __metadata__ as they come.
 */
#include "st_header.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's JSON_PARSER_MAX_DEPTH: nesting below it is refused alike */
#define CT_HDR_MAX_DEPTH 2048

typedef struct hdr {
	const char *s, *at, *end;
	const char *label;
	ct_error *err;
	char *names;        /* unescaped tensor names, back to back */
	size_t names_used;
} hdr;

static int syntax(hdr *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int syntax(hdr *h, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ct_fail(h->err, CT_EINPUT, "%s: header is not valid JSON: %s (at byte %zu)",
		       h->label, what, (size_t)(h->at - h->s) + 8);
}

static void skip_ws(hdr *h)
{
	while (h->at < h->end && (*h->at == ' ' || *h->at == '\t' || *h->at == '\n' ||
				  *h->at == '\r'))
		h->at++;
}

static int hex4(hdr *h, const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
			     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) :
			     c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
		if (d == 16)
			return syntax(h, "invalid escape");
		*v = *v << 4 | d;
	}
	return CT_OK;
}

static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A string at h->at (its opening quote), unescaped into out (room for as
 * many bytes as the escaped form, which is never shorter), or only checked
 * when out is NULL. The header is valid UTF-8 already. is_key names the
 * NUL refusal as jansson does. */
static int read_string(hdr *h, char *out, size_t *len, bool is_key)
{
	h->at++;
	size_t n = 0;
	for (;;) {
		if (h->at >= h->end)
			return syntax(h, "premature end of input");
		unsigned char c = (unsigned char)*h->at;
		if (c == '"') {
			h->at++;
			break;
		}
		if (c < 0x20)
			return syntax(h, "control character 0x%x", c);
		if (c != '\\') {
			if (out)
				out[n] = (char)c;
			n++;
			h->at++;
			continue;
		}
		if (h->end - h->at < 2)
			return syntax(h, "premature end of input");
		char e = h->at[1];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			static const char map[] = "\"\\/\b\f\n\r\t";
			if (out)
				out[n] = map[simple - "\"\\/bfnrt"];
			n++;
			h->at += 2;
			continue;
		}
		if (e != 'u')
			return syntax(h, "invalid escape");
		if (h->end - h->at < 6)
			return syntax(h, "invalid escape");
		unsigned cp;
		if (hex4(h, h->at + 2, &cp))
			return CT_EINPUT;
		h->at += 6;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return syntax(h, "invalid Unicode '\\u%04X'", cp);
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			unsigned lo;
			if (h->end - h->at < 6 || h->at[0] != '\\' || h->at[1] != 'u' ||
			    hex4(h, h->at + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
				ct_error_clear(h->err);
				return syntax(h, "invalid Unicode '\\u%04X'", cp);
			}
			h->at += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		}
		if (cp == 0)
			return syntax(h, is_key ? "NUL byte in object key not supported" :
				      "\\u0000 (a NUL byte) in a string");
		char buf[4];
		size_t k = put_utf8(buf, cp);
		if (out)
			memcpy(out + n, buf, k);
		n += k;
	}
	if (len)
		*len = n;
	return CT_OK;
}

/* A number at h->at, as JSON writes it. *integer is set when it is an
 * integer within int64 (jansson refuses larger ones: "too big integer");
 * *value then holds it, its sign in *negative. */
static int read_number(hdr *h, bool *integer, bool *negative, uint64_t *value)
{
	const char *p = h->at;
	*negative = p < h->end && *p == '-';
	if (*negative)
		p++;
	if (p >= h->end || *p < '0' || *p > '9')
		return syntax(h, "invalid token");
	const char *digits = p;
	if (*p == '0' && p + 1 < h->end && p[1] >= '0' && p[1] <= '9')
		return syntax(h, "invalid token");
	while (p < h->end && *p >= '0' && *p <= '9')
		p++;
	const char *int_end = p;
	bool real = false;
	if (p < h->end && *p == '.') {
		real = true;
		p++;
		if (p >= h->end || *p < '0' || *p > '9')
			return syntax(h, "invalid token");
		while (p < h->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < h->end && (*p == 'e' || *p == 'E')) {
		real = true;
		p++;
		if (p < h->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= h->end || *p < '0' || *p > '9')
			return syntax(h, "invalid token");
		while (p < h->end && *p >= '0' && *p <= '9')
			p++;
	}
	*integer = !real;
	*value = 0;
	if (!real) {
		for (const char *d = digits; d < int_end; d++) {
			uint64_t v = *value * 10 + (uint64_t)(*d - '0');
			/* int64: up to 2^63 - 1, or 2^63 when negative */
			uint64_t lim = *negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
			if (*value > (UINT64_MAX - 9) / 10 || v > lim)
				return syntax(h, "too big integer");
			*value = v;
		}
	}
	h->at = p;
	return CT_OK;
}

static int literal(hdr *h, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(h->end - h->at) < n || memcmp(h->at, word, n) != 0)
		return syntax(h, "invalid token");
	h->at += n;
	return CT_OK;
}

/* Checks and steps over any value; keys of its objects must be unique. */
static int skip_value(hdr *h, int depth);

static int skip_object(hdr *h, int depth)
{
	h->at++;
	skip_ws(h);
	if (h->at < h->end && *h->at == '}') {
		h->at++;
		return CT_OK;
	}
	for (;;) {
		skip_ws(h);
		if (h->at >= h->end || *h->at != '"')
			return syntax(h, "string or '}' expected");
		if (read_string(h, NULL, NULL, true))
			return CT_EINPUT;
		skip_ws(h);
		if (h->at >= h->end || *h->at != ':')
			return syntax(h, "':' expected");
		h->at++;
		if (skip_value(h, depth + 1))
			return CT_EINPUT;
		skip_ws(h);
		if (h->at < h->end && *h->at == ',') {
			h->at++;
			continue;
		}
		if (h->at < h->end && *h->at == '}') {
			h->at++;
			return CT_OK;
		}
		return syntax(h, "'}' expected");
	}
}

static int skip_array(hdr *h, int depth)
{
	h->at++;
	skip_ws(h);
	if (h->at < h->end && *h->at == ']') {
		h->at++;
		return CT_OK;
	}
	for (;;) {
		if (skip_value(h, depth + 1))
			return CT_EINPUT;
		skip_ws(h);
		if (h->at < h->end && *h->at == ',') {
			h->at++;
			continue;
		}
		if (h->at < h->end && *h->at == ']') {
			h->at++;
			return CT_OK;
		}
		return syntax(h, "']' expected");
	}
}

static int skip_value(hdr *h, int depth)
{
	if (depth > CT_HDR_MAX_DEPTH)
		return syntax(h, "maximum parsing depth reached");
	skip_ws(h);
	if (h->at >= h->end)
		return syntax(h, "premature end of input");
	bool integer, negative;
	uint64_t v;
	switch (*h->at) {
	case '{': return skip_object(h, depth);
	case '[': return skip_array(h, depth);
	case '"': return read_string(h, NULL, NULL, false);
	case 't': return literal(h, "true");
	case 'f': return literal(h, "false");
	case 'n': return literal(h, "null");
	default: return read_number(h, &integer, &negative, &v);
	}
}

/* An array of at most max non-negative integers; *ok is false (and the
 * value is stepped over) when it is something else. */
static int read_uint_array(hdr *h, int depth, uint64_t *out, size_t max, size_t *count,
			   bool *ok)
{
	*ok = false;
	*count = 0;
	skip_ws(h);
	if (h->at >= h->end || *h->at != '[')
		return skip_value(h, depth);
	const char *start = h->at;
	h->at++;
	skip_ws(h);
	bool good = true;
	if (h->at < h->end && *h->at == ']') {
		h->at++;
		*ok = true;
		return CT_OK;
	}
	for (;;) {
		skip_ws(h);
		if (h->at < h->end && (*h->at == '-' || (*h->at >= '0' && *h->at <= '9'))) {
			bool integer, negative;
			uint64_t v;
			if (read_number(h, &integer, &negative, &v))
				return CT_EINPUT;
			if (!integer || (negative && v) || *count >= max)
				good = false;
			else
				out[(*count)++] = v;
		} else {
			/* anything else: checked as JSON, and the array is no shape */
			h->at = start;
			if (skip_value(h, depth))
				return CT_EINPUT;
			return CT_OK;
		}
		skip_ws(h);
		if (h->at < h->end && *h->at == ',') {
			h->at++;
			continue;
		}
		if (h->at < h->end && *h->at == ']') {
			h->at++;
			break;
		}
		return syntax(h, "']' expected");
	}
	*ok = good;
	return CT_OK;
}

/* Names come from the file and may be megabytes long: messages show the
 * start and the end. */
static const char *short_name(const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);
	if (n < size)
		return name;
	size_t half = (size - 8) / 2;
	snprintf(buf, size, "%.*s[...]%s", (int)half, name, name + n - half);
	return buf;
}

static void format_shape(char *buf, size_t size, int ndim, const uint64_t *shape)
{
	size_t off = 0;
	off += (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < ndim && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%" PRIu64,
					i ? ", " : "", shape[i]);
	if (off < size)
		snprintf(buf + off, size - off, "]");
}

/* The sizes an entry's fields imply, checked as the reference reader does. */
static int check_entry(const char *label, const char *name, ct_tensor *t, ct_error *err)
{
	if (t->end < t->begin)
		return ct_fail(err, CT_EINPUT, "%s: %s: data_offsets [%" PRIu64 ", %" PRIu64
			       "] end before begin", label, name, t->begin, t->end);
	uint64_t nbytes;
	char sh[256];
	format_shape(sh, sizeof(sh), t->ndim, t->shape);
	if (!ct_tensor_nbytes(t->dtype, t->ndim, t->shape, &t->nelem, &nbytes)) {
		uint64_t n = 1;
		bool overflow = false;
		for (int i = 0; i < t->ndim && !overflow; i++) {
			overflow = t->shape[i] && n > UINT64_MAX / t->shape[i];
			n *= t->shape[i];
		}
		if (overflow || n > UINT64_MAX / ct_dtype_bits(t->dtype))
			return ct_fail(err, CT_EINPUT, "%s: %s: shape %s of %s overflows the size "
				       "computation", label, name, sh, ct_dtype_name(t->dtype));
		return ct_fail(err, CT_EINPUT, "%s: %s: shape %s of %s does not fill whole "
			       "bytes (%u-bit elements)", label, name, sh, ct_dtype_name(t->dtype),
			       ct_dtype_bits(t->dtype));
	}
	if (t->end - t->begin != nbytes)
		return ct_fail(err, CT_EINPUT, "%s: %s: data_offsets [%" PRIu64 ", %" PRIu64
			       "] hold %" PRIu64 " bytes (expected %" PRIu64 " for %s %s)",
			       label, name, t->begin, t->end, t->end - t->begin, nbytes,
			       ct_dtype_name(t->dtype), sh);
	return CT_OK;
}

enum { F_DTYPE = 1, F_SHAPE = 2, F_OFFSETS = 4 };

/* A tensor entry {dtype, shape, data_offsets} at h->at; other keys are
 * stepped over, as the reference reader ignores them. A field's problem is
 * reported once the whole entry is known to be valid JSON, so a syntax
 * error later in it is the one named, as a tree parser would. */
static int read_entry(hdr *h, const char *name, ct_tensor *t)
{
	char namebuf[200];
	const char *shown = short_name(name, namebuf, sizeof(namebuf));
	skip_ws(h);
	if (h->at >= h->end || *h->at != '{') {
		if (skip_value(h, 1))
			return CT_EINPUT;
		return ct_fail(h->err, CT_EINPUT, "%s: %s: tensor entry is not an object "
			       "(expected {dtype, shape, data_offsets})", h->label, shown);
	}
	h->at++;
	unsigned seen = 0;
	bool dtype_ok = false, shape_ok = false, offsets_ok = false;
	uint64_t off[2] = { 0, 0 };
	size_t noff = 0, ndim = 0;
	skip_ws(h);
	bool empty = h->at < h->end && *h->at == '}';
	if (empty)
		h->at++;
	while (!empty) {
		skip_ws(h);
		if (h->at >= h->end || *h->at != '"')
			return syntax(h, "string or '}' expected");
		char key[16];
		const char *kstart = h->at;
		size_t klen;
		if (read_string(h, NULL, &klen, true))
			return CT_EINPUT;
		unsigned field = 0;
		if (klen < sizeof(key)) {
			const char *after = h->at;
			h->at = kstart;
			read_string(h, key, NULL, true);
			h->at = after;
			key[klen] = '\0';
			field = strcmp(key, "dtype") == 0 ? F_DTYPE : strcmp(key, "shape") == 0 ?
				F_SHAPE : strcmp(key, "data_offsets") == 0 ? F_OFFSETS : 0;
		}
		if (field & seen) {
			h->at = kstart;
			return syntax(h, "duplicate object key near '\"%s\"'", key);
		}
		seen |= field;
		skip_ws(h);
		if (h->at >= h->end || *h->at != ':')
			return syntax(h, "':' expected");
		h->at++;
		skip_ws(h);
		if (field == F_DTYPE && h->at < h->end && *h->at == '"') {
			char dt[32];
			size_t dlen;
			const char *vstart = h->at;
			if (read_string(h, NULL, &dlen, false))
				return CT_EINPUT;
			if (dlen < sizeof(dt)) {
				const char *after = h->at;
				h->at = vstart;
				read_string(h, dt, NULL, false);
				h->at = after;
				dtype_ok = memchr(dt, '\0', dlen) == NULL &&
					   ct_dtype_from_name(dt, dlen, &t->dtype);
			}
		} else if (field == F_SHAPE) {
			if (read_uint_array(h, 2, t->shape, CT_MAX_DIMS, &ndim, &shape_ok))
				return CT_EINPUT;
			t->ndim = (int)ndim;
		} else if (field == F_OFFSETS) {
			if (read_uint_array(h, 2, off, 2, &noff, &offsets_ok))
				return CT_EINPUT;
			offsets_ok = offsets_ok && noff == 2;
		} else if (skip_value(h, 2)) {
			return CT_EINPUT;
		}
		skip_ws(h);
		if (h->at < h->end && *h->at == ',') {
			h->at++;
			continue;
		}
		if (h->at < h->end && *h->at == '}') {
			h->at++;
			break;
		}
		return syntax(h, "'}' expected");
	}
	if (seen != (F_DTYPE | F_SHAPE | F_OFFSETS))
		return ct_fail(h->err, CT_EINPUT, "%s: %s: tensor entry lacks \"%s\"", h->label,
			       shown, !(seen & F_DTYPE) ? "dtype" : !(seen & F_SHAPE) ? "shape" :
			       "data_offsets");
	if (!dtype_ok)
		return ct_fail(h->err, CT_EINPUT, "%s: %s: unknown dtype (expected a safetensors "
			       "dtype such as F32, BF16, I32, F8_E4M3)", h->label, shown);
	if (!shape_ok)
		return ct_fail(h->err, CT_EINPUT, "%s: %s: shape is not an array of at most %d "
			       "non-negative integers", h->label, shown, CT_MAX_DIMS);
	if (!offsets_ok)
		return ct_fail(h->err, CT_EINPUT, "%s: %s: data_offsets is not [begin, end] "
			       "with non-negative integers", h->label, shown);
	t->begin = off[0];
	t->end = off[1];
	return check_entry(h->label, shown, t, h->err);
}

/* __metadata__: null, or an object of strings, parsed by jansson (it is
 * small, and callers read it as JSON). */
static int read_metadata(hdr *h, ct_st_file *f)
{
	skip_ws(h);
	const char *start = h->at;
	if (skip_value(h, 1))
		return CT_EINPUT;
	size_t len = (size_t)(h->at - start);
	if (len == 4 && memcmp(start, "null", 4) == 0)
		return CT_OK;
	if (*start != '{')
		return ct_fail(h->err, CT_EINPUT, "%s: __metadata__ is not an object of strings",
			       h->label);
	json_error_t jerr;
	json_t *meta = json_loadb(start, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!meta)
		return ct_fail(h->err, CT_EINPUT, "%s: header is not valid JSON: %s (at byte %zu)",
			       h->label, jerr.text, (size_t)(start - h->s) + (size_t)jerr.position +
			       8);
	const char *k;
	json_t *v;
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v)) {
			ct_fail(h->err, CT_EINPUT, "%s: __metadata__ value of \"%s\" is not a string",
				h->label, k);
			json_decref(meta);
			return CT_EINPUT;
		}
	}
	f->metadata = meta;
	return CT_OK;
}

static int cmp_index_by_name(const void *a, const void *b, void *ctx)
{
	const ct_tensor *t = ctx;
	return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

int ct_st_header_read(const char *label, const char *text, size_t n, ct_st_file *f,
		      ct_error *err)
{
	hdr h = { .s = text, .at = text, .end = text + n, .label = label, .err = err };
	/* unescaped names are never longer than the header they come from */
	h.names = malloc(n + 1);
	size_t cap = 0;
	if (!h.names)
		return ct_fail(err, CT_EIO, "%s: out of memory for a header of %zu bytes", label, n);
	f->names = h.names;
	bool have_meta = false;
	h.at++;   /* '{', checked by the caller */
	skip_ws(&h);
	bool empty = h.at < h.end && *h.at == '}';
	if (empty)
		h.at++;
	while (!empty) {
		skip_ws(&h);
		if (h.at >= h.end || *h.at != '"')
			return syntax(&h, "string or '}' expected");
		const char *kstart = h.at;
		char *name = h.names + h.names_used;
		size_t len;
		if (read_string(&h, name, &len, true))
			return CT_EINPUT;
		name[len] = '\0';
		skip_ws(&h);
		if (h.at >= h.end || *h.at != ':')
			return syntax(&h, "':' expected");
		h.at++;
		if (strcmp(name, "__metadata__") == 0) {
			if (have_meta) {
				h.at = kstart;
				return syntax(&h, "duplicate object key near '\"__metadata__\"'");
			}
			have_meta = true;
			if (read_metadata(&h, f))
				return CT_EINPUT;
		} else {
			h.names_used += len + 1;
			if (f->n_tensors == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				ct_tensor *g = realloc(f->tensors, ncap * sizeof(*g));
				if (!g)
					return ct_fail(err, CT_EIO, "%s: out of memory for %zu tensors",
						       label, ncap);
				f->tensors = g;
				cap = ncap;
			}
			ct_tensor *t = &f->tensors[f->n_tensors];
			memset(t, 0, sizeof(*t));
			t->name = name;
			t->name_len = len;
			f->n_tensors++;
			if (read_entry(&h, name, t))
				return CT_EINPUT;
		}
		skip_ws(&h);
		if (h.at < h.end && *h.at == ',') {
			h.at++;
			continue;
		}
		if (h.at < h.end && *h.at == '}') {
			h.at++;
			break;
		}
		return syntax(&h, "'}' expected");
	}
	skip_ws(&h);
	if (h.at != h.end)
		return syntax(&h, "end of file expected");
	/* the table grew by doubling: give the slack back */
	if (f->n_tensors && f->n_tensors < cap) {
		ct_tensor *t = realloc(f->tensors, f->n_tensors * sizeof(*t));
		if (t)
			f->tensors = t;
	}
	/* names sorted, so that duplicates are neighbours */
	f->by_name = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof(size_t));
	if (!f->by_name)
		return ct_fail(err, CT_EIO, "%s: out of memory for %zu tensors", label, f->n_tensors);
	for (size_t i = 0; i < f->n_tensors; i++)
		f->by_name[i] = i;
	qsort_r(f->by_name, f->n_tensors, sizeof(size_t), cmp_index_by_name, f->tensors);
	for (size_t i = 1; i < f->n_tensors; i++) {
		const ct_tensor *a = &f->tensors[f->by_name[i - 1]], *b = &f->tensors[f->by_name[i]];
		if (strcmp(a->name, b->name) == 0) {
			char buf[200];
			return ct_fail(err, CT_EINPUT, "%s: header is not valid JSON: duplicate "
				       "object key near '\"%s\"'", label,
				       short_name(b->name, buf, sizeof(buf)));
		}
	}
	return CT_OK;
}
