/* test_describe.c - roles (FORMAT.md §2.6), parameter counts, statistics and
 * config summaries of src/lib/describe.c. Checkpoints are written into a
 * temporary directory with the library's writer and opened as a user's
 * would be. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "describe.h"
#include "dtype.h"
#include "qconfig.h"
#include "safetensors.h"

/* ------------------------------------------------------------ fixtures */

typedef struct tspec {
	const char *name;
	ct_dtype dtype;
	int ndim;
	uint64_t shape[4];
	const int64_t *i64;        /* values of an I64 tensor, or NULL for zero bytes */
} tspec;

typedef struct fixture {
	char dir[64];
	ct_checkpoint *ck;
	ct_qconfig *cfg;
	ct_describer *d;
} fixture;

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Writes dir/model.safetensors holding specs (and config.json holding
 * config under "quantization_config" when given), then opens the directory
 * and a describer with its config. */
static void make(fixture *fx, const tspec *specs, size_t n, const char *config)
{
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_describe.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	ct_error err;
	ct_error_clear(&err);
	ct_st_builder *b = ct_st_builder_new();
	assert_non_null(b);
	int ids[32];
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++) {
		ids[i] = ct_st_builder_add(b, specs[i].name, specs[i].dtype, specs[i].ndim,
					   specs[i].shape, &err);
		if (ids[i] < 0)
			fail_msg("%s", err.msg);
	}
	assert_int_equal(ct_st_builder_meta(b, "format", "pt", &err), CT_OK);
	assert_int_equal(ct_st_builder_layout(b, false, &err), CT_OK);
	char path[128];
	snprintf(path, sizeof(path), "%s/model.safetensors", fx->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	ct_sink sink = { fd_pwrite, &fd };
	for (size_t i = 0; i < n; i++) {
		size_t len = (size_t)ct_st_builder_tensor_size(b, ids[i]);
		uint8_t *data = calloc(1, len ? len : 1);
		assert_non_null(data);
		if (specs[i].i64)
			memcpy(data, specs[i].i64, len);
		assert_int_equal(ct_st_write(b, &sink, ids[i], data, len, &err), CT_OK);
		free(data);
	}
	assert_int_equal(ct_st_finish(b, &sink, &err), CT_OK);
	close(fd);
	ct_st_builder_free(b);
	if (config) {
		char *text = malloc(strlen(config) + 64);
		assert_non_null(text);
		sprintf(text, "{\"quantization_config\": %s}\n", config);
		write_text(fx->dir, "config.json", text);
		free(text);
	}
	if (ct_ckpt_open(fx->dir, &fx->ck, &err) != CT_OK)
		fail_msg("%s", err.msg);
	json_t *q = NULL;
	assert_int_equal(ct_ckpt_qconfig(fx->ck, &q, &err), CT_OK);
	if (q && ct_qconfig_parse(q, "config.json", &fx->cfg, &err) != CT_OK)
		fail_msg("%s", err.msg);
	json_decref(q);
	assert_int_equal(ct_describer_new(fx->ck, fx->cfg, &fx->d, &err), CT_OK);
}

static void release(fixture *fx)
{
	ct_describer_free(fx->d);
	ct_qconfig_free(fx->cfg);
	ct_ckpt_close(fx->ck);
	char path[128];
	snprintf(path, sizeof(path), "%s/model.safetensors", fx->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config.json", fx->dir);
	unlink(path);
	rmdir(fx->dir);
}

static const ct_tref *tref(const fixture *fx, const char *name)
{
	const ct_tref *r = ct_ckpt_find(fx->ck, name);
	if (!r)
		fail_msg("no tensor %s", name);
	return r;
}

#define assert_role(fx, name, want)                                          \
	do {                                                                 \
		char buf_[64];                                               \
		assert_string_equal(ct_describe_role((fx)->d, tref(fx, name), buf_, \
						     sizeof(buf_)), want);   \
	} while (0)

#define assert_params(fx, name, want) \
	assert_int_equal(ct_describe_params((fx)->d, tref(fx, name)), (want))

static uint64_t total_params(const fixture *fx)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < fx->ck->n_tensors; i++)
		sum += ct_describe_params(fx->d, &fx->ck->tensors[i]);
	return sum;
}

/* ---------------------------------------------------------- §2.6, row by row */

