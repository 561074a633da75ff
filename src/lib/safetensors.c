#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "st_header.h"

#include "strbuf.h"
#include "utf8.h"

struct ct_st_sweep {
	_Atomic uint64_t small_bytes; /* bytes of small ranges released so far */
};

/* Linux's default fault_around_bytes */
#define CT_ST_FAULT_AROUND (64u << 10)

/* Releases below this size are swept together (see ct_st_release). */
#define CT_ST_DIRECT_BYTES (1u << 20)

/* ============================================================== reader === */

bool ct_tensor_nbytes(ct_dtype dt, int ndim, const uint64_t *shape,
		      uint64_t *nelem, uint64_t *nbytes)
{
	uint64_t n = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] != 0 && n > UINT64_MAX / shape[i])
			return false;
		n *= shape[i];
	}
	uint64_t bits = ct_dtype_bits(dt);
	if (n > UINT64_MAX / bits)
		return false;
	if ((n * bits) % 8 != 0)
		return false;
	*nelem = n;
	*nbytes = n * bits / 8;
	return true;
}

static int cmp_by_offset(const void *a, const void *b)
{
	const ct_tensor *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* qsort has no context argument in C11; sort by name through an index array
 * with qsort_r, which glibc provides. */
static int cmp_index_by_name(const void *a, const void *b, void *ctx)
{
	const ct_tensor *t = ctx;
	return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static int validate_layout(const char *label, ct_st_file *f, ct_error *err)
{
	if (f->n_tensors)
		qsort(f->tensors, f->n_tensors, sizeof(ct_tensor), cmp_by_offset);
	uint64_t running = 0;
	for (size_t i = 0; i < f->n_tensors; i++) {
		ct_tensor *t = &f->tensors[i];
		if (t->begin != running)
			return ct_fail(err, CT_EINPUT, "%s: %s: data_offsets begin %" PRIu64
				       " %s (expected %" PRIu64 ": tensors must tile the data "
				       "buffer with no gap or overlap)", label, t->name, t->begin,
				       t->begin > running ? "leaves a gap" : "overlaps the previous tensor",
				       running);
		running = t->end;
	}
	if (running != f->data_size)
		return ct_fail(err, CT_EINPUT, "%s: tensors cover %" PRIu64 " bytes but the "
			       "data buffer has %" PRIu64 " (%s)", label, running, f->data_size,
			       running < f->data_size ? "trailing bytes after the last tensor"
						      : "file is truncated");
	return CT_OK;
}

int ct_st_parse(const char *label, const uint8_t *buf, size_t len,
		ct_st_file **out, ct_error *err)
{
	*out = NULL;
	if (len < 8)
		return ct_fail(err, CT_EINPUT, "%s: file has %zu bytes, too small for the "
			       "8-byte header length (not a safetensors file)", label, len);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | buf[i];
	if (n > CT_ST_HEADER_MAX)
		return ct_fail(err, CT_EINPUT, "%s: header length %" PRIu64 " exceeds the "
			       "limit of %llu bytes", label, n, CT_ST_HEADER_MAX);
	if (n > len - 8)
		return ct_fail(err, CT_EINPUT, "%s: header length %" PRIu64 " runs past the "
			       "end of the file (%zu bytes follow the length)", label, n, len - 8);
	const char *hdr = (const char *)buf + 8;
	if (n < 2)
		return ct_fail(err, CT_EINPUT, "%s: header of %" PRIu64 " bytes is too short "
			       "for a JSON object", label, n);
	if (hdr[0] != '{')
		return ct_fail(err, CT_EINPUT, "%s: header does not start with '{' (expected a "
			       "JSON object)", label);
	const char *nul = memchr(hdr, '\0', (size_t)n);
	if (nul)
		return ct_fail(err, CT_EINPUT, "%s: header holds a NUL byte at byte %zu",
			       label, (size_t)(nul - hdr) + 8);
	size_t bad;
	if (!ct_utf8_valid(hdr, (size_t)n, &bad))
		return ct_fail(err, CT_EINPUT, "%s: header is not valid UTF-8 at byte %zu",
			       label, bad + 8);

	ct_st_file *f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(label))) {
		free(f);
		return ct_fail(err, CT_EIO, "%s: out of memory", label);
	}
	f->map = buf;
	f->map_size = len;
	f->header_len = n;
	f->data_size = len - 8 - n;

	int rc = ct_st_header_read(label, hdr, (size_t)n, f, err);
	if (rc)
		goto fail;
	rc = validate_layout(label, f, err);
	if (rc)
		goto fail;
	const uint8_t *data = buf + 8 + n;
	/* validate_layout put the tensors in file order: index them again */
	for (size_t i = 0; i < f->n_tensors; i++) {
		f->tensors[i].data = data + f->tensors[i].begin;
		f->by_name[i] = i;
	}
	qsort_r(f->by_name, f->n_tensors, sizeof(size_t), cmp_index_by_name, f->tensors);
	*out = f;
	return CT_OK;
fail:
	ct_st_close(f);
	return rc;
}

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symbolic link" :
	       "not a file";
}

