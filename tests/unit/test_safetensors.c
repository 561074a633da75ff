/*
 * Unit tests for the safetensors writer and reader: round trips through an
 * in-memory sink, the exact bytes of FORMAT.md §1.8's worked example, the
 * reference writer's layout rules (§1.6), the checksum metadata, fault
 * injection in the sink, and a sample of the reader's rejections (§1.7).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "safetensors.h"
#include "strbuf.h"

/* ---------------------------------------------------------------- helpers */

/* A growable in-memory file that can be told to fail its N-th pwrite. */
typedef struct memsink {
	uint8_t *buf;
	size_t cap;     /* bytes allocated (all zero-filled) */
	size_t size;    /* highest offset written + 1 */
	int calls;      /* pwrite calls so far */
	int fail_at;    /* 1-based call to fail; 0 = never */
} memsink;

static int mem_pwrite(void *ctx, const void *buf, size_t len, uint64_t offset,
		      ct_error *err)
{
	memsink *m = ctx;
	m->calls++;
	if (m->calls == m->fail_at)
		return ct_fail(err, CT_EIO, "injected failure at write %d", m->calls);
	size_t end = (size_t)offset + len;
	if (end > m->cap) {
		size_t cap = m->cap ? m->cap : 256;
		while (cap < end)
			cap *= 2;
		uint8_t *p = realloc(m->buf, cap);
		if (!p)
			return ct_fail(err, CT_EIO, "out of memory");
		memset(p + m->cap, 0, cap - m->cap);
		m->buf = p;
		m->cap = cap;
	}
	memcpy(m->buf + offset, buf, len);
	if (end > m->size)
		m->size = end;
	return CT_OK;
}