static void test_dense(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "m.layers.0.q_proj.weight", CT_BF16, 2, { 8, 16 }, NULL },
		{ "m.layers.0.q_proj.bias", CT_BF16, 1, { 8 }, NULL },
		{ "m.layers.0.input_layernorm.weight", CT_BF16, 1, { 16 }, NULL },
		{ "m.embed_tokens.weight", CT_BF16, 2, { 32, 16 }, NULL },
		{ "transformer.wte.weight", CT_F16, 2, { 32, 16 }, NULL },
		{ "transformer.h.0.ln_1.weight", CT_F16, 1, { 16 }, NULL },
		{ "m.rotary_emb.inv_freq", CT_F32, 1, { 4 }, NULL },
		{ "lm_head.weight", CT_BF16, 2, { 32, 16 }, NULL },
	};
	fixture fx;
	make(&fx, s, sizeof(s) / sizeof(s[0]), NULL);
	assert_role(&fx, "m.layers.0.q_proj.weight", "dense");
	assert_role(&fx, "m.layers.0.q_proj.bias", "bias");
	assert_role(&fx, "m.layers.0.input_layernorm.weight", "norm");
	assert_role(&fx, "m.embed_tokens.weight", "embedding");
	assert_role(&fx, "transformer.wte.weight", "embedding");
	assert_role(&fx, "transformer.h.0.ln_1.weight", "norm");
	assert_role(&fx, "m.rotary_emb.inv_freq", "other");
	assert_role(&fx, "lm_head.weight", "dense");
	assert_params(&fx, "m.layers.0.q_proj.weight", 128);
	assert_params(&fx, "m.layers.0.q_proj.bias", 8);
	/* every element of a dense checkpoint is a parameter */
	uint64_t elems = 0;
	for (size_t i = 0; i < fx.ck->n_tensors; i++)
		elems += fx.ck->tensors[i].t->nelem;
	assert_int_equal(total_params(&fx), elems);
	ct_tensor_desc td;
	ct_describe_tensor(fx.d, tref(&fx, "m.layers.0.q_proj.weight"), &td);
	assert_int_equal(td.role, CT_ROLE_DENSE);
	assert_int_equal(td.format, CT_FMT_DENSE);
	assert_int_equal(td.group, -1);
	release(&fx);
}

#define FROZEN_INT8 \
	"{\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": " \
	"{\"num_bits\": 8, \"strategy\": \"channel\", \"symmetric\": true}}}, " \
	"\"format\": \"dense\", \"quantization_status\": \"frozen\", \"ignore\": [\"lm_head\"]}"

static void test_fake_quant(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "a.weight", CT_BF16, 2, { 8, 16 }, NULL },
		{ "a.weight_scale", CT_BF16, 2, { 8, 1 }, NULL },
		{ "a.weight_zero_point", CT_I8, 2, { 8, 1 }, NULL },
		{ "lm_head.weight", CT_BF16, 2, { 4, 16 }, NULL },
	};
	fixture fx;
	make(&fx, s, 4, NULL);
	assert_role(&fx, "a.weight", "dense (fake-quant per-channel asym)");
	assert_role(&fx, "a.weight_scale", "scale");
	assert_role(&fx, "a.weight_zero_point", "zero point");
	assert_params(&fx, "a.weight", 128);
	assert_params(&fx, "a.weight_scale", 0);
	assert_params(&fx, "a.weight_zero_point", 0);
	release(&fx);

	/* the config gives the bits, says it is symmetric, and ignores lm_head */
	make(&fx, s, 4, FROZEN_INT8);
	assert_role(&fx, "a.weight", "dense (fake-quant int8 per-channel)");
	assert_role(&fx, "a.weight_scale", "int8 scale");
	assert_role(&fx, "lm_head.weight", "dense (ignored)");
	ct_tensor_desc td;
	ct_describe_tensor(fx.d, tref(&fx, "a.weight"), &td);
	assert_int_equal(td.role, CT_ROLE_FAKE_QUANT);
	assert_int_equal(td.group, 0);
	ct_describe_tensor(fx.d, tref(&fx, "lm_head.weight"), &td);
	assert_true(td.ignored);
	assert_int_equal(td.group, -1);
	release(&fx);
}

#define NAIVE_INT3 \
	"{\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"format\": " \
	"\"naive-quantized\", \"weights\": {\"num_bits\": 3, \"strategy\": \"channel\"}}}, " \
	"\"format\": \"naive-quantized\"}"

