/*
 * mkst - writes a small safetensors file for tests from a spec per tensor:
 *
 *   mkst OUT NAME:DTYPE:SHAPE[:FILL] ...
 *
 * SHAPE is dimensions joined by 'x' ("64x128", "256", "" for a scalar);
 * FILL is rand (default: deterministic values in [-1, 1)), zero, nan
 * (random with one NaN), inf, a number, or pmX (+X and -X alternating). DTYPE is F32, F16 or BF16 (or
 * I8/I32/U8 filled with small integers; I64 with the number given). __metadata__ is {"format":"pt"}.
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

typedef struct spec {
	char name[512];
	ct_dtype dt;
	int ndim;
	uint64_t shape[CT_MAX_DIMS];
	char fill[32];
	uint64_t nelem, nbytes;
} spec;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double next_unit(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static int parse(const char *arg, spec *s)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", arg);
	char *f[4] = { 0 };
	int n = 0;
	for (char *p = buf; n < 4;) {
		f[n++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	if (n < 3)
		return -1;
	snprintf(s->name, sizeof(s->name), "%s", f[0]);
	if (!ct_dtype_from_name(f[1], strlen(f[1]), &s->dt))
		return -1;
	s->ndim = 0;
	for (char *p = f[2]; *p;) {
		s->shape[s->ndim++] = strtoull(p, &p, 10);
		if (*p == 'x')
			p++;
		else if (*p)
			return -1;
	}
	snprintf(s->fill, sizeof(s->fill), "%s", n > 3 ? f[3] : "rand");
	return ct_tensor_nbytes(s->dt, s->ndim, s->shape, &s->nelem, &s->nbytes) ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mkst OUT NAME:DTYPE:SHAPE[:FILL] ...\n");
		return 2;
	}
	int n = argc - 2;
	spec *sp = calloc((size_t)n, sizeof(spec));
	int *ids = calloc((size_t)n, sizeof(int));
	ct_error err;
	ct_st_builder *b = ct_st_builder_new();
	for (int i = 0; i < n; i++) {
		if (parse(argv[i + 2], &sp[i]) != 0) {
			fprintf(stderr, "mkst: bad spec %s\n", argv[i + 2]);
			return 2;
		}
		ids[i] = ct_st_builder_add(b, sp[i].name, sp[i].dt, sp[i].ndim, sp[i].shape, &err);
		if (ids[i] < 0) {
			fprintf(stderr, "mkst: %s\n", err.msg);
			return 2;
		}
	}
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	ct_sink sink = { fd_pwrite, &fd };
	if (fd < 0 || ct_st_builder_meta(b, "format", "pt", &err) ||
	    ct_st_builder_layout(b, false, &err)) {
		fprintf(stderr, "mkst: %s\n", fd < 0 ? strerror(errno) : err.msg);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		unsigned char *data = calloc(1, (size_t)sp[i].nbytes + 1);
		for (uint64_t k = 0; k < sp[i].nelem; k++) {
			double v;
			if (strcmp(sp[i].fill, "zero") == 0)
				v = 0;
			else if (strcmp(sp[i].fill, "rand") == 0 || strcmp(sp[i].fill, "nan") == 0 ||
				 strcmp(sp[i].fill, "inf") == 0)
				v = next_unit();
			else if (strncmp(sp[i].fill, "pm", 2) == 0)
				v = (k & 1 ? -1 : 1) * atof(sp[i].fill + 2);
			else
				v = atof(sp[i].fill);
			if (k == sp[i].nelem / 2 && strcmp(sp[i].fill, "nan") == 0)
				v = NAN;
			if (k == sp[i].nelem / 2 && strcmp(sp[i].fill, "inf") == 0)
				v = INFINITY;
			if (ct_dtype_is_float(sp[i].dt) && ct_dtype_size(sp[i].dt) >= 2)
				ct_store_f32(sp[i].dt, data, k, (float)v);
			else if (ct_dtype_size(sp[i].dt) == 1)
				data[k] = (unsigned char)(int)(v * 100);
			else if (sp[i].dt == CT_I32) {
				int32_t x = (int32_t)(v * 1000);
				memcpy(data + 4 * k, &x, 4);
			} else if (sp[i].dt == CT_I64) {
				/* a number fill is taken as it is (weight_shape) */
				int64_t x = strcmp(sp[i].fill, "rand") == 0 ? (int64_t)(v * 1000) :
					    (int64_t)atof(sp[i].fill);
				memcpy(data + 8 * k, &x, 8);
			}
		}
		if (ct_st_write(b, &sink, ids[i], data, (size_t)sp[i].nbytes, &err)) {
			fprintf(stderr, "mkst: %s\n", err.msg);
			return 1;
		}
		free(data);
	}
	if (ct_st_finish(b, &sink, &err)) {
		fprintf(stderr, "mkst: %s\n", err.msg);
		return 1;
	}
	close(fd);
	ct_st_builder_free(b);
	free(sp);
	free(ids);
	return 0;
}
