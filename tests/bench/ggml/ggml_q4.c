/*
 * ggml_q4 - the comparison job of `make bench GGML_DIR=...`: quantizes a
 * safetensors model directory to ggml's Q4_0 the way llama-quantize's
 * per-tensor loop does, with ggml's own kernel, so that ctensors' W4A16 can
 * be timed against it on the same input, threads and output filesystem.
 *
 *   ggml_q4 -t THREADS OUT FILE.safetensors...
 *
 * Per tensor, as llama-quantize: a 2-D BF16/F16 ".weight" that is not a
 * norm, an embedding or lm_head (the tensors W4A16 quantizes) is widened
 * to F32 by THREADS threads started for that tensor (ggml_bf16_to_fp32_row
 * on equal slices), then quantized by up to THREADS threads on chunks of
 * whole rows of at least 16,384 elements (ggml_quantize_chunk, Q4_0), and
 * written after the previous tensor; the other tensors are copied. Prints
 * the seconds from the first open to the fsync of OUT. No gguf metadata is
 * written (a few kB in llama-quantize), and the input is mapped, as
 * llama-quantize maps it on Linux.
 */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ggml.h>

#define MAX_THREADS 64
#define MIN_CHUNK (32 * 512)

static int nthreads = 1;

struct widen_job {
	const uint16_t *src;
	float *dst;
	int64_t n;
	int bf16;
};

static void *widen(void *arg)
{
	struct widen_job *j = arg;
	if (j->bf16)
		ggml_bf16_to_fp32_row((const ggml_bf16_t *)j->src, j->dst, j->n);
	else
		ggml_fp16_to_fp32_row((const ggml_fp16_t *)j->src, j->dst, j->n);
	return NULL;
}

struct quant_job {
	const float *src;
	char *dst;
	int64_t rows, cols, chunk_rows;
	int64_t *next; /* the next chunk's first row, under lock */
	pthread_mutex_t *lock;
};

static void *quantize(void *arg)
{
	struct quant_job *j = arg;
	size_t row_bytes = ggml_row_size(GGML_TYPE_Q4_0, j->cols);
	for (;;) {
		pthread_mutex_lock(j->lock);
		int64_t r0 = *j->next;
		*j->next += j->chunk_rows;
		pthread_mutex_unlock(j->lock);
		if (r0 >= j->rows)
			return NULL;
		int64_t n = j->rows - r0 < j->chunk_rows ? j->rows - r0 : j->chunk_rows;
		ggml_quantize_chunk(GGML_TYPE_Q4_0, j->src + r0 * j->cols, j->dst + r0 * row_bytes, 0,
				    n, j->cols, NULL);
	}
}

static int quantizable(const char *name, json_t *shape, const char *dtype)
{
	size_t len = strlen(name);
	if (json_array_size(shape) != 2 || len < 7 || strcmp(name + len - 7, ".weight") != 0)
		return 0;
	if (strcmp(dtype, "BF16") != 0 && strcmp(dtype, "F16") != 0)
		return 0;
	if (strstr(name, "norm") || strstr(name, "embed") || strstr(name, "lm_head"))
		return 0;
	return json_integer_value(json_array_get(shape, 1)) % 32 == 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t *off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, *off);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		*off += n;
	}
	return 0;
}

