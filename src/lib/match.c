/*
 * match.c - target/ignore patterns of a quantization_config (FORMAT.md §5.6),
 * resolved as compressed-tensors resolves them (utils/match.py).
 *
 * Two kinds of entry: "re:" + a Python regex applied with re.match (anchored
 * at the start only) to the module name, and anything else, which matches a
 * module whose name equals it or whose class (inferred, modclass.h) is or
 * derives from a class of that name. When several groups match a module,
 * the library takes the most specific match: an exact name, then a regex,
 * then a class (match_targets). Compiled patterns are read-only after
 * construction except for the "used" marks, which only ct_qmatch_mark and
 * ct_matcher_mark write; matching may run from several threads at once.
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

typedef enum pat_kind { PAT_NAME, PAT_REGEX } pat_kind;

typedef struct pat {
	pat_kind kind;
	char *text;            /* the entry as written */
	pcre2_code *re;        /* PAT_REGEX */
	bool used;             /* matched some module (ct_matcher_mark) */
} pat;

struct ct_matcher {
	pat *pats;
	size_t n;
};

struct ct_qmatch {
	ct_matcher **groups;   /* one per config group, in config order */
	size_t n_groups;
	const ct_qconfig *cfg; /* for group names in messages */
	ct_matcher *ignore;
};

static const char *show(char *dst, size_t size, const char *s)
{
	return ct_show(dst, size, s, CT_MATCH_SHOW_MAX);
}

/* A pattern as the user wrote it, for warnings: backslashes and quotes
 * kept ("re:.*mlp\.gate$" must read as typed, not as "\x5c."); only
 * control bytes are escaped, and the text is cut at CT_MATCH_SHOW_MAX. */
static const char *show_pattern(char *dst, size_t size, const char *s)
{
	return ct_show_as(dst, size, s, CT_MATCH_SHOW_MAX, false);
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
			show_pattern(shown, sizeof(shown), s);
			return ct_fail(err, CT_EINPUT, "%s[%zu]: bad regex \"%s\": %s at offset "
				       "%zu (Python re syntax after \"re:\")", what, i, shown,
				       (const char *)msg, (size_t)off);
		}
		/* compiled to machine code where PCRE2 can: a pattern is matched
		 * against every module of the checkpoint; without JIT the
		 * interpreter gives the same answers, slower */
		(void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
		p->kind = PAT_REGEX;
	} else {
		p->kind = PAT_NAME;
	}
	p->text = strdup(s);
	if (!p->text)
		return ct_fail(err, CT_EIO, "%s: out of memory", what);
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

/* How specifically pattern p matches: CT_MATCH_EXACT, _REGEX, _CLASS, or
 * CT_MATCH_NONE. */
static int pat_level(const pat *p, const char *module, ct_modclass cls)
{
	if (p->kind == PAT_REGEX)
		return regex_match(p->re, module) ? CT_MATCH_REGEX : CT_MATCH_NONE;
	if (strcmp(p->text, module) == 0)
		return CT_MATCH_EXACT;
	return ct_modclass_matches(cls, p->text) ? CT_MATCH_CLASS : CT_MATCH_NONE;
}

int ct_matcher_best(const ct_matcher *m, const char *module, ct_modclass cls, size_t *which)
{
	int best = CT_MATCH_NONE;
	if (!m || !module)
		return best;
	for (size_t i = 0; i < m->n; i++) {
		int l = pat_level(&m->pats[i], module, cls);
		if (l != CT_MATCH_NONE && (best == CT_MATCH_NONE || l < best)) {
			best = l;
			if (which)
				*which = i;
			if (l == CT_MATCH_EXACT)
				break;
		}
	}
	return best;
}

bool ct_matcher_match(const ct_matcher *m, const char *module, ct_modclass cls)
{
	if (!m || !module)
		return false;
	for (size_t i = 0; i < m->n; i++)
		if (pat_level(&m->pats[i], module, cls) != CT_MATCH_NONE)
			return true;
	return false;
}

void ct_matcher_mark(ct_matcher *m, const char *module, ct_modclass cls)
{
	if (!m || !module)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (!m->pats[i].used && pat_level(&m->pats[i], module, cls) != CT_MATCH_NONE)
			m->pats[i].used = true;
}

const char *ct_matcher_unused(const ct_matcher *m, size_t *iter)
{
	for (; m && *iter < m->n; (*iter)++)
		if (!m->pats[*iter].used)
			return m->pats[(*iter)++].text;
	return NULL;
}

