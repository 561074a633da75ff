/* write.c - from a validated plan to files on disk, in the order that makes
 * a directory complete only when config.json appears. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "pyjson.h"
#include "verify.h"

int cli_layout_plan(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		    ct_error *err)
{
	for (size_t s = 0; s < plan->n_shards; s++) {
		ct_st_builder *b = plan->shards[s].builder;
		const ct_st_file *f = in->shards[s];
		int rc = ct_st_builder_meta(b, "format", "pt", err);
		if (!rc && !o->plain_metadata) {
			/* keep the input's own entries, replace ours */
			if (f->metadata) {
				const char *k;
				json_t *v;
				json_object_foreach(f->metadata, k, v) {
					if (strcmp(k, "format") == 0 || strcmp(k, "quantization_config") == 0 ||
					    strncmp(k, "ctensors.", 9) == 0)
						continue;
					rc = ct_st_builder_meta(b, k, json_string_value(v), err);
					if (rc)
						break;
				}
			}
			if (!rc && o->qconfig_compact)
				rc = ct_st_builder_meta(b, "quantization_config", o->qconfig_compact, err);
			/* how fused experts were split, so decompress --fused can undo it */
			char *fused = rc ? NULL : ct_plan_fused_metadata(plan);
			if (fused)
				rc = ct_st_builder_meta(b, "ctensors.fused_experts", fused, err);
			free(fused);
			/* which dense tensors were decoded, so verify knows the rest
			 * are copies */
			char *decoded = rc ? NULL : ct_plan_decoded_metadata(plan, s);
			if (decoded)
				rc = ct_st_builder_meta(b, "ctensors.decoded", decoded, err);
			free(decoded);
			if (!rc)
				rc = ct_st_builder_meta(b, "ctensors.version", CT_VERSION, err);
		}
		if (!rc)
			rc = ct_st_builder_layout(b, !o->plain_metadata, err);
		if (rc)
			return rc;
	}
	return CT_OK;
}

/* The index as transformers writes it: sorted keys, indent 2, newline. */
static char *index_json(const ct_plan *plan, const ct_checkpoint *in)
{
	/* the input's other top-level keys stay: tools put their own there
	 * (shared, not copied: the old weight_map alone can hold thousands) */
	json_t *idx = json_object();
	json_t *meta = json_object();
	json_t *wm = json_object();
	if (!idx || !meta || !wm) {
		json_decref(idx);
		json_decref(meta);
		json_decref(wm);
		return NULL;
	}
	const char *key;
	json_t *value;
	json_object_foreach(in->index, key, value) {
		if (strcmp(key, "metadata") != 0 && strcmp(key, "weight_map") != 0)
			json_object_set(idx, key, value);
	}
	json_t *old = json_object_get(in->index, "metadata");
	if (json_is_object(old))
		json_object_update(meta, old);
	uint64_t total = 0;
	for (size_t s = 0; s < plan->n_shards; s++)
		total += ct_st_builder_data_size(plan->shards[s].builder);
	json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
	json_object_set_new(idx, "metadata", meta);
	json_object_set_new(idx, "weight_map", wm);
	for (size_t s = 0; s < plan->n_shards; s++) {
		const ct_plan_shard *sh = &plan->shards[s];
		/* one value for all the shard's tensors */
		json_t *shard = json_string(sh->name);
		for (size_t i = 0; shard && i < sh->n_items; i++) {
			const ct_plan_item *it = &sh->items[i];
			for (size_t k = 0; k < it->n_out; k++) {
				char name[4096];
				if (it->kind == CT_ITEM_COPY)
					snprintf(name, sizeof(name), "%s", it->out_name);
				else
					snprintf(name, sizeof(name), "%s.%s", it->module,
						 it->out[k].suffix);
				json_object_set(wm, name, shard);
			}
		}
		json_decref(shard);
	}
	char *text = ct_pyjson_dumps(idx, true);
	json_decref(idx);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *withnl = realloc(text, n + 2);
	if (!withnl) {
		free(text);
		return NULL;
	}
	withnl[n] = '\n';
	withnl[n + 1] = '\0';
	return withnl;
}

/* config.json as the library rewrites it: the input's, with
 * quantization_config set or removed, re-dumped with sorted keys. */
static char *config_json(const ct_checkpoint *in, json_t *qconfig)
{
	json_t *cfg = in->config ? json_deep_copy(in->config) : json_object();
	if (!cfg)
		return NULL;
	json_object_del(cfg, "compression_config");
	if (qconfig) {
		json_object_set(cfg, "quantization_config", qconfig);
	} else {
		/* dense: no copy left where loaders look for one (a VL model's
		 * text_config holds it), or they would read it as compressed */
		json_object_del(cfg, "quantization_config");
		json_t *text = json_object_get(cfg, "text_config");
		if (json_is_object(text)) {
			json_object_del(text, "quantization_config");
			json_object_del(text, "compression_config");
		}
	}
	char *text = ct_pyjson_dumps(cfg, true);
	json_decref(cfg);
	return text;
}

