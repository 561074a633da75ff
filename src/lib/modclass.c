/* modclass.c - module classes as transformers builds them (see modclass.h). */
#include "modclass.h"

#include <string.h>
#include <strings.h>

/* model_type values whose models build attention and MLP projections with
 * transformers.pytorch_utils.Conv1D (weight stored [in, out]). */
static const char *const conv1d_model_types[] = {
	"gpt2", "openai-gpt", "imagegpt", "decision_transformer", "clvp", NULL,
};

/* Architecture class-name prefixes of the same families. */
static const char *const conv1d_arch_prefixes[] = {
	"GPT2", "OpenAIGPT", "ImageGPT", "DecisionTransformer", "Clvp", NULL,
};

/* Leaf names of Conv1D modules in those families. */
static const char *const conv1d_leaves[] = { "c_attn", "c_proj", "c_fc", "q_attn", NULL };

/* Leaf names transformers gives nn.Embedding modules. */
static const char *const embedding_leaves[] = {
	"embed_tokens", "embed_in", "wte", "wpe", "word_embeddings", "position_embeddings",
	"token_type_embeddings", "tok_embeddings", "embed_positions", "shared", "embeddings",
	"embedding", "relative_attention_bias", "embed_tokens_per_layer", "emb", NULL,
};

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool starts_with_any(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strncmp(s, list[i], strlen(list[i])) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static void arch_of(const json_t *cfg, ct_arch *out)
{
	const char *mt = json_string_value(json_object_get(cfg, "model_type"));
	const json_t *archs = json_object_get(cfg, "architectures");
	if (mt) {
		out->known = true;
		if (in_list(mt, conv1d_model_types))
			out->hf_conv1d = true;
	}
	size_t i;
	const json_t *a;
	json_array_foreach(archs, i, a) {
		const char *s = json_string_value(a);
		if (!s)
			continue;
		out->known = true;
		if (starts_with_any(s, conv1d_arch_prefixes))
			out->hf_conv1d = true;
	}
}

void ct_arch_from_config(const json_t *config, ct_arch *out)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(config))
		return;
	arch_of(config, out);
	if (!out->known)
		arch_of(json_object_get(config, "text_config"), out);
}

static bool is_norm_leaf(const char *leaf)
{
	/* input_layernorm, q_norm, LayerNorm, ln_f, ln_1, norm1, layer_norm ... */
	size_t n = strlen(leaf);
	for (size_t i = 0; i + 4 <= n; i++)
		if (strncasecmp(leaf + i, "norm", 4) == 0)
			return true;
	return strncmp(leaf, "ln_", 3) == 0 || strcmp(leaf, "ln") == 0;
}

ct_modclass ct_module_class(const char *module, int ndim, const ct_arch *arch)
{
	const char *dot = strrchr(module, '.');
	const char *leaf = dot ? dot + 1 : module;
	if (ndim == 1)
		return CT_MOD_NORM;
	if (ndim == 3)
		return CT_MOD_CONV1D;
	if (ndim == 4)
		return CT_MOD_CONV2D;
	if (ndim == 5)
		return CT_MOD_CONV3D;
	if (ndim != 2)
		return CT_MOD_OTHER;
	if (is_norm_leaf(leaf))
		return CT_MOD_NORM;
	if (in_list(leaf, embedding_leaves) || ends_with(leaf, "_embeddings") ||
	    ends_with(leaf, "_embedding") || strncmp(leaf, "embed_tokens", 12) == 0)
		return CT_MOD_EMBEDDING;
	if (in_list(leaf, conv1d_leaves) && (!arch || !arch->known || arch->hf_conv1d))
		return CT_MOD_CONV1D_HF;
	return CT_MOD_LINEAR;
}

bool ct_module_is_router(const char *module)
{
	static const char *const parents[] = { "mlp", "block_sparse_moe", "moe", "feed_forward",
					       NULL };
	const char *dot = strrchr(module, '.');
	const char *leaf = dot ? dot + 1 : module;
	if (strcmp(leaf, "router") == 0)
		return true;
	if (strcmp(leaf, "gate") != 0 || !dot)
		return false;
	const char *p = dot;
	while (p > module && p[-1] != '.')
		p--;
	for (size_t i = 0; parents[i]; i++)
		if ((size_t)(dot - p) == strlen(parents[i]) &&
		    memcmp(p, parents[i], (size_t)(dot - p)) == 0)
			return true;
	return false;
}

long long ct_arch_num_layers(const json_t *config)
{
	const json_t *n = json_object_get(config, "num_hidden_layers");
	if (!json_is_integer(n))
		n = json_object_get(json_object_get(config, "text_config"), "num_hidden_layers");
	return json_is_integer(n) && json_integer_value(n) > 0 ? (long long)json_integer_value(n) :
	       -1;
}

bool ct_module_dropped_on_load(const char *module, long long num_layers)
{
	if (strncmp(module, "mtp.", 4) == 0 || strcmp(module, "mtp") == 0)
		return true;
	static const char layers[] = "model.layers.";
	if (num_layers < 0 || strncmp(module, layers, sizeof(layers) - 1) != 0)
		return false;
	const char *d = module + sizeof(layers) - 1;
	size_t k = 0;
	long long idx = 0;
	while (d[k] >= '0' && d[k] <= '9' && k < 12)
		idx = idx * 10 + (d[k++] - '0');
	return k > 0 && k < 12 && (d[k] == '.' || d[k] == '\0') && idx >= num_layers;
}

const char *ct_modclass_name(ct_modclass c)
{
	switch (c) {
	case CT_MOD_LINEAR: return "Linear";
	case CT_MOD_EMBEDDING: return "Embedding";
	case CT_MOD_CONV1D_HF: return "Conv1D";
	case CT_MOD_CONV1D: return "Conv1d";
	case CT_MOD_CONV2D: return "Conv2d";
	case CT_MOD_CONV3D: return "Conv3d";
	case CT_MOD_NORM: return "Norm";
	default: return "Module";
	}
}

bool ct_modclass_quantizable(ct_modclass c)
{
	return c == CT_MOD_LINEAR || c == CT_MOD_EMBEDDING;
}

bool ct_class_target(const char *t)
{
	if (strcmp(t, "Module") == 0 || (ends_with(t, "Norm") && !strchr(t, '.')))
		return true;
	for (int c = 0; c < CT_MOD_NORM; c++)
		if (strcmp(t, ct_modclass_name((ct_modclass)c)) == 0)
			return true;
	return false;
}

bool ct_modclass_matches(ct_modclass c, const char *t)
{
	if (strcmp(t, "Module") == 0)
		return true;     /* every class derives from torch.nn.Module */
	if (c == CT_MOD_NORM)
		return ends_with(t, "Norm") && !strchr(t, '.');
	if (c == CT_MOD_OTHER)
		return false;
	return strcmp(t, ct_modclass_name(c)) == 0;
}
