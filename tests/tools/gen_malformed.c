/*
 * gen_malformed - writes a corpus of hostile (and a few valid edge-case)
 * safetensors files for tests/malformed.sh.
 *
 *   gen_malformed OUTDIR
 *
 * Every case is one file, OUTDIR/NAME.safetensors; tests/malformed/expected.txt
 * says, per NAME, which error the reader must give (or OK for the valid_*
 * files). Cases are built from raw bytes, not with the library's writer, so
 * that they can break any rule of FORMAT.md §1.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"

/* ---------------------------------------------------------------- bytes */

typedef struct buf {
	uint8_t *p;
	size_t len, cap;
} buf;

static void die_oom(void)
{
	fprintf(stderr, "gen_malformed: out of memory\n");
	exit(4);
}

static void put(buf *b, const void *s, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		while (n > cap - b->len)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			die_oom();
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_b(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putc_b(buf *b, char c)
{
	put(b, &c, 1);
}

static void put_u64le(buf *b, uint64_t v)
{
	uint8_t le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	put(b, le, 8);
}

static void put_data(buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t v = (uint8_t)(i * 37 + 11);
		put(b, &v, 1);
	}
}

static const char *outdir;
static int n_written;

static void emit(const char *name, const buf *b)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.safetensors", outdir, name);
	FILE *fp = fopen(path, "wb");
	if (!fp) {
		fprintf(stderr, "gen_malformed: %s: %s\n", path, strerror(errno));
		exit(4);
	}
	bool ok = b->len == 0 || fwrite(b->p, 1, b->len, fp) == b->len;
	if (fclose(fp) != 0 || !ok) {
		fprintf(stderr, "gen_malformed: %s: write failed\n", path);
		exit(4);
	}
	n_written++;
}

/* Writes 8-byte N = hlen, the hlen header bytes as given, then ndata bytes. */
static void raw_case(const char *name, const void *hdr, size_t hlen, size_t ndata)
{
	buf b = { 0 };
	put_u64le(&b, hlen);
	put(&b, hdr, hlen);
	put_data(&b, ndata);
	emit(name, &b);
	free(b.p);
}

/* A header given as a C string (no NULs), unpadded. */
static void hcase(const char *name, const char *json, size_t ndata)
{
	raw_case(name, json, strlen(json), ndata);
}

/* A header padded with spaces to a multiple of 8, as writers do. */
static void hcase_pad(const char *name, const char *json, size_t ndata)
{
	buf h = { 0 };
	puts_b(&h, json);
	while (h.len % 8)
		putc_b(&h, ' ');
	raw_case(name, h.p, h.len, ndata);
	free(h.p);
}

/* A file whose first 8 bytes claim header length n, followed by tail. */
static void len_case(const char *name, uint64_t n, const char *tail)
{
	buf b = { 0 };
	put_u64le(&b, n);
	puts_b(&b, tail);
	emit(name, &b);
	free(b.p);
}

/* depth nested arrays: [[[...]]] */
static void put_nest(buf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		putc_b(b, '[');
	for (int i = 0; i < depth; i++)
		putc_b(b, ']');
}

/* {"NAME":{"dtype":DTYPE,"shape":[1],"data_offsets":[0,1]}} with a long name. */
static void long_name_case(const char *name, size_t name_len, const char *dtype)
{
	buf h = { 0 };
	puts_b(&h, "{\"");
	for (size_t i = 0; i < name_len; i++)
		putc_b(&h, (char)('a' + i % 26));
	puts_b(&h, "\":{\"dtype\":\"");
	puts_b(&h, dtype);
	puts_b(&h, "\",\"shape\":[1],\"data_offsets\":[0,1]}}");
	while (h.len % 8)
		putc_b(&h, ' ');
	raw_case(name, h.p, h.len, 1);
	free(h.p);
}

#define T_F32_1 "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"

/* ---------------------------------------------------------------- cases */

