/* common.c - option parsing from the command tables, messages, small helpers. */
#include "cli.h"
#include "pyjson.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suggest.h"

int cli_verbosity = 1;
const cli_command *cli_current;

void cli_error(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_report_error(msg, EXIT_SYSTEM);
	if (cli_pipe_broken())
		return;   /* the reader is gone: nothing more to the broken pipe */
	/* messages name paths and tensors: escape what could drive the terminal */
	fputs("ctensors: ", stderr);
	cli_put_safe(stderr, msg);
	fputc('\n', stderr);
}

int cli_print_json(json_t *doc, int status)
{
	char *s = doc ? ct_pyjson_dumps(doc, true) : NULL;
	json_decref(doc);
	if (!s)
		return status ? status : EXIT_SYSTEM;
	puts(s);
	free(s);
	cli_report_printed();
	return status;
}

void cli_warn_text(const char *msg)
{
	cli_report_warning(msg);
	if (cli_verbosity < 1 || cli_pipe_broken())
		return;
	fputs("ctensors: warning: ", stderr);
	cli_put_safe(stderr, msg);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_warn_text(msg);
}

int cli_exit_status(int code)
{
	switch (code) {
	case CT_OK: return EXIT_OK;
	case CT_EVERIFY: return EXIT_CHECK_FAILED;
	case CT_EUSAGE: return EXIT_USAGE;
	case CT_EINPUT: return EXIT_INPUT;
	case CT_EIO: return EXIT_SYSTEM;
	default: return EXIT_INTERNAL;
	}
}

int cli_fail(const ct_error *err)
{
	int status = cli_exit_status(err->code ? err->code : CT_EINTERNAL);
	cli_report_error(err->msg[0] ? err->msg : "unknown error", status);
	/* messages come from files: escape what could drive the terminal */
	if (!cli_pipe_broken()) {
		bool usage = err->code == CT_EUSAGE && cli_current;
		fputs("ctensors: ", stderr);
		if (usage)
			fprintf(stderr, "%s: ", cli_current->name);
		cli_put_safe(stderr, err->msg[0] ? err->msg : "unknown error");
		if (usage)
			fprintf(stderr, " (see 'ctensors %s --help')", cli_current->name);
		fputc('\n', stderr);
	}
	return status;
}

int cli_usage(const cli_command *cmd, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_report_error(msg, EXIT_USAGE);
	fputs("ctensors: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	cli_put_safe(stderr, msg);
	if (cmd)
		fprintf(stderr, " (see 'ctensors %s --help')\n", cmd->name);
	else
		fputs(" (see 'ctensors help')\n", stderr);
	return EXIT_USAGE;
}

void cli_put_safe(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		if (c < 0x20 || c == 0x7F) {
			switch (c) {
			case '\n': fputs("\\n", out); break;
			case '\t': fputs("\\t", out); break;
			case '\r': fputs("\\r", out); break;
			default: fprintf(out, "\\x%02x", c);
			}
			p++;
			continue;
		}
		if (c < 0x80) {
			fputc((int)c, out);
			p++;
			continue;
		}
		/* a valid UTF-8 sequence passes; anything else is escaped */
		size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 :
			     (c & 0xF8) == 0xF0 ? 4 : 0;
		size_t k = 1;
		while (len && k < len && (p[k] & 0xC0) == 0x80)
			k++;
		if (len && k == len && !(c == 0xC2 && p[1] < 0xA0)) {
			fwrite(p, 1, len, out);
			p += len;
		} else {
			fprintf(out, "\\x%02x", c);
			p++;
		}
	}
}

void cli_summary(const char *input, const char *output, const char *fmt, ...)
{
	if (cli_verbosity < 1 || cli_pipe_broken())
		return;
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fputs("ctensors: ", stderr);
	cli_put_safe(stderr, input);
	fputs(" -> ", stderr);
	cli_put_safe(stderr, output);
	fprintf(stderr, ": %s\n", what);
}

bool cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

int cli_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

const char *cli_human_bytes(uint64_t n, char *buf, size_t size)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB", "PB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1000.0 && u < 5) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", n);
	else
		snprintf(buf, size, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
	return buf;
}

/* ------------------------------------------------------------- options --- */

#define MAX_OPTS 48

