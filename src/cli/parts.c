/*
 * parts.c - one output checkpoint split over the jobs of a scheduler
 * (--part K/N, --finalize), with no coordinator: every job plans the whole
 * checkpoint, writes the shards of its slice (src/lib/parts.h chooses
 * them) and leaves a record; --finalize checks every record against its
 * own plan and the shards on disk before it writes the index and
 * config.json.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "parts.h"
#include "progress.h"

/* ------------------------------------------------------ --part K/N --- */

/* A variable of the scheduler: 1 when set to a decimal integer, 0 when
 * unset, -1 when set to anything else. */
static int env_uint(const char *name, uint64_t *out)
{
	const char *v = getenv(name);
	if (!v)
		return 0;
	return cli_parse_uint(v, UINT32_MAX, out) ? 1 : -1;
}

static int bad_env(const cli_command *cmd, const char *name)
{
	const char *v = getenv(name);
	return cli_usage(cmd, "--part: %s is %s%s%s", name, v ? "'" : "not set", v ? v : "",
			 v ? "', not a non-negative integer" : "");
}

/* Slurm numbers the tasks of an array from its first index (0, 1 or any
 * other): K counts from MIN in steps of STEP, and N is the array's size. */
static int from_slurm(const cli_command *cmd, cli_write_opts *w)
{
	uint64_t id, lo, hi, step = 1, count;
	int r;
	if ((r = env_uint("SLURM_ARRAY_TASK_ID", &id)) != 1)
		return r == 0 ? cli_usage(cmd, "--part slurm: SLURM_ARRAY_TASK_ID is not set (not "
					  "a task of a job array: submit with sbatch --array)") :
			       bad_env(cmd, "SLURM_ARRAY_TASK_ID");
	if ((r = env_uint("SLURM_ARRAY_TASK_MIN", &lo)) != 1)
		return r == 0 ? cli_usage(cmd, "--part slurm: SLURM_ARRAY_TASK_MIN is not set") :
			       bad_env(cmd, "SLURM_ARRAY_TASK_MIN");
	if ((r = env_uint("SLURM_ARRAY_TASK_STEP", &step)) == -1)
		return bad_env(cmd, "SLURM_ARRAY_TASK_STEP");
	/* sbatch --array=MIN-MAX:STEP: the tasks are MIN, MIN + STEP, ...,
	 * so a step is a positive integer */
	if (r == 1 && step == 0)
		return cli_usage(cmd, "--part slurm: SLURM_ARRAY_TASK_STEP is '%s': a step must be "
				 "at least 1 (sbatch --array=MIN-MAX:STEP)",
				 getenv("SLURM_ARRAY_TASK_STEP"));
	if (r == 0)
		step = 1;
	int has_max = env_uint("SLURM_ARRAY_TASK_MAX", &hi);
	int has_count = env_uint("SLURM_ARRAY_TASK_COUNT", &count);
	if (has_max == -1)
		return bad_env(cmd, "SLURM_ARRAY_TASK_MAX");
	if (has_count == -1)
		return bad_env(cmd, "SLURM_ARRAY_TASK_COUNT");
	if (!has_max && !has_count)
		return cli_usage(cmd, "--part slurm: neither SLURM_ARRAY_TASK_MAX nor "
				 "SLURM_ARRAY_TASK_COUNT is set");
	if (has_max && hi < lo)
		return cli_usage(cmd, "--part slurm: SLURM_ARRAY_TASK_MAX (%" PRIu64 ") is below "
				 "SLURM_ARRAY_TASK_MIN (%" PRIu64 ")", hi, lo);
	uint64_t n = has_max ? (hi - lo) / step + 1 : count;
	if (has_max && has_count && count != n)
		return cli_usage(cmd, "--part slurm: the array is not one range (%" PRIu64 " tasks "
				 "from %" PRIu64 " to %" PRIu64 " in steps of %" PRIu64 "; submit "
				 "with --array=MIN-MAX)", count, lo, hi, step);
	if (id < lo || (id - lo) % step != 0 || (id - lo) / step >= n)
		return cli_usage(cmd, "--part slurm: SLURM_ARRAY_TASK_ID %" PRIu64 " is not a task "
				 "of the array (from %" PRIu64 ", %" PRIu64 " tasks)", id, lo, n);
	if (n > CLI_PARTS_MAX)
		return cli_usage(cmd, "--part slurm: %" PRIu64 " tasks (at most %d)", n,
				 CLI_PARTS_MAX);
	w->part_k = (size_t)((id - lo) / step + 1);
	w->part_n = (size_t)n;
	return EXIT_OK;
}

