/*
 * ct_error.h - how the library reports failure.
 *
 * Every fallible library function returns an int: CT_OK (0) on success, or one
 * of the CT_E* codes below, and fills the caller's ct_error with a message of
 * the form "FILE[: TENSOR]: what is wrong (what was expected)". The library
 * never prints and never exits; the CLI maps codes to exit statuses.
 */
#ifndef CT_ERROR_H
#define CT_ERROR_H

#include <stddef.h>

enum {
	CT_OK = 0,
	CT_EVERIFY = 1,   /* a verification check failed */
	CT_EUSAGE = 2,    /* bad option or argument value */
	CT_EINPUT = 3,    /* malformed or inconsistent checkpoint or config */
	CT_EIO = 4,       /* cannot read/write, no space, out of memory */
	CT_EINTERNAL = 5, /* a bug */
};

#define CT_ERROR_MSG_MAX 1024

typedef struct ct_error {
	int code;                     /* last CT_E* code, CT_OK when none */
	char msg[CT_ERROR_MSG_MAX];   /* human-readable, no trailing newline */
} ct_error;

/* Records code and a printf-style message in err (err may be NULL); returns code. */
int ct_fail(ct_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to the message already in err; returns err->code. */
int ct_error_prefix(ct_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void ct_error_clear(ct_error *err);

#endif
