#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "parts.h"

/* ---- slices ---- */

static uint64_t max_load(const uint64_t *w, size_t n, const size_t *slice, size_t parts)
{
	uint64_t load[64] = { 0 }, m = 0;
	for (size_t i = 0; i < n; i++)
		load[slice[i]] += w[i];
	for (size_t k = 0; k < parts; k++)
		m = load[k] > m ? load[k] : m;
	return m;
}

static void assign_balances_by_bytes(void **state)
{
	(void)state;
	/* LPT: 7 -> s0, 5 -> s1, 4 -> s2, 3 -> s2 (4 < 5, 7), 3 -> s1 (5 < 7),
	 * 2 -> s0 (7 = 7: the lower slice) */
	const uint64_t w[] = { 3, 7, 2, 5, 4, 3 };
	size_t slice[6];
	ct_error err;
	assert_int_equal(ct_parts_assign(w, 6, 3, slice, &err), CT_OK);
	const size_t want[] = { 2, 0, 0, 1, 2, 1 };
	assert_memory_equal(slice, want, sizeof(want));
	assert_int_equal(max_load(w, 6, slice, 3), 9);
}

static void assign_ties_are_deterministic(void **state)
{
	(void)state;
	/* equal shards: dealt in index order to the least loaded, lowest slice first */
	const uint64_t w[] = { 10, 10, 10, 10, 10 };
	size_t a[5], b[5];
	ct_error err;
	assert_int_equal(ct_parts_assign(w, 5, 2, a, &err), CT_OK);
	assert_int_equal(ct_parts_assign(w, 5, 2, b, &err), CT_OK);
	assert_memory_equal(a, b, sizeof(a));
	const size_t want[] = { 0, 1, 0, 1, 0 };
	assert_memory_equal(a, want, sizeof(want));
}

static void assign_more_slices_than_shards(void **state)
{
	(void)state;
	const uint64_t w[] = { 5, 9 };
	size_t slice[2];
	ct_error err;
	assert_int_equal(ct_parts_assign(w, 2, 4, slice, &err), CT_OK);
	assert_int_equal(slice[1], 0);   /* the largest first */
	assert_int_equal(slice[0], 1);
	assert_int_equal(ct_parts_assign(w, 2, 1, slice, &err), CT_OK);
	assert_int_equal(slice[0], 0);
	assert_int_equal(slice[1], 0);
	assert_int_equal(ct_parts_assign(w, 0, 3, slice, &err), CT_OK);
}

static void assign_refuses_bad_counts(void **state)
{
	(void)state;
	const uint64_t w[] = { 1 };
	size_t slice[1];
	ct_error err;
	assert_int_equal(ct_parts_assign(w, 1, 0, slice, &err), CT_EUSAGE);
	assert_int_equal(ct_parts_assign(w, 1, CT_PARTS_MAX + 1, slice, &err), CT_EUSAGE);
}

static void assign_saturates_huge_weights(void **state)
{
	(void)state;
	const uint64_t w[] = { UINT64_MAX, UINT64_MAX, 1 };
	size_t slice[3];
	ct_error err;
	assert_int_equal(ct_parts_assign(w, 3, 2, slice, &err), CT_OK);
	assert_int_not_equal(slice[0], slice[1]);
}

/* ---- records ---- */

static void record_round_trip(void **state)
{
	(void)state;
	ct_part_shard sh[2] = { { "model-00001-of-00002.safetensors", 1234, 0x0123456789abcdefull },
				{ "model-00002-of-00002.safetensors", 8, 0xfedcba9876543210ull } };
	ct_part_record r = { "quantize", 0xdeadbeef00112233ull, 2, 3, sh, 2 };
	char *text = ct_part_record_dump(&r);
	assert_non_null(text);
	ct_part_record back;
	ct_error err;
	assert_int_equal(ct_part_record_parse(text, strlen(text), "rec", &back, &err), CT_OK);
	assert_string_equal(back.command, "quantize");
	assert_true(back.fingerprint == 0xdeadbeef00112233ull);
	assert_int_equal(back.part, 2);
	assert_int_equal(back.parts, 3);
	assert_int_equal(back.n_shards, 2);
	assert_string_equal(back.shards[1].name, "model-00002-of-00002.safetensors");
	assert_true(back.shards[0].bytes == 1234);
	assert_true(back.shards[1].header_xxh3 == 0xfedcba9876543210ull);
	ct_part_record_free(&back);
	free(text);

	ct_part_record empty = { "decompress", 1, 3, 3, NULL, 0 };
	text = ct_part_record_dump(&empty);
	assert_non_null(text);
	assert_int_equal(ct_part_record_parse(text, strlen(text), "rec", &back, &err), CT_OK);
	assert_int_equal(back.n_shards, 0);
	ct_part_record_free(&back);
	free(text);
}

#define GOOD_SHARD "{\"name\":\"a.safetensors\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdef\"}"