void cli_print_help(const cli_command *cmd, FILE *out)
{
	fprintf(out, "usage: ctensors %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
	if (cmd->description)
		fprintf(out, "\n%s\n", cmd->description);
	fputs("\noptions:\n", out);
	for (const cli_opt *o = cmd->opts; o->name; o++) {
		char left[64];
		int n;
		if (o->id < 256)
			n = snprintf(left, sizeof(left), "-%c, --%s", o->id, o->name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o->name);
		if (o->has_arg && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->arg);
		fprintf(out, "  %-28s %s\n", left, o->help);
	}
}

/* An unknown or ambiguous --name: the options it could be. */
static bool takes_json(const cli_command *cmd)
{
	for (const cli_opt *o = cmd->opts; o->name; o++)
		if (o->id == OPT_JSON)
			return true;
	return false;
}

static int unknown_long_option(const cli_command *cmd, const char *arg)
{
	char name[64];
	const char *word = arg[0] == '-' && arg[1] == '-' ? arg + 2 : arg;
	size_t len = strcspn(word, "=");
	snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1),
		 word);
	const char *names[MAX_OPTS];
	size_t n = 0, n_prefix = 0;
	char prefixed[512] = "";
	for (const cli_opt *o = cmd->opts; o->name && n < MAX_OPTS; o++) {
		names[n++] = o->name;
		if (len && strncmp(o->name, name, len) == 0) {
			size_t at = strlen(prefixed);
			snprintf(prefixed + at, sizeof(prefixed) - at, "%s--%s",
				 n_prefix++ ? ", " : "", o->name);
		}
	}
	if (n_prefix > 1)
		return cli_usage(cmd, "option --%s is ambiguous (%s)", name, prefixed);
	/* getopt says "unknown" for --json=yes too: the option is known, the
	 * value is what is wrong */
	for (const cli_opt *o = cmd->opts; word[len] == '=' && o->name; o++)
		if (!o->has_arg && (strcmp(o->name, name) == 0 ||
				    (n_prefix == 1 && strncmp(o->name, name, len) == 0)))
			return cli_usage(cmd, "option --%s takes no value (give --%s alone, "
					 "not --%s)", o->name, o->name, word);
	char near[256];
	if (ct_suggest(name, names, n, "--", near, sizeof(near)))
		return cli_usage(cmd, "unknown option --%s; did you mean %s?", name, near);
	return cli_usage(cmd, "unknown option --%s", name);
}

int cli_bad_choice(const cli_command *cmd, const char *opt, const char *arg,
		   const char *values, const char *const *aliases)
{
	char list[512];
	snprintf(list, sizeof(list), "%s", values);
	const char *names[64];
	size_t n = 0;
	for (char *tok = strtok(list, " "); tok && n < 64; tok = strtok(NULL, " "))
		names[n++] = tok;
	char shown[600] = "";
	for (size_t i = 0; i < n; i++) {
		size_t at = strlen(shown);
		snprintf(shown + at, sizeof(shown) - at, "%s%s", i ? ", " : "", names[i]);
	}
	char near[256] = "";
	for (size_t i = 0; aliases && aliases[i]; i += 2)
		if (ct_edit_distance(arg, aliases[i]) == 0)
			snprintf(near, sizeof(near), "'%s'", aliases[i + 1]);
	if (near[0] || ct_suggest(arg, names, n, NULL, near, sizeof(near)))
		return cli_usage(cmd, "%s: '%s' is not one of %s; did you mean %s?", opt, arg,
				 shown, near);
	return cli_usage(cmd, "%s: '%s' is not one of %s", opt, arg, shown);
}

int cli_parse(const cli_command *cmd, int argc, char **argv,
	      int (*on)(void *ctx, int id, const char *arg), void *ctx, bool *done)
{
	struct option longopts[MAX_OPTS + 1];
	char shortopts[2 * MAX_OPTS + 2];
	size_t n = 0, s = 0;
	shortopts[s++] = ':'; /* report a missing value as ':' */
	for (const cli_opt *o = cmd->opts; o->name && n < MAX_OPTS; o++, n++) {
		longopts[n] = (struct option){ o->name, o->has_arg, NULL, o->id };
		if (o->id < 256) {
			shortopts[s++] = (char)o->id;
			if (o->has_arg)
				shortopts[s++] = ':';
		}
	}
	longopts[n] = (struct option){ 0, 0, 0, 0 };
	shortopts[s] = '\0';
	*done = false;
	/* a usage error before getopt reaches --json still gets the document */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--json") != 0)
			continue;
		if (cmd->writes)
			cli_report_enable(cmd->name);
		else if (takes_json(cmd))
			cli_report_enable_errors(cmd->name);
	}
	optind = 1;
	opterr = 0;
	for (;;) {
		int li = -1;
		int c = getopt_long(argc, argv, shortopts, longopts, &li);
		if (c == -1)
			break;
		if (c == '?') {
			if (optopt && optopt < 256)
				return cli_usage(cmd, "unknown option -%c", optopt);
			return unknown_long_option(cmd, argv[optind - 1]);
		}
		if (c == ':')
			return cli_usage(cmd, "option %s needs a value", argv[optind - 1]);
		if (c == 'h') {
			cli_report_cancel();
			cli_print_help(cmd, stdout);
			*done = true;
			return EXIT_OK;
		}
		int rc = on(ctx, c, optarg);
		if (rc)
			return rc;
	}
	return EXIT_OK;
}

