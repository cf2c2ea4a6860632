/* Unit tests of the outcome figures core (DESIGN §6): exact rounding half
 * away from zero, suppression at denominators 9 and 10, target status
 * boundaries, zero denominators, the JSON and CSV output. Expected values
 * are worked out by hand in the comments. */
#include <string.h>

#include "figures.h"
#include "unit.h"
#include "util.h"

static struct fig_values
compute(const struct fig_counts *c, const struct fig_targets *t)
{
	struct fig_values v;

	fig_compute(c, t, &v);
	return v;
}

/* Fill rate is never suppressed, so it shows the rounding on small
 * denominators; shares show it on denominators >= 10. */
static void
rounding_half_away(void)
{
	struct fig_counts c = { 0 };
	struct fig_values v;

	c.cohorts = 1;
	c.learners = 1;
	c.planned_seats = 8;   /* 1/8 = 12.5 % exactly */
	v = compute(&c, NULL);
	CHECK_EQ_INT(v.v[FIG_FILL_RATE].present, 1);
	CHECK_EQ_INT(v.v[FIG_FILL_RATE].tenths, 125);
	c.planned_seats = 16;  /* 6.25 -> 6.3 (half away from zero) */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 63);
	c.planned_seats = 160; /* 0.625 -> 0.6 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 6);
	c.planned_seats = 2000; /* 0.05 -> 0.1 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 1);
	c.planned_seats = 3;   /* 33.33 -> 33.3 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 333);
	c.learners = 2;        /* 66.67 -> 66.7 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 667);
	c.learners = 3;
	c.planned_seats = 16;  /* 18.75 -> 18.8 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 188);
	c.learners = 12;
	c.planned_seats = 10;  /* over-filled: 120.0 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_FILL_RATE].tenths, 1200);

	memset(&c, 0, sizeof c);
	c.learners = 80;
	c.planned_seats = 80;
	c.women = 23;          /* 28.75 -> 28.8; 23.0/80*100*10 is 287.4999... */
	c.priority_area = 41;  /* 51.25 -> 51.3; in doubles 512.4999... */
	c.low_qualification = 1; /* 1.25 -> 1.3 */
	c.rural = 2;           /* 2.5 exactly */
	c.job_seeker = 0;      /* 0.0 */
	c.dropped = 79;        /* 98.75 -> 98.8 */
	v = compute(&c, NULL);
	CHECK_EQ_INT(v.v[FIG_WOMEN_SHARE].tenths, 288);
	CHECK_EQ_INT(v.v[FIG_PRIORITY_AREA_SHARE].tenths, 513);
	CHECK_EQ_INT(v.v[FIG_LOW_QUALIFICATION_SHARE].tenths, 13);
	CHECK_EQ_INT(v.v[FIG_RURAL_SHARE].tenths, 25);
	CHECK_EQ_INT(v.v[FIG_JOB_SEEKER_SHARE].present, 1);
	CHECK_EQ_INT(v.v[FIG_JOB_SEEKER_SHARE].tenths, 0);
	CHECK_EQ_INT(v.v[FIG_DROPOUT_RATE].tenths, 988);

	c.learners = 2000;
	c.women = 3;           /* 0.15 -> 0.2 */
	c.priority_area = 1;   /* 0.05 -> 0.1 */
	c.low_qualification = 57 * 5; /* 285/2000 = 14.25 -> 14.3 */
	v = compute(&c, NULL);
	CHECK_EQ_INT(v.v[FIG_WOMEN_SHARE].tenths, 2);
	CHECK_EQ_INT(v.v[FIG_PRIORITY_AREA_SHARE].tenths, 1);
	CHECK_EQ_INT(v.v[FIG_LOW_QUALIFICATION_SHARE].tenths, 143);
}

/* averageDurationMonths = mean over cohorts of days / 30.4375
 * = 16 * days / (487 * cohorts), rounded half away from zero too. */
