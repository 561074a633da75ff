/* parts.c - slices of a split output, its plan's fingerprint, the records
 * finished slices leave (parts.h). */
#include "parts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "checkpoint.h"
#include "pyjson.h"
#include "safetensors.h"

/* ------------------------------------------------------------ slices --- */

typedef struct lpt_item {
	uint64_t w;
	size_t i;
} lpt_item;

static int cmp_lpt(const void *a, const void *b)
{
	const lpt_item *x = a, *y = b;
	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

int ct_parts_assign(const uint64_t *weights, size_t n, size_t parts, size_t *slice,
		    ct_error *err)
{
	if (parts < 1 || parts > CT_PARTS_MAX)
		return ct_fail(err, CT_EUSAGE, "%zu slices (expected 1 to %d)", parts, CT_PARTS_MAX);
	lpt_item *it = malloc((n ? n : 1) * sizeof(*it));
	uint64_t *load = calloc(parts, sizeof(*load));
	if (!it || !load) {
		free(it);
		free(load);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		it[i] = (lpt_item){ weights[i], i };
	qsort(it, n, sizeof(*it), cmp_lpt);
	/* parts is small next to the bytes moved: a linear scan for the least
	 * loaded slice keeps the tie-break obvious */
	for (size_t k = 0; k < n; k++) {
		size_t best = 0;
		for (size_t s = 1; s < parts; s++)
			if (load[s] < load[best])
				best = s;
		slice[it[k].i] = best;
		load[best] = it[k].w > UINT64_MAX - load[best] ? UINT64_MAX : load[best] + it[k].w;
	}
	free(it);
	free(load);
	return CT_OK;
}

/* ----------------------------------------------------------- records --- */

bool ct_part_record_name(size_t k, size_t n, char *buf, size_t size)
{
	int len = snprintf(buf, size, "part-%zu-of-%zu.json", k, n);
	return len > 0 && (size_t)len < size;
}

bool ct_part_name_safe(const char *name)
{
	size_t n = strlen(name);
	static const char suffix[] = ".safetensors";
	size_t sl = sizeof(suffix) - 1;
	if (n <= sl || n > CT_PARTS_NAME_MAX || name[0] == '.' || strchr(name, '/'))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F)
			return false;
	return memcmp(name + n - sl, suffix, sl) == 0;
}

static void hex16(uint64_t v, char out[17])
{
	snprintf(out, 17, "%016" PRIx64, v);
}

static bool parse_hex16(const char *s, uint64_t *out)
{
	if (!s || strlen(s) != 16)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < 16; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

char *ct_part_record_dump(const ct_part_record *r)
{
	char fp[17];
	hex16(r->fingerprint, fp);
	json_t *shards = json_array();
	json_t *o = shards ? json_pack("{s:i,s:s,s:s,s:I,s:I}", "ctensors_parts", 1, "command",
				       r->command, "fingerprint", fp, "part", (json_int_t)r->part,
				       "parts", (json_int_t)r->parts) : NULL;
	if (!o) {
		json_decref(shards);
		return NULL;
	}
	bool ok = json_object_set_new(o, "shards", shards) == 0;
	for (size_t i = 0; ok && i < r->n_shards; i++) {
		char h[17];
		hex16(r->shards[i].header_xxh3, h);
		json_t *s = json_pack("{s:s,s:I,s:s}", "name", r->shards[i].name, "bytes",
				      (json_int_t)r->shards[i].bytes, "header_xxh3", h);
		ok = s && json_array_append_new(shards, s) == 0;
	}
	char *text = ok ? ct_pyjson_dumps(o, true) : NULL;
	json_decref(o);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *nl = realloc(text, n + 2);
	if (!nl) {
		free(text);
		return NULL;
	}
	nl[n] = '\n';
	nl[n + 1] = '\0';
	return nl;
}

void ct_part_record_free(ct_part_record *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_shards; i++)
		free(r->shards[i].name);
	free(r->shards);
	free(r->command);
	memset(r, 0, sizeof(*r));
}

/* Only the keys listed, each exactly once (jansson refuses repeats). */
static bool only_keys(json_t *o, const char *const *keys, size_t n)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool known = false;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(k, keys[i]) == 0;
		if (!known)
			return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!json_object_get(o, keys[i]))
			return false;
	return true;
}

