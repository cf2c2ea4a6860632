/* unit.h - a tiny unit-test harness for the pure cores.
 *
 * A test file lists its cases with UNIT_MAIN(case1, case2, ...). Each case
 * uses CHECK / CHECK_EQ_INT / CHECK_EQ_STR; a failed check reports its file
 * and line and marks the case failed but the case goes on. The binary prints
 * one line per failed case and a closing line "NAME: N passed, N failed",
 * and exits 1 when any case failed. */
#ifndef GEN_UNIT_H
#define GEN_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_case_failed;

#define CHECK(cond) do { if (!(cond)) { unit_case_failed = 1; \
	fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long unit_a = (long long)(a), unit_b = (long long)(b); \
	if (unit_a != unit_b) { unit_case_failed = 1; \
	fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
	    #a, unit_a, #b, unit_b); } } while (0)
#define CHECK_EQ_STR(a, b) do { const char *unit_a = (a), *unit_b = (b); \
	if (unit_a == NULL || unit_b == NULL || strcmp(unit_a, unit_b) != 0) { unit_case_failed = 1; \
	fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
	    #a, unit_a ? unit_a : "(null)", unit_b ? unit_b : "(null)"); } } while (0)

typedef void (*unit_fn)(void);
struct unit_case { const char *name; unit_fn fn; };

static inline int
unit_run(const char *suite, const struct unit_case *cases, size_t n)
{
	int passed = 0, failed = 0;

	for (size_t i = 0; i < n; i++) {
		unit_case_failed = 0;
		cases[i].fn();
		if (unit_case_failed) {
			failed++;
			fprintf(stderr, "FAIL %s.%s\n", suite, cases[i].name);
		} else {
			passed++;
		}
	}
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed ? 1 : 0;
}

#define UNIT_CASE(fn) { #fn, fn }
#define UNIT_MAIN(suite, ...) \
	int main(void) { \
		static const struct unit_case unit_cases[] = { __VA_ARGS__ }; \
		return unit_run(suite, unit_cases, sizeof(unit_cases) / sizeof(unit_cases[0])); \
	}

#endif
