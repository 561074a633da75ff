/* cmd_verify.c - `ctensors verify`: integrity, and fidelity against an original. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"
#include "qconfig.h"
#include "verify.h"

#define WORST_SHOWN 10

typedef struct verify_args {
	const cli_command *self;
	const char *config;
	const char *against;
	bool json, exact;
	bool has_snr, has_cos, has_abs;
	double min_snr, min_cos, max_abs;
	int threads;
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
	case 'c': a->config = arg; break;
	case OPT_AGAINST: a->against = arg; break;
	case OPT_JSON: a->json = true; break;
	case OPT_EXACT: a->exact = true; break;
	case OPT_MIN_SNR:
		if (!parse_double(arg, &a->min_snr))
			return cli_usage(a->self, "--min-snr-db: '%s' is not a number", arg);
		a->has_snr = true;
		break;
	case OPT_MIN_COS:
		if (!parse_double(arg, &a->min_cos) || a->min_cos < -1 || a->min_cos > 1)
			return cli_usage(a->self, "--min-cosine: '%s' is not a number from -1 to 1",
					 arg);
		a->has_cos = true;
		break;
	case OPT_MAX_ABS:
		if (!parse_double(arg, &a->max_abs) || a->max_abs < 0)
			return cli_usage(a->self, "--max-abs-err: '%s' is not a number >= 0", arg);
		a->has_abs = true;
		break;
	case 'j':
		if (!cli_parse_uint(arg, 256, &v) || v == 0)
			return cli_usage(a->self, "--threads: '%s' is not an integer from 1 to 256",
					 arg);
		a->threads = (int)v;
		break;
	case 'q': cli_verbosity = 0; break;
	case 'v': cli_verbosity = 2; break;
	}
	return EXIT_OK;
}

/* Applies the thresholds to every compared tensor. */
static void apply_thresholds(const verify_args *a, ct_verify_report *r)
{
	char buf[256];
	for (size_t i = 0; i < r->n_tensors; i++) {
		ct_verify_tensor *t = &r->tensors[i];
		if (!t->compared || !t->ok)
			continue;
		buf[0] = '\0';
		if (a->exact && !t->exact)
			snprintf(buf, sizeof(buf), "not bit-identical to the original (--exact)");
		else if (a->has_snr && !(t->snr_db >= a->min_snr))
			snprintf(buf, sizeof(buf), "SNR %.2f dB below --min-snr-db %g", t->snr_db,
				 a->min_snr);
		else if (a->has_cos && !(t->cosine >= a->min_cos))
			snprintf(buf, sizeof(buf), "cosine %.6f below --min-cosine %g", t->cosine,
				 a->min_cos);
		else if (a->has_abs && !(t->max_abs_err <= a->max_abs))
			snprintf(buf, sizeof(buf), "max abs err %.6g above --max-abs-err %g",
				 t->max_abs_err, a->max_abs);
		if (buf[0]) {
			t->ok = false;
			t->problem = strdup(buf);
			r->ok = false;
		}
	}
}

static json_t *num(double v)
{
	/* JSON has no infinity: an exact match reports null SNR */
	return isfinite(v) ? json_real(v) : json_null();
}

