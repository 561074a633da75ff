/*
 * verdict.c - everything `verify` decides about a checkpoint, in one call.
 *
 * ct_verify_scan (verify.c) checks tensors and modules; this file adds
 * what makes it the verdict a loader would reach: the files and index as
 * opened, the config as loaders read it (config.json against the copy in
 * the shard metadata, quant_method, quantization_status), checksum
 * coverage, the rule --against applies without thresholds, the
 * thresholds, and vLLM's loader (serving.c). The CLI's verify and every
 * writer's check before its commit call ct_verify_checkpoint, so they
 * cannot disagree.
 */
#include "verify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "convert.h"
#include "moe.h"
#include "serving.h"
#include "strbuf.h"

/* ------------------------------------------------------- thresholds --- */

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
static int apply_thresholds(const ct_verify_opts *o, ct_verify_report *r)
{
	char buf[256], v[64], l[64];
	for (size_t i = 0; i < r->n_tensors; i++) {
		ct_verify_tensor *t = &r->tensors[i];
		if (!t->compared || !t->ok)
			continue;
		buf[0] = '\0';
		if (o->exact && !t->exact) {
			snprintf(buf, sizeof(buf), "not bit-identical to the original (--exact)");
		} else if (o->has_snr && !(t->snr_db >= o->min_snr)) {
			show_apart(v, sizeof(v), t->snr_db, o->min_snr, 4);
			snprintf(buf, sizeof(buf), "SNR %s dB below --min-snr-db %s", v,
				 shortest(l, sizeof(l), o->min_snr));
		} else if (o->has_cos && !(t->cosine >= o->min_cos)) {
			show_apart(v, sizeof(v), t->cosine, o->min_cos, 6);
			snprintf(buf, sizeof(buf), "cosine %s below --min-cosine %s", v,
				 shortest(l, sizeof(l), o->min_cos));
		} else if (o->has_abs && !(t->max_abs_err <= o->max_abs)) {
			show_apart(v, sizeof(v), t->max_abs_err, o->max_abs, 6);
			snprintf(buf, sizeof(buf), "max abs err %s above --max-abs-err %s", v,
				 shortest(l, sizeof(l), o->max_abs));
		}
		if (buf[0]) {
			t->ok = false;
			t->problem = strdup(buf);
			if (!t->problem)
				return CT_EIO;
		}
	}
	return CT_OK;
}

/* ------------------------------------------------------------ config --- */

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

static bool holds_compressed(const ct_verify_report *r)
{
	if (r->n_decoded > 0)
		return true;
	for (size_t i = 0; i < r->n_tensors; i++)
		if (r->tensors[i].kind == CT_VK_MODULE)
			return true;
	return false;
}

/* What the loaders refuse in the config they read before looking at a
 * tensor. Without quant_method vLLM has no quantization method
 * (vllm/model_executor/model_loader/weight_utils.py: get_quant_config,
 * "Model quantization method is not specified in the config"), nor does
 * transformers (quantizers/auto.py: AutoQuantizationConfig.from_dict).
 * Packed tensors are read as packed only when quantization_status is
 * "compressed": transformers' CompressedTensorsHfQuantizer decompresses
 * only then (quantizer_compressed_tensors.py: is_quantization_compressed),
 * and otherwise expects dense weights where these are packed. */
static int check_loader_config(const char *cname, const json_t *loader, bool compressed,
			       ct_verify_report *r)
{
	const json_t *qm = json_object_get(loader, "quant_method");
	int rc = CT_OK;
	if (!qm)
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname,
					  "%s's quantization_config has no quant_method: transformers "
					  "and vLLM cannot tell which quantizer reads it (expected "
					  "\"compressed-tensors\")", cname);
	else if (!json_is_string(qm))
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname,
					  "%s's quantization_config quant_method is not a string",
					  cname);
	const json_t *st = json_object_get(loader, "quantization_status");
	const char *status = json_string_value(st);
	if (!rc && compressed && st && !json_is_null(st) &&
	    (!status || strcmp(status, "compressed") != 0))
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname,
					  "%s says quantization_status \"%.40s\", but the checkpoint "
					  "holds packed tensors: loaders read them as compressed only "
					  "when it is \"compressed\"", cname,
					  status ? status : "(not a string)");
	return rc;
}

