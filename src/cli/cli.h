/*
 * cli.h - what the commands share: option tables, messages, exit codes,
 * safe output files.
 *
 * The CLI owns policy: arguments, files, safety, progress and exit status.
 * Everything about formats lives in src/lib.
 */
#ifndef CT_CLI_H
#define CT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"
#include "ct_error.h"
#include "plan.h"

/* Exit statuses (CLI.md). */
enum {
	EXIT_OK = 0,
	EXIT_CHECK_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_INPUT = 3,
	EXIT_SYSTEM = 4,
	EXIT_INTERNAL = 5,
};

/* ---- option tables: one per command, driving getopt_long, --help and the
 * shell completions, so the three cannot drift ---- */

typedef struct cli_opt {
	int id;                /* getopt_long value: a short option char or an enum >= 256 */
	const char *name;      /* long name */
	int has_arg;           /* no_argument / required_argument */
	const char *arg;       /* argument placeholder for help ("N", "FILE") */
	const char *help;      /* one line */
	const char *values;    /* completion candidates, space-separated, or NULL */
} cli_opt;

typedef struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv, const struct cli_command *self);
	const char *synopsis;  /* after "ctensors NAME " */
	const char *summary;   /* one line for `ctensors help` */
	const char *description; /* paragraph(s) for `COMMAND --help` */
	const cli_opt *opts;   /* terminated by {0} */
	bool writes;           /* a writing command: --json gives the report of report.c */
} cli_command;

extern const cli_command cli_commands[];

/* The commands, one file each (cmd_<name>.c). */
int cmd_inspect(int argc, char **argv, const cli_command *self);
int cmd_quantize(int argc, char **argv, const cli_command *self);
int cmd_decompress(int argc, char **argv, const cli_command *self);
int cmd_verify(int argc, char **argv, const cli_command *self);
int cmd_compress(int argc, char **argv, const cli_command *self);
int cmd_convert(int argc, char **argv, const cli_command *self);
int cmd_completion(int argc, char **argv, const cli_command *self);
int cmd_help(int argc, char **argv, const cli_command *self);
extern const size_t cli_n_commands;

/* Option ids above the char range. */
enum {
	OPT_JSON = 256, OPT_TENSORS, OPT_STATS, OPT_TENSOR, OPT_IGNORE, OPT_TARGETS,
	OPT_GROUP_SIZE, OPT_DRY_RUN, OPT_PLAIN_METADATA, OPT_NO_FUSE, OPT_SKIP_INCOMPAT,
	OPT_PROGRESS, OPT_NO_PROGRESS, OPT_DTYPE, OPT_AGAINST, OPT_MIN_SNR, OPT_MIN_COS,
	OPT_MAX_ABS, OPT_EXACT, OPT_REQUIRE_CHECKSUMS, OPT_SERVING, OPT_GPU, OPT_TP, OPT_FUSED,
	OPT_FROM, OPT_PART, OPT_PARTS, OPT_FINALIZE,
};

/* Parses argv with the command's table. Calls on(id, optarg, ctx) for each
 * option; handles -h/--help itself (prints help, returns 0 with *done set).
 * Returns an exit status (0 to continue). */
int cli_parse(const cli_command *cmd, int argc, char **argv,
	      int (*on)(void *ctx, int id, const char *arg), void *ctx, bool *done);

void cli_print_help(const cli_command *cmd, FILE *out);

/* ---- messages ---- */

extern int cli_verbosity;   /* 0 quiet, 1 normal, 2 verbose */
/* The command running, for the prefix and hint of a usage error the
 * library reports (CT_EUSAGE), or NULL. */
extern const cli_command *cli_current;