/* A Kubernetes indexed Job gives each pod its 0-based index; the number of
 * completions is not in the pod's environment, so --parts says it. */
static int from_k8s(const cli_command *cmd, cli_write_opts *w)
{
	uint64_t idx;
	int r = env_uint("JOB_COMPLETION_INDEX", &idx);
	if (r != 1)
		return r == 0 ? cli_usage(cmd, "--part k8s: JOB_COMPLETION_INDEX is not set (not a "
					  "pod of an indexed Job: completionMode: Indexed)") :
			       bad_env(cmd, "JOB_COMPLETION_INDEX");
	if (!w->parts_given)
		return cli_usage(cmd, "--part k8s: give the number of slices with --parts N (the "
				 "Job's completions)");
	if (idx >= w->parts_given)
		return cli_usage(cmd, "--part k8s: JOB_COMPLETION_INDEX %" PRIu64 " is not below "
				 "--parts %" PRIu64, idx, w->parts_given);
	w->part_k = (size_t)idx + 1;
	w->part_n = (size_t)w->parts_given;
	return EXIT_OK;
}

static int from_spec(const cli_command *cmd, cli_write_opts *w)
{
	const char *s = w->part_spec;
	const char *slash = strchr(s, '/');
	uint64_t k, n;
	char left[32];
	size_t len = slash ? (size_t)(slash - s) : 0;
	if (!slash || len == 0 || len >= sizeof(left))
		return cli_usage(cmd, "--part: '%s' is not K/N, slurm or k8s", s);
	memcpy(left, s, len);
	left[len] = '\0';
	if (!cli_parse_uint(left, CLI_PARTS_MAX, &k) || !cli_parse_uint(slash + 1, CLI_PARTS_MAX, &n))
		return cli_usage(cmd, "--part: '%s' is not K/N with 1 <= K <= N <= %d", s,
				 CLI_PARTS_MAX);
	if (n == 0 || k == 0 || k > n)
		return cli_usage(cmd, "--part: '%s': K must be from 1 to N (slices count from 1)", s);
	if (w->parts_given && w->parts_given != n)
		return cli_usage(cmd, "--part %s and --parts %" PRIu64 " disagree", s, w->parts_given);
	w->part_k = (size_t)k;
	w->part_n = (size_t)n;
	return EXIT_OK;
}

int cli_parts_resolve(const cli_command *cmd, cli_write_opts *w, const char *input,
		      bool dry_run)
{
	w->command = cmd->name;
	w->input = input;
	if (w->finalize && w->part_spec)
		return cli_usage(cmd, "--part and --finalize: a job writes a slice (--part), the "
				 "last step completes the output (--finalize); give one");
	if (w->finalize && dry_run)
		return cli_usage(cmd, "--finalize writes the output's index and config.json; it "
				 "has no --dry-run");
	if (w->parts_given && !w->finalize && (!w->part_spec || strcmp(w->part_spec, "k8s") != 0) &&
	    (!w->part_spec || !strchr(w->part_spec, '/')))
		return cli_usage(cmd, "--parts: only with --part k8s, --part K/N or --finalize");
	if ((w->finalize || w->part_spec) && w->force)
		return cli_usage(cmd, "--force: split jobs never replace an output (remove it "
				 "first)");
	if (!w->part_spec)
		return EXIT_OK;
	if (strcmp(w->part_spec, "slurm") == 0)
		return from_slurm(cmd, w);
	if (strcmp(w->part_spec, "k8s") == 0)
		return from_k8s(cmd, w);
	return from_spec(cmd, w);
}

/* ------------------------------------------------------------ slices --- */