/* Where loaders and ctensors find the config, and whether they agree:
 * config.json (what transformers and vLLM read) against the copy in the
 * shard metadata. Problems become checkpoint entries of r. */
static int check_config_sources(const ct_checkpoint *ck, ct_verify_report *r)
{
	json_t *loader = NULL, *embedded = NULL;
	ct_error e;
	ct_error_clear(&e);
	const char *cname = ck->config_name ? ck->config_name : "config.json";
	int rc = CT_OK;
	if (ct_ckpt_loader_qconfig(ck, &loader, &e) || ct_ckpt_embedded_qconfig(ck, &embedded, &e))
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", cname, "%s", e.msg);
	bool compressed = holds_compressed(r);
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
	if (!rc && loader)
		rc = check_loader_config(cname, loader, compressed, r);
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
static int check_checksum_coverage(const ct_verify_opts *o, ct_verify_report *r,
				   const char *path)
{
	size_t with = r->n_shards_with_checksums, without = r->n_shards_without_checksums;
	if (with && without)
		return ct_verify_report_add(r, CT_VK_CHECKPOINT, "(checksums)", path, "%zu of %zu "
					    "files carry no ctensors.xxh3 checksums while the others "
					    "do (a file replaced or rewritten by another tool?)",
					    without, with + without);
	if (without && o->require_checksums)
		return ct_verify_report_add(r, CT_VK_CHECKPOINT, "(checksums)", path, "%zu "
					    "file%s without ctensors.xxh3 checksums "
					    "(--require-checksums)", without, without == 1 ? "" : "s");
	return CT_OK;
}

/* ----------------------------------------------------------- serving --- */

/* vLLM reads config.json, not the copy in the shard metadata. */
static int check_serving(const ct_checkpoint *ck, const ct_qconfig *named, const char *path,
			 const ct_verify_opts *o, ct_serving_report **out, ct_error *err)
{
	json_t *j = NULL;
	ct_qconfig *vcfg = NULL;
	int rc = named ? CT_OK : ck->kind == CT_CKPT_DIR ? ct_ckpt_loader_qconfig(ck, &j, err) :
		 ct_ckpt_qconfig(ck, &j, err);
	if (!rc && j)
		rc = ct_qconfig_parse(j, ck->config_name ? ck->config_name : path, &vcfg, err);
	json_decref(j);
	if (!rc)
		rc = ct_serving_check_vllm(ck, named ? named : vcfg, &o->target, out, err);
	ct_qconfig_free(vcfg);
	if (rc == CT_EINPUT) {
		/* a config vLLM cannot parse is a finding of verify already */
		ct_error_clear(err);
		ct_serving_report_free(*out);
		*out = NULL;
		rc = CT_OK;
	}
	return rc;
}

/* vLLM builds each layer from config.json before it loads a tensor
 * (arch.h): a config the tensors contradict does not load. */
static int check_arch(const ct_checkpoint *ck, ct_verify_report *r)
{
	ct_moe_block *moe = NULL;
	size_t n_moe = 0;
	ct_error e;
	if (ct_moe_find(ck, &moe, &n_moe, &e) != CT_OK)
		n_moe = 0;   /* a fused tensor verify cannot split is reported apart */
	ct_strlist bad = { 0 };
	ct_arch_check(ck, moe, n_moe, &bad);
	ct_moe_free(moe, n_moe);
	int rc = CT_OK;
	for (size_t i = 0; !rc && i < bad.n; i++)
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", ck->config_name ?
					  ck->config_name : "config.json", "%s", bad.items[i]);
	if (!rc && bad.failed)
		rc = CT_EIO;
	ct_strlist_free(&bad);
	return rc;
}

