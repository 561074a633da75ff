#include "pyjson.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Python repr(float) ---------------------------------------------- */

/* Largest significant-digit count a double ever needs to round-trip. */
#define MAX_DIGITS 17

/* Candidate is built as "DDDDe<exp>" without a decimal point so that strtod
 * reads it the same under any LC_NUMERIC the embedding program may have set. */
static bool digits_roundtrip(const char *dig, int n, int x, double want)
{
	char s[64];
	snprintf(s, sizeof(s), "%.*se%d", n, dig, x - (n - 1));
	return strtod(s, NULL) == want;
}

/* Shortens dig[0..*n) by its trailing zeros; never below one digit. */
static void strip_zeros(const char *dig, int *n)
{
	while (*n > 1 && dig[*n - 1] == '0')
		(*n)--;
}

/* Adds (dir=+1) or subtracts (dir=-1) one unit in the last place of the
 * n-digit significand dig with exponent *x, renormalizing so the first digit
 * is non-zero. dig must have room for n+1 digits. */
static void step_last_digit(char *dig, int *n, int *x, int dir)
{
	int i = *n - 1;
	if (dir > 0) {
		while (i >= 0 && dig[i] == '9')
			dig[i--] = '0';
		if (i >= 0) {
			dig[i]++;
		} else {
			/* 999 + 1 = 1000: one more digit, one decade up. */
			memmove(dig + 1, dig, (size_t)*n);
			dig[0] = '1';
			(*n)++;
			(*x)++;
		}
	} else {
		/* Stops at i == 0: the leading digit is never '0'. */
		while (i > 0 && dig[i] == '0')
			dig[i--] = '9';
		dig[i]--;
		if (dig[0] == '0') {
			/* 1000 - 1 lands in the decade below, where the n-digit
			 * neighbour is 9999 (finer spacing), not 0999. */
			memset(dig, '9', (size_t)*n);
			(*x)--;
		}
	}
}

/* Finds Python's shortest round-tripping significand of a > 0 (finite):
 * digits into dig (no NUL), count into *n, decimal exponent into *x. */
static void shortest_digits(double a, char *dig, int *n, int *x)
{
	for (int prec = 0; prec < MAX_DIGITS; prec++) {
		char s[64];
		snprintf(s, sizeof(s), "%.*e", prec, a);
		char near[MAX_DIGITS + 2];
		int nn = 0;
		const char *p = s;
		/* Skip the radix character whatever the locale made it. */
		for (; *p && *p != 'e'; p++)
			if (*p >= '0' && *p <= '9' && nn < MAX_DIGITS)
				near[nn++] = *p;
		int nx = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;

		if (prec == MAX_DIGITS - 1 || digits_roundtrip(near, nn, nx, a)) {
			memcpy(dig, near, (size_t)nn);
			*n = nn;
			*x = nx;
			strip_zeros(dig, n);
			return;
		}
		/* At a power of two the round-trip interval is lopsided (half as
		 * wide below), so the correctly rounded string can miss it while
		 * its neighbour one unit away on the wide side still hits; dtoa's
		 * shortest mode finds that neighbour, so must we. */
		for (int dir = -1; dir <= 1; dir += 2) {
			char cand[MAX_DIGITS + 2];
			int cn = nn, cx = nx;
			memcpy(cand, near, (size_t)nn);
			step_last_digit(cand, &cn, &cx, dir);
			strip_zeros(cand, &cn);
			if (digits_roundtrip(cand, cn, cx, a)) {
				memcpy(dig, cand, (size_t)cn);
				*n = cn;
				*x = cx;
				return;
			}
		}
	}
}

char *ct_pyjson_float_repr(double d, char *buf, size_t bufsize)
{
	char out[40];
	char *o = out;

	if (isnan(d)) {
		strcpy(out, "NaN");
	} else if (isinf(d)) {
		strcpy(out, d < 0 ? "-Infinity" : "Infinity");
	} else if (d == 0) {
		strcpy(out, signbit(d) ? "-0.0" : "0.0");
	} else {
		char dig[MAX_DIGITS + 2];
		int n, x;
		if (signbit(d))
			*o++ = '-';
		shortest_digits(fabs(d), dig, &n, &x);
		/* float_repr_style 'short': positional for decimal point positions
		 * -4..16, i.e. exponent x in [-4, 16). */
		if (x >= -4 && x < 16) {
			if (x < 0) {
				*o++ = '0';
				*o++ = '.';
				for (int i = 0; i < -x - 1; i++)
					*o++ = '0';
				memcpy(o, dig, (size_t)n);
				o += n;
			} else {
				for (int i = 0; i <= x; i++)
					*o++ = i < n ? dig[i] : '0';
				*o++ = '.';
				if (n > x + 1) {
					memcpy(o, dig + x + 1, (size_t)(n - x - 1));
					o += n - x - 1;
				} else {
					*o++ = '0';
				}
			}
			*o = '\0';
		} else {
			*o++ = dig[0];
			if (n > 1) {
				*o++ = '.';
				memcpy(o, dig + 1, (size_t)(n - 1));
				o += n - 1;
			}
			snprintf(o, sizeof(out) - (size_t)(o - out), "e%c%02d",
				 x < 0 ? '-' : '+', x < 0 ? -x : x);
		}
	}

	size_t len = strlen(out);
	if (!buf || len + 1 > bufsize) {
		if (buf && bufsize > 0)
			buf[0] = '\0';
		return NULL;
	}
	memcpy(buf, out, len + 1);
	return buf;
}