int ct_open_regular(const char *path, int *fd_out, uint64_t *size, ct_error *err)
{
	*fd_out = -1;
	/* look before opening: opening a device can have effects of its own
	 * (a tape rewinds, a modem line is raised) */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return ct_fail(err, CT_EINPUT, "%s: not a regular file (%s)", path,
			       file_kind(st.st_mode));
	/* O_NONBLOCK: a FIFO swapped in after the stat must not wait for a writer */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return ct_fail(err, errno == ENOENT || errno == ENOTDIR ? CT_EINPUT : CT_EIO,
			       "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return ct_fail(err, CT_EIO, "%s: cannot stat: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ct_fail(err, CT_EINPUT, "%s: not a regular file (%s)", path,
			       file_kind(st.st_mode));
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		int e = errno;
		close(fd);
		return ct_fail(err, CT_EIO, "%s: fcntl: %s", path, strerror(e));
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return CT_OK;
}

int ct_st_open(const char *path, ct_st_file **out, ct_error *err)
{
	*out = NULL;
	int fd;
	uint64_t fsize;
	int rc = ct_open_regular(path, &fd, &fsize, err);
	if (rc)
		return rc;
	size_t size = (size_t)fsize;
	const uint8_t *map = NULL;
	if (size > 0) {
		void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			close(fd);
			return ct_fail(err, CT_EIO, "%s: cannot map: %s", path, strerror(e));
		}
		map = m;
	}
	close(fd);
	static const uint8_t empty[1];
	rc = ct_st_parse(path, map ? map : empty, size, out, err);
	if (rc) {
		if (map)
			munmap((void *)map, size);
		return rc;
	}
	(*out)->mapped = map != NULL;
	if (map) {
		(*out)->sweep = calloc(1, sizeof(*(*out)->sweep));
		if (!(*out)->sweep) {
			ct_st_close(*out);
			return ct_fail(err, CT_EIO, "%s: out of memory", path);
		}
		/* the header is read: what it said is in the tensor table and
		 * the names, so its pages (100 MB at the limit) go back */
		ct_st_release(*out, map + 8, (*out)->header_len);
	}
	return CT_OK;
}

void ct_st_close(ct_st_file *f)
{
	if (!f)
		return;
	if (f->mapped)
		munmap((void *)f->map, f->map_size);
	json_decref(f->metadata);
	free(f->names);
	free(f->sweep);
	free(f->tensors);
	free(f->by_name);
	free(f->path);
	free(f);
}