int cli_write_extras(const ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		     ct_error *err)
{
	cli_output *out = o->out;
	int rc = CT_OK;
	if (in->index) {
		char *idx = index_json(plan, in);
		rc = idx ? cli_output_put(out, in->index_name, idx, strlen(idx), err) :
			   ct_fail(err, CT_EIO, "out of memory");
		free(idx);
	}
	if (!rc)
		rc = cli_output_copy_others(out, in, err);
	if (!rc && (in->config || o->qconfig_json)) {
		char *cfg = config_json(in, o->qconfig_json);
		rc = cfg ? cli_output_put(out, in->config_name ? in->config_name :
					  "config.json", cfg, strlen(cfg), err) :
			   ct_fail(err, CT_EIO, "out of memory");
		free(cfg);
	}
	return rc;
}

int cli_write_plan(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		   ct_error *err)
{
	cli_output *out = o->out;
	if (!out)
		return ct_fail(err, CT_EINTERNAL, "%s: output not opened", o->dest);
	if (o->finalize)
		return cli_parts_finalize(plan, in, o, err);
	if (o->part_n)
		return cli_parts_write(plan, in, o, err);
	ct_sink *sinks = calloc(plan->n_shards ? plan->n_shards : 1, sizeof(ct_sink));
	if (!sinks)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = cli_output_begin(out, plan, NULL, o->threads, sinks, err);
	if (!rc) {
		size_t n_items = 0;
		for (size_t s = 0; s < plan->n_shards; s++)
			n_items += plan->shards[s].n_items;
		cli_progress pr;
		cli_progress_init(&pr, o->progress, plan->in_bytes, n_items);
		ct_run_opts ro = { .threads = o->threads, .progress = cli_progress_item,
				   .progress_ctx = &pr };
		rc = ct_plan_execute(plan, sinks, &ro, err);
		cli_progress_done(&pr, rc == CT_OK);
	}
	if (!rc && cli_output_is_dir(out))
		rc = cli_write_extras(plan, in, o, err);
	if (!rc)
		rc = cli_check_output(plan, out, o, err);
	if (!rc)
		rc = cli_output_commit(out, err);
	free(sinks);
	return rc;
}

int cli_check_output(const ct_plan *plan, const cli_output *out, const cli_write_opts *o,
		     ct_error *err)
{
	const char *staged = cli_output_staged(out);
	char **shards = NULL;
	if (!staged && (staged = cli_output_finalize_dir(out))) {
		/* --finalize: the jobs' shards are in OUTPUT already */
		shards = calloc(plan->n_shards + 1, sizeof(*shards));
		if (!shards)
			return ct_fail(err, CT_EIO, "out of memory");
		for (size_t s = 0; s < plan->n_shards; s++)
			shards[s] = plan->shards[s].name;
		int rc = cli_output_finalize_view(out, shards, plan->n_shards, true, err);
		if (rc) {
			cli_output_finalize_view(out, shards, plan->n_shards, false, err);
			free(shards);
			return rc;
		}
	}
	if (!staged)
		return CT_OK;
	/* a bare file is read with the config it was written for: with
	 * --plain-metadata it carries none, as the library's files do */
	ct_verify_opts vo = { .structure_only = true, .threads = o->threads,
			      .config_json = cli_output_is_dir(out) ? NULL : o->qconfig_json,
			      .config_label = o->dest };
	ct_verdict *v = NULL;
	int rc = ct_verify_checkpoint(staged, &vo, &v, err);
	if (shards) {
		ct_error ignored;
		cli_output_finalize_view(out, shards, plan->n_shards, false, &ignored);
		free(shards);
	}
	if (rc)
		return ct_error_prefix(err, "%s: the output cannot be checked", o->dest);
	const ct_verify_tensor *bad = ct_verdict_first_problem(v);
	if (bad) {
		size_t n = ct_verdict_problems(v);
		rc = ct_fail(err, CT_EINPUT, "%s: %s: %s (the output would fail 'ctensors verify'%s; "
			     "nothing written)", o->dest, bad->kind == CT_VK_MODULE && bad->module ?
			     bad->module : bad->name, bad->problem ? bad->problem : "failed",
			     n > 1 ? ", with other problems" : "");
	}
	ct_verdict_free(v);
	return rc;
}
