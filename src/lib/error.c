#include "ct_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ct_fail(ct_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

int ct_error_prefix(ct_error *err, const char *fmt, ...)
{
	if (!err)
		return CT_EINTERNAL;
	char prefix[CT_ERROR_MSG_MAX];
	char old[CT_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Assembled by hand: a truncated message is fine, a compiler warning
	 * about the possibility is not. */
	size_t n = strlen(prefix);
	size_t room = sizeof(err->msg) - 1;
	if (n > room)
		n = room;
	memcpy(err->msg, prefix, n);
	size_t at = n;
	for (const char *s = ": "; *s && at < room; s++)
		err->msg[at++] = *s;
	size_t m = strlen(old);
	if (m > room - at)
		m = room - at;
	memcpy(err->msg + at, old, m);
	err->msg[at + m] = '\0';
	return err->code;
}

void ct_error_clear(ct_error *err)
{
	if (err) {
		err->code = CT_OK;
		err->msg[0] = '\0';
	}
}