const ct_tensor *ct_st_find(const ct_st_file *f, const char *name)
{
	size_t lo = 0, hi = f->n_tensors;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const ct_tensor *t = &f->tensors[f->by_name[mid]];
		int c = strcmp(name, t->name);
		if (c == 0)
			return t;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* [*a, *b) = [p, p+len) as addresses, when it is a non-empty part of f's
 * own mapping (release and prefetch act on nothing else). */
static bool in_mapping(const ct_st_file *f, const void *p, uint64_t len, uintptr_t *a,
		       uintptr_t *b)
{
	if (!f || !f->mapped || len == 0)
		return false;
	*a = (uintptr_t)p;
	*b = *a + (uintptr_t)len;
	uintptr_t lo = (uintptr_t)f->map, hi = lo + f->map_size;
	return *a >= lo && *b <= hi;
}

void ct_st_release(const ct_st_file *f, const void *p, uint64_t len)
{
	uintptr_t a, b;
	if (!in_mapping(f, p, len, &a, &b))
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)f->map;
	if (len < CT_ST_DIRECT_BYTES && f->sweep) {
		uint64_t before = atomic_fetch_add_explicit(&f->sweep->small_bytes, len,
							    memory_order_relaxed);
		if (before / CT_ST_SWEEP_BYTES != (before + len) / CT_ST_SWEEP_BYTES)
			madvise((void *)lo, f->map_size & ~(page - 1), MADV_DONTNEED);
		return;
	}
	/* whole pages inside the range only: neighbours may still be in use */
	a = (a + page - 1) & ~(page - 1);
	b &= ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

void ct_st_prefetch(const ct_st_file *f, const void *p, uint64_t len)
{
#ifdef MADV_POPULATE_READ
	uintptr_t a, b;
	if (!in_mapping(f, p, len, &a, &b))
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	/* a page fault maps CT_ST_FAULT_AROUND bytes around it: a system call
	 * for less would cost more than the faults it saves */
	if (len < CT_ST_FAULT_AROUND)
		return;
	/* whole pages around the range: reading a neighbour's page is harmless */
	a &= ~(page - 1);
	b = (b + page - 1) & ~(page - 1);
	(void)madvise((void *)a, b - a, MADV_POPULATE_READ);
#else
	(void)f;
	(void)p;
	(void)len;
#endif
}

const char *ct_st_meta(const ct_st_file *f, const char *key)
{
	if (!f->metadata)
		return NULL;
	return json_string_value(json_object_get(f->metadata, key));
}

/* ============================================================== writer === */

typedef struct wtensor {
	char *name;
	ct_dtype dtype;
	int ndim;
	uint64_t shape[CT_MAX_DIMS];
	uint64_t nbytes;
	uint64_t offset;        /* within the data buffer, after layout */
	uint64_t written;       /* bytes appended so far */
	XXH3_state_t *hash;     /* when checksums are on: from the first append
				 * of a tensor written in pieces to its last */
	uint64_t digest;        /* its XXH3, once written completely */
	uint8_t *buf;           /* appended bytes not yet written (small appends) */
	size_t buf_len, buf_cap;
} wtensor;

/* Small appends (a row of packed codes, a scale) are gathered into writes
 * of this size: one system call per row would dominate the run time. */
#define CT_ST_WRITE_BUF (1u << 20)

typedef struct meta_kv {
	char *key;
	char *value;
} meta_kv;

struct ct_st_builder {
	wtensor *t;
	size_t n, cap;
	meta_kv *meta;
	size_t n_meta;
	bool laid_out;
	bool checksums;
	size_t *order;          /* tensor ids in file order */
	uint64_t header_len;    /* N, padded */
	uint64_t data_size;
};

ct_st_builder *ct_st_builder_new(void)
{
	return calloc(1, sizeof(ct_st_builder));
}

void ct_st_builder_free(ct_st_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->t[i].name);
		free(b->t[i].buf);
		if (b->t[i].hash)
			XXH3_freeState(b->t[i].hash);
	}
	for (size_t i = 0; i < b->n_meta; i++) {
		free(b->meta[i].key);
		free(b->meta[i].value);
	}
	free(b->meta);
	free(b->t);
	free(b->order);
	free(b);
}

int ct_st_builder_add(ct_st_builder *b, const char *name, ct_dtype dt, int ndim,
		      const uint64_t *shape, ct_error *err)
{
	if (b->laid_out)
		return -ct_fail(err, CT_EINTERNAL, "%s: tensor added after layout", name);
	if (ndim < 0 || ndim > CT_MAX_DIMS)
		return -ct_fail(err, CT_EINTERNAL, "%s: %d dimensions", name, ndim);
	uint64_t nelem, nbytes;
	if (!ct_tensor_nbytes(dt, ndim, shape, &nelem, &nbytes))
		return -ct_fail(err, CT_EINPUT, "%s: shape overflows", name);
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		wtensor *t = realloc(b->t, cap * sizeof(*t));
		if (!t)
			return -ct_fail(err, CT_EIO, "out of memory");
		b->t = t;
		b->cap = cap;
	}
	wtensor *t = &b->t[b->n];
	memset(t, 0, sizeof(*t));
	if (!(t->name = strdup(name)))
		return -ct_fail(err, CT_EIO, "out of memory");
	t->dtype = dt;
	t->ndim = ndim;
	if (ndim)
		memcpy(t->shape, shape, (size_t)ndim * sizeof(uint64_t));
	t->nbytes = nbytes;
	return (int)b->n++;
}

