/*
 * cmd_completion.c - `ctensors completion bash|zsh|fish`: a shell completion
 * script on stdout, generated from cli_commands[] and each command's option
 * table, the same tables cli_parse hands to getopt_long, so what the shell
 * offers cannot drift from what ctensors accepts.
 *
 * What each word completes to comes from the tables alone:
 *   - an option's argument: its `values` when given, files when its
 *     placeholder names a file (CHECKPOINT, INPUT, OUTPUT, CONFIG, ORIGINAL,
 *     FILE, DIR, PATH), nothing otherwise;
 *   - operands: read from the synopsis: the upper-case words outside
 *     brackets ("INPUT OUTPUT"), an optional "[COMMAND]" (command names),
 *     "a|b|c" (those words), "WORD..." (any number of them);
 *   - an option whose help says "repeatable" may be given more than once.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum arg_kind {
	ARG_NONE,      /* free-form: nothing to offer */
	ARG_FILES,     /* files and directories */
	ARG_COMMANDS,  /* ctensors command names */
	ARG_WORDS,     /* a fixed list of words */
} arg_kind;

#define MAX_OPERANDS 8
#define WORD_MAX 128      /* an operand of a synopsis */
#define WORDS_MAX 4096    /* a list of candidate words */

typedef struct operand {
	char name[WORD_MAX];   /* as the synopsis spells it ("INPUT", "bash|zsh|fish") */
	char words[WORD_MAX];  /* ARG_WORDS: the words, space-separated */
	arg_kind kind;
	bool optional;
	bool repeats;          /* "WORD...": this and every later operand */
} operand;

static const char *const file_placeholders[] = {
	"CHECKPOINT", "INPUT", "OUTPUT", "CONFIG", "ORIGINAL", "FILE", "DIR", "PATH", NULL,
};

/* Top-level options, handled by main() before any command. */
static const struct {
	char short_name;
	const char *name;
	const char *help;
} top_opts[] = {
	{ 'h', "help", "show help" },
	{ 'V', "version", "print the version" },
};
#define N_TOP_OPTS (sizeof(top_opts) / sizeof(top_opts[0]))

static bool is_upper_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static bool is_file_placeholder(const char *s)
{
	if (!s)
		return false;
	for (size_t i = 0; file_placeholders[i]; i++)
		if (strcmp(s, file_placeholders[i]) == 0)
			return true;
	return false;
}

static arg_kind opt_kind(const cli_opt *o)
{
	if (!o->has_arg)
		return ARG_NONE;
	if (o->values && *o->values)
		return ARG_WORDS;
	return is_file_placeholder(o->arg) ? ARG_FILES : ARG_NONE;
}

static bool opt_repeatable(const cli_opt *o)
{
	return o->help && strstr(o->help, "repeatable") != NULL;
}

/* Classifies one operand word of a synopsis; false when it is not one
 * ("options", "thresholds"). */
static bool classify_operand(const char *word, size_t len, bool optional, operand *op)
{
	if (len == 0 || len >= WORD_MAX)
		return false;
	memset(op, 0, sizeof(*op));
	memcpy(op->name, word, len);
	op->name[len] = '\0';
	op->optional = optional;
	if (strchr(op->name, '|')) {
		for (size_t i = 0; i <= len; i++)
			op->words[i] = op->name[i] == '|' ? ' ' : op->name[i];
		op->kind = ARG_WORDS;
		return true;
	}
	if (!is_upper_word(op->name))
		return false;
	if (strcmp(op->name, "COMMAND") == 0)
		op->kind = ARG_COMMANDS;
	else if (is_file_placeholder(op->name))
		op->kind = ARG_FILES;
	else
		op->kind = ARG_NONE;
	return true;
}

/* The operands a synopsis names, in order. Words inside (...) or [...] are
 * options and their arguments, except a lone "[WORD]", an optional operand. */
