/*
 * fuzz_qconfig.c - libFuzzer target for the quantization_config reader.
 *
 * Input: JSON text (a quantization_config object or a whole config.json).
 * Exercised, as the CLI does with a config it reads or writes:
 *   - ct_pyjson_dumps of the parsed JSON (how config.json is rewritten):
 *     its output must read back equal to what was dumped;
 *   - ct_qconfig_parse, ct_qconfig_to_json, ct_qconfig_compile and
 *     ct_qmatch_group over typical module names and the config's own
 *     pattern strings;
 *   - ct_qconfig_normalize; a normalized config is what ctensors writes into
 *     config.json, so its to_json must parse and normalize again to the same
 *     JSON (ctensors must read back what it writes);
 *   - the mutators (--group-size, --ignore, --targets) followed by the same
 *     round trip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ct_error.h"
#include "pyjson.h"
#include "qconfig.h"

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_qconfig: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);
	return 0;
}

static const char *const module_names[] = {
	"lm_head",
	"model.embed_tokens",
	"model.layers.0.self_attn.q_proj",
	"model.layers.0.self_attn.k_proj",
	"model.layers.0.mlp.gate_proj",
	"model.layers.1.mlp.down_proj",
	"model.layers.31.mlp.experts.7.w1",
	"model.layers.0.mlp.gate",
	"model.visual.blocks.0.attn.qkv",
	"",
};
#define N_MODULES (sizeof(module_names) / sizeof(module_names[0]))
/* Pattern strings of the config also tried as module names (capped). */
#define MAX_EXTRA_SUBJECTS 16

static char *dump_checked(const json_t *v, bool pretty)
{
	char *s = ct_pyjson_dumps(v, pretty);
	if (!s)
		return NULL; /* deeper than CT_PYJSON_MAX_DEPTH (or out of memory) */
	json_error_t jerr;
	json_t *back = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	CHECK(back, "ct_pyjson_dumps wrote JSON that does not parse: %s: %.200s", jerr.text,
	      s);
	CHECK(json_equal(back, (json_t *)v), "ct_pyjson_dumps changed a value: %.300s", s);
	json_decref(back);
	return s;
}

static void try_match(const ct_qconfig *c)
{
	ct_qmatch *m = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_qconfig_compile(c, &m, &err);
	CHECK(rc == CT_OK, "a parsed config does not compile: %s", err.msg);
	for (size_t i = 0; i < N_MODULES; i++) {
		for (int cls = 0; cls < CT_MOD_COUNT; cls++) {
			int g = ct_qmatch_group(m, module_names[i], (ct_modclass)cls);
			CHECK(g >= -1 && g < (int)c->n_groups, "group %d of %zu", g, c->n_groups);
			(void)ct_qmatch_ignored(m, module_names[i], (ct_modclass)cls);
		}
	}
	size_t extra = 0;
	for (size_t g = 0; g < c->n_groups && extra < MAX_EXTRA_SUBJECTS; g++)
		for (size_t t = 0; t < c->groups[g].n_targets && extra < MAX_EXTRA_SUBJECTS;
		     t++, extra++)
			(void)ct_qmatch_group(m, c->groups[g].targets[t], CT_MOD_LINEAR);
	for (size_t i = 0; i < c->n_ignore && extra < MAX_EXTRA_SUBJECTS; i++, extra++)
		(void)ct_qmatch_group(m, c->ignore[i], CT_MOD_EMBEDDING);
	ct_qmatch_free(m);
}

/* c is normalized: what ctensors writes must read back the same. */
static void written_reads_back(const ct_qconfig *c)
{
	json_t *out = ct_qconfig_to_json(c);
	CHECK(out, "to_json of a normalized config failed");
	char *text = dump_checked(out, true);
	CHECK(text, "a written config is not serializable");
	free(text);
	ct_qconfig *c2 = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_qconfig_parse(out, "written", &c2, &err);
	CHECK(rc == CT_OK, "ctensors cannot read the config it writes: %s", err.msg);
	rc = ct_qconfig_normalize(c2, &err);
	CHECK(rc == CT_OK, "the config ctensors writes does not normalize: %s", err.msg);
	json_t *out2 = ct_qconfig_to_json(c2);
	CHECK(out2 && json_equal(out, out2), "written config changes when read back");
	json_decref(out2);
	ct_qconfig_free(c2);
	json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return 0;
	free(dump_checked(j, true));
	free(dump_checked(j, false));

	ct_qconfig *c = NULL;
	ct_error err;
	ct_error_clear(&err);
	int rc = ct_qconfig_parse(j, "config.json", &c, &err);
	if (rc != CT_OK) {
		CHECK(c == NULL, "output set on failure");
		CHECK(rc == CT_EINPUT, "unexpected code %d: %s", rc, err.msg);
		CHECK(err.msg[0], "failure without a message");
		json_decref(j);
		return 0;
	}
	json_t *out = ct_qconfig_to_json(c);
	CHECK(out, "to_json of a parsed config failed");
	free(dump_checked(out, true));
	json_decref(out);
	try_match(c);

	rc = ct_qconfig_normalize(c, &err);
	if (rc == CT_OK) {
		CHECK(c->n_groups == 0 || c->format != CT_FMT_NONE, "normalize left no format");
		written_reads_back(c);
		try_match(c);
	} else {
		CHECK(rc == CT_EINPUT && err.msg[0], "normalize: code %d: %s", rc, err.msg);
	}

	/* The CLI's mutators, chosen by the input's length (cheap and stable). */
	static const int64_t sizes[] = { 16, 32, 128, 7, 1, 2147483647 };
	int64_t gs = sizes[size % (sizeof(sizes) / sizeof(sizes[0]))];
	if (ct_qconfig_set_group_size(c, gs, &err) != CT_OK)
		CHECK(err.code == CT_EUSAGE && err.msg[0], "set_group_size: %s", err.msg);
	static const char *const ign[] = { "lm_head", "re:.*gate$", "re:model\\.visual\\..*" };
	if (ct_qconfig_add_ignore(c, ign, 3, &err) != CT_OK)
		CHECK(err.msg[0], "add_ignore failed without a message");
	if (size & 1) {
		static const char *const tg[] = { "Linear", "re:.*proj$" };
		if (ct_qconfig_set_targets(c, tg, 2, &err) != CT_OK)
			CHECK(err.msg[0], "set_targets failed without a message");
	}
	if (ct_qconfig_normalize(c, &err) == CT_OK)
		written_reads_back(c);
	try_match(c);

	ct_qconfig_free(c);
	json_decref(j);
	return 0;
}
