/* utf8.h - strict UTF-8 validation (no overlong forms, no surrogates, at most U+10FFFF). */
#ifndef CT_UTF8_H
#define CT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is valid UTF-8; else false with *bad = offset of the
 * first byte of the offending sequence. */
bool ct_utf8_valid(const char *s, size_t n, size_t *bad);

#endif
