/*
 * Unit tests for pyjson: every expected string below was produced by running
 * CPython 3.11's json.dumps on the same data (indent=2, sort_keys=True for
 * pretty; separators=(",", ":"), sort_keys=True for compact) and pasted
 * verbatim, so a byte of difference from Python fails the test.
 */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pyjson.h"

static json_t *load(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!v)
		fail_msg("fixture does not parse: %s (line %d)", err.text, err.line);
	return v;
}

/* Dumps v both ways and compares with Python's output; consumes v. */
static void check_both(json_t *v, const char *pretty, const char *compact)
{
	char *p = ct_pyjson_dumps(v, true);
	char *c = ct_pyjson_dumps(v, false);
	assert_non_null(p);
	assert_non_null(c);
	assert_string_equal(p, pretty);
	assert_string_equal(c, compact);
	free(p);
	free(c);
	json_decref(v);
}

/* ---- repr(float) ---- */

struct float_case {
	double d;
	const char *repr;
};

/* Right-hand sides are Python's json.dumps(float) of the left-hand side.
 * 0x1p-24, 0x1p-44, 0x1p-1017 and 0x1p+89 are powers of two where the
 * correctly rounded 16-digit string does not read back but its neighbour on
 * the wider side of the rounding interval does: a plain "increase precision
 * until it round-trips" loop prints 17 digits there, Python 16. */
static const struct float_case float_cases[] = {
	{ 0.1, "0.1" },
	{ 0.4895, "0.4895" },
	{ 1e-05, "1e-05" },
	{ 1.5e-07, "1.5e-07" },
	{ 1e16, "1e+16" },
	{ 1e+16, "1e+16" },
	{ 1e15, "1000000000000000.0" },
	{ 123456789.0, "123456789.0" },
	{ 5e-324, "5e-324" },
	{ 1.7976931348623157e+308, "1.7976931348623157e+308" },
	{ -0.0, "-0.0" },
	{ 0.0, "0.0" },
	{ 2.0, "2.0" },
	{ 1e22, "1e+22" },
	{ 0.0001, "0.0001" },
	{ 0.00001, "1e-05" },
	{ 0.001, "0.001" },
	{ 0.02, "0.02" },
	{ 10000.0, "10000.0" },
	{ 1.5, "1.5" },
	{ -1.5, "-1.5" },
	{ 1.0 / 3.0, "0.3333333333333333" },
	{ 0x1p-24, "5.960464477539063e-08" },
	{ 0x1p-44, "5.684341886080802e-14" },
	{ 0x1p-1017, "7.120236347223045e-307" },
	{ 0x1p+89, "6.189700196426902e+26" },
	{ 0x1p-14, "6.103515625e-05" },
	{ 65504.0, "65504.0" },
	{ 3.4028234663852886e+38, "3.4028234663852886e+38" },
	{ 9.999999999999999e-05, "9.999999999999999e-05" },
	{ 1234567890123456.7, "1234567890123456.8" },
	{ 12345678901234567.0, "1.2345678901234568e+16" },
	{ 0.1 + 0.2, "0.30000000000000004" },
	{ 100.0, "100.0" },
	{ -2.5e-10, "-2.5e-10" },
	{ 4.9406564584124654e-324, "5e-324" },
	{ 2.2250738585072014e-308, "2.2250738585072014e-308" },
	{ 123.456, "123.456" },
	{ 1e100, "1e+100" },
	{ -1e-100, "-1e-100" },
};

static void test_float_repr_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(float_cases) / sizeof(float_cases[0]); i++) {
		char buf[32];
		memset(buf, 'X', sizeof(buf));
		char *r = ct_pyjson_float_repr(float_cases[i].d, buf, sizeof(buf));
		assert_ptr_equal(r, buf);
		if (strcmp(buf, float_cases[i].repr) != 0)
			fail_msg("case %zu: got %s, want %s", i, buf, float_cases[i].repr);
	}
}