static ct_sink sink_of(memsink *m)
{
	ct_sink s = { mem_pwrite, m };
	return s;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

typedef struct tspec {
	const char *name;
	ct_dtype dtype;
	int ndim;
	uint64_t shape[4];
} tspec;

/* Deterministic, tensor-specific bytes: a mix-up of two tensors shows. */
static uint8_t pattern(size_t tensor, size_t i)
{
	return (uint8_t)(tensor * 31 + i * 7 + 1);
}

/* Declares specs[0..n) (plus metadata pairs kv[0..2*nkv)), lays out, writes
 * every tensor in two uneven pieces, finishes. Returns the first error. */
static int build(const tspec *specs, size_t n, const char *const *kv, size_t nkv,
		 bool checksums, memsink *m, ct_error *err)
{
	ct_st_builder *b = ct_st_builder_new();
	assert_non_null(b);
	int ids[64];
	assert_true(n <= 64);
	int rc = CT_OK;
	for (size_t i = 0; i < nkv && !rc; i++)
		rc = ct_st_builder_meta(b, kv[2 * i], kv[2 * i + 1], err);
	for (size_t i = 0; i < n && !rc; i++) {
		ids[i] = ct_st_builder_add(b, specs[i].name, specs[i].dtype, specs[i].ndim,
					   specs[i].shape, err);
		if (ids[i] < 0)
			rc = -ids[i];
	}
	if (!rc)
		rc = ct_st_builder_layout(b, checksums, err);
	ct_sink s = sink_of(m);
	for (size_t i = 0; i < n && !rc; i++) {
		size_t len = (size_t)ct_st_builder_tensor_size(b, ids[i]);
		uint8_t *data = malloc(len ? len : 1);
		assert_non_null(data);
		for (size_t k = 0; k < len; k++)
			data[k] = pattern(i, k);
		size_t first = len / 3;
		rc = ct_st_write(b, &s, ids[i], data, first, err);
		if (!rc)
			rc = ct_st_write(b, &s, ids[i], data + first, len - first, err);
		free(data);
	}
	if (!rc)
		rc = ct_st_finish(b, &s, err);
	if (!rc)
		assert_int_equal(m->size, ct_st_builder_file_size(b));
	ct_st_builder_free(b);
	return rc;
}

static ct_st_file *parse_ok(const memsink *m)
{
	ct_st_file *f = NULL;
	ct_error err = { 0 };
	int rc = ct_st_parse("mem", m->buf, m->size, &f, &err);
	if (rc)
		fail_msg("reader refused the writer's output: %s", err.msg);
	assert_non_null(f);
	return f;
}

/* Checks every tensor of specs against the parsed file, bytes included. */
static void check_tensors(const ct_st_file *f, const tspec *specs, size_t n)
{
	assert_int_equal(f->n_tensors, n);
	for (size_t i = 0; i < n; i++) {
		const ct_tensor *t = ct_st_find(f, specs[i].name);
		if (!t)
			fail_msg("tensor %s missing", specs[i].name);
		assert_string_equal(t->name, specs[i].name);
		assert_int_equal(t->dtype, specs[i].dtype);
		assert_int_equal(t->ndim, specs[i].ndim);
		uint64_t nelem = 1;
		for (int d = 0; d < t->ndim; d++) {
			assert_int_equal(t->shape[d], specs[i].shape[d]);
			nelem *= specs[i].shape[d];
		}
		assert_int_equal(t->nelem, nelem);
		uint64_t nbytes = nelem * ct_dtype_bits(specs[i].dtype) / 8;
		assert_int_equal(t->end - t->begin, nbytes);
		for (uint64_t k = 0; k < nbytes; k++) {
			if (t->data[k] != pattern(i, (size_t)k))
				fail_msg("%s: byte %" PRIu64 " is %#x, wrote %#x", t->name, k,
					 t->data[k], pattern(i, (size_t)k));
		}
	}
}

/* Offset of needle in the raw header of the file in m, or -1. */
static long header_pos(const memsink *m, const char *needle)
{
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | m->buf[i];
	const uint8_t *p = memmem(m->buf + 8, (size_t)n, needle, strlen(needle));
	return p ? (long)(p - m->buf) : -1;
}

/* ---------------------------------------------------------------- round trips */

static const tspec mixed[] = {
	{ "w.f32", CT_F32, 2, { 3, 5 } },
	{ "w.bf16", CT_BF16, 2, { 4, 3 } },
	{ "w.f16", CT_F16, 1, { 7 } },
	{ "w.i64", CT_I64, 1, { 2 } },
	{ "w.u8", CT_U8, 3, { 2, 2, 3 } },
	{ "w.f4", CT_F4, 2, { 3, 6 } },          /* 18 nibbles = 9 bytes */
	{ "w.e4m3", CT_F8_E4M3, 2, { 5, 3 } },
	{ "w.scalar", CT_F32, 0, { 0 } },
	{ "w.empty", CT_BF16, 2, { 0, 4 } },
	{ "w.bool", CT_BOOL, 1, { 3 } },
};
#define N_MIXED (sizeof(mixed) / sizeof(mixed[0]))

static void test_roundtrip_dtypes(void **state)
{
	(void)state;
	memsink m = { 0 };
	ct_error err = { 0 };
	/* given unsorted on purpose: the writer must sort them */
	static const char *const kv[] = { "zeta", "last", "format", "pt", "alpha", "first" };
	assert_int_equal(build(mixed, N_MIXED, kv, 3, false, &m, &err), CT_OK);
	ct_st_file *f = parse_ok(&m);
	check_tensors(f, mixed, N_MIXED);
	assert_string_equal(ct_st_meta(f, "format"), "pt");
	assert_string_equal(ct_st_meta(f, "alpha"), "first");
	assert_string_equal(ct_st_meta(f, "zeta"), "last");
	assert_null(ct_st_meta(f, "ctensors.xxh3"));
	assert_null(ct_st_meta(f, "missing"));
	/* keys sorted, and __metadata__ before any tensor */
	long a = header_pos(&m, "\"alpha\""), fo = header_pos(&m, "\"format\"");
	long z = header_pos(&m, "\"zeta\""), md = header_pos(&m, "\"__metadata__\"");
	assert_true(md == 9);
	assert_true(md < a && a < fo && fo < z);
	assert_true(z < header_pos(&m, "\"w.f32\""));
	const ct_tensor *s = ct_st_find(f, "w.scalar");
	assert_int_equal(s->nelem, 1);
	assert_int_equal(s->end - s->begin, 4);
	const ct_tensor *e = ct_st_find(f, "w.empty");
	assert_int_equal(e->nelem, 0);
	assert_int_equal(e->begin, e->end);
	ct_st_close(f);
	free(m.buf);
}

static void test_roundtrip_file(void **state)
{
	(void)state;
	memsink m = { 0 };
	ct_error err = { 0 };
	assert_int_equal(build(mixed, N_MIXED, NULL, 0, true, &m, &err), CT_OK);
	char path[] = "/tmp/test_safetensors.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, m.buf, m.size), (ssize_t)m.size);
	assert_int_equal(close(fd), 0);
	ct_st_file *f = NULL;
	int rc = ct_st_open(path, &f, &err);
	unlink(path);
	if (rc)
		fail_msg("ct_st_open: %s", err.msg);
	check_tensors(f, mixed, N_MIXED);
	assert_string_equal(f->path, path);
	ct_st_close(f);
	free(m.buf);

	rc = ct_st_open("/nonexistent/dir/x.safetensors", &f, &err);
	assert_int_equal(rc, CT_EINPUT);
	assert_null(f);
	assert_contains(err.msg, "/nonexistent/dir/x.safetensors");
}

static void test_checksums(void **state)
{
	(void)state;
	memsink m = { 0 };
	ct_error err = { 0 };
	static const char *const kv[] = { "format", "pt", "a.key", "v" };
	assert_int_equal(build(mixed, N_MIXED, kv, 2, true, &m, &err), CT_OK);
	ct_st_file *f = parse_ok(&m);
	check_tensors(f, mixed, N_MIXED);
	/* the checksum key sorts between the caller's keys */
	long a = header_pos(&m, "\"a.key\""), x = header_pos(&m, "\"ctensors.xxh3\"");
	long fo = header_pos(&m, "\"format\"");
	assert_true(a > 0 && a < x && x < fo);
	const char *sums = ct_st_meta(f, "ctensors.xxh3");
	assert_non_null(sums);
	json_error_t jerr;
	json_t *obj = json_loads(sums, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		fail_msg("ctensors.xxh3 is not JSON: %s: %s", jerr.text, sums);
	assert_true(json_is_object(obj));
	assert_int_equal(json_object_size(obj), N_MIXED);
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		json_t *v = json_object_get(obj, t->name);
		if (!json_is_string(v))
			fail_msg("no checksum string for %s", t->name);
		const char *hex = json_string_value(v);
		assert_int_equal(strlen(hex), 16);
		assert_int_equal(strspn(hex, "0123456789abcdef"), 16);
		char want[17];
		snprintf(want, sizeof(want), "%016llx",
			 (unsigned long long)XXH3_64bits(t->data, (size_t)(t->end - t->begin)));
		assert_string_equal(hex, want);
	}
	json_decref(obj);
	ct_st_close(f);
	free(m.buf);
}

/* ---------------------------------------------------------------- layout */

static void test_worked_example(void **state)
{
	(void)state;
	static const char hdr[] =
		"{\"__metadata__\":{\"format\":\"pt\"},"
		"\"a.weight_shape\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
		"\"a.weight_packed\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[16,20]},"
		"\"a.weight_scale\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[20,22]}}";
	static const uint8_t data[22] = {
		1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0,
		0x2a, 0xf9, 0x85, 0x0d, 0x24, 0x3d,
	};
	assert_int_equal(sizeof(hdr) - 1, 241); /* the spec's own count */
	uint8_t want[278];
	static const uint8_t len[8] = { 0xf8, 0, 0, 0, 0, 0, 0, 0 };
	memcpy(want, len, 8);
	memcpy(want + 8, hdr, 241);
	memset(want + 8 + 241, ' ', 7);
	memcpy(want + 256, data, 22);

	ct_st_builder *b = ct_st_builder_new();
	ct_error err = { 0 };
	assert_int_equal(ct_st_builder_meta(b, "format", "pt", &err), CT_OK);
	/* declared in neither file nor name order */
	static const uint64_t s11[2] = { 1, 1 }, s2[1] = { 2 };
	int scale = ct_st_builder_add(b, "a.weight_scale", CT_BF16, 2, s11, &err);
	int packed = ct_st_builder_add(b, "a.weight_packed", CT_I32, 2, s11, &err);
	int shape = ct_st_builder_add(b, "a.weight_shape", CT_I64, 1, s2, &err);
	assert_true(scale >= 0 && packed >= 0 && shape >= 0);
	assert_int_equal(ct_st_builder_layout(b, false, &err), CT_OK);
	assert_int_equal(ct_st_builder_file_size(b), 278);
	assert_int_equal(ct_st_builder_data_size(b), 22);
	assert_int_equal(ct_st_builder_count(b), 3);
	memsink m = { 0 };
	ct_sink s = sink_of(&m);
	assert_int_equal(ct_st_write(b, &s, scale, data + 20, 2, &err), CT_OK);
	assert_int_equal(ct_st_write(b, &s, packed, data + 16, 4, &err), CT_OK);
	assert_int_equal(ct_st_write(b, &s, shape, data, 16, &err), CT_OK);
	assert_int_equal(ct_st_finish(b, &s, &err), CT_OK);
	ct_st_builder_free(b);
	assert_int_equal(m.size, 278);
	assert_memory_equal(m.buf, want, 278);
	free(m.buf);
}

static void test_header_padding(void **state)
{
	(void)state;
	/* Names of 1..16 bytes move the JSON length through every residue mod 8. */
	for (int k = 1; k <= 16; k++) {
		char name[17];
		memset(name, 'x', (size_t)k);
		name[k] = '\0';
		tspec sp = { name, CT_U8, 1, { 3 } };
		memsink m = { 0 };
		ct_error err = { 0 };
		assert_int_equal(build(&sp, 1, NULL, 0, false, &m, &err), CT_OK);
		ct_st_file *f = parse_ok(&m);
		assert_int_equal(f->header_len % 8, 0);
		const char *h = (const char *)m.buf + 8;
		size_t json_end = (size_t)f->header_len;
		while (json_end > 0 && h[json_end - 1] == ' ')
			json_end--;
		assert_true(json_end > 0);
		assert_int_equal(h[json_end - 1], '}');
		/* minimal padding: 0-7 spaces, no other whitespace */
		assert_true(f->header_len - json_end < 8);
		assert_null(memchr(h, '\n', (size_t)f->header_len));
		assert_int_equal(f->tensors[0].data - m.buf, 8 + f->header_len);
		ct_st_close(f);
		free(m.buf);
	}
}

static void test_tensor_order(void **state)
{
	(void)state;
	static const tspec sp[] = {
		{ "model.layers.2.w", CT_BF16, 1, { 2 } },
		{ "a", CT_U8, 1, { 3 } },
		{ "model.layers.10.w", CT_BF16, 1, { 2 } },
		{ "f4", CT_F4, 1, { 2 } },
		{ "z", CT_I64, 1, { 1 } },
		{ "m", CT_F8_E4M3, 1, { 5 } },
		{ "b", CT_F32, 1, { 1 } },
		{ "B", CT_F32, 1, { 1 } },
	};
	/* dtype rank descending, then bytewise name ("B" < "b", "10" < "2") */
	static const char *const want[] = {
		"z", "B", "b", "model.layers.10.w", "model.layers.2.w", "m", "a", "f4",
	};
	size_t n = sizeof(sp) / sizeof(sp[0]);
	memsink m = { 0 };
	ct_error err = { 0 };
	assert_int_equal(build(sp, n, NULL, 0, false, &m, &err), CT_OK);
	ct_st_file *f = parse_ok(&m);
	check_tensors(f, sp, n);
	uint64_t off = 0;
	long prev = 0;
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(f->tensors[i].name, want[i]);
		assert_int_equal(f->tensors[i].begin, off);
		off = f->tensors[i].end;
		/* header entries come in the same order as the data */
		char key[64];
		snprintf(key, sizeof(key), "\"%s\":{", want[i]);
		long pos = header_pos(&m, key);
		assert_true(pos > prev);
		prev = pos;
		/* each tensor starts at a file offset aligned to its element size */
		unsigned es = ct_dtype_size(f->tensors[i].dtype);
		if (es)
			assert_int_equal((f->tensors[i].data - m.buf) % es, 0);
	}
	ct_st_close(f);
	free(m.buf);
}