/* ------------------------------------------------------------- verdict --- */

void ct_verdict_free(ct_verdict *v)
{
	if (!v)
		return;
	ct_verify_report_free(v->report);
	ct_serving_report_free(v->serving);
	ct_strlist_free(&v->warnings);
	free(v);
}

/* The config the checkpoint is read with: named (file or object), else its
 * own. A config of its own that cannot be read is a finding (*problem),
 * not an error: the checkpoint is what is wrong. */
static int load_config(const ct_checkpoint *ck, const char *path, const ct_verify_opts *o,
		       ct_qconfig **cfg, char *problem, size_t size, ct_error *err)
{
	if (o->config_json)
		return ct_qconfig_parse(o->config_json, o->config_label ? o->config_label :
					path, cfg, err);
	if (o->config)
		return ct_ckpt_load_qconfig(ck, o->config, cfg, err);
	json_t *j = NULL;
	int rc = ct_ckpt_qconfig(ck, &j, err);
	if (!rc && j)
		rc = ct_qconfig_parse(j, ck->config && json_object_get(ck->config,
				      "quantization_config") ? (ck->config_name ?
				      ck->config_name : "config.json") : path, cfg, err);
	json_decref(j);
	if (rc == CT_EINPUT) {
		snprintf(problem, size, "%s", err->msg);
		ct_error_clear(err);
		rc = CT_OK;
	}
	return rc;
}

int ct_verify_checkpoint(const char *path, const ct_verify_opts *o, ct_verdict **out,
			 ct_error *err)
{
	*out = NULL;
	ct_verdict *v = calloc(1, sizeof(*v));
	if (!v)
		return ct_fail(err, CT_EIO, "out of memory");
	ct_checkpoint *ck = NULL, *orig = NULL;
	ct_qconfig *cfg = NULL;
	ct_conv *oconv = NULL;
	json_t *oq = NULL, *ohfq = NULL;
	char cfg_problem[CT_ERROR_MSG_MAX] = "";
	/* a damaged checkpoint is a failed check: its defects are findings */
	ct_strlist defects = { 0 };
	int rc = ct_ckpt_open_lenient(path, &defects, &ck, err);
	for (size_t i = 0; !rc && i < ck->n_broken_links; i++)
		ct_strlist_addf(&v->warnings, "%s: %s: skipped (not read)", ck->dir,
				ck->broken_links[i]);
	if (!rc)
		rc = load_config(ck, path, o, &cfg, cfg_problem, sizeof(cfg_problem), err);
	if (!rc && o->against) {
		rc = ct_ckpt_open(o->against, &orig, err);
		for (size_t i = 0; !rc && i < orig->n_unlisted; i++)
			ct_strlist_addf(&v->warnings, "%s: %s is not listed in the index: it is no "
					"part of the checkpoint", orig->dir, orig->unlisted[i]);
		for (size_t i = 0; !rc && i < orig->n_broken_links; i++)
			ct_strlist_addf(&v->warnings, "%s: %s: skipped (not read)", orig->dir,
					orig->broken_links[i]);
	}
	/* an original quantized by another tool is read as convert reads it */
	if (!rc && orig) {
		const char *olabel = o->against;
		rc = ct_source_configs_load(orig, NULL, &oq, &ohfq, &olabel, err);
		if (!rc && ct_source_detect(oq, ohfq))
			rc = ct_convert_open(orig, oq, ohfq, olabel, NULL, &oconv, err);
	}
	if (!rc)
		rc = ct_verify_scan(ck, cfg, orig, oconv, o->threads > 0 ? o->threads : 1,
				    o->structure_only, &v->report, err);
	ct_verify_report *r = v->report;
	for (size_t i = 0; !rc && i < defects.n; i++)
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(files)", path, "%s",
					  defects.items[i]);
	if (!rc && cfg_problem[0])
		rc = ct_verify_report_add(r, CT_VK_CHECKPOINT, "(config)", path, "%s", cfg_problem);
	if (!rc && !o->config && !o->config_json)
		rc = check_config_sources(ck, r);
	if (!rc)
		rc = check_checksum_coverage(o, r, path);
	if (!rc && orig)
		ct_verify_apply_default_rule(r);
	if (!rc)
		rc = apply_thresholds(o, r);
	if (!rc && o->serving_vllm)
		rc = check_serving(ck, o->config || o->config_json ? cfg : NULL, path, o,
				   &v->serving, err);
	if (!rc && o->serving_vllm)
		rc = check_arch(ck, r);
	if (rc == CT_EIO && !err->msg[0])
		ct_fail(err, CT_EIO, "out of memory");
	if (!rc) {
		v->ok = true;
		for (size_t i = 0; i < r->n_tensors; i++)
			v->ok = v->ok && r->tensors[i].ok;
		r->ok = v->ok;
		if (v->serving && v->serving->n_failed)
			v->ok = false;
	}
	ct_strlist_free(&defects);
	ct_qconfig_free(cfg);
	ct_convert_free(oconv);
	json_decref(oq);
	json_decref(ohfq);
	ct_ckpt_close(orig);
	ct_ckpt_close(ck);
	if (rc) {
		ct_verdict_free(v);
		return rc;
	}
	*out = v;
	return CT_OK;
}

