/*
 * pyjson.h - JSON text byte-identical to Python's json.dumps.
 *
 * The files ctensors writes next to a checkpoint (config.json with its
 * quantization_config, model.safetensors.index.json) are, in the Python
 * ecosystem, produced by compressed-tensors and transformers with
 * json.dumps(obj, indent=2, sort_keys=True). jansson's own dumper differs in
 * float formatting, escaping and layout, so output is compared and hashed
 * against the Python reference through this serializer instead.
 *
 * Both modes use json.dumps's defaults otherwise: ensure_ascii (every
 * non-ASCII character as a lowercase \uXXXX escape, surrogate pairs above
 * U+FFFF), keys sorted by code point, reals as Python's repr(float).
 */
#ifndef CT_PYJSON_H
#define CT_PYJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Containers (objects/arrays) nested inside one another; the outermost counts
 * as 1. Keeps recursion bounded for hostile input. */
#define CT_PYJSON_MAX_DEPTH 64

/* Serializes v as Python's json.dumps(v, indent=2, sort_keys=True) when pretty,
 * else json.dumps(v, separators=(",", ":"), sort_keys=True). Returns a malloc'd
 * NUL-terminated string (caller frees), or NULL when out of memory, when v
 * nests deeper than CT_PYJSON_MAX_DEPTH (64), or when a string or key is not
 * valid UTF-8 (only possible for values built with the *_nocheck setters).
 * No trailing newline. */
char *ct_pyjson_dumps(const json_t *v, bool pretty);

/* Writes Python's repr(d) into buf and returns buf: the shortest digit string
 * that reads back as d, laid out like "0.0001", "1.5", "10000.0", "1e-05",
 * "1e+16". Non-finite values get json.dumps's spellings "NaN", "Infinity",
 * "-Infinity" (repr itself would say "nan"/"inf"). 32 bytes always suffice;
 * returns NULL (buf set to "" when bufsize > 0) if buf is too small. */
char *ct_pyjson_float_repr(double d, char *buf, size_t bufsize);

#endif
