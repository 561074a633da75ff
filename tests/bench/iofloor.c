/*
 * iofloor - the I/O floor of a conversion: reads every FILE and writes
 * BYTES bytes (default: as many as were read) to OUT, then fsyncs; prints
 * the seconds it took.
 *
 *   iofloor [-t THREADS] [-n BYTES] OUT FILE...
 *
 * With -t, THREADS threads share the work as a conversion's threads do:
 * each reads its own slice of the inputs (taken as one concatenated
 * stream) and writes the same share of the output, at its own offsets of
 * the one output file, so the floor of a -j N job is measured with N.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (8 << 20)
#define MAX_THREADS 64

static int nfiles;
static int *fds;
static long long *sizes;
static long long total_in, total_out;
static int out_fd;
static int nthreads = 1;

struct slice {
	int k;
	int failed;
};

/* Reads [a, b) of the concatenated inputs into buf, chunk by chunk, and
 * writes the proportional part of [oa, ob) of the output after each. */
static void *work(void *arg)
{
	struct slice *s = arg;
	long long a = total_in * s->k / nthreads, b = total_in * (s->k + 1) / nthreads;
	long long oa = total_out * s->k / nthreads, ob = total_out * (s->k + 1) / nthreads;
	char *buf = malloc(CHUNK);
	if (!buf) {
		s->failed = 1;
		return NULL;
	}
	long long pos = 0, done_in = 0, o = oa;
	for (int i = 0; i < nfiles && !s->failed; i++) {
		long long f0 = pos, f1 = pos + sizes[i];
		pos = f1;
		long long r0 = a > f0 ? a : f0, r1 = b < f1 ? b : f1;
		while (r0 < r1) {
			size_t want = r1 - r0 < CHUNK ? (size_t)(r1 - r0) : CHUNK;
			ssize_t n = pread(fds[i], buf, want, r0 - f0);
			if (n <= 0) {
				s->failed = 1;
				break;
			}
			r0 += n;
			done_in += n;
			/* the output share that corresponds to the input read so far */
			long long until = b > a ? oa + (ob - oa) * done_in / (b - a) : ob;
			while (o < until) {
				size_t w = until - o < CHUNK ? (size_t)(until - o) : CHUNK;
				w = w < (size_t)n ? w : (size_t)n;
				if (pwrite(out_fd, buf, w, o) != (ssize_t)w) {
					s->failed = 1;
					break;
				}
				o += (long long)w;
			}
		}
	}
	/* an output larger than the input (decompress) writes the rest again */
	if (done_in == 0)
		memset(buf, 0, CHUNK);
	while (!s->failed && o < ob) {
		size_t w = ob - o < CHUNK ? (size_t)(ob - o) : CHUNK;
		if (pwrite(out_fd, buf, w, o) != (ssize_t)w)
			s->failed = 1;
		o += (long long)w;
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	long long want = -1;
	int opt;
	while ((opt = getopt(argc, argv, "t:n:")) != -1) {
		if (opt == 't')
			nthreads = atoi(optarg);
		else if (opt == 'n')
			want = atoll(optarg);
		else
			return 2;
	}
	if (argc - optind < 2 || nthreads < 1 || nthreads > MAX_THREADS)
		return 2;
	const char *out_path = argv[optind];
	nfiles = argc - optind - 1;
	fds = calloc((size_t)nfiles, sizeof(*fds));
	sizes = calloc((size_t)nfiles, sizeof(*sizes));
	if (!fds || !sizes)
		return 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nfiles; i++) {
		struct stat st;
		fds[i] = open(argv[optind + 1 + i], O_RDONLY);
		if (fds[i] < 0 || fstat(fds[i], &st) != 0)
			return 1;
		sizes[i] = st.st_size;
		total_in += st.st_size;
	}
	total_out = want >= 0 ? want : total_in;
	out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out_fd < 0)
		return 1;
	pthread_t th[MAX_THREADS];
	struct slice sl[MAX_THREADS];
	for (int k = 0; k < nthreads; k++) {
		sl[k] = (struct slice){ .k = k };
		if (pthread_create(&th[k], NULL, work, &sl[k]) != 0)
			return 1;
	}
	int failed = 0;
	for (int k = 0; k < nthreads; k++) {
		pthread_join(th[k], NULL);
		failed |= sl[k].failed;
	}
	if (failed || fsync(out_fd) != 0)
		return 1;
	close(out_fd);
	for (int i = 0; i < nfiles; i++)
		close(fds[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	unlink(out_path);
	return 0;
}