/* The slices of N: slice[s] (0-based) for each input shard, balanced by
 * the bytes each job reads. */
static int assign(const ct_checkpoint *in, size_t n, size_t *slice, ct_error *err)
{
	uint64_t *w = malloc((in->n_shards ? in->n_shards : 1) * sizeof(*w));
	if (!w)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t s = 0; s < in->n_shards; s++)
		w[s] = in->shards[s]->map_size;
	int rc = ct_parts_assign(w, in->n_shards, n, slice, err);
	free(w);
	return rc;
}

int cli_parts_prepare(const ct_checkpoint *in, cli_write_opts *w, ct_error *err)
{
	if (!cli_split(w))
		return CT_OK;
	if (in->kind != CT_CKPT_DIR)
		return ct_fail(err, CT_EUSAGE, "%s: --part and --finalize split a model directory "
			       "over jobs; the output of a file is one file, written by one job "
			       "(drop --part)", in->shard_names[0]);
	w->slice = calloc(in->n_shards ? in->n_shards : 1, sizeof(bool));
	size_t *sl = calloc(in->n_shards ? in->n_shards : 1, sizeof(size_t));
	int rc = w->slice && sl ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	/* --finalize writes no shard and reads no weight */
	if (!rc && w->part_n)
		rc = assign(in, w->part_n, sl, err);
	for (size_t s = 0; !rc && w->part_n && s < in->n_shards; s++)
		w->slice[s] = sl[s] == w->part_k - 1;
	free(sl);
	return rc;
}

void cli_parts_free(cli_write_opts *w)
{
	free(w->slice);
	w->slice = NULL;
}

void cli_parts_print(const ct_plan *p, const cli_write_opts *w)
{
	char a[32], b[32];
	uint64_t in = 0, out = 0, all = 0;
	size_t n = 0;
	for (size_t s = 0; s < p->n_shards; s++) {
		all += p->ckpt->shards[s]->map_size;
		if (!w->slice[s])
			continue;
		n++;
		in += p->ckpt->shards[s]->map_size;
		out += ct_st_builder_file_size(p->shards[s].builder);
	}
	printf("slice %zu/%zu: %zu of %zu shards, %s of %s read", w->part_k, w->part_n, n,
	       p->n_shards, cli_human_bytes(in, a, sizeof(a)), cli_human_bytes(all, b, sizeof(b)));
	printf(", %s written\n", cli_human_bytes(out, a, sizeof(a)));
	for (size_t s = 0; s < p->n_shards; s++) {
		if (!w->slice[s])
			continue;
		printf("  ");
		cli_put_safe(stdout, p->shards[s].name);
		printf("  %s -> %s\n", cli_human_bytes(p->ckpt->shards[s]->map_size, a, sizeof(a)),
		       cli_human_bytes(ct_st_builder_file_size(p->shards[s].builder), b, sizeof(b)));
	}
	if (p->partners.n) {
		printf("partners read from other shards for shared NVFP4 global scales (amax "
		       "only): %zu tensors, %s\n", p->partners.n,
		       cli_human_bytes(p->partner_bytes, a, sizeof(a)));
		for (size_t i = 0; i < p->partners.n; i++) {
			printf("  ");
			cli_put_safe(stdout, p->partners.items[i]);
			printf("\n");
		}
	} else {
		printf("partners read from other shards: none\n");
	}
}

void cli_parts_report(const ct_plan *p, const cli_write_opts *w)
{
	if (!cli_report_enabled() || !cli_split(w))
		return;
	json_t *o = json_object();
	if (!o)
		return;
	if (w->finalize) {
		json_object_set_new(o, "finalize", json_true());
		cli_report_set("part", o);
		return;
	}
	json_t *shards = json_array(), *partners = json_array();
	uint64_t in = 0;
	for (size_t s = 0; s < p->n_shards; s++) {
		if (!w->slice[s])
			continue;
		in += p->ckpt->shards[s]->map_size;
		json_array_append_new(shards, json_string(p->shards[s].name));
	}
	for (size_t i = 0; i < p->partners.n; i++)
		json_array_append_new(partners, json_string(p->partners.items[i]));
	json_object_set_new(o, "part", json_integer((json_int_t)w->part_k));
	json_object_set_new(o, "parts", json_integer((json_int_t)w->part_n));
	json_object_set_new(o, "shards", shards);
	json_object_set_new(o, "bytes_read", json_integer((json_int_t)in));
	json_object_set_new(o, "partners", partners);
	json_object_set_new(o, "partner_bytes", json_integer((json_int_t)p->partner_bytes));
	cli_report_set("part", o);
}