static void
average_duration(void)
{
	struct fig_counts c = { 0 };

	c.cohorts = 1;
	c.duration_days_sum = 365; /* 5840/487 = 11.99 -> 12.0 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_AVERAGE_DURATION_MONTHS].tenths, 120);
	c.cohorts = 64;
	c.duration_days_sum = 487; /* 487*16 / (487*64) = 0.25 exactly -> 0.3 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_AVERAGE_DURATION_MONTHS].tenths, 3);
	c.cohorts = 2;
	c.duration_days_sum = 183 + 365; /* 8768/974 = 9.0021 -> 9.0 */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_AVERAGE_DURATION_MONTHS].tenths, 90);
	c.cohorts = 1;
	c.duration_days_sum = 0; /* a one-day cohort has endDate = startDate */
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_AVERAGE_DURATION_MONTHS].present, 1);
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_AVERAGE_DURATION_MONTHS].tenths, 0);
	CHECK_EQ_INT(compute(&c, NULL).v[FIG_AVERAGE_DURATION_MONTHS].suppressed, 0);
}

/* Figures of learners are null and suppressed below 10, published at 10;
 * each uses its own denominator. */
static void
suppression(void)
{
	struct fig_counts c = { 0 };
	struct fig_values v;

	c.cohorts = 1;
	c.planned_seats = 10;
	c.learners = 9;
	c.women = 9;
	c.exited = 9;
	c.outcome_reported = 9;
	c.positive = 9;
	v = compute(&c, NULL);
	for (int id = FIG_WOMEN_SHARE; id <= FIG_OUTCOME_COVERAGE; id++) {
		CHECK_EQ_INT(v.v[id].present, 0);
		CHECK_EQ_INT(v.v[id].suppressed, 1);
	}
	CHECK_EQ_INT(v.v[FIG_FILL_RATE].present, 1); /* seats: 9/10 = 90.0 */
	CHECK_EQ_INT(v.v[FIG_FILL_RATE].tenths, 900);
	CHECK_EQ_INT(v.v[FIG_FILL_RATE].suppressed, 0);

	c.learners = 10;       /* shares and dropoutRate published */
	v = compute(&c, NULL);
	CHECK_EQ_INT(v.v[FIG_WOMEN_SHARE].present, 1);
	CHECK_EQ_INT(v.v[FIG_WOMEN_SHARE].tenths, 900);
	CHECK_EQ_INT(v.v[FIG_DROPOUT_RATE].present, 1);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE].suppressed, 1);  /* 9 reported */
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS].suppressed, 1); /* 9 exited */
	CHECK_EQ_INT(v.v[FIG_OUTCOME_COVERAGE].suppressed, 1);

	c.exited = 10;         /* all-exits rate and coverage published */
	v = compute(&c, NULL);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE].suppressed, 1);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS].present, 1);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS].tenths, 900); /* 9/10 */
	CHECK_EQ_INT(v.v[FIG_OUTCOME_COVERAGE].tenths, 900);                /* 9/10 */

	c.outcome_reported = 10; /* and the rate over reported outcomes */
	v = compute(&c, NULL);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE].present, 1);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE].suppressed, 0);
	CHECK_EQ_INT(v.v[FIG_POSITIVE_OUTCOME_RATE].tenths, 900);
	CHECK_EQ_INT(v.v[FIG_OUTCOME_COVERAGE].tenths, 1000);
}

/* Women target 30 %: met at 30 or more, near in [25, 30), below under 25,
 * compared exactly before rounding. */
