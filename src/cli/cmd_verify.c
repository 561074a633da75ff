/* cmd_verify.c - `ctensors verify`: integrity, and fidelity against an original. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "pyjson.h"
#include "qconfig.h"
#include "strbuf.h"
#include "serving.h"
#include "verify.h"

#define WORST_SHOWN 10

typedef struct verify_args {
	const cli_command *self;
	const char *config;
	const char *against;
	bool json, exact, require_checksums;
	const char *serving;
	ct_serving_target target;
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
	case OPT_REQUIRE_CHECKSUMS: a->require_checksums = true; break;
	case OPT_SERVING:
		if (strcmp(arg, "vllm") != 0)
			return cli_bad_choice(a->self, "--serving", arg, "vllm", NULL);
		a->serving = arg;
		break;
	case OPT_GPU: {
		const char *d = arg[0] == 's' && arg[1] == 'm' ? arg + 2 : arg;
		if (!cli_parse_uint(d, 1000, &v) || v < 30)
			return cli_usage(a->self, "--gpu: '%s' is not a compute capability (sm80, "
					 "sm90, sm100, ...)", arg);
		a->target.sm = (int)v;
		break;
	}
	case OPT_TP:
		if (!cli_parse_uint(arg, 1024, &v) || v == 0)
			return cli_usage(a->self, "--tp: '%s' is not a positive integer", arg);
		a->target.tp = (int)v;
		break;
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

/* value printed with the fewest significant digits (at least `least`) that
 * tell it apart from limit, so that "0.99383512 below 0.99383600" shows why */
static void show_apart(char *buf, size_t size, double value, double limit, int least)
{
	char a[64], b[64];
	int digits = least;
	for (; digits < 17; digits++) {
		snprintf(a, sizeof(a), "%.*g", digits, value);
		snprintf(b, sizeof(b), "%.*g", digits, limit);
		if (strcmp(a, b) != 0)
			break;
	}
	snprintf(buf, size, "%.*g", digits, value);
}

/* The shortest text that reads back as x (a threshold as the user gave it). */
static const char *shortest(char *buf, size_t size, double x)
{
	char full[64];
	snprintf(full, sizeof(full), "%.17g", x);
	for (int d = 1; d <= 17; d++) {
		snprintf(buf, size, "%.*g", d, x);
		/* 200 is "200", not "2e+02" */
		if (strtod(buf, NULL) == x && (!strchr(buf, 'e') || strchr(full, 'e')))
			break;
	}
	return buf;
}

/* Applies the thresholds to every compared tensor and module. */
static void apply_thresholds(const verify_args *a, ct_verify_report *r)
{
	char buf[256], v[64], l[64];
	for (size_t i = 0; i < r->n_tensors; i++) {
		ct_verify_tensor *t = &r->tensors[i];
		if (!t->compared || !t->ok)
			continue;
		buf[0] = '\0';
		if (a->exact && !t->exact) {
			snprintf(buf, sizeof(buf), "not bit-identical to the original (--exact)");
		} else if (a->has_snr && !(t->snr_db >= a->min_snr)) {
			show_apart(v, sizeof(v), t->snr_db, a->min_snr, 4);
			snprintf(buf, sizeof(buf), "SNR %s dB below --min-snr-db %s", v,
				 shortest(l, sizeof(l), a->min_snr));
		} else if (a->has_cos && !(t->cosine >= a->min_cos)) {
			show_apart(v, sizeof(v), t->cosine, a->min_cos, 6);
			snprintf(buf, sizeof(buf), "cosine %s below --min-cosine %s", v,
				 shortest(l, sizeof(l), a->min_cos));
		} else if (a->has_abs && !(t->max_abs_err <= a->max_abs)) {
			show_apart(v, sizeof(v), t->max_abs_err, a->max_abs, 6);
			snprintf(buf, sizeof(buf), "max abs err %s above --max-abs-err %s", v,
				 shortest(l, sizeof(l), a->max_abs));
		}
		if (buf[0]) {
			t->ok = false;
			t->problem = strdup(buf);
			r->ok = false;
		}
	}
}

/* A number for JSON, which has no infinity or NaN: those become the
 * strings "inf", "-inf" and "nan", so an exact match (SNR "inf") and a
 * broken one ("nan") stay apart. */
static json_t *num(double v)
{
	if (isnan(v))
		return json_string("nan");
	if (isinf(v))
		return json_string(v > 0 ? "inf" : "-inf");
	return json_real(v);
}