int cli_write_option(const cli_command *cmd, int id, const char *arg, cli_write_opts *w)
{
	uint64_t v;
	switch (id) {
	case 'f': w->force = true; return EXIT_OK;
	case OPT_JSON: w->json = true; cli_report_enable(cmd->name); return EXIT_OK;
	case OPT_PLAIN_METADATA: w->plain_metadata = true; return EXIT_OK;
	case OPT_PROGRESS: w->progress = 1; return EXIT_OK;
	case OPT_NO_PROGRESS: w->progress = 0; return EXIT_OK;
	case 'q': cli_verbosity = 0; return EXIT_OK;
	case 'v': cli_verbosity = 2; return EXIT_OK;
	case OPT_PART: w->part_spec = arg; return EXIT_OK;
	case OPT_PARTS:
		if (!cli_parse_uint(arg, CLI_PARTS_MAX, &v) || v == 0)
			return cli_usage(cmd, "--parts: '%s' is not an integer from 1 to %d", arg,
					 CLI_PARTS_MAX);
		w->parts_given = v;
		return EXIT_OK;
	case OPT_FINALIZE: w->finalize = true; return EXIT_OK;
	case 'j':
		if (!cli_parse_uint(arg, 256, &v) || v == 0)
			return cli_usage(cmd, "--threads: '%s' is not an integer from 1 to 256", arg);
		w->threads = (int)v;
		return EXIT_OK;
	default:
		return -1;
	}
}

cli_write_opts cli_write_defaults(void)
{
	return (cli_write_opts){ .threads = cli_default_threads(), .progress = -1 };
}

int cli_open_checkpoint(const char *path, ct_checkpoint **out, ct_error *err)
{
	int rc = ct_ckpt_open(path, out, err);
	for (size_t i = 0; !rc && i < (*out)->n_unlisted; i++)
		cli_warn("%s: %s is not listed in the index: it is no part of the checkpoint, "
			 "and is not copied", (*out)->dir, (*out)->unlisted[i]);
	for (size_t i = 0; !rc && i < (*out)->n_broken_links; i++)
		cli_warn("%s: %s: skipped (not read, not copied)", (*out)->dir,
			 (*out)->broken_links[i]);
	return rc;
}

/* The source's quantization_config (new reference or NULL), from -c or
 * config.json, and ModelOpt's hf_quant_config.json beside the model. */
size_t cli_scheme_text(const ct_qargs *w, bool brief, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s%d", w->type == CT_QTYPE_INT ? "int" :
			 brief ? "fp" : "float", w->num_bits);
	size_t at = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
	if (w->strategy == CT_STRAT_GROUP || w->strategy == CT_STRAT_TENSOR_GROUP)
		n = snprintf(buf + at, size - at, brief ? " g%" PRId64 : " group %" PRId64,
			     w->group_size);
	else if (w->strategy == CT_STRAT_CHANNEL)
		n = snprintf(buf + at, size - at, "%s", brief ? " per-channel" : " channel");
	else if (w->strategy == CT_STRAT_TENSOR)
		n = snprintf(buf + at, size - at, "%s", brief ? " per-tensor" : " tensor");
	else
		n = snprintf(buf + at, size - at, " block %" PRId64 "x%" PRId64, w->block[0],
			     w->block[1]);
	at += n < 0 ? 0 : (size_t)n < size - at ? (size_t)n : size - at - 1;
	if (!w->symmetric)
		n = snprintf(buf + at, size - at, " asym");
	return strlen(buf);
}