static void
target_status(void)
{
	struct fig_counts c = { 0 };
	struct fig_targets t;
	struct fig_values v;

	fig_targets_national(&t); /* women 30.0, positive-outcome 70.0 */
	c.learners = 100;
	c.women = 30;            /* 30.0 exactly: met */
	CHECK_EQ_INT(compute(&c, &t).targets[FIG_METRIC_WOMEN].status, FIG_STATUS_MET);
	c.women = 25;            /* 25.0 = target - 5 exactly: near */
	CHECK_EQ_INT(compute(&c, &t).targets[FIG_METRIC_WOMEN].status, FIG_STATUS_NEAR);
	c.learners = 1000;
	c.women = 249;           /* 24.9: below */
	CHECK_EQ_INT(compute(&c, &t).targets[FIG_METRIC_WOMEN].status, FIG_STATUS_BELOW);

	c.learners = 10000;
	c.women = 2999;          /* 29.99 shows as 30.0 but is near */
	v = compute(&c, &t);
	CHECK_EQ_INT(v.v[FIG_WOMEN_SHARE].tenths, 300);
	CHECK_EQ_INT(v.targets[FIG_METRIC_WOMEN].status, FIG_STATUS_NEAR);
	c.women = 2499;          /* 24.99 shows as 25.0 but is below */
	v = compute(&c, &t);
	CHECK_EQ_INT(v.v[FIG_WOMEN_SHARE].tenths, 250);
	CHECK_EQ_INT(v.targets[FIG_METRIC_WOMEN].status, FIG_STATUS_BELOW);
	c.women = 10000;         /* 100.0: met */
	CHECK_EQ_INT(compute(&c, &t).targets[FIG_METRIC_WOMEN].status, FIG_STATUS_MET);

	/* A non-integer target: priority-area 12.5; 1/8 of 80 = 12.5: met;
	 * 6/80 = 7.5 = 12.5 - 5: near; 5/80 = 6.25: below. */
	memset(&t, 0, sizeof t);
	t.set[FIG_METRIC_PRIORITY_AREA] = 1;
	t.tenths[FIG_METRIC_PRIORITY_AREA] = 125;
	c.learners = 80;
	c.priority_area = 10;
	v = compute(&c, &t);
	CHECK_EQ_INT(v.targets[FIG_METRIC_PRIORITY_AREA].status, FIG_STATUS_MET);
	CHECK_EQ_INT(v.targets[FIG_METRIC_WOMEN].set, 0);
	c.priority_area = 6;
	CHECK_EQ_INT(compute(&c, &t).targets[FIG_METRIC_PRIORITY_AREA].status, FIG_STATUS_NEAR);
	c.priority_area = 5;
	CHECK_EQ_INT(compute(&c, &t).targets[FIG_METRIC_PRIORITY_AREA].status, FIG_STATUS_BELOW);

	/* Each metric's figure: low-qualification -> lowQualificationShare,
	 * positive-outcome -> positiveOutcomeRate, fill-rate -> fillRate. */
	memset(&t, 0, sizeof t);
	for (int m = 0; m < FIG_METRIC_COUNT; m++) {
		t.set[m] = 1;
		t.tenths[m] = 500;
	}
	memset(&c, 0, sizeof c);
	c.learners = 20;
	c.planned_seats = 40;    /* fill 50.0: met */
	c.women = 9;             /* 45.0: near */
	c.priority_area = 8;     /* 40.0: below */
	c.low_qualification = 10; /* 50.0: met */
	c.exited = 20;
	c.outcome_reported = 10;
	c.positive = 5;          /* 5/10 = 50.0 met (5/20 over all exits would be below) */
	v = compute(&c, &t);
	CHECK_EQ_INT(v.targets[FIG_METRIC_FILL_RATE].status, FIG_STATUS_MET);
	CHECK_EQ_INT(v.targets[FIG_METRIC_WOMEN].status, FIG_STATUS_NEAR);
	CHECK_EQ_INT(v.targets[FIG_METRIC_PRIORITY_AREA].status, FIG_STATUS_BELOW);
	CHECK_EQ_INT(v.targets[FIG_METRIC_LOW_QUALIFICATION].status, FIG_STATUS_MET);
	CHECK_EQ_INT(v.targets[FIG_METRIC_POSITIVE_OUTCOME].status, FIG_STATUS_MET);

	/* A suppressed figure keeps its target, with status null. */
	c.outcome_reported = 9;
	c.positive = 9;
	v = compute(&c, &t);
	CHECK_EQ_INT(v.targets[FIG_METRIC_POSITIVE_OUTCOME].set, 1);
	CHECK_EQ_INT(v.targets[FIG_METRIC_POSITIVE_OUTCOME].tenths, 500);
	CHECK_EQ_INT(v.targets[FIG_METRIC_POSITIVE_OUTCOME].status, FIG_STATUS_NULL);
	CHECK(fig_status_name(FIG_STATUS_NULL) == NULL);
}

/* No data: every figure null; only the figures of learners are listed as
 * suppressed; fillRate and averageDurationMonths are plain null. */