static int print_json(const ct_verify_report *r)
{
	json_t *doc = json_object();
	json_t *arr = json_array();
	for (size_t i = 0; i < r->n_tensors; i++) {
		const ct_verify_tensor *t = &r->tensors[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(t->name));
		json_object_set_new(o, "file", json_string(t->file));
		json_object_set_new(o, "ok", json_boolean(t->ok));
		if (t->problem)
			json_object_set_new(o, "problem", json_string(t->problem));
		if (t->compared) {
			json_object_set_new(o, "max_abs_err", num(t->max_abs_err));
			json_object_set_new(o, "rmse", num(t->rmse));
			json_object_set_new(o, "snr_db", num(t->snr_db));
			json_object_set_new(o, "cosine", num(t->cosine));
			json_object_set_new(o, "exact", json_boolean(t->exact));
		}
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "schema", json_integer(1));
	json_object_set_new(doc, "ok", json_boolean(r->ok));
	json_object_set_new(doc, "checksums_checked", json_integer((json_int_t)r->n_checksums));
	json_object_set_new(doc, "files_without_checksums",
			    json_integer((json_int_t)r->n_shards_without_checksums));
	json_object_set_new(doc, "modules_decoded", json_integer((json_int_t)r->n_decoded));
	json_object_set_new(doc, "tensors", arr);
	char *s = ct_pyjson_dumps(doc, true);
	json_decref(doc);
	if (!s)
		return EXIT_SYSTEM;
	puts(s);
	free(s);
	return EXIT_OK;
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

static void print_human(const char *path, const ct_verify_report *r)
{
	size_t bad = 0, compared = 0;
	double min_snr = INFINITY, min_cos = 1.0, max_abs = 0.0;
	for (size_t i = 0; i < r->n_tensors; i++) {
		const ct_verify_tensor *t = &r->tensors[i];
		bad += !t->ok;
		if (t->compared) {
			compared++;
			min_snr = fmin(min_snr, t->snr_db);
			min_cos = fmin(min_cos, t->cosine);
			max_abs = fmax(max_abs, t->max_abs_err);
		}
	}
	printf("%s: %s", path, r->ok ? "OK" : "FAILED");
	if (!r->ok)
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
			bool show = !t->ok || (r->ok && t->compared && !t->exact &&
					       (shown < 5 || cli_verbosity > 1));
			if (!show)
				continue;
			if (shown++ == 0)
				printf(r->ok ? "worst tensors:\n" : "problems:\n");
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
	printf("%zu tensors, %zu modules decoded, ", r->n_tensors, r->n_decoded);
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
	verify_args a = { .self = self, .threads = cli_default_threads() };
	bool done;
	int st = cli_parse(self, argc, argv, on_opt, &a, &done);
	if (st || done)
		return st;
	if (argc - optind != 1)
		return cli_usage(self, "expected one CHECKPOINT");
	if ((a.exact || a.has_snr || a.has_cos || a.has_abs) && !a.against)
		return cli_usage(self, "thresholds need --against ORIGINAL");
	const char *path = argv[optind];
	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL, *orig = NULL;
	ct_qconfig *cfg = NULL;
	ct_verify_report *r = NULL;
	int rc = cli_open_checkpoint(path, &ck, &err);
	if (!rc && a.config) {
		rc = cli_load_checkpoint_config(ck, a.config, &cfg, &err);
	} else if (!rc) {
		json_t *j = NULL;
		rc = ct_ckpt_qconfig(ck, &j, &err);
		if (!rc && j)
			rc = ct_qconfig_parse(j, ck->config ? "config.json" : path, &cfg, &err);
		json_decref(j);
	}
	if (!rc && a.against)
		rc = cli_open_checkpoint(a.against, &orig, &err);
	if (!rc)
		rc = ct_verify(ck, cfg, orig, a.threads, &r, &err);
	if (rc) {
		st = cli_fail(&err);
	} else {
		apply_thresholds(&a, r);
		if (a.json)
			st = print_json(r);
		else if (cli_verbosity > 0 || !r->ok)
			print_human(path, r);
		if (!st && !r->ok) {
			size_t bad = 0;
			for (size_t i = 0; i < r->n_tensors; i++)
				bad += !r->tensors[i].ok;
			cli_error("%s: verification failed (%zu problem%s; details on stdout)", path,
				  bad, bad == 1 ? "" : "s");
			st = EXIT_CHECK_FAILED;
		}
	}
	ct_verify_report_free(r);
	ct_qconfig_free(cfg);
	ct_ckpt_close(orig);
	ct_ckpt_close(ck);
	return st;
}
