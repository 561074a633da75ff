/*
 * prune - a pruned copy of a safetensors file, for testing the sparse
 * formats: every 2-D tensor whose name ends in "PATTERN.weight" loses its
 * smallest-magnitude elements: half of each row ("50"), or the two smallest
 * of every four ("2:4"). Other tensors are copied.
 *
 *   prune IN OUT 50|2:4 [PATTERN]     (PATTERN defaults to "", every weight)
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

static const float *sort_vals;

static int by_magnitude(const void *a, const void *b)
{
	float x = fabsf(sort_vals[*(const size_t *)a]), y = fabsf(sort_vals[*(const size_t *)b]);
	return x < y ? -1 : x > y;
}

static void prune_row(ct_dtype dt, uint8_t *row, uint64_t cols, bool two_four)
{
	float *v = malloc(cols * sizeof(float));
	size_t *idx = malloc(cols * sizeof(size_t));
	for (uint64_t c = 0; c < cols; c++) {
		v[c] = ct_load_f32(dt, row, c);
		idx[c] = c;
	}
	sort_vals = v;
	if (two_four) {
		for (uint64_t g = 0; g + 4 <= cols; g += 4) {
			qsort(idx + g, 4, sizeof(size_t), by_magnitude);
			ct_store_f32(dt, row, idx[g], 0.0f);
			ct_store_f32(dt, row, idx[g + 1], 0.0f);
		}
	} else {
		qsort(idx, cols, sizeof(size_t), by_magnitude);
		for (uint64_t k = 0; k < cols / 2; k++)
			ct_store_f32(dt, row, idx[k], 0.0f);
	}
	free(v);
	free(idx);
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5 || (strcmp(argv[3], "50") && strcmp(argv[3], "2:4"))) {
		fprintf(stderr, "usage: prune IN OUT 50|2:4 [PATTERN]\n");
		return 2;
	}
	bool two_four = strcmp(argv[3], "2:4") == 0;
	ct_error err;
	ct_st_file *f;
	if (ct_st_open(argv[1], &f, &err)) {
		fprintf(stderr, "prune: %s\n", err.msg);
		return 2;
	}
	ct_st_builder *b = ct_st_builder_new();
	int *ids = calloc(f->n_tensors + 1, sizeof(int));
	for (size_t i = 0; i < f->n_tensors; i++)
		ids[i] = ct_st_builder_add(b, f->tensors[i].name, f->tensors[i].dtype,
					   f->tensors[i].ndim, f->tensors[i].shape, &err);
	int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	ct_sink sink = { fd_pwrite, &fd };
	int rc = fd < 0 || ct_st_builder_meta(b, "format", "pt", &err) ||
		 ct_st_builder_layout(b, false, &err);
	for (size_t i = 0; !rc && i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		size_t n = (size_t)(t->end - t->begin);
		uint8_t *copy = malloc(n + 1);
		memcpy(copy, t->data, n);
		char suffix[256];
		snprintf(suffix, sizeof(suffix), "%s.weight", argc == 5 ? argv[4] : "");
		size_t len = strlen(t->name), sl = strlen(suffix);
		if (t->ndim == 2 && len > sl && strcmp(t->name + len - sl, suffix) == 0 &&
		    ct_dtype_size(t->dtype) >= 2) {
			size_t esz = ct_dtype_size(t->dtype);
			for (uint64_t r = 0; r < t->shape[0]; r++)
				prune_row(t->dtype, copy + r * t->shape[1] * esz, t->shape[1], two_four);
		}
		rc = ct_st_write(b, &sink, ids[i], copy, n, &err);
		free(copy);
	}
	if (!rc)
		rc = ct_st_finish(b, &sink, &err);
	if (rc) {
		fprintf(stderr, "prune: %s\n", err.msg);
		return 1;
	}
	close(fd);
	ct_st_builder_free(b);
	ct_st_close(f);
	free(ids);
	return 0;
}
