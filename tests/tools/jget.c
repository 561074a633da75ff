/*
 * jget - read exactly one JSON document on stdin (anything after it is an
 * error) and print the value at each PATH given: ".a.b[2].c", "." for the
 * whole document, a trailing "#" for the length of an array or object.
 * Strings print bare, other values as compact JSON. Exit status 1 when the
 * input is not one document or a path is absent.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *walk(json_t *v, const char *p)
{
	while (v && *p) {
		if (*p == '.') {
			p++;
			size_t n = strcspn(p, ".[#");
			if (n == 0)
				continue;
			char key[256];
			if (n >= sizeof(key))
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			v = json_object_get(v, key);
			p += n;
		} else if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);
			if (*end != ']' || i < 0)
				return NULL;
			v = json_array_get(v, (size_t)i);
			p = end + 1;
		} else if (*p == '#' && !p[1]) {
			return v;
		} else {
			return NULL;
		}
	}
	return v;
}

int main(int argc, char **argv)
{
	json_error_t e;
	json_t *doc = json_loadf(stdin, JSON_DECODE_ANY, &e);
	if (!doc) {
		fprintf(stderr, "jget: not one JSON document: %s (line %d)\n", e.text, e.line);
		return 1;
	}
	int status = 0;
	for (int i = 1; i < argc; i++) {
		json_t *v = walk(doc, argv[i]);
		size_t n = strlen(argv[i]);
		if (!v) {
			fprintf(stderr, "jget: %s: absent\n", argv[i]);
			status = 1;
			continue;
		}
		if (n && argv[i][n - 1] == '#') {
			printf("%zu\n", json_is_array(v) ? json_array_size(v) : json_object_size(v));
		} else if (json_is_string(v)) {
			printf("%s\n", json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
			printf("%s\n", s ? s : "?");
			free(s);
		}
	}
	json_decref(doc);
	return status;
}
