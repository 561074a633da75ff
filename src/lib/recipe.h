/*
 * recipe.h - llm-compressor recipes as quantization configs.
 *
 * People who quantize with llm-compressor keep their choices in recipe YAML:
 * a QuantizationModifier (with a preset `scheme`, or `config_groups`, plus
 * `targets` and `ignore`) under stage keys (`quant_stage: {quant_modifiers:
 * {QuantizationModifier: ...}}`), read as llm-compressor's
 * recipe/recipe.py:Recipe.from_dict reads them; a bare modifier, a bare
 * modifier group and a list of modifiers are read too. This turns one into
 * the quantization_config the library would build from it (data-free parts
 * only); modifiers and arguments that need calibration data are refused by
 * name (CT_EINPUT), keys, modifiers, arguments and values the schema does
 * not know are refused with the nearest valid name (CT_EUSAGE). The ignore
 * list, groups and format llm-compressor writes are computed from the model
 * later, by the planner (plan.h:ct_plan_llmc_config).
 */
#ifndef CT_RECIPE_H
#define CT_RECIPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ct_error.h"

/* Parses YAML text into JSON values as PyYAML's safe_load reads it: one
 * document (a second is refused), mappings become objects, sequences
 * arrays, plain scalars null, booleans, integers or reals as YAML 1.1
 * resolves them (0200 is 128, 1e5 a string), quoted scalars strings;
 * explicit !!str/!!int/!!float/!!bool/!!null tags and merge keys apply.
 * Aliases are capped by the text they expand to (16 MB) and nesting by
 * depth (64), both checked while parsing. A repeated key is refused (PyYAML
 * keeps the last, silently). label names the source in messages. */
int ct_yaml_to_json(const char *text, size_t len, const char *label, json_t **out,
		    ct_error *err);

/* True when a YAML document v is to be read as a recipe: anything but a
 * mapping with a quantization_config's keys (config_groups,
 * quantization_config, compression_config, quant_method) at the top. */
bool ct_recipe_is_recipe(const json_t *v);

/* The quantization_config object the recipe stands for. CT_EINPUT for a
 * modifier or argument that needs calibration (GPTQ, AWQ, SmoothQuant, a
 * kv_cache_scheme, observers) or several modifiers; CT_EUSAGE for a key,
 * modifier or argument llm-compressor does not know, or a recipe with no
 * modifier or one that quantizes nothing. */
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