static void put_fidelity(json_t *o, const ct_verify_tensor *t)
{
	if (!t->compared)
		return;
	json_object_set_new(o, "max_abs_err", num(t->max_abs_err));
	json_object_set_new(o, "rmse", num(t->rmse));
	json_object_set_new(o, "snr_db", num(t->snr_db));
	json_object_set_new(o, "cosine", num(t->cosine));
	json_object_set_new(o, "exact", json_boolean(t->exact));
}

static int print_json(const ct_verify_report *r, json_t *serving)
{
	json_t *doc = json_object();
	json_t *tensors = json_array(), *modules = json_array(), *ckpt = json_array();
	for (size_t i = 0; i < r->n_tensors; i++) {
		const ct_verify_tensor *t = &r->tensors[i];
		json_t *o = json_object();
		if (t->kind == CT_VK_CHECKPOINT) {
			json_object_set_new(o, "what", json_string(t->name));
			json_object_set_new(o, "file", json_string(t->file));
			json_object_set_new(o, "problem", json_string(t->problem ? t->problem : ""));
			json_array_append_new(ckpt, o);
			continue;
		}
		json_object_set_new(o, "name", json_string(t->name));
		json_object_set_new(o, "file", json_string(t->file));
		json_object_set_new(o, "ok", json_boolean(t->ok));
		if (t->problem)
			json_object_set_new(o, "problem", json_string(t->problem));
		put_fidelity(o, t);
		if (t->kind == CT_VK_MODULE) {
			json_object_set_new(o, "module", json_string(t->module ? t->module : ""));
			json_object_set_new(o, "max_step", num(t->max_step));
			json_array_append_new(modules, o);
		} else {
			json_array_append_new(tensors, o);
		}
	}
	json_object_set_new(doc, "schema", json_integer(2));
	json_object_set_new(doc, "ok", json_boolean(r->ok));
	json_object_set_new(doc, "tensors_stored", json_integer((json_int_t)r->n_stored));
	json_object_set_new(doc, "checksums_checked", json_integer((json_int_t)r->n_checksums));
	json_object_set_new(doc, "files_with_checksums",
			    json_integer((json_int_t)r->n_shards_with_checksums));
	json_object_set_new(doc, "files_without_checksums",
			    json_integer((json_int_t)r->n_shards_without_checksums));
	json_object_set_new(doc, "modules_decoded", json_integer((json_int_t)r->n_decoded));
	json_object_set_new(doc, "checkpoint", ckpt);
	json_object_set_new(doc, "tensors", tensors);
	json_object_set_new(doc, "modules", modules);
	if (serving)
		json_object_set_new(doc, "serving", serving);
	char *s = ct_pyjson_dumps(doc, true);
	json_decref(doc);
	if (!s)
		return EXIT_SYSTEM;
	puts(s);
	free(s);
	return EXIT_OK;
}

static json_t *serving_json(const verify_args *a, const ct_serving_report *s)
{
	json_t *o = json_object(), *fs = json_array(), *ks = json_array();
	for (size_t i = 0; i < s->n_findings; i++) {
		const ct_finding *f = &s->findings[i];
		json_array_append_new(fs, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "layer",
						    f->layer, "rule", f->rule->id, "severity",
						    ct_severity_name(f->severity), "message", f->message,
						    "fix", f->rule->fix, "source", f->rule->source,
						    "unverified", f->rule->unverified));
	}
	for (size_t i = 0; i < s->n_kernels; i++)
		json_array_append_new(ks, json_pack("{s:s,s:s,s:s}", "group", s->kernels[i].group,
						    "scheme", s->kernels[i].scheme, "kernel",
						    s->kernels[i].kernel));
	json_object_set_new(o, "engine", json_string(a->serving));
	json_object_set_new(o, "vllm_commit", json_string(ct_vllm_commit));
	json_object_set_new(o, "gpu", a->target.sm ? json_integer(a->target.sm) : json_null());
	json_object_set_new(o, "tp", a->target.tp ? json_integer(a->target.tp) : json_null());
	json_object_set_new(o, "ok", json_boolean(s->n_failed == 0));
	json_object_set_new(o, "layers", json_integer((json_int_t)s->n_layers));
	json_object_set_new(o, "findings", fs);
	json_object_set_new(o, "kernels", ks);
	return o;
}

static void print_serving(const verify_args *a, const ct_serving_report *s)
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

static void print_human(const char *path, const ct_verify_report *r)
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

/* The first place where two JSON values differ, as a path ("config_groups.
 * group_0.weights.num_bits"), into buf; false when they are equal. */