static size_t synopsis_operands(const char *syn, operand *ops, size_t max)
{
	size_t n = 0;
	int depth = 0;
	const char *p = syn ? syn : "";
	while (*p && n < max) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ' ')
			p++;
		size_t len = (size_t)(p - start);
		int at_start = depth;
		for (const char *q = start; q < p; q++) {
			if (*q == '[' || *q == '(')
				depth++;
			else if ((*q == ']' || *q == ')') && depth > 0)
				depth--;
		}
		if (at_start != 0 || start[0] == '-')
			continue;
		bool repeats = false;
		while (len > 3 && strncmp(start + len - 3, "...", 3) == 0) {
			len -= 3;
			repeats = true;
		}
		bool ok = false;
		if (start[0] == '[') {
			if (len < 3 || start[len - 1] != ']' || start[1] == '-')
				continue;
			ok = classify_operand(start + 1, len - 2, true, &ops[n]);
		} else if (start[0] != '(') {
			ok = classify_operand(start, len, false, &ops[n]);
		}
		if (ok) {
			ops[n++].repeats = repeats;
			if (repeats)
				break;   /* nothing can follow any number of them */
		}
	}
	return n;
}

/* ------------------------------------------------------------- quoting --- */

/* The inside of a POSIX-shell single-quoted word (bash and zsh). */
static void put_sq_body(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
	}
}

static void put_sq(FILE *out, const char *s)
{
	fputc('\'', out);
	put_sq_body(out, s);
	fputc('\'', out);
}

/* Candidate words end up where each shell expands them (compgen -W, fish's
 * -a): only words made of these characters are passed on. */
static bool safe_word_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("_.,+-=%/", ch));
}

/* The safe words of a space-separated list, space-separated, in buf. */
static const char *safe_words(const char *in, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	const char *p = in ? in : "";
	while (*p) {
		while (*p == ' ')
			p++;
		const char *start = p;
		bool ok = true;
		for (; *p && *p != ' '; p++)
			ok = ok && safe_word_char(*p);
		size_t len = (size_t)(p - start);
		if (!ok || len == 0 || n + len + 2 > size)
			continue;
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, start, len);
		n += len;
		buf[n] = '\0';
	}
	return buf;
}

/* Command and option names go into the scripts as they are: only names of
 * letters, digits, '_' and '-' (not first) are completed; getopt_long and
 * the command table need no others. */