static void test_int_quantized(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "a.weight", CT_I8, 2, { 8, 16 }, NULL },
		{ "a.weight_scale", CT_F16, 2, { 8, 1 }, NULL },
		{ "a.weight_g_idx", CT_I32, 1, { 16 }, NULL },
		{ "a.input_scale", CT_F16, 1, { 1 }, NULL },
		{ "a.input_zero_point", CT_I8, 1, { 1 }, NULL },
		{ "attn.k_scale", CT_F32, 0, { 0 }, NULL },
	};
	fixture fx;
	make(&fx, s, 6, NULL);
	assert_role(&fx, "a.weight", "int8 per-channel weight");
	assert_role(&fx, "a.weight_scale", "int8 scale");
	assert_role(&fx, "a.weight_g_idx", "group index (actorder)");
	assert_role(&fx, "a.input_scale", "activation parameter");
	assert_role(&fx, "a.input_zero_point", "activation parameter");
	assert_role(&fx, "attn.k_scale", "attention / kv-cache scale");
	assert_params(&fx, "a.weight", 128);
	assert_int_equal(total_params(&fx), 128);
	ct_tensor_desc td;
	ct_describe_tensor(fx.d, tref(&fx, "a.weight"), &td);
	assert_int_equal(td.format, CT_FMT_INT);
	release(&fx);

	/* int3 stored in I8: only the config knows, and says naive-quantized */
	make(&fx, s, 2, NAIVE_INT3);
	assert_role(&fx, "a.weight", "int3 per-channel weight");
	ct_describe_tensor(fx.d, tref(&fx, "a.weight"), &td);
	assert_int_equal(td.format, CT_FMT_NAIVE);
	assert_int_equal(td.bits, 3);
	release(&fx);
}

static void test_float_quantized(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "a.weight", CT_F8_E4M3, 2, { 8, 16 }, NULL },
		{ "a.weight_scale", CT_BF16, 2, { 8, 1 }, NULL },
		{ "b.weight", CT_F8_E4M3, 2, { 256, 300 }, NULL },
		{ "b.weight_scale", CT_BF16, 2, { 2, 3 }, NULL },
		{ "c.weight", CT_F8_E4M3, 2, { 8, 16 }, NULL },
		{ "c.weight_scale", CT_F32, 1, { 1 }, NULL },
	};
	fixture fx;
	make(&fx, s, 6, NULL);
	assert_role(&fx, "a.weight", "fp8 per-channel weight");
	assert_role(&fx, "a.weight_scale", "fp8 scale");
	assert_role(&fx, "b.weight", "fp8 block 128x128 weight");
	assert_role(&fx, "c.weight", "fp8 per-tensor weight");
	assert_params(&fx, "b.weight", 256 * 300);
	assert_params(&fx, "b.weight_scale", 0);
	release(&fx);
}

static void test_mxfp8(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "a.weight", CT_F8_E4M3, 2, { 8, 64 }, NULL },
		{ "a.weight_scale", CT_U8, 2, { 8, 2 }, NULL },
	};
	fixture fx;
	make(&fx, s, 2, NULL);
	assert_role(&fx, "a.weight", "mxfp8 weight");
	assert_role(&fx, "a.weight_scale", "mxfp8 scale");
	assert_params(&fx, "a.weight", 512);
	ct_tensor_desc td;
	ct_describe_tensor(fx.d, tref(&fx, "a.weight"), &td);
	assert_int_equal(td.format, CT_FMT_MXFP8);
	release(&fx);
}

static const int64_t shape_8x16[] = { 8, 16 };
static const int64_t shape_8x256[] = { 8, 256 };
static const int64_t shape_8x1000[] = { 8, 1000 };
static const int64_t shape_8x80[] = { 8, 80 };

