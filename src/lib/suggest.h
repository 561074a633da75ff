/* suggest.h - "did you mean ...?": the valid names nearest a mistyped one. */
#ifndef CT_SUGGEST_H
#define CT_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>

/* Edit distance (insertions, deletions, substitutions and transpositions of
 * neighbours) ignoring ASCII case and counting '_' and '-' as the same. */
size_t ct_edit_distance(const char *a, const char *b);

/* Writes into buf the candidates nearest word ("'x'" or "'x' or 'y'"),
 * when they are near enough to be what was meant: at most a third of the
 * word's length away (at least one edit). Returns false, with buf empty,
 * when none is. prefix goes before each name ("--" for options). */
bool ct_suggest(const char *word, const char *const *cands, size_t n, const char *prefix,
		char *buf, size_t size);

#endif
