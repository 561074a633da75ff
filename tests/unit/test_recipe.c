/* test_recipe.c - YAML as PyYAML reads it, and recipes into configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
	json_t *j = yaml("a: 8\nb: -3\nc: 0.5\nd: 1.0e-3\ne: true\nf: no\ng: ~\nh: null\n"
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

/* YAML 1.1 as PyYAML's SafeLoader resolves plain scalars (resolver.py:
 * the bool, int and float implicit resolvers; constructor.py:
 * construct_yaml_int / construct_yaml_float). */
static void test_pyyaml_scalars(void **state)
{
	(void)state;
	static const struct { const char *text; long long i; } ints[] = {
		{ "0200", 128 }, { "-010", -8 }, { "0b101", 5 }, { "0x1F", 31 }, { "1_000", 1000 },
		{ "190:20:30", 685230 }, { "+7", 7 }, { "0", 0 }, { "0_", 0 }, { "-0b11", -3 },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		char doc[64];
		snprintf(doc, sizeof(doc), "v: %s\n", ints[i].text);
		json_t *j = yaml(doc);
		json_t *v = json_object_get(j, "v");
		if (!json_is_integer(v) || json_integer_value(v) != ints[i].i)
			fail_msg("%s: expected the integer %lld", ints[i].text, ints[i].i);
		json_decref(j);
	}
	static const struct { const char *text; double d; } reals[] = {
		{ "1.0e+5", 1e5 }, { "1.", 1.0 }, { ".5", 0.5 }, { "-2.5", -2.5 }, { "1_0.5", 10.5 },
		{ "6.8523015e-03", 6.8523015e-03 },
	};
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		char doc[64];
		snprintf(doc, sizeof(doc), "v: %s\n", reals[i].text);
		json_t *j = yaml(doc);
		json_t *v = json_object_get(j, "v");
		if (!json_is_real(v) || json_real_value(v) != reals[i].d)
			fail_msg("%s: expected the float %g", reals[i].text, reals[i].d);
		json_decref(j);
	}
	/* strings to PyYAML: no dot, an unsigned exponent, 08 (not octal), y/n */
	static const char *const strs[] = { "1e5", "1.0e5", "1e-3", "08", "0o10", "y", "n", "-.5",
					    "0x", "1:60", ".inf", "Yes please" };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		char doc[64];
		snprintf(doc, sizeof(doc), "v: %s\n", strs[i]);
		json_t *j = yaml(doc);
		json_t *v = json_object_get(j, "v");
		if (!json_is_string(v) || strcmp(json_string_value(v), strs[i]) != 0)
			fail_msg("%s: expected the string", strs[i]);
		json_decref(j);
	}
	static const char *const trues[] = { "yes", "Yes", "YES", "on", "On", "ON", "true", "True",
					     "TRUE" };
	static const char *const falses[] = { "no", "No", "NO", "off", "Off", "OFF", "false",
					      "False", "FALSE" };
	for (size_t i = 0; i < 9; i++) {
		char doc[64];
		snprintf(doc, sizeof(doc), "t: %s\nf: %s\n", trues[i], falses[i]);
		json_t *j = yaml(doc);
		assert_true(json_is_true(json_object_get(j, "t")));
		assert_true(json_is_false(json_object_get(j, "f")));
		json_decref(j);
	}
	/* explicit tags and quotes keep the text */
	json_t *j = yaml("a: !!str 0200\nb: '0200'\nc: !!int \"12\"\nd: !!float 3\n");
	assert_string_equal(json_string_value(json_object_get(j, "a")), "0200");
	assert_string_equal(json_string_value(json_object_get(j, "b")), "0200");
	assert_int_equal(json_integer_value(json_object_get(j, "c")), 12);
	assert_true(json_is_real(json_object_get(j, "d")));
	json_decref(j);
	/* merge keys (constructor.py:SafeConstructor.flatten_mapping): the
	 * mapping's own keys win, then the merged ones in order */
	j = yaml("base: &b {num_bits: 4, type: int, symmetric: true}\n"
		 "other: &o {num_bits: 2, strategy: group}\n"
		 "w: {<<: [*b, *o], symmetric: false}\n");
	json_t *w = json_object_get(j, "w");
	assert_int_equal(json_integer_value(json_object_get(w, "num_bits")), 4);
	assert_true(json_is_false(json_object_get(w, "symmetric")));
	assert_string_equal(json_string_value(json_object_get(w, "type")), "int");
	assert_string_equal(json_string_value(json_object_get(w, "strategy")), "group");
	assert_null(json_object_get(w, "<<"));
	json_decref(j);
	/* anchors and aliases as PyYAML shares them */
	j = yaml("x: &t [Linear]\ny: *t\n");
	assert_true(json_equal(json_object_get(j, "x"), json_object_get(j, "y")));
	json_decref(j);
}

