/* figures.c - see figures.h. */
#include "figures.h"

#include <stdio.h>
#include <string.h>

__extension__ typedef __int128 i128;

/* How each figure is computed: numerator and denominator counters (offsets
 * into struct fig_counts), whether it is a figure of learners (subject to
 * suppression), and its JSON/CSV name. averageDurationMonths is special. */
struct fig_def {
	const char *name;
	size_t num, den;
	int of_learners;
};

#define OFF(f) offsetof(struct fig_counts, f)

static const struct fig_def defs[FIG_ID_COUNT] = {
	[FIG_FILL_RATE] = { "fillRate", OFF(learners), OFF(planned_seats), 0 },
	[FIG_WOMEN_SHARE] = { "womenShare", OFF(women), OFF(learners), 1 },
	[FIG_PRIORITY_AREA_SHARE] = { "priorityAreaShare", OFF(priority_area), OFF(learners), 1 },
	[FIG_LOW_QUALIFICATION_SHARE] = { "lowQualificationShare", OFF(low_qualification),
	    OFF(learners), 1 },
	[FIG_RURAL_SHARE] = { "ruralShare", OFF(rural), OFF(learners), 1 },
	[FIG_JOB_SEEKER_SHARE] = { "jobSeekerShare", OFF(job_seeker), OFF(learners), 1 },
	[FIG_DROPOUT_RATE] = { "dropoutRate", OFF(dropped), OFF(learners), 1 },
	[FIG_POSITIVE_OUTCOME_RATE] = { "positiveOutcomeRate", OFF(positive),
	    OFF(outcome_reported), 1 },
	[FIG_POSITIVE_OUTCOME_RATE_ALL_EXITS] = { "positiveOutcomeRateAllExits", OFF(positive),
	    OFF(exited), 1 },
	[FIG_OUTCOME_COVERAGE] = { "outcomeCoverage", OFF(outcome_reported), OFF(exited), 1 },
	[FIG_AVERAGE_DURATION_MONTHS] = { "averageDurationMonths", OFF(duration_days_sum),
	    OFF(cohorts), 0 },
};

/* Target metrics: name, CSV column stem, and the figure they apply to. */
static const struct {
	const char *name;
	const char *column;
	enum fig_id figure;
} metrics[FIG_METRIC_COUNT] = {
	[FIG_METRIC_WOMEN] = { "women", "women", FIG_WOMEN_SHARE },
	[FIG_METRIC_PRIORITY_AREA] = { "priority-area", "priorityArea", FIG_PRIORITY_AREA_SHARE },
	[FIG_METRIC_LOW_QUALIFICATION] = { "low-qualification", "lowQualification",
	    FIG_LOW_QUALIFICATION_SHARE },
	[FIG_METRIC_POSITIVE_OUTCOME] = { "positive-outcome", "positiveOutcome",
	    FIG_POSITIVE_OUTCOME_RATE },
	[FIG_METRIC_FILL_RATE] = { "fill-rate", "fillRate", FIG_FILL_RATE },
};

static int64_t
counter(const struct fig_counts *c, size_t off)
{
	int64_t v;

	memcpy(&v, (const char *)c + off, sizeof v);
	return v;
}

const char *
fig_name(enum fig_id id)
{
	return (unsigned)id < FIG_ID_COUNT ? defs[id].name : NULL;
}

const char *
fig_metric_name(enum fig_metric m)
{
	return (unsigned)m < FIG_METRIC_COUNT ? metrics[m].name : NULL;
}

const char *
fig_status_name(enum fig_status s)
{
	switch (s) {
	case FIG_STATUS_MET:
		return "met";
	case FIG_STATUS_NEAR:
		return "near";
	case FIG_STATUS_BELOW:
		return "below";
	default:
		return NULL;
	}
}

void
fig_add(struct fig_counts *a, const struct fig_counts *b)
{
	a->learners += b->learners;
	a->cohorts += b->cohorts;
	a->planned_seats += b->planned_seats;
	a->women += b->women;
	a->priority_area += b->priority_area;
	a->low_qualification += b->low_qualification;
	a->rural += b->rural;
	a->job_seeker += b->job_seeker;
	a->dropped += b->dropped;
	a->exited += b->exited;
	a->outcome_reported += b->outcome_reported;
	a->positive += b->positive;
	a->duration_days_sum += b->duration_days_sum;
}