/* ---------------------------------------------------------------- writer misuse */

static void test_write_past_end(void **state)
{
	(void)state;
	ct_st_builder *b = ct_st_builder_new();
	ct_error err = { 0 };
	static const uint64_t sh[1] = { 2 };
	int id = ct_st_builder_add(b, "t.past", CT_BF16, 1, sh, &err);
	assert_true(id >= 0);
	assert_int_equal(ct_st_builder_layout(b, false, &err), CT_OK);
	memsink m = { 0 };
	ct_sink s = sink_of(&m);
	static const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_not_equal(ct_st_write(b, &s, id, bytes, 5, &err), CT_OK);
	assert_contains(err.msg, "t.past");
	assert_int_equal(m.calls, 0); /* refused before touching the sink */
	assert_int_equal(ct_st_write(b, &s, id, bytes, 3, &err), CT_OK);
	err.msg[0] = '\0';
	assert_int_not_equal(ct_st_write(b, &s, id, bytes, 2, &err), CT_OK);
	assert_contains(err.msg, "t.past");
	/* the refused call did not count: the last byte still fits */
	assert_int_equal(ct_st_write(b, &s, id, bytes + 3, 1, &err), CT_OK);
	assert_int_not_equal(ct_st_write(b, &s, id, bytes, 1, &err), CT_OK);
	assert_int_equal(ct_st_finish(b, &s, &err), CT_OK);
	ct_st_builder_free(b);
	ct_st_file *f = parse_ok(&m);
	assert_memory_equal(f->tensors[0].data, bytes, 4);
	ct_st_close(f);
	free(m.buf);
}