/* ----------------------------------------------------------- records --- */

typedef struct records {
	ct_part_record *r;       /* the well-formed ones, in name order */
	char **file;             /* ... and their file names */
	size_t n;
	char *bad;               /* the first malformed or misnamed one: its message */
} records;

static void records_free(records *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		ct_part_record_free(&rs->r[i]);
		free(rs->file[i]);
	}
	free(rs->r);
	free(rs->file);
	free(rs->bad);
	memset(rs, 0, sizeof(*rs));
}

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every part-*.json of the staging directory: parsed and checked, or the
 * first that is not kept in rs->bad. */
static int read_records(const char *staging, records *rs, ct_error *err)
{
	memset(rs, 0, sizeof(*rs));
	DIR *d = opendir(staging);
	if (!d)
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", staging, strerror(errno));
	char **names = NULL;
	size_t nn = 0, cap = 0;
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		/* temporaries of a record being written end otherwise */
		if (strncmp(n, "part-", 5) != 0 || len < 10 || strcmp(n + len - 5, ".json") != 0)
			continue;
		if (nn == cap) {
			cap = cap ? 2 * cap : 16;
			char **nl = realloc(names, cap * sizeof(*names));
			if (!nl) {
				rc = ct_fail(err, CT_EIO, "out of memory");
				break;
			}
			names = nl;
		}
		if (!(names[nn] = strdup(n)))
			rc = ct_fail(err, CT_EIO, "out of memory");
		else
			nn++;
	}
	closedir(d);
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_name);
	if (!rc) {
		rs->r = calloc(nn ? nn : 1, sizeof(*rs->r));
		rs->file = calloc(nn ? nn : 1, sizeof(*rs->file));
		if (!rs->r || !rs->file)
			rc = ct_fail(err, CT_EIO, "out of memory");
	}
	for (size_t i = 0; !rc && i < nn; i++) {
		char *path = path_in(staging, names[i]);
		char *buf = NULL;
		size_t len = 0;
		ct_error e;
		ct_error_clear(&e);
		if (!path) {
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		int r = ct_read_file(path, CT_PARTS_RECORD_MAX, &buf, &len, &e);
		if (!r)
			r = ct_part_record_parse(buf, len, path, &rs->r[rs->n], &e);
		char want[64];
		if (!r && (!ct_part_record_name(rs->r[rs->n].part, rs->r[rs->n].parts, want,
						sizeof(want)) || strcmp(want, names[i]) != 0)) {
			r = ct_fail(&e, CT_EINPUT, "%s: records slice %zu/%zu under another name",
				    path, rs->r[rs->n].part, rs->r[rs->n].parts);
			ct_part_record_free(&rs->r[rs->n]);
		}
		if (r == CT_EIO && strstr(e.msg, "out of memory"))
			rc = ct_fail(err, CT_EIO, "out of memory");
		else if (r && !rs->bad)
			rs->bad = strdup(e.msg);
		else if (!r) {
			rs->file[rs->n] = names[i];
			names[i] = NULL;
			rs->n++;
		}
		free(buf);
		free(path);
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc)
		records_free(rs);
	return rc;
}

/* Whether record r (slice K of N of this plan) matches what is on disk:
 * the slice's shards, each of the planned size and with the header hash
 * recorded. The reason when not goes to why. */
