/* Unit tests of the canonical assignment input (server/assign_input.c):
 * round trips, parse errors with their line, the problem built from the
 * text (affinities and conflicts checked by hand), the result JSON byte for
 * byte, and the merged diagnosis of an infeasible pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "assign_input.h"
#include "form.h"
#include "unit.h"
#include "util.h"

/* Families: development (0), infrastructure (1), data-ai-iot (3).
 * Regions: "11" and "32". */
static const char sample[] =
	"gen-assignment-input 1\n"
	"call AAP-2026-INNOV\n"
	"seats 2\n"
	"app GEN-2026-000001 10 development 32 73282932000074\n"
	"app GEN-2026-000002 11 data-ai-iot 11 55208131766522\n"
	"app GEN-2026-000003 15 - - 44306184100047\n"
	"rev 4 alice@example.org 3 development,data-ai-iot 32\n"
	"rev 7 bob@univ.example.fr 0 - -\n"
	"rev 9 carol@example.net 5 infrastructure,data-ai-iot 11,32\n"
	"conflict GEN-2026-000001 9\n"
	"conflict GEN-2026-000002 4\n"
	"conflict GEN-2026-000002 9\n";

static char *
format(const struct assign_input *in)
{
	struct sbuf b = { 0 };

	assign_input_format(in, &b);
	return sbuf_detach(&b);
}

static void
round_trip(void)
{
	struct assign_input in;
	char err[256];

	CHECK_EQ_INT(assign_input_parse(sample, &in, err, sizeof err), 0);
	CHECK_EQ_STR(in.call_ref, "AAP-2026-INNOV");
	CHECK_EQ_INT(in.seats, 2);
	CHECK_EQ_INT(in.n_apps, 3);
	CHECK_EQ_INT(in.n_revs, 3);
	CHECK_EQ_INT(in.n_conflicts, 3);
	CHECK_EQ_STR(in.apps[1].tracking, "GEN-2026-000002");
	CHECK_EQ_INT(in.apps[1].id, 11);
	CHECK_EQ_INT(in.apps[1].family, FAMILY_DATA_AI_IOT);
	CHECK_EQ_INT(in.apps[1].region, region_index("11"));
	CHECK_EQ_INT(in.apps[2].family, -1);
	CHECK_EQ_INT(in.apps[2].region, -1);
	CHECK_EQ_STR(in.apps[2].siret, "44306184100047");
	CHECK_EQ_INT(in.revs[0].id, 4);
	CHECK_EQ_STR(in.revs[0].email, "alice@example.org");
	CHECK_EQ_INT(in.revs[0].capacity, 3);
	CHECK_EQ_INT(in.revs[0].families,
	    (1u << FAMILY_DEVELOPMENT) | (1u << FAMILY_DATA_AI_IOT));
	CHECK_EQ_INT(in.revs[2].regions,
	    (1u << region_index("11")) | (1u << region_index("32")));
	CHECK_EQ_INT(in.revs[1].families, 0);
	CHECK_EQ_INT(in.revs[1].regions, 0);
	CHECK_EQ_INT(in.conflicts[0].app, 0);
	CHECK_EQ_INT(in.conflicts[0].rev, 2);
	CHECK_EQ_INT(in.conflicts[1].app, 1);
	CHECK_EQ_INT(in.conflicts[1].rev, 0);
	char *text = format(&in);
	CHECK_EQ_STR(text, sample);
	free(text);
	assign_input_free(&in);
	CHECK_EQ_INT(in.n_apps, 0);
	CHECK(in.apps == NULL);

	/* Empty pools are well-formed (the job refuses them, not the format). */
	const char *empty = "gen-assignment-input 1\ncall X-1\nseats 0\n";
	CHECK_EQ_INT(assign_input_parse(empty, &in, err, sizeof err), 0);
	text = format(&in);
	CHECK_EQ_STR(text, empty);
	free(text);
	assign_input_free(&in);
}

/* A struct filled by hand (conflicts collected out of order) formats to
 * text that parses back to the same struct. */
