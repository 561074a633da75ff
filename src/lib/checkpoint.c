#include "checkpoint.h"
#include "qconfig.h"
#include "parts.h"
#include "strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CT_JSON_FILE_MAX (256u << 20) /* config and index files are small */

static char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Python's json.dump writes NaN, Infinity and -Infinity, and integers of
 * any size; transformers reads them back. JSON has none of them, and
 * jansson refuses integers beyond int64. Outside strings, the literals
 * become null and integers of more than 18 digits become reals (null past
 * the range of a double), none of which a quantization config relies on.
 * Returns a malloc'd copy, NULL when out of memory. */
static char *python_json_to_strict(const char *in, size_t n, size_t *out_len)
{
	strbuf sb;
	sb_init(&sb);
	bool in_str = false;
	for (size_t i = 0; i < n;) {
		char c = in[i];
		if (in_str) {
			/* an escaped character is copied with its backslash */
			size_t l = c == '\\' && i + 1 < n ? 2 : 1;
			sb_putn(&sb, in + i, l);
			in_str = !(c == '"');
			i += l;
			continue;
		}
		if (c == '"')
			in_str = true;
		static const char *const lits[] = { "-Infinity", "Infinity", "NaN" };
		size_t lit = 0;
		for (size_t k = 0; k < 3 && !lit; k++)
			if (n - i >= strlen(lits[k]) && memcmp(in + i, lits[k], strlen(lits[k])) == 0)
				lit = strlen(lits[k]);
		if (lit) {
			sb_puts(&sb, "null");
			i += lit;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			/* a whole number at once, so its digits are not looked at again */
			size_t j = i + (c == '-'), digits = 0;
			while (j < n && in[j] >= '0' && in[j] <= '9') {
				j++;
				digits++;
			}
			bool integer = j >= n || (in[j] != '.' && in[j] != 'e' && in[j] != 'E');
			if (integer && digits > 300) {
				sb_puts(&sb, "null");
			} else {
				sb_putn(&sb, in + i, j - i);
				if (integer && digits > 18)
					sb_puts(&sb, ".0");
			}
			i = j;
			continue;
		}
		sb_putc(&sb, c);
		i++;
	}
	return sb_steal(&sb, out_len);
}

/* optional: an absent file is no error, *out stays NULL */
/* Reads a whole small file: *buf is NULL when optional and the file is
 * absent. */
