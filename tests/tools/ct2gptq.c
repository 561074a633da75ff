/*
 * ct2gptq - rewrites a W4A16 (symmetric int4, group) pack-quantized
 * checkpoint as a GPTQ v1 checkpoint, shard for shard, so that make bench
 * can time `ctensors convert` on a model of realistic size, and so that a
 * quantize -> GPTQ -> convert round trip can be checked for equal bytes:
 *
 *   ct2gptq CT_DIR GPTQ_DIR
 *
 * qweight = weight_packed^T (the same words), scales = weight_scale^T,
 * qzeros = 0x77777777 (v1 symmetric), g_idx = i / group_size; every other
 * tensor is copied; weight_shape is dropped. Writes config.json with a
 * GPTQModel-style quantization_config.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"
#include "dtype.h"
#include "pyjson.h"
#include "safetensors.h"

static int group_size = 128;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "ct2gptq: %s: %s\n", what, msg);
	exit(1);
}

typedef struct fd_sink {
	int fd;
} fd_sink;

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t offset, ct_error *err)
{
	fd_sink *s = ctx;
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ct_fail(err, CT_EIO, "write failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return CT_OK;
}

static bool ends(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The output tensors of one input tensor: 0 (dropped), 1 or 4. */
typedef struct otensor {
	char name[512];
	ct_dtype dt;
	int ndim;
	uint64_t shape[CT_MAX_DIMS];
	const ct_tensor *src;
	int kind;   /* 0 copy, 1 qweight, 2 scales, 3 qzeros, 4 g_idx */
} otensor;

static void transpose(const uint8_t *in, uint8_t *out, uint64_t r, uint64_t c, size_t esz)
{
	for (uint64_t i = 0; i < r; i++)
		for (uint64_t j = 0; j < c; j++)
			memcpy(out + (j * r + i) * esz, in + (i * c + j) * esz, esz);
}

