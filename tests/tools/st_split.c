/*
 * st_split - splits a safetensors file into a sharded model directory, as
 * transformers lays one out: OUTDIR/model-0000K-of-0000N.safetensors (tensors
 * dealt round-robin by module so that a module's tensors stay together),
 * model.safetensors.index.json and, when given, a config.json holding CONFIG
 * under "quantization_config" (or an empty object).
 *
 *   st_split FILE N OUTDIR [CONFIG]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyjson.h"
#include "safetensors.h"

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	ssize_t n = pwrite(fd, buf, len, (off_t)off);
	if (n < 0 || (size_t)n != len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

static size_t shard_of(const char *name, size_t n)
{
	/* hash of the module name (up to the last dot) */
	const char *dot = strrchr(name, '.');
	size_t len = dot ? (size_t)(dot - name) : strlen(name);
	unsigned long h = 5381;
	for (size_t i = 0; i < len; i++)
		h = h * 33 + (unsigned char)name[i];
	return h % n;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "st_split: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: st_split FILE N OUTDIR [CONFIG]\n");
		return 2;
	}
	ct_error err;
	ct_st_file *f = NULL;
	if (ct_st_open(argv[1], &f, &err)) {
		fprintf(stderr, "st_split: %s\n", err.msg);
		return 2;
	}
	size_t n = (size_t)atoi(argv[2]);
	if (n < 1 || n > 99)
		return 2;
	const char *dir = argv[3];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		perror(dir);
		return 2;
	}
	json_t *wm = json_object();
	uint64_t total = 0;
	for (size_t s = 0; s < n; s++) {
		char name[64], path[4096];
		snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", s + 1, n);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		ct_st_builder *b = ct_st_builder_new();
		int *ids = calloc(f->n_tensors + 1, sizeof(int));
		for (size_t i = 0; i < f->n_tensors; i++) {
			const ct_tensor *t = &f->tensors[i];
			ids[i] = -1;
			if (shard_of(t->name, n) != s)
				continue;
			ids[i] = ct_st_builder_add(b, t->name, t->dtype, t->ndim, t->shape, &err);
			json_object_set_new(wm, t->name, json_string(name));
			total += t->end - t->begin;
		}
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		ct_sink sink = { fd_pwrite, &fd };
		int rc = fd < 0 || ct_st_builder_meta(b, "format", "pt", &err) ||
			 ct_st_builder_layout(b, false, &err);
		for (size_t i = 0; !rc && i < f->n_tensors; i++)
			if (ids[i] >= 0)
				rc = ct_st_write(b, &sink, ids[i], f->tensors[i].data,
						 f->tensors[i].end - f->tensors[i].begin, &err);
		if (!rc)
			rc = ct_st_finish(b, &sink, &err);
		if (rc) {
			fprintf(stderr, "st_split: %s: %s\n", path, err.msg);
			return 1;
		}
		close(fd);
		free(ids);
		ct_st_builder_free(b);
	}
	json_t *idx = json_pack("{s:{s:I},s:o}", "metadata", "total_size", (json_int_t)total,
				"weight_map", wm);
	char *text = ct_pyjson_dumps(idx, true);
	int rc = write_text(dir, "model.safetensors.index.json", text);
	free(text);
	json_decref(idx);
	json_t *cfg = json_pack("{s:[s],s:s}", "architectures", "LlamaForCausalLM", "model_type",
				"llama");
	if (argc == 5) {
		json_error_t je;
		json_t *q = json_load_file(argv[4], 0, &je);
		if (!q) {
			fprintf(stderr, "st_split: %s: %s\n", argv[4], je.text);
			return 2;
		}
		json_object_set_new(cfg, "quantization_config", q);
	}
	text = ct_pyjson_dumps(cfg, true);
	rc |= write_text(dir, "config.json", text);
	free(text);
	json_decref(cfg);
	rc |= write_text(dir, "tokenizer.json", "{\"stub\": true}\n");
	ct_st_close(f);
	return rc;
}