static int read_file(const char *path, size_t max_bytes, bool optional, char **buf_out,
		     size_t *len_out, ct_error *err)
{
	*buf_out = NULL;
	*len_out = 0;
	int fd;
	uint64_t size;
	int rc = ct_open_regular(path, &fd, &size, err);
	if (rc) {
		if (optional && access(path, F_OK) != 0 && errno == ENOENT) {
			ct_error_clear(err);
			return CT_OK;
		}
		return rc;
	}
	if (size > max_bytes) {
		close(fd);
		return ct_fail(err, CT_EINPUT, "%s: larger than %zu bytes", path, max_bytes);
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		/* read to the end, not to the size of the stat: the file may grow */
		if (cap - len < 65536) {
			if (cap >= max_bytes) {
				rc = ct_fail(err, CT_EINPUT, "%s: larger than %zu bytes", path,
					     max_bytes);
				break;
			}
			size_t ncap = cap ? cap * 2 : 65536 * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				rc = ct_fail(err, CT_EIO, "%s: out of memory", path);
				break;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = ct_fail(err, CT_EIO, "%s: read error: %s", path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	if (!buf && !(buf = malloc(1)))
		return ct_fail(err, CT_EIO, "%s: out of memory", path);
	*buf_out = buf;
	*len_out = len;
	return CT_OK;
}

int ct_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, ct_error *err)
{
	return read_file(path, max_bytes, false, buf, len, err);
}

static int load_json(const char *path, size_t max_bytes, bool optional, json_t **out,
		     ct_error *err)
{
	*out = NULL;
	char *buf;
	size_t len;
	int rc = read_file(path, max_bytes, optional, &buf, &len, err);
	if (rc || !buf)
		return rc;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		free(buf);
		return ct_fail(err, CT_EINPUT, "%s: starts with a UTF-8 byte order mark (BOM), which "
			       "JSON does not allow: save it without one", path);
	}
	size_t clen = 0;
	char *clean = python_json_to_strict(buf, len, &clen);
	free(buf);
	if (!clean)
		return ct_fail(err, CT_EIO, "%s: out of memory", path);
	json_error_t jerr;
	*out = json_loadb(clean, clen, JSON_REJECT_DUPLICATES, &jerr);
	free(clean);
	if (!*out)
		return ct_fail(err, CT_EINPUT, "%s: invalid JSON: %s (line %d, column %d)",
			       path, jerr.text, jerr.line, jerr.column);
	return CT_OK;
}

int ct_json_load_file(const char *path, size_t max_bytes, json_t **out, ct_error *err)
{
	return load_json(path, max_bytes, false, out, err);
}

static int cmp_tref_name(const void *a, const void *b, void *ctx)
{
	const ct_tref *t = ctx;
	return strcmp(t[*(const size_t *)a].t->name, t[*(const size_t *)b].t->name);
}

const ct_tref *ct_ckpt_find(const ct_checkpoint *c, const char *name)
{
	size_t lo = 0, hi = c->n_tensors;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const ct_tref *r = &c->tensors[c->by_name[mid]];
		int k = strcmp(name, r->t->name);
		if (k == 0)
			return r;
		if (k < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool safe_shard_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A defect of the checkpoint: an error when opening strictly, a recorded
 * problem when opening leniently (for verify). */
static int defect(ct_checkpoint *c, ct_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int defect(ct_checkpoint *c, ct_error *err, const char *fmt, ...)
{
	char buf[CT_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!c->problems)
		return ct_fail(err, CT_EINPUT, "%s", buf);
	ct_strlist_addf(c->problems, "%s", buf);
	return c->problems->failed ? ct_fail(err, CT_EIO, "out of memory") : CT_OK;
}

static bool was_dropped(const ct_checkpoint *c, const char *shard)
{
	for (size_t i = 0; i < c->n_dropped; i++)
		if (strcmp(c->dropped[i], shard) == 0)
			return true;
	return false;
}

/* Collects the distinct shard names of weight_map in order of first mention. */
static int index_shards(ct_checkpoint *c, const char *index_path, ct_error *err)
{
	json_t *wm = json_object_get(c->index, "weight_map");
	if (!json_is_object(c->index) || !json_is_object(wm))
		return ct_fail(err, CT_EINPUT, "%s: no \"weight_map\" object (expected a "
			       "safetensors index)", index_path);
	size_t n = json_object_size(wm);
	c->shard_names = calloc(n ? n : 1, sizeof(char *));
	c->shards = calloc(n ? n : 1, sizeof(ct_st_file *));
	if (!c->shard_names || !c->shards)
		return ct_fail(err, CT_EIO, "out of memory");
	const char *key;
	json_t *v;
	json_object_foreach(wm, key, v) {
		if (!json_is_string(v) || !safe_shard_name(json_string_value(v)))
			return ct_fail(err, CT_EINPUT, "%s: weight_map: %s: shard is not a plain "
				       "file name in the model directory", index_path, key);
		const char *s = json_string_value(v);
		if (strlen(s) != json_string_length(v))
			return ct_fail(err, CT_EINPUT, "%s: weight_map: %s: shard name holds a "
				       "NUL byte", index_path, key);
		size_t i;
		for (i = 0; i < c->n_shards; i++)
			if (strcmp(c->shard_names[i], s) == 0)
				break;
		if (i == c->n_shards) {
			if (!(c->shard_names[c->n_shards] = strdup(s)))
				return ct_fail(err, CT_EIO, "out of memory");
			c->n_shards++;
		}
	}
	if (c->n_shards == 0)
		return ct_fail(err, CT_EINPUT, "%s: weight_map is empty", index_path);
	/* shard order = file-name order (model-00001 before model-00002),
	 * whatever order weight_map mentions them in */
	qsort(c->shard_names, c->n_shards, sizeof(char *), cmp_str);
	return CT_OK;
}

static int build_tensor_table(ct_checkpoint *c, const char *index_path, ct_error *err)
{
	size_t total = 0;
	for (size_t i = 0; i < c->n_shards; i++)
		total += c->shards[i]->n_tensors;
	c->tensors = calloc(total ? total : 1, sizeof(ct_tref));
	c->by_name = calloc(total ? total : 1, sizeof(size_t));
	if (!c->tensors || !c->by_name)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; i < c->n_shards; i++) {
		for (size_t k = 0; k < c->shards[i]->n_tensors; k++) {
			c->tensors[c->n_tensors].t = &c->shards[i]->tensors[k];
			c->tensors[c->n_tensors].shard = i;
			c->by_name[c->n_tensors] = c->n_tensors;
			c->n_tensors++;
		}
	}
	qsort_r(c->by_name, c->n_tensors, sizeof(size_t), cmp_tref_name, c->tensors);
	int rc = CT_OK;
	for (size_t i = 1; i < c->n_tensors && !rc; i++) {
		const ct_tref *a = &c->tensors[c->by_name[i - 1]];
		const ct_tref *b = &c->tensors[c->by_name[i]];
		if (strcmp(a->t->name, b->t->name) == 0)
			rc = defect(c, err, "%s: %s: tensor present in two shards, %s and %s",
				    c->dir, a->t->name, c->shard_names[a->shard],
				    c->shard_names[b->shard]);
	}
	if (rc || !c->index)
		return rc;
	json_t *wm = json_object_get(c->index, "weight_map");
	const char *key;
	json_t *v;
	uint64_t data_bytes = 0;
	json_object_foreach(wm, key, v) {
		if (rc)
			break;
		const ct_tref *r = ct_ckpt_find(c, key);
		if (!r && was_dropped(c, json_string_value(v)))
			continue;   /* the unreadable shard is reported already */
		if (!r)
			rc = defect(c, err, "%s: %s: listed in weight_map under %s but absent from "
				    "every shard", index_path, key, json_string_value(v));
		else if (strcmp(c->shard_names[r->shard], json_string_value(v)) != 0)
			rc = defect(c, err, "%s: %s: weight_map says %s but the tensor is in %s",
				    index_path, key, json_string_value(v), c->shard_names[r->shard]);
	}
	for (size_t i = 0; i < c->n_tensors && !rc; i++) {
		data_bytes += c->tensors[i].t->end - c->tensors[i].t->begin;
		if (!json_object_get(wm, c->tensors[i].t->name))
			rc = defect(c, err, "%s: %s: tensor in shard %s is not listed in the index",
				    index_path, c->tensors[i].t->name,
				    c->shard_names[c->tensors[i].shard]);
	}
	/* total_size is informational for loaders, so only verify reports it:
	 * a value that is no size at all, or, in a checkpoint ctensors wrote
	 * (which records the bytes it stores), one that differs from them.
	 * compressed-tensors' own writer records other sizes. */
	json_t *meta = json_object_get(c->index, "metadata");
	json_t *ts = json_object_get(meta, "total_size");
	bool ours = c->n_shards && ct_st_meta(c->shards[0], "ctensors.version");
	if (!rc && c->problems && ts && !(json_is_integer(ts) && json_integer_value(ts) >= 0) &&
	    !json_is_real(ts))
		rc = defect(c, err, "%s: metadata.total_size is not a size in bytes", index_path);
	else if (!rc && c->problems && ours && !c->n_dropped && json_is_integer(ts) &&
		 (uint64_t)json_integer_value(ts) != data_bytes)
		rc = defect(c, err, "%s: metadata.total_size is %" JSON_INTEGER_FORMAT " but the "
			    "shards hold %" PRIu64 " bytes of tensors", index_path,
			    json_integer_value(ts), data_bytes);
	return rc;
}

/* Finds the index file of a model directory: model.safetensors.index.json
 * first, else the only *.safetensors.index.json. */
static int find_index(const char *dir, char **name, ct_error *err)
{
	*name = NULL;
	char *p = path_join(dir, "model.safetensors.index.json");
	if (!p)
		return ct_fail(err, CT_EIO, "out of memory");
	bool exists = access(p, F_OK) == 0;
	free(p);
	if (exists) {
		*name = strdup("model.safetensors.index.json");
		return *name ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	}
	DIR *d = opendir(dir);
	if (!d)
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", dir, strerror(errno));
	struct dirent *de;
	int rc = CT_OK;
	while ((de = readdir(d))) {
		if (!ends_with(de->d_name, ".safetensors.index.json"))
			continue;
		if (*name) {
			rc = ct_fail(err, CT_EINPUT, "%s: two index files, %s and %s (name one "
				     "of them)", dir, *name, de->d_name);
			break;
		}
		if (!(*name = strdup(de->d_name))) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
	}
	closedir(d);
	if (rc) {
		free(*name);
		*name = NULL;
	}
	return rc;
}

/* Weight files in the model directory that the index does not name. */
static int find_unlisted(ct_checkpoint *c, ct_error *err)
{
	DIR *d = opendir(c->dir);
	if (!d)
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", c->dir, strerror(errno));
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!ends_with(de->d_name, ".safetensors"))
			continue;
		bool listed = false;
		for (size_t i = 0; i < c->n_shards && !listed; i++)
			listed = strcmp(c->shard_names[i], de->d_name) == 0;
		if (listed)
			continue;
		/* a link that cannot be followed is no file (transformers'
		 * os.path.isfile says False too): find_broken_links named it */
		struct stat st;
		char *p = path_join(c->dir, de->d_name);
		bool broken = p && stat(p, &st) != 0 && lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
		free(p);
		if (broken)
			continue;
		if (strcmp(de->d_name, "model.safetensors") == 0) {
			rc = ct_fail(err, CT_EINPUT, "%s: model.safetensors is not listed in %s, "
				     "but transformers loads model.safetensors before any index: "
				     "remove it or move it out of the directory", c->dir,
				     c->index_name);
			break;
		}
		char **grown = realloc(c->unlisted, (c->n_unlisted + 1) * sizeof(char *));
		if (!grown || !(grown[c->n_unlisted] = strdup(de->d_name))) {
			if (grown)
				c->unlisted = grown;
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		c->unlisted = grown;
		c->n_unlisted++;
	}
	closedir(d);
	if (!rc && c->n_unlisted > 1)
		qsort(c->unlisted, c->n_unlisted, sizeof(char *), cmp_str);
	return rc;
}

/* The entries of the model directory that are symbolic links stat()
 * cannot follow (dangling, a loop, ...): whatever they name is skipped by
 * every listing (no weights, config or other file is read or copied
 * through them), so they are recorded for the CLI to name. */
static int find_broken_links(ct_checkpoint *c, ct_error *err)
{
	int fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", c->dir, strerror(e));
	}
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		struct stat ls, st;
		if (fstatat(fd, de->d_name, &ls, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(ls.st_mode) ||
		    fstatat(fd, de->d_name, &st, 0) == 0)
			continue;
		int e = errno;
		char target[256];
		ssize_t tn = readlinkat(fd, de->d_name, target, sizeof(target) - 1);
		if (tn < 0)
			tn = 0;
		target[tn] = '\0';
		char why[512];
		if (e == ENOENT || e == ENOTDIR)
			snprintf(why, sizeof(why), "a dangling symbolic link (to %s%s)", target,
				 (size_t)tn == sizeof(target) - 1 ? "..." : "");
		else if (e == ELOOP)
			snprintf(why, sizeof(why), "a symbolic link that loops (to %s%s)", target,
				 (size_t)tn == sizeof(target) - 1 ? "..." : "");
		else
			snprintf(why, sizeof(why), "a symbolic link that cannot be followed (%s)",
				 strerror(e));
		size_t len = strlen(de->d_name) + strlen(why) + 3;
		char **grown = realloc(c->broken_links, (c->n_broken_links + 1) * sizeof(char *));
		char *item = grown ? malloc(len) : NULL;
		if (grown)
			c->broken_links = grown;
		if (!item) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		snprintf(item, len, "%s: %s", de->d_name, why);
		c->broken_links[c->n_broken_links++] = item;
	}
	closedir(d);
	if (!rc && c->n_broken_links > 1)
		qsort(c->broken_links, c->n_broken_links, sizeof(char *), cmp_str);
	return rc;
}

static int single_shard(ct_checkpoint *c, const char *name, ct_error *err)
{
	c->shard_names = calloc(1, sizeof(char *));
	c->shards = calloc(1, sizeof(ct_st_file *));
	if (!c->shard_names || !c->shards || !(c->shard_names[0] = strdup(name)))
		return ct_fail(err, CT_EIO, "out of memory");
	c->n_shards = 1;
	return CT_OK;
}

/* A directory without model.safetensors or an index: its *.safetensors
 * files are the shards, in name order (Mistral's consolidated.safetensors). */
static int unindexed_shards(ct_checkpoint *c, ct_error *err)
{
	DIR *d = opendir(c->dir);
	if (!d)
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", c->dir, strerror(errno));
	size_t cap = 0;
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!ends_with(de->d_name, ".safetensors") || de->d_name[0] == '.')
			continue;
		if (c->n_shards == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			char **names = realloc(c->shard_names, ncap * sizeof(char *));
			if (!names) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			c->shard_names = names;
			cap = ncap;
		}
		if (!(c->shard_names[c->n_shards] = strdup(de->d_name))) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		c->n_shards++;
	}
	closedir(d);
	if (!rc && c->n_shards == 0)
		rc = ct_fail(err, CT_EINPUT, "%s: no model.safetensors, no "
			     "*.safetensors.index.json and no other *.safetensors (not a model "
			     "directory)", c->dir);
	if (!rc && !(c->shards = calloc(c->n_shards, sizeof(ct_st_file *))))
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (!rc)
		qsort(c->shard_names, c->n_shards, sizeof(char *), cmp_str);
	return rc;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* True when path starts like a safetensors file: a header length that fits
 * and a JSON object after it. A truncated or padded file still does. */
