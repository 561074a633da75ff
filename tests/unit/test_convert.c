/*
 * Unit tests for convert: detection and --from, and the GPTQ v1 zero-point
 * rule on a hand-built one-module checkpoint (a true zero 0 in a low field,
 * written by subtracting the packed constant from the whole word).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "convert.h"
#include "dtype.h"

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	if (!v)
		fail_msg("fixture does not parse: %s", e.text);
	return v;
}

static void test_detect(void **state)
{
	(void)state;
	json_t *g = load("{\"quant_method\":\"gptq\",\"bits\":4}");
	json_t *a = load("{\"quant_method\":\"awq\",\"version\":\"gemm\"}");
	json_t *f = load("{\"quant_method\":\"fp8\",\"weight_block_size\":[128,128]}");
	json_t *r = load("{\"quant_method\":\"auto-round\",\"packing_format\":\"auto_round:auto_gptq\"}");
	json_t *m = load("{\"quant_method\":\"modelopt\",\"quant_algo\":\"NVFP4\"}");
	json_t *h = load("{\"producer\":{\"name\":\"modelopt\"},\"quantization\":{\"quant_algo\":\"FP8\"}}");
	json_t *ct = load("{\"quant_method\":\"compressed-tensors\"}");
	assert_ptr_equal(ct_source_detect(g, NULL), &ct_src_gptq);
	assert_ptr_equal(ct_source_detect(a, NULL), &ct_src_awq);
	assert_ptr_equal(ct_source_detect(f, NULL), &ct_src_fp8);
	assert_ptr_equal(ct_source_detect(r, NULL), &ct_src_autoround);
	assert_ptr_equal(ct_source_detect(m, h), &ct_src_modelopt);
	assert_ptr_equal(ct_source_detect(NULL, h), &ct_src_modelopt);
	assert_null(ct_source_detect(ct, NULL));
	assert_null(ct_source_detect(NULL, NULL));
	assert_ptr_equal(ct_source_find("gptq"), &ct_src_gptq);
	assert_null(ct_source_find("gguf"));
	for (const ct_source *const *s = ct_sources(); *s; s++)
		assert_ptr_equal(ct_source_find((*s)->name), *s);
	json_decref(g);
	json_decref(a);
	json_decref(f);
	json_decref(r);
	json_decref(m);
	json_decref(h);
	json_decref(ct);
}

static void test_json_helpers(void **state)
{
	(void)state;
	json_t *q = load("{\"bits\":3,\"sym\":false,\"meta\":{\"quantizer\":[\"gptqmodel:7\"]},"
			 "\"group_size\":\"x\"}");
	int64_t v;
	bool b;
	assert_true(ct_conv_int(q, "bits", 4, 1, 8, &v));
	assert_int_equal(v, 3);
	assert_true(ct_conv_int(q, "absent", 7, 1, 8, &v));
	assert_int_equal(v, 7);
	assert_false(ct_conv_int(q, "group_size", 128, -1, 1024, &v));
	assert_false(ct_conv_int(q, "bits", 4, 4, 8, &v));
	assert_true(ct_conv_bool(q, "sym", true, &b));
	assert_false(b);
	assert_string_equal(ct_conv_str(json_object_get(q, "meta"), "quantizer"), "gptqmodel:7");
	json_t *w = ct_conv_int_weights(4, false, -1, false);
	assert_string_equal(json_string_value(json_object_get(w, "strategy")), "channel");
	assert_true(json_is_null(json_object_get(w, "group_size")));
	json_decref(w);
	w = ct_conv_int_weights(8, true, 32, true);
	assert_string_equal(json_string_value(json_object_get(w, "actorder")), "group");
	json_decref(w);
	json_decref(q);
}

/* ---- a one-module GPTQ v1 checkpoint on disk ---- */

typedef struct tdesc {
	const char *name, *dtype;
	int ndim;
	uint64_t shape[2];
	const void *data;
	size_t len;
} tdesc;

static void write_st(const char *path, const tdesc *t, size_t n)
{
	char hdr[4096];
	size_t h = 0;
	uint64_t off = 0;
	h += (size_t)snprintf(hdr + h, sizeof(hdr) - h, "{");
	for (size_t i = 0; i < n; i++) {
		h += (size_t)snprintf(hdr + h, sizeof(hdr) - h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
				      i ? "," : "", t[i].name, t[i].dtype);
		for (int d = 0; d < t[i].ndim; d++)
			h += (size_t)snprintf(hdr + h, sizeof(hdr) - h, "%s%llu", d ? "," : "",
					      (unsigned long long)t[i].shape[d]);
		h += (size_t)snprintf(hdr + h, sizeof(hdr) - h, "],\"data_offsets\":[%llu,%llu]}",
				      (unsigned long long)off, (unsigned long long)(off + t[i].len));
		off += t[i].len;
	}
	h += (size_t)snprintf(hdr + h, sizeof(hdr) - h, "}");
	while (h % 8)
		hdr[h++] = ' ';
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	uint64_t len = h;
	fwrite(&len, 8, 1, f);
	fwrite(hdr, 1, h, f);
	for (size_t i = 0; i < n; i++)
		fwrite(t[i].data, 1, t[i].len, f);
	fclose(f);
}

/* out 8, in 32, group 32, 4 bits: codes q[i][o] = (i + o) % 16, scales 1,
 * zeros z[o] = o + 3 except z[0] = 0, stored v1 by whole-word subtract. */