int
fig_counts_check(const struct fig_counts *c, char *err, size_t errlen)
{
	static const struct {
		const char *part, *whole;
		size_t p, w;
	} within[] = {
		{ "women", "learners", OFF(women), OFF(learners) },
		{ "priorityArea", "learners", OFF(priority_area), OFF(learners) },
		{ "lowQualification", "learners", OFF(low_qualification), OFF(learners) },
		{ "rural", "learners", OFF(rural), OFF(learners) },
		{ "jobSeeker", "learners", OFF(job_seeker), OFF(learners) },
		{ "exited", "learners", OFF(exited), OFF(learners) },
		{ "dropped", "exited", OFF(dropped), OFF(exited) },
		{ "outcomeReported", "exited", OFF(outcome_reported), OFF(exited) },
		{ "positive", "outcomeReported", OFF(positive), OFF(outcome_reported) },
	};
	static const size_t all[] = {
		OFF(learners), OFF(cohorts), OFF(planned_seats), OFF(women), OFF(priority_area),
		OFF(low_qualification), OFF(rural), OFF(job_seeker), OFF(dropped), OFF(exited),
		OFF(outcome_reported), OFF(positive), OFF(duration_days_sum),
	};

	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		if (counter(c, all[i]) < 0) {
			snprintf(err, errlen, "a counter is negative");
			return -1;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(within); i++) {
		if (counter(c, within[i].p) > counter(c, within[i].w)) {
			snprintf(err, errlen, "%s (%lld) exceeds %s (%lld)", within[i].part,
			    (long long)counter(c, within[i].p), within[i].whole,
			    (long long)counter(c, within[i].w));
			return -1;
		}
	}
	return 0;
}

void
fig_targets_national(struct fig_targets *t)
{
	memset(t, 0, sizeof *t);
	t->set[FIG_METRIC_WOMEN] = 1;
	t->tenths[FIG_METRIC_WOMEN] = 300;
	t->set[FIG_METRIC_POSITIVE_OUTCOME] = 1;
	t->tenths[FIG_METRIC_POSITIVE_OUTCOME] = 700;
}

/* a / b rounded half away from zero, b > 0, exactly. */
static int64_t
div_round(i128 a, i128 b)
{
	if (a >= 0)
		return (int64_t)((2 * a + b) / (2 * b));
	return -(int64_t)((-2 * a + b) / (2 * b));
}

/* Percentages: the exact value is 100 * num / den %, so in tenths it is
 * 1000 * num / den. Months: days / 30.4375 = 16 * days / 487, so the mean
 * over cohorts in tenths is 160 * days / (487 * cohorts). */
static void
compute_one(const struct fig_counts *c, enum fig_id id, struct fig_value *v, i128 *num,
    i128 *den)
{
	const struct fig_def *d = &defs[id];
	int64_t n = counter(c, d->num), m = counter(c, d->den);

	if (id == FIG_AVERAGE_DURATION_MONTHS) {
		*num = (i128)160 * n;
		*den = (i128)487 * m;
	} else {
		*num = (i128)1000 * n;
		*den = m;
	}
	if (d->of_learners && m < FIG_MIN_DENOMINATOR) {
		v->suppressed = 1;
		return;
	}
	if (m <= 0)
		return;
	v->present = 1;
	v->tenths = div_round(*num, *den);
}

void
fig_compute(const struct fig_counts *c, const struct fig_targets *t, struct fig_values *out)
{
	i128 num[FIG_ID_COUNT], den[FIG_ID_COUNT];

	memset(out, 0, sizeof *out);
	out->learners = c->learners;
	out->cohorts = c->cohorts;
	out->planned_seats = c->planned_seats;
	for (int id = 0; id < FIG_ID_COUNT; id++)
		compute_one(c, (enum fig_id)id, &out->v[id], &num[id], &den[id]);
	if (t == NULL)
		return;
	for (int m = 0; m < FIG_METRIC_COUNT; m++) {
		struct fig_target_value *tv = &out->targets[m];
		enum fig_id f = metrics[m].figure;

		if (!t->set[m])
			continue;
		tv->set = 1;
		tv->tenths = t->tenths[m];
		if (!out->v[f].present)
			continue; /* status null */
		/* Exact: 1000 num / den >= target (tenths)  <=>
		 * 1000 num >= target * den, den > 0. */
		if (num[f] >= (i128)tv->tenths * den[f])
			tv->status = FIG_STATUS_MET;
		else if (num[f] >= (i128)(tv->tenths - 10 * FIG_NEAR_POINTS) * den[f])
			tv->status = FIG_STATUS_NEAR;
		else
			tv->status = FIG_STATUS_BELOW;
	}
}

static void
add_tenths(struct sbuf *out, int64_t tenths)
{
	char buf[32];

	format_scaled(tenths, 1, buf, sizeof buf);
	sbuf_adds(out, buf);
}

