/* suggest.c - nearest names for "did you mean ...?" messages. */
#include "suggest.h"

#include <stdio.h>
#include <string.h>

#define SUGGEST_MAX_LEN 64

static unsigned char fold(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c - 'A' + 'a');
	return c == '_' ? '-' : c;
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return m < c ? m : c;
}

size_t ct_edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	/* names are short; a long word is nobody's typo of one */
	if (n > SUGGEST_MAX_LEN || m > SUGGEST_MAX_LEN)
		return n > m ? n : m;
	unsigned char d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1]; /* every distance <= 64 */
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			unsigned char x = fold((unsigned char)a[i - 1]), y = fold((unsigned char)b[j - 1]);
			size_t cost = x != y;
			d[i][j] = (unsigned char)min3(d[i - 1][j] + 1u, d[i][j - 1] + 1u,
						    d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && x == fold((unsigned char)b[j - 2]) &&
			    fold((unsigned char)a[i - 2]) == y && d[i - 2][j - 2] + 1u < d[i][j])
				d[i][j] = (unsigned char)(d[i - 2][j - 2] + 1);
		}
	}
	return d[n][m];
}

bool ct_suggest(const char *word, const char *const *cands, size_t n, const char *prefix,
		char *buf, size_t size)
{
	if (size)
		buf[0] = '\0';
	if (!word || !size)
		return false;
	size_t len = strlen(word);
	size_t limit = len / 3 > 1 ? len / 3 : 1;
	size_t best = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		size_t d = ct_edit_distance(word, cands[i]);
		if (d < best)
			best = d;
	}
	if (best > limit)
		return false;
	size_t at = 0, shown = 0;
	for (size_t i = 0; i < n && at < size; i++) {
		if (ct_edit_distance(word, cands[i]) != best)
			continue;
		/* a name listed twice (an alias table) is offered once */
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++)
			dup = strcmp(cands[k], cands[i]) == 0 &&
			      ct_edit_distance(word, cands[k]) == best;
		if (dup)
			continue;
		int w = snprintf(buf + at, size - at, "%s'%s%s'", shown ? " or " : "",
				 prefix ? prefix : "", cands[i]);
		if (w < 0)
			break;
		at += (size_t)w;
		shown++;
	}
	if (at >= size)
		buf[size - 1] = '\0';
	return shown > 0;
}