#define W4A16 \
	"{\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": " \
	"{\"num_bits\": 4, \"group_size\": 128, \"strategy\": \"group\"}}}, " \
	"\"format\": \"pack-quantized\", \"ignore\": [\"lm_head\"]}"

static void test_pack_quantized(void **state)
{
	(void)state;
	const tspec s[] = {
		/* int4 per-channel: 16 codes of 4 bits = 2 words a row */
		{ "a.weight_packed", CT_I32, 2, { 8, 2 }, NULL },
		{ "a.weight_shape", CT_I64, 1, { 2 }, shape_8x16 },
		{ "a.weight_scale", CT_BF16, 2, { 8, 1 }, NULL },
		/* int4 g128 asymmetric: zero points packed down the columns */
		{ "b.weight_packed", CT_I32, 2, { 8, 32 }, NULL },
		{ "b.weight_shape", CT_I64, 1, { 2 }, shape_8x256 },
		{ "b.weight_scale", CT_BF16, 2, { 8, 2 }, NULL },
		{ "b.weight_zero_point", CT_I32, 2, { 1, 2 }, NULL },
		/* int8: 80 codes = 20 words */
		{ "c.weight_packed", CT_I32, 2, { 8, 20 }, NULL },
		{ "c.weight_shape", CT_I64, 1, { 2 }, shape_8x80 },
		{ "c.weight_scale", CT_BF16, 1, { 1 }, NULL },
		/* a weight_shape that no bit width explains */
		{ "d.weight_packed", CT_I32, 2, { 8, 2 }, NULL },
		{ "d.weight_shape", CT_I64, 1, { 2 }, shape_8x1000 },
		{ "d.weight_scale", CT_BF16, 2, { 8, 1 }, NULL },
	};
	fixture fx;
	make(&fx, s, sizeof(s) / sizeof(s[0]), NULL);
	assert_role(&fx, "a.weight_packed", "int4 per-channel packed weight");
	assert_role(&fx, "a.weight_shape", "weight shape");
	assert_role(&fx, "a.weight_scale", "int4 scale");
	assert_role(&fx, "b.weight_packed", "int4 g128 asym packed weight");
	assert_role(&fx, "b.weight_zero_point", "int4 zero point (packed)");
	assert_role(&fx, "c.weight_packed", "int8 per-tensor packed weight");
	assert_role(&fx, "d.weight_packed", "packed weight");
	/* R×C from weight_shape, not the packed words */
	assert_params(&fx, "a.weight_packed", 8 * 16);
	assert_params(&fx, "b.weight_packed", 8 * 256);
	assert_params(&fx, "c.weight_packed", 8 * 80);
	assert_params(&fx, "a.weight_shape", 0);
	assert_params(&fx, "b.weight_zero_point", 0);
	/* untrusted shape: the elements, nothing multiplied from the file */
	assert_params(&fx, "d.weight_packed", 16);
	assert_int_equal(total_params(&fx), 8 * 16 + 8 * 256 + 8 * 80 + 16);
	ct_tensor_desc td;
	ct_describe_tensor(fx.d, tref(&fx, "b.weight_packed"), &td);
	assert_int_equal(td.format, CT_FMT_PACK);
	assert_int_equal(td.bits, 4);
	assert_int_equal(td.strategy, CT_STRAT_GROUP);
	assert_int_equal(td.group_size, 128);
	assert_true(td.asymmetric);
	release(&fx);

	/* with the config: bits and group from it; the bad shape is estimated
	 * from the words at 4 bits */
	make(&fx, s, sizeof(s) / sizeof(s[0]), W4A16);
	assert_role(&fx, "a.weight_packed", "int4 g128 packed weight");
	assert_params(&fx, "d.weight_packed", 16 * 8);
	ct_describe_tensor(fx.d, tref(&fx, "a.weight_packed"), &td);
	assert_int_equal(td.group, 0);
	release(&fx);
}

static void test_nvfp4_mxfp4(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "n.weight_packed", CT_U8, 2, { 8, 8 }, NULL },
		{ "n.weight_scale", CT_F8_E4M3, 2, { 8, 1 }, NULL },
		{ "n.weight_global_scale", CT_F32, 1, { 1 }, NULL },
		{ "x.weight_packed", CT_U8, 2, { 8, 16 }, NULL },
		{ "x.weight_scale", CT_U8, 2, { 8, 1 }, NULL },
	};
	fixture fx;
	make(&fx, s, 5, NULL);
	assert_role(&fx, "n.weight_packed", "nvfp4 packed weight");
	assert_role(&fx, "n.weight_scale", "nvfp4 scale");
	assert_role(&fx, "n.weight_global_scale", "nvfp4 global scale");
	assert_role(&fx, "x.weight_packed", "mxfp4 packed weight");
	assert_role(&fx, "x.weight_scale", "mxfp4 scale");
	/* two FP4 values a byte */
	assert_params(&fx, "n.weight_packed", 128);
	assert_params(&fx, "x.weight_packed", 256);
	assert_params(&fx, "n.weight_global_scale", 0);
	assert_int_equal(total_params(&fx), 128 + 256);
	release(&fx);
}

