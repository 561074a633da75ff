/*
 * match.c - target/ignore patterns of a quantization_config (FORMAT.md §5.6).
 *
 * Three kinds of entry: "re:" + a Python regex applied with re.match (anchored
 * at the start only), the class name "Linear" (a name-only tool treats every
 * candidate module as a Linear), and anything else, which must equal the
 * module name. Compiled patterns are read-only after construction, so one
 * matcher may be used from several threads at once.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "qconfig.h"
#include "strbuf.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest pattern accepted, in bytes (long alternations of module names are
 * common in ignore lists; this only stops absurd input). */
#define CT_MATCH_MAX_PATTERN (1u << 20)
/* Bytes of a pattern quoted in an error message before it is cut. */
#define CT_MATCH_SHOW_MAX 96
/* Room for PCRE2's compile error text. */
#define CT_MATCH_ERRMSG_MAX 256

#define REGEX_PREFIX "re:"
#define LINEAR_CLASS "Linear"

typedef enum pat_kind { PAT_EXACT, PAT_LINEAR, PAT_REGEX } pat_kind;

typedef struct pat {
	pat_kind kind;
	char *text;            /* the module name (PAT_EXACT) */
	pcre2_code *re;        /* PAT_REGEX */
} pat;

struct ct_matcher {
	pat *pats;
	size_t n;
};

struct ct_qmatch {
	ct_matcher **groups;   /* one per config group, in config order */
	size_t n_groups;
	ct_matcher *ignore;
};

static void show(char *dst, size_t size, const char *s)
{
	ct_show(dst, size, s, CT_MATCH_SHOW_MAX);
}

static void pat_clear(pat *p)
{
	free(p->text);
	pcre2_code_free(p->re);
	p->text = NULL;
	p->re = NULL;
}

