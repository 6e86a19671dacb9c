/* Error struct helpers: every module reports failures through ids_fail so messages
 * have one shape and callers can add context with ids_wrap. */
#include "idbsync/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ids_fail(ids_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

int ids_wrap(ids_error *err, const char *fmt, ...)
{
	if (!err)
		return IDS_EINVAL;
	char prefix[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	/* messages are capped by design: the end of a long one gives way to the context */
	size_t pl = strlen(prefix), ol = strnlen(err->msg, sizeof err->msg - 1);
	if (pl + ol > sizeof err->msg - 1)
		ol = sizeof err->msg - 1 - pl;
	memmove(err->msg + pl, err->msg, ol);
	memcpy(err->msg, prefix, pl);
	err->msg[pl + ol] = 0;
	return err->code;
}

const char *ids_code_name(int code)
{
	switch (code) {
	case IDS_OK: return "ok";
	case IDS_EINVAL: return "invalid";
	case IDS_ENOTFOUND: return "not_found";
	case IDS_ECORRUPT: return "corrupt";
	case IDS_ELIMIT: return "too_large";
	case IDS_ECONFLICT: return "conflict";
	case IDS_EIO: return "io";
	case IDS_EFORBIDDEN: return "forbidden";
	case IDS_ENOMEM: return "out_of_memory";
	case IDS_EGONE: return "cursor_expired";
	case IDS_ENOSPC: return "disk_full";
	case IDS_EBUSY: return "busy";
	case IDS_ETIMEOUT: return "timeout";
	default: return "error";
	}
}