static const int64_t sparse_4x16[] = { 4, 16 };

static void test_sparse(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "a.compressed", CT_BF16, 1, { 10 }, NULL },
		{ "a.bitmask", CT_U8, 2, { 4, 2 }, NULL },
		{ "a.row_offsets", CT_I64, 1, { 4 }, NULL },
		{ "a.shape", CT_I64, 1, { 2 }, sparse_4x16 },
		{ "b.compressed", CT_I8, 2, { 4, 8 }, NULL },
		{ "b.bitmask", CT_U8, 2, { 4, 2 }, NULL },
		{ "b.shape", CT_I64, 2, { 2, 1 }, sparse_4x16 },
		{ "b.weight_scale", CT_F16, 2, { 4, 1 }, NULL },
		{ "c.compressed", CT_BF16, 2, { 4, 8 }, NULL },
		{ "c.bitmask", CT_U8, 2, { 4, 2 }, NULL },
		{ "c.shape", CT_I64, 2, { 2, 1 }, sparse_4x16 },
	};
	fixture fx;
	make(&fx, s, sizeof(s) / sizeof(s[0]), NULL);
	assert_role(&fx, "a.compressed", "sparse values");
	assert_role(&fx, "a.bitmask", "sparse bitmask");
	assert_role(&fx, "a.row_offsets", "sparse row offsets");
	assert_role(&fx, "a.shape", "sparse shape");
	assert_role(&fx, "b.compressed", "2:4 sparse int8 per-channel values");
	assert_role(&fx, "b.bitmask", "2:4 sparse bitmask");
	assert_role(&fx, "b.shape", "2:4 sparse shape");
	assert_role(&fx, "b.weight_scale", "int8 scale");
	assert_role(&fx, "c.compressed", "2:4 sparse values");
	/* the dense R×C a sparse tensor stands for */
	assert_params(&fx, "a.compressed", 64);
	assert_params(&fx, "b.compressed", 64);
	assert_params(&fx, "c.compressed", 64);
	assert_params(&fx, "a.bitmask", 0);
	assert_params(&fx, "a.row_offsets", 0);
	assert_params(&fx, "a.shape", 0);
	assert_int_equal(total_params(&fx), 3 * 64);
	ct_tensor_desc td;
	ct_describe_tensor(fx.d, tref(&fx, "a.bitmask"), &td);
	assert_int_equal(td.format, CT_FMT_SPARSE_BITMASK);
	ct_describe_tensor(fx.d, tref(&fx, "c.bitmask"), &td);
	assert_int_equal(td.format, CT_FMT_SPARSE_24);
	release(&fx);
}

static void test_marlin24(void **state)
{
	(void)state;
	const tspec s[] = {
		{ "a.weight_packed", CT_I32, 2, { 4, 256 }, NULL },
		{ "a.scale_packed", CT_F16, 2, { 1, 64 }, NULL },
		{ "a.meta", CT_I16, 2, { 4, 128 }, NULL },
	};
	fixture fx;
	make(&fx, s, 3, W4A16);
	assert_role(&fx, "a.weight_packed", "marlin-24 int4 g128 packed weight");
	assert_role(&fx, "a.scale_packed", "marlin-24 scale");
	assert_role(&fx, "a.meta", "marlin-24 metadata");
	/* [C/32, R·16·b/32] words hold R×C/2 codes of a 2:4 sparse R×C weight */
	assert_params(&fx, "a.weight_packed", 4 * 256 * 16);
	assert_params(&fx, "a.meta", 0);
	release(&fx);
}

/* ----------------------------------------------------------------- stats */

