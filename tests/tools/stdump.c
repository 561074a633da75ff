/*
 * stdump - one line per tensor of a checkpoint (file, directory or index):
 * "NAME DTYPE [SHAPE] SHARD", plus the value for one-element float tensors;
 * with -o, "NAME FILE-OFFSET NBYTES" instead (where its bytes are).
 *
 *   stdump [-o] CHECKPOINT
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"

int main(int argc, char **argv)
{
	bool offsets = argc == 3 && strcmp(argv[1], "-o") == 0;
	if (argc != 2 + offsets) {
		fprintf(stderr, "usage: stdump [-o] CHECKPOINT\n");
		return 2;
	}
	ct_error err;
	ct_checkpoint *ck;
	if (ct_ckpt_open(argv[1 + offsets], &ck, &err)) {
		fprintf(stderr, "stdump: %s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tref *r = &ck->tensors[ck->by_name[i]];
		const ct_tensor *t = r->t;
		if (offsets) {
			printf("%s %" PRIu64 " %" PRIu64 "\n", t->name,
			       8 + ck->shards[r->shard]->header_len + t->begin, t->end - t->begin);
			continue;
		}
		printf("%s %s [", t->name, ct_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			printf("%s%" PRIu64, d ? "," : "", t->shape[d]);
		printf("] %s", ck->shard_names[r->shard]);
		if (t->nelem == 1 && ct_dtype_is_float(t->dtype))
			printf(" %.9g", (double)ct_load_f32(t->dtype, t->data, 0));
		printf("\n");
	}
	ct_ckpt_close(ck);
	return 0;
}