static void test_float_repr_nonfinite(void **state)
{
	(void)state;
	char buf[32];
	assert_string_equal(ct_pyjson_float_repr(NAN, buf, sizeof(buf)), "NaN");
	assert_string_equal(ct_pyjson_float_repr(INFINITY, buf, sizeof(buf)), "Infinity");
	assert_string_equal(ct_pyjson_float_repr(-INFINITY, buf, sizeof(buf)), "-Infinity");
}

static void test_float_repr_small_buffer(void **state)
{
	(void)state;
	char buf[32];
	/* "-1.7976931348623157e+308" is 24 characters: 25 bytes fit, 24 do not. */
	assert_non_null(ct_pyjson_float_repr(-1.7976931348623157e+308, buf, 25));
	assert_string_equal(buf, "-1.7976931348623157e+308");
	memset(buf, 'X', sizeof(buf));
	assert_null(ct_pyjson_float_repr(-1.7976931348623157e+308, buf, 24));
	assert_int_equal(buf[0], '\0');
	assert_null(ct_pyjson_float_repr(1.0, buf, 0));
}

/* A locale with a decimal comma must not leak into the output or parsing. */
static void test_float_repr_locale_independent(void **state)
{
	(void)state;
	char buf[32];
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
		skip();
	char *r = ct_pyjson_float_repr(0.4895, buf, sizeof(buf));
	setlocale(LC_NUMERIC, "C");
	assert_non_null(r);
	assert_string_equal(buf, "0.4895");
}

/* ---- documents ---- */

static void test_floats_document(void **state)
{
	(void)state;
	check_both(load(
		"[0.1, 0.4895, 1e-05, 1.5e-07, 1e+16, 1000000000000000.0, 123456789.0, 5e"
		"-324, 1.7976931348623157e+308, -0.0, 0.0, 2.0, 1e+22, 0.0001, 1e-05, -1."
		"5, 0.3333333333333333, 5.960464477539063e-08, 6.103515625e-05, 65504.0, "
		"3.4028234663852886e+38, 9.999999999999999e-05, 1234567890123456.8, 1.234"
		"5678901234568e+16, 0.30000000000000004, 100.0, -2.5e-10, 0.02, 10000.0]"),
		"[\n"
		"  0.1,\n"
		"  0.4895,\n"
		"  1e-05,\n"
		"  1.5e-07,\n"
		"  1e+16,\n"
		"  1000000000000000.0,\n"
		"  123456789.0,\n"
		"  5e-324,\n"
		"  1.7976931348623157e+308,\n"
		"  -0.0,\n"
		"  0.0,\n"
		"  2.0,\n"
		"  1e+22,\n"
		"  0.0001,\n"
		"  1e-05,\n"
		"  -1.5,\n"
		"  0.3333333333333333,\n"
		"  5.960464477539063e-08,\n"
		"  6.103515625e-05,\n"
		"  65504.0,\n"
		"  3.4028234663852886e+38,\n"
		"  9.999999999999999e-05,\n"
		"  1234567890123456.8,\n"
		"  1.2345678901234568e+16,\n"
		"  0.30000000000000004,\n"
		"  100.0,\n"
		"  -2.5e-10,\n"
		"  0.02,\n"
		"  10000.0\n"
		"]",
		"[0.1,0.4895,1e-05,1.5e-07,1e+16,1000000000000000.0,123456789.0,5e-324,1."
		"7976931348623157e+308,-0.0,0.0,2.0,1e+22,0.0001,1e-05,-1.5,0.33333333333"
		"33333,5.960464477539063e-08,6.103515625e-05,65504.0,3.4028234663852886e+"
		"38,9.999999999999999e-05,1234567890123456.8,1.2345678901234568e+16,0.300"
		"00000000000004,100.0,-2.5e-10,0.02,10000.0]");
}

