/*
 * st_header.h - reads the JSON header of a safetensors file (st_header.c),
 * for safetensors.c alone.
 */
#ifndef CT_ST_HEADER_H
#define CT_ST_HEADER_H

#include <stddef.h>

#include "ct_error.h"
#include "safetensors.h"

/* Reads text[0..n) (the header, starting with '{', valid UTF-8 without
 * NUL) into f: f->tensors in header order with their fields checked,
 * f->names (owning the names), f->metadata, and f->by_name (sorted by name;
 * a name given twice is refused). On error f holds what was read so far,
 * for ct_st_close. */
int ct_st_header_read(const char *label, const char *text, size_t n, ct_st_file *f,
		      ct_error *err);

#endif
