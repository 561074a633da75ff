/*
 * gptoss_fuse - the inverse of `convert` from gpt-oss MXFP4: fuses a
 * compressed-tensors checkpoint's per-expert MXFP4 modules back into the
 * gpt-oss release layout, so that a conversion can be checked against
 * `quantize`'s own output.
 *
 *   gptoss_fuse INDIR OUTDIR
 *
 * INDIR: config.json and model.safetensors with
 * P.e.{gate_proj,up_proj,down_proj}.{weight_packed,weight_scale[,bias]}
 * for experts e = 0..E-1 (as `quantize -s MXFP4A16` writes gpt-oss).
 * OUTDIR/model.safetensors gets, per P, gate_up_proj_blocks U8
 * [E, 2I, H/32, 16] (row 2r = gate row r, row 2r+1 = up row r),
 * gate_up_proj_scales U8 [E, 2I, H/32], gate_up_proj_bias [E, 2I]
 * (interleaved likewise), down_proj_blocks U8 [E, H, I/32, 16],
 * down_proj_scales, down_proj_bias [E, H]; every other tensor as it is.
 * OUTDIR/config.json: INDIR's, with the release's quantization_config.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "safetensors.h"

#define MAX_OUT 4096

static const char *const parts[3] = { "gate_proj", "up_proj", "down_proj" };
static const char *const kinds[3] = { "weight_packed", "weight_scale", "bias" };

typedef struct out_t {
	char name[512];
	ct_dtype dt;
	int ndim;
	uint64_t shape[4];
	const uint8_t *src;        /* copied tensor, or NULL */
	uint8_t *own;              /* fused tensor */
	size_t nbytes;
} out_t;

static out_t outs[MAX_OUT];
static size_t n_outs;

static void die(const char *what)
{
	fprintf(stderr, "gptoss_fuse: %s\n", what);
	exit(1);
}

static out_t *new_out(void)
{
	if (n_outs == MAX_OUT)
		die("too many tensors");
	return memset(&outs[n_outs++], 0, sizeof(out_t));
}

/* "P.e.part.kind" -> P, e, part, kind; false for other names. */
static bool split_name(const char *name, char *prefix, size_t size, long *e, int *part,
		       int *kind)
{
	for (int k = 0; k < 3; k++)
		for (int p = 0; p < 3; p++) {
			char tail[64];
			snprintf(tail, sizeof(tail), ".%s.%s", parts[p], kinds[k]);
			size_t nl = strlen(name), tl = strlen(tail);
			if (nl <= tl || strcmp(name + nl - tl, tail) != 0)
				continue;
			/* digits before the tail, a dot before them */
			size_t end = nl - tl, at = end;
			while (at > 0 && name[at - 1] >= '0' && name[at - 1] <= '9')
				at--;
			if (at == end || at < 2 || name[at - 1] != '.' || at - 1 >= size)
				return false;
			memcpy(prefix, name, at - 1);
			prefix[at - 1] = '\0';
			*e = strtol(name + at, NULL, 10);
			*part = p;
			*kind = k;
			return true;
		}
	return false;
}

static const ct_tensor *get(const ct_st_file *f, const char *prefix, long e, int p, int k)
{
	char name[600];
	snprintf(name, sizeof(name), "%s.%ld.%s.%s", prefix, e, parts[p], kinds[k]);
	return ct_st_find(f, name);
}

/* One fused tensor of P from its experts: rows of parts pa (and pb
 * interleaved with it, when pb >= 0), of kind k. */
