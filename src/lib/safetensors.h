/*
 * safetensors.h - reading and writing the safetensors container.
 *
 * File layout (FORMAT.md §1):
 *   1. 8 bytes: N, the header length, unsigned little-endian;
 *   2. N bytes: a UTF-8 JSON object, padded with spaces to a multiple of 8,
 *      mapping tensor names to {dtype, shape, data_offsets} plus an optional
 *      "__metadata__" string->string map;
 *   3. the data buffer: every tensor's bytes, back to back, tiling the buffer
 *      exactly; data_offsets are relative to its start.
 *
 * The reader maps the file and validates every rule before handing out any
 * view: nothing read from the file is trusted until checked against the bytes
 * that are really there. The writer lays tensors out as the reference writer
 * does (dtype rank descending, then name bytewise) and writes through a ct_sink
 * so that the caller owns the file and tests can inject faults.
 */
#ifndef CT_SAFETENSORS_H
#define CT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ct_error.h"
#include "dtype.h"

#define CT_ST_HEADER_MAX 100000000ULL /* the reference reader's cap */
#define CT_MAX_DIMS 16                 /* more dimensions than any model uses */

/* ------------------------------------------------------------------ reader */

typedef struct ct_tensor {
	const char *name;              /* NUL-terminated, valid UTF-8, owned by the file */
	size_t name_len;
	ct_dtype dtype;
	int ndim;
	uint64_t shape[CT_MAX_DIMS];
	uint64_t nelem;                /* product of shape (1 for a scalar) */
	uint64_t begin, end;           /* data_offsets, validated */
	const uint8_t *data;           /* points into the mapping; end-begin bytes */
} ct_tensor;

typedef struct ct_st_file {
	char *path;                    /* as given to ct_st_open, for messages */
	const uint8_t *map;            /* whole file, read-only */
	size_t map_size;
	bool mapped;                   /* map came from mmap (else borrowed buffer) */
	uint64_t header_len;           /* N */
	uint64_t data_size;            /* bytes of the data buffer */
	size_t n_tensors;
	ct_tensor *tensors;            /* in file (data offset) order */
	size_t *by_name;               /* indices into tensors, sorted by name */
	json_t *metadata;              /* __metadata__ object of strings, or NULL */
	char *names;                   /* the tensors' names, unescaped (owns them) */
	struct ct_st_sweep *sweep;     /* small releases not yet given back (mapped only) */
} ct_st_file;

/* Maps and validates the safetensors file at path. On success *out owns the
 * mapping; release with ct_st_close. Errors name the file, the tensor and the
 * rule broken (CT_EINPUT), or the system call that failed (CT_EIO). */
int ct_st_open(const char *path, ct_st_file **out, ct_error *err);

/* Opens an input for reading: a regular file only. A FIFO, device, socket
 * or directory is refused (CT_EINPUT) at once, never waited on. *size is
 * the file's size at open. */
int ct_open_regular(const char *path, int *fd, uint64_t *size, ct_error *err);

/* Validates buf[0..len) as a safetensors file without copying it; label names
 * it in messages. buf must outlive the result. For tests and fuzzing. */
int ct_st_parse(const char *label, const uint8_t *buf, size_t len,
		ct_st_file **out, ct_error *err);

void ct_st_close(ct_st_file *f);

/* The tensor called name, or NULL. O(log n). */
const ct_tensor *ct_st_find(const ct_st_file *f, const char *name);

/* Tells the kernel that [p, p+len) of f's mapping has been consumed: its
 * pages leave the process's resident set (they stay in the page cache), so
 * memory does not grow with the model. A range of 1 MB or more is dropped
 * at once; smaller ones are counted, and every CT_ST_SWEEP_BYTES of them
 * the whole mapping is dropped in one call, because one madvise per small
 * tensor (a TLB flush each, on every thread's CPU) costs more than the
 * tensor. Pages still in use by another thread are then faulted in again
 * from the page cache. A no-op for buffers ct_st_parse was given, and for
 * f NULL. Thread-safe. */
#define CT_ST_SWEEP_BYTES (32u << 20)

/* Tells the kernel that [p, p+len) of f's mapping is about to be read: its
 * pages are mapped in one call (MADV_POPULATE_READ) instead of one page
 * fault per 64 kB, which on a VM costs more than reading the bytes. Callers
 * prefetch a block at a time and release it after, so memory stays bounded.
 * A hint: a kernel without it, or a failure, changes nothing. Thread-safe. */
void ct_st_prefetch(const ct_st_file *f, const void *p, uint64_t len);
void ct_st_release(const ct_st_file *f, const void *p, uint64_t len);

/* Value of __metadata__[key], or NULL. */
const char *ct_st_meta(const ct_st_file *f, const char *key);

/* Bytes a tensor of this dtype and shape occupies, with overflow checks.
 * Returns false when the product overflows or sub-byte elements do not fill
 * whole bytes. */
bool ct_tensor_nbytes(ct_dtype dt, int ndim, const uint64_t *shape,
		      uint64_t *nelem, uint64_t *nbytes);

/* ------------------------------------------------------------------ writer */

/* Where written bytes go. pwrite must write all len bytes at offset or fail
 * with a message; it may be called from several threads at once for
 * disjoint ranges. */
typedef struct ct_sink {
	int (*pwrite)(void *ctx, const void *buf, size_t len, uint64_t offset,
		      ct_error *err);
	void *ctx;
} ct_sink;

typedef struct ct_st_builder ct_st_builder;

ct_st_builder *ct_st_builder_new(void);
void ct_st_builder_free(ct_st_builder *b);

/* Declares a tensor. Returns its id (>= 0) or a negative CT_E* code. Names
 * must be unique. */
int ct_st_builder_add(ct_st_builder *b, const char *name, ct_dtype dt, int ndim,
		      const uint64_t *shape, ct_error *err);

/* Sets __metadata__[key] = value (copied). Keys are written sorted. */
int ct_st_builder_meta(ct_st_builder *b, const char *key, const char *value,
		       ct_error *err);

/* Fixes the layout. With checksums, __metadata__ gains "ctensors.xxh3",
 * filled in by ct_st_finish from the bytes actually written. No tensor or
 * metadata may be added afterwards. */
int ct_st_builder_layout(ct_st_builder *b, bool checksums, ct_error *err);

uint64_t ct_st_builder_file_size(const ct_st_builder *b);
/* XXH3 of the header as laid out, checksums still placeholders: what the
 * file will hold whatever the tensors' bytes (names, dtypes, shapes,
 * offsets, metadata). */
int ct_st_builder_layout_hash(const ct_st_builder *b, uint64_t *out, ct_error *err);
uint64_t ct_st_builder_data_size(const ct_st_builder *b);
size_t ct_st_builder_count(const ct_st_builder *b);
uint64_t ct_st_builder_tensor_size(const ct_st_builder *b, int id);

/* Appends len bytes to tensor id. Calls for one tensor must come in order
 * (one thread at a time per tensor); different tensors may be written from
 * different threads. */
int ct_st_write(ct_st_builder *b, const ct_sink *sink, int id, const void *buf,
		size_t len, ct_error *err);

/* Checks that every tensor is complete, then writes the 8-byte length and the
 * header (with checksums). */
int ct_st_finish(ct_st_builder *b, const ct_sink *sink, ct_error *err);

#endif
