/* test_serving.c - the vLLM rule table is well formed. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_severity_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