static void test_nested(void **state)
{
	(void)state;
	check_both(load(
		"{\"z\": {\"b\": [1, {\"y\": [], \"x\": {}}, [[]], \"s\"], \"a\": {}}, \""
		"a\": [{\"k\": null, \"j\": true, \"i\": false}], \"m\": [], \"e\": {}}"),
		"{\n"
		"  \"a\": [\n"
		"    {\n"
		"      \"i\": false,\n"
		"      \"j\": true,\n"
		"      \"k\": null\n"
		"    }\n"
		"  ],\n"
		"  \"e\": {},\n"
		"  \"m\": [],\n"
		"  \"z\": {\n"
		"    \"a\": {},\n"
		"    \"b\": [\n"
		"      1,\n"
		"      {\n"
		"        \"x\": {},\n"
		"        \"y\": []\n"
		"      },\n"
		"      [\n"
		"        []\n"
		"      ],\n"
		"      \"s\"\n"
		"    ]\n"
		"  }\n"
		"}",
		"{\"a\":[{\"i\":false,\"j\":true,\"k\":null}],\"e\":{},\"m\":[],\"z\":{\""
		"a\":{},\"b\":[1,{\"x\":{},\"y\":[]},[[]],\"s\"]}}");
}

static void test_empty_containers(void **state)
{
	(void)state;
	check_both(json_object(), "{}", "{}");
	check_both(json_array(), "[]", "[]");
}

/* Includes keys that are prefixes of one another, keys above U+FFFF (which
 * UTF-16 order would put before U+E000..U+FFFF but code-point order puts
 * last) and the empty key. Inserted unsorted. */
static void test_key_order(void **state)
{
	(void)state;
	check_both(load(
		"{\"b\": 1, \"a\": 2, \"ab\": 3, \"a b\": 4, \"aa\": 5, \"A\": 6, \"_\": "
		"7, \"\\u00e9\": 8, \"z\": 9, \"\\u65e5\\u672c\": 10, \"\\ud83d\\ude00\":"
		" 11, \"\\u00ff\": 12, \"\\u0100\": 13, \"\": 14, \"a\\u00e9\": 15, \"\\u"
		"ffff\": 16, \"\\ue000\": 17}"),
		"{\n"
		"  \"\": 14,\n"
		"  \"A\": 6,\n"
		"  \"_\": 7,\n"
		"  \"a\": 2,\n"
		"  \"a b\": 4,\n"
		"  \"aa\": 5,\n"
		"  \"ab\": 3,\n"
		"  \"a\\u00e9\": 15,\n"
		"  \"b\": 1,\n"
		"  \"z\": 9,\n"
		"  \"\\u00e9\": 8,\n"
		"  \"\\u00ff\": 12,\n"
		"  \"\\u0100\": 13,\n"
		"  \"\\u65e5\\u672c\": 10,\n"
		"  \"\\ue000\": 17,\n"
		"  \"\\uffff\": 16,\n"
		"  \"\\ud83d\\ude00\": 11\n"
		"}",
		"{\"\":14,\"A\":6,\"_\":7,\"a\":2,\"a b\":4,\"aa\":5,\"ab\":3,\"a\\u00e9"
		"\":15,\"b\":1,\"z\":9,\"\\u00e9\":8,\"\\u00ff\":12,\"\\u0100\":13,\"\\u6"
		"5e5\\u672c\":10,\"\\ue000\":17,\"\\uffff\":16,\"\\ud83d\\ude00\":11}");
}

/* jansson's parser rejects NUL in keys but json_object_setn accepts it; the
 * prefix "a" must still sort before "a\0" and "a\0b". */
static void test_keys_with_nul(void **state)
{
	(void)state;
	json_t *o = json_object();
	assert_int_equal(json_object_setn_new(o, "a\0b", 3, json_integer(1)), 0);
	assert_int_equal(json_object_setn_new(o, "a", 1, json_integer(2)), 0);
	assert_int_equal(json_object_setn_new(o, "a\0", 2, json_integer(3)), 0);
	assert_int_equal(json_object_setn_new(o, "a\1", 2, json_integer(4)), 0);
	char *c = ct_pyjson_dumps(o, false);
	assert_non_null(c);
	assert_string_equal(c,
		"{\"a\":2,\"a\\u0000\":3,\"a\\u0000b\":1,\"a\\u0001\":4}");
	free(c);
	json_decref(o);
}