int ct_st_builder_meta(ct_st_builder *b, const char *key, const char *value,
		       ct_error *err)
{
	if (b->laid_out)
		return ct_fail(err, CT_EINTERNAL, "metadata added after layout");
	for (size_t i = 0; i < b->n_meta; i++) {
		if (strcmp(b->meta[i].key, key) == 0) {
			char *v = strdup(value);
			if (!v)
				return ct_fail(err, CT_EIO, "out of memory");
			free(b->meta[i].value);
			b->meta[i].value = v;
			return CT_OK;
		}
	}
	meta_kv *m = realloc(b->meta, (b->n_meta + 1) * sizeof(*m));
	if (!m)
		return ct_fail(err, CT_EIO, "out of memory");
	b->meta = m;
	m[b->n_meta].key = strdup(key);
	m[b->n_meta].value = strdup(value);
	if (!m[b->n_meta].key || !m[b->n_meta].value) {
		free(m[b->n_meta].key);
		free(m[b->n_meta].value);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	b->n_meta++;
	return CT_OK;
}

/* The reference writer's order: dtype rank descending, then name bytewise. */
static int cmp_file_order(const void *a, const void *b, void *ctx)
{
	const wtensor *t = ctx;
	const wtensor *x = &t[*(const size_t *)a], *y = &t[*(const size_t *)b];
	if (x->dtype != y->dtype)
		return x->dtype > y->dtype ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_meta(const void *a, const void *b)
{
	return strcmp(((const meta_kv *)a)->key, ((const meta_kv *)b)->key);
}

static int cmp_ids_by_name(const void *a, const void *b, void *ctx)
{
	const wtensor *t = ctx;
	return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

#define XXH_PLACEHOLDER "0000000000000000"

/* The checksum map as compact JSON, names sorted; with real hashes when
 * final, else placeholders of the same length. */
static char *checksum_json(const ct_st_builder *b, const size_t *by_name, bool final)
{
	strbuf sb;
	sb_init(&sb);
	sb_putc(&sb, '{');
	for (size_t i = 0; i < b->n; i++) {
		const wtensor *t = &b->t[by_name[i]];
		if (i)
			sb_putc(&sb, ',');
		sb_put_json_string(&sb, t->name, strlen(t->name));
		if (final)
			sb_printf(&sb, ":\"%016llx\"",
				  (unsigned long long)(t->nbytes ? t->digest : XXH3_64bits("", 0)));
		else
			sb_puts(&sb, ":\"" XXH_PLACEHOLDER "\"");
	}
	sb_putc(&sb, '}');
	return sb_steal(&sb, NULL);
}

static char *header_json(const ct_st_builder *b, const char *checksums, size_t *len)
{
	strbuf sb;
	sb_init(&sb);
	sb_putc(&sb, '{');
	bool any_meta = b->n_meta || checksums;
	if (any_meta) {
		sb_puts(&sb, "\"__metadata__\":{");
		/* keys sorted; "ctensors.xxh3" slots in between the others */
		bool put_sum = checksums == NULL;
		bool first = true;
		for (size_t i = 0; i <= b->n_meta; i++) {
			if (!put_sum && (i == b->n_meta ||
					 strcmp(b->meta[i].key, "ctensors.xxh3") > 0)) {
				if (!first)
					sb_putc(&sb, ',');
				sb_puts(&sb, "\"ctensors.xxh3\":");
				sb_put_json_string(&sb, checksums, strlen(checksums));
				put_sum = true;
				first = false;
			}
			if (i == b->n_meta)
				break;
			if (!first)
				sb_putc(&sb, ',');
			sb_put_json_string(&sb, b->meta[i].key, strlen(b->meta[i].key));
			sb_putc(&sb, ':');
			sb_put_json_string(&sb, b->meta[i].value, strlen(b->meta[i].value));
			first = false;
		}
		sb_putc(&sb, '}');
	}
	for (size_t k = 0; k < b->n; k++) {
		const wtensor *t = &b->t[b->order[k]];
		if (k || any_meta)
			sb_putc(&sb, ',');
		sb_put_json_string(&sb, t->name, strlen(t->name));
		sb_puts(&sb, ":{\"dtype\":\"");
		sb_puts(&sb, ct_dtype_name(t->dtype));
		sb_puts(&sb, "\",\"shape\":[");
		for (int d = 0; d < t->ndim; d++) {
			if (d)
				sb_putc(&sb, ',');
			sb_put_u64(&sb, t->shape[d]);
		}
		sb_puts(&sb, "],\"data_offsets\":[");
		sb_put_u64(&sb, t->offset);
		sb_putc(&sb, ',');
		sb_put_u64(&sb, t->offset + t->nbytes);
		sb_puts(&sb, "]}");
	}
	sb_putc(&sb, '}');
	while (!sb.failed && sb.len % 8)
		sb_putc(&sb, ' ');
	return sb_steal(&sb, len);
}

int ct_st_builder_layout(ct_st_builder *b, bool checksums, ct_error *err)
{
	if (b->laid_out)
		return CT_OK;
	b->order = malloc((b->n ? b->n : 1) * sizeof(size_t));
	size_t *by_name = malloc((b->n ? b->n : 1) * sizeof(size_t));
	if (!b->order || !by_name) {
		free(by_name);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	for (size_t i = 0; i < b->n; i++)
		b->order[i] = by_name[i] = i;
	qsort_r(by_name, b->n, sizeof(size_t), cmp_ids_by_name, b->t);
	for (size_t i = 1; i < b->n; i++) {
		if (strcmp(b->t[by_name[i - 1]].name, b->t[by_name[i]].name) == 0) {
			int rc = ct_fail(err, CT_EINPUT, "%s: tensor written twice",
					 b->t[by_name[i]].name);
			free(by_name);
			return rc;
		}
	}
	qsort_r(b->order, b->n, sizeof(size_t), cmp_file_order, b->t);
	if (b->n_meta)
		qsort(b->meta, b->n_meta, sizeof(meta_kv), cmp_meta);
	uint64_t off = 0;
	for (size_t k = 0; k < b->n; k++) {
		wtensor *t = &b->t[b->order[k]];
		t->offset = off;
		if (t->nbytes > UINT64_MAX - off) {
			free(by_name);
			return ct_fail(err, CT_EINPUT, "total size overflows");
		}
		off += t->nbytes;
	}
	b->data_size = off;
	b->checksums = checksums;
	char *sums = checksums ? checksum_json(b, by_name, false) : NULL;
	free(by_name);
	size_t len = 0;
	char *hdr = (!checksums || sums) ? header_json(b, sums, &len) : NULL;
	free(sums);
	free(hdr);
	if (!hdr)
		return ct_fail(err, CT_EIO, "out of memory building the header");
	if (len > CT_ST_HEADER_MAX)
		return ct_fail(err, CT_EINPUT, "header of %zu bytes exceeds the safetensors "
			       "limit of %llu", len, CT_ST_HEADER_MAX);
	b->header_len = len;
	b->laid_out = true;
	return CT_OK;
}

/* The header JSON of b into *hdr (malloc'd, *len bytes), with the
 * checksums section when b has one: the real sums (written) or the
 * placeholders the layout reserved room for. */
static int build_header(const ct_st_builder *b, bool written, char **hdr, size_t *len,
			ct_error *err)
{
	char *sums = NULL;
	if (b->checksums) {
		size_t *by_name = malloc((b->n ? b->n : 1) * sizeof(size_t));
		if (!by_name)
			return ct_fail(err, CT_EIO, "out of memory");
		for (size_t i = 0; i < b->n; i++)
			by_name[i] = i;
		qsort_r(by_name, b->n, sizeof(size_t), cmp_ids_by_name, b->t);
		sums = checksum_json(b, by_name, written);
		free(by_name);
		if (!sums)
			return ct_fail(err, CT_EIO, "out of memory");
	}
	*hdr = header_json(b, sums, len);
	free(sums);
	return *hdr ? CT_OK : ct_fail(err, CT_EIO, "out of memory building the header");
}

int ct_st_builder_layout_hash(const ct_st_builder *b, uint64_t *out, ct_error *err)
{
	if (!b->laid_out)
		return ct_fail(err, CT_EINTERNAL, "layout hash before layout");
	size_t len = 0;
	char *hdr = NULL;
	int rc = build_header(b, false, &hdr, &len, err);
	if (rc)
		return rc;
	*out = XXH3_64bits(hdr, len);
	free(hdr);
	return CT_OK;
}

uint64_t ct_st_builder_file_size(const ct_st_builder *b)
{
	return 8 + b->header_len + b->data_size;
}

uint64_t ct_st_builder_data_size(const ct_st_builder *b)
{
	return b->data_size;
}

size_t ct_st_builder_count(const ct_st_builder *b)
{
	return b->n;
}

uint64_t ct_st_builder_tensor_size(const ct_st_builder *b, int id)
{
	return b->t[id].nbytes;
}

static int flush_tensor(ct_st_builder *b, const ct_sink *sink, wtensor *t, ct_error *err)
{
	if (!t->buf_len)
		return CT_OK;
	uint64_t at = 8 + b->header_len + t->offset + t->written - t->buf_len;
	int rc = sink->pwrite(sink->ctx, t->buf, t->buf_len, at, err);
	t->buf_len = 0;
	return rc;
}

/* Appends buf to the checksum of t. */
static int hash_append(wtensor *t, const void *buf, size_t len, bool whole)
{
	if (whole) {
		/* the whole tensor at once: no streaming state */
		t->digest = ct_xxh3(buf, len);
		return CT_OK;
	}
	/* a state only while the tensor is being written: thousands of idle
	 * ones would cost more than the small tensors they hash */
	if (!t->hash) {
		t->hash = XXH3_createState();
		if (!t->hash)
			return CT_EIO;
		XXH3_64bits_reset(t->hash);
	}
	ct_xxh3_update(t->hash, buf, len);
	if (t->written + len == t->nbytes) {
		t->digest = XXH3_64bits_digest(t->hash);
		XXH3_freeState(t->hash);
		t->hash = NULL;
	}
	return CT_OK;
}

int ct_st_write(ct_st_builder *b, const ct_sink *sink, int id, const void *buf,
		size_t len, ct_error *err)
{
	if (!b->laid_out || id < 0 || (size_t)id >= b->n)
		return ct_fail(err, CT_EINTERNAL, "write to tensor %d before layout", id);
	wtensor *t = &b->t[id];
	if (len > t->nbytes - t->written)
		return ct_fail(err, CT_EINTERNAL, "%s: %zu bytes written past its end",
			       t->name, len);
	if (len == 0)
		return CT_OK;
	if (b->checksums && hash_append(t, buf, len, len == t->nbytes))
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	if (t->buf_len && t->buf_len + len > t->buf_cap)
		rc = flush_tensor(b, sink, t, err);
	if (!rc && len < CT_ST_WRITE_BUF && !t->buf) {
		t->buf_cap = t->nbytes < CT_ST_WRITE_BUF ? (size_t)t->nbytes : CT_ST_WRITE_BUF;
		t->buf = malloc(t->buf_cap);
		if (!t->buf)
			rc = ct_fail(err, CT_EIO, "out of memory");
	}
	if (rc)
		return rc;
	if (t->buf && len <= t->buf_cap - t->buf_len) {
		memcpy(t->buf + t->buf_len, buf, len);
		t->buf_len += len;
		t->written += len;
	} else {
		rc = sink->pwrite(sink->ctx, buf, len, 8 + b->header_len + t->offset + t->written,
				  err);
		if (rc)
			return rc;
		t->written += len;
	}
	if (t->written == t->nbytes) {
		/* complete: write out and give the buffer back */
		rc = flush_tensor(b, sink, t, err);
		free(t->buf);
		t->buf = NULL;
		t->buf_cap = 0;
	}
	return rc;
}

int ct_st_finish(ct_st_builder *b, const ct_sink *sink, ct_error *err)
{
	if (!b->laid_out)
		return ct_fail(err, CT_EINTERNAL, "finish before layout");
	for (size_t i = 0; i < b->n; i++) {
		if (b->t[i].written != b->t[i].nbytes)
			return ct_fail(err, CT_EINTERNAL, "%s: %" PRIu64 " of %" PRIu64
				       " bytes written", b->t[i].name, b->t[i].written,
				       b->t[i].nbytes);
	}
	size_t len = 0;
	char *hdr = NULL;
	int rc = build_header(b, true, &hdr, &len, err);
	if (rc)
		return rc;
	if (len != b->header_len) {
		free(hdr);
		return ct_fail(err, CT_EINTERNAL, "header length changed from %" PRIu64
			       " to %zu", b->header_len, len);
	}
	uint8_t lenbuf[8];
	for (int i = 0; i < 8; i++)
		lenbuf[i] = (uint8_t)(len >> (8 * i));
	rc = sink->pwrite(sink->ctx, lenbuf, 8, 0, err);
	if (!rc)
		rc = sink->pwrite(sink->ctx, hdr, len, 8, err);
	free(hdr);
	return rc;
}
