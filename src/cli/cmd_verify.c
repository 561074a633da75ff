/* cmd_verify.c - `ctensors verify`: integrity, and fidelity against an
 * original. The verdict is the library's (ct_verify_checkpoint); this file
 * owns the options, the report on stdout and the exit status. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

#define WORST_SHOWN 10

typedef struct verify_args {
	const cli_command *self;
	bool json;
	ct_verify_opts v;            /* what the library decides the verdict by */
} verify_args;

static bool parse_double(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || isnan(v))
		return false;
	*out = v;
	return true;
}

static int on_opt(void *ctx, int id, const char *arg)
{
	verify_args *a = ctx;
	uint64_t v;
	switch (id) {
	case 'c': a->v.config = arg; break;
	case OPT_AGAINST: a->v.against = arg; break;
	case OPT_JSON: a->json = true; break;
	case OPT_EXACT: a->v.exact = true; break;
	case OPT_REQUIRE_CHECKSUMS: a->v.require_checksums = true; break;
	case OPT_SERVING:
		if (strcmp(arg, "vllm") != 0)
			return cli_bad_choice(a->self, "--serving", arg, "vllm", NULL);
		a->v.serving_vllm = true;
		break;
	case OPT_GPU: {
		const char *d = arg[0] == 's' && arg[1] == 'm' ? arg + 2 : arg;
		if (!cli_parse_uint(d, 1000, &v) || v < 30)
			return cli_usage(a->self, "--gpu: '%s' is not a compute capability (sm80, "
					 "sm90, sm100, ...)", arg);
		a->v.target.sm = (int)v;
		break;
	}
	case OPT_TP:
		if (!cli_parse_uint(arg, 1024, &v) || v == 0)
			return cli_usage(a->self, "--tp: '%s' is not a positive integer", arg);
		a->v.target.tp = (int)v;
		break;
	case OPT_MIN_SNR:
		if (!parse_double(arg, &a->v.min_snr))
			return cli_usage(a->self, "--min-snr-db: '%s' is not a number", arg);
		a->v.has_snr = true;
		break;
	case OPT_MIN_COS:
		if (!parse_double(arg, &a->v.min_cos) || a->v.min_cos < -1 || a->v.min_cos > 1)
			return cli_usage(a->self, "--min-cosine: '%s' is not a number from -1 to 1",
					 arg);
		a->v.has_cos = true;
		break;
	case OPT_MAX_ABS:
		if (!parse_double(arg, &a->v.max_abs) || a->v.max_abs < 0)
			return cli_usage(a->self, "--max-abs-err: '%s' is not a number >= 0", arg);
		a->v.has_abs = true;
		break;
	case 'j':
		if (!cli_parse_uint(arg, 256, &v) || v == 0)
			return cli_usage(a->self, "--threads: '%s' is not an integer from 1 to 256",
					 arg);
		a->v.threads = (int)v;
		break;
	case 'q': cli_verbosity = 0; break;
	case 'v': cli_verbosity = 2; break;
	}
	return EXIT_OK;
}

static void print_serving(const ct_verify_opts *a, const ct_serving_report *s)
{
	printf("vllm: %s", s->n_failed ? "FAILED" : "OK");
	if (a->target.sm || a->target.tp) {
		printf(" (");
		if (a->target.sm)
			printf("sm%d", a->target.sm);
		if (a->target.tp)
			printf("%sTP=%d", a->target.sm ? ", " : "", a->target.tp);
		printf(")");
	}
	size_t notes = s->n_findings - s->n_failed;
	printf(": %zu layers, %zu problem%s, %zu note%s (vLLM %.8s, %s)\n", s->n_layers,
	       s->n_failed, s->n_failed == 1 ? "" : "s", notes, notes == 1 ? "" : "s",
	       ct_vllm_commit, ct_vllm_commit_date);
	for (size_t i = 0; i < s->n_kernels; i++) {
		printf("  group ");
		cli_put_safe(stdout, s->kernels[i].group);
		printf(": %s%s%s%s\n", s->kernels[i].scheme, s->kernels[i].kernel[0] ? " (" : "",
		       s->kernels[i].kernel, s->kernels[i].kernel[0] ? ")" : "");
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < s->n_findings; i++) {
			const ct_finding *f = &s->findings[i];
			if ((f->severity == CT_SEV_NOTE) != (pass == 1))
				continue;
			if (pass == 1 && cli_verbosity < 1)
				continue;
			printf("  %s [%s] ", ct_severity_name(f->severity), f->rule->id);
			cli_put_safe(stdout, f->layer);
			printf(": ");
			cli_put_safe(stdout, f->message);
			printf("\n      fix: %s\n      from: %s%s\n", f->rule->fix, f->rule->source,
			       f->rule->unverified ? " [unverified]" : "");
		}
	}
}