static int pat_compile(pat *p, const char *s, const char *what, size_t i, ct_error *err)
{
	char shown[4 * CT_MATCH_SHOW_MAX + 16];
	size_t len = strlen(s);
	if (len > CT_MATCH_MAX_PATTERN) {
		show(shown, sizeof(shown), s);
		return ct_fail(err, CT_EINPUT, "%s[%zu]: pattern \"%s\" is %zu bytes long "
			       "(at most %u)", what, i, shown, len, CT_MATCH_MAX_PATTERN);
	}
	if (strncmp(s, REGEX_PREFIX, strlen(REGEX_PREFIX)) == 0) {
		const char *rx = s + strlen(REGEX_PREFIX);
		int code;
		PCRE2_SIZE off;
		/* ANCHORED = Python's re.match; UTF+UCP = Python 3 str semantics
		 * (\d, \w, \s and \b are Unicode-aware). PCRE2 also accepts
		 * Python's (?P<name>...), (?P=name) and (?P>name). */
		p->re = pcre2_compile((PCRE2_SPTR)rx, PCRE2_ZERO_TERMINATED,
				      PCRE2_ANCHORED | PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
		if (!p->re) {
			PCRE2_UCHAR msg[CT_MATCH_ERRMSG_MAX];
			if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
				snprintf((char *)msg, sizeof(msg), "error %d", code);
			show(shown, sizeof(shown), s);
			return ct_fail(err, CT_EINPUT, "%s[%zu]: bad regex \"%s\": %s at offset "
				       "%zu (Python re syntax after \"re:\")", what, i, shown,
				       (const char *)msg, (size_t)off);
		}
		p->kind = PAT_REGEX;
		return CT_OK;
	}
	if (strcmp(s, LINEAR_CLASS) == 0) {
		p->kind = PAT_LINEAR;
		return CT_OK;
	}
	p->text = strdup(s);
	if (!p->text)
		return ct_fail(err, CT_EIO, "%s: out of memory", what);
	p->kind = PAT_EXACT;
	return CT_OK;
}

int ct_matcher_new(const char *const *patterns, size_t n, const char *what,
		   ct_matcher **out, ct_error *err)
{
	*out = NULL;
	if (!what)
		what = "patterns";
	if (n && !patterns)
		return ct_fail(err, CT_EINTERNAL, "%s: no pattern list", what);
	ct_matcher *m = calloc(1, sizeof(*m));
	if (!m)
		return ct_fail(err, CT_EIO, "%s: out of memory", what);
	if (n) {
		m->pats = calloc(n, sizeof(*m->pats));
		if (!m->pats) {
			free(m);
			return ct_fail(err, CT_EIO, "%s: out of memory for %zu patterns", what, n);
		}
	}
	for (size_t i = 0; i < n; i++) {
		int rc = patterns[i]
			? pat_compile(&m->pats[i], patterns[i], what, i, err)
			: ct_fail(err, CT_EINTERNAL, "%s[%zu]: NULL pattern", what, i);
		m->n = i;
		if (rc) {
			ct_matcher_free(m);
			return rc;
		}
	}
	m->n = n;
	*out = m;
	return CT_OK;
}

/* PCRE2 errors (invalid UTF-8 in module, match limit hit) count as no match. */
static bool regex_match(const pcre2_code *re, const char *module)
{
	/* Match data per call: the compiled code is shared, nothing else is. */
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md)
		return false;
	int rc = pcre2_match(re, (PCRE2_SPTR)module, PCRE2_ZERO_TERMINATED, 0,
			     PCRE2_ANCHORED, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

bool ct_matcher_match(const ct_matcher *m, const char *module)
{
	if (!m || !module)
		return false;
	for (size_t i = 0; i < m->n; i++) {
		const pat *p = &m->pats[i];
		switch (p->kind) {
		case PAT_LINEAR:
			return true;
		case PAT_EXACT:
			if (strcmp(p->text, module) == 0)
				return true;
			break;
		case PAT_REGEX:
			if (regex_match(p->re, module))
				return true;
			break;
		}
	}
	return false;
}

void ct_matcher_free(ct_matcher *m)
{
	if (!m)
		return;
	/* m->n counts the entries compiled so far (a failed one holds nothing). */
	for (size_t i = 0; i < m->n; i++)
		pat_clear(&m->pats[i]);
	free(m->pats);
	free(m);
}

/* ---- a whole config ---- */

int ct_qconfig_compile(const ct_qconfig *c, ct_qmatch **out, ct_error *err)
{
	*out = NULL;
	if (!c)
		return ct_fail(err, CT_EINTERNAL, "ct_qconfig_compile: no config");
	if (c->n_groups > (size_t)INT32_MAX)
		return ct_fail(err, CT_EINPUT, "config_groups: too many groups");
	ct_qmatch *m = calloc(1, sizeof(*m));
	if (!m)
		return ct_fail(err, CT_EIO, "config_groups: out of memory");
	if (c->n_groups) {
		m->groups = calloc(c->n_groups, sizeof(*m->groups));
		if (!m->groups) {
			free(m);
			return ct_fail(err, CT_EIO, "config_groups: out of memory");
		}
	}
	m->n_groups = c->n_groups;
	int rc = CT_OK;
	for (size_t g = 0; g < c->n_groups && !rc; g++) {
		char what[CT_MATCH_SHOW_MAX * 4 + 64];
		char name[CT_MATCH_SHOW_MAX * 4 + 16];
		show(name, sizeof(name), c->groups[g].name ? c->groups[g].name : "?");
		snprintf(what, sizeof(what), "config_groups.%s.targets", name);
		rc = ct_matcher_new((const char *const *)c->groups[g].targets,
				    c->groups[g].n_targets, what, &m->groups[g], err);
	}
	if (!rc)
		rc = ct_matcher_new((const char *const *)c->ignore, c->n_ignore, "ignore",
				    &m->ignore, err);
	if (rc) {
		ct_qmatch_free(m);
		return rc;
	}
	*out = m;
	return CT_OK;
}

bool ct_qmatch_ignored(const ct_qmatch *m, const char *module)
{
	return m && ct_matcher_match(m->ignore, module);
}

int ct_qmatch_group(const ct_qmatch *m, const char *module)
{
	if (!m || !module || ct_qmatch_ignored(m, module))
		return -1;
	for (size_t g = 0; g < m->n_groups; g++)
		if (ct_matcher_match(m->groups[g], module))
			return (int)g;
	return -1;
}

void ct_qmatch_free(ct_qmatch *m)
{
	if (!m)
		return;
	for (size_t g = 0; g < m->n_groups; g++)
		ct_matcher_free(m->groups[g]);
	free(m->groups);
	ct_matcher_free(m->ignore);
	free(m);
}