static void
zero_denominators(void)
{
	struct fig_counts c = { 0 };
	struct fig_targets t;
	struct fig_values v;
	struct sbuf b = { 0 };

	memset(&t, 0, sizeof t);
	t.set[FIG_METRIC_FILL_RATE] = 1;
	t.tenths[FIG_METRIC_FILL_RATE] = 800;
	v = compute(&c, &t);
	for (int id = 0; id < FIG_ID_COUNT; id++)
		CHECK_EQ_INT(v.v[id].present, 0);
	CHECK_EQ_INT(v.v[FIG_FILL_RATE].suppressed, 0);
	CHECK_EQ_INT(v.v[FIG_AVERAGE_DURATION_MONTHS].suppressed, 0);
	CHECK_EQ_INT(v.targets[FIG_METRIC_FILL_RATE].status, FIG_STATUS_NULL);
	fig_write_json(&v, &b);
	CHECK_EQ_STR(b.data,
	    "{\"learners\":0,\"cohorts\":0,\"plannedSeats\":0,\"fillRate\":null,"
	    "\"womenShare\":null,\"priorityAreaShare\":null,\"lowQualificationShare\":null,"
	    "\"ruralShare\":null,\"jobSeekerShare\":null,\"dropoutRate\":null,"
	    "\"positiveOutcomeRate\":null,\"positiveOutcomeRateAllExits\":null,"
	    "\"outcomeCoverage\":null,\"averageDurationMonths\":null,"
	    "\"targets\":{\"fill-rate\":{\"target\":80.0,\"status\":null}},"
	    "\"suppressed\":[\"womenShare\",\"priorityAreaShare\",\"lowQualificationShare\","
	    "\"ruralShare\",\"jobSeekerShare\",\"dropoutRate\",\"positiveOutcomeRate\","
	    "\"positiveOutcomeRateAllExits\",\"outcomeCoverage\"]}");
	sbuf_free(&b);
}

/* Two cohorts, 40 learners, 48 seats:
 *   fillRate 40/48 = 83.33 -> 83.3     womenShare 13/40 = 32.5
 *   priorityAreaShare 10/40 = 25.0      lowQualificationShare 5/40 = 12.5
 *   ruralShare 1/40 = 2.5               jobSeekerShare 20/40 = 50.0
 *   dropoutRate 4/40 = 10.0             positiveOutcomeRate: 9 reported < 10, null
 *   positiveOutcomeRateAllExits 7/12 = 58.33 -> 58.3
 *   outcomeCoverage 9/12 = 75.0
 *   averageDurationMonths (365 + 183) * 16 / (487 * 2) = 9.0021 -> 9.0
 *   targets (national): women 30 -> 32.5 met; positive-outcome 70 -> null. */
static const struct fig_counts cell_a = {
	.learners = 25, .cohorts = 1, .planned_seats = 30, .women = 8, .priority_area = 6,
	.low_qualification = 3, .rural = 1, .job_seeker = 12, .dropped = 3, .exited = 7,
	.outcome_reported = 5, .positive = 4, .duration_days_sum = 365,
};
static const struct fig_counts cell_b = {
	.learners = 15, .cohorts = 1, .planned_seats = 18, .women = 5, .priority_area = 4,
	.low_qualification = 2, .rural = 0, .job_seeker = 8, .dropped = 1, .exited = 5,
	.outcome_reported = 4, .positive = 3, .duration_days_sum = 183,
};

