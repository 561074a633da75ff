/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 *
 * Input: a whole safetensors file. ct_st_parse validates it in place; when it
 * accepts, every view it hands out must lie inside the buffer (each tensor's
 * bytes are read, so ASan sees any overrun), lookups must find every tensor,
 * and the writer must reproduce the same tensors: the file is rebuilt
 * through ct_st_builder into memory, the way the CLI copies tensors and
 * metadata, and the result must parse back with equal names, dtypes, shapes
 * and bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ct_error.h"
#include "safetensors.h"

/* Rebuild only files whose data fits here (keeps each run fast). */
#define REBUILD_MAX_DATA (1u << 20)

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_safetensors: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1); /* same hash layout every run: reproducible crashes */
	return 0;
}

typedef struct membuf {
	uint8_t *p;
	size_t size;
} membuf;

static int mem_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	membuf *m = ctx;
	(void)err;
	CHECK(off <= m->size && len <= m->size - off,
	      "writer wrote [%llu, +%zu) into a file of %zu bytes", (unsigned long long)off,
	      len, m->size);
	memcpy(m->p + off, buf, len);
	return CT_OK;
}

static void rebuild(const ct_st_file *f, bool checksums)
{
	ct_error err;
	ct_error_clear(&err);
	ct_st_builder *b = ct_st_builder_new();
	CHECK(b, "out of memory");
	int *ids = calloc(f->n_tensors ? f->n_tensors : 1, sizeof(int));
	CHECK(ids, "out of memory");
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		ids[i] = ct_st_builder_add(b, t->name, t->dtype, t->ndim, t->shape, &err);
		CHECK(ids[i] >= 0, "builder refused tensor %s the reader accepted: %s", t->name,
		      err.msg);
	}
	/* As the CLI's layout does: the input's metadata minus the entries the
	 * writer owns. */
	int rc = ct_st_builder_meta(b, "format", "pt", &err);
	CHECK(rc == CT_OK, "%s", err.msg);
	if (f->metadata) {
		const char *k;
		json_t *v;
		json_object_foreach(f->metadata, k, v) {
			if (strcmp(k, "format") == 0 || strcmp(k, "quantization_config") == 0 ||
			    strncmp(k, "ctensors.", 9) == 0)
				continue;
			rc = ct_st_builder_meta(b, k, json_string_value(v), &err);
			CHECK(rc == CT_OK, "%s", err.msg);
		}
	}
	rc = ct_st_builder_layout(b, checksums, &err);
	CHECK(rc == CT_OK, "layout of a valid file failed: %s", err.msg);
	CHECK(ct_st_builder_data_size(b) == f->data_size, "data size %llu, reader said %llu",
	      (unsigned long long)ct_st_builder_data_size(b),
	      (unsigned long long)f->data_size);
	uint64_t fsize = ct_st_builder_file_size(b);
	membuf m = { malloc(fsize ? (size_t)fsize : 1), (size_t)fsize };
	CHECK(m.p, "out of memory");
	memset(m.p, 0xA5, m.size);
	ct_sink sink = { mem_pwrite, &m };
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		size_t n = (size_t)(t->end - t->begin);
		size_t half = n / 2;
		rc = ct_st_write(b, &sink, ids[i], t->data, half, &err);
		if (!rc)
			rc = ct_st_write(b, &sink, ids[i], t->data + half, n - half, &err);
		CHECK(rc == CT_OK, "%s", err.msg);
	}
	rc = ct_st_finish(b, &sink, &err);
	CHECK(rc == CT_OK, "finish failed: %s", err.msg);

	ct_st_file *g = NULL;
	rc = ct_st_parse("rebuilt", m.p, m.size, &g, &err);
	CHECK(rc == CT_OK, "the writer's output does not parse: %s", err.msg);
	CHECK(g->n_tensors == f->n_tensors, "%zu tensors, expected %zu", g->n_tensors,
	      f->n_tensors);
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		const ct_tensor *u = ct_st_find(g, t->name);
		CHECK(u, "tensor %s lost", t->name);
		CHECK(u->dtype == t->dtype && u->ndim == t->ndim &&
		      memcmp(u->shape, t->shape, (size_t)t->ndim * sizeof(uint64_t)) == 0,
		      "tensor %s changed dtype or shape", t->name);
		CHECK(u->end - u->begin == t->end - t->begin &&
		      memcmp(u->data, t->data, (size_t)(t->end - t->begin)) == 0,
		      "tensor %s changed bytes", t->name);
	}
	if (f->metadata) {
		const char *k;
		json_t *v;
		json_object_foreach(f->metadata, k, v) {
			if (strcmp(k, "format") == 0 || strcmp(k, "quantization_config") == 0 ||
			    strncmp(k, "ctensors.", 9) == 0)
				continue;
			const char *w = ct_st_meta(g, k);
			CHECK(w && strcmp(w, json_string_value(v)) == 0,
			      "metadata %s lost or changed", k);
		}
	}
	CHECK(!checksums || ct_st_meta(g, "ctensors.xxh3"), "checksums missing");
	ct_st_close(g);
	free(m.p);
	free(ids);
	ct_st_builder_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ct_st_file *f = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_st_parse("fuzz.safetensors", data, size, &f, &err);
	if (rc != CT_OK) {
		CHECK(f == NULL, "output set on failure");
		CHECK(rc == CT_EINPUT || rc == CT_EIO, "unexpected code %d", rc);
		CHECK(err.code == rc && err.msg[0], "failure without a message");
		return 0;
	}
	CHECK(f->header_len + 8 + f->data_size == size, "sizes do not add up");
	const uint8_t *base = data + 8 + f->header_len;
	uint64_t running = 0;
	volatile uint8_t sink = 0;
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		CHECK(t->begin == running && t->end >= t->begin && t->end <= f->data_size,
		      "tensor %s at [%llu, %llu) does not tile the data", t->name,
		      (unsigned long long)t->begin, (unsigned long long)t->end);
		CHECK(t->data == base + t->begin, "tensor %s data pointer", t->name);
		CHECK(t->ndim >= 0 && t->ndim <= CT_MAX_DIMS, "ndim %d", t->ndim);
		uint64_t nelem, nbytes;
		CHECK(ct_tensor_nbytes(t->dtype, t->ndim, t->shape, &nelem, &nbytes) &&
		      nelem == t->nelem && nbytes == t->end - t->begin,
		      "tensor %s size", t->name);
		CHECK(strlen(t->name) == t->name_len, "name length");
		/* Touch every byte the view claims. */
		for (uint64_t k = 0; k < t->end - t->begin; k++)
			sink ^= t->data[k];
		running = t->end;
		const ct_tensor *found = ct_st_find(f, t->name);
		CHECK(found == t, "ct_st_find(%s) missed", t->name);
	}
	CHECK(running == f->data_size, "tensors cover %llu of %llu bytes",
	      (unsigned long long)running, (unsigned long long)f->data_size);
	CHECK(ct_st_find(f, "") == NULL || f->n_tensors > 0, "found a tensor in nothing");
	(void)ct_st_meta(f, "format");
	(void)ct_st_meta(f, "ctensors.xxh3");
	if (f->data_size <= REBUILD_MAX_DATA && size > 8)
		rebuild(f, (data[size - 1] & 1) != 0);
	ct_st_close(f);
	(void)sink;
	return 0;
}
