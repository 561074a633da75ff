/* test_recipe.c - YAML as PyYAML reads it, and recipes into configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "recipe.h"

static json_t *yaml(const char *text)
{
	json_t *j = NULL;
	ct_error err;
	ct_error_clear(&err);
	if (ct_yaml_to_json(text, strlen(text), "t.yaml", &j, &err) != CT_OK)
		fail_msg("%s", err.msg);
	return j;
}

static void test_scalars(void **state)
{
	(void)state;
	json_t *j = yaml("a: 8\nb: -3\nc: 0.5\nd: 1e-3\ne: true\nf: no\ng: ~\nh: null\n"
			 "i: '8'\nj: Linear\nk: re:.*mlp\\.gate$\nl: .inf\nm: \"true\"\n");
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 8);
	assert_int_equal(json_integer_value(json_object_get(j, "b")), -3);
	assert_true(json_real_value(json_object_get(j, "c")) == 0.5);
	assert_true(json_real_value(json_object_get(j, "d")) == 1e-3);
	assert_true(json_is_true(json_object_get(j, "e")));
	assert_true(json_is_false(json_object_get(j, "f")));
	assert_true(json_is_null(json_object_get(j, "g")));
	assert_true(json_is_null(json_object_get(j, "h")));
	assert_string_equal(json_string_value(json_object_get(j, "i")), "8");
	assert_string_equal(json_string_value(json_object_get(j, "j")), "Linear");
	assert_string_equal(json_string_value(json_object_get(j, "k")), "re:.*mlp\\.gate$");
	assert_string_equal(json_string_value(json_object_get(j, "l")), ".inf");
	assert_string_equal(json_string_value(json_object_get(j, "m")), "true");
	json_decref(j);
}

static void test_bad_yaml(void **state)
{
	(void)state;
	static const char *const bad[] = { "a: [1, 2\n", "a: 1\na: 2\n", "? [x]\n: 1\n", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = NULL;
		ct_error err;
		ct_error_clear(&err);
		assert_int_equal(ct_yaml_to_json(bad[i], strlen(bad[i]), "t.yaml", &j, &err),
				 CT_EINPUT);
		assert_null(j);
		assert_non_null(strstr(err.msg, "t.yaml"));
	}
}

static void test_recipe_to_config(void **state)
{
	(void)state;
	json_t *r = yaml("s_stage:\n  m:\n    QuantizationModifier:\n      scheme: W4A16\n"
			 "      ignore: lm_head\n");
	assert_true(ct_recipe_is_recipe(r));
	json_t *q = NULL;
	ct_error err;
	ct_error_clear(&err);
	assert_int_equal(ct_recipe_to_qconfig(r, "t.yaml", &q, &err), CT_OK);
	json_t *g = json_object_get(json_object_get(q, "config_groups"), "group_0");
	assert_non_null(g);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g, "targets"), 0)),
			    "Linear");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(g, "weights"),
							     "num_bits")), 4);
	assert_string_equal(json_string_value(json_array_get(json_object_get(q, "ignore"), 0)),
			    "lm_head");
	json_decref(q);
	json_decref(r);
	/* a quantization_config is no recipe */
	r = yaml("config_groups: {g: {targets: [Linear], weights: {num_bits: 4}}}\n");
	assert_false(ct_recipe_is_recipe(r));
	json_decref(r);
	r = yaml("- GPTQModifier: {scheme: W4A16}\n");
	assert_int_equal(ct_recipe_to_qconfig(r, "t.yaml", &q, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "GPTQModifier needs calibration"));
	json_decref(r);
	r = yaml("QuantizationModifier: {scheme: W4A16, config_groups: {}}\n");
	assert_int_equal(ct_recipe_to_qconfig(r, "t.yaml", &q, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "exactly one of scheme and config_groups"));
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_recipe_to_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