static void write_shard(const ct_checkpoint *ck, size_t s, const char *path, json_t *map,
			const char *file)
{
	ct_error err = { 0 };
	const ct_st_file *f = ck->shards[s];
	otensor *o = calloc(f->n_tensors * 4 + 1, sizeof(*o));
	int *ids = calloc(f->n_tensors * 4 + 1, sizeof(int));
	size_t n = 0;
	if (!o || !ids)
		die(path, "out of memory");
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		char mod[400];
		if (ends(t->name, ".weight_shape"))
			continue;
		if (ends(t->name, ".weight_packed")) {
			snprintf(mod, sizeof(mod), "%.*s", (int)(strlen(t->name) - 14), t->name);
			uint64_t out = t->shape[0], words = t->shape[1], in = words * 8;
			o[n] = (otensor){ .dt = CT_I32, .ndim = 2, .shape = { words, out }, .src = t,
					  .kind = 1 };
			snprintf(o[n++].name, 512, "%s.qweight", mod);
			o[n] = (otensor){ .dt = CT_I32, .ndim = 2,
					  .shape = { in / (uint64_t)group_size, out / 8 }, .src = t,
					  .kind = 3 };
			snprintf(o[n++].name, 512, "%s.qzeros", mod);
			o[n] = (otensor){ .dt = CT_I32, .ndim = 1, .shape = { in }, .src = t, .kind = 4 };
			snprintf(o[n++].name, 512, "%s.g_idx", mod);
			continue;
		}
		if (ends(t->name, ".weight_scale")) {
			snprintf(mod, sizeof(mod), "%.*s", (int)(strlen(t->name) - 13), t->name);
			o[n] = (otensor){ .dt = t->dtype, .ndim = 2, .shape = { t->shape[1], t->shape[0] },
					  .src = t, .kind = 2 };
			snprintf(o[n++].name, 512, "%s.scales", mod);
			continue;
		}
		o[n] = (otensor){ .dt = t->dtype, .ndim = t->ndim, .src = t, .kind = 0 };
		memcpy(o[n].shape, t->shape, sizeof(t->shape));
		snprintf(o[n++].name, 512, "%s", t->name);
	}
	ct_st_builder *b = ct_st_builder_new();
	if (!b || ct_st_builder_meta(b, "format", "pt", &err))
		die(path, err.msg);
	for (size_t k = 0; k < n; k++) {
		ids[k] = ct_st_builder_add(b, o[k].name, o[k].dt, o[k].ndim, o[k].shape, &err);
		if (ids[k] < 0)
			die(o[k].name, err.msg);
		json_object_set_new(map, o[k].name, json_string(file));
	}
	if (ct_st_builder_layout(b, false, &err))
		die(path, err.msg);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path, strerror(errno));
	fd_sink fs = { fd };
	ct_sink sink = { fd_pwrite, &fs };
	for (size_t k = 0; k < n; k++) {
		const ct_tensor *t = o[k].src;
		size_t len = (size_t)ct_st_builder_tensor_size(b, ids[k]);
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf)
			die(o[k].name, "out of memory");
		if (o[k].kind == 0) {
			memcpy(buf, t->data, len);
		} else if (o[k].kind == 1 || o[k].kind == 2) {
			transpose(t->data, buf, t->shape[0], t->shape[1], ct_dtype_size(t->dtype));
		} else if (o[k].kind == 3) {
			for (size_t i = 0; i < len / 4; i++)
				memcpy(buf + 4 * i, &(uint32_t){ 0x77777777u }, 4);
		} else {
			for (size_t i = 0; i < len / 4; i++) {
				int32_t g = (int32_t)(i / (size_t)group_size);
				memcpy(buf + 4 * i, &g, 4);
			}
		}
		if (ct_st_write(b, &sink, ids[k], buf, len, &err))
			die(o[k].name, err.msg);
		free(buf);
	}
	if (ct_st_finish(b, &sink, &err))
		die(path, err.msg);
	close(fd);
	ct_st_builder_free(b);
	free(o);
	free(ids);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ct2gptq CT_DIR GPTQ_DIR\n");
		return 2;
	}
	ct_error err = { 0 };
	ct_checkpoint *ck;
	if (ct_ckpt_open(argv[1], &ck, &err))
		die(argv[1], err.msg);
	json_t *q = json_object_get(ck->config, "quantization_config");
	json_t *g = json_object_get(json_object_get(json_object_get(json_object_get(q,
		"config_groups"), "group_0"), "weights"), "group_size");
	if (json_is_integer(g))
		group_size = (int)json_integer_value(g);
	if (mkdir(argv[2], 0755) != 0 && errno != EEXIST)
		die(argv[2], strerror(errno));
	json_t *map = json_object();
	char path[4096];
	for (size_t s = 0; s < ck->n_shards; s++) {
		snprintf(path, sizeof(path), "%s/%s", argv[2], ck->shard_names[s]);
		write_shard(ck, s, path, map, ck->shard_names[s]);
	}
	json_t *cfg = json_deep_copy(ck->config);
	json_object_set_new(cfg, "quantization_config",
			    json_pack("{s:i, s:s, s:s, s:b, s:i, s:{s:[s]}, s:s, s:s, s:b}",
				      "bits", 4, "checkpoint_format", "gptq", "format", "gptq",
				      "desc_act", 0, "group_size", group_size, "meta", "quantizer",
				      "gptqmodel:7.3.4", "pack_dtype", "int32", "quant_method",
				      "gptq", "sym", 1));
	const char *files[2] = { "config.json", "model.safetensors.index.json" };
	json_t *docs[2] = { cfg, json_pack("{s:{}, s:o}", "metadata", "weight_map", map) };
	for (int k = 0; k < (ck->n_shards > 1 ? 2 : 1); k++) {
		snprintf(path, sizeof(path), "%s/%s", argv[2], files[k]);
		char *text = ct_pyjson_dumps(docs[k], true);
		FILE *fp = text ? fopen(path, "wb") : NULL;
		if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0)
			die(path, "cannot write");
		free(text);
	}
	json_decref(docs[0]);
	json_decref(docs[1]);
	ct_ckpt_close(ck);
	return 0;
}
