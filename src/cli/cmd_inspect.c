/* cmd_inspect.c - `ctensors inspect`: what a checkpoint holds. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

typedef struct inspect_args {
	const cli_command *self;
	bool json, tensors, stats;
} inspect_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	inspect_args *a = ctx;
	(void)arg;
	switch (id) {
	case OPT_JSON: a->json = true; break;
	case OPT_TENSORS: a->tensors = true; break;
	case OPT_STATS: a->stats = true; break;
	}
	return EXIT_OK;
}

static int print_json(const ct_checkpoint *ck)
{
	json_t *doc = json_object();
	json_t *arr = json_array();
	uint64_t bytes = 0, params = 0;
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		json_t *o = json_object();
		json_t *shape = json_array();
		for (int d = 0; d < t->ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		json_object_set_new(o, "name", json_string(t->name));
		json_object_set_new(o, "dtype", json_string(ct_dtype_name(t->dtype)));
		json_object_set_new(o, "shape", shape);
		json_object_set_new(o, "bytes", json_integer((json_int_t)(t->end - t->begin)));
		json_object_set_new(o, "file", json_string(ck->shard_names[ck->tensors[i].shard]));
		json_array_append_new(arr, o);
		bytes += t->end - t->begin;
		params += t->nelem;
	}
	json_object_set_new(doc, "schema", json_integer(1));
	json_object_set_new(doc, "tensors", arr);
	json_object_set(doc, "metadata", ck->shards[0]->metadata ? ck->shards[0]->metadata :
			json_object());
	json_t *totals = json_object();
	json_object_set_new(totals, "tensors", json_integer((json_int_t)ck->n_tensors));
	json_object_set_new(totals, "bytes", json_integer((json_int_t)bytes));
	json_object_set_new(totals, "parameters", json_integer((json_int_t)params));
	json_object_set_new(doc, "totals", totals);
	char *s = ct_pyjson_dumps(doc, true);
	json_decref(doc);
	if (!s)
		return EXIT_SYSTEM;
	puts(s);
	free(s);
	return EXIT_OK;
}

int cmd_inspect(int argc, char **argv, const cli_command *self)
{
	inspect_args a = { .self = self };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (argc - optind != 1)
		return cli_usage(self, "expected one CHECKPOINT");
	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL;
	int rc = ct_ckpt_open(argv[optind], &ck, &err);
	if (rc)
		return cli_fail(&err);
	if (a.json) {
		st = print_json(ck);
	} else {
		for (size_t i = 0; i < ck->n_tensors; i++) {
			const ct_tensor *t = ck->tensors[i].t;
			cli_put_safe(stdout, t->name);
			printf("  %s [", ct_dtype_name(t->dtype));
			for (int d = 0; d < t->ndim; d++)
				printf("%s%" PRIu64, d ? ", " : "", t->shape[d]);
			printf("]\n");
		}
	}
	ct_ckpt_close(ck);
	return st;
}