/* ---- output buffer ----------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	bool bad; /* sticky: lets emitters skip per-call error checks */
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (n > SIZE_MAX - 1 - b->len) {
		b->bad = true;
		return;
	}
	size_t need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->bad = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_indent(struct sbuf *b, int level)
{
	static const char spaces[] = "                                ";
	size_t want = (size_t)level * 2;
	sb_put(b, "\n", 1);
	while (want > 0) {
		size_t k = want < sizeof(spaces) - 1 ? want : sizeof(spaces) - 1;
		sb_put(b, spaces, k);
		want -= k;
	}
}

/* ---- strings ----------------------------------------------------------- */

static void put_u16(struct sbuf *b, unsigned u)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15],
		      hex[(u >> 4) & 15], hex[u & 15] };
	sb_put(b, e, sizeof(e));
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0 if
 * malformed (overlong, surrogate, beyond U+10FFFF, truncated) - the same
 * checks jansson applies on load, repeated because *_nocheck bypasses them. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* json.encoder.py_encode_basestring_ascii: everything outside ' '..'~' is
 * escaped, DEL included. */
static void put_string(struct sbuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	sb_put(b, "\"", 1);
	while (i < n && !b->bad) {
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] <= 0x7e &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			sb_put(b, str + i, run - i);
			i = run;
			continue;
		}
		const char *esc = NULL;
		switch (s[i]) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default: break;
		}
		if (esc) {
			sb_put(b, esc, 2);
			i++;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(s + i, n - i, &cp);
		if (len == 0) {
			b->bad = true;
			return;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			put_u16(b, 0xd800 | (cp >> 10));
			put_u16(b, 0xdc00 | (cp & 0x3ff));
		} else {
			put_u16(b, cp);
		}
		i += len;
	}
	sb_put(b, "\"", 1);
}

/* ---- values ------------------------------------------------------------ */

struct member {
	const char *key;
	size_t len;
	json_t *val;
};

/* Byte order of UTF-8 equals code-point order, which is how Python sorts
 * str keys; lengths break ties so keys holding NUL still order correctly. */
static int cmp_member(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->key, b->key, n);
	if (c != 0)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static void put_value(struct sbuf *b, const json_t *v, int depth, bool pretty);

static void put_object(struct sbuf *b, const json_t *v, int depth, bool pretty)
{
	/* jansson's iterator API is not const-qualified but does not modify. */
	json_t *obj = (json_t *)v;
	size_t count = json_object_size(obj);
	if (count == 0) {
		sb_put(b, "{}", 2);
		return;
	}
	struct member *m = calloc(count, sizeof(*m));
	if (!m) {
		b->bad = true;
		return;
	}
	size_t k = 0;
	for (void *it = json_object_iter(obj); it && k < count;
	     it = json_object_iter_next(obj, it), k++) {
		m[k].key = json_object_iter_key(it);
		m[k].len = json_object_iter_key_len(it);
		m[k].val = json_object_iter_value(it);
	}
	qsort(m, k, sizeof(*m), cmp_member);

	sb_put(b, "{", 1);
	for (size_t i = 0; i < k && !b->bad; i++) {
		if (i > 0)
			sb_put(b, ",", 1);
		if (pretty)
			sb_indent(b, depth + 1);
		put_string(b, m[i].key, m[i].len);
		sb_put(b, pretty ? ": " : ":", pretty ? 2 : 1);
		put_value(b, m[i].val, depth + 1, pretty);
	}
	if (pretty)
		sb_indent(b, depth);
	sb_put(b, "}", 1);
	free(m);
}

static void put_array(struct sbuf *b, const json_t *v, int depth, bool pretty)
{
	size_t count = json_array_size(v);
	if (count == 0) {
		sb_put(b, "[]", 2);
		return;
	}
	sb_put(b, "[", 1);
	for (size_t i = 0; i < count && !b->bad; i++) {
		if (i > 0)
			sb_put(b, ",", 1);
		if (pretty)
			sb_indent(b, depth + 1);
		put_value(b, json_array_get(v, i), depth + 1, pretty);
	}
	if (pretty)
		sb_indent(b, depth);
	sb_put(b, "]", 1);
}

/* depth: number of containers enclosing v. */
static void put_value(struct sbuf *b, const json_t *v, int depth, bool pretty)
{
	char num[40];
	if (b->bad)
		return;
	if (!v) {
		b->bad = true;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (depth >= CT_PYJSON_MAX_DEPTH) {
			b->bad = true;
			return;
		}
		if (json_is_object(v))
			put_object(b, v, depth, pretty);
		else
			put_array(b, v, depth, pretty);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		sb_puts(b, num);
		break;
	case JSON_REAL:
		ct_pyjson_float_repr(json_real_value(v), num, sizeof(num));
		sb_puts(b, num);
		break;
	case JSON_TRUE:
		sb_put(b, "true", 4);
		break;
	case JSON_FALSE:
		sb_put(b, "false", 5);
		break;
	case JSON_NULL:
		sb_put(b, "null", 4);
		break;
	default:
		b->bad = true;
		break;
	}
}

char *ct_pyjson_dumps(const json_t *v, bool pretty)
{
	struct sbuf b = { 0 };
	put_value(&b, v, 0, pretty);
	if (b.bad || !b.p) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
