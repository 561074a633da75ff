/*
 * output.c - every rule about writing files (CLI.md "Safety").
 *
 * A file output is written to a temporary sibling and renamed into place; a
 * directory output is built in a temporary sibling directory, config.json
 * last, and renamed into place, so the destination never exists half
 * written, not even after SIGKILL. On error or SIGINT/SIGTERM/SIGHUP every
 * temporary file is removed.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporary paths the signal handler removes; written before the files are
 * created, so a signal can only find a path whose file may not exist yet. */
#define MAX_TEMPS 4096
static char *temp_paths[MAX_TEMPS];
static volatile sig_atomic_t n_temps;
static char *temp_dir;  /* removed after its files */

static void on_signal(int sig)
{
	for (sig_atomic_t i = n_temps; i > 0; i--)
		if (temp_paths[i - 1])
			unlink(temp_paths[i - 1]);
	if (temp_dir)
		rmdir(temp_dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A mapped input that shrinks under us (truncated or replaced while being
 * read) raises SIGBUS on the next access: say so, remove what was written,
 * and exit with the I/O status instead of crashing. */
static void on_sigbus(int sig)
{
	(void)sig;
	static const char msg[] = "ctensors: an input file was truncated or changed while "
				  "being read (SIGBUS); nothing was written\n";
	for (sig_atomic_t i = n_temps; i > 0; i--)
		if (temp_paths[i - 1])
			unlink(temp_paths[i - 1]);
	if (temp_dir)
		rmdir(temp_dir);
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(EXIT_SYSTEM);
}

void cli_install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* past the file-size limit, write() then fails with EFBIG */
	signal(SIGXFSZ, SIG_IGN);
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
}

static int register_temp(char *path)
{
	if (n_temps >= MAX_TEMPS)
		return -1;
	temp_paths[n_temps] = path;
	n_temps = n_temps + 1;
	return 0;
}

static void unregister_temps(void)
{
	n_temps = 0;
	temp_dir = NULL;
}

typedef struct out_file {
	char *final;         /* final path */
	char *tmp;           /* temporary path */
	int fd;
} out_file;

struct cli_output {
	bool is_dir;
	bool force;
	char *dest;          /* as given */
	char *work_dir;      /* directory the files go to (temp dir for directory output) */
	out_file *files;
	size_t n_files, cap_files;
	bool committed;
};

bool cli_output_is_dir(const cli_output *o)
{
	return o->is_dir;
}

static char *join(const char *a, const char *b)
{
	size_t x = strlen(a), y = strlen(b);
	char *p = malloc(x + y + 2);
	if (p) {
		memcpy(p, a, x);
		p[x] = '/';
		memcpy(p + x + 1, b, y + 1);
	}
	return p;
}

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	while (slash && slash > path && slash[1] == '\0') {
		/* trailing slash: look further back */
		const char *q = slash - 1;
		while (q > path && *q != '/')
			q--;
		slash = *q == '/' ? q : NULL;
	}
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Refuses dest when it is, or (for a directory) lies inside, an input. */
static int check_not_input(const char *dest, const ct_checkpoint *in, ct_error *err)
{
	struct stat ds;
	bool dest_exists = stat(dest, &ds) == 0;
	for (size_t i = 0; i < in->n_shards; i++) {
		char *p = ct_ckpt_shard_path(in, i);
		struct stat ss;
		bool same = p && dest_exists && stat(p, &ss) == 0 && same_file(&ss, &ds);
		bool same_name = p && strcmp(p, dest) == 0;
		free(p);
		if (same || same_name)
			return ct_fail(err, CT_EUSAGE, "%s: output is an input file (refusing to "
				       "write over the input)", dest);
	}
	if (in->kind != CT_CKPT_DIR)
		return CT_OK;
	struct stat is;
	if (stat(in->dir, &is) != 0)
		return CT_OK;
	if (dest_exists && same_file(&is, &ds))
		return ct_fail(err, CT_EUSAGE, "%s: output is the input directory (refusing to "
			       "write over the input)", dest);
	/* walk up from dest's parent: an ancestor equal to the input dir means
	 * the output would be inside the input */
	char *cur = parent_of(dest);
	char real[PATH_MAX];
	if (cur && realpath(cur, real)) {
		free(cur);
		cur = strdup(real);
	}
	while (cur) {
		struct stat cs;
		if (stat(cur, &cs) == 0 && same_file(&cs, &is)) {
			free(cur);
			return ct_fail(err, CT_EUSAGE, "%s: output is inside the input directory "
				       "%s (choose a destination outside it)", dest, in->dir);
		}
		if (strcmp(cur, "/") == 0 || strcmp(cur, ".") == 0)
			break;
		char *up = parent_of(cur);
		free(cur);
		cur = up;
	}
	free(cur);
	return CT_OK;
}

int cli_output_open(const char *dest, const ct_checkpoint *in, bool force, cli_output **out,
		    ct_error *err)
{
	*out = NULL;
	int rc = check_not_input(dest, in, err);
	if (rc)
		return rc;
	struct stat st;
	if (lstat(dest, &st) == 0 && !force)
		return ct_fail(err, CT_EUSAGE, "%s: already exists (use --force to replace it)",
			       dest);
	if (lstat(dest, &st) == 0 && S_ISLNK(st.st_mode) && in->kind == CT_CKPT_DIR)
		return ct_fail(err, CT_EUSAGE, "%s: is a symbolic link (refusing to replace it "
			       "with a directory)", dest);
	cli_output *o = calloc(1, sizeof(*o));
	if (!o || !(o->dest = strdup(dest))) {
		free(o);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	o->is_dir = in->kind == CT_CKPT_DIR;
	o->force = force;
	char *parent = parent_of(dest);
	if (!parent) {
		cli_output_free(o);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	if (o->is_dir) {
		size_t n = strlen(dest);
		char *tmpl = malloc(n + 32);
		if (!tmpl) {
			free(parent);
			cli_output_free(o);
			return ct_fail(err, CT_EIO, "out of memory");
		}
		while (n > 1 && dest[n - 1] == '/')
			n--;
		snprintf(tmpl, n + 32, "%.*s.ctensors-tmp-XXXXXX", (int)n, dest);
		if (!mkdtemp(tmpl)) {
			int e = errno;
			free(tmpl);
			free(parent);
			cli_output_free(o);
			return ct_fail(err, CT_EIO, "%s: cannot create a directory next to it: %s",
				       dest, strerror(e));
		}
		o->work_dir = tmpl;
		temp_dir = tmpl;
		free(parent);
	} else {
		o->work_dir = parent;
	}
	*out = o;
	return CT_OK;
}

/* Creates a temporary file that will become name in the output. */
static int new_file(cli_output *o, const char *name, out_file **f, ct_error *err)
{
	if (o->n_files == o->cap_files) {
		size_t cap = o->cap_files ? o->cap_files * 2 : 16;
		out_file *nf = realloc(o->files, cap * sizeof(*nf));
		if (!nf)
			return ct_fail(err, CT_EIO, "out of memory");
		o->files = nf;
		o->cap_files = cap;
	}
	out_file *x = &o->files[o->n_files];
	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (o->is_dir) {
		x->final = join(o->work_dir, name);
		x->tmp = x->final ? strdup(x->final) : NULL;
	} else {
		x->final = strdup(o->dest);
		size_t n = strlen(o->dest);
		x->tmp = malloc(n + 32);
		if (x->tmp)
			snprintf(x->tmp, n + 32, "%s.ctensors-tmp-XXXXXX", o->dest);
	}
	if (!x->final || !x->tmp) {
		free(x->final);
		free(x->tmp);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	if (register_temp(x->tmp) != 0) {
		free(x->final);
		free(x->tmp);
		return ct_fail(err, CT_EIO, "too many output files");
	}
	if (o->is_dir)
		x->fd = open(x->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	else
		x->fd = mkstemp(x->tmp);
	if (x->fd < 0) {
		int e = errno;
		n_temps = n_temps - 1;
		free(x->final);
		free(x->tmp);
		return ct_fail(err, CT_EIO, "%s: cannot create: %s", o->is_dir ? name : o->dest,
			       strerror(e));
	}
	if (!o->is_dir)
		fchmod(x->fd, 0644);
	o->n_files++;
	*f = x;
	return CT_OK;
}

static int io_error(const char *path, int e, ct_error *err)
{
	if (e == ENOSPC || e == EDQUOT)
		return ct_fail(err, CT_EIO, "%s: no space left on device", path);
	if (e == EFBIG)
		return ct_fail(err, CT_EIO, "%s: file too large (the file-size limit was "
			       "reached)", path);
	return ct_fail(err, CT_EIO, "%s: write error: %s", path, strerror(e));
}

typedef struct fd_sink {
	int fd;
	const char *path;
} fd_sink;

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	fd_sink *s = ctx;
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return io_error(s->path, errno, err);
		}
		if (n == 0)
			return io_error(s->path, ENOSPC, err);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return CT_OK;
}

static fd_sink *sink_ctx;   /* one per shard, owned by the output */
static size_t n_sink_ctx;

int cli_output_begin(cli_output *o, ct_plan *plan, ct_sink *sinks, ct_error *err)
{
	free(sink_ctx);
	sink_ctx = calloc(plan->n_shards ? plan->n_shards : 1, sizeof(fd_sink));
	n_sink_ctx = plan->n_shards;
	if (!sink_ctx)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t s = 0; s < plan->n_shards; s++) {
		out_file *f;
		int rc = new_file(o, plan->shards[s].name, &f, err);
		if (rc)
			return rc;
		uint64_t size = ct_st_builder_file_size(plan->shards[s].builder);
		/* Reserve the space now so a full disk fails before hours of work. */
		if (size && fallocate(f->fd, 0, 0, (off_t)size) != 0 &&
		    errno != EOPNOTSUPP && errno != ENOSYS)
			return io_error(f->final, errno, err);
		sink_ctx[s] = (fd_sink){ f->fd, o->is_dir ? plan->shards[s].name : o->dest };
		sinks[s] = (ct_sink){ fd_pwrite, &sink_ctx[s] };
	}
	return CT_OK;
}

int cli_output_put(cli_output *o, const char *name, const char *data, size_t len,
		   ct_error *err)
{
	out_file *f;
	int rc = new_file(o, name, &f, err);
	if (rc)
		return rc;
	fd_sink s = { f->fd, name };
	return fd_pwrite(&s, data, len, 0, err);
}

static int copy_file(cli_output *o, const char *src, const char *name, ct_error *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return ct_fail(err, CT_EIO, "%s: cannot open: %s", src, strerror(errno));
	out_file *f;
	int rc = new_file(o, name, &f, err);
	char buf[1 << 16];
	uint64_t off = 0;
	fd_sink s = { rc ? -1 : f->fd, name };
	while (!rc) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ct_fail(err, CT_EIO, "%s: read error: %s", src, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = fd_pwrite(&s, buf, (size_t)n, off, err);
		off += (uint64_t)n;
	}
	close(in);
	return rc;
}

int cli_output_copy_others(cli_output *o, const ct_checkpoint *in, ct_error *err)
{
	if (!o->is_dir)
		return CT_OK;
	DIR *d = opendir(in->dir);
	if (!d)
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", in->dir, strerror(errno));
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
			continue;
		if (strcmp(n, "config.json") == 0 || (in->index_name && strcmp(n, in->index_name) == 0))
			continue;
		/* shards are written, not copied; weight files the index does not
		 * list are no part of the checkpoint (cli_open_checkpoint warned) */
		size_t len = strlen(n);
		if (len >= 12 && strcmp(n + len - 12, ".safetensors") == 0)
			continue;
		char *src = join(in->dir, n);
		struct stat st;
		if (!src) {
			rc = ct_fail(err, CT_EIO, "out of memory");
		} else if (stat(src, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = copy_file(o, src, n, err);
		} else if (cli_verbosity > 0 && S_ISDIR(st.st_mode)) {
			cli_warn("%s: subdirectory not copied", src);
		}
		free(src);
	}
	closedir(d);
	return rc;
}

static int fsync_dir(const char *dir, ct_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ct_fail(err, CT_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
	int rc = fsync(fd) == 0 || errno == EINVAL ? CT_OK :
		 ct_fail(err, CT_EIO, "%s: fsync: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/* Removes a directory tree that ctensors built (regular files only). */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char *p = join(dir, de->d_name);
			if (p) {
				struct stat st;
				if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
					remove_tree(p);
				else
					unlink(p);
				free(p);
			}
		}
		closedir(d);
	}
	rmdir(dir);
}

int cli_output_commit(cli_output *o, ct_error *err)
{
	for (size_t i = 0; i < o->n_files; i++) {
		out_file *f = &o->files[i];
		if (fsync(f->fd) != 0)
			return io_error(f->final, errno, err);
		if (close(f->fd) != 0) {
			f->fd = -1;
			return io_error(f->final, errno, err);
		}
		f->fd = -1;
		if (!o->is_dir && rename(f->tmp, f->final) != 0)
			return ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", f->final,
				       strerror(errno));
	}
	if (o->is_dir) {
		int rc = fsync_dir(o->work_dir, err);
		if (rc)
			return rc;
		struct stat st;
		char *aside = NULL;
		if (lstat(o->dest, &st) == 0) {
			/* --force: move the old output aside, then drop it */
			size_t n = strlen(o->dest) + 32;
			aside = malloc(n);
			if (!aside)
				return ct_fail(err, CT_EIO, "out of memory");
			snprintf(aside, n, "%s.ctensors-old-%ld", o->dest, (long)getpid());
			if (rename(o->dest, aside) != 0) {
				int e = errno;
				free(aside);
				return ct_fail(err, CT_EIO, "%s: cannot replace: %s", o->dest,
					       strerror(e));
			}
		}
		if (rename(o->work_dir, o->dest) != 0) {
			int e = errno;
			if (aside)
				rename(aside, o->dest);
			free(aside);
			return ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", o->dest,
				       strerror(e));
		}
		if (aside) {
			if (S_ISDIR(st.st_mode))
				remove_tree(aside);
			else
				unlink(aside);
			free(aside);
		}
	}
	char *parent = parent_of(o->dest);
	int rc = parent ? fsync_dir(parent, err) : CT_OK;
	free(parent);
	unregister_temps();
	o->committed = true;
	return rc;
}

void cli_output_abort(cli_output *o)
{
	if (!o)
		return;
	if (!o->committed) {
		for (size_t i = 0; i < o->n_files; i++) {
			if (o->files[i].fd >= 0)
				close(o->files[i].fd);
			o->files[i].fd = -1;
			unlink(o->files[i].tmp);
		}
		if (o->is_dir && o->work_dir)
			remove_tree(o->work_dir);
		unregister_temps();
	}
	cli_output_free(o);
}

void cli_output_free(cli_output *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_files; i++) {
		if (o->files[i].fd >= 0)
			close(o->files[i].fd);
		free(o->files[i].final);
		free(o->files[i].tmp);
	}
	free(o->files);
	free(o->dest);
	free(o->work_dir);
	free(o);
	free(sink_ctx);
	sink_ctx = NULL;
	n_sink_ctx = 0;
}
