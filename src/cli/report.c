/*
 * report.c - the --json document of a writing command (quantize, compress,
 * decompress, convert): gathered while the command runs, printed once on stdout when
 * it ends, whether it succeeded or not, so that a script reads one document
 * in every case.
 *
 * The state is the CLI's own (one command runs per process), like
 * cli_verbosity; nothing of it reaches the library.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdatomic.h>
#include <unistd.h>

#include "pyjson.h"
#include "utf8.h"

#define REPORT_SCHEMA 1

static struct {
	bool on;
	bool error_only;     /* inspect, verify: they print their own document, and
			      * this one only if they fail before printing it */
	bool printed;        /* a document reached stdout */
	const char *command;
	const char *input, *output;
	double started;
	json_t *warnings;
	json_t *error;       /* {"message", "status"} of the first failure */
	json_t *result;      /* shards, modules, sizes: from cli_report_plan */
} report;

/* A JSON string of a path or message, whose bytes come from the user or a
 * file: bytes that are no UTF-8 become U+FFFD rather than dropping the key. */
static json_t *text(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s), bad;
	if (ct_utf8_valid(s, n, &bad))
		return json_stringn(s, n);
	char *buf = malloc(3 * n + 1);
	if (!buf)
		return json_null();
	size_t o = 0, i = 0;
	while (i < n) {
		if (ct_utf8_valid(s + i, n - i, &bad))
			bad = n - i;
		memcpy(buf + o, s + i, bad);
		o += bad;
		i += bad;
		if (i < n) {
			memcpy(buf + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	json_t *j = json_stringn(buf, o);
	free(buf);
	return j ? j : json_null();
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_report_enable_errors(const char *command)
{
	cli_report_enable(command);
	report.error_only = true;
}

void cli_report_printed(void)
{
	report.printed = true;
}

/* The document of a reading command that stopped before printing its own:
 * its fields, empty, with the error (verify's schema 2, inspect's 1). */
static json_t *error_document(int status)
{
	json_t *err = report.error ? json_incref(report.error) :
		      json_pack("{s:s,s:i}", "message", "failed", "status", status);
	if (strcmp(report.command, "verify") == 0)
		return json_pack("{s:i,s:b,s:o,s:[],s:[],s:[]}", "schema", 2, "ok", 0, "error",
				 err, "checkpoint", "tensors", "modules");
	return json_pack("{s:i,s:b,s:i,s:o,s:[],s:{},s:n,s:{s:i,s:i,s:i}}", "schema", 1, "ok", 0,
			 "status", status, "error", err, "tensors", "metadata",
			 "quantization_config", "totals", "tensors", 0, "bytes", 0,
			 "parameters", 0);
}

void cli_report_enable(const char *command)
{
	if (report.on)
		return;
	report.on = true;
	report.command = command;
	report.started = now_seconds();
	report.warnings = json_array();
}

void cli_report_cancel(void)
{
	json_decref(report.warnings);
	json_decref(report.error);
	json_decref(report.result);
	memset(&report, 0, sizeof(report));
}

bool cli_report_enabled(void)
{
	return report.on;
}

void cli_report_paths(const char *input, const char *output)
{
	report.input = input;
	report.output = output;
}

void cli_report_warning(const char *msg)
{
	if (report.on)
		json_array_append_new(report.warnings, text(msg));
}

void cli_report_error(const char *msg, int status)
{
	if (!report.on || report.error)
		return;
	report.error = json_pack("{s:o,s:i}", "message", text(msg), "status", status);
}

/* "model.layers.0.mlp.down_proj" of "model.layers.0.mlp.down_proj.weight". */
static json_t *module_of_weight(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? json_stringn(name, (size_t)(dot - name)) : json_string(name);
}

static json_t *scheme_of(const ct_plan_item *it)
{
	if (!it->codec)
		return json_null();
	char s[96];
	cli_scheme_text(it->desc.args, false, s, sizeof(s));
	return json_string(s);
}

static json_t *module_entry(const ct_plan_item *it)
{
	json_t *o = json_object();
	switch (it->kind) {
	case CT_ITEM_COPY:
		json_object_set_new(o, "name", module_of_weight(it->src->name));
		json_object_set_new(o, "action", json_string("kept"));
		json_object_set_new(o, "reason", json_string(it->why));
		break;
	case CT_ITEM_QUANT:
		json_object_set_new(o, "name", json_string(it->module));
		json_object_set_new(o, "action", json_string(it->codec ? "quantized" : "compressed"));
		json_object_set_new(o, "format", json_string(ct_format_name(
			it->codec ? it->codec->format : it->sparse->format)));
		if (it->codec && it->sparse)
			json_object_set_new(o, "sparse_format",
					    json_string(ct_format_name(it->sparse->format)));
		json_object_set_new(o, "scheme", scheme_of(it));
		json_object_set_new(o, "parameters", json_integer((json_int_t)it->src->nelem));
		break;
	case CT_ITEM_DECODE:
		json_object_set_new(o, "name", json_string(it->module));
		json_object_set_new(o, "action", json_string("decompressed"));
		json_object_set_new(o, "dtype", json_string(ct_dtype_name(it->out_dtype)));
		break;
	case CT_ITEM_FUSE:
		json_object_set_new(o, "name", json_string(it->src->name));
		json_object_set_new(o, "action", json_string("fused"));
		break;
	case CT_ITEM_CONVERT:
		json_object_set_new(o, "name", json_string(it->module));
		json_object_set_new(o, "action", json_string("converted"));
		break;
	}
	return o;
}

void cli_report_plan(const ct_plan *plan, const char *dest, bool dest_is_dir, bool dry_run)
{
	if (!report.on)
		return;
	json_t *shards = json_array(), *modules = json_array();
	json_t *converted = json_object();   /* a converted module's tensors may span shards */
	uint64_t out_bytes = 0, data = 0;
	for (size_t s = 0; s < plan->n_shards; s++) {
		const ct_plan_shard *sh = &plan->shards[s];
		uint64_t tensors = 0;
		for (size_t i = 0; i < sh->n_items; i++) {
			const ct_plan_item *it = &sh->items[i];
			tensors += it->n_out;
			if (it->kind == CT_ITEM_CONVERT) {
				if (json_object_get(converted, it->module))
					continue;
				json_object_set_new(converted, it->module, json_true());
			}
			if (it->kind != CT_ITEM_COPY || it->why)
				json_array_append_new(modules, module_entry(it));
		}
		uint64_t bytes = ct_st_builder_file_size(sh->builder);
		out_bytes += bytes;
		data += ct_st_builder_data_size(sh->builder);
		json_t *path = text(dest);
		if (dest_is_dir) {
			json_decref(path);
			size_t n = strlen(dest) + strlen(sh->name) + 2;
			char *p = malloc(n);
			if (p)
				snprintf(p, n, "%s/%s", dest, sh->name);
			path = text(p);
			free(p);
		}
		json_array_append_new(shards, json_pack("{s:o,s:o,s:I,s:I}", "name", text(sh->name),
							"path", path, "bytes", (json_int_t)bytes,
							"tensors", (json_int_t)tensors));
	}
	json_decref(converted);
	uint64_t in_bytes = 0;
	for (size_t s = 0; s < plan->ckpt->n_shards; s++)
		in_bytes += plan->ckpt->shards[s]->map_size;
	json_t *r = json_object();
	json_object_set_new(r, "dry_run", json_boolean(dry_run));
	json_object_set_new(r, "shards", shards);
	json_object_set_new(r, "modules", modules);
	json_object_set_new(r, "bytes_in", json_integer((json_int_t)in_bytes));
	json_object_set_new(r, "bytes_out", json_integer((json_int_t)out_bytes));
	json_object_set_new(r, "parameters", json_integer((json_int_t)plan->params_total));
	json_object_set_new(r, "parameters_quantized",
			    json_integer((json_int_t)plan->params_quantized));
	/* compress: the weights sparse-compressed; decompress: sparse-decompressed */
	json_object_set_new(r, "parameters_sparse", json_integer((json_int_t)plan->sparse_numel));
	json_object_set_new(r, "bits_per_weight", plan->params_total ?
			    json_real(8.0 * (double)data / (double)plan->params_total) :
			    json_null());
	json_decref(report.result);
	report.result = r;
}

void cli_report_set(const char *key, json_t *value)
{
	if (!report.on || !value) {
		json_decref(value);
		return;
	}
	if (!report.result)
		report.result = json_object();
	if (report.result)
		json_object_set_new(report.result, key, value);
	else
		json_decref(value);
}

/* Prints the document (status is the command's exit status) and frees it. */
/* --------------------------------------------- a job stopped by a signal */

/* A terminating signal ends the job inside its handler, where nothing but
 * write() may be called: the document each signal gives is made before the
 * work starts, and the handler only writes it. */
#define SIGDOC_MAX 65
static _Atomic(char *) sigdoc[SIGDOC_MAX];

void cli_report_prepare_signals(const int *signals, size_t n)
{
	if (!report.on || report.error_only)
		return;
	for (size_t i = 0; i < n; i++) {
		int sig = signals[i];
		if (sig <= 0 || sig >= SIGDOC_MAX || atomic_load(&sigdoc[sig]))
			continue;
		const char *abbrev = sigabbrev_np(sig);
		char msg[96];
		if (abbrev)
			snprintf(msg, sizeof(msg), "stopped by SIG%s: nothing was written", abbrev);
		else
			snprintf(msg, sizeof(msg), "stopped by signal %d: nothing was written", sig);
		/* the shell's status of a process a signal ended */
		int status = 128 + sig;
		json_t *doc = json_pack("{s:i,s:s,s:b,s:i,s:o,s:o,s:O,s:{s:s,s:i},s:[],s:[]}",
					"schema", REPORT_SCHEMA, "command", report.command, "ok", 0,
					"status", status, "input", text(report.input), "output",
					text(report.output), "warnings", report.warnings, "error",
					"message", msg, "status", status, "shards", "modules");
		char *t = doc ? ct_pyjson_dumps(doc, true) : NULL;
		json_decref(doc);
		if (!t)
			continue;
		size_t len = strlen(t);
		char *withnl = realloc(t, len + 2);
		if (!withnl) {
			free(t);
			continue;
		}
		withnl[len] = '\n';
		withnl[len + 1] = '\0';
		atomic_store(&sigdoc[sig], withnl);
	}
}

void cli_report_signal(int sig)
{
	if (sig <= 0 || sig >= SIGDOC_MAX)
		return;
	/* once: the handler may run again for another signal */
	char *doc = atomic_exchange(&sigdoc[sig], NULL);
	if (!doc)
		return;
	size_t len = strlen(doc), off = 0;
	while (off < len) {
		ssize_t w = write(STDOUT_FILENO, doc + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void cli_report_finish(int status)
{
	if (!report.on)
		return;
	if (report.error_only) {
		if (!report.printed && status != EXIT_OK) {
			json_t *doc = error_document(status);
			char *t = doc ? ct_pyjson_dumps(doc, true) : NULL;
			json_decref(doc);
			if (t && !cli_pipe_broken()) {
				puts(t);
				cli_check_stream(stdout);
			}
			free(t);
		}
		cli_report_cancel();
		return;
	}
	json_t *doc = report.result ? report.result : json_object();
	report.result = NULL;
	json_object_set_new(doc, "schema", json_integer(REPORT_SCHEMA));
	json_object_set_new(doc, "command", json_string(report.command));
	json_object_set_new(doc, "ok", json_boolean(status == EXIT_OK));
	json_object_set_new(doc, "status", json_integer(status));
	json_object_set_new(doc, "input", text(report.input));
	json_object_set_new(doc, "output", text(report.output));
	double secs = now_seconds() - report.started;
	json_object_set_new(doc, "seconds", json_real((double)(int64_t)(secs * 1000 + 0.5) / 1000));
	json_object_set(doc, "warnings", report.warnings);
	if (report.error)
		json_object_set(doc, "error", report.error);
	else if (status != EXIT_OK)
		json_object_set_new(doc, "error", json_pack("{s:s,s:i}", "message",
							    "failed", "status", status));
	static const char *const if_absent[] = { "shards", "modules" };
	for (size_t i = 0; i < 2; i++)
		if (!json_object_get(doc, if_absent[i]))
			json_object_set_new(doc, if_absent[i], json_array());
	char *text = ct_pyjson_dumps(doc, true);
	json_decref(doc);
	if (text && !cli_pipe_broken()) {
		puts(text);
		cli_check_stream(stdout);
	}
	free(text);
	cli_report_cancel();
}
