/* login_page.h - the login page GET /login (DESIGN §7).
 *
 * A pure renderer built with html.h, like the dashboard: no script, one
 * <style>, so it suits HTML_PAGE_CSP. One form posts to /api/v1/session
 * (application/x-www-form-urlencoded) with the fields email, password, and
 * two hidden ones: csrf_token (the gen_csrf cookie's value: the double
 * submit of websec.h) and next (where to go after logging in: the server
 * answers 303 See Other to it). */
#ifndef GEN_LOGIN_PAGE_H
#define GEN_LOGIN_PAGE_H

#include "util.h"

struct login_page {
	const char *csrf_token; /**< value of the gen_csrf cookie */
	const char *next;       /**< a local path (websec_local_path) */
	const char *email;      /**< prefilled after a failed attempt, or NULL */
	const char *message;    /**< why the last attempt failed, or NULL */
};

/** Render the page as a complete HTML document appended to out. Returns 0,
 * or -1 (out unchanged) when in, out, csrf_token or next is NULL, or on a
 * serialiser failure. */
int login_page_render(const struct login_page *in, struct sbuf *out);

#endif