/* Every C0 control, NUL, DEL, quote, backslash, unescaped '/', and UTF-8 of
 * 2, 3 and 4 bytes (the last as surrogate pairs), in a key as well. */
static void test_escapes(void **state)
{
	(void)state;
	check_both(load(
		"{\"k\\n\\u00e9\\\"\": \"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u000"
		"6\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013"
		"\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\"
		"u001e\\u001f \\\"\\\\/\\u007f~A\\u00e9\\u0080\\u07ff\\u0800\\u2028\\ufff"
		"f\\ud83d\\ude00\\udbff\\udfff\", \"plain\": \"a/b\"}"),
		"{\n"
		"  \"k\\n\\u00e9\\\"\": \"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u00"
		"06\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u001"
		"3\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d"
		"\\u001e\\u001f \\\"\\\\/\\u007f~A\\u00e9\\u0080\\u07ff\\u0800\\u2028\\uf"
		"fff\\ud83d\\ude00\\udbff\\udfff\",\n"
		"  \"plain\": \"a/b\"\n"
		"}",
		"{\"k\\n\\u00e9\\\"\":\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006"
		"\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013"
		"\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\"
		"u001e\\u001f \\\"\\\\/\\u007f~A\\u00e9\\u0080\\u07ff\\u0800\\u2028\\ufff"
		"f\\ud83d\\ude00\\udbff\\udfff\",\"plain\":\"a/b\"}");
}

static void test_integers(void **state)
{
	(void)state;
	check_both(load(
		"[0, -1, 1, 9223372036854775807, -9223372036854775808, 9007199254740993, "
		"-9223372036854775807, 123456789012]"),
		"[\n"
		"  0,\n"
		"  -1,\n"
		"  1,\n"
		"  9223372036854775807,\n"
		"  -9223372036854775808,\n"
		"  9007199254740993,\n"
		"  -9223372036854775807,\n"
		"  123456789012\n"
		"]",
		"[0,-1,1,9223372036854775807,-9223372036854775808,9007199254740993,-92233"
		"72036854775807,123456789012]");
}

static void test_literals(void **state)
{
	(void)state;
	check_both(load(
		"[true, false, null, \"\", [], {}]"),
		"[\n"
		"  true,\n"
		"  false,\n"
		"  null,\n"
		"  \"\",\n"
		"  [],\n"
		"  {}\n"
		"]",
		"[true,false,null,\"\",[],{}]");
}

static void test_top_level_scalars(void **state)
{
	(void)state;
	check_both(json_string("x\xc3\xa9"), "\"x\\u00e9\"", "\"x\\u00e9\"");
	check_both(json_integer(-12), "-12", "-12");
	check_both(json_real(1e22), "1e+22", "1e+22");
	check_both(json_true(), "true", "true");
	check_both(json_null(), "null", "null");
}

/* The golden pack_int4_asym_group128_bf16 config.json as compressed-tensors
 * wrote it (its trailing newline dropped: json.dumps emits none). */
static const char ct_config_text[] =
	"{\n"
	"  \"config_groups\": {\n"
	"    \"group_0\": {\n"
	"      \"format\": \"pack-quantized\",\n"
	"      \"input_activations\": null,\n"
	"      \"output_activations\": null,\n"
	"      \"targets\": [\n"
	"        \"Linear\"\n"
	"      ],\n"
	"      \"weights\": {\n"
	"        \"actorder\": null,\n"
	"        \"block_structure\": null,\n"
	"        \"dynamic\": false,\n"
	"        \"group_size\": 128,\n"
	"        \"num_bits\": 4,\n"
	"        \"observer\": \"memoryless_minmax\",\n"
	"        \"observer_kwargs\": {},\n"
	"        \"scale_dtype\": null,\n"
	"        \"strategy\": \"group\",\n"
	"        \"symmetric\": false,\n"
	"        \"type\": \"int\",\n"
	"        \"zp_dtype\": \"torch.int8\"\n"
	"      }\n"
	"    }\n"
	"  },\n"
	"  \"format\": \"pack-quantized\",\n"
	"  \"global_compression_ratio\": null,\n"
	"  \"ignore\": [\n"
	"    \"lm_head\"\n"
	"  ],\n"
	"  \"kv_cache_scheme\": null,\n"
	"  \"quant_method\": \"compressed-tensors\",\n"
	"  \"quantization_status\": \"compressed\",\n"
	"  \"sparsity_config\": {},\n"
	"  \"transform_config\": {},\n"
	"  \"version\": \"0.14.0.1\"\n"
	"}";

