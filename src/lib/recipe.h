/*
 * recipe.h - llm-compressor recipes as quantization configs.
 *
 * People who quantize with llm-compressor keep their choices in recipe YAML:
 * a QuantizationModifier (with a preset `scheme`, or `config_groups`, plus
 * `targets`, `ignore`, `kv_cache_scheme`), nested under stage keys
 * (`quant_stage: {quant_modifiers: {QuantizationModifier: ...}}`) or as a
 * bare list of modifiers. This turns one into the quantization_config the
 * library would build from it (data-free parts only); modifiers that need
 * calibration data are refused by name.
 */
#ifndef CT_RECIPE_H
#define CT_RECIPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ct_error.h"

/* Parses YAML text (one document) into JSON values: mappings become
 * objects, sequences arrays, plain scalars null, booleans, integers or
 * reals as YAML 1.1 resolves them (as PyYAML does), quoted scalars
 * strings. label names the source in messages. */
int ct_yaml_to_json(const char *text, size_t len, const char *label, json_t **out,
		    ct_error *err);

/* True when v looks like a recipe: a modifier mapping, a stage, or a list
 * of modifiers, rather than a quantization_config. */
bool ct_recipe_is_recipe(const json_t *v);

/* The quantization_config object the recipe stands for. CT_EINPUT for a
 * modifier that needs calibration (GPTQ, AWQ, SmoothQuant, ...), several
 * quantization modifiers, or an unknown one. */
int ct_recipe_to_qconfig(const json_t *recipe, const char *label, json_t **out,
			 ct_error *err);

/* Loads a config file for quantize/compress -c: JSON (a quantization_config
 * or a config.json holding one), or a recipe turned into its
 * quantization_config: YAML (.yaml/.yml, or a file not named .json whose
 * content is not JSON) or JSON shaped as one (stages, modifier groups or
 * modifiers at the top), as llm-compressor's Recipe.create_instance reads
 * recipe files. */
int ct_config_load(const char *path, size_t max_bytes, json_t **out, ct_error *err);
/* The same, and *recipe tells whether the file was a recipe (whose ignore
 * list, groups and format llm-compressor computes from the model). */
int ct_config_load_ex(const char *path, size_t max_bytes, json_t **out, bool *recipe,
		      ct_error *err);

#endif
