/*
 * stcmp - compares two safetensors files tensor by tensor (names, dtypes,
 * shapes, bytes), ignoring __metadata__ and layout. Exit 0 when equal, 1
 * when not (each difference on stderr), 2 on a read error.
 *
 *   stcmp A B
 */
#include <stdio.h>
#include <string.h>

#include "safetensors.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: stcmp A B\n");
		return 2;
	}
	ct_error err;
	ct_st_file *a = NULL, *b = NULL;
	if (ct_st_open(argv[1], &a, &err) || ct_st_open(argv[2], &b, &err)) {
		fprintf(stderr, "stcmp: %s\n", err.msg);
		ct_st_close(a);
		return 2;
	}
	int diffs = 0;
	for (size_t i = 0; i < a->n_tensors; i++) {
		const ct_tensor *x = &a->tensors[i];
		const ct_tensor *y = ct_st_find(b, x->name);
		if (!y) {
			fprintf(stderr, "%s: only in %s\n", x->name, argv[1]);
			diffs++;
			continue;
		}
		bool same = x->dtype == y->dtype && x->ndim == y->ndim &&
			    memcmp(x->shape, y->shape, sizeof(x->shape)) == 0;
		if (!same) {
			fprintf(stderr, "%s: dtype or shape differ\n", x->name);
			diffs++;
		} else if (memcmp(x->data, y->data, x->end - x->begin) != 0) {
			fprintf(stderr, "%s: bytes differ\n", x->name);
			diffs++;
		}
	}
	for (size_t i = 0; i < b->n_tensors; i++) {
		if (!ct_st_find(a, b->tensors[i].name)) {
			fprintf(stderr, "%s: only in %s\n", b->tensors[i].name, argv[2]);
			diffs++;
		}
	}
	ct_st_close(a);
	ct_st_close(b);
	return diffs ? 1 : 0;
}