static bool slice_intact(const ct_part_record *r, const ct_plan *plan, const size_t *slice,
			 const char *dest, char *why, size_t why_size)
{
	size_t k = 0;
	for (size_t s = 0; s < plan->n_shards; s++) {
		if (slice[s] != r->part - 1)
			continue;
		const char *name = plan->shards[s].name;
		if (k >= r->n_shards || strcmp(r->shards[k].name, name) != 0) {
			snprintf(why, why_size, "its record does not list %s", name);
			return false;
		}
		uint64_t want = ct_st_builder_file_size(plan->shards[s].builder);
		if (r->shards[k].bytes != want) {
			snprintf(why, why_size, "%s: recorded as %" PRIu64 " bytes, planned %" PRIu64,
				 name, r->shards[k].bytes, want);
			return false;
		}
		char *path = path_in(dest, name);
		uint64_t h = 0;
		ct_error e;
		ct_error_clear(&e);
		int rc = path ? ct_parts_header_hash(path, want, &h, &e) :
			 ct_fail(&e, CT_EIO, "out of memory");
		free(path);
		if (rc) {
			size_t l = strlen(e.msg) < why_size ? strlen(e.msg) : why_size - 1;
			memcpy(why, e.msg, l);
			why[l] = '\0';
			return false;
		}
		if (h != r->shards[k].header_xxh3) {
			snprintf(why, why_size, "%s/%s: its header is not the one recorded (written "
				 "over since)", dest, name);
			return false;
		}
		k++;
	}
	if (k != r->n_shards) {
		snprintf(why, why_size, "its record lists %zu shards, the slice has %zu",
			 r->n_shards, k);
		return false;
	}
	return true;
}

/* A record made with this command and options (the same fingerprint) for
 * the same N, or the reason it is not. */
static bool same_plan(const ct_part_record *r, const cli_write_opts *o, uint64_t fp, size_t n,
		      const char *who, char *why, size_t why_size)
{
	if (strcmp(r->command, o->command) != 0)
		snprintf(why, why_size, "was written by 'ctensors %s', and %s is 'ctensors %s'",
			 r->command, who, o->command);
	else if (r->fingerprint != fp)
		snprintf(why, why_size, "was written with other options than %s (another scheme, "
			 "config, dtype, ignore list or ctensors version)", who);
	else if (n && r->parts != n)
		snprintf(why, why_size, "is one of %zu slices, but %s splits the output into %zu",
			 r->parts, who, n);
	else
		return true;
	return false;
}

/* ------------------------------------------------------- one slice --- */

static int write_record(const ct_plan *plan, const cli_write_opts *o, uint64_t fp,
			ct_error *err)
{
	const char *dest = cli_output_dest(o->out);
	ct_part_record r = { .command = (char *)o->command, .fingerprint = fp,
			     .part = o->part_k, .parts = o->part_n };
	r.shards = calloc(plan->n_shards ? plan->n_shards : 1, sizeof(*r.shards));
	if (!r.shards)
		return ct_fail(err, CT_EIO, "out of memory");
	int rc = CT_OK;
	for (size_t s = 0; s < plan->n_shards && !rc; s++) {
		if (!o->slice[s])
			continue;
		ct_part_shard *d = &r.shards[r.n_shards++];
		d->name = plan->shards[s].name;
		d->bytes = ct_st_builder_file_size(plan->shards[s].builder);
		char *path = path_in(dest, d->name);
		rc = path ? ct_parts_header_hash(path, d->bytes, &d->header_xxh3, err) :
		     ct_fail(err, CT_EIO, "out of memory");
		free(path);
	}
	char *text = rc ? NULL : ct_part_record_dump(&r);
	if (!rc && !text)
		rc = ct_fail(err, CT_EIO, "out of memory");
	char name[64];
	if (!rc && !ct_part_record_name(o->part_k, o->part_n, name, sizeof(name)))
		rc = ct_fail(err, CT_EINTERNAL, "record name too long");
	if (!rc)
		rc = cli_output_put_record(o->out, name, text, strlen(text), err);
	free(text);
	free(r.shards);
	return rc;
}

/* This slice's record, when one exists that matches the plan and the disk:
 * then there is nothing to do. */
