/* login_page.c - see login_page.h. */
#include "login_page.h"

#include <libxml/tree.h>

#include "html.h"

static const char page_css[] =
	"body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"color:#1a1a1a;line-height:1.4;max-width:24rem;margin:3rem auto;padding:0 1rem}\n"
	"h1{font-size:1.5rem}\n"
	"label{display:flex;flex-direction:column;margin:0 0 .75rem}\n"
	"input{font:inherit;padding:.3rem}\n"
	"button{font:inherit;padding:.3rem 1rem}\n"
	".error{color:#a12a1f;border:1px solid #a12a1f;padding:.5rem}\n";

static void
input_field(xmlNodePtr form, const char *label, const char *type, const char *name,
    const char *autocomplete, const char *value)
{
	xmlNodePtr l = html_el(form, "label");
	xmlNodePtr in;

	html_el_text(l, "span", label);
	in = html_el(l, "input");
	html_set_attr(in, "type", type);
	html_set_attr(in, "name", name);
	html_set_attr(in, "autocomplete", autocomplete);
	html_set_attr(in, "required", "required");
	if (value != NULL)
		html_set_attr(in, "value", value);
}

int
login_page_render(const struct login_page *in, struct sbuf *out)
{
	xmlNodePtr body, main, form, b;
	xmlDocPtr doc;
	int rc;

	if (in == NULL || out == NULL || in->csrf_token == NULL || in->next == NULL)
		return -1;
	doc = html_page_new("fr", "Connexion", page_css, &body);
	main = html_el(body, "main");
	html_el_text(main, "h1", "Connexion");
	if (in->message != NULL && in->message[0] != '\0') {
		xmlNodePtr p = html_el_text(main, "p", in->message);
		html_set_attr(p, "class", "error");
		html_set_attr(p, "role", "alert");
	}
	form = html_post_form(main, "/api/v1/session", in->csrf_token);
	html_set_attr(form, "class", "login");
	html_hidden(form, "next", in->next);
	input_field(form, "Adresse électronique", "email", "email", "username", in->email);
	input_field(form, "Mot de passe", "password", "password", "current-password", NULL);
	b = html_el_text(form, "button", "Se connecter");
	html_set_attr(b, "type", "submit");
	rc = html_serialise(doc, out);
	xmlFreeDoc(doc);
	return rc;
}
