/*
 * progress.c - what a long job shows while it runs: a bar on stderr with
 * bytes done, rate and time left, only on a terminal (or when asked), at
 * most a few times a second; with -v one line per tensor as it finishes.
 * Called from worker threads: everything goes through one mutex.
 */
#include "progress.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define TTY_INTERVAL 0.1   /* seconds between redraws on a terminal */
#define LOG_INTERVAL 5.0   /* seconds between lines when not a terminal */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool cli_color_enabled(FILE *f)
{
	const char *nc = getenv("NO_COLOR");
	return isatty(fileno(f)) && !(nc && *nc);
}

void cli_progress_init(cli_progress *p, int mode, uint64_t total, size_t n_items)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->bar = cli_verbosity > 0 && (mode == 1 || (mode < 0 && p->tty));
	p->verbose = cli_verbosity > 1;
	p->color = cli_color_enabled(stderr);
	p->total = total;
	p->n_items = n_items;
	p->start = now();
	p->last = 0;
	pthread_mutex_init(&p->lock, NULL);
}

static void fmt_time(char *buf, size_t size, double s)
{
	if (s < 0 || s > 359999)
		snprintf(buf, size, "--:--");
	else if (s >= 3600)
		snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
	else
		snprintf(buf, size, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* One status line: the bar on a terminal, plain text elsewhere. */
static void draw(cli_progress *p, double t, bool final)
{
	double el = t - p->start;
	double frac = p->total ? (double)p->done / (double)p->total : 1.0;
	double rate = el > 0 ? (double)p->done / el : 0;
	char left[32], a[32], b[32], r[32];
	fmt_time(left, sizeof(left), rate > 0 ? (double)(p->total - p->done) / rate : -1);
	cli_human_bytes(p->done, a, sizeof(a));
	cli_human_bytes(p->total, b, sizeof(b));
	cli_human_bytes((uint64_t)rate, r, sizeof(r));
	if (!p->tty) {
		fprintf(stderr, "ctensors: %3.0f%%  %s of %s  %s/s  %s left\n", frac * 100, a, b, r,
			left);
		return;
	}
	int fill = (int)(frac * BAR_WIDTH);
	char bar[BAR_WIDTH + 1];
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	fprintf(stderr, "\r%s[%s]%s %3.0f%%  %s / %s  %s/s  %s left \033[K",
		p->color ? "\033[36m" : "", bar, p->color ? "\033[0m" : "", frac * 100, a, b, r,
		final ? "0:00" : left);
	p->drawn = true;
}

static void describe_item(const ct_plan_item *it, char *buf, size_t size)
{
	const ct_tensor *t = it->src;
	size_t n = (size_t)snprintf(buf, size, "%s [", ct_dtype_name(t->dtype));
	for (int d = 0; d < t->ndim && n < size; d++)
		n += (size_t)snprintf(buf + n, size - n, "%s%" PRIu64, d ? ", " : "", t->shape[d]);
	if (n >= size)
		return;
	n += (size_t)snprintf(buf + n, size - n, "] -> ");
	if (it->kind == CT_ITEM_COPY)
		snprintf(buf + n, size - n, "kept");
	else if (it->kind == CT_ITEM_DECODE)
		snprintf(buf + n, size - n, "%s", ct_dtype_name(it->out_dtype));
	else
		snprintf(buf + n, size - n, "%s%s%s", it->codec ? ct_format_name(it->codec->format) : "",
			 it->codec && it->sparse ? " + " : "",
			 it->sparse ? ct_format_name(it->sparse->format) : "");
}

void cli_progress_item(void *ctx, uint64_t bytes_done, const ct_plan_item *it)
{
	cli_progress *p = ctx;
	pthread_mutex_lock(&p->lock);
	p->done = bytes_done > p->done ? bytes_done : p->done;
	p->items_done++;
	double t = now();
	if (p->verbose) {
		char what[256], in[32], out[32];
		describe_item(it, what, sizeof(what));
		uint64_t ob = 0;
		for (size_t k = 0; it->out && k < it->n_out; k++) {
			uint64_t e, b = 0;
			ct_tensor_nbytes(it->out[k].dtype, it->out[k].ndim, it->out[k].shape, &e, &b);
			ob += b;
		}
		if (it->kind == CT_ITEM_COPY)
			ob = it->in_bytes;
		if (p->drawn)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "[%*zu/%zu] ", p->n_items < 1000 ? 3 : 6, p->items_done, p->n_items);
		cli_put_safe(stderr, it->kind == CT_ITEM_COPY ? it->out_name : it->module);
		fprintf(stderr, "  %s  %s -> %s\n", what, cli_human_bytes(it->in_bytes, in, sizeof(in)),
			cli_human_bytes(ob, out, sizeof(out)));
		p->drawn = false;
	}
	if (p->bar && t - p->last >= (p->tty ? TTY_INTERVAL : LOG_INTERVAL)) {
		p->last = t;
		draw(p, t, false);
	}
	cli_check_stream(stderr);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_done(cli_progress *p, bool ok)
{
	pthread_mutex_lock(&p->lock);
	if (p->bar && p->tty) {
		if (ok)
			draw(p, now(), true);
		if (p->drawn || ok)
			fputs(ok ? "\n" : "\r\033[K", stderr);
	} else if (p->bar && ok) {
		draw(p, now(), true);
	}
	cli_check_stream(stderr);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
}
