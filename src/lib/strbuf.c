#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->failed = false;
}

void sb_free(strbuf *sb)
{
	free(sb->data);
	sb_init(sb);
}

static bool sb_reserve(strbuf *sb, size_t extra)
{
	if (sb->failed)
		return false;
	if (extra > SIZE_MAX - sb->len - 1) {
		sb->failed = true;
		return false;
	}
	size_t need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(sb->data, cap);
	if (!p) {
		sb->failed = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	return true;
}

void sb_putn(strbuf *sb, const char *s, size_t n)
{
	if (!sb_reserve(sb, n))
		return;
	if (n)
		memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void sb_puts(strbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

void sb_putc(strbuf *sb, char c)
{
	sb_putn(sb, &c, 1);
}

void sb_printf(strbuf *sb, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sb_putn(sb, small, (size_t)n);
		return;
	}
	if (!sb_reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_put_u64(strbuf *sb, uint64_t v)
{
	char buf[20];
	size_t i = sizeof(buf);
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_putn(sb, buf + i, sizeof(buf) - i);
}

void sb_put_json_string(strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	sb_putc(sb, '"');
	size_t run = 0; /* start of the pending unescaped run */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char ubuf[7];
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20) {
				memcpy(ubuf, "\\u00", 4);
				ubuf[4] = hex[c >> 4];
				ubuf[5] = hex[c & 15];
				ubuf[6] = '\0';
				esc = ubuf;
			}
		}
		if (esc) {
			sb_putn(sb, s + run, i - run);
			sb_puts(sb, esc);
			run = i + 1;
		}
	}
	sb_putn(sb, s + run, n - run);
	sb_putc(sb, '"');
}

char *sb_steal(strbuf *sb, size_t *len)
{
	if (sb->failed) {
		sb_free(sb);
		return NULL;
	}
	if (!sb->data && !sb_reserve(sb, 0))
		return NULL;
	if (!sb->data) {
		return NULL;
	}
	char *p = sb->data;
	if (len)
		*len = sb->len;
	sb_init(sb);
	return p;
}

const char *ct_show(char *dst, size_t size, const char *s, size_t max)
{
	return ct_show_as(dst, size, s, max, true);
}

const char *ct_show_as(char *dst, size_t size, const char *s, size_t max, bool quotes)
{
	size_t o = 0;
	for (size_t i = 0; s && s[i] && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= max) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7F || (quotes && (c == '"' || c == '\\')))
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	if (size)
		dst[o] = '\0';
	return dst;
}

void ct_strlist_addf(ct_strlist *l, const char *fmt, ...)
{
	if (l->failed)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **items = realloc(l->items, cap * sizeof(*items));
		if (!items) {
			l->failed = true;
			return;
		}
		l->items = items;
		l->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		l->failed = true;
		return;
	}
	l->items[l->n++] = s;
}

void ct_strlist_free(ct_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
	l->failed = false;
}
