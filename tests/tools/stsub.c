/*
 * stsub - checks that the tensors of safetensors file A are in B.
 *
 *   stsub A B                every tensor of A is in B: same dtype, shape, bytes
 *   stsub --values A B       ... same values, both widened to F32, bit for bit
 *   stsub --rel X A B        ... same values within X relative to the largest
 *                            magnitude of A's tensor (per tensor)
 *   stsub --common A B       tensors in both: same dtype and bytes (the shape
 *                            may differ in rank: [] vs [1])
 *   stsub --common-widen A B ... except that an F16 or BF16 tensor of A whose
 *                            name ends in "_scale" may be F32 in B with
 *                            exactly its values (a scale convert widens)
 *
 * B may be several files (the shards of a model): a tensor is looked up in
 * each.
 *
 * Exit 0 when they agree, 1 when not (each difference on stderr, at most 20),
 * 2 on a read error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "safetensors.h"

enum { M_BYTES, M_VALUES, M_REL, M_COMMON };

static bool widened_scale(const ct_tensor *x, const ct_tensor *y)
{
	size_t n = strlen(x->name);
	if ((x->dtype != CT_F16 && x->dtype != CT_BF16) || y->dtype != CT_F32 ||
	    x->nelem != y->nelem || n < 6 || strcmp(x->name + n - 6, "_scale") != 0)
		return false;
	for (uint64_t i = 0; i < x->nelem; i++) {
		float a = ct_load_f32(x->dtype, x->data, (size_t)i);
		float b = ct_load_f32(y->dtype, y->data, (size_t)i);
		if (memcmp(&a, &b, 4) != 0)
			return false;
	}
	return true;
}

static int diffs;

static void report(const char *name, const char *what)
{
	if (++diffs <= 20)
		fprintf(stderr, "%s: %s\n", name, what);
}

static void compare_values(const ct_tensor *x, const ct_tensor *y, int mode, double rel)
{
	if (!ct_dtype_is_float(x->dtype) || !ct_dtype_is_float(y->dtype)) {
		report(x->name, "not a float tensor");
		return;
	}
	double amax = 0;
	for (uint64_t i = 0; i < x->nelem; i++) {
		double v = fabs((double)ct_load_f32(x->dtype, x->data, (size_t)i));
		if (v > amax)
			amax = v;
	}
	uint64_t bad = 0, first = 0;
	double worst = 0;
	for (uint64_t i = 0; i < x->nelem; i++) {
		float a = ct_load_f32(x->dtype, x->data, (size_t)i);
		float b = ct_load_f32(y->dtype, y->data, (size_t)i);
		bool ok;
		if (mode == M_VALUES) {
			ok = memcmp(&a, &b, 4) == 0;
		} else {
			double d = fabs((double)a - (double)b);
			ok = d <= rel * amax;
			if (d > worst)
				worst = d;
		}
		if (!ok && bad++ == 0)
			first = i;
	}
	if (bad) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%llu of %llu values differ (first at %llu: %.9g vs "
			 "%.9g)", (unsigned long long)bad, (unsigned long long)x->nelem,
			 (unsigned long long)first,
			 (double)ct_load_f32(x->dtype, x->data, (size_t)first),
			 (double)ct_load_f32(y->dtype, y->data, (size_t)first));
		report(x->name, msg);
	}
}

int main(int argc, char **argv)
{
	int mode = M_BYTES, i = 1;
	bool widen = false;
	double rel = 0;
	if (argc > 1 && strcmp(argv[1], "--values") == 0) {
		mode = M_VALUES;
		i = 2;
	} else if (argc > 2 && strcmp(argv[1], "--rel") == 0) {
		mode = M_REL;
		rel = atof(argv[2]);
		i = 3;
	} else if (argc > 1 && strcmp(argv[1], "--common") == 0) {
		mode = M_COMMON;
		i = 2;
	} else if (argc > 1 && strcmp(argv[1], "--common-widen") == 0) {
		mode = M_COMMON;
		widen = true;
		i = 2;
	}
	if (argc - i < 2 || argc - i > 65) {
		fprintf(stderr, "usage: stsub [--values | --rel X | --common | --common-widen] A B...\n");
		return 2;
	}
	ct_error err;
	ct_st_file *a = NULL, *b[64] = { NULL };
	int nb = argc - i - 1;
	if (ct_st_open(argv[i], &a, &err)) {
		fprintf(stderr, "stsub: %s\n", err.msg);
		return 2;
	}
	for (int k = 0; k < nb; k++) {
		if (ct_st_open(argv[i + 1 + k], &b[k], &err)) {
			fprintf(stderr, "stsub: %s\n", err.msg);
			return 2;
		}
	}
	for (size_t k = 0; k < a->n_tensors; k++) {
		const ct_tensor *x = &a->tensors[k];
		const ct_tensor *y = NULL;
		for (int j = 0; j < nb && !y; j++)
			y = ct_st_find(b[j], x->name);
		if (!y) {
			if (mode != M_COMMON)
				report(x->name, "missing from B");
			continue;
		}
		if (mode == M_COMMON) {
			if (widen && widened_scale(x, y))
				continue;
			if (x->dtype != y->dtype || x->nelem != y->nelem ||
			    memcmp(x->data, y->data, x->end - x->begin) != 0)
				report(x->name, "dtype or bytes differ");
			continue;
		}
		if (x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof(x->shape)) != 0) {
			report(x->name, "shape differs");
			continue;
		}
		if (mode == M_BYTES) {
			if (x->dtype != y->dtype || memcmp(x->data, y->data, x->end - x->begin) != 0)
				report(x->name, "dtype or bytes differ");
		} else {
			compare_values(x, y, mode, rel);
		}
	}
	ct_st_close(a);
	for (int k = 0; k < nb; k++)
		ct_st_close(b[k]);
	return diffs ? 1 : 0;
}