const char *ct_matcher_pattern(const ct_matcher *m, size_t i)
{
	return m && i < m->n ? m->pats[i].text : NULL;
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
	m->cfg = c;
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

bool ct_qmatch_ignored(const ct_qmatch *m, const char *module, ct_modclass cls)
{
	return m && ct_matcher_match(m->ignore, module, cls);
}

static const char *level_name(int level)
{
	return level == CT_MATCH_EXACT ? "its exact name" :
	       level == CT_MATCH_REGEX ? "a regex" : "its class";
}

int ct_qmatch_resolve(const ct_qmatch *m, const char *module, ct_modclass cls, int *group,
		      ct_error *err)
{
	*group = -1;
	if (!m || !module || ct_qmatch_ignored(m, module, cls))
		return CT_OK;
	int best = CT_MATCH_NONE, tie = -1;
	size_t best_pat = 0, tie_pat = 0;
	for (size_t g = 0; g < m->n_groups; g++) {
		size_t which = 0;
		int l = ct_matcher_best(m->groups[g], module, cls, &which);
		if (l == CT_MATCH_NONE)
			continue;
		if (best == CT_MATCH_NONE || l < best) {
			best = l;
			*group = (int)g;
			best_pat = which;
			tie = -1;
		} else if (l == best && tie < 0) {
			tie = (int)g;
			tie_pat = which;
		}
	}
	if (tie < 0)
		return CT_OK;
	char a[CT_MATCH_SHOW_MAX * 4 + 16], b[CT_MATCH_SHOW_MAX * 4 + 16];
	char ta[CT_MATCH_SHOW_MAX * 4 + 16], tb[CT_MATCH_SHOW_MAX * 4 + 16];
	char mod[CT_MATCH_SHOW_MAX * 4 + 16];
	const ct_qconfig *c = m->cfg;
	show(a, sizeof(a), c->groups[*group].name ? c->groups[*group].name : "?");
	show(b, sizeof(b), c->groups[tie].name ? c->groups[tie].name : "?");
	show_pattern(ta, sizeof(ta), ct_matcher_pattern(m->groups[*group], best_pat));
	show_pattern(tb, sizeof(tb), ct_matcher_pattern(m->groups[tie], tie_pat));
	show(mod, sizeof(mod), module);
	*group = -1;
	return ct_fail(err, CT_EINPUT, "%s: config groups %s (target \"%s\") and %s (target "
		       "\"%s\") both match it by %s, so which scheme applies is ambiguous "
		       "(make the targets disjoint, or name the module exactly in one group)",
		       mod, a, ta, b, tb, level_name(best));
}

int ct_qmatch_group(const ct_qmatch *m, const char *module, ct_modclass cls)
{
	int g;
	ct_error ignored;
	return ct_qmatch_resolve(m, module, cls, &g, &ignored) == CT_OK ? g : -1;
}

void ct_qmatch_mark(ct_qmatch *m, const char *module, ct_modclass cls)
{
	if (!m)
		return;
	for (size_t g = 0; g < m->n_groups; g++)
		ct_matcher_mark(m->groups[g], module, cls);
	ct_matcher_mark(m->ignore, module, cls);
}

void ct_qmatch_unused(const ct_qmatch *m, const char *const *quiet, size_t n_quiet,
		      ct_strlist *out)
{
	if (!m)
		return;
	char shown[CT_MATCH_SHOW_MAX * 4 + 16], name[CT_MATCH_SHOW_MAX * 4 + 16];
	for (size_t g = 0; g < m->n_groups; g++) {
		size_t it = 0;
		const char *p;
		show(name, sizeof(name), m->cfg->groups[g].name ? m->cfg->groups[g].name : "?");
		while ((p = ct_matcher_unused(m->groups[g], &it)))
			ct_strlist_addf(out, "config group %s: target \"%s\" matches no module%s",
					name, show_pattern(shown, sizeof(shown), p),
					ct_class_target(p) || strncmp(p, REGEX_PREFIX, 3) == 0 ? "" :
					" (not a module name of this checkpoint, nor a class ctensors "
					"recognises: Linear, Embedding, Conv1D, Conv1d, Conv2d, Conv3d, "
					"*Norm, Module)");
	}
	size_t it = 0;
	const char *p;
	while ((p = ct_matcher_unused(m->ignore, &it))) {
		bool implicit = false;
		for (size_t i = 0; i < n_quiet && !implicit; i++)
			implicit = strcmp(quiet[i], p) == 0;
		if (!implicit)
			ct_strlist_addf(out, "ignore entry \"%s\" matches no module",
					show_pattern(shown, sizeof(shown), p));
	}
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