size_t ct_verdict_problems(const ct_verdict *v)
{
	size_t bad = 0;
	for (size_t i = 0; v->report && i < v->report->n_tensors; i++)
		bad += !v->report->tensors[i].ok;
	return bad;
}

const ct_verify_tensor *ct_verdict_first_problem(const ct_verdict *v)
{
	for (size_t i = 0; v->report && i < v->report->n_tensors; i++)
		if (!v->report->tensors[i].ok)
			return &v->report->tensors[i];
	return NULL;
}

/* ------------------------------------------------------------- JSON --- */

/* A number for JSON, which has no infinity or NaN: those become the
 * strings "inf", "-inf" and "nan", so an exact match (SNR "inf") and a
 * broken one ("nan") stay apart. */
static json_t *num(double x)
{
	if (isnan(x))
		return json_string("nan");
	if (isinf(x))
		return json_string(x > 0 ? "inf" : "-inf");
	return json_real(x);
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

static json_t *serving_json(const ct_verify_opts *o, const ct_serving_report *s)
{
	json_t *j = json_object(), *fs = json_array(), *ks = json_array();
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
	json_object_set_new(j, "engine", json_string("vllm"));
	json_object_set_new(j, "vllm_commit", json_string(ct_vllm_commit));
	json_object_set_new(j, "gpu", o->target.sm ? json_integer(o->target.sm) : json_null());
	json_object_set_new(j, "tp", o->target.tp ? json_integer(o->target.tp) : json_null());
	json_object_set_new(j, "ok", json_boolean(s->n_failed == 0));
	json_object_set_new(j, "layers", json_integer((json_int_t)s->n_layers));
	json_object_set_new(j, "findings", fs);
	json_object_set_new(j, "kernels", ks);
	return j;
}

json_t *ct_verdict_json(const ct_verdict *v, const ct_verify_opts *opts)
{
	const ct_verify_report *r = v->report;
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
	json_object_set_new(doc, "ok", json_boolean(v->ok));
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
	if (v->serving)
		json_object_set_new(doc, "serving", serving_json(opts, v->serving));
	return doc;
}

json_t *ct_verdict_error_json(const char *message, int status)
{
	/* a script piping into jq still gets one document */
	return json_pack("{s:i,s:b,s:{s:s,s:i},s:[],s:[],s:[]}", "schema", 2, "ok", 0, "error",
			 "message", message, "status", status, "checkpoint", "tensors", "modules");
}