static bool get_count(json_t *o, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return false;
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi)
		return false;
	*out = (uint64_t)x;
	return true;
}

static bool command_word(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

static int cmp_shard_name(const void *a, const void *b)
{
	return strcmp((*(const ct_part_shard *const *)a)->name,
		      (*(const ct_part_shard *const *)b)->name);
}

int ct_part_record_parse(const char *text, size_t len, const char *label, ct_part_record *out,
			 ct_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > CT_PARTS_RECORD_MAX)
		return ct_fail(err, CT_EINPUT, "%s: %zu bytes (a record is at most %u)", label, len,
			       CT_PARTS_RECORD_MAX);
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return ct_fail(err, CT_EINPUT, "%s: not a slice record: %s (line %d)", label,
			       je.text, je.line);
	static const char *const keys[] = { "ctensors_parts", "command", "fingerprint", "part",
					    "parts", "shards" };
	static const char *const skeys[] = { "name", "bytes", "header_xxh3" };
	uint64_t version = 0, k = 0, n = 0;
	const char *cmd = json_string_value(json_object_get(o, "command"));
	json_t *shards = json_object_get(o, "shards");
	int rc = CT_OK;
	if (!json_is_object(o) || !only_keys(o, keys, 6))
		rc = ct_fail(err, CT_EINPUT, "%s: not a slice record (expected exactly the keys "
			     "ctensors_parts, command, fingerprint, part, parts, shards)", label);
	else if (!get_count(o, "ctensors_parts", 1, 1, &version))
		rc = ct_fail(err, CT_EINPUT, "%s: ctensors_parts: expected 1 (a record of another "
			     "ctensors version)", label);
	else if (!command_word(cmd))
		rc = ct_fail(err, CT_EINPUT, "%s: command: expected a command name", label);
	else if (!parse_hex16(json_string_value(json_object_get(o, "fingerprint")),
			      &out->fingerprint))
		rc = ct_fail(err, CT_EINPUT, "%s: fingerprint: expected 16 lowercase hex digits",
			     label);
	else if (!get_count(o, "parts", 1, CT_PARTS_MAX, &n))
		rc = ct_fail(err, CT_EINPUT, "%s: parts: expected an integer from 1 to %d", label,
			     CT_PARTS_MAX);
	else if (!get_count(o, "part", 1, n, &k))
		rc = ct_fail(err, CT_EINPUT, "%s: part: expected an integer from 1 to %" PRIu64,
			     label, n);
	else if (!json_is_array(shards))
		rc = ct_fail(err, CT_EINPUT, "%s: shards: expected an array", label);
	size_t ns = rc ? 0 : json_array_size(shards);
	if (!rc) {
		out->command = strdup(cmd);
		out->shards = calloc(ns ? ns : 1, sizeof(*out->shards));
		if (!out->command || !out->shards)
			rc = ct_fail(err, CT_EIO, "out of memory");
		out->part = (size_t)k;
		out->parts = (size_t)n;
	}
	for (size_t i = 0; !rc && i < ns; i++) {
		json_t *s = json_array_get(shards, i);
		ct_part_shard *d = &out->shards[i];
		const char *name = json_string_value(json_object_get(s, "name"));
		if (!json_is_object(s) || !only_keys(s, skeys, 3))
			rc = ct_fail(err, CT_EINPUT, "%s: shards[%zu]: expected exactly name, bytes and "
				     "header_xxh3", label, i);
		else if (!name || !ct_part_name_safe(name))
			rc = ct_fail(err, CT_EINPUT, "%s: shards[%zu].name: expected the base name of a "
				     ".safetensors file", label, i);
		else if (!get_count(s, "bytes", 8, INT64_MAX, &d->bytes))
			rc = ct_fail(err, CT_EINPUT, "%s: shards[%zu].bytes: expected a file size",
				     label, i);
		else if (!parse_hex16(json_string_value(json_object_get(s, "header_xxh3")),
				      &d->header_xxh3))
			rc = ct_fail(err, CT_EINPUT, "%s: shards[%zu].header_xxh3: expected 16 "
				     "lowercase hex digits", label, i);
		else if (!(d->name = strdup(name)))
			rc = ct_fail(err, CT_EIO, "out of memory");
		if (!rc)
			out->n_shards++;
	}
	if (!rc && ns > 1) {
		const ct_part_shard **sorted = malloc(ns * sizeof(*sorted));
		if (!sorted)
			rc = ct_fail(err, CT_EIO, "out of memory");
		for (size_t i = 0; !rc && i < ns; i++)
			sorted[i] = &out->shards[i];
		if (!rc)
			qsort(sorted, ns, sizeof(*sorted), cmp_shard_name);
		for (size_t i = 1; !rc && i < ns; i++)
			if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
				rc = ct_fail(err, CT_EINPUT, "%s: shards: %s is listed twice", label,
					     sorted[i]->name);
		free(sorted);
	}
	json_decref(o);
	if (rc)
		ct_part_record_free(out);
	return rc;
}

