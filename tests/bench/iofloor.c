/*
 * iofloor - the I/O floor of a conversion: reads every FILE and writes
 * BYTES bytes (default: as many as were read) to OUT, then fsyncs; prints
 * the seconds it took.
 *
 *   iofloor [-n BYTES] OUT FILE...
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long want = -1;
	int a0 = 1;
	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		want = atoll(argv[2]);
		a0 = 3;
	}
	if (argc < a0 + 2)
		return 2;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int out = open(argv[a0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	static char buf[8 << 20];
	long long written = 0;
	for (int i = a0 + 1; i < argc; i++) {
		int in = open(argv[i], O_RDONLY);
		ssize_t n;
		while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
			if (want >= 0 && n > want - written)
				n = (ssize_t)(want - written);
			if (n > 0 && write(out, buf, (size_t)n) != n)
				return 1;
			written += n;
		}
		close(in);
	}
	/* an output larger than the input (decompress) writes the rest again */
	while (want > written) {
		ssize_t n = want - written < (long long)sizeof(buf) ? (ssize_t)(want - written) :
								     (ssize_t)sizeof(buf);
		if (write(out, buf, (size_t)n) != n)
			return 1;
		written += n;
	}
	if (out < 0 || fsync(out) != 0)
		return 1;
	close(out);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	unlink(argv[a0]);
	return 0;
}