/* "ctensors: " + message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning whose text is already formatted (escaped on output). */
void cli_warn_text(const char *msg);
/* Prints err and returns the exit status for its code. */
int cli_fail(const ct_error *err);
/* Usage error: message, hint to --help, returns EXIT_USAGE. */
int cli_usage(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_exit_status(int ct_code);
/* A value of opt that is none of values (space-separated): usage error
 * naming them, with the nearest as "did you mean"; aliases are pairs
 * {"fp16", "f16", ..., NULL} of names people write for a value. */
int cli_bad_choice(const cli_command *cmd, const char *opt, const char *arg,
		   const char *values, const char *const *aliases);

/* Writes s to out with control characters and invalid bytes escaped, so a
 * tensor name from a file cannot drive the terminal. */
void cli_put_safe(FILE *out, const char *s);

/* Parses a positive integer option value. */
bool cli_parse_uint(const char *s, uint64_t max, uint64_t *out);

int cli_default_threads(void);

/* ct_ckpt_open, warning about weight files the index does not list. */
int cli_open_checkpoint(const char *path, ct_checkpoint **out, ct_error *err);

/* ---- shared by quantize/compress/decompress ---- */

/* Lays out every shard's builder with the metadata and checksums, then
 * (unless dry_run) writes the output: shards, index, other files,
 * config.json (with qconfig_json as quantization_config, or removed when
 * NULL), in that order. */
typedef struct cli_output cli_output;

typedef struct cli_write_opts {
	const char *dest;
	const char *config_path;      /* -c FILE: an input too, or NULL */
	bool force;
	bool plain_metadata;
	bool json;                    /* --json: the report, and nothing else on stdout */
	int threads;
	int progress;                 /* 1 --progress, 0 --no-progress, -1 automatic */
	const char *qconfig_compact;  /* for __metadata__, or NULL */
	json_t *qconfig_json;         /* for config.json, or NULL to remove */
	cli_output *out;              /* from cli_output_open; NULL for a dry run */
	const char *const *not_copied; /* input files left out of the output (NULL-terminated), or NULL */
	/* one output split over jobs (parts.c) */
	const char *command;          /* the writing command (cli_parts_resolve) */
	const char *input;            /* INPUT as given, for the summary */
	const char *plan_tag;         /* options that change bytes but not the layout */
	const char *part_spec;        /* --part as given ("K/N", "slurm", "k8s"), or NULL */
	uint64_t parts_given;         /* --parts N, 0 when not given */
	bool finalize;                /* --finalize */
	size_t part_k, part_n;        /* this job's slice K of N; 0 when not split */
	bool *slice;                  /* per input shard: written by this job (none for
					 --finalize); NULL when not split */
} cli_write_opts;

/* Handles an option every writing command shares (-f, -j, --plain-metadata,
 * --progress, --no-progress, -q, -v, --part, --parts, --finalize) into w:
 * returns an exit status, or -1 when id is not one of them. */
int cli_write_option(const cli_command *cmd, int id, const char *arg, cli_write_opts *w);

/* Defaults: all cores, automatic progress. */
cli_write_opts cli_write_defaults(void);

/* Opens the input of quantize or compress: one that carries no
 * quantization_config, or (allow_frozen) a frozen one. */
int cli_open_dense_input(const char *path, bool allow_frozen, ct_checkpoint **out,
			 ct_error *err);

/* Writes plan into o->out (opened) and commits it; a split job writes its
 * slice, --finalize completes the output (parts.c). */
int cli_write_plan(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		   ct_error *err);
/* Before the commit: the written output held to the library's verdict
 * (structure, index, config; no decoding), so no command exits 0 with an
 * output verify fails. CT_EINPUT naming the first problem. */
int cli_check_output(const ct_plan *plan, const cli_output *out, const cli_write_opts *o,
		     ct_error *err);
/* A directory output's files besides the shards, in order: the index,
 * the input's other files, config.json (last). */
int cli_write_extras(const ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		     ct_error *err);
int cli_layout_plan(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		    ct_error *err);

/* quantize and compress: plan ckpt under cfg, then print the plan or write it. */
typedef struct cli_encode_opts {
	const char *input;           /* for messages */
	bool dry_run;
	bool llmc_config;            /* a recipe or preset: config as llm-compressor writes it */
	ct_quant_opts quant;
	cli_write_opts write;        /* dest, force, plain_metadata, threads */
} cli_encode_opts;

struct ct_qconfig;
int cli_encode(const ct_checkpoint *ck, struct ct_qconfig *cfg, const cli_encode_opts *o,
	       ct_error *err);

/* The weights of a scheme in words, into buf: "int4 group 128 asym" (for
 * --json), or brief, "int4 g128 asym" (for --dry-run). Returns its length. */
size_t cli_scheme_text(const ct_qargs *w, bool brief, char *buf, size_t size);

/* ---- one output split over the jobs of a scheduler (parts.c) ---- */

#define CLI_PARTS_MAX 100000   /* = CT_PARTS_MAX */

/* After the options: resolves --part (K/N, slurm, k8s: from the
 * scheduler's variables) into w->part_k and w->part_n and refuses
 * combinations that make no sense. Returns an exit status. */
int cli_parts_resolve(const cli_command *cmd, cli_write_opts *w, const char *input,
		      bool dry_run);
static inline bool cli_split(const cli_write_opts *w)
{
	return w->part_n || w->finalize;
}
/* After opening the input: refuses split mode for a bare file (its output
 * is one file) and chooses this job's shards into w->slice. */
int cli_parts_prepare(const ct_checkpoint *in, cli_write_opts *w, ct_error *err);
void cli_parts_free(cli_write_opts *w);
/* --dry-run --part: the slice's shards, bytes and NVFP4 partners read. */
void cli_parts_print(const ct_plan *p, const cli_write_opts *w);
/* The JSON report's "part" object. */
void cli_parts_report(const ct_plan *p, const cli_write_opts *w);
/* A job: writes the shards of its slice and its record (a no-op when the
 * slice is already written, intact, by the same plan). */
int cli_parts_write(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		    ct_error *err);
/* --finalize: checks every slice's record against this plan and the
 * shards on disk, then writes the index, the other files, config.json. */
int cli_parts_finalize(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		       ct_error *err);

/* ---- output (output.c) ---- */

/* Prepares to write w->dest for input in, before any work: refuses (exit
 * status 2) an empty OUTPUT, one that is, holds or lies inside an input
 * (shards, index, config.json, the model directory, w->config_path), an
 * existing one that is not a file (for a file input) or a model directory
 * (for a directory input) or that exists without w->force, a missing or
 * unwritable directory; warns of leftovers of killed runs; then creates
 * the temporary file or directory. Output mirrors the input: a file for a
 * file, a directory for a directory. */
int cli_output_open(const cli_write_opts *w, const ct_checkpoint *in, cli_output **out,
		    ct_error *err);

/* Creates temporary files for every shard of plan (whose builders are laid
 * out; only those only selects, when not NULL), reserves their space (with
 * up to threads threads: on tmpfs reserving is allocating the memory), and
 * fills sinks[]. However many shards, at most a bounded number of
 * descriptors are open at once. */
int cli_output_begin(cli_output *o, ct_plan *plan, const bool *only, int threads, ct_sink *sinks,
		     ct_error *err);

/* Writes a small file (index, config.json) into the output directory. */
int cli_output_put(cli_output *o, const char *name, const char *data, size_t len,
		   ct_error *err);

/* Copies the input directory's other files (not shards, index or
 * config.json; those listed at open) into the output. */
int cli_output_copy_others(cli_output *o, const ct_checkpoint *in, ct_error *err);

/* fsyncs and renames everything into place, replacing only what was
 * accepted at open: an output that appeared meanwhile fails (exit 2). */
int cli_output_commit(cli_output *o, ct_error *err);

/* Removes everything written unless committed; frees o. Safe on NULL. */
void cli_output_close(cli_output *o);

bool cli_output_is_dir(const cli_output *o);

/* A split output (--part, --finalize): OUTPUT itself, which exists from
 * the first job on, and its staging directory of slice records. A job's
 * files are made in its own work directory there and moved into OUTPUT by
 * cli_output_commit; --finalize's commit then removes the staging
 * directory. */
const char *cli_output_dest(const cli_output *o);
const char *cli_output_staging(const cli_output *o);
/* Where a whole (not split) output is being written before its commit: the
 * temporary directory or file; NULL for a split output. */
const char *cli_output_staged(const cli_output *o);
/* --finalize: its work directory holds the index and config.json it
 * stages; with link, the shards the jobs wrote into OUTPUT are linked in
 * beside them, so that the whole output can be checked before the commit
 * (without link, those links are removed). */
int cli_output_finalize_view(const cli_output *o, char *const *shards, size_t n, bool link,
			     ct_error *err);
const char *cli_output_finalize_dir(const cli_output *o);
/* Writes a slice record into the staging directory under name,
 * atomically (temporary file, fsync, rename). */
int cli_output_put_record(cli_output *o, const char *name, const char *data, size_t len,
			  ct_error *err);

/* Installs handlers that remove the temporary files on every catchable
 * terminating signal and then die of it, ignore SIGPIPE (see
 * cli_check_stream), make SIGXFSZ an ordinary write error and SIGBUS on a
 * mapped input exit status 4. */
void cli_install_signal_handlers(void);

/* After writing to stdout or stderr: notes a reader that went away (EPIPE),
 * which stops a job (exit 4) and silences further messages. */
void cli_check_stream(FILE *f);
bool cli_pipe_broken(void);

/* ---- the --json document of a writing command (report.c) ---- */

/* Starts gathering (cli_parse calls it when a writing command is given
 * --json); errors and warnings are recorded from then on. */
void cli_report_enable(const char *command);
/* For a reading command given --json (inspect, verify): an error document
 * is printed at the end only when the command printed none itself
 * (cli_print_json marks that it did). */
void cli_report_enable_errors(const char *command);
void cli_report_printed(void);
/* Makes, before the work starts, the document each of the signals gives a
 * writing command given --json; cli_report_signal writes it from a signal
 * handler (async-signal-safe: write() only). */
void cli_report_prepare_signals(const int *signals, size_t n);
void cli_report_signal(int sig);
/* Drops the document: --help was asked for. */
void cli_report_cancel(void);
bool cli_report_enabled(void);
void cli_report_paths(const char *input, const char *output);
void cli_report_warning(const char *msg);
/* Records the first error and the exit status it gives. */
void cli_report_error(const char *msg, int status);
/* What plan writes (or would write, for a dry run) at dest. */
void cli_report_plan(const ct_plan *plan, const char *dest, bool dest_is_dir, bool dry_run);
/* Sets key of the result document to value (a new reference, stolen). */
void cli_report_set(const char *key, json_t *value);
/* Prints the document on stdout with the command's exit status. */
void cli_report_finish(int status);

/* The one-line summary on stderr: "ctensors: INPUT -> OUTPUT: what", the
 * paths escaped as every message's are. */
void cli_summary(const char *input, const char *output, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prints doc (a new reference, stolen) on stdout as --json does and
 * returns status (EXIT_SYSTEM when it cannot be printed and status is 0). */
int cli_print_json(json_t *doc, int status);

/* Human-readable size ("1.5 MB"). */
const char *cli_human_bytes(uint64_t n, char *buf, size_t size);

#endif