static void
struct_round_trip(void)
{
	struct assign_input in = { .seats = 1, .n_apps = 2, .n_revs = 2, .n_conflicts = 3 };
	struct assign_input back;
	char err[256];

	snprintf(in.call_ref, sizeof in.call_ref, "AMI-LABEL-2026");
	in.apps = xcalloc(2, sizeof *in.apps);
	in.revs = xcalloc(2, sizeof *in.revs);
	in.conflicts = xcalloc(3, sizeof *in.conflicts);
	in.apps[0] = (struct assign_input_app){ "GEN-2026-000009", 3, FAMILY_MANAGEMENT,
		region_index("94"), "73282932000074" };
	in.apps[1] = (struct assign_input_app){ "GEN-2026-000004", 8, FAMILY_DESIGN, -1,
		"73282932000074" };
	in.revs[0] = (struct assign_input_rev){ 2, "r1@x.fr", 4,
		(1u << FAMILY_MANAGEMENT) | (1u << FAMILY_DEVELOPMENT), 1u << region_index("01") };
	in.revs[1] = (struct assign_input_rev){ 30, "r2@y.fr", 1, 1u << FAMILY_DESIGN, 0 };
	in.conflicts[0] = (struct assign_conflict){ 1, 1 };
	in.conflicts[1] = (struct assign_conflict){ 0, 1 };
	in.conflicts[2] = (struct assign_conflict){ 1, 1 };
	assign_input_sort_conflicts(&in);
	CHECK_EQ_INT(in.n_conflicts, 2);
	char *text = format(&in);
	CHECK_EQ_STR(text,
	    "gen-assignment-input 1\n"
	    "call AMI-LABEL-2026\n"
	    "seats 1\n"
	    "app GEN-2026-000009 3 management 94 73282932000074\n"
	    "app GEN-2026-000004 8 design - 73282932000074\n"
	    "rev 2 r1@x.fr 4 development,management 01\n"
	    "rev 30 r2@y.fr 1 design -\n"
	    "conflict GEN-2026-000009 30\n"
	    "conflict GEN-2026-000004 30\n");
	CHECK_EQ_INT(assign_input_parse(text, &back, err, sizeof err), 0);
	CHECK_EQ_INT(back.n_apps, 2);
	CHECK_EQ_INT(back.n_conflicts, 2);
	CHECK(memcmp(back.apps, in.apps, 2 * sizeof *in.apps) == 0);
	CHECK(memcmp(back.revs, in.revs, 2 * sizeof *in.revs) == 0);
	CHECK(memcmp(back.conflicts, in.conflicts, 2 * sizeof *in.conflicts) == 0);
	char *again = format(&back);
	CHECK_EQ_STR(again, text);
	free(again);
	free(text);
	assign_input_free(&back);
	assign_input_free(&in);
}

/* Parse `text`; expect failure with exactly `msg`. */
static void
expect_error(const char *text, const char *msg)
{
	struct assign_input in;
	char err[256] = "";

	int rc = assign_input_parse(text, &in, err, sizeof err);
	CHECK_EQ_INT(rc, -1);
	CHECK_EQ_STR(err, msg);
	CHECK(in.apps == NULL && in.revs == NULL && in.conflicts == NULL);
	if (rc == 0)
		assign_input_free(&in);
}

#define HEAD "gen-assignment-input 1\ncall C-1\nseats 2\n"
#define APP1 "app GEN-2026-000001 10 development 32 73282932000074\n"
#define APP2 "app GEN-2026-000002 11 design 11 55208131766522\n"
#define REV1 "rev 4 a@b.fr 3 development 32\n"