static bool first_difference(const json_t *a, const json_t *b, char *buf, size_t size)
{
	if (json_equal(a, b))
		return false;
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !json_equal(v, w)) {
				size_t n = strlen(buf);
				snprintf(buf + n, size - n, "%s%s", n ? "." : "", k);
				if (w)
					first_difference(v, w, buf, size);
				return true;
			}
		}
		json_object_foreach((json_t *)b, k, v) {
			if (!json_object_get(a, k)) {
				size_t n = strlen(buf);
				snprintf(buf + n, size - n, "%s%s", n ? "." : "", k);
				return true;
			}
		}
	}
	return true;
}

/* Where loaders and ctensors find the config, and whether they agree:
 * config.json (what transformers and vLLM read) against the copy in the
 * shard metadata. Problems become checkpoint entries of r. */
static int check_config_sources(const ct_checkpoint *ck, const ct_verify_report *rep,
				ct_verify_report *r)
{
	json_t *loader = NULL, *embedded = NULL;
	ct_error e;
	ct_error_clear(&e);
	const char *cname = ck->config_name ? ck->config_name : "config.json";
	int rc = CT_OK;
	if (ct_ckpt_loader_qconfig(ck, &loader, &e) || ct_ckpt_embedded_qconfig(ck, &embedded, &e))
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname, "%s", e.msg);
	bool compressed = rep->n_decoded > 0;
	for (size_t i = 0; !compressed && i < rep->n_tensors; i++)
		compressed = rep->tensors[i].kind == CT_VK_MODULE;
	if (!rc && ck->kind == CT_CKPT_DIR && !ck->config)
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", "config.json",
					  "the model directory has no config.json: loaders cannot "
					  "read it%s", compressed ? ", nor tell that it is compressed" :
					  "");
	else if (!rc && ck->kind == CT_CKPT_DIR && compressed && !loader)
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname,
					  "%s has no quantization_config, but the checkpoint holds "
					  "compressed modules: loaders would read them as dense%s",
					  cname, embedded ? " (a copy is embedded in the shard "
					  "metadata)" : "");
	char path[512] = "";
	if (!rc && loader && embedded && first_difference(loader, embedded, path, sizeof(path)))
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname,
					  "%s's quantization_config differs from the copy in %s's "
					  "__metadata__ at %s (loaders use %s's)", cname,
					  ck->n_shards ? ck->shard_names[0] : "the first shard",
					  path[0] ? path : "(top level)", cname);
	json_decref(loader);
	json_decref(embedded);
	return rc;
}

/* Shards that carry ctensors' checksums and shards that do not, side by
 * side, mean a file was replaced or edited by another tool. */
