/*
 * strbuf.h - a growable byte buffer for building JSON and messages.
 *
 * Out-of-memory is sticky: after the first failed allocation every append is
 * a no-op and sb_failed() reports it, so builders check once at the end.
 */
#ifndef CT_STRBUF_H
#define CT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strbuf {
	char *data;   /* NUL-terminated while not failed */
	size_t len;
	size_t cap;
	bool failed;  /* an allocation failed; contents are incomplete */
} strbuf;

void sb_init(strbuf *sb);
void sb_free(strbuf *sb);
void sb_putn(strbuf *sb, const char *s, size_t n);
void sb_puts(strbuf *sb, const char *s);
void sb_putc(strbuf *sb, char c);
void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal, as "%" PRIu64 would (without printf's cost, which
 * shows in the header of a file with thousands of tensors). */
void sb_put_u64(strbuf *sb, uint64_t v);
/* Appends s[0..n) as a JSON string literal the way serde_json escapes it:
 * quotes, backslash and C0 controls escaped, everything else raw UTF-8. */
void sb_put_json_string(strbuf *sb, const char *s, size_t n);
/* Returns the buffer (caller frees) and resets sb; NULL if failed. */
char *sb_steal(strbuf *sb, size_t *len);

/* Copies untrusted text into dst for a message: quotes, backslashes and
 * control bytes as \xNN, cut with "..." after max bytes. Returns dst. */
const char *ct_show(char *dst, size_t size, const char *s, size_t max);
/* The same, where quotes selects whether quotes and backslashes are escaped
 * too (not in a pattern shown as the user typed it, "re:.*mlp\.gate$"). */
const char *ct_show_as(char *dst, size_t size, const char *s, size_t max, bool quotes);

/* A list of messages (warnings a plan collects for the CLI to print).
 * Out-of-memory is sticky as for strbuf. */
typedef struct ct_strlist {
	char **items;
	size_t n, cap;
	bool failed;
} ct_strlist;

void ct_strlist_addf(ct_strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ct_strlist_free(ct_strlist *l);

#endif