static void test_stats_f32(void **state)
{
	(void)state;
	ct_error err;
	ct_stats st;
	const float v[] = { 1, 2, 3, 4 };
	assert_int_equal(ct_array_stats(CT_F32, v, 4, &st, &err), CT_OK);
	assert_int_equal(st.count, 4);
	assert_int_equal(st.finite, 4);
	assert_true(st.min == 1 && st.max == 4 && st.mean == 2.5);
	assert_true(fabs(st.std - sqrt(1.25)) < 1e-12);
	assert_int_equal(st.zeros, 0);

	const float w[] = { NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 6.0f };
	assert_int_equal(ct_array_stats(CT_F32, w, 6, &st, &err), CT_OK);
	assert_int_equal(st.nan, 1);
	assert_int_equal(st.inf, 2);
	assert_int_equal(st.zeros, 2);
	assert_int_equal(st.finite, 3);
	assert_true(st.min == 0 && st.max == 6 && st.mean == 2);
	assert_true(fabs(st.std - sqrt(8.0)) < 1e-12);

	/* nothing finite: no min/max/mean/std */
	const float x[] = { NAN, NAN };
	assert_int_equal(ct_array_stats(CT_F32, x, 2, &st, &err), CT_OK);
	assert_int_equal(st.finite, 0);
	assert_int_equal(st.nan, 2);
	assert_true(isnan(st.min) && isnan(st.max) && isnan(st.mean) && isnan(st.std));
	assert_int_equal(ct_array_stats(CT_F32, x, 0, &st, &err), CT_OK);
	assert_int_equal(st.count, 0);
}

static void test_stats_narrow_floats(void **state)
{
	(void)state;
	ct_error err;
	ct_stats st;
	/* BF16 1.0, -2.0, NaN, +0 */
	const uint16_t bf[] = { 0x3F80, 0xC000, 0x7FC0, 0x0000 };
	assert_int_equal(ct_array_stats(CT_BF16, bf, 4, &st, &err), CT_OK);
	assert_int_equal(st.nan, 1);
	assert_int_equal(st.zeros, 1);
	assert_true(st.min == -2 && st.max == 1);
	assert_true(fabs(st.mean - (-1.0 / 3)) < 1e-12);
	/* F16 65504 (max), -inf */
	const uint16_t h[] = { 0x7BFF, 0xFC00 };
	assert_int_equal(ct_array_stats(CT_F16, h, 2, &st, &err), CT_OK);
	assert_true(st.max == 65504 && st.inf == 1 && st.finite == 1);
	/* E4M3 1.0, 448, -1.0, NaN, -0: no infinity in e4m3fn */
	const uint8_t e[] = { 0x38, 0x7E, 0xB8, 0x7F, 0x80 };
	assert_int_equal(ct_array_stats(CT_F8_E4M3, e, 5, &st, &err), CT_OK);
	assert_int_equal(st.nan, 1);
	assert_int_equal(st.inf, 0);
	assert_int_equal(st.zeros, 1);
	assert_true(st.min == -1 && st.max == 448);
	assert_true(fabs(st.mean - 448.0 / 4) < 1e-12);
	/* E5M2 has infinities: 0x7C = +inf */
	const uint8_t e5[] = { 0x3C, 0x7C };
	assert_int_equal(ct_array_stats(CT_F8_E5M2, e5, 2, &st, &err), CT_OK);
	assert_true(st.inf == 1 && st.max == 1);
	/* F64 keeps its precision (not squeezed through float) */
	const double d[] = { 1 + 1e-12, 1 };
	assert_int_equal(ct_array_stats(CT_F64, d, 2, &st, &err), CT_OK);
	assert_true(st.max == 1 + 1e-12);
}

static void test_stats_ints(void **state)
{
	(void)state;
	ct_error err;
	ct_stats st;
	const int8_t i8[] = { -128, 127, 0, 1 };
	assert_int_equal(ct_array_stats(CT_I8, i8, 4, &st, &err), CT_OK);
	assert_true(st.min == -128 && st.max == 127 && st.mean == 0);
	assert_int_equal(st.zeros, 1);
	assert_true(fabs(st.std - sqrt((128.0 * 128 + 127 * 127 + 1) / 4)) < 1e-9);
	const uint8_t u8[] = { 255, 0 };
	assert_int_equal(ct_array_stats(CT_U8, u8, 2, &st, &err), CT_OK);
	assert_true(st.max == 255 && st.min == 0);
	const int32_t i32[] = { -70000, 70000, 3 };
	assert_int_equal(ct_array_stats(CT_I32, i32, 3, &st, &err), CT_OK);
	assert_true(st.min == -70000 && st.max == 70000 && st.mean == 1);
	const uint64_t u64[] = { UINT64_MAX };
	assert_int_equal(ct_array_stats(CT_U64, u64, 1, &st, &err), CT_OK);
	assert_true(st.max > 1.8e19); /* not wrapped to -1 */
	const int64_t i64[] = { INT64_MIN, 0 };
	assert_int_equal(ct_array_stats(CT_I64, i64, 2, &st, &err), CT_OK);
	assert_true(st.min < -9.2e18);
}