/* Refused fast: a second document (PyYAML's safe_load takes exactly one:
 * composer.py:get_single_node), aliases expanding past the cap, nesting
 * past the depth limit (checked per event, before the rest is read). */
static void test_yaml_bounds(void **state)
{
	(void)state;
	json_t *j = NULL;
	ct_error err;
	ct_error_clear(&err);
	assert_int_equal(ct_yaml_to_json("a: 1\n---\nb: 2\n", 14, "t.yaml", &j, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "a second YAML document"));
	assert_null(j);
	/* a 400-byte billion laughs */
	char bomb[1024] = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
	for (char c = 'b'; c <= 'i'; c++) {
		char line[96];
		snprintf(line, sizeof(line), "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c,
			 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
		strcat(bomb, line);
	}
	ct_error_clear(&err);
	assert_int_equal(ct_yaml_to_json(bomb, strlen(bomb), "t.yaml", &j, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "expands to more than"));
	assert_null(j);
	size_t n = 100000;
	char *deep = malloc(n + 1);
	assert_non_null(deep);
	memset(deep, '[', n);
	deep[n] = '\0';
	ct_error_clear(&err);
	assert_int_equal(ct_yaml_to_json(deep, n, "t.yaml", &j, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "nested deeper than"));
	free(deep);
	/* an alias to an anchor not complete before it (recursive) */
	ct_error_clear(&err);
	assert_int_equal(ct_yaml_to_json("a: &a [*a]\n", 11, "t.yaml", &j, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "alias"));
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
	json_t *r = yaml("s_stage:\n  m_modifiers:\n    QuantizationModifier:\n      scheme: W4A16\n"
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
	/* mixin.py:resolve_quantization_config: "Please specify either
	 * `scheme` or `config_groups`" */
	r = yaml("QuantizationModifier: {scheme: W4A16, config_groups: {}}\n");
	assert_int_equal(ct_recipe_to_qconfig(r, "t.yaml", &q, &err), CT_EUSAGE);
	assert_non_null(strstr(err.msg, "one of scheme and config_groups, not both"));
	json_decref(r);
	/* recipe.py:Recipe.from_dict reads <x>_stage -> <y>_modifiers only;
	 * anything else is named, with the nearest valid key */
	static const struct { const char *text, *msg; } typos[] = {
		{ "quant_stage:\n  quant_modifers:\n    QuantizationModifier: {scheme: W4A16}\n",
		  "quant_modifers: not a modifier group (a stage holds <name>_modifiers keys); "
		  "did you mean 'quant_modifiers'?" },
		{ "quant_stage:\n  quant_modifiers:\n    QuantizationModifer: {scheme: W4A16}\n",
		  "\"QuantizationModifer\" is not an llm-compressor modifier; did you mean "
		  "'QuantizationModifier'?" },
		{ "quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16, "
		  "ignroe: [lm_head]}\n", "unknown argument \"ignroe\"; did you mean 'ignore'?" },
		{ "quant_stag:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16}\n",
		  "quant_stag: not a recipe key (expected <name>_stage, a modifier or args); did "
		  "you mean 'quant_stage'?" },
		{ "quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A61}\n",
		  "did you mean 'W4A16'?" },
		{ "stage_a:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16}\n",
		  "stage_a: not a recipe key" },
		{ "quant_stage: {}\n", "no modifier in the recipe" },
		{ "quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {targets: Linear}\n",
		  "no scheme and no config_groups: it quantizes nothing" },
		{ "- 3\n", "expected a modifier mapping" },
	};
	for (size_t i = 0; i < sizeof(typos) / sizeof(typos[0]); i++) {
		r = yaml(typos[i].text);
		ct_error_clear(&err);
		int rc = ct_recipe_to_qconfig(r, "t.yaml", &q, &err);
		if (rc != CT_EUSAGE || !strstr(err.msg, typos[i].msg))
			fail_msg("recipe %zu: rc %d, \"%s\" (expected 2, \"%s\")", i, rc, err.msg,
				 typos[i].msg);
		assert_null(q);
		json_decref(r);
	}
	/* only a kv_cache_scheme: refused for needing calibration data
	 * (mixin.py:_set_requires_calibration_data) */
	r = yaml("quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      "
		 "kv_cache_scheme: {num_bits: 8, type: float, symmetric: true, strategy: tensor}\n");
	ct_error_clear(&err);
	assert_int_equal(ct_recipe_to_qconfig(r, "t.yaml", &q, &err), CT_EINPUT);
	assert_non_null(strstr(err.msg, "kv_cache_scheme needs calibration data"));
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_pyyaml_scalars),
		cmocka_unit_test(test_yaml_bounds),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_recipe_to_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
