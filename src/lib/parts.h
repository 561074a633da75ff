/*
 * parts.h - one output checkpoint written by N independent jobs (--part K/N).
 *
 * Every job plans the whole checkpoint and writes only slice K of its output
 * shards; slices are chosen from the plan alone, so all jobs agree without
 * talking to each other. A finished slice leaves a record in
 * OUTPUT/.ctensors-parts/part-K-of-N.json:
 *
 *   1. "ctensors_parts": 1 (the record's own version);
 *   2. "command": the writing command ("quantize", ...);
 *   3. "fingerprint": 16 hex digits, the XXH3 of the whole plan (every
 *      output shard's name and header layout, the command, the options
 *      that change bytes but not the layout);
 *   4. "part", "parts": K and N, 1 <= K <= N <= CT_PARTS_MAX;
 *   5. "shards": the shards of slice K in plan order, each
 *      {"name", "bytes" (file size), "header_xxh3" (16 hex digits: the
 *      XXH3 of the 8-byte length and the header, which holds the XXH3 of
 *      every tensor)}.
 *
 * Records are read back from disk that others share: everything in them is
 * checked (types, ranges, names that stay inside the directory, no unknown
 * or repeated keys) before it is trusted.
 */
#ifndef CT_PARTS_H
#define CT_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_error.h"
#include "plan.h"

#define CT_PARTS_DIR ".ctensors-parts"   /* staging directory inside OUTPUT */
#define CT_PARTS_MAX 100000               /* slices of one output */
#define CT_PARTS_RECORD_MAX (64u << 20)   /* bytes of one record */
#define CT_PARTS_NAME_MAX 255             /* bytes of a shard name */

/* Assigns each of n shards (weights[i] bytes each) to one of parts slices
 * (slice[i] in 0..parts-1) so that the byte totals are balanced: largest
 * shard first, each to the least loaded slice (LPT), ties broken by shard
 * index and then by the lower slice, so every job computes the same. A
 * slice may be left empty (more slices than shards). */
int ct_parts_assign(const uint64_t *weights, size_t n, size_t parts, size_t *slice,
		    ct_error *err);

typedef struct ct_part_shard {
	char *name;              /* base name, checked safe */
	uint64_t bytes;          /* file size */
	uint64_t header_xxh3;    /* of the length prefix and the header */
} ct_part_shard;

typedef struct ct_part_record {
	char *command;
	uint64_t fingerprint;
	size_t part, parts;      /* K (1-based) and N */
	ct_part_shard *shards;
	size_t n_shards;
} ct_part_record;

/* The record as JSON text (malloc'd, sorted keys, newline), or NULL when
 * out of memory. */
char *ct_part_record_dump(const ct_part_record *r);

/* Parses and validates a record read from a file (label names it in
 * messages). CT_EINPUT for anything malformed; *out is then empty. */
int ct_part_record_parse(const char *text, size_t len, const char *label, ct_part_record *out,
			 ct_error *err);

void ct_part_record_free(ct_part_record *r);

/* The record's file name, "part-K-of-N.json"; false if it does not fit. */
bool ct_part_record_name(size_t k, size_t n, char *buf, size_t size);

/* True for a shard name a record may hold: a plain base name, no '/', not
 * hidden, at most CT_PARTS_NAME_MAX bytes, ending in ".safetensors". */
bool ct_part_name_safe(const char *name);

/* The fingerprint of a laid-out plan (see above); tag holds the options
 * that change bytes but not the layout (may be NULL). */
int ct_parts_fingerprint(const ct_plan *p, const char *command, const char *tag,
			 uint64_t *out, ct_error *err);

/* XXH3 of the 8-byte length and the header of the safetensors file at
 * path, whose size must be bytes (a file of another size is damaged). */
int ct_parts_header_hash(const char *path, uint64_t bytes, uint64_t *out, ct_error *err);

/* How far the split output in dir has come: *partial when dir holds a
 * staging directory; then *done is the number of distinct slices recorded
 * with the N of the first record (in name order) and *total that N (0
 * when no slice is recorded). Unreadable or malformed records count as
 * missing. */
int ct_parts_status(const char *dir, bool *partial, size_t *done, size_t *total,
		    ct_error *err);

#endif
