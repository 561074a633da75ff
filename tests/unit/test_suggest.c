/* test_suggest.c - edit distance and the "did you mean" candidates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "suggest.h"

static void test_distance(void **state)
{
	(void)state;
	assert_int_equal(ct_edit_distance("", ""), 0);
	assert_int_equal(ct_edit_distance("abc", ""), 3);
	assert_int_equal(ct_edit_distance("quantise", "quantize"), 1);
	assert_int_equal(ct_edit_distance("shceme", "scheme"), 1);      /* transposition */
	assert_int_equal(ct_edit_distance("W4A16", "w4a16"), 0);        /* case */
	assert_int_equal(ct_edit_distance("sparse_24", "sparse-24"), 0); /* _ is - */
	assert_int_equal(ct_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(ct_edit_distance("ab", "ba"), 1);
	/* beyond the names' length limit: the longer length, never a read past */
	char big[200];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ct_edit_distance(big, "a"), sizeof(big) - 1);
}

static void test_suggest(void **state)
{
	(void)state;
	static const char *const cmds[] = { "inspect", "quantize", "compress", "decompress",
					    "verify", "completion", "help" };
	char buf[128];
	assert_true(ct_suggest("quantise", cmds, 7, NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "'quantize'");
	assert_true(ct_suggest("inspct", cmds, 7, "--", buf, sizeof(buf)));
	assert_string_equal(buf, "'--inspect'");
	assert_false(ct_suggest("frobnicate", cmds, 7, NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "");
	/* a one-letter slip in a short word still counts */
	assert_true(ct_suggest("hepl", cmds, 7, NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "'help'");
	/* ties: every nearest name, in the table's order, each once */
	static const char *const dt[] = { "bf16", "f16", "f32", "f16" };
	assert_true(ct_suggest("f36", dt, 4, NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "'f16' or 'f32'");
	/* a buffer too small is cut, never overrun */
	char tiny[6];
	assert_true(ct_suggest("f36", dt, 4, NULL, tiny, sizeof(tiny)));
	assert_int_equal(strlen(tiny), 5);
	assert_false(ct_suggest(NULL, dt, 4, NULL, buf, sizeof(buf)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_suggest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
