/* recipe.c - llm-compressor recipes (recipe.h). */
#include "recipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "checkpoint.h"
#include "qconfig.h"

/* Deepest nesting accepted; recipes are a few levels deep. */
#define YAML_MAX_DEPTH 64

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* A plain scalar as YAML 1.1 resolves it (PyYAML's SafeLoader). */
static json_t *plain_scalar(const char *s, size_t n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const trues[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on",
					     "On", "ON" };
	static const char *const falses[] = { "false", "False", "FALSE", "no", "No", "NO",
					      "off", "Off", "OFF" };
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strlen(nulls[i]) == n && memcmp(s, nulls[i], n) == 0)
			return json_null();
	for (size_t i = 0; i < sizeof(trues) / sizeof(trues[0]); i++)
		if (strlen(trues[i]) == n && memcmp(s, trues[i], n) == 0)
			return json_true();
	for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
		if (strlen(falses[i]) == n && memcmp(s, falses[i], n) == 0)
			return json_false();
	size_t sign = n && (s[0] == '-' || s[0] == '+');
	if (all_digits(s + sign, n - sign) && n - sign <= 18) {
		char buf[32];
		memcpy(buf, s, n);
		buf[n] = '\0';
		return json_integer((json_int_t)strtoll(buf, NULL, 10));
	}
	/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, and .inf/.nan */
	size_t i = sign, int_digits = 0, frac_digits = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		i++;
		int_digits++;
	}
	bool dot = i < n && s[i] == '.';
	if (dot) {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			i++;
			frac_digits++;
		}
	}
	bool number = (int_digits || frac_digits) && (dot || (i < n && (s[i] == 'e' || s[i] == 'E')));
	if (number && i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		size_t e0 = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		number = i > e0;
	}
	if (number && i == n && n < 64) {
		char buf[64];
		memcpy(buf, s, n);
		buf[n] = '\0';
		return json_real(strtod(buf, NULL));
	}
	/* JSON holds no infinity or NaN: keep them as text */
	return json_stringn(s, n);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *node, int depth,
			    const char *label, ct_error *err)
{
	if (!node) {
		ct_fail(err, CT_EINPUT, "%s: YAML: a reference to no node", label);
		return NULL;
	}
	if (depth > YAML_MAX_DEPTH) {
		ct_fail(err, CT_EINPUT, "%s: YAML nested deeper than %d levels", label,
			YAML_MAX_DEPTH);
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		const char *v = (const char *)node->data.scalar.value;
		size_t n = node->data.scalar.length;
		json_t *j = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(v, n) :
			    json_stringn(v, n);
		if (!j)
			ct_fail(err, CT_EINPUT, "%s: line %zu: a scalar that is not valid UTF-8", label,
				node->start_mark.line + 1);
		return j;
	}
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     a && it < node->data.sequence.items.top; it++) {
			json_t *v = node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1,
						 label, err);
			if (!v || json_array_append_new(a, v)) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     o && p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				ct_fail(err, CT_EINPUT, "%s: line %zu: a mapping key that is not a "
					"scalar", label, k ? k->start_mark.line + 1 : 0);
				json_decref(o);
				return NULL;
			}
			char *key = strndup((const char *)k->data.scalar.value, k->data.scalar.length);
			json_t *v = key ? node_to_json(doc, yaml_document_get_node(doc, p->value),
						       depth + 1, label, err) : NULL;
			if (key && v && json_object_get(o, key)) {
				ct_fail(err, CT_EINPUT, "%s: line %zu: key \"%s\" given twice", label,
					k->start_mark.line + 1, key);
				json_decref(v);
				v = NULL;
			}
			if (!v || json_object_set_new(o, key, v)) {
				if (!err->code)
					ct_fail(err, CT_EIO, "%s: out of memory", label);
				free(key);
				json_decref(o);
				return NULL;
			}
			free(key);
		}
		return o;
	}
	default:
		ct_fail(err, CT_EINPUT, "%s: YAML: an empty node", label);
		return NULL;
	}
}