static bool safe_name(const char *s)
{
	if (!s || !*s || *s == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool command_ok(const cli_command *c)
{
	return safe_name(c->name);
}

static bool opt_ok(const cli_opt *o)
{
	return safe_name(o->name);
}

/* The short option letter of o, or 0 (ids from 256 up are long only). */
static int short_of(const cli_opt *o)
{
	int c = o->id;
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : 0;
}

/* Text for a zsh _arguments spec: backslash before the characters the spec
 * syntax gives meaning to. The caller single-quotes the whole spec. */
static void put_zsh_spec_text(FILE *out, const char *s, const char *specials)
{
	for (; *s; s++) {
		if (*s == '\'') {
			fputs("'\\''", out);
			continue;
		}
		if (*s == '\\' || strchr(specials, *s))
			fputc('\\', out);
		fputc(*s, out);
	}
}

/* A fish single-quoted word: only \ and ' are special inside. */
static void put_fish_sq(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\\' || *s == '\'')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

static void put_command_names(FILE *out)
{
	const char *sep = "";
	for (size_t i = 0; i < cli_n_commands; i++) {
		if (command_ok(&cli_commands[i])) {
			fprintf(out, "%s%s", sep, cli_commands[i].name);
			sep = " ";
		}
	}
}

/* ---------------------------------------------------------------- bash --- */

static void bash_value(FILE *out, arg_kind kind, const char *words)
{
	switch (kind) {
	case ARG_FILES: fputs("@files", out); break;
	case ARG_COMMANDS: fputs("@commands", out); break;
	case ARG_WORDS: {
		char buf[WORDS_MAX];
		put_sq(out, safe_words(words, buf, sizeof(buf)));
		break;
	}
	case ARG_NONE: fputs("''", out); break;
	}
}

static void emit_bash_command(FILE *out, const cli_command *c)
{
	fputs("\t", out);
	put_sq(out, c->name);
	fputs(")\n\t\topts=\'", out);
	/* the short and long spellings of every option */
	const char *sep = "";
	for (const cli_opt *o = c->opts; o && o->name; o++) {
		if (!opt_ok(o))
			continue;
		if (short_of(o)) {
			fprintf(out, "%s-%c", sep, short_of(o));
			sep = " ";
		}
		fprintf(out, "%s--", sep);
		put_sq_body(out, o->name);
		sep = " ";
	}
	fputc('\'', out);
	fputs("\n\t\targopts=' ", out);
	for (const cli_opt *o = c->opts; o && o->name; o++) {
		if (!opt_ok(o))
			continue;
		if (!o->has_arg)
			continue;
		if (short_of(o))
			fprintf(out, "-%c ", short_of(o));
		fprintf(out, "--%s ", o->name);
	}
	fputs("'\n\t\toperands=(", out);
	operand ops[MAX_OPERANDS];
	size_t n = synopsis_operands(c->synopsis, ops, MAX_OPERANDS);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(' ', out);
		bash_value(out, ops[i].kind, ops[i].words);
	}
	fputs(")\n", out);
	if (n && ops[n - 1].repeats)
		fputs("\t\trest=1\n", out);
	/* the values of the options that have some to offer */
	bool any = false;
	for (const cli_opt *o = c->opts; o && o->name; o++) {
		if (!opt_ok(o))
			continue;
		if (opt_kind(o) == ARG_NONE)
			continue;
		fputs(any ? "\t\t" : "\t\tcase $prev in\n\t\t", out);
		any = true;
		if (short_of(o))
			fprintf(out, "'-%c'|", short_of(o));
		fprintf(out, "'--%s') values=", o->name);
		bash_value(out, opt_kind(o), o->values);
		fputs(" ;;\n", out);
	}
	fputs(any ? "\t\tesac\n\t\t;;\n" : "\t\t;;\n", out);
}

static void emit_bash(FILE *out)
{
	fputs("# bash completion for ctensors                            -*- shell-script -*-\n"
	      "# Generated by 'ctensors completion bash' from the option tables; do not edit.\n"
	      "# Try it with: source <(ctensors completion bash)\n"
	      "\n"
	      "# Reads lines into COMPREPLY (safe with spaces and glob characters).\n"
	      "_ctensors_reply()\n"
	      "{\n"
	      "\tlocal line\n"
	      "\tCOMPREPLY=()\n"
	      "\twhile IFS= read -r line; do\n"
	      "\t\tCOMPREPLY+=(\"$line\")\n"
	      "\tdone\n"
	      "}\n"
	      "\n"
	      "# _ctensors_offer KIND WORD: files, command names or a list of words.\n"
	      "_ctensors_offer()\n"
	      "{\n"
	      "\tcase $1 in\n"
	      "\t@files)\n"
	      "\t\tcompopt -o filenames 2>/dev/null\n"
	      "\t\t_ctensors_reply < <(compgen -f -- \"$2\")\n"
	      "\t\t;;\n"
	      "\t@commands)\n"
	      "\t\t_ctensors_reply < <(compgen -W ", out);
	fputc('\'', out);
	put_command_names(out);
	fputs("' -- \"$2\")\n"
	      "\t\t;;\n"
	      "\t'')\n"
	      "\t\t;;\n"
	      "\t*)\n"
	      "\t\t_ctensors_reply < <(compgen -W \"$1\" -- \"$2\")\n"
	      "\t\t;;\n"
	      "\tesac\n"
	      "}\n"
	      "\n"
	      "_ctensors()\n"
	      "{\n"
	      "\tlocal cur prev w i n=0 pre='' opts='' argopts='' values='' expect='' dashdash='' rest=''\n"
	      "\tlocal -a operands=()\n"
	      "\tCOMPREPLY=()\n"
	      "\tcur=${COMP_WORDS[COMP_CWORD]}\n"
	      "\tprev=\n"
	      "\t((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
	      "\tif ((COMP_CWORD == 1)); then\n"
	      "\t\t_ctensors_reply < <(compgen -W '", out);
	put_command_names(out);
	for (size_t i = 0; i < N_TOP_OPTS; i++)
		fprintf(out, " -%c --%s", top_opts[i].short_name, top_opts[i].name);
	fputs("' -- \"$cur\")\n"
	      "\t\treturn 0\n"
	      "\tfi\n"
	      "\t# --opt=VALUE: split at '=' (the default COMP_WORDBREAKS) or one word\n"
	      "\tif [[ $cur == = && $prev == -* ]]; then\n"
	      "\t\tcur=\n"
	      "\telif [[ $prev == = ]] && ((COMP_CWORD > 2)) &&\n"
	      "\t\t[[ ${COMP_WORDS[COMP_CWORD - 2]} == -* ]]; then\n"
	      "\t\tprev=${COMP_WORDS[COMP_CWORD - 2]}\n"
	      "\telif [[ $cur == --*=* ]]; then\n"
	      "\t\tprev=${cur%%=*}\n"
	      "\t\tpre=$prev=\n"
	      "\t\tcur=${cur#*=}\n"
	      "\tfi\n"
	      "\tcase ${COMP_WORDS[1]} in\n", out);
	for (size_t i = 0; i < cli_n_commands; i++)
		if (command_ok(&cli_commands[i]))
			emit_bash_command(out, &cli_commands[i]);
	fputs("\t*)\n"
	      "\t\treturn 0\n"
	      "\t\t;;\n"
	      "\tesac\n"
	      "\t# what the words before this one are: options, their values, operands\n"
	      "\tfor ((i = 2; i < COMP_CWORD; i++)); do\n"
	      "\t\tw=${COMP_WORDS[i]}\n"
	      "\t\tif [[ -n $expect ]]; then\n"
	      "\t\t\texpect=\n"
	      "\t\t\t[[ $w == = ]] && expect=1\n"
	      "\t\t\tcontinue\n"
	      "\t\tfi\n"
	      "\t\tif [[ -z $dashdash && $w == -- ]]; then\n"
	      "\t\t\tdashdash=1\n"
	      "\t\telif [[ -z $dashdash && $w == -?* ]]; then\n"
	      "\t\t\t[[ $argopts == *\" $w \"* ]] && expect=1\n"
	      "\t\telse\n"
	      "\t\t\tn=$((n + 1))\n"
	      "\t\tfi\n"
	      "\tdone\n"
	      "\tif [[ -n $pre && $argopts == *\" $prev \"* ]]; then\n"
	      "\t\texpect=1\n"
	      "\telif [[ -n $pre ]]; then\n"
	      "\t\treturn 0\n"
	      "\tfi\n"
	      "\tif [[ -n $expect ]]; then\n"
	      "\t\t_ctensors_offer \"$values\" \"$cur\"\n"
	      "\t\tfor i in \"${!COMPREPLY[@]}\"; do\n"
	      "\t\t\tCOMPREPLY[i]=$pre${COMPREPLY[i]}\n"
	      "\t\tdone\n"
	      "\t\treturn 0\n"
	      "\tfi\n"
	      "\tif [[ -z $dashdash && $cur == -* ]]; then\n"
	      "\t\t_ctensors_reply < <(compgen -W \"$opts\" -- \"$cur\")\n"
	      "\t\treturn 0\n"
	      "\tfi\n"
	      "\t# a last operand that repeats takes every later position\n"
	      "\t[[ -n $rest ]] && ((n >= ${#operands[@]})) && n=$((${#operands[@]} - 1))\n"
	      "\t((n < ${#operands[@]})) && _ctensors_offer \"${operands[n]}\" \"$cur\"\n"
	      "\treturn 0\n"
	      "}\n"
	      "\n"
	      "complete -F _ctensors ctensors\n", out);
}

/* ----------------------------------------------------------------- zsh --- */

static void zsh_action(FILE *out, arg_kind kind, const char *words)
{
	switch (kind) {
	case ARG_FILES: fputs("_files", out); break;
	case ARG_COMMANDS: fputs("_ctensors_commands", out); break;
	case ARG_WORDS: {
		char buf[WORDS_MAX];
		fputc('(', out);
		put_zsh_spec_text(out, safe_words(words, buf, sizeof(buf)), "()[]:");
		fputc(')', out);
		break;
	}
	case ARG_NONE: fputs(" ", out); break;
	}
}

/* One _arguments spec for one spelling (short or long) of o. */
static void emit_zsh_opt(FILE *out, const cli_opt *o, bool is_short)
{
	bool has_short = short_of(o) != 0;
	bool rep = opt_repeatable(o);
	fputs(" \\\n\t\t\t\t'", out);
	if (rep) {
		fputc('*', out);
	} else {
		fputc('(', out);
		if (has_short)
			fprintf(out, "-%c ", short_of(o));
		fprintf(out, "--%s)", o->name);
	}
	if (is_short)
		fprintf(out, "-%c%s", short_of(o), o->has_arg ? "+" : "");
	else
		fprintf(out, "--%s%s", o->name, o->has_arg ? "=" : "");
	fputc('[', out);
	put_zsh_spec_text(out, o->help ? o->help : "", "[]:");
	fputc(']', out);
	if (o->has_arg) {
		fputc(':', out);
		put_zsh_spec_text(out, o->arg ? o->arg : "value", "[]:");
		fputc(':', out);
		zsh_action(out, opt_kind(o), o->values);
	}
	fputc('\'', out);
}

static void emit_zsh(FILE *out)
{
	fputs("#compdef ctensors\n"
	      "# zsh completion for ctensors.\n"
	      "# Generated by 'ctensors completion zsh' from the option tables; do not edit.\n"
	      "\n"
	      "_ctensors_commands() {\n"
	      "\tlocal -a commands\n"
	      "\tcommands=(\n", out);
	for (size_t i = 0; i < cli_n_commands; i++) {
		if (!command_ok(&cli_commands[i]))
			continue;
		fputs("\t\t'", out);
		put_zsh_spec_text(out, cli_commands[i].name, ":");
		fputc(':', out);
		put_zsh_spec_text(out, cli_commands[i].summary ? cli_commands[i].summary : "", "");
		fputs("'\n", out);
	}
	fputs("\t)\n"
	      "\t_describe -t commands 'ctensors command' commands\n"
	      "}\n"
	      "\n"
	      "_ctensors() {\n"
	      "\tlocal curcontext=$curcontext state state_descr line ret=1\n"
	      "\ttypeset -A opt_args\n"
	      "\t_arguments -C", out);
	for (size_t i = 0; i < N_TOP_OPTS; i++) {
		fprintf(out, " \\\n\t\t'(- :)-%c[", top_opts[i].short_name);
		put_zsh_spec_text(out, top_opts[i].help, "[]:");
		fprintf(out, "]' \\\n\t\t'(- :)--%s[", top_opts[i].name);
		put_zsh_spec_text(out, top_opts[i].help, "[]:");
		fputs("]'", out);
	}
	fputs(" \\\n"
	      "\t\t'1: :_ctensors_commands' \\\n"
	      "\t\t'*:: :->command' && ret=0\n"
	      "\tcase $state in\n"
	      "\tcommand)\n"
	      "\t\tcurcontext=${curcontext%:*:*}:ctensors-$words[1]:\n"
	      "\t\tcase $words[1] in\n", out);
	for (size_t i = 0; i < cli_n_commands; i++) {
		const cli_command *c = &cli_commands[i];
		if (!command_ok(c))
			continue;
		fputs("\t\t", out);
		put_sq(out, c->name);
		fputs(")\n\t\t\t_arguments -s -S", out);
		for (const cli_opt *o = c->opts; o && o->name; o++) {
			if (!opt_ok(o))
				continue;
			if (short_of(o))
				emit_zsh_opt(out, o, true);
			emit_zsh_opt(out, o, false);
		}
		operand ops[MAX_OPERANDS];
		size_t n = synopsis_operands(c->synopsis, ops, MAX_OPERANDS);
		for (size_t k = 0; k < n; k++) {
			if (ops[k].repeats) /* rest arguments: always optional */
				fputs(" \\\n\t\t\t\t'*:", out);
			else
				fprintf(out, " \\\n\t\t\t\t'%zu:%s", k + 1, ops[k].optional ? ":" : "");
			put_zsh_spec_text(out, ops[k].name, "[]:");
			fputc(':', out);
			zsh_action(out, ops[k].kind, ops[k].words);
			fputc('\'', out);
		}
		fputs(" && ret=0\n\t\t\t;;\n", out);
	}
	fputs("\t\tesac\n"
	      "\t\t;;\n"
	      "\tesac\n"
	      "\treturn ret\n"
	      "}\n"
	      "\n"
	      "_ctensors \"$@\"\n", out);
}

/* ---------------------------------------------------------------- fish --- */

static void emit_fish(FILE *out)
{
	fputs("# fish completion for ctensors.\n"
	      "# Generated by 'ctensors completion fish' from the option tables; do not edit.\n"
	      "\n"
	      "function __ctensors_needs_command\n"
	      "    set -l tokens (commandline -opc)\n"
	      "    test (count $tokens) -eq 1\n"
	      "end\n"
	      "\n"
	      "function __ctensors_using_command\n"
	      "    set -l tokens (commandline -opc)\n"
	      "    test (count $tokens) -ge 2; and test \"$tokens[2]\" = \"$argv[1]\"\n"
	      "end\n"
	      "\n"
	      "complete -c ctensors -f\n", out);
	for (size_t i = 0; i < N_TOP_OPTS; i++) {
		fprintf(out, "complete -c ctensors -n __ctensors_needs_command -s %c -l %s -d ",
			top_opts[i].short_name, top_opts[i].name);
		put_fish_sq(out, top_opts[i].help);
		fputc('\n', out);
	}
	for (size_t i = 0; i < cli_n_commands; i++) {
		if (!command_ok(&cli_commands[i]))
			continue;
		fputs("complete -c ctensors -n __ctensors_needs_command -a ", out);
		put_fish_sq(out, cli_commands[i].name);
		fputs(" -d ", out);
		put_fish_sq(out, cli_commands[i].summary ? cli_commands[i].summary : "");
		fputc('\n', out);
	}
	for (size_t i = 0; i < cli_n_commands; i++) {
		const cli_command *c = &cli_commands[i];
		if (!command_ok(c))
			continue;
		char buf[WORDS_MAX];
		fputc('\n', out);
		for (const cli_opt *o = c->opts; o && o->name; o++) {
			if (!opt_ok(o))
				continue;
			fputs("complete -c ctensors -n ", out);
			fprintf(out, "'__ctensors_using_command %s'", c->name);
			if (short_of(o))
				fprintf(out, " -s %c", short_of(o));
			fputs(" -l ", out);
			put_fish_sq(out, o->name);
			switch (opt_kind(o)) {
			case ARG_FILES: fputs(" -r -F", out); break;
			case ARG_WORDS:
				fputs(" -x -a ", out);
				put_fish_sq(out, safe_words(o->values, buf, sizeof(buf)));
				break;
			case ARG_COMMANDS: break; /* not an option kind */
			case ARG_NONE:
				if (o->has_arg)
					fputs(" -x", out);
				break;
			}
			fputs(" -d ", out);
			put_fish_sq(out, o->help ? o->help : "");
			fputc('\n', out);
		}
		operand ops[MAX_OPERANDS];
		size_t n = synopsis_operands(c->synopsis, ops, MAX_OPERANDS);
		bool files = false;
		for (size_t k = 0; k < n; k++) {
			if (ops[k].kind == ARG_FILES && !files) {
				files = true;
				fputs("complete -c ctensors -n ", out);
				fprintf(out, "'__ctensors_using_command %s'", c->name);
				fputs(" -F\n", out);
			} else if (ops[k].kind == ARG_COMMANDS || ops[k].kind == ARG_WORDS) {
				fputs("complete -c ctensors -n ", out);
				fprintf(out, "'__ctensors_using_command %s'", c->name);
				fputs(" -x -a ", out);
				if (ops[k].kind == ARG_COMMANDS) {
					fputc('\'', out);
					put_command_names(out);
					fputc('\'', out);
				} else {
					put_fish_sq(out, safe_words(ops[k].words, buf, sizeof(buf)));
				}
				fputc('\n', out);
			}
		}
	}
}

/* ------------------------------------------------------------- command --- */

static int on_opt(void *ctx, int id, const char *arg)
{
	(void)ctx;
	(void)id;
	(void)arg;
	return EXIT_OK;
}

int cmd_completion(int argc, char **argv, const cli_command *self)
{
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, NULL, &done);
	if (st || done)
		return st;
	if (argc - optind != 1)
		return cli_usage(self, "expected one shell: bash, zsh or fish");
	const char *shell = argv[optind];
	void (*emit)(FILE *) = NULL;
	if (strcmp(shell, "bash") == 0)
		emit = emit_bash;
	else if (strcmp(shell, "zsh") == 0)
		emit = emit_zsh;
	else if (strcmp(shell, "fish") == 0)
		emit = emit_fish;
	else
		return cli_usage(self, "'%s' is not a supported shell (bash, zsh or fish)", shell);
	emit(stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno;
		cli_check_stream(stdout);   /* a reader that left: no message */
		errno = e;
		cli_error("cannot write to standard output: %s", strerror(errno ? errno : EIO));
		return EXIT_SYSTEM;
	}
	return EXIT_OK;
}
