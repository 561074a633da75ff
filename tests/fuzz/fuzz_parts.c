/*
 * fuzz_parts.c - libFuzzer target for the slice records split jobs leave in
 * OUTPUT/.ctensors-parts/ (src/lib/parts.h), which every job and
 * --finalize read back from a directory others share.
 *
 * Input: the record's bytes. A record that parses must satisfy what its
 * readers rely on (1 <= part <= parts <= CT_PARTS_MAX, safe distinct shard
 * names, sizes of at least 8 bytes), and must dump and parse again to the
 * same record (what a job writes, the next job reads). The first bytes also
 * drive ct_parts_assign over weights taken from the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "parts.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_parts: %s:%d: check failed: %s\n",  \
				__FILE__, __LINE__, #cond);                      \
			abort();                                                 \
		}                                                                \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);
	return 0;
}

static void same_record(const ct_part_record *a, const ct_part_record *b)
{
	CHECK(strcmp(a->command, b->command) == 0);
	CHECK(a->fingerprint == b->fingerprint);
	CHECK(a->part == b->part && a->parts == b->parts);
	CHECK(a->n_shards == b->n_shards);
	for (size_t i = 0; i < a->n_shards; i++) {
		CHECK(strcmp(a->shards[i].name, b->shards[i].name) == 0);
		CHECK(a->shards[i].bytes == b->shards[i].bytes);
		CHECK(a->shards[i].header_xxh3 == b->shards[i].header_xxh3);
	}
}

/* Slices from the input's bytes: every shard gets a slice below parts,
 * and the same input gives the same slices. */
static void fuzz_assign(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	size_t parts = (size_t)data[0] % 17 + 1;
	size_t n = (size - 1) / 2 > 64 ? 64 : (size - 1) / 2;
	uint64_t w[64];
	size_t a[64], b[64];
	for (size_t i = 0; i < n; i++)
		w[i] = (uint64_t)data[1 + 2 * i] << 8 | data[2 + 2 * i];
	ct_error err;
	CHECK(ct_parts_assign(w, n, parts, a, &err) == CT_OK);
	CHECK(ct_parts_assign(w, n, parts, b, &err) == CT_OK);
	for (size_t i = 0; i < n; i++)
		CHECK(a[i] < parts && a[i] == b[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_assign(data, size);
	ct_part_record r;
	ct_error err;
	if (ct_part_record_parse((const char *)data, size, "record", &r, &err) != CT_OK) {
		CHECK(r.shards == NULL && r.command == NULL);
		return 0;
	}
	CHECK(r.part >= 1 && r.part <= r.parts && r.parts <= CT_PARTS_MAX);
	for (size_t i = 0; i < r.n_shards; i++) {
		CHECK(ct_part_name_safe(r.shards[i].name));
		CHECK(r.shards[i].bytes >= 8);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(r.shards[i].name, r.shards[j].name) != 0);
	}
	char *text = ct_part_record_dump(&r);
	if (text) {
		ct_part_record back;
		CHECK(ct_part_record_parse(text, strlen(text), "dumped", &back, &err) == CT_OK);
		same_record(&r, &back);
		ct_part_record_free(&back);
		free(text);
	}
	ct_part_record_free(&r);
	return 0;
}
