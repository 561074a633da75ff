/*
 * mkfrozen - builds a "frozen" checkpoint (dense fake-quantized weights plus
 * their quantization parameters, as llm-compressor saves with
 * save_compressed=False) from a compressed file and its decompression:
 * every tensor of DECOMPRESSED, plus each module's weight_scale,
 * weight_global_scale and weight_zero_point from COMPRESSED (packed zero
 * points unpacked to I8 on the scale grid, BITS bits each). Also writes
 * CONFIG_OUT: CONFIG with quantization_status "frozen" and the top-level
 * format "dense" (how the frozen file is stored; the groups keep theirs).
 *
 *   mkfrozen COMPRESSED DECOMPRESSED CONFIG OUT CONFIG_OUT
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyjson.h"
#include "safetensors.h"

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Unpacks a [ceil(R*b/32), G] I32 zero-point matrix packed down the rows
 * (offset binary, low bits first) into I8 [R, G]. */
static int8_t *unpack_zp(const ct_tensor *t, uint64_t rows, int bits)
{
	uint64_t G = t->shape[1];
	int8_t *out = malloc((size_t)(rows * G) + 1);
	for (uint64_t g = 0; g < G; g++) {
		for (uint64_t r = 0; r < rows; r++) {
			uint64_t bit = r * (uint64_t)bits, w = bit / 32, sh = bit % 32;
			uint32_t lo, hi = 0;
			memcpy(&lo, t->data + (w * G + g) * 4, 4);
			uint64_t v = lo >> sh;
			if (sh + (uint64_t)bits > 32) {
				memcpy(&hi, t->data + ((w + 1) * G + g) * 4, 4);
				v |= (uint64_t)hi << (32 - sh);
			}
			v &= (1u << bits) - 1;
			out[r * G + g] = (int8_t)((int)v - (1 << (bits - 1)));
		}
	}
	return out;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: mkfrozen COMPRESSED DECOMPRESSED CONFIG OUT CONFIG_OUT\n");
		return 2;
	}
	ct_error err;
	ct_st_file *c = NULL, *d = NULL;
	if (ct_st_open(argv[1], &c, &err) || ct_st_open(argv[2], &d, &err)) {
		fprintf(stderr, "mkfrozen: %s\n", err.msg);
		return 2;
	}
	json_error_t je;
	json_t *cfg = json_load_file(argv[3], 0, &je);
	if (!cfg) {
		fprintf(stderr, "mkfrozen: %s: %s\n", argv[3], je.text);
		return 2;
	}
	int bits = (int)json_integer_value(json_object_get(json_object_get(json_object_get(
		json_object_get(cfg, "config_groups"), "group_0"), "weights"), "num_bits"));
	ct_st_builder *b = ct_st_builder_new();
	size_t cap = d->n_tensors + c->n_tensors;
	int *ids = calloc(cap, sizeof(int));
	const void **src = calloc(cap, sizeof(void *));
	void **owned = calloc(cap, sizeof(void *));
	size_t n = 0;
	for (size_t i = 0; i < d->n_tensors; i++) {
		const ct_tensor *t = &d->tensors[i];
		ids[n] = ct_st_builder_add(b, t->name, t->dtype, t->ndim, t->shape, &err);
		src[n++] = t->data;
	}
	for (size_t i = 0; i < c->n_tensors; i++) {
		const ct_tensor *t = &c->tensors[i];
		if (ends_with(t->name, ".weight_scale") || ends_with(t->name, ".weight_global_scale")) {
			ids[n] = ct_st_builder_add(b, t->name, t->dtype, t->ndim, t->shape, &err);
			src[n++] = t->data;
		} else if (ends_with(t->name, ".weight_zero_point")) {
			if (t->dtype == CT_I8) {
				ids[n] = ct_st_builder_add(b, t->name, t->dtype, t->ndim, t->shape, &err);
				src[n++] = t->data;
				continue;
			}
			/* rows of the scale grid = rows of the scale tensor */
			char scale[4096];
			snprintf(scale, sizeof(scale), "%.*s.weight_scale",
				 (int)(strlen(t->name) - strlen(".weight_zero_point")), t->name);
			const ct_tensor *s = ct_st_find(c, scale);
			uint64_t shape[2] = { s->shape[0], t->shape[1] };
			owned[n] = unpack_zp(t, s->shape[0], bits);
			ids[n] = ct_st_builder_add(b, t->name, CT_I8, 2, shape, &err);
			src[n] = owned[n];
			n++;
		}
	}
	int fd = open(argv[4], O_RDWR | O_CREAT | O_TRUNC, 0644);
	ct_sink sink = { fd_pwrite, &fd };
	int rc = fd < 0 || ct_st_builder_meta(b, "format", "pt", &err) ||
		 ct_st_builder_layout(b, false, &err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = ct_st_write(b, &sink, ids[i], src[i], (size_t)ct_st_builder_tensor_size(b, ids[i]),
				 &err);
	if (!rc)
		rc = ct_st_finish(b, &sink, &err);
	if (rc) {
		fprintf(stderr, "mkfrozen: %s\n", err.msg);
		return 1;
	}
	close(fd);
	json_object_set_new(cfg, "quantization_status", json_string("frozen"));
	json_object_set_new(cfg, "format", json_string("dense"));
	char *text = ct_pyjson_dumps(cfg, true);
	FILE *f = fopen(argv[5], "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		return 1;
	free(text);
	for (size_t i = 0; i < n; i++)
		free(owned[i]);
	free(owned);
	free(src);
	free(ids);
	json_decref(cfg);
	ct_st_builder_free(b);
	ct_st_close(c);
	ct_st_close(d);
	return 0;
}