static int cmp_worst(const void *x, const void *y)
{
	const ct_verify_tensor *a = *(ct_verify_tensor *const *)x;
	const ct_verify_tensor *b = *(ct_verify_tensor *const *)y;
	if (a->ok != b->ok)
		return a->ok ? 1 : -1;
	if (a->compared != b->compared)
		return a->compared ? -1 : 1;
	if (a->snr_db != b->snr_db)
		return a->snr_db < b->snr_db ? -1 : 1;
	return strcmp(a->name, b->name);
}

static void print_human(const char *path, const ct_verify_report *r, bool ok)
{
	size_t bad = 0, compared = 0;
	double min_snr = INFINITY, min_cos = 1.0, max_abs = 0.0;
	for (size_t i = 0; i < r->n_tensors; i++) {
		const ct_verify_tensor *t = &r->tensors[i];
		bad += !t->ok;
		if (t->compared) {
			compared++;
			/* a NaN is the worst value, never skipped as fmin would */
			min_snr = isnan(t->snr_db) || isnan(min_snr) ? NAN : fmin(min_snr, t->snr_db);
			min_cos = isnan(t->cosine) || isnan(min_cos) ? NAN : fmin(min_cos, t->cosine);
			max_abs = isnan(t->max_abs_err) || isnan(max_abs) ? NAN :
				  fmax(max_abs, t->max_abs_err);
		}
	}
	cli_put_safe(stdout, path);
	printf(": %s", ok ? "OK" : "FAILED");
	if (!ok)
		printf(" (%zu of %zu checks failed)", bad, r->n_tensors);
	printf("\n");
	const ct_verify_tensor **order = malloc((r->n_tensors + 1) * sizeof(*order));
	if (order) {
		for (size_t i = 0; i < r->n_tensors; i++)
			order[i] = &r->tensors[i];
		qsort(order, r->n_tensors, sizeof(*order), cmp_worst);
		size_t shown = 0;
		for (size_t i = 0; i < r->n_tensors && (shown < WORST_SHOWN || cli_verbosity > 1); i++) {
			const ct_verify_tensor *t = order[i];
			/* failures first; when all passed, the least faithful few */
			bool show = !t->ok || (ok && t->compared && !t->exact &&
					       (shown < 5 || cli_verbosity > 1));
			if (!show)
				continue;
			if (shown++ == 0)
				printf(ok ? "worst tensors:\n" : "problems:\n");
			printf("  ");
			cli_put_safe(stdout, t->name);
			if (t->compared)
				printf("  snr %.2f dB  cosine %.6f  max abs %.4g", t->snr_db, t->cosine,
				       t->max_abs_err);
			if (t->problem) {
				printf("  ");
				cli_put_safe(stdout, t->problem);
			}
			printf("\n");
		}
		free(order);
	}
	printf("%zu tensors stored, %zu modules decoded, ", r->n_stored, r->n_decoded);
	if (r->n_shards_without_checksums)
		printf("%zu file(s) without checksums (structure checked only), ",
		       r->n_shards_without_checksums);
	printf("%zu checksums verified", r->n_checksums);
	if (compared)
		printf("; against the original: min SNR %.2f dB, min cosine %.6f, max abs err "
		       "%.4g", min_snr, min_cos, max_abs);
	printf("\n");
}

int cmd_verify(int argc, char **argv, const cli_command *self)
{
	verify_args a = { .self = self, .v.threads = cli_default_threads() };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	const ct_verify_opts *o = &a.v;
	if (argc - optind != 1)
		return cli_usage(self, "expected one CHECKPOINT");
	if ((o->exact || o->has_snr || o->has_cos || o->has_abs) && !o->against)
		return cli_usage(self, "thresholds need --against ORIGINAL");
	if ((o->target.sm || o->target.tp) && !o->serving_vllm)
		return cli_usage(self, "--gpu and --tp need --serving vllm");
	const char *path = argv[optind];
	ct_error err;
	ct_error_clear(&err);
	ct_verdict *v = NULL;
	int rc = ct_verify_checkpoint(path, o, &v, &err);
	for (size_t i = 0; v && i < v->warnings.n; i++)
		cli_warn("%s", v->warnings.items[i]);
	if (rc) {
		st = cli_fail(&err);
		if (a.json)
			st = cli_print_json(ct_verdict_error_json(err.msg, st), st);
		return st;
	}
	if (a.json) {
		st = cli_print_json(ct_verdict_json(v, o), EXIT_OK);
	} else if (cli_verbosity > 0 || !v->ok) {
		print_human(path, v->report, v->ok);
		if (v->serving)
			print_serving(o, v->serving);
	}
	if (!st && !v->ok) {
		size_t bad = ct_verdict_problems(v);
		if (bad)
			cli_error("%s: verification failed (%zu problem%s; details on stdout)",
				  path, bad, bad == 1 ? "" : "s");
		else
			cli_error("%s: vLLM would refuse it or serve wrong numbers (details on "
				  "stdout)", path);
		st = EXIT_CHECK_FAILED;
	}
	ct_verdict_free(v);
	return st;
}