static void test_compressed_tensors_config_roundtrip(void **state)
{
	(void)state;
	json_t *v = load(ct_config_text);
	char *p = ct_pyjson_dumps(v, true);
	assert_non_null(p);
	assert_string_equal(p, ct_config_text);
	free(p);
	json_decref(v);
}

/* A transformers config.json carrying that quantization_config, with the
 * float fields (1e-05, 10000.0, 0.02, 0.0) jansson's own dumper spells
 * differently. */
static void test_hf_config(void **state)
{
	(void)state;
	json_t *v = load(
		"{\"vocab_size\": 32000, \"torch_dtype\": \"bfloat16\", \"transformers_ve"
		"rsion\": \"4.56.0\", \"architectures\": [\"LlamaForCausalLM\"], \"hidden"
		"_size\": 64, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"initial"
		"izer_range\": 0.02, \"attention_dropout\": 0.0, \"rope_scaling\": null, "
		"\"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": ["
		"2, 128009], \"model_type\": \"llama\", \"quantization_config\": {\"confi"
		"g_groups\": {\"group_0\": {\"format\": \"pack-quantized\", \"input_activ"
		"ations\": null, \"output_activations\": null, \"targets\": [\"Linear\"],"
		" \"weights\": {\"actorder\": null, \"block_structure\": null, \"dynamic"
		"\": false, \"group_size\": 128, \"num_bits\": 4, \"observer\": \"memoryl"
		"ess_minmax\", \"observer_kwargs\": {}, \"scale_dtype\": null, \"strategy"
		"\": \"group\", \"symmetric\": false, \"type\": \"int\", \"zp_dtype\": \""
		"torch.int8\"}}}, \"format\": \"pack-quantized\", \"global_compression_ra"
		"tio\": null, \"ignore\": [\"lm_head\"], \"kv_cache_scheme\": null, \"qua"
		"nt_method\": \"compressed-tensors\", \"quantization_status\": \"compress"
		"ed\", \"sparsity_config\": {}, \"transform_config\": {}, \"version\": \""
		"0.14.0.1\"}}");
	char *p = ct_pyjson_dumps(v, true);
	assert_non_null(p);
	assert_string_equal(p,
		"{\n"
		"  \"architectures\": [\n"
		"    \"LlamaForCausalLM\"\n"
		"  ],\n"
		"  \"attention_dropout\": 0.0,\n"
		"  \"bos_token_id\": 1,\n"
		"  \"eos_token_id\": [\n"
		"    2,\n"
		"    128009\n"
		"  ],\n"
		"  \"hidden_size\": 64,\n"
		"  \"initializer_range\": 0.02,\n"
		"  \"model_type\": \"llama\",\n"
		"  \"quantization_config\": {\n"
		"    \"config_groups\": {\n"
		"      \"group_0\": {\n"
		"        \"format\": \"pack-quantized\",\n"
		"        \"input_activations\": null,\n"
		"        \"output_activations\": null,\n"
		"        \"targets\": [\n"
		"          \"Linear\"\n"
		"        ],\n"
		"        \"weights\": {\n"
		"          \"actorder\": null,\n"
		"          \"block_structure\": null,\n"
		"          \"dynamic\": false,\n"
		"          \"group_size\": 128,\n"
		"          \"num_bits\": 4,\n"
		"          \"observer\": \"memoryless_minmax\",\n"
		"          \"observer_kwargs\": {},\n"
		"          \"scale_dtype\": null,\n"
		"          \"strategy\": \"group\",\n"
		"          \"symmetric\": false,\n"
		"          \"type\": \"int\",\n"
		"          \"zp_dtype\": \"torch.int8\"\n"
		"        }\n"
		"      }\n"
		"    },\n"
		"    \"format\": \"pack-quantized\",\n"
		"    \"global_compression_ratio\": null,\n"
		"    \"ignore\": [\n"
		"      \"lm_head\"\n"
		"    ],\n"
		"    \"kv_cache_scheme\": null,\n"
		"    \"quant_method\": \"compressed-tensors\",\n"
		"    \"quantization_status\": \"compressed\",\n"
		"    \"sparsity_config\": {},\n"
		"    \"transform_config\": {},\n"
		"    \"version\": \"0.14.0.1\"\n"
		"  },\n"
		"  \"rms_norm_eps\": 1e-05,\n"
		"  \"rope_scaling\": null,\n"
		"  \"rope_theta\": 10000.0,\n"
		"  \"tie_word_embeddings\": false,\n"
		"  \"torch_dtype\": \"bfloat16\",\n"
		"  \"transformers_version\": \"4.56.0\",\n"
		"  \"vocab_size\": 32000\n"
		"}");
	free(p);
	json_decref(v);
}

static void test_index_json(void **state)
{
	(void)state;
	check_both(load(
		"{\"metadata\": {\"total_size\": 16777216}, \"weight_map\": {\"model.laye"
		"rs.1.mlp.down_proj.weight_packed\": \"model-00002-of-00002.safetensors\""
		", \"model.layers.0.self_attn.q_proj.weight_scale\": \"model-00001-of-000"
		"02.safetensors\", \"model.layers.0.self_attn.q_proj.weight_packed\": \"m"
		"odel-00001-of-00002.safetensors\", \"model.layers.10.mlp.up_proj.weight_"
		"shape\": \"model-00002-of-00002.safetensors\", \"model.embed_tokens.weig"
		"ht\": \"model-00001-of-00002.safetensors\", \"lm_head.weight\": \"model-"
		"00002-of-00002.safetensors\", \"model.layers.0.self_attn.q_proj.weight_z"
		"ero_point\": \"model-00001-of-00002.safetensors\"}}"),
		"{\n"
		"  \"metadata\": {\n"
		"    \"total_size\": 16777216\n"
		"  },\n"
		"  \"weight_map\": {\n"
		"    \"lm_head.weight\": \"model-00002-of-00002.safetensors\",\n"
		"    \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\",\n"
		"    \"model.layers.0.self_attn.q_proj.weight_packed\": \"model-00001-of-"
		"00002.safetensors\",\n"
		"    \"model.layers.0.self_attn.q_proj.weight_scale\": \"model-00001-of-0"
		"0002.safetensors\",\n"
		"    \"model.layers.0.self_attn.q_proj.weight_zero_point\": \"model-00001"
		"-of-00002.safetensors\",\n"
		"    \"model.layers.1.mlp.down_proj.weight_packed\": \"model-00002-of-000"
		"02.safetensors\",\n"
		"    \"model.layers.10.mlp.up_proj.weight_shape\": \"model-00002-of-00002"
		".safetensors\"\n"
		"  }\n"
		"}",
		"{\"metadata\":{\"total_size\":16777216},\"weight_map\":{\"lm_head.weight"
		"\":\"model-00002-of-00002.safetensors\",\"model.embed_tokens.weight\":\""
		"model-00001-of-00002.safetensors\",\"model.layers.0.self_attn.q_proj.wei"
		"ght_packed\":\"model-00001-of-00002.safetensors\",\"model.layers.0.self_"
		"attn.q_proj.weight_scale\":\"model-00001-of-00002.safetensors\",\"model."
		"layers.0.self_attn.q_proj.weight_zero_point\":\"model-00001-of-00002.saf"
		"etensors\",\"model.layers.1.mlp.down_proj.weight_packed\":\"model-00002-"
		"of-00002.safetensors\",\"model.layers.10.mlp.up_proj.weight_shape\":\"mo"
		"del-00002-of-00002.safetensors\"}}");
}

/* ---- limits and failures ---- */

/* n arrays nested in one another around the integer 1. */
static json_t *nest_arrays(int n)
{
	json_t *v = json_integer(1);
	for (int i = 0; i < n; i++) {
		json_t *a = json_array();
		json_array_append_new(a, v);
		v = a;
	}
	return v;
}

static void test_depth_limit(void **state)
{
	(void)state;
	json_t *ok = nest_arrays(CT_PYJSON_MAX_DEPTH);
	char *c = ct_pyjson_dumps(ok, false);
	assert_non_null(c);
	char want[2 * CT_PYJSON_MAX_DEPTH + 2];
	memset(want, '[', CT_PYJSON_MAX_DEPTH);
	want[CT_PYJSON_MAX_DEPTH] = '1';
	memset(want + CT_PYJSON_MAX_DEPTH + 1, ']', CT_PYJSON_MAX_DEPTH);
	want[2 * CT_PYJSON_MAX_DEPTH + 1] = '\0';
	assert_string_equal(c, want);
	free(c);
	char *p = ct_pyjson_dumps(ok, true);
	assert_non_null(p);
	free(p);
	json_decref(ok);

	json_t *deep = nest_arrays(CT_PYJSON_MAX_DEPTH + 1);
	assert_null(ct_pyjson_dumps(deep, false));
	assert_null(ct_pyjson_dumps(deep, true));
	json_decref(deep);

	/* Objects count toward the same limit. */
	json_t *o = json_object();
	json_object_set_new(o, "k", nest_arrays(CT_PYJSON_MAX_DEPTH));
	assert_null(ct_pyjson_dumps(o, true));
	json_decref(o);
}

static void test_invalid_utf8_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\xff",             /* never valid */
		"\xc0\xaf",         /* overlong '/' */
		"\xed\xa0\x80",     /* UTF-16 surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"ok\xe2\x82",       /* truncated */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *s = json_string_nocheck(bad[i]);
		assert_non_null(s);
		assert_null(ct_pyjson_dumps(s, false));
		json_decref(s);
	}
	json_t *o = json_object();
	json_object_set_new_nocheck(o, "\xff", json_null());
	assert_null(ct_pyjson_dumps(o, true));
	json_decref(o);
}