/* Quantizes or copies every tensor of one file, appending to out at *off. */
static int do_file(const char *path, int out, off_t *off, float **f32, size_t *f32_cap,
		   char **q, size_t *q_cap)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 8)
		return -1;
	const uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	uint64_t hlen;
	memcpy(&hlen, map, 8);
	if (hlen > (uint64_t)st.st_size - 8)
		return -1;
	json_t *h = json_loadb((const char *)map + 8, (size_t)hlen, 0, NULL);
	if (!h)
		return -1;
	const uint8_t *data = map + 8 + hlen;
	const char *name;
	json_t *t;
	int rc = 0;
	json_object_foreach(h, name, t) {
		if (strcmp(name, "__metadata__") == 0)
			continue;
		json_t *shape = json_object_get(t, "shape");
		json_t *offs = json_object_get(t, "data_offsets");
		const char *dtype = json_string_value(json_object_get(t, "dtype"));
		uint64_t b0 = (uint64_t)json_integer_value(json_array_get(offs, 0));
		uint64_t b1 = (uint64_t)json_integer_value(json_array_get(offs, 1));
		if (!dtype || b1 < b0 || b1 > (uint64_t)st.st_size - 8 - hlen) {
			rc = -1;
			break;
		}
		if (!quantizable(name, shape, dtype)) {
			if (write_all(out, data + b0, (size_t)(b1 - b0), off) != 0)
				rc = -1;
			continue;
		}
		int64_t rows = json_integer_value(json_array_get(shape, 0));
		int64_t cols = json_integer_value(json_array_get(shape, 1));
		int64_t n = rows * cols;
		if ((size_t)n > *f32_cap) {
			free(*f32);
			*f32 = malloc((size_t)n * sizeof(float));
			*f32_cap = (size_t)n;
		}
		size_t qbytes = (size_t)rows * ggml_row_size(GGML_TYPE_Q4_0, cols);
		if (qbytes > *q_cap) {
			free(*q);
			*q = malloc(qbytes);
			*q_cap = qbytes;
		}
		if (!*f32 || !*q) {
			rc = -1;
			break;
		}
		const uint16_t *src = (const uint16_t *)(data + b0);
		int bf16 = strcmp(dtype, "BF16") == 0;
		pthread_t th[MAX_THREADS];
		if (nthreads < 2) {
			struct widen_job w = { src, *f32, n, bf16 };
			widen(&w);
		} else {
			struct widen_job w[MAX_THREADS];
			int64_t per = n / nthreads;
			for (int k = 0; k < nthreads; k++) {
				int64_t a = per * k, len = k == nthreads - 1 ? n - a : per;
				w[k] = (struct widen_job){ src + a, *f32 + a, len, bf16 };
				pthread_create(&th[k], NULL, widen, &w[k]);
			}
			for (int k = 0; k < nthreads; k++)
				pthread_join(th[k], NULL);
		}
		int64_t chunk_rows = cols >= MIN_CHUNK ? 1 : (MIN_CHUNK + cols - 1) / cols;
		int64_t nchunks = (rows + chunk_rows - 1) / chunk_rows;
		int use = nthreads < 2 ? 1 : nthreads < nchunks ? nthreads : (int)nchunks;
		int64_t next = 0;
		pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
		struct quant_job qj = { *f32, *q, rows, cols, chunk_rows, &next, &lock };
		for (int k = 0; k < use - 1; k++)
			pthread_create(&th[k], NULL, quantize, &qj);
		quantize(&qj);
		for (int k = 0; k < use - 1; k++)
			pthread_join(th[k], NULL);
		if (write_all(out, *q, qbytes, off) != 0) {
			rc = -1;
			break;
		}
	}
	json_decref(h);
	munmap((void *)map, (size_t)st.st_size);
	return rc;
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			return 2;
		nthreads = atoi(optarg);
	}
	if (argc - optind < 2 || nthreads < 1 || nthreads > MAX_THREADS)
		return 2;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ggml_quantize_init(GGML_TYPE_Q4_0);
	int out = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		return 1;
	off_t off = 0;
	float *f32 = NULL;
	char *q = NULL;
	size_t f32_cap = 0, q_cap = 0;
	for (int i = optind + 1; i < argc; i++) {
		if (do_file(argv[i], out, &off, &f32, &f32_cap, &q, &q_cap) != 0) {
			fprintf(stderr, "ggml_q4: %s: cannot quantize\n", argv[i]);
			return 1;
		}
	}
	if (fsync(out) != 0)
		return 1;
	close(out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(f32);
	free(q);
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