void
fig_write_json_members(const struct fig_values *v, struct sbuf *out)
{
	int first = 1;

	sbuf_printf(out, "\"learners\":%lld,\"cohorts\":%lld,\"plannedSeats\":%lld",
	    (long long)v->learners, (long long)v->cohorts, (long long)v->planned_seats);
	for (int id = 0; id < FIG_ID_COUNT; id++) {
		sbuf_addc(out, ',');
		json_add_str(out, defs[id].name);
		sbuf_addc(out, ':');
		if (v->v[id].present)
			add_tenths(out, v->v[id].tenths);
		else
			sbuf_adds(out, "null");
	}
	sbuf_adds(out, ",\"targets\":{");
	for (int m = 0; m < FIG_METRIC_COUNT; m++) {
		const struct fig_target_value *tv = &v->targets[m];

		if (!tv->set)
			continue;
		if (!first)
			sbuf_addc(out, ',');
		first = 0;
		json_add_str(out, metrics[m].name);
		sbuf_adds(out, ":{\"target\":");
		add_tenths(out, tv->tenths);
		sbuf_adds(out, ",\"status\":");
		json_add_str(out, fig_status_name(tv->status)); /* NULL -> null */
		sbuf_addc(out, '}');
	}
	sbuf_adds(out, "},\"suppressed\":[");
	first = 1;
	for (int id = 0; id < FIG_ID_COUNT; id++) {
		if (!v->v[id].suppressed)
			continue;
		if (!first)
			sbuf_addc(out, ',');
		first = 0;
		json_add_str(out, defs[id].name);
	}
	sbuf_addc(out, ']');
}

void
fig_write_json(const struct fig_values *v, struct sbuf *out)
{
	sbuf_addc(out, '{');
	fig_write_json_members(v, out);
	sbuf_addc(out, '}');
}

void
fig_write_csv_header(struct sbuf *out)
{
	sbuf_adds(out, "group,learners,cohorts,plannedSeats");
	for (int id = 0; id < FIG_ID_COUNT; id++)
		sbuf_printf(out, ",%s", defs[id].name);
	for (int m = 0; m < FIG_METRIC_COUNT; m++)
		sbuf_printf(out, ",%sTarget,%sStatus", metrics[m].column, metrics[m].column);
	sbuf_adds(out, ",suppressed\r\n");
}

/* RFC 4180 field; a leading = + - @ (or tab/CR) gets a ' so that a
 * spreadsheet shows the value instead of evaluating it. */
static void
csv_field(struct sbuf *out, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		sbuf_addc(out, '"');
	if (s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
		sbuf_addc(out, '\'');
	for (; *s; s++) {
		if (*s == '"')
			sbuf_addc(out, '"');
		sbuf_addc(out, *s);
	}
	if (quote)
		sbuf_addc(out, '"');
}

void
fig_write_csv_row(const char *group, const struct fig_values *v, struct sbuf *out)
{
	int first = 1;

	csv_field(out, group ? group : "");
	sbuf_printf(out, ",%lld,%lld,%lld", (long long)v->learners, (long long)v->cohorts,
	    (long long)v->planned_seats);
	for (int id = 0; id < FIG_ID_COUNT; id++) {
		sbuf_addc(out, ',');
		if (v->v[id].present)
			add_tenths(out, v->v[id].tenths);
	}
	for (int m = 0; m < FIG_METRIC_COUNT; m++) {
		const struct fig_target_value *tv = &v->targets[m];
		const char *st = fig_status_name(tv->status);

		sbuf_addc(out, ',');
		if (tv->set)
			add_tenths(out, tv->tenths);
		sbuf_addc(out, ',');
		if (tv->set && st != NULL)
			sbuf_adds(out, st);
	}
	sbuf_addc(out, ',');
	for (int id = 0; id < FIG_ID_COUNT; id++) {
		if (!v->v[id].suppressed)
			continue;
		if (!first)
			sbuf_addc(out, ';');
		first = 0;
		sbuf_adds(out, defs[id].name);
	}
	sbuf_adds(out, "\r\n");
}

void
fig_counts_from_array(const int64_t v[FIG_COUNT_COLUMNS], struct fig_counts *c)
{
	c->cohorts = v[0];
	c->planned_seats = v[1];
	c->learners = v[2];
	c->women = v[3];
	c->priority_area = v[4];
	c->low_qualification = v[5];
	c->rural = v[6];
	c->job_seeker = v[7];
	c->dropped = v[8];
	c->exited = v[9];
	c->outcome_reported = v[10];
	c->positive = v[11];
	c->duration_days_sum = v[12];
}
