/* test_serving.c - the vLLM rule table is well formed, and the decisions
 * beside it give what vLLM 9aaf83ef's source gives (each case names the
 * function it was read from, under vllm/model_executor/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "serving.h"

static void test_rule_table(void **state)
{
	(void)state;
	assert_true(ct_vllm_n_rules >= 10);
	for (size_t i = 0; i < ct_vllm_n_rules; i++) {
		const ct_vllm_rule *r = &ct_vllm_rules[i];
		assert_non_null(r->id);
		assert_int_equal(strncmp(r->id, "vllm-", 5), 0);
		assert_true(r->checks && *r->checks);
		assert_true(r->fix && *r->fix);
		/* every rule says where in vLLM it was read */
		assert_true(r->source && strchr(r->source, '/') && strchr(r->source, '.'));
		/* unverified rules are never failures */
		if (r->unverified)
			assert_int_equal(r->severity, CT_SEV_NOTE);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(ct_vllm_rules[j].id, r->id);
	}
}

static void test_severity_names(void **state)
{
	(void)state;
	assert_string_equal(ct_severity_name(CT_SEV_ERROR), "error");
	assert_string_equal(ct_severity_name(CT_SEV_WRONG), "wrong");
	assert_string_equal(ct_severity_name(CT_SEV_NOTE), "note");
}

static ct_mp_config mp(int bits, bool zp, int64_t group, uint64_t k, uint64_t n, bool fp16)
{
	ct_mp_config c = { .k_full = k, .k_part = k, .n_part = n, .bits = bits, .zp = zp,
			   .group = group, .fp16 = fp16 };
	return c;
}

/* kernels/linear/__init__.py: choose_mp_linear_kernel over CutlassW4A8, Machete,
 * AllSpark, Marlin, Conch, Exllama, each can_implement in mixed_precision/ */
static void test_mp_kernel_order(void **state)
{
	(void)state;
	char why[2048];
	ct_mp_config c = mp(4, false, 128, 4096, 4096, false);
	/* machete.py: is_device_capability(90) only; marlin.py from 75 */
	assert_int_equal(ct_vllm_mp_kernel(&c, 80, why, sizeof(why)), CT_MPK_MARLIN);
	assert_int_equal(ct_vllm_mp_kernel(&c, 90, why, sizeof(why)), CT_MPK_MACHETE);
	assert_int_equal(ct_vllm_mp_kernel(&c, 100, why, sizeof(why)), CT_MPK_MARLIN);
	assert_int_equal(ct_vllm_mp_kernel(&c, 70, why, sizeof(why)), CT_MPK_NONE);
	/* machete_utils.py: uint8 with zero points; marlin_utils.py: uint4 only */
	c = mp(8, true, 128, 4096, 4096, false);
	assert_int_equal(ct_vllm_mp_kernel(&c, 80, why, sizeof(why)), CT_MPK_NONE);
	assert_non_null(strstr(why, "ConchLinearKernel"));
	assert_int_equal(ct_vllm_mp_kernel(&c, 90, why, sizeof(why)), CT_MPK_MACHETE);
	c = mp(4, true, 128, 4096, 4096, false);
	assert_int_equal(ct_vllm_mp_kernel(&c, 80, why, sizeof(why)), CT_MPK_MARLIN);
	/* allspark_utils.py: Ampere, channelwise uint8b128 */
	c = mp(8, false, -1, 4096, 4096, false);
	assert_int_equal(ct_vllm_mp_kernel(&c, 86, why, sizeof(why)), CT_MPK_ALLSPARK);
	assert_int_equal(ct_vllm_mp_kernel(&c, 90, why, sizeof(why)), CT_MPK_MACHETE);
	assert_int_equal(ct_vllm_mp_kernel(&c, 120, why, sizeof(why)), CT_MPK_MARLIN);
	c = mp(4, false, -1, 4096, 4096, false);
	assert_int_equal(ct_vllm_mp_kernel(&c, 86, why, sizeof(why)), CT_MPK_MARLIN);
	/* MARLIN_SUPPORTED_GROUP_SIZES; exllama.py: float16 only */
	c = mp(4, false, 256, 4096, 4096, false);
	assert_int_equal(ct_vllm_mp_kernel(&c, 80, why, sizeof(why)), CT_MPK_NONE);
	c.fp16 = true;
	assert_int_equal(ct_vllm_mp_kernel(&c, 80, why, sizeof(why)), CT_MPK_EXLLAMA);
	/* verify_marlin_supports_shape: output per GPU % 64, input % 128 */
	c = mp(4, false, 128, 4096, 32, false);
	assert_int_equal(ct_vllm_mp_kernel(&c, 80, why, sizeof(why)), CT_MPK_NONE);
	assert_non_null(strstr(why, "not a multiple of 64"));
	/* cutlass.py: W4A8 with FP8 activations, int4, group 128, bf16 out, sm90 */
	c = mp(4, false, 128, 4096, 4096, false);
	c.int4 = true;
	c.act_fp8 = true;
	assert_int_equal(ct_vllm_mp_kernel(&c, 90, why, sizeof(why)), CT_MPK_CUTLASS_W4A8);
	assert_int_equal(ct_vllm_mp_kernel(&c, 89, why, sizeof(why)), CT_MPK_NONE);
	c.fp16 = true;
	assert_int_equal(ct_vllm_mp_kernel(&c, 90, why, sizeof(why)), CT_MPK_NONE);
	/* compressed_tensors_w4a8_int.py: int4 with 16-bit activations: no CUDA kernel */
	c = mp(4, false, 128, 4096, 4096, true);
	c.int4 = true;
	for (int sm = 75; sm <= 120; sm += 5)
		assert_int_equal(ct_vllm_mp_kernel(&c, sm, why, sizeof(why)), CT_MPK_NONE);
	assert_string_equal(ct_mpkernel_name(CT_MPK_MARLIN), "MarlinLinearKernel");
}

