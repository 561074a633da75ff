/*
 * stdump - one line per tensor of a checkpoint (file, directory or index):
 * "NAME DTYPE [SHAPE] SHARD", plus the value for one-element float tensors.
 *
 *   stdump CHECKPOINT
 */
#include <inttypes.h>
#include <stdio.h>

#include "checkpoint.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stdump CHECKPOINT\n");
		return 2;
	}
	ct_error err;
	ct_checkpoint *ck;
	if (ct_ckpt_open(argv[1], &ck, &err)) {
		fprintf(stderr, "stdump: %s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < ck->n_tensors; i++) {
		const ct_tref *r = &ck->tensors[ck->by_name[i]];
		const ct_tensor *t = r->t;
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