static void fuse(const ct_st_file *f, const char *prefix, long E, int pa, int pb, int k,
		 const char *suffix)
{
	const ct_tensor *t0 = get(f, prefix, 0, pa, k);
	if (!t0)
		return;
	uint64_t rows = t0->shape[0];
	uint64_t row = (t0->end - t0->begin) / rows;     /* bytes of one row */
	uint64_t R = pb >= 0 ? 2 * rows : rows;
	out_t *o = new_out();
	snprintf(o->name, sizeof(o->name), "%s.%s", prefix, suffix);
	o->dt = t0->dtype;
	o->shape[0] = (uint64_t)E;
	o->shape[1] = R;
	if (k == 0) {            /* [E, R, in/32, 16] */
		o->ndim = 4;
		o->shape[2] = t0->shape[1] / 16;
		o->shape[3] = 16;
	} else if (k == 1) {     /* [E, R, in/32] */
		o->ndim = 3;
		o->shape[2] = t0->shape[1];
	} else {                 /* [E, R] */
		o->ndim = 2;
	}
	o->nbytes = (size_t)((uint64_t)E * R * row);
	o->own = malloc(o->nbytes);
	if (!o->own)
		die("out of memory");
	for (long e = 0; e < E; e++) {
		const ct_tensor *a = get(f, prefix, e, pa, k);
		const ct_tensor *b = pb >= 0 ? get(f, prefix, e, pb, k) : NULL;
		if (!a || (pb >= 0 && !b) || a->end - a->begin != rows * row ||
		    (b && b->end - b->begin != rows * row))
			die("an expert's tensors are missing or of another shape");
		for (uint64_t r = 0; r < rows; r++) {
			uint8_t *dst = o->own + ((uint64_t)e * R + (b ? 2 * r : r)) * row;
			memcpy(dst, a->data + r * row, (size_t)row);
			if (b)
				memcpy(dst + row, b->data + r * row, (size_t)row);
		}
	}
}

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	int fd = *(int *)ctx;
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		return ct_fail(err, CT_EIO, "write: %s", strerror(errno));
	return CT_OK;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gptoss_fuse INDIR OUTDIR\n");
		return 2;
	}
	char path[4096];
	ct_error err;
	ct_error_clear(&err);
	ct_st_file *f = NULL;
	snprintf(path, sizeof(path), "%s/model.safetensors", argv[1]);
	if (ct_st_open(path, &f, &err))
		die(err.msg);
	/* experts modules and their expert counts */
	char prefixes[16][512];
	long counts[16];
	int n_pre = 0;
	for (size_t i = 0; i < f->n_tensors; i++) {
		const ct_tensor *t = &f->tensors[i];
		char p[512];
		long e;
		int part, kind;
		if (!split_name(t->name, p, sizeof(p), &e, &part, &kind)) {
			out_t *o = new_out();
			snprintf(o->name, sizeof(o->name), "%s", t->name);
			o->dt = t->dtype;
			o->ndim = t->ndim;
			memcpy(o->shape, t->shape, sizeof(uint64_t) * (size_t)(t->ndim > 4 ? 4 : t->ndim));
			o->src = t->data;
			o->nbytes = (size_t)(t->end - t->begin);
			continue;
		}
		int k = 0;
		while (k < n_pre && strcmp(prefixes[k], p) != 0)
			k++;
		if (k == n_pre) {
			if (n_pre == 16)
				die("too many experts modules");
			snprintf(prefixes[n_pre], sizeof(prefixes[0]), "%s", p);
			counts[n_pre++] = 0;
		}
		if (e + 1 > counts[k])
			counts[k] = e + 1;
	}
	for (int k = 0; k < n_pre; k++) {
		fuse(f, prefixes[k], counts[k], 0, 1, 0, "gate_up_proj_blocks");
		fuse(f, prefixes[k], counts[k], 0, 1, 1, "gate_up_proj_scales");
		fuse(f, prefixes[k], counts[k], 0, 1, 2, "gate_up_proj_bias");
		fuse(f, prefixes[k], counts[k], 2, -1, 0, "down_proj_blocks");
		fuse(f, prefixes[k], counts[k], 2, -1, 1, "down_proj_scales");
		fuse(f, prefixes[k], counts[k], 2, -1, 2, "down_proj_bias");
	}
	if (mkdir(argv[2], 0755) != 0 && errno != EEXIST)
		die(strerror(errno));
	ct_st_builder *b = ct_st_builder_new();
	int *ids = calloc(n_outs + 1, sizeof(int));
	int rc = !b || !ids || ct_st_builder_meta(b, "format", "pt", &err);
	for (size_t i = 0; !rc && i < n_outs; i++) {
		ids[i] = ct_st_builder_add(b, outs[i].name, outs[i].dt, outs[i].ndim, outs[i].shape,
					   &err);
		rc = ids[i] < 0;
	}
	if (!rc)
		rc = ct_st_builder_layout(b, false, &err);
	snprintf(path, sizeof(path), "%s/model.safetensors", argv[2]);
	int fd = rc ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ct_sink sink = { fd_pwrite, &fd };
	if (!rc && fd < 0)
		die(strerror(errno));
	for (size_t i = 0; !rc && i < n_outs; i++)
		rc = ct_st_write(b, &sink, ids[i], outs[i].own ? outs[i].own : outs[i].src,
				 outs[i].nbytes, &err);
	if (!rc)
		rc = ct_st_finish(b, &sink, &err);
	if (rc || close(fd) != 0)
		die(err.msg[0] ? err.msg : "write failed");
	ct_st_builder_free(b);
	free(ids);
	/* the release's quantization_config in place of compressed-tensors' */
	snprintf(path, sizeof(path), "%s/config.json", argv[1]);
	json_error_t je;
	json_t *cfg = json_load_file(path, 0, &je);
	if (!cfg)
		die(je.text);
	json_object_set_new(cfg, "quantization_config",
			    json_pack("{s:s, s:[s, s, s, s]}", "quant_method", "mxfp4",
				      "modules_to_not_convert", "model.layers.*.self_attn",
				      "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"));
	snprintf(path, sizeof(path), "%s/config.json", argv[2]);
	if (json_dump_file(cfg, path, JSON_INDENT(2)) != 0)
		die("config.json: cannot write");
	json_decref(cfg);
	for (size_t i = 0; i < n_outs; i++)
		free(outs[i].own);
	ct_st_close(f);
	return 0;
}