static void test_null_value(void **state)
{
	(void)state;
	assert_null(ct_pyjson_dumps(NULL, true));
	assert_null(ct_pyjson_dumps(NULL, false));
}

/* Enough output to make the buffer grow many times, and enough keys for the
 * sort to matter: keys k0000..k2999 inserted in reverse. */
static void test_large_object(void **state)
{
	(void)state;
	enum { N = 3000 };
	char val[201];
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	json_t *o = json_object();
	for (int i = N - 1; i >= 0; i--) {
		char key[16];
		snprintf(key, sizeof(key), "k%04d", i);
		json_object_set_new(o, key, json_string(val));
	}
	char *p = ct_pyjson_dumps(o, true);
	assert_non_null(p);
	size_t line_len = strlen("  \"k0000\": \"\",\n") + strlen(val);
	assert_int_equal(strlen(p), 2 + N * line_len - 1 + 1);
	char line[300];
	const char *at = p + 2;
	assert_memory_equal(p, "{\n", 2);
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "  \"k%04d\": \"%s\"%s", i, val,
			 i + 1 < N ? ",\n" : "\n}");
		size_t n = strlen(line);
		if (memcmp(at, line, n) != 0)
			fail_msg("member %d out of place", i);
		at += n;
	}
	assert_int_equal(*at, '\0');
	free(p);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_float_repr_table),
		cmocka_unit_test(test_float_repr_nonfinite),
		cmocka_unit_test(test_float_repr_small_buffer),
		cmocka_unit_test(test_float_repr_locale_independent),
		cmocka_unit_test(test_floats_document),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_empty_containers),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_keys_with_nul),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_top_level_scalars),
		cmocka_unit_test(test_compressed_tensors_config_roundtrip),
		cmocka_unit_test(test_hf_config),
		cmocka_unit_test(test_index_json),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_invalid_utf8_rejected),
		cmocka_unit_test(test_null_value),
		cmocka_unit_test(test_large_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
