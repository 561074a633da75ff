/*
 * iofloor - the I/O floor of a conversion: reads every FILE and writes the
 * same number of bytes to OUT, then fsyncs; prints the seconds it took.
 *
 *   iofloor OUT FILE...
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	static char buf[8 << 20];
	for (int i = 2; i < argc; i++) {
		int in = open(argv[i], O_RDONLY);
		ssize_t n;
		while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				return 1;
		close(in);
	}
	if (out < 0 || fsync(out) != 0)
		return 1;
	close(out);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	unlink(argv[1]);
	return 0;
}