static void test_finish_incomplete(void **state)
{
	(void)state;
	ct_st_builder *b = ct_st_builder_new();
	ct_error err = { 0 };
	static const uint64_t sh[1] = { 4 };
	int full = ct_st_builder_add(b, "t.full", CT_U8, 1, sh, &err);
	int part = ct_st_builder_add(b, "t.partial", CT_U8, 1, sh, &err);
	int none = ct_st_builder_add(b, "t.none", CT_U8, 1, sh, &err);
	assert_true(full >= 0 && part >= 0 && none >= 0);
	assert_int_equal(ct_st_builder_layout(b, false, &err), CT_OK);
	memsink m = { 0 };
	ct_sink s = sink_of(&m);
	static const uint8_t bytes[4] = { 9, 8, 7, 6 };
	assert_int_equal(ct_st_write(b, &s, full, bytes, 4, &err), CT_OK);
	assert_int_equal(ct_st_write(b, &s, part, bytes, 3, &err), CT_OK);
	assert_int_equal(ct_st_write(b, &s, none, bytes, 4, &err), CT_OK);
	int calls = m.calls;
	assert_int_not_equal(ct_st_finish(b, &s, &err), CT_OK);
	assert_contains(err.msg, "t.partial");
	assert_int_equal(m.calls, calls); /* no header written */
	/* completing the tensor makes finish succeed */
	assert_int_equal(ct_st_write(b, &s, part, bytes + 3, 1, &err), CT_OK);
	assert_int_equal(ct_st_finish(b, &s, &err), CT_OK);
	ct_st_builder_free(b);
	ct_st_file *f = parse_ok(&m);
	assert_memory_equal(ct_st_find(f, "t.partial")->data, bytes, 4);
	ct_st_close(f);
	free(m.buf);
}