static bool looks_like_safetensors(const char *path)
{
	int fd;
	uint64_t size;
	ct_error e;
	if (ct_open_regular(path, &fd, &size, &e) != CT_OK)
		return false;
	uint8_t len8[8];
	bool ok = size >= 8 && read(fd, len8, 8) == 8;
	uint64_t n = 0;
	for (int i = 7; ok && i >= 0; i--)
		n = n << 8 | len8[i];
	ok = ok && n >= 2 && n <= size - 8 && n <= (100u << 20);
	char *hdr = ok ? malloc((size_t)n) : NULL;
	ok = hdr && read(fd, hdr, (size_t)n) == (ssize_t)n;
	json_t *j = ok ? json_loadb(hdr, (size_t)n, 0, NULL) : NULL;
	ok = json_is_object(j);
	json_decref(j);
	free(hdr);
	close(fd);
	return ok;
}

static int open_shards(ct_checkpoint *c, ct_error *err)
{
	for (size_t i = 0; i < c->n_shards; i++) {
		char *p = ct_ckpt_shard_path(c, i);
		if (!p)
			return ct_fail(err, CT_EIO, "out of memory");
		int rc = ct_st_open(p, &c->shards[i], err);
		/* leniently, a shard that cannot be read is a problem of the
		 * checkpoint; a bare file that is no safetensors at all stays
		 * an error (nothing to verify) */
		if (rc == CT_EINPUT && c->problems &&
		    (c->kind == CT_CKPT_DIR || looks_like_safetensors(p))) {
			ct_strlist_addf(c->problems, "%s", err->msg);
			ct_error_clear(err);
			char **d = realloc(c->dropped, (c->n_dropped + 1) * sizeof(char *));
			if (d)
				c->dropped = d;
			if (!d || !(d[c->n_dropped] = strdup(c->shard_names[i]))) {
				free(p);
				return ct_fail(err, CT_EIO, "out of memory");
			}
			c->n_dropped++;
			c->shards[i] = NULL;
			rc = CT_OK;
		}
		free(p);
		if (rc)
			return rc;
	}
	/* keep only the shards that opened */
	size_t k = 0;
	for (size_t i = 0; i < c->n_shards; i++) {
		if (c->shards[i]) {
			c->shards[k] = c->shards[i];
			c->shard_names[k++] = c->shard_names[i];
		} else {
			free(c->shard_names[i]);
		}
	}
	c->n_shards = k;
	return CT_OK;
}