int ct_yaml_to_json(const char *text, size_t len, const char *label, json_t **out,
		    ct_error *err)
{
	*out = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser))
		return ct_fail(err, CT_EIO, "%s: out of memory", label);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc = CT_OK;
	if (!yaml_parser_load(&parser, &doc)) {
		rc = ct_fail(err, CT_EINPUT, "%s: invalid YAML: %s (line %zu, column %zu)", label,
			     parser.problem ? parser.problem : "parse error",
			     parser.problem_mark.line + 1, parser.problem_mark.column + 1);
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		rc = ct_fail(err, CT_EINPUT, "%s: an empty YAML document", label);
	else if (!(*out = node_to_json(&doc, root, 0, label, err)))
		rc = err->code ? err->code : ct_fail(err, CT_EIO, "%s: out of memory", label);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

/* ----------------------------------------------------------- modifiers --- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Modifiers that compute something from calibration data. */
static const char *const calibrated[] = {
	"GPTQModifier", "AWQModifier", "SmoothQuantModifier", "SparseGPTModifier",
	"WandaPruningModifier", "AutoRoundModifier", "LogarithmicEqualizationModifier", NULL,
};

typedef struct found {
	const char *names[32];
	const json_t *args[32];
	size_t n;
} found;

/* Collects the modifiers of a recipe: mappings keyed by *Modifier, at any
 * depth of stages, modifier groups and lists (not inside a modifier). */
static void collect(const json_t *v, int depth, found *f)
{
	if (depth > 8)
		return;
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			collect(x, depth + 1, f);
		return;
	}
	if (!json_is_object(v))
		return;
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x) {
		if (ends_with(k, "Modifier")) {
			if (f->n < 32) {
				f->names[f->n] = k;
				f->args[f->n++] = x;
			}
		} else {
			/* stages and modifier groups have names of the user's choosing */
			collect(x, depth + 1, f);
		}
	}
}

bool ct_recipe_is_recipe(const json_t *v)
{
	found f = { 0 };
	collect(v, 0, &f);
	return f.n > 0 && !json_object_get(v, "config_groups") &&
	       !json_object_get(v, "quantization_config");
}

/* A list of strings from a string or a list (llm-compressor takes both). */
static json_t *string_list(const json_t *v)
{
	if (json_is_string(v)) {
		json_t *a = json_array();
		json_array_append(a, (json_t *)v);
		return a;
	}
	return json_is_array(v) ? json_deep_copy(v) : NULL;
}

/* The scheme object of preset name with the given targets, as the library
 * expands it. */