static void test_builder_rejects(void **state)
{
	(void)state;
	ct_st_builder *b = ct_st_builder_new();
	ct_error err = { 0 };
	static const uint64_t huge[2] = { UINT64_C(1) << 40, UINT64_C(1) << 40 };
	assert_true(ct_st_builder_add(b, "t.huge", CT_F32, 2, huge, &err) < 0);
	static const uint64_t sh[1] = { 1 };
	assert_true(ct_st_builder_add(b, "t.dup", CT_F32, 1, sh, &err) >= 0);
	assert_true(ct_st_builder_add(b, "t.dup", CT_I8, 1, sh, &err) >= 0);
	err.msg[0] = '\0';
	assert_int_not_equal(ct_st_builder_layout(b, false, &err), CT_OK);
	assert_contains(err.msg, "t.dup");
	ct_st_builder_free(b);
}

/* Fails the sink at every pwrite in turn: each failure must come back as
 * the sink's own code and message, never as success. */
static void test_sink_failure(void **state)
{
	(void)state;
	memsink clean = { 0 };
	ct_error err = { 0 };
	assert_int_equal(build(mixed, N_MIXED, NULL, 0, true, &clean, &err), CT_OK);
	int total = clean.calls;
	assert_true(total > (int)N_MIXED); /* data writes plus length and header */
	free(clean.buf);
	for (int k = 1; k <= total; k++) {
		memsink m = { 0 };
		m.fail_at = k;
		ct_error e = { 0 };
		int rc = build(mixed, N_MIXED, NULL, 0, true, &m, &e);
		if (rc != CT_EIO)
			fail_msg("failure at write %d of %d gave %d (%s)", k, total, rc, e.msg);
		char want[64];
		snprintf(want, sizeof(want), "injected failure at write %d", k);
		assert_string_equal(e.msg, want);
		assert_int_equal(m.calls, k); /* nothing written after the failure */
		free(m.buf);
	}
}

