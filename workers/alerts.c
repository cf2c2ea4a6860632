/* alerts.c - see alerts.h. */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort.h"
#include "figures.h"
#include "form.h"
#include "pg.h"
#include "xmlform.h"

/* The figure a target metric is compared with. */
static enum fig_id
metric_figure(enum fig_metric m)
{
	switch (m) {
	case FIG_METRIC_WOMEN: return FIG_WOMEN_SHARE;
	case FIG_METRIC_PRIORITY_AREA: return FIG_PRIORITY_AREA_SHARE;
	case FIG_METRIC_LOW_QUALIFICATION: return FIG_LOW_QUALIFICATION_SHARE;
	case FIG_METRIC_POSITIVE_OUTCOME: return FIG_POSITIVE_OUTCOME_RATE;
	default: return FIG_FILL_RATE;
	}
}

enum job_status
alerts_run(PGconn *conn, const struct job *job, struct sbuf *result, char *err, size_t errlen)
{
	PGresult *res = pg_exec(conn,
	    "SELECT DISTINCT ON (c.programme) c.programme, c.code, c.planned_seats, c.learners, c.women, "
	    "  c.priority_area, c.low_qualification, c.rural, c.job_seeker, c.dropped, c.exited, "
	    "  c.outcome_reported, c.positive, c.duration_days, encode(v.body, 'hex'), u.email "
	    "FROM cohorts c JOIN programmes p ON p.tracking = c.programme "
	    "JOIN applications a ON a.id = p.application_id "
	    "JOIN application_versions v ON v.application_id = a.id AND v.version = a.current_version "
	    "JOIN users u ON u.id = a.submitted_by "
	    "ORDER BY c.programme, c.start_date DESC, c.code DESC", 0, NULL, 0, err, errlen);
	int opened = 0, closed = 0, checked = 0;

	if (res == NULL)
		return JOB_RETRY;
	for (int i = 0; i < PQntuples(res); i++) {
		struct fig_counts c = {0};
		struct fig_targets t;
		struct fig_values v;
		if (cohort_programme_targets(PQgetvalue(res, i, 14), &t) != 0)
			continue;
		int64_t cols[FIG_COUNT_COLUMNS] = { 1 };
		for (int k = 1; k < FIG_COUNT_COLUMNS; k++)
			cols[k] = atoll(PQgetvalue(res, i, k + 1));
		fig_counts_from_array(cols, &c);
		fig_compute(&c, &t, &v);
		checked++;
		for (int m = 0; m < FIG_METRIC_COUNT; m++) {
			if (!v.targets[m].set || v.targets[m].status == FIG_STATUS_NULL)
				continue;
			char value[16], target[16];
			const struct fig_value *fv = &v.v[metric_figure((enum fig_metric)m)];
			format_scaled(fv->tenths, 1, value, sizeof value);
			format_scaled(v.targets[m].tenths, 1, target, sizeof target);
			const char *params[6] = { PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				fig_metric_name((enum fig_metric)m), value, target, PQgetvalue(res, i, 15) };
			PGresult *r2;
			if (v.targets[m].status == FIG_STATUS_BELOW) {
				r2 = pg_exec(conn,
				    "WITH a AS (INSERT INTO programme_alerts (programme, cohort, metric, value, target) "
				    "  VALUES ($1, $2, $3, $4::numeric, $5::numeric) "
				    "  ON CONFLICT (programme, metric) WHERE closed_at IS NULL DO NOTHING RETURNING id) "
				    "SELECT count(*), (SELECT gen_notify('outcome-alert', $6, 'Objectif non atteint : ' || $1, "
				    "  'Cohorte ' || $2 || ' : ' || $3 || ' ' || $4 || ' % pour un objectif de ' || $5 || ' %.') "
				    "  FROM a) FROM a", 6, params, 0, err, errlen);
				if (r2 == NULL)
					goto fail;
				opened += atoi(PQgetvalue(r2, 0, 0));
			} else {
				r2 = pg_exec(conn,
				    "UPDATE programme_alerts SET closed_at = now() WHERE programme = $1 AND metric = $3 "
				    "AND closed_at IS NULL AND $2::text IS NOT NULL AND $4::text IS NOT NULL "
				    "AND $5::text IS NOT NULL AND $6::text IS NOT NULL",
				    6, params, 0, err, errlen);
				if (r2 == NULL)
					goto fail;
				closed += atoi(PQcmdTuples(r2));
			}
			PQclear(r2);
		}
	}
	PQclear(res);
	sbuf_printf(result, "{\"programmes\":%d,\"opened\":%d,\"closed\":%d}", checked, opened, closed);
	return JOB_DONE;
fail:
	PQclear(res);
	return JOB_RETRY;
}
