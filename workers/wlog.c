/* wlog.c - see wlog.h. */
#include "wlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static char worker_id[128];

void
wlog_set_worker(const char *id)
{
	wlog_q(worker_id, sizeof worker_id, id);
}

const char *
wlog_q(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s), j = 0;
	int plain = n > 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n && plain; i++) {
		unsigned char ch = (unsigned char)s[i];
		plain = ch > 0x20 && ch != 0x7f && ch != '"' && ch != '=' && ch != '\\';
	}
	if (len == 0)
		return buf;
	if (plain && n < len) {
		memcpy(buf, s, n);
		buf[n] = '\0';
		return buf;
	}
	/* Room is kept for an escape of up to 4 bytes plus the closing quote. */
	if (len < 8) {
		buf[0] = '\0';
		return buf;
	}
	buf[j++] = '"';
	for (size_t i = 0; i < n && j + 6 < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			buf[j++] = '\\';
			buf[j++] = (char)ch;
		} else if (ch == '\n') {
			buf[j++] = '\\';
			buf[j++] = 'n';
		} else if (ch < 0x20 || ch == 0x7f) {
			j += (size_t)snprintf(buf + j, len - j, "\\x%02x", ch);
		} else {
			buf[j++] = (char)ch;
		}
	}
	buf[j++] = '"';
	buf[j] = '\0';
	return buf;
}

void
wlog(const char *event, const char *fmt, ...)
{
	struct sbuf line = { 0 };
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	sbuf_printf(&line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000);
	if (worker_id[0])
		sbuf_printf(&line, " worker=%s", worker_id);
	sbuf_printf(&line, " event=%s", event);
	sbuf_addc(&line, ' ');
	va_start(ap, fmt);
	sbuf_vprintf(&line, fmt, ap);
	va_end(ap);
	sbuf_addc(&line, '\n');
	/* One write per line, so lines of several processes do not interleave. */
	fwrite(line.data, 1, line.len, stderr);
	fflush(stderr);
	sbuf_free(&line);
}