static int already_written(const ct_plan *plan, const cli_write_opts *o, uint64_t fp,
			   const size_t *slice, bool *done, ct_error *err)
{
	*done = false;
	records rs;
	int rc = read_records(cli_output_staging(o->out), &rs, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < rs.n && !rc; i++) {
		const ct_part_record *r = &rs.r[i];
		char why[CT_ERROR_MSG_MAX];
		if (!same_plan(r, o, fp, o->part_n, "this job", why, sizeof(why)))
			rc = ct_fail(err, CT_EUSAGE, "%s: slice %zu/%zu there %s; run "
				     "every job of one output with the same command and options, or "
				     "remove %s and start again", cli_output_dest(o->out), r->part,
				     r->parts, why, cli_output_dest(o->out));
		else if (r->part == o->part_k)
			*done = slice_intact(r, plan, slice, cli_output_dest(o->out), why, sizeof(why));
	}
	records_free(&rs);
	return rc;
}

int cli_parts_write(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		    ct_error *err)
{
	uint64_t fp;
	size_t *slice = calloc(plan->n_shards ? plan->n_shards : 1, sizeof(size_t));
	int rc = slice ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	if (!rc)
		rc = assign(in, o->part_n, slice, err);
	if (!rc)
		rc = ct_parts_fingerprint(plan, o->command, o->plan_tag, &fp, err);
	bool done = false;
	if (!rc)
		rc = already_written(plan, o, fp, slice, &done, err);
	if (!rc && done) {
		cli_summary(o->input, o->dest, "slice %zu/%zu is already written; nothing to do",
			    o->part_k, o->part_n);
		free(slice);
		return CT_OK;
	}
	ct_sink *sinks = rc ? NULL : calloc(plan->n_shards ? plan->n_shards : 1, sizeof(ct_sink));
	if (!rc && !sinks)
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (!rc)
		rc = cli_output_begin(o->out, plan, o->slice, o->threads, sinks, err);
	uint64_t in_bytes = 0, out_bytes = 0;
	size_t n_items = 0, n_shards = 0;
	for (size_t s = 0; s < plan->n_shards; s++) {
		if (!o->slice[s])
			continue;
		n_shards++;
		n_items += plan->shards[s].n_items;
		out_bytes += ct_st_builder_file_size(plan->shards[s].builder);
		for (size_t i = 0; i < plan->shards[s].n_items; i++)
			in_bytes += plan->shards[s].items[i].in_bytes;
	}
	if (!rc) {
		cli_progress pr;
		cli_progress_init(&pr, o->progress, in_bytes, n_items);
		ct_run_opts ro = { .threads = o->threads, .shards = o->slice,
				   .progress = cli_progress_item, .progress_ctx = &pr };
		rc = ct_plan_execute(plan, sinks, &ro, err);
		cli_progress_done(&pr, rc == CT_OK);
	}
	/* a job of the same slice that finished meanwhile wins: its bytes are
	 * these, and ours are removed with the work directory */
	if (!rc)
		rc = already_written(plan, o, fp, slice, &done, err);
	if (!rc && !done)
		rc = cli_output_commit(o->out, err);
	if (!rc && !done)
		rc = write_record(plan, o, fp, err);
	if (!rc) {
		char a[32], b[32];
		cli_summary(o->input, o->dest, "slice %zu/%zu%s: %zu of %zu shards, %s -> %s",
			    o->part_k, o->part_n, done ? " was written meanwhile by another job" :
			    " written", n_shards, plan->n_shards,
			    cli_human_bytes(in_bytes, a, sizeof(a)),
			    cli_human_bytes(out_bytes, b, sizeof(b)));
	}
	free(sinks);
	free(slice);
	return rc;
}

/* -------------------------------------------------------- --finalize --- */

/* "2/4", "2/4 and 3/4", "1/9, 2/9, 3/9, 4/9 and 3 more" */
static void list_slices(char *buf, size_t size, const size_t *k, size_t n, size_t parts)
{
	size_t shown = n > 4 ? 4 : n, len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < shown && len < size; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == shown && n == shown) ? " and " : ", ";
		len += (size_t)snprintf(buf + len, size - len, "%s%zu/%zu", sep, k[i], parts);
	}
	if (n > shown && len < size)
		snprintf(buf + len, size - len, " and %zu more", n - shown);
}

