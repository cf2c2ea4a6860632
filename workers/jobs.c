/* jobs.c - the table of job kinds and their runners (see job.h).
 * A new kind is one line here and one runner module. */
#include "job.h"

#include <string.h>

#include "assign_job.h"
#include "deliver.h"
#include "alerts.h"
#include "expiry.h"
#include "screen.h"

static const struct {
	const char *kind;
	job_run_fn run;
} runners[] = {
	{ "screen", screen_run },
	{ "deliver", deliver_run },
	{ "label_expiry", expiry_run },
	{ "outcome_alerts", alerts_run },
	{ "assign", assign_job_run },
};

job_run_fn
job_runner(const char *kind)
{
	for (size_t i = 0; i < ARRAY_LEN(runners); i++)
		if (strcmp(runners[i].kind, kind) == 0)
			return runners[i].run;
	return NULL;
}