static int check_checksum_coverage(const verify_args *a, ct_verify_report *r, const char *path)
{
	size_t with = r->n_shards_with_checksums, without = r->n_shards_without_checksums;
	if (with && without)
		return ct_verify_report_add(r, CT_VK_CHECKPOINT, "(checksums)", path, "%zu of %zu "
					    "files carry no ctensors.xxh3 checksums while the others "
					    "do (a file replaced or rewritten by another tool?)",
					    without, with + without);
	if (without && a->require_checksums)
		return ct_verify_report_add(r, CT_VK_CHECKPOINT, "(checksums)", path, "%zu "
					    "file%s without ctensors.xxh3 checksums "
					    "(--require-checksums)", without, without == 1 ? "" : "s");
	return CT_OK;
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
	if ((a.target.sm || a.target.tp) && !a.serving)
		return cli_usage(self, "--gpu and --tp need --serving vllm");
	const char *path = argv[optind];
	ct_error err;
	ct_error_clear(&err);
	ct_checkpoint *ck = NULL, *orig = NULL;
	ct_qconfig *cfg = NULL;
	ct_verify_report *r = NULL;
	/* a config that cannot be read is a finding too, unless it was named */
	char cfg_problem[CT_ERROR_MSG_MAX] = "";
	/* a damaged checkpoint is a failed check: its defects are findings */
	ct_strlist defects = { 0 };
	int rc = ct_ckpt_open_lenient(path, &defects, &ck, &err);
	if (!rc && a.config) {
		rc = cli_load_checkpoint_config(ck, a.config, &cfg, &err);
	} else if (!rc) {
		json_t *j = NULL;
		int crc = ct_ckpt_qconfig(ck, &j, &err);
		if (!crc && j)
			crc = ct_qconfig_parse(j, ck->config && json_object_get(ck->config,
					       "quantization_config") ? (ck->config_name ?
					       ck->config_name : "config.json") : path, &cfg, &err);
		json_decref(j);
		if (crc == CT_EINPUT) {
			snprintf(cfg_problem, sizeof(cfg_problem), "%s", err.msg);
			ct_error_clear(&err);
		} else {
			rc = crc;
		}
	}
	if (!rc && a.against)
		rc = cli_open_checkpoint(a.against, &orig, &err);
	/* an original quantized by another tool is read as convert reads it */
	json_t *oq = NULL, *ohfq = NULL;
	ct_conv *oconv = NULL;
	if (!rc && orig) {
		const char *olabel = a.against;
		rc = cli_load_source_configs(orig, NULL, &oq, &ohfq, &olabel, &err);
		if (!rc && ct_source_detect(oq, ohfq))
			rc = ct_convert_open(orig, oq, ohfq, olabel, NULL, &oconv, &err);
	}
	if (!rc)
		rc = ct_verify_ex(ck, cfg, orig, oconv, a.threads, &r, &err);
	for (size_t i = 0; !rc && i < defects.n; i++)
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(files)", path, "%s",
					  defects.items[i]);
	if (!rc && cfg_problem[0])
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", path, "%s", cfg_problem);
	if (!rc && !a.config)
		rc = check_config_sources(ck, r, r);
	if (!rc)
		rc = check_checksum_coverage(&a, r, path);
	if (rc == CT_EIO && r && !err.msg[0])
		ct_fail(&err, CT_EIO, "out of memory");
	if (rc) {
		st = cli_fail(&err);
		if (a.json) {
			/* a script piping into jq still gets one document */
			json_t *doc = json_pack("{s:i,s:b,s:{s:s,s:i},s:[],s:[],s:[]}", "schema", 2,
						"ok", 0, "error", "message", err.msg, "status", st,
						"checkpoint", "tensors", "modules");
			char *text = doc ? ct_pyjson_dumps(doc, true) : NULL;
			if (text)
				puts(text);
			free(text);
			json_decref(doc);
		}
	} else {
		if (orig)
			ct_verify_apply_default_rule(r);
		apply_thresholds(&a, r);
		r->ok = true;
		for (size_t i = 0; i < r->n_tensors; i++)
			r->ok = r->ok && r->tensors[i].ok;
		ct_serving_report *sv = NULL;
		if (a.serving) {
			json_t *j = NULL;
			ct_qconfig *vcfg = NULL;
			/* vLLM reads config.json, not the copy in the shard metadata */
			int vrc = a.config ? CT_OK : ck->kind == CT_CKPT_DIR ?
				  ct_ckpt_loader_qconfig(ck, &j, &err) : ct_ckpt_qconfig(ck, &j, &err);
			if (!vrc && j)
				vrc = ct_qconfig_parse(j, ck->config_name ? ck->config_name : path,
						       &vcfg, &err);
			json_decref(j);
			if (!vrc)
				vrc = ct_serving_check_vllm(ck, a.config ? cfg : vcfg, &a.target, &sv,
							    &err);
			ct_qconfig_free(vcfg);
			if (vrc == CT_EINPUT) {
				/* a config vLLM cannot parse is reported by verify already */
				ct_error_clear(&err);
				ct_serving_report_free(sv);
				sv = NULL;
			} else if (vrc) {
				st = cli_fail(&err);
			}
			if (sv && sv->n_failed)
				r->ok = false;
		}
		if (st) {
			/* reported */
		} else if (a.json) {
			st = print_json(r, sv ? serving_json(&a, sv) : NULL);
		} else if (cli_verbosity > 0 || !r->ok) {
			print_human(path, r);
			if (sv)
				print_serving(&a, sv);
		}
		ct_serving_report_free(sv);
		if (!st && !r->ok) {
			size_t bad = 0;
			for (size_t i = 0; i < r->n_tensors; i++)
				bad += !r->tensors[i].ok;
			if (bad)
				cli_error("%s: verification failed (%zu problem%s; details on stdout)",
					  path, bad, bad == 1 ? "" : "s");
			else
				cli_error("%s: vLLM would refuse it or serve wrong numbers (details on "
					  "stdout)", path);
			st = EXIT_CHECK_FAILED;
		}
	}
	ct_strlist_free(&defects);
	ct_verify_report_free(r);
	ct_qconfig_free(cfg);
	ct_convert_free(oconv);
	json_decref(oq);
	json_decref(ohfq);
	ct_ckpt_close(orig);
	ct_ckpt_close(ck);
	return st;
}