static int preset_group(const char *name, const json_t *targets, json_t **out, ct_error *err)
{
	ct_qconfig *c = NULL;
	int rc = ct_qconfig_preset(name, &c, err);
	if (rc == CT_EUSAGE)
		err->code = rc = CT_EINPUT;   /* in a file, a bad preset is bad input */
	if (rc)
		return rc;
	json_t *j = ct_qconfig_to_json(c);
	ct_qconfig_free(c);
	json_t *g = json_object_get(json_object_get(j, "config_groups"), "group_0");
	if (!g) {
		json_decref(j);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	*out = json_incref(g);
	json_decref(j);
	json_object_set_new(*out, "targets", json_deep_copy(targets));
	/* the format is the library's to infer when it writes */
	json_object_del(*out, "format");
	return CT_OK;
}

int ct_recipe_to_qconfig(const json_t *recipe, const char *label, json_t **out,
			 ct_error *err)
{
	*out = NULL;
	found f = { 0 };
	collect(recipe, 0, &f);
	if (!f.n)
		return ct_fail(err, CT_EINPUT, "%s: no modifier in the recipe (expected a "
			       "QuantizationModifier)", label);
	for (size_t i = 0; i < f.n; i++)
		for (size_t k = 0; calibrated[k]; k++)
			if (strcmp(f.names[i], calibrated[k]) == 0) {
				bool convertible = strcmp(f.names[i], "GPTQModifier") == 0 ||
						   strcmp(f.names[i], "AWQModifier") == 0;
				return ct_fail(err, CT_EINPUT, "%s: %s needs calibration data, and "
					       "ctensors is data-free%s", label, f.names[i],
					       convertible ? "; a checkpoint it produced can be brought "
					       "in with 'ctensors convert'" : "");
			}
	size_t quant = 0;
	const json_t *mod = NULL;
	char names[512] = "";
	for (size_t i = 0; i < f.n; i++) {
		size_t l = strlen(names);
		snprintf(names + l, sizeof(names) - l, "%s%s", l ? ", " : "", f.names[i]);
		if (strcmp(f.names[i], "QuantizationModifier") == 0) {
			quant++;
			mod = f.args[i];
		}
	}
	if (quant != 1 || f.n != 1)
		return ct_fail(err, CT_EINPUT, "%s: the recipe has %s: ctensors applies exactly one "
			       "QuantizationModifier and nothing else", label, names);
	if (!json_is_object(mod))
		return ct_fail(err, CT_EINPUT, "%s: QuantizationModifier: expected its arguments "
			       "as a mapping", label);
	static const char *const known[] = { "scheme", "config_groups", "targets", "ignore",
					     "kv_cache_scheme", "index", "group", "start", "end",
					     "update", NULL };
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)mod, k, v) {
		bool ok = false;
		for (size_t i = 0; known[i] && !ok; i++)
			ok = strcmp(k, known[i]) == 0;
		if (!ok)
			return ct_fail(err, CT_EINPUT, "%s: QuantizationModifier: argument \"%s\" is "
				       "not one ctensors applies (scheme, config_groups, targets, "
				       "ignore, kv_cache_scheme)", label, k);
	}
	const json_t *scheme = json_object_get(mod, "scheme");
	const json_t *groups = json_object_get(mod, "config_groups");
	json_t *targets = json_object_get(mod, "targets") ?
			  string_list(json_object_get(mod, "targets")) : json_pack("[s]", "Linear");
	json_t *ignore = json_object_get(mod, "ignore") ? string_list(json_object_get(mod, "ignore")) :
			 json_array();
	int rc = CT_OK;
	if (!targets || !ignore)
		rc = ct_fail(err, CT_EINPUT, "%s: QuantizationModifier: targets and ignore are a "
			     "name or a list of names", label);
	else if (!scheme == !groups)
		rc = ct_fail(err, CT_EINPUT, "%s: QuantizationModifier: give exactly one of scheme "
			     "and config_groups", label);
	json_t *cg = rc ? NULL : json_object();
	if (!rc && groups) {
		if (!json_is_object(groups))
			rc = ct_fail(err, CT_EINPUT, "%s: config_groups: expected a mapping", label);
		else
			json_object_update(cg, (json_t *)groups);
	} else if (!rc && json_is_string(scheme)) {
		json_t *g = NULL;
		rc = preset_group(json_string_value(scheme), targets, &g, err);
		if (!rc)
			json_object_set_new(cg, "group_0", g);
	} else if (!rc && json_is_object(scheme)) {
		/* {W4A16: [targets], FP8_DYNAMIC: [targets]}: a group each, in order */
		size_t i = 0;
		json_object_foreach((json_t *)scheme, k, v) {
			json_t *t = string_list(v);
			json_t *g = NULL;
			char gname[32];
			snprintf(gname, sizeof(gname), "group_%zu", i++);
			rc = t ? preset_group(k, t, &g, err) :
				 ct_fail(err, CT_EINPUT, "%s: scheme: %s: expected its targets", label,
					 k);
			json_decref(t);
			if (rc)
				break;
			json_object_set_new(cg, gname, g);
		}
	} else if (!rc) {
		rc = ct_fail(err, CT_EINPUT, "%s: QuantizationModifier: scheme is a preset name or "
			     "a mapping of preset names to targets", label);
	}
	if (rc && err->msg[0] && strncmp(err->msg, label, strlen(label)) != 0)
		ct_error_prefix(err, "%s: QuantizationModifier", label);
	if (!rc) {
		json_t *q = json_object();
		json_object_set_new(q, "config_groups", cg);
		json_object_set_new(q, "ignore", json_incref(ignore));
		const json_t *kv = json_object_get(mod, "kv_cache_scheme");
		if (kv)
			json_object_set_new(q, "kv_cache_scheme", json_deep_copy(kv));
		*out = q;
		cg = NULL;
	}
	json_decref(cg);
	json_decref(targets);
	json_decref(ignore);
	return rc;
}

int ct_config_load(const char *path, size_t max_bytes, json_t **out, ct_error *err)
{
	bool recipe;
	return ct_config_load_ex(path, max_bytes, out, &recipe, err);
}

int ct_config_load_ex(const char *path, size_t max_bytes, json_t **out, bool *recipe,
		      ct_error *err)
{
	*out = NULL;
	*recipe = false;
	bool yaml = ends_with(path, ".yaml") || ends_with(path, ".yml");
	if (!yaml)
		return ct_json_load_file(path, max_bytes, out, err);
	char *text;
	size_t len;
	int rc = ct_read_file(path, max_bytes, &text, &len, err);
	if (rc)
		return rc;
	json_t *doc = NULL;
	rc = ct_yaml_to_json(text, len, path, &doc, err);
	free(text);
	if (!rc && ct_recipe_is_recipe(doc)) {
		*recipe = true;
		rc = ct_recipe_to_qconfig(doc, path, out, err);
	}
	else if (!rc)
		*out = json_incref(doc);   /* a quantization_config written as YAML */
	json_decref(doc);
	return rc;
}
