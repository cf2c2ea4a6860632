/* util.h - memory that never returns NULL, growable strings, encodings.
 *
 * Every module uses these helpers; out-of-memory aborts the process (a
 * server that cannot allocate a few bytes cannot answer anyway), so callers
 * carry no untestable NULL branches. Real limits stay explicit elsewhere. */
#ifndef GEN_UTIL_H
#define GEN_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/** malloc/calloc/realloc/strdup that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/** A growable, always NUL-terminated byte string. Zero-initialise to use. */
struct sbuf {
	char *data;
	size_t len;
	size_t cap;
};

void sbuf_reserve(struct sbuf *b, size_t extra);
void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap);
/** Empty the string, keep the storage. */
void sbuf_reset(struct sbuf *b);
void sbuf_free(struct sbuf *b);
/** Hand the storage to the caller (never NULL) and reset the buffer. */
char *sbuf_detach(struct sbuf *b);

/** Append s as a JSON string literal (with quotes), escaping per RFC 8259.
 * Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid. */
void json_add_str(struct sbuf *b, const char *s);
/** Same for n bytes that may contain NUL. */
void json_add_strn(struct sbuf *b, const char *s, size_t n);

/** 1 when the n bytes are valid UTF-8 without NUL, else 0. */
int utf8_valid(const char *s, size_t n);

/** Append s with the five XML special characters escaped. */
void xml_add_escaped(struct sbuf *b, const char *s);

/** Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);
/** The value of hex digit c (either case), or -1. */
int hex_value(char c);
/** Decode 2n hex digits; returns 0 or -1 on a bad digit. */
int hex_decode(const char *in, size_t n, unsigned char *out);

/** Standard base64 (with padding) of n bytes; the result is malloc'd. */
char *base64_encode(const unsigned char *in, size_t n);
/** Decode standard base64; returns the byte count or -1. out must hold
 * 3*strlen(in)/4 bytes. */
long base64_decode(const char *in, unsigned char *out, size_t outcap);

/** Parse a whole decimal integer within [min,max]; returns 0 or -1. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/** Parse a decimal with at most `scale` fraction digits into an integer
 * scaled by 10^scale ("12.5", scale 2 -> 1250). Returns 0 or -1. */
int parse_scaled(const char *s, int scale, int64_t *out);

/** Format an integer scaled by 10^scale as a decimal ("1250", 2 -> "12.50"). */
void format_scaled(int64_t v, int scale, char *out, size_t outlen);

/** Monotonic clock in microseconds. */
int64_t now_usec(void);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