static void
parse_errors(void)
{
	expect_error("", "line 1: the text ends before its first line");
	expect_error("gen-assignment-input 2\n", "line 1: expected \"gen-assignment-input 1\"");
	expect_error("gen-assignment-input 1\ncall C-1\n", "line 3: the text ends before its seats line");
	expect_error("gen-assignment-input 1\nseats 2\n", "line 2: expected \"call <ref>\"");
	expect_error("gen-assignment-input 1\ncall C-1\nseats 02\n",
	    "line 3: expected \"seats <n>\" (0 to 1000)");
	expect_error(HEAD APP1 "bogus line\n", "line 5: unknown line \"bogus\"");
	expect_error(HEAD APP1 "\n", "line 5: empty field (fields are separated by one space)");
	expect_error(HEAD "app  GEN-2026-000001 10 development 32 73282932000074\n",
	    "line 4: empty field (fields are separated by one space)");
	expect_error(HEAD APP1 REV1 "conflict GEN-2026-000001 4",
	    "line 6: no newline at the end of the line");
	expect_error(HEAD "app GEN-2026-000001 10 development 32 73282932000074\r\n",
	    "line 4: character 0x0d at column 53");
	expect_error(HEAD "app GEN-2026-000001 10 mining 32 73282932000074\n",
	    "line 4: unknown family \"mining\"");
	expect_error(HEAD "app GEN-2026-000001 10 design 99 73282932000074\n",
	    "line 4: unknown region \"99\"");
	expect_error(HEAD "app GEN-2026-000001 10 design 32 7328293200007\n",
	    "line 4: bad SIRET \"7328293200007\"");
	expect_error(HEAD "app GEN-2026-000001 10 design 32\n",
	    "line 4: an app line has 6 fields, not 5");
	expect_error(HEAD APP2 APP1, "line 5: application id 10 is not above the previous one");
	expect_error(HEAD APP1 "app GEN-2026-000001 12 design 11 55208131766522\n" REV1,
	    "line 6: application GEN-2026-000001 is listed twice");
	expect_error(HEAD APP1 "rev 4 a@b.fr 3 data-ai-iot,development 32\n",
	    "line 5: family list \"data-ai-iot,development\" is not in canonical order without repeats");
	expect_error(HEAD APP1 "rev 4 a@b.fr 3 development,development 32\n",
	    "line 5: family list \"development,development\" is not in canonical order without repeats");
	expect_error(HEAD APP1 "rev 4 a@b.fr 3 development,cooking 32\n",
	    "line 5: unknown family \"cooking\"");
	expect_error(HEAD APP1 "rev 4 a@b.fr 3 development, 32\n",
	    "line 5: bad family list \"development,\"");
	expect_error(HEAD APP1 "rev 4 a@b.fr 3 - 32,11\n",
	    "line 5: region list \"32,11\" is not in canonical order without repeats");
	expect_error(HEAD APP1 "rev 4 a@b.fr -1 - -\n", "line 5: bad capacity \"-1\"");
	expect_error(HEAD APP1 "rev 4 nobody 1 - -\n", "line 5: bad e-mail \"nobody\"");
	expect_error(HEAD APP1 REV1 "rev 4 c@d.fr 1 - -\n",
	    "line 6: reviewer id 4 is not above the previous one");
	expect_error(HEAD APP1 REV1 "conflict GEN-2026-000009 4\n",
	    "line 6: conflict names application \"GEN-2026-000009\", which is not listed");
	expect_error(HEAD APP1 REV1 "conflict GEN-2026-000001 5\n",
	    "line 6: conflict names reviewer 5, who is not listed");
	expect_error(HEAD APP1 APP2 REV1 "conflict GEN-2026-000002 4\nconflict GEN-2026-000001 4\n",
	    "line 8: conflict GEN-2026-000001 4 is out of order or repeated");
	expect_error(HEAD APP1 REV1 "conflict GEN-2026-000001 4\nconflict GEN-2026-000001 4\n",
	    "line 7: conflict GEN-2026-000001 4 is out of order or repeated");
	expect_error(HEAD APP1 REV1 "conflict GEN-2026-000001 4\n" APP2,
	    "line 7: an app line after rev or conflict lines");
	expect_error(HEAD APP1 "conflict GEN-2026-000001 4\n" REV1,
	    "line 5: conflict names reviewer 4, who is not listed");
	expect_error(HEAD APP1 REV1 "conflict GEN-2026-000001 4 extra\n",
	    "line 6: a conflict line has 3 fields, not 4");
	expect_error(HEAD "app GEN-2026-000001 10 development 32 73282932000074 a b c d\n",
	    "line 4: an app line has 6 fields, not 10");
}

/* Affinity = 3·[family] + 1·[region], computed by hand for the sample:
 * app0 (development, 32), app1 (data-ai-iot, 11), app2 (-, -);
 * alice {development, data-ai-iot}/{32}, bob {}/{} (capacity 0),
 * carol {infrastructure, data-ai-iot}/{11, 32}; conflicts app0-carol,
 * app1-alice, app1-carol. */
static void
problem_matches_hand(void)
{
	struct assign_input in;
	char err[256];
	static const int want[3][3] = {
		{ 4, 0, -1 },
		{ -1, 0, -1 },
		{ 0, 0, 0 },
	};

	CHECK_EQ_INT(assign_input_parse(sample, &in, err, sizeof err), 0);
	struct assign_problem *p = assign_input_problem(&in, err, sizeof err);
	CHECK(p != NULL);
	if (p == NULL) {
		fprintf(stderr, "  %s\n", err);
		assign_input_free(&in);
		return;
	}
	CHECK_EQ_INT(assign_problem_apps(p), 3);
	CHECK_EQ_INT(assign_problem_revs(p), 3);
	CHECK_EQ_INT(assign_problem_seats(p), 2);
	CHECK_EQ_INT(assign_problem_capacity(p, 0), 3);
	CHECK_EQ_INT(assign_problem_capacity(p, 1), 0);
	CHECK_EQ_INT(assign_problem_capacity(p, 2), 5);
	CHECK_EQ_INT(assign_problem_pairs(p), 6);
	for (int a = 0; a < 3; a++)
		for (int r = 0; r < 3; r++) {
			if (assign_affinity(p, a, r) != want[a][r])
				fprintf(stderr, "  app %d rev %d\n", a, r);
			CHECK_EQ_INT(assign_affinity(p, a, r), want[a][r]);
		}
	/* carol (11, 32) against app1's region would give 1, but app1 is
	 * conflicted with her; against app2 nothing matches. */
	assign_problem_free(p);
	assign_input_free(&in);
}