static void refused(const char *text, const char *why)
{
	ct_part_record r;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_part_record_parse(text, strlen(text), "rec", &r, &err);
	if (rc != CT_EINPUT)
		fail_msg("accepted (%d): %s", rc, text);
	if (!strstr(err.msg, why))
		fail_msg("message '%s' lacks '%s'", err.msg, why);
	assert_null(r.shards);
	assert_null(r.command);
}

static void record_hostile_input(void **state)
{
	(void)state;
	refused("", "not a slice record");
	refused("[1]", "not a slice record");
	refused("{\"ctensors_parts\":1}", "expected exactly the keys");
	refused("{\"ctensors_parts\":2,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":1,\"shards\":[]}", "ctensors_parts");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":1,\"shards\":[],\"extra\":0}", "expected exactly the keys");
	refused("{\"ctensors_parts\":1,\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":"
		"\"0123456789abcdef\",\"part\":1,\"parts\":1,\"shards\":[]}", "not a slice record");
	refused("{\"ctensors_parts\":1,\"command\":\"Quantize!\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":1,\"shards\":[]}", "command");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789ABCDEF\","
		"\"part\":1,\"parts\":1,\"shards\":[]}", "fingerprint");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123\","
		"\"part\":1,\"parts\":1,\"shards\":[]}", "fingerprint");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":4,\"parts\":3,\"shards\":[]}", "part: expected an integer from 1 to 3");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":0,\"parts\":3,\"shards\":[]}", "part:");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":0,\"shards\":[]}", "parts:");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":1e3,\"shards\":[]}", "parts:");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":100001,\"shards\":[]}", "parts:");
	refused("{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":\"0123456789abcdef\","
		"\"part\":1,\"parts\":1,\"shards\":{}}", "shards: expected an array");
	const char *head = "{\"ctensors_parts\":1,\"command\":\"quantize\",\"fingerprint\":"
			   "\"0123456789abcdef\",\"part\":1,\"parts\":1,\"shards\":[";
	static const struct { const char *shard, *why; } bad[] = {
		{ "{\"name\":\"../a.safetensors\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdef\"}",
		  "name" },
		{ "{\"name\":\".a.safetensors\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdef\"}",
		  "name" },
		{ "{\"name\":\"a.bin\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdef\"}", "name" },
		{ "{\"name\":\"a\\nb.safetensors\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdef\"}",
		  "name" },
		{ "{\"name\":\"a\\u0000.safetensors\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdef\"}",
		  "not a slice record" },
		{ "{\"name\":\"a.safetensors\",\"bytes\":-1,\"header_xxh3\":\"0123456789abcdef\"}",
		  "bytes" },
		{ "{\"name\":\"a.safetensors\",\"bytes\":7,\"header_xxh3\":\"0123456789abcdef\"}",
		  "bytes" },
		{ "{\"name\":\"a.safetensors\",\"bytes\":\"100\",\"header_xxh3\":\"0123456789abcdef\"}",
		  "bytes" },
		{ "{\"name\":\"a.safetensors\",\"bytes\":100,\"header_xxh3\":\"0123456789abcdeg\"}",
		  "header_xxh3" },
		{ "{\"name\":\"a.safetensors\",\"bytes\":100}", "expected exactly name" },
		{ "7", "expected exactly name" },
		{ GOOD_SHARD "," GOOD_SHARD, "listed twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), "%s%s]}", head, bad[i].shard);
		refused(text, bad[i].why);
	}
	/* and the good shard passes with the same head */
	char text[1024];
	snprintf(text, sizeof(text), "%s%s]}", head, GOOD_SHARD);
	ct_part_record r;
	ct_error err;
	assert_int_equal(ct_part_record_parse(text, strlen(text), "rec", &r, &err), CT_OK);
	ct_part_record_free(&r);
}

static void names(void **state)
{
	(void)state;
	char buf[64];
	assert_true(ct_part_record_name(2, 16, buf, sizeof(buf)));
	assert_string_equal(buf, "part-2-of-16.json");
	assert_false(ct_part_record_name(2, 16, buf, 8));
	assert_true(ct_part_name_safe("model-00001-of-00002.safetensors"));
	assert_false(ct_part_name_safe(".safetensors"));
	assert_false(ct_part_name_safe("x/y.safetensors"));
	assert_false(ct_part_name_safe(".hidden.safetensors"));
	assert_false(ct_part_name_safe("model.safetensors.index.json"));
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	memcpy(longname + 300 - 13, ".safetensors", 13);
	assert_false(ct_part_name_safe(longname));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(assign_balances_by_bytes),
		cmocka_unit_test(assign_ties_are_deterministic),
		cmocka_unit_test(assign_more_slices_than_shards),
		cmocka_unit_test(assign_refuses_bad_counts),
		cmocka_unit_test(assign_saturates_huge_weights),
		cmocka_unit_test(record_round_trip),
		cmocka_unit_test(record_hostile_input),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
