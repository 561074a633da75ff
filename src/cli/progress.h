/* progress.h - progress bar and per-tensor lines for long jobs (progress.c). */
#ifndef CT_CLI_PROGRESS_H
#define CT_CLI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

typedef struct cli_progress {
	bool bar;              /* draw the bar / status lines */
	bool tty;              /* stderr is a terminal: redraw in place */
	bool verbose;          /* one line per finished item (-v) */
	bool color;
	bool drawn;            /* a bar is on the current line */
	uint64_t total, done;  /* input bytes */
	size_t n_items, items_done;
	double start, last;
	pthread_mutex_t lock;
} cli_progress;

/* mode: 1 --progress, 0 --no-progress, -1 automatic (a terminal only). */
void cli_progress_init(cli_progress *p, int mode, uint64_t total, size_t n_items);

/* The ct_progress_fn of ct_run_opts. */
void cli_progress_item(void *ctx, uint64_t bytes_done, const ct_plan_item *it);

/* Ends the bar's line (or clears it when the job failed). */
void cli_progress_done(cli_progress *p, bool ok);

/* True when f is a terminal and NO_COLOR is not set. */
bool cli_color_enabled(FILE *f);

#endif