static char *
solve_json(const char *text, long long *unfilled)
{
	struct assign_input in;
	struct assign_result res;
	struct sbuf b = { 0 };
	char err[256];

	if (assign_input_parse(text, &in, err, sizeof err) != 0) {
		fprintf(stderr, "  parse: %s\n", err);
		return NULL;
	}
	struct assign_problem *p = assign_input_problem(&in, err, sizeof err);
	if (p == NULL) {
		fprintf(stderr, "  problem: %s\n", err);
		assign_input_free(&in);
		return NULL;
	}
	assign_solve(p, &res);
	if (assign_check(p, &res, err, sizeof err) != 0)
		fprintf(stderr, "  check: %s\n", err), sbuf_adds(&b, "CHECK FAILED ");
	assign_result_json(&in, &res, &b);
	if (unfilled != NULL)
		*unfilled = res.unfilled_total;
	assign_result_free(&res);
	assign_problem_free(p);
	assign_input_free(&in);
	return sbuf_detach(&b);
}

/* Two applications, three reviewers, one seat each: app0 (development, 32)
 * prefers r1 (development + 32, 4 points) over r2 (32 only, 1); app1
 * (design, 11) has r2 (design, 3) and r3 (design + 11, 4) but r3 is
 * conflicted. Optimum: app0-r1 (4), app1-r2 (3), total 7. */
static void
json_exact(void)
{
	const char *text =
		"gen-assignment-input 1\n"
		"call C-1\n"
		"seats 1\n"
		"app GEN-2026-000001 1 development 32 73282932000074\n"
		"app GEN-2026-000002 2 design 11 55208131766522\n"
		"rev 5 r1@a.fr 1 development 32\n"
		"rev 6 r2@b.fr 2 design 32\n"
		"rev 7 \"q\"@c.fr 2 design 11\n"
		"conflict GEN-2026-000002 7\n";
	long long unfilled = -1;
	char *json = solve_json(text, &unfilled);

	CHECK_EQ_STR(json,
	    "{\"filled\":2,\"unfilled\":0,\"totalAffinity\":7,\"assignments\":["
	    "{\"application\":\"GEN-2026-000001\",\"reviewer\":\"r1@a.fr\",\"affinity\":4},"
	    "{\"application\":\"GEN-2026-000002\",\"reviewer\":\"r2@b.fr\",\"affinity\":3}],"
	    "\"diagnosis\":null}");
	CHECK_EQ_INT(unfilled, 0);
	/* Deterministic: the same text gives the same bytes. */
	char *again = solve_json(text, NULL);
	CHECK_EQ_STR(again, json);
	free(again);
	free(json);

	/* The escaping of json_add_str: a quoted local part. */
	const char *text2 =
		"gen-assignment-input 1\ncall C-1\nseats 1\n"
		"app GEN-2026-000001 1 design 11 73282932000074\n"
		"rev 7 \"q\"@c.fr 2 design 11\n";
	json = solve_json(text2, NULL);
	CHECK_EQ_STR(json,
	    "{\"filled\":1,\"unfilled\":0,\"totalAffinity\":4,\"assignments\":["
	    "{\"application\":\"GEN-2026-000001\",\"reviewer\":\"\\\"q\\\"@c.fr\",\"affinity\":4}],"
	    "\"diagnosis\":null}");
	free(json);
}

/* One pool short of reviewers: three applications × two seats, two
 * reviewers of two seats each. Every application and both reviewers are
 * named; 6 seats needed, 4 available, 2 empty. */