/* A directory that split jobs (--part) are still writing is no checkpoint
 * yet, even when its shards are all there: say how far it has come. */
static int refuse_partial(const char *dir, ct_error *err)
{
	bool partial;
	size_t done, total;
	int rc = ct_parts_status(dir, &partial, &done, &total, err);
	if (rc || !partial)
		return rc;
	if (total == 0)
		return ct_fail(err, CT_EINPUT, "%s: an unfinished output of split jobs (--part): no "
			       "slice is written yet (run the jobs, then the same command with "
			       "--finalize)", dir);
	if (done < total)
		return ct_fail(err, CT_EINPUT, "%s: an unfinished output of split jobs (--part): "
			       "%zu of %zu slices missing (run them, then the same command with "
			       "--finalize)", dir, total - done, total);
	return ct_fail(err, CT_EINPUT, "%s: an unfinished output of split jobs (--part): all %zu "
		       "slices are written but not finalized (run the same command with "
		       "--finalize)", dir, total);
}

int ct_ckpt_open(const char *path, ct_checkpoint **out, ct_error *err)
{
	return ct_ckpt_open_lenient(path, NULL, out, err);
}

int ct_ckpt_open_lenient(const char *path, ct_strlist *problems, ct_checkpoint **out,
			 ct_error *err)
{
	*out = NULL;
	struct stat st;
	if (stat(path, &st) != 0)
		return ct_fail(err, errno == ENOENT || errno == ENOTDIR ? CT_EINPUT : CT_EIO,
			       "%s: %s", path, strerror(errno));
	ct_checkpoint *c = calloc(1, sizeof(*c));
	if (!c)
		return ct_fail(err, CT_EIO, "out of memory");
	c->problems = problems;
	int rc = CT_OK;
	char *index_path = NULL;
	if (S_ISDIR(st.st_mode)) {
		c->kind = CT_CKPT_DIR;
		c->dir = strdup(path);
		if (!c->dir) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			goto done;
		}
		rc = find_index(path, &c->index_name, err);
		if (rc)
			goto done;
	} else if (ends_with(path, ".index.json")) {
		c->kind = CT_CKPT_DIR;
		c->dir = dir_of(path);
		const char *base = strrchr(path, '/');
		c->index_name = strdup(base ? base + 1 : path);
		if (!c->dir || !c->index_name) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			goto done;
		}
	} else {
		c->kind = CT_CKPT_FILE;
		c->dir = dir_of(path);
		c->shard_names = calloc(1, sizeof(char *));
		c->shards = calloc(1, sizeof(ct_st_file *));
		if (!c->dir || !c->shard_names || !c->shards ||
		    !(c->shard_names[0] = strdup(path))) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			goto done;
		}
		c->n_shards = 1;
	}
	if (c->kind == CT_CKPT_DIR) {
		rc = refuse_partial(c->dir, err);
		if (!rc)
			rc = find_broken_links(c, err);
		if (rc)
			goto done;
	}
	if (c->kind == CT_CKPT_DIR) {
		if (c->index_name) {
			index_path = path_join(c->dir, c->index_name);
			if (!index_path) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				goto done;
			}
			rc = ct_json_load_file(index_path, CT_JSON_FILE_MAX, &c->index, err);
			if (!rc)
				rc = index_shards(c, index_path, err);
			if (!rc)
				rc = find_unlisted(c, err);
		} else {
			char *p = path_join(c->dir, "model.safetensors");
			bool exists = p && access(p, F_OK) == 0;
			free(p);
			/* Mistral's native layout: consolidated.safetensors and no index */
			rc = exists ? single_shard(c, "model.safetensors", err) :
				     unindexed_shards(c, err);
			if (rc)
				goto done;
		}
		if (rc)
			goto done;
		/* config.json, else Mistral's params.json */
		c->config_name = "config.json";
		char *cfg = path_join(c->dir, c->config_name);
		if (cfg && access(cfg, F_OK) != 0) {
			char *params = path_join(c->dir, "params.json");
			if (params && access(params, F_OK) == 0) {
				free(cfg);
				cfg = params;
				c->config_name = "params.json";
			} else {
				free(params);
			}
		}
		if (!cfg) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			goto done;
		}
		rc = load_json(cfg, CT_JSON_FILE_MAX, true, &c->config, err);
		if (!rc && c->config && !json_is_object(c->config))
			rc = ct_fail(err, CT_EINPUT, "%s: not a JSON object", cfg);
		free(cfg);
		if (rc)
			goto done;
	}
	rc = open_shards(c, err);
	if (!rc)
		rc = build_tensor_table(c, index_path, err);
