/* wlog.h - the worker's structured log: one event per line on stderr.
 *
 * Lines look like `ts=2024-05-01T10:00:00.123Z worker=host:42 event=job_done
 * id=7 kind=screen ms=12`. Values that hold spaces, quotes, '=' or control
 * characters are written double-quoted with C-style escapes, so every line
 * splits back into key=value pairs. */
#ifndef GEN_WLOG_H
#define GEN_WLOG_H

#include <stddef.h>

/** Name put on every line as worker=... (copied; "" to omit). */
void wlog_set_worker(const char *id);

/** Write `event=<event>` followed by the printf-formatted key=value pairs in
 * fmt (may be "" for none). Quote free-text values with wlog_q(). */
void wlog(const char *event, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** s made safe as a value: unchanged when it is a plain token, else
 * double-quoted and escaped (trailing newlines dropped), truncated to fit
 * buf. Returns buf. */
const char *wlog_q(char *buf, size_t len, const char *s);

#endif