static void
infeasible_single(void)
{
	const char *text =
		"gen-assignment-input 1\ncall C-1\nseats 2\n"
		"app GEN-2026-000001 1 development 32 73282932000074\n"
		"app GEN-2026-000002 2 development 32 55208131766522\n"
		"app GEN-2026-000003 3 design 11 44306184100047\n"
		"rev 5 r1@a.fr 2 development -\n"
		"rev 6 r2@b.fr 2 design 32\n";
	long long unfilled = -1;
	char *json = solve_json(text, &unfilled);

	CHECK_EQ_INT(unfilled, 2);
	CHECK(json != NULL && strstr(json, "\"filled\":4,\"unfilled\":2,") != NULL);
	const char *d = json ? strstr(json, "\"diagnosis\":") : NULL;
	CHECK_EQ_STR(d,
	    "\"diagnosis\":{\"applications\":[\"GEN-2026-000001\",\"GEN-2026-000002\","
	    "\"GEN-2026-000003\"],\"reviewers\":[\"r1@a.fr\",\"r2@b.fr\"],"
	    "\"seatsNeeded\":6,\"capacity\":4}}");
	free(json);
}

/* Two separate shortages, merged into one diagnosis: app1 and app2 can
 * only go to r1 (one seat), app3 and app4 only to r2 (one seat); r3 has
 * seats but is conflicted with all four, r4 has no seat left, and app5,
 * served by r5, is not short. Needs 2 + 2, capacity 1 + 1, two empty
 * seats; r3, r4, r5 and app5 are not named. */
static void
infeasible_merged(void)
{
	const char *text =
		"gen-assignment-input 1\ncall C-1\nseats 1\n"
		"app GEN-2026-000001 1 development - 73282932000074\n"
		"app GEN-2026-000002 2 development - 73282932000074\n"
		"app GEN-2026-000003 3 design - 55208131766522\n"
		"app GEN-2026-000004 4 design - 55208131766522\n"
		"app GEN-2026-000005 5 management - 44306184100047\n"
		"rev 11 r1@a.fr 1 development -\n"
		"rev 12 r2@b.fr 1 design -\n"
		"rev 13 r3@c.fr 9 - -\n"
		"rev 14 r4@d.fr 0 - -\n"
		"rev 15 r5@e.fr 1 management -\n"
		"conflict GEN-2026-000001 12\n"
		"conflict GEN-2026-000001 13\n"
		"conflict GEN-2026-000001 15\n"
		"conflict GEN-2026-000002 12\n"
		"conflict GEN-2026-000002 13\n"
		"conflict GEN-2026-000002 15\n"
		"conflict GEN-2026-000003 11\n"
		"conflict GEN-2026-000003 13\n"
		"conflict GEN-2026-000003 15\n"
		"conflict GEN-2026-000004 11\n"
		"conflict GEN-2026-000004 13\n"
		"conflict GEN-2026-000004 15\n";
	long long unfilled = -1;
	char *json = solve_json(text, &unfilled);

	CHECK_EQ_INT(unfilled, 2);
	CHECK_EQ_STR(json,
	    "{\"filled\":3,\"unfilled\":2,\"totalAffinity\":9,\"assignments\":["
	    "{\"application\":\"GEN-2026-000001\",\"reviewer\":\"r1@a.fr\",\"affinity\":3},"
	    "{\"application\":\"GEN-2026-000003\",\"reviewer\":\"r2@b.fr\",\"affinity\":3},"
	    "{\"application\":\"GEN-2026-000005\",\"reviewer\":\"r5@e.fr\",\"affinity\":3}],"
	    "\"diagnosis\":{\"applications\":[\"GEN-2026-000001\",\"GEN-2026-000002\","
	    "\"GEN-2026-000003\",\"GEN-2026-000004\"],\"reviewers\":[\"r1@a.fr\",\"r2@b.fr\"],"
	    "\"seatsNeeded\":4,\"capacity\":2}}");
	free(json);
}

/* A struct filled by hand with a code out of range (the parser never
 * produces one) gets the optimiser's error, not a crash. */
static void
problem_errors(void)
{
	struct assign_input in = { .seats = 1, .n_apps = 1, .n_revs = 1 };
	char err[256] = "";

	in.apps = xcalloc(1, sizeof *in.apps);
	in.revs = xcalloc(1, sizeof *in.revs);
	in.apps[0].family = 70;
	in.revs[0].capacity = 1;
	struct assign_problem *p = assign_input_problem(&in, err, sizeof err);
	CHECK(p == NULL);
	CHECK(err[0] != '\0');
	assign_problem_free(p);
	assign_input_free(&in);
}

UNIT_MAIN("assign_input",
    UNIT_CASE(round_trip),
    UNIT_CASE(struct_round_trip),
    UNIT_CASE(parse_errors),
    UNIT_CASE(problem_matches_hand),
    UNIT_CASE(json_exact),
    UNIT_CASE(infeasible_single),
    UNIT_CASE(infeasible_merged),
    UNIT_CASE(problem_errors))