static void length_cases(void)
{
	buf b = { 0 };
	emit("empty", &b);
	/* 1..7 bytes: the start of a plausible length word, cut short */
	static const uint8_t prefix[7] = { 0x08, 0, 0, 0, 0, 0, 0 };
	for (size_t n = 1; n <= 7; n++) {
		char name[32];
		snprintf(name, sizeof(name), "short_%zu", n);
		b.len = 0;
		put(&b, prefix, n);
		emit(name, &b);
	}
	free(b.p);

	len_case("hdr_len_over_limit", 100000001, "{}      ");
	len_case("hdr_len_max", UINT64_MAX, "{}      ");
	len_case("hdr_len_2pow63", UINT64_C(1) << 63, "{}      ");
	/* exactly at the limit is allowed, but the bytes are not there */
	len_case("hdr_len_at_limit_past_eof", 100000000, "{}      ");
	len_case("hdr_len_past_eof", 64, "{}      ");
	len_case("hdr_len_zero", 0, "");
	hcase("hdr_one_brace", "{", 0);
}

static void start_cases(void)
{
	hcase("hdr_leading_space", " {}     ", 0);
	hcase("hdr_leading_newline", "\n{}     ", 0);
	hcase("hdr_array", "[]      ", 0);
	hcase("hdr_string", "\"abc\"   ", 0);
	hcase("hdr_number", "12345678", 0);
	hcase("hdr_bom", "\xEF\xBB\xBF{}   ", 0);
}

static void utf8_cases(void)
{
	hcase_pad("utf8_lone_continuation",
		  "{\"__metadata__\":{\"format\":\"p\x80t\"}}", 0);
	hcase_pad("utf8_overlong_2byte",
		  "{\"__metadata__\":{\"format\":\"\xC0\xAF\"}}", 0);
	hcase_pad("utf8_overlong_3byte",
		  "{\"__metadata__\":{\"format\":\"\xE0\x80\xAF\"}}", 0);
	hcase_pad("utf8_surrogate",
		  "{\"__metadata__\":{\"format\":\"\xED\xA0\x80\"}}", 0);
	hcase_pad("utf8_above_max",
		  "{\"__metadata__\":{\"format\":\"\xF4\x90\x80\x80\"}}", 0);
	hcase_pad("utf8_invalid_lead_ff",
		  "{\"__metadata__\":{\"format\":\"\xFF\"}}", 0);
	/* The truncated sequence is the very last byte pair of the header. */
	hcase("utf8_truncated_end", "{\"__metadata__\":{}}\xE2\x82", 0);
	hcase_pad("utf8_in_tensor_name",
		  "{\"w\xC3\":" T_F32_1 "}", 4);
}

static void json_cases(void)
{
	hcase("json_truncated", "{\"a\":" T_F32_1, 4);
	hcase("json_trailing_garbage", "{\"a\":" T_F32_1 "}x", 4);
	hcase("json_two_objects", "{\"a\":" T_F32_1 "}{}", 4);
	static const char nul[] = "{\"a\"\0:" T_F32_1 "}";
	raw_case("json_nul_byte", nul, sizeof(nul) - 1, 4);
	hcase_pad("json_bad_escape", "{\"__metadata__\":{\"format\":\"\\x\"}}", 0);
	hcase_pad("json_single_quotes", "{'__metadata__':{'format':'pt'}}", 0);
	hcase_pad("json_trailing_comma", "{\"__metadata__\":{\"format\":\"pt\",}}", 0);
	hcase_pad("json_unquoted_key", "{__metadata__:{}}", 0);
	hcase_pad("key_escaped_nul", "{\"a\\u0000b\":" T_F32_1 "}", 4);
	hcase_pad("key_escaped_lone_surrogate", "{\"a\\ud800\":" T_F32_1 "}", 4);

	/* 10000 levels of nesting: far beyond any sane parser stack. */
	buf h = { 0 };
	puts_b(&h, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":");
	put_nest(&h, 10000);
	puts_b(&h, "}}");
	raw_case("deep_nest_entry", h.p, h.len, 4);
	h.len = 0;
	puts_b(&h, "{\"__metadata__\":{\"format\":");
	put_nest(&h, 10000);
	puts_b(&h, "}}");
	raw_case("deep_nest_metadata", h.p, h.len, 0);
	free(h.p);
}