done:
	free(index_path);
	c->problems = NULL;
	if (rc) {
		ct_ckpt_close(c);
		return rc;
	}
	*out = c;
	return CT_OK;
}

void ct_ckpt_close(ct_checkpoint *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_shards; i++) {
		if (c->shards)
			ct_st_close(c->shards[i]);
		if (c->shard_names)
			free(c->shard_names[i]);
	}
	for (size_t i = 0; i < c->n_unlisted; i++)
		free(c->unlisted[i]);
	free(c->unlisted);
	for (size_t i = 0; i < c->n_broken_links; i++)
		free(c->broken_links[i]);
	free(c->broken_links);
	for (size_t i = 0; i < c->n_dropped; i++)
		free(c->dropped[i]);
	free(c->dropped);
	free(c->shards);
	free(c->shard_names);
	free(c->tensors);
	free(c->by_name);
	free(c->dir);
	free(c->index_name);
	json_decref(c->config);
	json_decref(c->index);
	free(c);
}

char *ct_ckpt_shard_path(const ct_checkpoint *c, size_t i)
{
	if (c->kind == CT_CKPT_FILE)
		return strdup(c->shard_names[i]);
	return path_join(c->dir, c->shard_names[i]);
}

/* An empty object is what some exporters write for "no quantization". */
static bool absent_config(const json_t *q)
{
	return !q || (json_is_object(q) && json_object_size(q) == 0);
}

