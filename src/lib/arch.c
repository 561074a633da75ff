#include "arch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Expert ids past this are no expert a config describes (and would make
 * the seen-set below grow with a hostile name). */
#define ARCH_MAX_EXPERTS 65536

/* A config value: the language model's (text_config of a VL model) first,
 * then the top level's; -1 when absent or not a positive integer. */
static int64_t config_int(const json_t *config, const char *key)
{
	const json_t *text = json_object_get(config, "text_config");
	const json_t *v = json_object_get(text, key);
	if (!v)
		v = json_object_get(config, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : -1;
}

/* The key config.json gives the expert count under, as the families' own
 * configs name it (Mixtral, gpt-oss, Llama 4: num_local_experts; Qwen-MoE:
 * num_experts; DeepSeek, Kimi, GLM: n_routed_experts). */
static const char *const expert_keys[] = { "num_local_experts", "num_experts",
					   "n_routed_experts", NULL };

/* Length of the text decoder's prefix of name up to "layers." (model.,
 * model.language_model., language_model.model., ...), or -1 when name is
 * not in the text decoder (a vision tower, an MTP block): those follow a
 * config of their own. */
static int decoder_layers_at(const char *name)
{
	static const char *const prefixes[] = { "layers.", "model.layers.",
						"model.language_model.layers.",
						"language_model.model.layers.",
						"language_model.layers.", NULL };
	for (size_t i = 0; prefixes[i]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return (int)(strlen(prefixes[i]) - strlen("layers."));
	return -1;
}

typedef struct expert_set {
	char *prefix;         /* "model.layers.0.mlp.experts" */
	bool *seen;           /* by expert id */
	uint64_t cap, count;
	uint64_t inter;       /* rows of a gate projection (0: none seen) */
	const char *inter_of; /* the tensor inter was read from */
} expert_set;

/* The per-expert module name parts: "PREFIX.experts.E.REST". */
static bool split_expert(const char *name, size_t *prefix_len, uint64_t *e, const char **rest)
{
	const char *p = strstr(name, ".experts.");
	if (!p)
		return false;
	const char *d = p + strlen(".experts.");
	if (*d < '0' || *d > '9')
		return false;
	uint64_t v = 0;
	while (*d >= '0' && *d <= '9') {
		v = v * 10 + (uint64_t)(*d - '0');
		if (v >= ARCH_MAX_EXPERTS)
			return false;
		d++;
	}
	if (*d != '.')
		return false;
	*prefix_len = (size_t)(p - name) + strlen(".experts");
	*e = v;
	*rest = d + 1;
	return true;
}

/* Rows of a gate projection's weight: the intermediate size, in every
 * format (packed weights are packed along their columns). */
static bool gate_rows(const char *rest, const ct_tensor *t, uint64_t *rows)
{
	static const char *const gates[] = { "gate_proj.weight", "gate_proj.weight_packed",
					     "w1.weight", "w1.weight_packed", NULL };
	for (size_t i = 0; gates[i]; i++) {
		if (strcmp(rest, gates[i]) == 0 && t->ndim == 2) {
			*rows = t->shape[0];
			return true;
		}
	}
	return false;
}

static expert_set *find_set(expert_set **sets, size_t *n, const char *name, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen((*sets)[i].prefix) == len && strncmp((*sets)[i].prefix, name, len) == 0)
			return &(*sets)[i];
	expert_set *grown = realloc(*sets, (*n + 1) * sizeof(**sets));
	if (!grown)
		return NULL;
	*sets = grown;
	expert_set *s = &grown[*n];
	memset(s, 0, sizeof(*s));
	s->prefix = strndup(name, len);
	if (!s->prefix)
		return NULL;
	(*n)++;
	return s;
}

static bool mark_seen(expert_set *s, uint64_t e)
{
	if (e >= s->cap) {
		uint64_t cap = s->cap ? s->cap : 16;
		while (cap <= e)
			cap *= 2;
		bool *g = realloc(s->seen, (size_t)cap * sizeof(bool));
		if (!g)
			return false;
		memset(g + s->cap, 0, (size_t)(cap - s->cap) * sizeof(bool));
		s->seen = g;
		s->cap = cap;
	}
	if (!s->seen[e]) {
		s->seen[e] = true;
		s->count++;
	}
	return true;
}

void ct_arch_check(const ct_checkpoint *ck, const ct_moe_block *moe, size_t n_moe,
		   ct_strlist *problems)
{
	const json_t *config = ck->config;
	if (!json_is_object(config))
		return;
	const char *cname = ck->config_name ? ck->config_name : "config.json";
	const char *ekey = NULL;
	int64_t experts = -1;
	for (size_t i = 0; expert_keys[i] && experts < 0; i++) {
		experts = config_int(config, expert_keys[i]);
		ekey = expert_keys[i];
	}
	int64_t moe_inter = config_int(config, "moe_intermediate_size");
	int64_t inter = config_int(config, "intermediate_size");
	int64_t inter_mlp = config_int(config, "intermediate_size_mlp");
	/* experts take moe_intermediate_size where the config has one
	 * (Qwen-MoE, DeepSeek), else intermediate_size (Mixtral, gpt-oss,
	 * Llama 4); dense MLPs intermediate_size_mlp (Llama 4), else
	 * intermediate_size unless that is the experts' */
	int64_t expert_inter = moe_inter > 0 ? moe_inter : experts > 0 ? inter : -1;
	const char *expert_inter_key = moe_inter > 0 ? "moe_intermediate_size" :
				       "intermediate_size";
	int64_t dense_inter = inter_mlp > 0 ? inter_mlp : (moe_inter > 0 || experts < 0) ? inter :
			      -1;
	const char *dense_key = inter_mlp > 0 ? "intermediate_size_mlp" : "intermediate_size";

	for (size_t i = 0; i < n_moe; i++) {
		const ct_moe_block *b = &moe[i];
		if (decoder_layers_at(b->prefix) < 0)
			continue;
		if (experts > 0 && b->experts != (uint64_t)experts) {
			ct_strlist_addf(problems, "%s: %s says %s %" PRId64 ", but %s holds %" PRIu64
					" experts (loaders build the layer from %s)", b->gate_up->name,
					cname, ekey, experts, b->gate_up->name, b->experts, cname);
			return;
		}
		if (expert_inter > 0 && b->inter != (uint64_t)expert_inter) {
			ct_strlist_addf(problems, "%s: %s says %s %" PRId64 ", but its experts' "
					"intermediate size is %" PRIu64, b->gate_up->name, cname,
					expert_inter_key, expert_inter, b->inter);
			return;
		}
	}
	expert_set *sets = NULL;
	size_t n_sets = 0;
	bool oom = false;
	for (size_t i = 0; i < ck->n_tensors && !oom; i++) {
		const ct_tensor *t = ck->tensors[i].t;
		int at = decoder_layers_at(t->name);
		if (at < 0)
			continue;
		size_t plen;
		uint64_t e, rows;
		const char *rest;
		if (split_expert(t->name, &plen, &e, &rest)) {
			expert_set *s = find_set(&sets, &n_sets, t->name, plen);
			oom = !s || !mark_seen(s, e);
			if (!oom && !s->inter && gate_rows(rest, t, &rows)) {
				s->inter = rows;
				s->inter_of = t->name;
			}
			continue;
		}
		/* a dense MLP of the decoder (shared experts have their own size) */
		const char *mlp = strstr(t->name + at, ".mlp.");
		if (!mlp)
			mlp = strstr(t->name + at, ".feed_forward.");
		if (!mlp || dense_inter < 0 || strstr(t->name, "shared_expert"))
			continue;
		const char *leaf = strchr(mlp + 1, '.') + 1;
		if (gate_rows(leaf, t, &rows) && rows != (uint64_t)dense_inter) {
			ct_strlist_addf(problems, "%s: %s says %s %" PRId64 ", but the weight has %"
					PRIu64 " rows", t->name, cname, dense_key, dense_inter, rows);
			break;
		}
	}
	for (size_t i = 0; i < n_sets && !oom; i++) {
		const expert_set *s = &sets[i];
		if (experts > 0 && s->count != (uint64_t)experts) {
			ct_strlist_addf(problems, "%s: %s says %s %" PRId64 ", but the checkpoint "
					"holds %" PRIu64 " experts there (loaders build the layer from "
					"%s)", s->prefix, cname, ekey, experts, s->count, cname);
			break;
		}
		if (expert_inter > 0 && s->inter && s->inter != (uint64_t)expert_inter) {
			ct_strlist_addf(problems, "%s: %s says %s %" PRId64 ", but the weight has %"
					PRIu64 " rows", s->inter_of, cname, expert_inter_key,
					expert_inter, s->inter);
			break;
		}
	}
	if (oom)
		ct_strlist_addf(problems, "out of memory");
	for (size_t i = 0; i < n_sets; i++) {
		free(sets[i].prefix);
		free(sets[i].seen);
	}
	free(sets);
}