/* ---------------------------------------------------------------- reader */

static void test_find(void **state)
{
	(void)state;
	/* enough tensors for the binary search to take several steps */
	tspec sp[40];
	char names[40][32];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "model.layers.%d.w", i);
		sp[i] = (tspec){ names[i], i % 2 ? CT_F32 : CT_BF16, 1, { (uint64_t)i + 1 } };
	}
	memsink m = { 0 };
	ct_error err = { 0 };
	assert_int_equal(build(sp, 40, NULL, 0, false, &m, &err), CT_OK);
	ct_st_file *f = parse_ok(&m);
	for (int i = 0; i < 40; i++) {
		const ct_tensor *t = ct_st_find(f, names[i]);
		assert_non_null(t);
		assert_string_equal(t->name, names[i]);
		assert_int_equal(t->shape[0], (uint64_t)i + 1);
	}
	static const char *const absent[] = {
		"", "model.layers.4", "model.layers.4.w.", "model.layers.40.w", "a", "zzz",
		"model.layers.1.W",
	};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		if (ct_st_find(f, absent[i]))
			fail_msg("found absent tensor \"%s\"", absent[i]);
	}
	ct_st_close(f);
	free(m.buf);

	/* and in a file with no tensors at all */
	static const char *const kv[] = { "format", "pt" };
	memsink e = { 0 };
	assert_int_equal(build(NULL, 0, kv, 1, false, &e, &err), CT_OK);
	f = parse_ok(&e);
	assert_int_equal(f->n_tensors, 0);
	assert_null(ct_st_find(f, "x"));
	assert_string_equal(ct_st_meta(f, "format"), "pt");
	ct_st_close(f);
	free(e.buf);
}