/* ------------------------------------------------------- fingerprint --- */

int ct_parts_fingerprint(const ct_plan *p, const char *command, const char *tag,
			 uint64_t *out, ct_error *err)
{
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return ct_fail(err, CT_EIO, "out of memory");
	XXH3_64bits_reset(st);
	/* NUL-separated fields: no name can run into the next */
	static const char head[] = "ctensors-parts 1";
	XXH3_64bits_update(st, head, sizeof(head));
	XXH3_64bits_update(st, command, strlen(command) + 1);
	XXH3_64bits_update(st, tag ? tag : "", tag ? strlen(tag) + 1 : 1);
	int rc = CT_OK;
	for (size_t s = 0; s < p->n_shards && !rc; s++) {
		uint64_t h;
		rc = ct_st_builder_layout_hash(p->shards[s].builder, &h, err);
		if (rc)
			break;
		uint8_t le[8];
		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)(h >> (8 * i));
		XXH3_64bits_update(st, p->shards[s].name, strlen(p->shards[s].name) + 1);
		XXH3_64bits_update(st, le, sizeof(le));
	}
	*out = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return rc;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off, const char *path,
		      ct_error *err)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ct_fail(err, CT_EIO, "%s: read error: %s", path, strerror(errno));
		if (n == 0)
			return ct_fail(err, CT_EINPUT, "%s: shorter than its header says", path);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return CT_OK;
}