int cli_parts_finalize(ct_plan *plan, const ct_checkpoint *in, const cli_write_opts *o,
		       ct_error *err)
{
	const char *dest = cli_output_dest(o->out);
	uint64_t fp;
	int rc = ct_parts_fingerprint(plan, o->command, o->plan_tag, &fp, err);
	records rs;
	memset(&rs, 0, sizeof(rs));
	if (!rc)
		rc = read_records(cli_output_staging(o->out), &rs, err);
	if (rc)
		return rc;
	size_t n = o->parts_given ? (size_t)o->parts_given : rs.n ? rs.r[0].parts : 0;
	char why[CT_ERROR_MSG_MAX];
	if (rs.bad)
		rc = ct_fail(err, CT_EINPUT, "%s (remove that file and rerun its job)", rs.bad);
	else if (rs.n == 0)
		rc = ct_fail(err, CT_EINPUT, "%s: no slice is written (run the --part jobs first)",
			     dest);
	for (size_t i = 0; !rc && i < rs.n; i++) {
		if (rs.r[i].parts != n && o->parts_given)
			rc = ct_fail(err, CT_EUSAGE, "%s: %s is a slice of %zu jobs, not of --parts "
				     "%zu", dest, rs.file[i], rs.r[i].parts, n);
		else if (rs.r[i].parts != n)
			rc = ct_fail(err, CT_EUSAGE, "%s: slices of %zu and of %zu jobs (%s, %s): the "
				     "jobs of one output must agree on N", dest, n, rs.r[i].parts,
				     rs.file[0], rs.file[i]);
		else if (!same_plan(&rs.r[i], o, fp, n, "this --finalize", why, sizeof(why)))
			rc = ct_fail(err, CT_EUSAGE, "%s: slice %zu/%zu %s; give "
				     "--finalize the command and options of the jobs", dest,
				     rs.r[i].part, n, why);
	}
	size_t *slice = rc ? NULL : calloc(plan->n_shards ? plan->n_shards : 1, sizeof(size_t));
	const ct_part_record **by_k = rc ? NULL : calloc(n, sizeof(*by_k));
	size_t *missing = rc ? NULL : calloc(n, sizeof(size_t));
	if (!rc && (!slice || !by_k || !missing))
		rc = ct_fail(err, CT_EIO, "out of memory");
	if (!rc)
		rc = assign(in, n, slice, err);
	for (size_t i = 0; !rc && i < rs.n; i++)
		by_k[rs.r[i].part - 1] = &rs.r[i];
	size_t n_missing = 0;
	for (size_t k = 0; !rc && k < n; k++)
		if (!by_k[k])
			missing[n_missing++] = k + 1;
	if (!rc && n_missing) {
		char list[256];
		list_slices(list, sizeof(list), missing, n_missing, n);
		if (n_missing == 1)
			rc = ct_fail(err, CT_EINPUT, "%s: slice %s is missing (rerun its job: --part "
				     "%s)", dest, list, list);
		else
			rc = ct_fail(err, CT_EINPUT, "%s: slices %s are missing (%zu of %zu; rerun "
				     "their jobs)", dest, list, n_missing, n);
	}
	for (size_t k = 0; !rc && k < n; k++)
		if (!slice_intact(by_k[k], plan, slice, dest, why, sizeof(why)))
			rc = ct_fail(err, CT_EINPUT, "%s: slice %zu/%zu is damaged: %s (rerun its job: "
				     "--part %zu/%zu)", dest, k + 1, n, why, k + 1, n);
	if (!rc)
		rc = cli_write_extras(plan, in, o, err);
	if (!rc)
		rc = cli_check_output(plan, o->out, o, err);
	if (!rc)
		rc = cli_output_commit(o->out, err);
	if (!rc) {
		char a[32];
		uint64_t total = 0;
		for (size_t s = 0; s < plan->n_shards; s++)
			total += ct_st_builder_file_size(plan->shards[s].builder);
		cli_summary(o->input, o->dest, "finalized: %zu slices, %zu shards, %s", n,
			    plan->n_shards, cli_human_bytes(total, a, sizeof(a)));
	}
	free(slice);
	free(by_k);
	free(missing);
	records_free(&rs);
	return rc;
}