int ct_ckpt_loader_qconfig(const ct_checkpoint *c, json_t **out, ct_error *err)
{
	*out = NULL;
	if (!c->config)
		return CT_OK;
	json_t *q = json_object_get(c->config, "quantization_config");
	if (absent_config(q))
		q = json_object_get(json_object_get(c->config, "text_config"),
				    "quantization_config");
	if (absent_config(q))
		q = json_object_get(c->config, "compression_config");
	if (absent_config(q))
		return CT_OK;
	if (!json_is_object(q))
		return ct_fail(err, CT_EINPUT, "%s/%s: quantization_config is not an object",
			       c->dir, c->config_name ? c->config_name : "config.json");
	*out = json_incref(q);
	return CT_OK;
}

int ct_ckpt_embedded_qconfig(const ct_checkpoint *c, json_t **out, ct_error *err)
{
	*out = NULL;
	const char *s = c->n_shards ? ct_st_meta(c->shards[0], "quantization_config") : NULL;
	if (!s)
		return CT_OK;
	json_error_t jerr;
	json_t *q = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	if (!q || !json_is_object(q)) {
		json_decref(q);
		return ct_fail(err, CT_EINPUT, "%s: __metadata__ quantization_config is not a "
			       "JSON object%s%s", c->shards[0]->path, q ? "" : ": ",
			       q ? "" : jerr.text);
	}
	if (absent_config(q)) {
		json_decref(q);
		return CT_OK;
	}
	*out = q;
	return CT_OK;
}

int ct_ckpt_qconfig(const ct_checkpoint *c, json_t **out, ct_error *err)
{
	int rc = ct_ckpt_loader_qconfig(c, out, err);
	if (rc || *out)
		return rc;
	return ct_ckpt_embedded_qconfig(c, out, err);
}

int ct_ckpt_load_qconfig(const ct_checkpoint *ck, const char *path, ct_qconfig **cfg,
			       ct_error *err)
{
	*cfg = NULL;
	json_t *j = NULL;
	int rc;
	const char *label = path;
	if (path) {
		rc = ct_json_load_file(path, 64u << 20, &j, err);
	} else {
		rc = ct_ckpt_qconfig(ck, &j, err);
		label = ck->config ? ck->config_name : ck->shard_names[0];
		if (!rc && !j)
			rc = ct_fail(err, CT_EINPUT, "%s: no quantization_config in the checkpoint "
				     "(name one with -c CONFIG)", ck->shard_names[0]);
	}
	if (!rc)
		rc = ct_qconfig_parse(j, label, cfg, err);
	json_decref(j);
	return rc;
}