static void key_cases(void)
{
	hcase_pad("dup_tensor_same", "{\"a\":" T_F32_1 ",\"a\":" T_F32_1 "}", 4);
	hcase_pad("dup_tensor_diff",
		  "{\"a\":" T_F32_1 ",\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
		  "\"data_offsets\":[4,8]}}", 8);
	hcase_pad("dup_metadata",
		  "{\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{\"format\":\"pt\"}}", 0);
	hcase_pad("dup_metadata_key",
		  "{\"__metadata__\":{\"format\":\"pt\",\"format\":\"np\"}}", 0);
}

static void metadata_cases(void)
{
	hcase_pad("metadata_number", "{\"__metadata__\":5}", 0);
	hcase_pad("metadata_array", "{\"__metadata__\":[\"format\",\"pt\"]}", 0);
	hcase_pad("metadata_string", "{\"__metadata__\":\"pt\"}", 0);
	hcase_pad("metadata_value_number", "{\"__metadata__\":{\"format\":1}}", 0);
	hcase_pad("metadata_value_null", "{\"__metadata__\":{\"format\":null}}", 0);
	hcase_pad("metadata_value_object", "{\"__metadata__\":{\"format\":{}}}", 0);
}

static void entry_cases(void)
{
	hcase_pad("entry_array", "{\"a\":[\"F32\",[1],[0,4]]}", 4);
	hcase_pad("entry_null", "{\"a\":null}", 0);
	hcase_pad("entry_string", "{\"a\":\"F32\"}", 0);
	hcase_pad("missing_dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
	hcase_pad("missing_shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4);
	hcase_pad("missing_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);

	hcase_pad("dtype_unknown_f128",
		  "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16);
	hcase_pad("dtype_lowercase",
		  "{\"a\":{\"dtype\":\"bf16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2);
	hcase_pad("dtype_number",
		  "{\"a\":{\"dtype\":14,\"shape\":[1],\"data_offsets\":[0,2]}}", 2);
	hcase_pad("dtype_empty",
		  "{\"a\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2);
	hcase_pad("dtype_with_nul",
		  "{\"a\":{\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
}

static void shape_cases(void)
{
	hcase_pad("shape_negative",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,0]}}", 0);
	hcase_pad("shape_float",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
	hcase_pad("shape_float_integral",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4);
	hcase_pad("shape_string_elem",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4);
	hcase_pad("shape_not_array",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4);
	/* 2^63 does not fit jansson's json_int_t (int64): a JSON parse error */
	hcase_pad("shape_2pow63",
		  "{\"a\":{\"dtype\":\"U8\",\"shape\":[9223372036854775808],"
		  "\"data_offsets\":[0,1]}}", 1);
	hcase_pad("shape_product_overflow",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
		  "\"data_offsets\":[0,4]}}", 4);
	/* elements fit in 64 bits, elements x 64 bits do not */
	hcase_pad("shape_bits_overflow",
		  "{\"a\":{\"dtype\":\"U64\",\"shape\":[4611686018427387904],"
		  "\"data_offsets\":[0,8]}}", 8);
	hcase_pad("shape_17_dims",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
		  "\"data_offsets\":[0,4]}}", 4);
	hcase_pad("f4_odd_elements",
		  "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2);
	hcase_pad("f6_partial_byte",
		  "{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3);
}

static void offset_cases(void)
{
	hcase_pad("offsets_three",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8);
	hcase_pad("offsets_one",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4);
	hcase_pad("offsets_empty",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[]}}", 4);
	hcase_pad("offsets_negative",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4);
	hcase_pad("offsets_float",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4);
	hcase_pad("offsets_end_before_begin",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
	/* consistent with the shape, but 2^60 bytes are not in the file */
	hcase_pad("offsets_huge_end",
		  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1152921504606846976],"
		  "\"data_offsets\":[0,1152921504606846976]}}", 16);
	/* elements x 8 bits overflow although the byte count would fit */
	hcase_pad("offsets_2pow63_minus_1",
		  "{\"a\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807],"
		  "\"data_offsets\":[0,9223372036854775807]}}", 16);
	hcase_pad("size_mismatch",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,10]}}", 10);
	hcase_pad("size_mismatch_scalar",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 0);
	hcase_pad("size_mismatch_empty",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,4]}}", 4);
}

static void layout_cases(void)
{
	hcase_pad("layout_gap",
		  "{\"a\":" T_F32_1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
		  "\"data_offsets\":[8,12]}}", 12);
	hcase_pad("layout_overlap",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
	hcase_pad("layout_alias",
		  "{\"a\":" T_F32_1 ",\"b\":" T_F32_1 "}", 4);
	hcase_pad("layout_first_not_zero",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
	hcase_pad("layout_trailing_bytes", "{\"a\":" T_F32_1 "}", 6);
	hcase_pad("layout_trailing_bytes_no_tensors", "{\"__metadata__\":{}}", 1);
	hcase_pad("layout_truncated_data",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
	hcase_pad("layout_truncated_mid_tensor",
		  "{\"a\":" T_F32_1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[4],"
		  "\"data_offsets\":[4,20]}}", 10);
}

/* Names are untrusted text that ends up in error messages. */
static void name_cases(void)
{
	hcase_pad("name_ctrl_bad_dtype",
		  "{\"evil\\nname\\u001b[31m\\r\":{\"dtype\":\"F128\",\"shape\":[1],"
		  "\"data_offsets\":[0,16]}}", 16);
	long_name_case("long_name_bad_dtype", 1 << 20, "F128");
}

static void valid_cases(void)
{
	hcase_pad("valid_metadata_only", "{\"__metadata__\":{\"format\":\"pt\"}}", 0);
	hcase_pad("valid_empty_object", "{}", 0);
	hcase_pad("valid_metadata_null", "{\"__metadata__\":null," "\"a\":" T_F32_1 "}", 4);
	hcase_pad("valid_empty_tensor",
		  "{\"__metadata__\":{\"format\":\"pt\"},"
		  "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
		  "\"a\":" T_F32_1 "}", 4);
	hcase_pad("valid_scalar",
		  "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
	/* 21 spaces: more than a writer would add, still plain JSON whitespace */
	hcase("valid_padded", "{\"a\":" T_F32_1 "}                     ", 4);
	hcase_pad("valid_name_controls_unicode",
		  "{\"ctl\\u0001\\t\\n\\u007f.w\":{\"dtype\":\"U8\",\"shape\":[1],"
		  "\"data_offsets\":[0,1]},"
		  "\"caf\xC3\xA9.\xE6\x97\xA5\xE6\x9C\xAC.\xF0\x9F\x98\x80.\\u00e9\":"
		  "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2);
	hcase_pad("valid_extra_member",
		  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
		  "\"extra\":{\"nested\":[1,2,3]}}}", 4);
	long_name_case("valid_long_name", 1 << 20, "U8");

	/* One tensor of every dtype, 8 elements each (whole bytes for F4, F6). */
	buf h = { 0 };
	char ent[256];
	uint64_t off = 0;
	puts_b(&h, "{");
	for (int d = 0; d < CT_DTYPE_COUNT; d++) {
		uint64_t nb = 8 * (uint64_t)ct_dtype_bits((ct_dtype)d) / 8;
		snprintf(ent, sizeof(ent), "%s\"t.%s\":{\"dtype\":\"%s\",\"shape\":[2,4],"
			 "\"data_offsets\":[%llu,%llu]}", d ? "," : "",
			 ct_dtype_name((ct_dtype)d), ct_dtype_name((ct_dtype)d),
			 (unsigned long long)off, (unsigned long long)(off + nb));
		puts_b(&h, ent);
		off += nb;
	}
	puts_b(&h, "}");
	while (h.len % 8)
		putc_b(&h, ' ');
	raw_case("valid_all_dtypes", h.p, h.len, (size_t)off);
	free(h.p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_malformed OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_malformed: %s: %s\n", outdir, strerror(errno));
		return 4;
	}
	length_cases();
	start_cases();
	utf8_cases();
	json_cases();
	key_cases();
	metadata_cases();
	entry_cases();
	shape_cases();
	offset_cases();
	layout_cases();
	name_cases();
	valid_cases();
	printf("%d files written to %s\n", n_written, outdir);
	return 0;
}