struct reject_case {
	const char *header;   /* NULL: use raw */
	size_t ndata;         /* data bytes after the header */
	const char *want;     /* substring of the message */
};

static const struct reject_case rejects[] = {
	{ "[]", 0, "does not start with '{'" },
	{ "{\"__metadata__\":{\"format\":\"\xC0\xAF\"}}", 0, "not valid UTF-8 at byte 35" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
	  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "duplicate" },
	{ "{} x", 0, "not valid JSON" },
	{ "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16,
	  "a: unknown dtype" },
	{ "{\"a\":{\"dtype\":\"bf16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
	  "a: unknown dtype" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
	  "a: shape is not" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
	  "a: data_offsets is not" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,10]}}", 10,
	  "hold 10 bytes (expected 12" },
	{ "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
	  "does not fill whole bytes" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
	  "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}", 3, "b: data_offsets begin 2 leaves a gap" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
	  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "b: data_offsets begin 1 overlaps" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 2,
	  "trailing bytes after the last tensor" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3, "file is truncated" },
	{ "{\"__metadata__\":{\"format\":1}}", 0, "__metadata__ value of \"format\" is not a string" },
	{ "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "a: tensor entry lacks \"dtype\"" },
};

static void test_reader_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		const struct reject_case *c = &rejects[i];
		size_t hl = strlen(c->header);
		size_t len = 8 + hl + c->ndata;
		uint8_t *buf = calloc(1, len);
		assert_non_null(buf);
		for (int k = 0; k < 8; k++)
			buf[k] = (uint8_t)((uint64_t)hl >> (8 * k));
		memcpy(buf + 8, c->header, hl);
		ct_st_file *f = (ct_st_file *)buf; /* must be reset to NULL on failure */
		ct_error err = { 0 };
		int rc = ct_st_parse("case.safetensors", buf, len, &f, &err);
		if (rc != CT_EINPUT)
			fail_msg("case %zu (%s): rc %d, expected CT_EINPUT", i, c->header, rc);
		assert_null(f);
		assert_int_equal(err.code, CT_EINPUT);
		assert_true(strncmp(err.msg, "case.safetensors: ", 18) == 0);
		assert_contains(err.msg, c->want);
		free(buf);
	}
}

/* The length word alone: too short, too large, past the end. */
static void test_reader_length_word(void **state)
{
	(void)state;
	uint8_t buf[16] = { 0 };
	ct_st_file *f = NULL;
	ct_error err = { 0 };
	for (size_t n = 0; n < 8; n++) {
		assert_int_equal(ct_st_parse("short", buf, n, &f, &err), CT_EINPUT);
		assert_contains(err.msg, "too small");
	}
	memset(buf, 0xFF, 8); /* 2^64 - 1 */
	assert_int_equal(ct_st_parse("big", buf, 16, &f, &err), CT_EINPUT);
	assert_contains(err.msg, "exceeds the limit");
	memset(buf, 0, 8);
	buf[0] = 9; /* 9 > the 8 bytes that follow */
	memcpy(buf + 8, "{}      ", 8);
	assert_int_equal(ct_st_parse("past", buf, 16, &f, &err), CT_EINPUT);
	assert_contains(err.msg, "runs past the end");
	buf[0] = 8; /* the same bytes with the right length are a valid file */
	assert_int_equal(ct_st_parse("ok", buf, 16, &f, &err), CT_OK);
	assert_int_equal(f->n_tensors, 0);
	assert_int_equal(f->data_size, 0);
	ct_st_close(f);
}