int ct_parts_header_hash(const char *path, uint64_t bytes, uint64_t *out, ct_error *err)
{
	int fd;
	uint64_t size;
	int rc = ct_open_regular(path, &fd, &size, err);
	if (rc)
		return rc;
	uint8_t len8[8];
	if (size != bytes)
		rc = ct_fail(err, CT_EINPUT, "%s: %" PRIu64 " bytes (expected %" PRIu64 ": truncated "
			     "or replaced)", path, size, bytes);
	if (!rc && size < 8)
		rc = ct_fail(err, CT_EINPUT, "%s: too short for a safetensors file", path);
	if (!rc)
		rc = read_exact(fd, len8, 8, 0, path, err);
	uint64_t hlen = 0;
	for (int i = 0; !rc && i < 8; i++)
		hlen |= (uint64_t)len8[i] << (8 * i);
	if (!rc && (hlen > CT_ST_HEADER_MAX || hlen > size - 8))
		rc = ct_fail(err, CT_EINPUT, "%s: header length %" PRIu64 " does not fit the file",
			     path, hlen);
	uint8_t *buf = rc ? NULL : malloc(8 + (size_t)hlen);
	if (!rc && !buf)
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (!rc) {
		memcpy(buf, len8, 8);
		rc = read_exact(fd, buf + 8, (size_t)hlen, 8, path, err);
	}
	if (!rc)
		*out = XXH3_64bits(buf, 8 + (size_t)hlen);
	free(buf);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------ status --- */

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "part-K-of-N.json" with K and N written as ct_part_record_name writes
 * them: decimal, no sign, no leading zero, at most CT_PARTS_MAX. */
static bool record_number(const char **p, char stop)
{
	const char *s = *p;
	size_t digits = 0;
	uint64_t v = 0;
	while (s[digits] >= '0' && s[digits] <= '9' && digits < 7) {
		v = v * 10 + (uint64_t)(s[digits] - '0');
		digits++;
	}
	if (digits == 0 || (s[0] == '0') || v > CT_PARTS_MAX || s[digits] != stop)
		return false;
	*p = s + digits + 1;
	return true;
}

static bool record_file_name(const char *name)
{
	const char *p = name;
	if (strncmp(p, "part-", 5) != 0)
		return false;
	p += 5;
	if (!record_number(&p, '-') || strncmp(p, "of-", 3) != 0)
		return false;
	p += 3;
	return record_number(&p, '.') && strcmp(p, "json") == 0;
}

int ct_parts_status(const char *dir, bool *partial, size_t *done, size_t *total,
		    ct_error *err)
{
	*partial = false;
	*done = *total = 0;
	size_t n = strlen(dir) + sizeof(CT_PARTS_DIR) + 2;
	char *staging = malloc(n);
	if (!staging)
		return ct_fail(err, CT_EIO, "out of memory");
	snprintf(staging, n, "%s/%s", dir, CT_PARTS_DIR);
	struct stat st;
	if (lstat(staging, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(staging);
		return CT_OK;
	}
	*partial = true;
	DIR *d = opendir(staging);
	if (!d) {
		free(staging);
		return CT_OK;   /* unreadable: nothing is counted done */
	}
	char **names = NULL;
	size_t nn = 0, cap = 0;
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!record_file_name(de->d_name))
			continue;
		if (nn == cap) {
			cap = cap ? cap * 2 : 16;
			char **nl = realloc(names, cap * sizeof(*names));
			if (!nl) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			names = nl;
		}
		if (!(names[nn] = strdup(de->d_name)))
			rc = ct_fail(err, CT_EIO, "out of memory");
		else
			nn++;
	}
	closedir(d);
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_cstr);
	bool *seen = NULL;
	for (size_t i = 0; !rc && i < nn; i++) {
		size_t pl = strlen(staging) + strlen(names[i]) + 2;
		char *path = malloc(pl);
		char *buf = NULL;
		size_t len = 0;
		ct_error e2;
		ct_part_record r;
		if (!path) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		snprintf(path, pl, "%s/%s", staging, names[i]);
		if (ct_read_file(path, CT_PARTS_RECORD_MAX, &buf, &len, &e2) == CT_OK &&
		    ct_part_record_parse(buf, len, path, &r, &e2) == CT_OK) {
			char want[64];
			bool named = ct_part_record_name(r.part, r.parts, want, sizeof(want)) &&
				     strcmp(want, names[i]) == 0;
			if (named && !*total) {
				*total = r.parts;
				seen = calloc(r.parts, 1);
				if (!seen)
					rc = ct_fail(err, CT_EIO, "out of memory");
			}
			if (!rc && named && r.parts == *total && !seen[r.part - 1]) {
				seen[r.part - 1] = true;
				(*done)++;
			}
			ct_part_record_free(&r);
		}
		free(buf);
		free(path);
	}
	free(seen);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(staging);
	return rc;
}
