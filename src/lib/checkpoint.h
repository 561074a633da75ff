/*
 * checkpoint.h - a model as the user names it: one safetensors file, a model
 * directory (model.safetensors, or shards listed by *.safetensors.index.json,
 * plus config.json and other files), or an index file.
 *
 * Opening validates every shard's header and the index against the shards,
 * so that everything downstream can trust names, shapes and offsets.
 */
#ifndef CT_CHECKPOINT_H
#define CT_CHECKPOINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ct_error.h"
#include "safetensors.h"

typedef enum ct_ckpt_kind {
	CT_CKPT_FILE,      /* a bare .safetensors file */
	CT_CKPT_DIR,       /* a model directory (single file or sharded) */
} ct_ckpt_kind;

typedef struct ct_tref {
	const ct_tensor *t;     /* the tensor in its shard */
	size_t shard;           /* index into shards */
} ct_tref;

typedef struct ct_checkpoint {
	ct_ckpt_kind kind;
	char *dir;              /* model directory; for a file, its directory */
	char *index_name;       /* base name of the index file, or NULL */
	size_t n_shards;
	char **shard_names;     /* base names in name order (file kind: the path as given) */
	ct_st_file **shards;
	size_t n_tensors;
	ct_tref *tensors;       /* shard order, then file order within a shard */
	size_t *by_name;        /* indices into tensors, sorted by name */
	json_t *config;         /* config.json (or params.json), or NULL */
	const char *config_name; /* "config.json", or "params.json" (Mistral) */
	json_t *index;          /* the index JSON, or NULL */
	char **unlisted;        /* *.safetensors beside an index that it does not list */
	size_t n_unlisted;      /* (read by nobody, copied by nobody; the CLI warns) */
	char **broken_links;    /* entries of the model directory that are symbolic links
				 * which cannot be followed, each "NAME: why" (dangling,
				 * a loop): read by nobody, copied by nobody; the CLI warns */
	size_t n_broken_links;
	char **dropped;         /* lenient open: shards that could not be read */
	size_t n_dropped;
	struct ct_strlist *problems; /* during a lenient open only */
} ct_checkpoint;

/* Opens path (file, directory or index file) and validates it whole. A
 * model.safetensors beside an index that does not list it is refused:
 * transformers would load it instead of the shards. */
int ct_ckpt_open(const char *path, ct_checkpoint **out, ct_error *err);
/* The same for verify: defects of a checkpoint (a shard truncated, padded
 * or missing, index entries wrong, missing or extra, a wrong total_size,
 * a tensor in two shards) are added to problems and the rest is opened;
 * only a path that is no checkpoint at all fails. */
struct ct_strlist;
int ct_ckpt_open_lenient(const char *path, struct ct_strlist *problems, ct_checkpoint **out,
			 ct_error *err);

void ct_ckpt_close(ct_checkpoint *c);

/* The tensor called name, or NULL. */
const ct_tref *ct_ckpt_find(const ct_checkpoint *c, const char *name);

/* The quantization_config object the checkpoint carries: from config.json
 * (quantization_config, compression_config or text_config.quantization_config)
 * or else from the first shard's __metadata__ "quantization_config" (a JSON
 * string, parsed). *out is a new reference (json_decref it), NULL if none.
 * A malformed embedded config is an error. */
int ct_ckpt_qconfig(const ct_checkpoint *c, json_t **out, ct_error *err);

/* The config a loader reads: config.json's (or params.json's)
 * quantization_config, text_config.quantization_config or
 * compression_config; NULL when none. An empty object counts as none. */
int ct_ckpt_loader_qconfig(const ct_checkpoint *c, json_t **out, ct_error *err);

/* The copy ctensors embeds in the first shard's __metadata__, or NULL. */
int ct_ckpt_embedded_qconfig(const ct_checkpoint *c, json_t **out, ct_error *err);

/* Path of shard i joined to the directory (malloc'd). */
char *ct_ckpt_shard_path(const ct_checkpoint *c, size_t i);

/* Reads a regular file whole (size capped; a FIFO or device refused). */
int ct_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, ct_error *err);

/* Reads a JSON file strictly (duplicate keys refused, size capped). */
/* The config that describes ck: the file at path when given, else the
 * checkpoint's own (config.json or embedded metadata); CT_EINPUT when it
 * has none. */
struct ct_qconfig;
int ct_ckpt_load_qconfig(const ct_checkpoint *ck, const char *path, struct ct_qconfig **cfg,
			 ct_error *err);

int ct_json_load_file(const char *path, size_t max_bytes, json_t **out, ct_error *err);

#endif