static void test_nbytes(void **state)
{
	(void)state;
	uint64_t ne = 0, nb = 0;
	static const uint64_t s_scalar[1] = { 0 };
	assert_true(ct_tensor_nbytes(CT_F64, 0, s_scalar, &ne, &nb));
	assert_int_equal(ne, 1);
	assert_int_equal(nb, 8);
	static const uint64_t s_empty[3] = { 7, 0, UINT64_C(1) << 62 };
	assert_true(ct_tensor_nbytes(CT_F32, 3, s_empty, &ne, &nb));
	assert_int_equal(ne, 0);
	assert_int_equal(nb, 0);
	static const uint64_t s_f4[2] = { 3, 6 };
	assert_true(ct_tensor_nbytes(CT_F4, 2, s_f4, &ne, &nb));
	assert_int_equal(ne, 18);
	assert_int_equal(nb, 9);
	static const uint64_t s_f6[1] = { 4 };
	assert_true(ct_tensor_nbytes(CT_F6_E3M2, 1, s_f6, &ne, &nb));
	assert_int_equal(nb, 3);
	static const uint64_t s_odd[1] = { 3 };
	assert_false(ct_tensor_nbytes(CT_F4, 1, s_odd, &ne, &nb));
	assert_false(ct_tensor_nbytes(CT_F6_E2M3, 1, s_odd, &ne, &nb));
	/* product overflows uint64 */
	static const uint64_t s_prod[3] = { UINT64_C(1) << 32, UINT64_C(1) << 32, 16 };
	assert_false(ct_tensor_nbytes(CT_U8, 3, s_prod, &ne, &nb));
	static const uint64_t s_max[2] = { UINT64_MAX, 2 };
	assert_false(ct_tensor_nbytes(CT_BOOL, 2, s_max, &ne, &nb));
	/* elements fit, elements x bits do not (the reference checks bits) */
	static const uint64_t s_bits[1] = { UINT64_C(1) << 58 };
	assert_false(ct_tensor_nbytes(CT_U64, 1, s_bits, &ne, &nb));
	assert_true(ct_tensor_nbytes(CT_U8, 1, s_bits, &ne, &nb));
	assert_int_equal(nb, UINT64_C(1) << 58);
	static const uint64_t s_edge[1] = { UINT64_MAX / 8 };
	assert_true(ct_tensor_nbytes(CT_U8, 1, s_edge, &ne, &nb));
	assert_int_equal(nb, UINT64_MAX / 8);
	static const uint64_t s_edge1[1] = { UINT64_MAX / 8 + 1 };
	assert_false(ct_tensor_nbytes(CT_U8, 1, s_edge1, &ne, &nb));
}

/* the header's numbers: sb_put_u64 spells them as printf does */
static void test_put_u64(void **state)
{
	(void)state;
	static const uint64_t v[] = { 0, 1, 9, 10, 99, 100, 4096, 1000000007u,
				      UINT64_C(18446744073709551615), UINT64_C(10000000000000000000) };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		strbuf sb;
		sb_init(&sb);
		sb_putc(&sb, '[');
		sb_put_u64(&sb, v[i]);
		sb_putc(&sb, ']');
		char want[32];
		snprintf(want, sizeof(want), "[%" PRIu64 "]", v[i]);
		assert_false(sb.failed);
		assert_string_equal(sb.data, want);
		sb_free(&sb);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_dtypes),
		cmocka_unit_test(test_roundtrip_file),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_header_padding),
		cmocka_unit_test(test_tensor_order),
		cmocka_unit_test(test_write_past_end),
		cmocka_unit_test(test_finish_incomplete),
		cmocka_unit_test(test_builder_rejects),
		cmocka_unit_test(test_sink_failure),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_reader_rejects),
		cmocka_unit_test(test_reader_length_word),
		cmocka_unit_test(test_nbytes),
		cmocka_unit_test(test_put_u64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