static void
json_and_csv(void)
{
	struct fig_counts c = { 0 };
	struct fig_targets t;
	struct fig_values v;
	struct sbuf b = { 0 };
	char err[200];

	fig_add(&c, &cell_a);
	fig_add(&c, &cell_b);
	CHECK_EQ_INT(c.learners, 40);
	CHECK_EQ_INT(c.duration_days_sum, 548);
	CHECK_EQ_INT(fig_counts_check(&c, err, sizeof err), 0);
	fig_targets_national(&t);
	fig_compute(&c, &t, &v);
	fig_write_json(&v, &b);
	CHECK_EQ_STR(b.data,
	    "{\"learners\":40,\"cohorts\":2,\"plannedSeats\":48,\"fillRate\":83.3,"
	    "\"womenShare\":32.5,\"priorityAreaShare\":25.0,\"lowQualificationShare\":12.5,"
	    "\"ruralShare\":2.5,\"jobSeekerShare\":50.0,\"dropoutRate\":10.0,"
	    "\"positiveOutcomeRate\":null,\"positiveOutcomeRateAllExits\":58.3,"
	    "\"outcomeCoverage\":75.0,\"averageDurationMonths\":9.0,"
	    "\"targets\":{\"women\":{\"target\":30.0,\"status\":\"met\"},"
	    "\"positive-outcome\":{\"target\":70.0,\"status\":null}},"
	    "\"suppressed\":[\"positiveOutcomeRate\"]}");

	/* A group object: {"group":"84",<members>}. */
	sbuf_reset(&b);
	sbuf_adds(&b, "{\"group\":");
	json_add_str(&b, "84");
	sbuf_addc(&b, ',');
	fig_write_json_members(&v, &b);
	sbuf_addc(&b, '}');
	CHECK(strncmp(b.data, "{\"group\":\"84\",\"learners\":40,", 28) == 0);
	CHECK(b.data[b.len - 1] == '}' && b.data[b.len - 2] == ']');

	sbuf_reset(&b);
	fig_write_csv_header(&b);
	CHECK_EQ_STR(b.data,
	    "group,learners,cohorts,plannedSeats,fillRate,womenShare,priorityAreaShare,"
	    "lowQualificationShare,ruralShare,jobSeekerShare,dropoutRate,positiveOutcomeRate,"
	    "positiveOutcomeRateAllExits,outcomeCoverage,averageDurationMonths,"
	    "womenTarget,womenStatus,priorityAreaTarget,priorityAreaStatus,"
	    "lowQualificationTarget,lowQualificationStatus,positiveOutcomeTarget,"
	    "positiveOutcomeStatus,fillRateTarget,fillRateStatus,suppressed\r\n");
	sbuf_reset(&b);
	fig_write_csv_row("total", &v, &b);
	CHECK_EQ_STR(b.data,
	    "total,40,2,48,83.3,32.5,25.0,12.5,2.5,50.0,10.0,,58.3,75.0,9.0,"
	    "30.0,met,,,,,70.0,,,,positiveOutcomeRate\r\n");
	sbuf_reset(&b);
	fig_write_csv_row("a,\"b\"", &v, &b);
	CHECK(strncmp(b.data, "\"a,\"\"b\"\"\",40,", 13) == 0);
	sbuf_reset(&b);
	fig_write_csv_row("=1+1", &v, &b);
	CHECK(strncmp(b.data, "'=1+1,40,", 9) == 0);
	sbuf_free(&b);
}

static void
counts_check(void)
{
	struct fig_counts c = cell_a;
	char err[200];

	CHECK_EQ_INT(fig_counts_check(&c, err, sizeof err), 0);
	c.positive = 6; /* above the 5 reported outcomes */
	CHECK_EQ_INT(fig_counts_check(&c, err, sizeof err), -1);
	CHECK(strstr(err, "positive") != NULL);
	c = cell_a;
	c.dropped = 8; /* above the 7 exited */
	CHECK_EQ_INT(fig_counts_check(&c, err, sizeof err), -1);
	c = cell_a;
	c.duration_days_sum = -1;
	CHECK_EQ_INT(fig_counts_check(&c, err, sizeof err), -1);
	CHECK_EQ_STR(fig_name(FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS), "positiveOutcomeRateAllExits");
	CHECK_EQ_STR(fig_metric_name(FIG_METRIC_LOW_QUALIFICATION), "low-qualification");
	CHECK(fig_name(FIG_ID_COUNT) == NULL);
}

UNIT_MAIN("figures",
    UNIT_CASE(rounding_half_away),
    UNIT_CASE(average_duration),
    UNIT_CASE(suppression),
    UNIT_CASE(target_status),
    UNIT_CASE(zero_denominators),
    UNIT_CASE(json_and_csv),
    UNIT_CASE(counts_check))