static ct_qargs args(ct_qtype type, int bits, ct_strategy st, int64_t group, ct_dynamic dyn)
{
	ct_qargs a;
	memset(&a, 0, sizeof(a));
	a.type = type;
	a.num_bits = bits;
	a.strategy = st;
	a.symmetric = true;
	a.has_group_size = group > 0;
	a.group_size = group;
	a.dynamic = dyn;
	return a;
}

/* compressed_tensors.py: CompressedTensorsConfig._get_scheme_from_parts */
static void test_scheme_dispatch(void **state)
{
	(void)state;
	ct_qargs w4 = args(CT_QTYPE_INT, 4, CT_STRAT_GROUP, 128, CT_DYN_FALSE);
	ct_qargs a8i = args(CT_QTYPE_INT, 8, CT_STRAT_TOKEN, 0, CT_DYN_TRUE);
	ct_qargs a8f = args(CT_QTYPE_FLOAT, 8, CT_STRAT_TOKEN, 0, CT_DYN_TRUE);
	/* _is_fp8_w4a8_sm90 ignores the activation type */
	assert_int_equal(ct_vllm_scheme(&w4, &a8i, CT_FMT_INT, 90), CT_VS_W4A8_FP8);
	assert_int_equal(ct_vllm_scheme(&w4, &a8f, CT_FMT_INT, 90), CT_VS_W4A8_FP8);
	assert_int_equal(ct_vllm_scheme(&w4, &a8i, CT_FMT_INT, 80), CT_VS_W4A8_INT);
	assert_int_equal(ct_vllm_scheme(&w4, &a8f, CT_FMT_INT, 100), CT_VS_W4A8_INT);
	/* WNA16_SUPPORTED_BITS = [4, 8] */
	assert_int_equal(ct_vllm_scheme(&w4, NULL, CT_FMT_PACK, 80), CT_VS_WNA16);
	ct_qargs w3 = args(CT_QTYPE_INT, 3, CT_STRAT_GROUP, 128, CT_DYN_FALSE);
	assert_int_equal(ct_vllm_scheme(&w3, NULL, CT_FMT_PACK, 80), CT_VS_NONE);
	/* W8A8-FP8 min capability 89, else W8A16-FP8 */
	ct_qargs f8 = args(CT_QTYPE_FLOAT, 8, CT_STRAT_CHANNEL, 0, CT_DYN_FALSE);
	assert_int_equal(ct_vllm_scheme(&f8, &a8f, CT_FMT_FLOAT, 89), CT_VS_W8A8_FP8);
	assert_int_equal(ct_vllm_scheme(&f8, &a8f, CT_FMT_FLOAT, 80), CT_VS_W8A16_FP8);
	assert_int_equal(ct_vllm_scheme(&f8, NULL, CT_FMT_FLOAT, 90), CT_VS_W8A16_FP8);
	assert_false(ct_vllm_wfp8a16_kernel(90));
	assert_true(ct_vllm_wfp8a16_kernel(86));
	assert_int_equal(ct_vscheme_min_capability(CT_VS_W4A4_MXFP4), 80);
	assert_int_equal(ct_vscheme_min_capability(CT_VS_W8A8_FP8), 89);
	/* create_weights: WNA16 registers a zero point when asymmetric */
	w4.symmetric = false;
	assert_true(ct_vscheme_params(CT_VS_WNA16, &w4, NULL) & CT_PB(CT_P_ZP));
	assert_true(ct_vscheme_params(CT_VS_W4A8_FP8, &w4, &a8i) & CT_PB(CT_P_PACKED));
	assert_false(ct_vscheme_params(CT_VS_W4A8_INT, &w4, &a8i) & CT_PB(CT_P_PACKED));
	/* config/model.py: _resolve_auto_dtype: bfloat16 is float16 below sm80 */
	assert_true(ct_vllm_act_fp16("bfloat16", 75));
	assert_false(ct_vllm_act_fp16("bfloat16", 80));
	assert_false(ct_vllm_act_fp16(NULL, 90));
	assert_true(ct_vllm_act_fp16("float16", 90));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_severity_names),
		cmocka_unit_test(test_mp_kernel_order),
		cmocka_unit_test(test_scheme_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
