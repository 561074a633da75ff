/*
 * mkmany - writes a safetensors file of N tiny tensors, for the tests of
 * how much a header of many tensors costs to read:
 *
 *   mkmany OUT N
 *
 * Tensor i is "model.layers.{i/1000}.t{i%1000}.weight", BF16 [2], zero. The
 * header is written here, not by ctensors' writer, so a reader bug cannot
 * hide behind a writer of the same making.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkmany OUT N\n");
		return 2;
	}
	unsigned long n = strtoul(argv[2], NULL, 10);
	size_t cap = 64 + n * 96, len = 0;
	char *h = malloc(cap);
	if (!h)
		return 2;
	len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
	for (unsigned long i = 0; i < n; i++)
		len += (size_t)snprintf(h + len, cap - len, ",\"model.layers.%lu.t%lu.weight\":"
					"{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":"
					"[%lu,%lu]}", i / 1000, i % 1000, 4 * i, 4 * i + 4);
	h[len++] = '}';
	while (len % 8)
		h[len++] = ' ';
	FILE *f = fopen(argv[1], "wb");
	if (!f)
		return 2;
	uint8_t word[8];
	for (int i = 0; i < 8; i++)
		word[i] = (uint8_t)((uint64_t)len >> (8 * i));
	int bad = fwrite(word, 1, 8, f) != 8 || fwrite(h, 1, len, f) != len;
	static const uint8_t zero[4096];
	for (uint64_t left = 4 * (uint64_t)n; !bad && left; ) {
		size_t m = left < sizeof(zero) ? (size_t)left : sizeof(zero);
		bad = fwrite(zero, 1, m, f) != m;
		left -= m;
	}
	free(h);
	return fclose(f) || bad ? 2 : 0;
}