static char *make_gptq(const char *quantizer)
{
	char *dir = strdup("/tmp/ct-unit-convert.XXXXXX");
	assert_non_null(mkdtemp(dir));
	uint32_t qweight[4][8] = { { 0 } };
	for (int o = 0; o < 8; o++)
		for (int i = 0; i < 32; i++)
			qweight[i / 8][o] |= (uint32_t)((i + o) % 16) << (4 * (i % 8));
	uint16_t scales[8];
	for (int o = 0; o < 8; o++)
		scales[o] = ct_f32_to_f16(1.0f);
	uint32_t z = 0;
	for (int o = 0; o < 8; o++)
		z |= (uint32_t)(o == 0 ? 0 : o + 3) << (4 * o);
	uint32_t qzeros = z - 0x11111111u;   /* GPTQModel's v2 -> v1 */
	int32_t gidx[32] = { 0 };
	tdesc t[] = {
		{ "m.qweight", "I32", 2, { 4, 8 }, qweight, sizeof(qweight) },
		{ "m.qzeros", "I32", 2, { 1, 1 }, &qzeros, 4 },
		{ "m.scales", "F16", 2, { 1, 8 }, scales, sizeof(scales) },
		{ "m.g_idx", "I32", 1, { 32 }, gidx, sizeof(gidx) },
	};
	char path[256];
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	write_st(path, t, 4);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"model_type\":\"llama\",\"quantization_config\":{\"quant_method\":\"gptq\","
		"\"bits\":4,\"group_size\":32,\"sym\":false,\"desc_act\":false,"
		"\"checkpoint_format\":\"gptq\"%s%s%s}}", quantizer ? ",\"meta\":{\"quantizer\":[\"" : "",
		quantizer ? quantizer : "", quantizer ? "\"]}" : "");
	fclose(f);
	return dir;
}

static void remove_dir(char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}

static int open_conv(const char *dir, ct_checkpoint **ck, ct_conv **cv, ct_error *err)
{
	int rc = ct_ckpt_open(dir, ck, err);
	assert_int_equal(rc, CT_OK);
	json_t *q = json_object_get((*ck)->config, "quantization_config");
	return ct_convert_open(*ck, q, NULL, "config.json", NULL, cv, err);
}

static void test_gptq_v1_packed_writer(void **state)
{
	(void)state;
	char *dir = make_gptq("gptqmodel:7.3.4");
	ct_checkpoint *ck = NULL;
	ct_conv *cv = NULL;
	ct_error err;
	ct_error_clear(&err);
	assert_int_equal(open_conv(dir, &ck, &cv, &err), CT_OK);
	assert_int_equal(cv->n_mods, 1);
	/* the borrow of z[0] = 0 made field 1 read one too low per field */
	assert_int_equal(cv->warnings.n, 1);
	assert_non_null(strstr(cv->warnings.items[0], "packed (GPTQModel) decode used"));
	const ct_conv_module *m = ct_convert_module(cv, "m");
	assert_non_null(m);
	assert_false(m->has_gidx);   /* all zeros = i / 32: trivial */
	float w[8 * 32];
	assert_int_equal(m->dequant(cv, m, w, &err), CT_OK);
	for (int o = 0; o < 8; o++)
		for (int i = 0; i < 32; i++)
			assert_true(w[o * 32 + i] == (float)((i + o) % 16 - (o == 0 ? 0 : o + 3)));
	/* weight_packed, weight_scale, weight_shape, weight_zero_point */
	assert_int_equal(cv->n_outs, 4);
	assert_string_equal(cv->outs[0].name, "m.weight_packed");
	assert_int_equal(cv->outs[0].shape[0], 8);
	assert_int_equal(cv->outs[0].shape[1], 4);
	ct_convert_free(cv);
	ct_ckpt_close(ck);
	remove_dir(dir);
}

static void test_gptq_v1_unknown_writer_refused(void **state)
{
	(void)state;
	char *dir = make_gptq(NULL);
	ct_checkpoint *ck = NULL;
	ct_conv *cv = NULL;
	ct_error err;
	ct_error_clear(&err);
	assert_int_equal(open_conv(dir, &ck, &cv, &err), CT_EINPUT);
	assert_null(cv);
	assert_non_null(strstr(err.msg, "m.qzeros"));
	assert_non_null(strstr(err.msg, "underflow"));
	ct_ckpt_close(ck);
	remove_dir(dir);
}

static void test_from_mismatch(void **state)
{
	(void)state;
	char *dir = make_gptq("gptqmodel:7.3.4");
	ct_checkpoint *ck = NULL;
	ct_conv *cv = NULL;
	ct_error err;
	ct_error_clear(&err);
	assert_int_equal(ct_ckpt_open(dir, &ck, &err), CT_OK);
	json_t *q = json_object_get(ck->config, "quantization_config");
	assert_int_equal(ct_convert_open(ck, q, NULL, "config.json", "awq", &cv, &err), CT_EUSAGE);
	assert_non_null(strstr(err.msg, "gptq"));
	assert_int_equal(ct_convert_open(ck, q, NULL, "config.json", "nope", &cv, &err), CT_EUSAGE);
	assert_int_equal(ct_convert_open(ck, q, NULL, "config.json", "gptq", &cv, &err), CT_OK);
	ct_convert_free(cv);
	ct_ckpt_close(ck);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_json_helpers),
		cmocka_unit_test(test_gptq_v1_packed_writer),
		cmocka_unit_test(test_gptq_v1_unknown_writer_refused),
		cmocka_unit_test(test_from_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