/* Values far from zero with a small spread, over several chunks: a naive
 * sum-of-squares in double would lose the variance. */
static void test_stats_precision(void **state)
{
	(void)state;
	enum { N = 5001 };
	double *v = malloc(N * sizeof(*v));
	assert_non_null(v);
	for (int i = 0; i < N; i++)
		v[i] = 1e9 + (i % 2);
	ct_error err;
	ct_stats st;
	assert_int_equal(ct_array_stats(CT_F64, v, N, &st, &err), CT_OK);
	double mean = 1e9 + 2500.0 / N, var = (2500.0 / N) * (2501.0 / N);
	assert_true(fabs(st.mean - mean) < 1e-6);
	assert_true(fabs(st.std - sqrt(var)) < 1e-6);
	free(v);
}

static void test_stats_unsupported_and_tensor(void **state)
{
	(void)state;
	ct_error err;
	ct_stats st;
	const uint8_t b[2] = { 0 };
	assert_false(ct_stats_supported(CT_F4));
	assert_false(ct_stats_supported(CT_C64));
	assert_true(ct_stats_supported(CT_BOOL));
	assert_int_equal(ct_array_stats(CT_F4, b, 2, &st, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "F4"));

	/* through a file: the tensor's own bytes, errors naming it */
	const tspec s[] = {
		{ "a.weight", CT_F32, 2, { 2, 3 }, NULL },
		{ "c.weight", CT_C64, 1, { 2 }, NULL },
	};
	fixture fx;
	make(&fx, s, 2, NULL);
	assert_int_equal(ct_tensor_stats(tref(&fx, "a.weight")->t, &st, &err), CT_OK);
	assert_int_equal(st.count, 6);
	assert_int_equal(st.zeros, 6);
	assert_int_equal(ct_tensor_stats(tref(&fx, "c.weight")->t, &st, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "c.weight"));
	release(&fx);
}

/* ---------------------------------------------------------------- config */

static ct_qconfig *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	assert_non_null(j);
	ct_qconfig *c = NULL;
	ct_error err;
	if (ct_qconfig_parse(j, "test", &c, &err) != CT_OK)
		fail_msg("%s", err.msg);
	json_decref(j);
	return c;
}

static void test_config_summary(void **state)
{
	(void)state;
	ct_qconfig *c = parse(W4A16);
	char *s = ct_describe_qconfig(c);
	assert_non_null(s);
	assert_string_equal(s, "pack-quantized: int4 symmetric group 128 → Linear; ignore: lm_head");
	free(s);
	ct_qconfig_free(c);

	c = parse("{\"config_groups\": {\"g\": {\"targets\": [\"Linear\"], \"weights\": "
		  "{\"num_bits\": 8, \"strategy\": \"channel\"}, \"input_activations\": "
		  "{\"num_bits\": 8, \"strategy\": \"token\", \"dynamic\": true}}}, "
		  "\"format\": \"int-quantized\", \"ignore\": [\"a\", \"b\", \"c\", \"d\", "
		  "\"e\", \"f\", \"g\", \"h\"], \"sparsity_config\": {\"format\": "
		  "\"sparse-24-bitmask\", \"sparsity_structure\": \"2:4\", \"targets\": "
		  "[\"Linear\"], \"ignore\": [\"lm_head\"]}}");
	s = ct_describe_qconfig(c);
	assert_non_null(s);
	assert_string_equal(s, "int-quantized: int8 symmetric per-channel, input int8 symmetric "
			    "per-token dynamic → Linear; ignore: a, b, c, d, e, f, … 2 more\n"
			    "sparse-24-bitmask: 2:4 sparsity → Linear; ignore: lm_head");
	free(s);
	ct_qconfig_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense),
		cmocka_unit_test(test_fake_quant),
		cmocka_unit_test(test_int_quantized),
		cmocka_unit_test(test_float_quantized),
		cmocka_unit_test(test_mxfp8),
		cmocka_unit_test(test_pack_quantized),
		cmocka_unit_test(test_nvfp4_mxfp4),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_marlin24),
		cmocka_unit_test(test_stats_f32),
		cmocka_unit_test(test_stats_narrow_floats),
		cmocka_unit_test(test_stats_ints),
		cmocka_unit_test(test_stats_precision),
		cmocka_unit_test(test_stats_unsupported_and_tensor),
		cmocka_unit_test(test_config_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
