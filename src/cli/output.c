/*
 * output.c - every rule about writing files (CLI.md "Safety").
 *
 * A file output is written to a temporary sibling and renamed into place; a
 * directory output is built in a temporary sibling directory and renamed
 * into place, so the destination never exists half written, not even after
 * SIGKILL. The rename never replaces what the job did not agree to replace
 * when it started: an output that appeared meanwhile is left alone. On an
 * error or a terminating signal every temporary file is removed.
 *
 * Everything that can be refused is refused in cli_output_open, before the
 * work starts: an output that is, holds or lies inside an input, an existing
 * output that is not a file or model directory of the kind being written, a
 * missing or unwritable directory, a too-small open-file limit.
 */
#include "cli.h"
#include "parts.h"
#include "threads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------ the signal handlers --- */

/* Temporary paths the signal handlers remove. A path is published before
 * its file is created, so a signal can only find a path whose file may not
 * exist yet, never a file nobody knows about. The list is changed only by
 * the main thread with the handled signals blocked, and only when no other
 * thread runs (before and after ct_plan_execute), so a handler never sees
 * a node being freed. */
typedef struct temp_node {
	struct temp_node *next;
	char path[];
} temp_node;

static _Atomic(temp_node *) temp_list;
static _Atomic(const char *) temp_dir;   /* removed after its files */

/* Terminating signals that can be caught. SIGPIPE is ignored (a closed
 * pipe is an EPIPE write error instead), SIGXFSZ too (write() then fails
 * with EFBIG), SIGBUS has its own handler. */
static const int fatal_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2, SIGVTALRM, SIGPROF,
	SIGXCPU, SIGPOLL, SIGPWR, SIGSYS, SIGTRAP, SIGABRT, SIGSEGV, SIGILL, SIGFPE,
#ifdef SIGSTKFLT
	SIGSTKFLT,
#endif
};

#define MAX_SIG 65
static struct sigaction saved_action[MAX_SIG];   /* what was installed before ours */

static void remove_temps(void)
{
	for (temp_node *n = atomic_load(&temp_list); n; n = n->next)
		unlink(n->path);
	const char *d = atomic_load(&temp_dir);
	if (d)
		rmdir(d);
}

static void on_fatal(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	remove_temps();
	/* a script reading --json gets its one document, saying why */
	if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT ||
	    sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGALRM || sig == SIGXCPU)
		cli_report_signal(sig);
	/* Then die of the same signal, so the exit status says which: the
	 * previous action (the default, or a sanitizer's report) takes over. */
	struct sigaction sa = sig < MAX_SIG ? saved_action[sig] : (struct sigaction){ 0 };
	if (sig >= MAX_SIG || sa.sa_handler == SIG_IGN) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
	}
	sigaction(sig, &sa, NULL);
	/* a real fault repeats when the instruction does; anything sent is resent */
	if ((sig == SIGSEGV || sig == SIGILL || sig == SIGFPE) && info && info->si_code > 0)
		return;
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
	remove_temps();
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(EXIT_SYSTEM);
}

static void handled_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaddset(set, fatal_signals[i]);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(set, s);
	sigaddset(set, SIGBUS);
}

void cli_install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO;
	/* one cleanup at a time: the others wait until it is done */
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaction(fatal_signals[i], &sa, &saved_action[fatal_signals[i]]);
	for (int s = SIGRTMIN; s <= SIGRTMAX && s < MAX_SIG; s++)
		sigaction(s, &sa, &saved_action[s]);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction bus;
	memset(&bus, 0, sizeof(bus));
	bus.sa_handler = on_sigbus;
	sigfillset(&bus.sa_mask);
	sigaction(SIGBUS, &bus, NULL);
}

static void block_signals(sigset_t *old)
{
	sigset_t set;
	handled_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static temp_node *register_temp(const char *path)
{
	size_t n = strlen(path);
	temp_node *t = malloc(sizeof(*t) + n + 1);
	if (!t)
		return NULL;
	memcpy(t->path, path, n + 1);
	sigset_t old;
	block_signals(&old);
	t->next = atomic_load(&temp_list);
	atomic_store(&temp_list, t);
	restore_signals(&old);
	return t;
}

/* Forgets the path just registered (its name was taken by another file). */
static void unregister_last(temp_node *t)
{
	sigset_t old;
	block_signals(&old);
	atomic_store(&temp_list, t->next);
	restore_signals(&old);
	free(t);
}

/* Forgets every temporary path: after the commit, or once removed. */
static void unregister_temps(void)
{
	sigset_t old;
	block_signals(&old);
	temp_node *t = atomic_exchange(&temp_list, NULL);
	atomic_store(&temp_dir, NULL);
	restore_signals(&old);
	while (t) {
		temp_node *next = t->next;
		free(t);
		t = next;
	}
}

/* -------------------------------------------------- broken pipes --- */

static atomic_bool pipe_broken;

void cli_check_stream(FILE *f)
{
	if (!ferror(f))
		return;
	/* the write end of a pipe or socket whose reader is gone polls as an
	 * error: that, not errno (which later calls may change), says EPIPE */
	struct pollfd p = { fileno(f), POLLOUT, 0 };
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)))
		atomic_store(&pipe_broken, true);
}

bool cli_pipe_broken(void)
{
	return atomic_load(&pipe_broken);
}

/* ------------------------------------------------------------ paths --- */

typedef struct out_file {
	char *name;          /* for messages */
	temp_node *node;     /* node->path: where it is written */
	int fd;              /* -1 while closed */
	bool synced;         /* fsynced and closed for good */
	unsigned users;      /* writes in progress through fd */
	uint64_t used;       /* when fd was last taken, for closing the least recent */
} out_file;

typedef struct shard_sink {
	struct cli_output *o;
	size_t file;         /* index into o->files */
} shard_sink;

struct cli_output {
	bool is_dir;
	bool force;
	bool replace;        /* dest existed and was accepted for replacement */
	dev_t old_dev;       /* ... and was this one */
	ino_t old_ino;
	char *dest;          /* as given, without trailing slashes */
	char *parent;        /* the directory dest is in */
	char *work_dir;      /* directory output: the temporary directory */
	char **writes;       /* top-level names a directory output will hold */
	size_t n_writes;
	char **copies;       /* the input directory's other files, listed at open */
	size_t n_copies;
	out_file *files;
	size_t n_files, cap_files;
	shard_sink *sinks;
	/* shards are written concurrently in any order; at most max_open of
	 * their descriptors are open at once, so none grow with the shards */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	size_t n_open, max_open;
	uint64_t tick;
	bool committed;
	/* a split output (--part, --finalize): dest is written in place, one
	 * slice at a time, and is finished only by --finalize */
	bool split;
	bool finalize;
	size_t part_k;
	char *staging;       /* dest/.ctensors-parts */
	bool made_dest;      /* this job created dest ... */
	bool made_staging;   /* ... and the staging directory */
};

bool cli_output_is_dir(const cli_output *o)
{
	return o->is_dir;
}

const char *cli_output_dest(const cli_output *o)
{
	return o->dest;
}

const char *cli_output_staged(const cli_output *o)
{
	if (o->split)
		return NULL;
	if (o->is_dir)
		return o->work_dir;
	return o->n_files ? o->files[0].node->path : NULL;
}

const char *cli_output_staging(const cli_output *o)
{
	return o->staging;
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

int cli_output_finalize_view(const cli_output *o, char *const *shards, size_t n, bool link,
			     ct_error *err)
{
	if (!o->split || !o->finalize || !o->work_dir)
		return ct_fail(err, CT_EINTERNAL, "%s: not a --finalize output", o->dest);
	/* a link's target is read from the link's own directory */
	char *dest = realpath(o->dest, NULL);
	if (!dest)
		return ct_fail(err, CT_EIO, "%s: %s", o->dest, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		char *at = join(o->work_dir, shards[i]);
		char *to = join(dest, shards[i]);
		int rc = CT_OK;
		if (!at || !to)
			rc = ct_fail(err, CT_EIO, "out of memory");
		else if (link && symlink(to, at) != 0)
			rc = ct_fail(err, CT_EIO, "%s: cannot link for the check: %s", at,
				     strerror(errno));
		else if (!link)
			unlink(at);
		free(at);
		free(to);
		if (rc) {
			free(dest);
			return rc;
		}
	}
	free(dest);
	return CT_OK;
}

const char *cli_output_finalize_dir(const cli_output *o)
{
	return o->split && o->finalize ? o->work_dir : NULL;
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

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static const char *kind_of(mode_t m)
{
	return S_ISREG(m) ? "a file" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link" :
	       S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

/* A name no one else picks: DEST.ctensors-tmp-PID-XXXXXX. The pid lets a
 * later run tell a leftover of a killed run from the work of a live one. */
static char *temp_name(const char *dest, const char *what)
{
	static const char digits[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char r[6];
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
		for (size_t i = 0; i < sizeof(r); i++, x >>= 8)
			r[i] = (unsigned char)x;
	}
	char suffix[7];
	for (size_t i = 0; i < 6; i++)
		suffix[i] = digits[r[i] % 62];
	suffix[6] = '\0';
	size_t n = strlen(dest) + strlen(what) + 48;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s.ctensors-%s-%ld-%s", dest, what, (long)getpid(), suffix);
	return p;
}

/* Messages name files found on disk: escape them as cli_fail does. */
static void warn_safe(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn_safe(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cli_warn_text(buf);
}

/* ---------------------------------------------------- input overlap --- */

/* True when dir is path itself or one of its ancestors, comparing inodes
 * along the real path (symbolic links resolved) of path, or of its nearest
 * existing ancestor when path does not exist yet. Inodes also catch a bind
 * mount that shows one directory under two names. */
static bool path_within(const char *path, const struct stat *dir)
{
	char real[PATH_MAX];
	char *p = strdup(path);
	while (p && !realpath(p, real)) {
		char *up = parent_of(p);
		if (up && strcmp(up, p) == 0) {
			free(up);
			up = NULL;
		}
		free(p);
		p = up;
	}
	if (!p)
		return false;
	free(p);
	for (;;) {
		struct stat st;
		if (stat(real, &st) == 0 && same_file(&st, dir))
			return true;
		char *slash = strrchr(real, '/');
		if (!slash || (slash == real && real[1] == '\0'))
			return false;
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

typedef struct input_ref {
	char *path;
	const char *what;    /* "input file", "input directory", "config" */
	struct stat st;
} input_ref;

/* Refuses dest when it is an input, holds one, or lies inside the input
 * directory: replacing it would destroy the model being read. Inputs are
 * every shard, the index, config.json, the model directory and -c FILE. */
static int check_not_input(const char *dest, const ct_checkpoint *in, const char *config_path,
			   ct_error *err)
{
	size_t cap = in->n_shards + 4, n = 0;
	input_ref *refs = calloc(cap, sizeof(*refs));
	if (!refs)
		return ct_fail(err, CT_EIO, "out of memory");
	for (size_t i = 0; i < in->n_shards; i++)
		refs[n++] = (input_ref){ ct_ckpt_shard_path(in, i), "input file", { 0 } };
	if (in->kind == CT_CKPT_DIR) {
		if (in->index_name)
			refs[n++] = (input_ref){ join(in->dir, in->index_name), "input file", { 0 } };
		if (in->config)
			refs[n++] = (input_ref){ join(in->dir, in->config_name ? in->config_name :
						    "config.json"), "input file", { 0 } };
		refs[n++] = (input_ref){ strdup(in->dir), "input directory", { 0 } };
	}
	if (config_path)
		refs[n++] = (input_ref){ strdup(config_path), "config", { 0 } };
	int rc = CT_OK;
	for (size_t i = 0; i < n && !rc; i++)
		if (!refs[i].path)
			rc = ct_fail(err, CT_EIO, "out of memory");
	struct stat ds;
	bool dest_exists = stat(dest, &ds) == 0;   /* through a symbolic link */
	for (size_t i = 0; i < n && !rc; i++) {
		input_ref *r = &refs[i];
		if (stat(r->path, &r->st) != 0) {
			r->what = NULL;   /* gone: nothing of it to protect */
			continue;
		}
		bool same = (dest_exists && same_file(&ds, &r->st)) || strcmp(dest, r->path) == 0;
		if (same && S_ISDIR(r->st.st_mode))
			rc = ct_fail(err, CT_EUSAGE, "%s: output is the input directory (refusing to "
				     "write over the input)", dest);
		else if (same)
			rc = ct_fail(err, CT_EUSAGE, "%s: output is %s %s (refusing to write over "
				     "the input)", dest, strcmp(r->what, "config") == 0 ? "the config" :
				     "an input file", r->path);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		input_ref *r = &refs[i];
		if (!r->what)
			continue;
		if (dest_exists && S_ISDIR(ds.st_mode) && path_within(r->path, &ds))
			rc = ct_fail(err, CT_EUSAGE, "%s: output contains the %s %s (refusing to "
				     "replace a directory that holds an input; choose another OUTPUT)",
				     dest, r->what, r->path);
		else if (S_ISDIR(r->st.st_mode) && path_within(dest, &r->st))
			rc = ct_fail(err, CT_EUSAGE, "%s: output is inside the input directory %s "
				     "(choose a destination outside it)", dest, r->path);
	}
	for (size_t i = 0; i < n; i++)
		free(refs[i].path);
	free(refs);
	return rc;
}

/* ------------------------------------------- what may be replaced --- */

/* Files a Hugging Face model directory holds besides its weights. */
static bool model_file_name(const char *n)
{
	static const char *const suffixes[] = { ".safetensors", ".json", ".model", ".tiktoken",
						".jinja", ".py" };
	static const char *const names[] = { "merges.txt", "vocab.txt", ".gitattributes",
					     "README.md", "LICENSE", "LICENSE.txt", "LICENSE.md",
					     "NOTICE", "USE_POLICY.md" };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (ends_with(n, suffixes[i]) && strlen(n) > strlen(suffixes[i]))
			return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(n, names[i]) == 0)
			return true;
	return false;
}

static bool job_writes(const cli_output *o, const char *n)
{
	for (size_t i = 0; i < o->n_writes; i++)
		if (strcmp(o->writes[i], n) == 0)
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a", "a and b", "a, b and c", "a, b, c, d and 5 more" */
static void append_list(char *buf, size_t size, char *const *items, size_t n)
{
	size_t shown = n > 4 ? 4 : n, len = strlen(buf);
	for (size_t i = 0; i < shown && len < size; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == shown && n == shown) ? " and " : ", ";
		len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, items[i]);
	}
	if (n > shown && len < size)
		snprintf(buf + len, size - len, " and %zu more", n - shown);
}

/* Whether name (relative to dirfd), whose lstat is st, is the root of a
 * mount: on another device than the directory holding it (parent_dev), or,
 * for a bind mount of the same file system, marked so by statx(2)
 * (STATX_ATTR_MOUNT_ROOT, Linux 5.8). rename(2) and rmdir(2)/unlink(2) fail
 * with EBUSY on a mount point: it can be neither replaced nor removed. */
static bool is_mount_point(int dirfd, const char *name, const struct stat *st, dev_t parent_dev)
{
	if (st->st_dev != parent_dev)
		return true;
#ifdef STATX_ATTR_MOUNT_ROOT
	struct statx sx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return true;
#else
	(void)dirfd;
	(void)name;
#endif
	return false;
}

/* An existing directory is replaced only when it is a model directory of
 * the kind being written: regular files only (no subdirectory, no link),
 * each a model file or a file this job writes, at least one of them
 * weights or an index. */
static int check_replaceable_dir(const cli_output *o, ct_error *err)
{
	int fd = open(o->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", o->dest, strerror(e));
	}
	struct stat dst;
	if (fstat(fd, &dst) != 0) {
		int e = errno;
		closedir(d);
		return ct_fail(err, CT_EIO, "%s: %s", o->dest, strerror(e));
	}
	char **bad = NULL;
	char mounted[256] = "";
	size_t n_bad = 0, n_entries = 0;
	bool weights = false;
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		n_entries++;
		struct stat st;
		bool ok = false;
		const char *mark = "";
		if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			/* a file mounted over one of its entries cannot be
			 * removed with the old directory either */
			bool mount = is_mount_point(fd, n, &st, dst.st_dev);
			if (mount && !mounted[0])
				snprintf(mounted, sizeof(mounted), "%s", n);
			ok = S_ISREG(st.st_mode) && !mount && (model_file_name(n) || job_writes(o, n));
			weights |= S_ISREG(st.st_mode) && (ends_with(n, ".safetensors") ||
							   ends_with(n, ".safetensors.index.json"));
			mark = mount ? " (a mount point)" : S_ISDIR(st.st_mode) ? "/" :
			       S_ISLNK(st.st_mode) ? " (a symbolic link)" :
			       S_ISREG(st.st_mode) ? "" : " (not a file)";
		}
		if (ok)
			continue;
		char **nb = realloc(bad, (n_bad + 1) * sizeof(*bad));
		size_t len = strlen(n) + strlen(mark) + 1;
		char *item = nb ? malloc(len) : NULL;
		if (!item) {
			bad = nb ? nb : bad;
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		snprintf(item, len, "%s%s", n, mark);
		bad = nb;
		bad[n_bad++] = item;
	}
	closedir(d);
	if (!rc && mounted[0]) {
		rc = ct_fail(err, CT_EUSAGE, "%s/: holds %s, a mount point, which cannot be removed "
			     "with it (refusing to replace it; unmount %s/%s or choose another "
			     "OUTPUT)", o->dest, mounted, o->dest, mounted);
	} else if (!rc && n_bad) {
		qsort(bad, n_bad, sizeof(*bad), cmp_str);
		char list[1024] = "";
		append_list(list, sizeof(list), bad, n_bad);
		rc = ct_fail(err, CT_EUSAGE, "%s/: is a directory holding %s, which %s (refusing to "
			     "replace it; remove it or choose another OUTPUT)", o->dest, list,
			     n_bad == 1 ? "is not a model file" : "are not model files");
	} else if (!rc && !weights) {
		rc = ct_fail(err, CT_EUSAGE, "%s/: is %s without *.safetensors or an index, not a "
			     "model directory (refusing to replace it; remove it or choose another "
			     "OUTPUT)", o->dest, n_entries ? "a directory" : "an empty directory");
	}
	for (size_t i = 0; i < n_bad; i++)
		free(bad[i]);
	free(bad);
	return rc;
}

/* What is at dest decides whether it may be replaced, with --force or
 * without: only a file by a file, a model directory by a directory, never
 * a mount point (a rename onto it, or its removal, fails with EBUSY after
 * all the work: refused before any). */
static int check_existing(cli_output *o, const struct stat *st, ct_error *err)
{
	struct stat ps;
	if (stat(o->parent, &ps) == 0 && is_mount_point(AT_FDCWD, o->dest, st, ps.st_dev)) {
		if (S_ISDIR(st->st_mode))
			return ct_fail(err, CT_EUSAGE, "%s: is a mount point, which cannot be removed "
				       "or replaced by a rename (refusing to replace it; write into it "
				       "under a new name, as %s/NAME, or unmount it)", o->dest, o->dest);
		return ct_fail(err, CT_EUSAGE, "%s: is %s mounted there, which cannot be removed or "
			       "replaced by a rename (refusing to replace it; choose another OUTPUT, "
			       "or unmount it)", o->dest, kind_of(st->st_mode));
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return ct_fail(err, CT_EUSAGE, "%s: is %s (refusing to replace it; remove it or "
			       "choose another OUTPUT)", o->dest, kind_of(st->st_mode));
	if (S_ISDIR(st->st_mode) && !o->is_dir)
		return ct_fail(err, CT_EUSAGE, "%s: is a directory, but the output of a file is a "
			       "file (refusing to replace it; choose another OUTPUT)", o->dest);
	if (S_ISREG(st->st_mode) && o->is_dir)
		return ct_fail(err, CT_EUSAGE, "%s: is a file, but the output of a model directory "
			       "is a directory (refusing to replace it; choose another OUTPUT)",
			       o->dest);
	if (S_ISDIR(st->st_mode)) {
		int rc = check_replaceable_dir(o, err);
		if (rc)
			return rc;
	}
	if (!o->force)
		return ct_fail(err, CT_EUSAGE, "%s: already exists (use --force to replace it)",
			       o->dest);
	o->replace = true;
	o->old_dev = st->st_dev;
	o->old_ino = st->st_ino;
	return CT_OK;
}

/* ------------------------------------------------------ before work --- */

/* Leftovers of runs that were killed (SIGKILL, a crash, a power cut) are
 * reported, not removed: a name alone cannot prove they are ours. */
static void warn_stale(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t found = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *p = strstr(de->d_name, ".ctensors-tmp-");
		if (!p)
			continue;
		p += strlen(".ctensors-tmp-");
		char *end;
		errno = 0;
		long pid = strtol(p, &end, 10);
		if (errno || pid <= 0 || end == p || *end != '-' || strlen(end + 1) != 6)
			continue;
		if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (++found <= 8)
			warn_safe("%s%s%s: left by an interrupted ctensors run (process %ld no longer "
				  "runs); it can be removed", strcmp(dir, ".") == 0 ? "" : dir,
				  strcmp(dir, ".") == 0 ? "" : "/", de->d_name, pid);
	}
	closedir(d);
	if (found > 8)
		warn_safe("%s: %zu more such leftovers", dir, found - 8);
}

/* The open-file limit: shard descriptors are kept below it, opened and
 * closed as writes need them; what remains is for the rest of the job. */
#define FD_RESERVE 16
#define FD_MIN_SHARDS 4
#define FD_MAX_SHARDS 64

static int plan_descriptors(cli_output *o, ct_error *err)
{
	struct rlimit rl;
	uint64_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
		       (uint64_t)rl.rlim_cur : UINT64_MAX;
	if (lim < FD_RESERVE + FD_MIN_SHARDS)
		return ct_fail(err, CT_EIO, "the open-file limit (ulimit -n) is %" PRIu64 "; "
			       "ctensors needs at least %d", lim, FD_RESERVE + FD_MIN_SHARDS);
	o->max_open = lim - FD_RESERVE > FD_MAX_SHARDS ? FD_MAX_SHARDS : (size_t)(lim - FD_RESERVE);
	return CT_OK;
}

static int add_name(char ***list, size_t *n, const char *name, ct_error *err)
{
	char **nl = realloc(*list, (*n + 1) * sizeof(**list));
	if (!nl)
		return ct_fail(err, CT_EIO, "out of memory");
	*list = nl;
	if (!(nl[*n] = strdup(name)))
		return ct_fail(err, CT_EIO, "out of memory");
	(*n)++;
	return CT_OK;
}

/* The names a directory output will hold: the shards, the index,
 * config.json, and the input directory's other regular files, listed now
 * so that the job copies what it was checked against. */
static bool listed(const char *const *names, const char *n)
{
	for (size_t i = 0; names && names[i]; i++)
		if (strcmp(names[i], n) == 0)
			return true;
	return false;
}

static int list_outputs(cli_output *o, const ct_checkpoint *in, const char *const *not_copied,
			ct_error *err)
{
	int rc = CT_OK;
	for (size_t i = 0; i < in->n_shards && !rc; i++)
		rc = add_name(&o->writes, &o->n_writes, in->shard_names[i], err);
	if (!rc && in->index_name)
		rc = add_name(&o->writes, &o->n_writes, in->index_name, err);
	if (!rc)
		rc = add_name(&o->writes, &o->n_writes, in->config_name ? in->config_name :
			      "config.json", err);
	if (rc)
		return rc;
	DIR *d = opendir(in->dir);
	if (!d)
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", in->dir, strerror(errno));
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || job_writes(o, n) ||
		    listed(not_copied, n))
			continue;
		/* weight files the index does not list are no part of the
		 * checkpoint (cli_open_checkpoint warned about them) */
		size_t len = strlen(n);
		if (len >= 12 && strcmp(n + len - 12, ".safetensors") == 0)
			continue;
		char *src = join(in->dir, n);
		struct stat st;
		if (!src)
			rc = ct_fail(err, CT_EIO, "out of memory");
		else if (stat(src, &st) == 0 && S_ISREG(st.st_mode))
			rc = add_name(&o->copies, &o->n_copies, n, err);
		else if (stat(src, &st) == 0 && S_ISDIR(st.st_mode))
			warn_safe("%s: subdirectory not copied", src);
		free(src);
	}
	closedir(d);
	for (size_t i = 0; i < o->n_copies && !rc; i++)
		rc = add_name(&o->writes, &o->n_writes, o->copies[i], err);
	return rc;
}

/* Creating the directory or file now proves the parent writable, whoever
 * runs us (access() says yes to root even on a read-only bind mount). */
static int create_error(const cli_output *o, int e, ct_error *err)
{
	/* an unwritable destination is the user's to fix before any work */
	return ct_fail(err, e == EACCES || e == EPERM || e == EROFS ? CT_EUSAGE : CT_EIO,
		       "%s: cannot create files in %s: %s", o->dest, o->parent, strerror(e));
}

/* The temporary directory the job's files are made in: base.ctensors-tmp-... */
static int make_work_dir(cli_output *o, const char *base, ct_error *err)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		char *p = temp_name(base, "tmp");
		if (!p)
			return ct_fail(err, CT_EIO, "out of memory");
		atomic_store(&temp_dir, p);
		/* 0777: the umask (or a default ACL) decides, as for any new directory */
		if (mkdir(p, 0777) == 0) {
			o->work_dir = p;
			return CT_OK;
		}
		int e = errno;
		atomic_store(&temp_dir, NULL);
		free(p);
		if (e != EEXIST)
			return create_error(o, e, err);
	}
	return ct_fail(err, CT_EIO, "%s: cannot find a free temporary name", o->dest);
}

/* Creates the temporary file that will become name (a directory output) or
 * dest (a file output); opened for writing in *fd. */
static int new_file(cli_output *o, const char *name, size_t *index, int *fd, ct_error *err)
{
	if (o->n_files == o->cap_files) {
		size_t cap = o->cap_files ? o->cap_files * 2 : 16;
		out_file *nf = realloc(o->files, cap * sizeof(*nf));
		if (!nf)
			return ct_fail(err, CT_EIO, "out of memory");
		o->files = nf;
		o->cap_files = cap;
	}
	for (int attempt = 0; attempt < 100; attempt++) {
		char *path = o->is_dir ? join(o->work_dir, name) : temp_name(o->dest, "tmp");
		temp_node *node = path ? register_temp(path) : NULL;
		free(path);
		if (!node)
			return ct_fail(err, CT_EIO, "out of memory");
		/* 0666: the umask decides the mode, as for any new file */
		int f = open(node->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (f < 0) {
			int e = errno;
			unregister_last(node);
			if (e == EEXIST && !o->is_dir)
				continue;
			if (o->is_dir)
				return ct_fail(err, CT_EIO, "%s: cannot create: %s", name, strerror(e));
			return create_error(o, e, err);
		}
		out_file *x = &o->files[o->n_files];
		*x = (out_file){ .name = strdup(o->is_dir ? name : o->dest), .node = node, .fd = -1 };
		o->n_files++;   /* listed now, so that close() removes it */
		if (!x->name) {
			close(f);
			return ct_fail(err, CT_EIO, "out of memory");
		}
		*index = o->n_files - 1;
		*fd = f;
		return CT_OK;
	}
	return ct_fail(err, CT_EIO, "%s: cannot find a free temporary name", o->dest);
}

/* ------------------------------------------------------ split output --- */

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Jobs 2..N find OUTPUT made by job 1: a directory with a staging
 * directory is theirs to add to, whatever -f says; anything else but an
 * empty directory belongs to someone else. */
static int check_split_dest(cli_output *o, const struct stat *st, ct_error *err)
{
	if (!S_ISDIR(st->st_mode))
		return ct_fail(err, CT_EUSAGE, "%s: is %s, but split jobs write a directory "
			       "(remove it or choose another OUTPUT)", o->dest, kind_of(st->st_mode));
	struct stat ss;
	if (lstat(o->staging, &ss) == 0) {
		if (S_ISDIR(ss.st_mode))
			return CT_OK;
		return ct_fail(err, CT_EUSAGE, "%s: is %s, not the staging directory of split jobs "
			       "(remove it)", o->staging, kind_of(ss.st_mode));
	}
	if (o->finalize)
		return ct_fail(err, CT_EUSAGE, "%s: is not an unfinished output of split jobs (it "
			       "has no %s/): nothing to finalize", o->dest, CT_PARTS_DIR);
	/* another job may have made the staging directory since the lstat
	 * above: OUTPUT is then not empty, but theirs to share */
	if (!dir_is_empty(o->dest) && !(lstat(o->staging, &ss) == 0 && S_ISDIR(ss.st_mode)))
		return ct_fail(err, CT_EUSAGE, "%s: already exists and is not an unfinished output "
			       "of split jobs (--part never replaces an output; remove it or "
			       "choose another OUTPUT)", o->dest);
	return CT_OK;
}

/* mkdir that accepts a directory made meanwhile by another job, never
 * anything else under that name; *made: this call created it. */
static int ensure_dir(const cli_output *o, const char *path, bool *made, ct_error *err)
{
	*made = mkdir(path, 0777) == 0;
	if (!*made && errno != EEXIST)
		return create_error(o, errno, err);
	struct stat st;
	if (lstat(path, &st) != 0)
		return ct_fail(err, CT_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ct_fail(err, CT_EUSAGE, "%s: is %s, not a directory (it appeared while "
			       "starting; remove it)", path, kind_of(st.st_mode));
	return CT_OK;
}

/* ---------------------------------------- what the staging holds --- */

/* The staging directory holds only what split jobs write there
 * (cli_output_put_record, make_split_dirs, temp_name): records
 * "part-K-of-N.json" (ct_part_record_name), their temporaries
 * "part-K-of-N.json.ctensors-tmp-PID-XXXXXX", and work directories
 * "slice-K.ctensors-tmp-PID-XXXXXX" / "finalize.ctensors-tmp-PID-XXXXXX"
 * of regular files named as the output's files. Those exact names are
 * ours to remove; anything else is a user's, never removed. */
static bool tmp_suffix(const char *s)
{
	static const char tag[] = ".ctensors-tmp-";
	if (strncmp(s, tag, sizeof(tag) - 1) != 0)
		return false;
	s += sizeof(tag) - 1;
	size_t d = 0;
	while (s[d] >= '0' && s[d] <= '9')
		d++;
	if (d == 0 || s[0] == '0' || s[d] != '-')
		return false;
	s += d + 1;
	size_t k = 0;
	while ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
	       (s[k] >= '0' && s[k] <= '9'))
		k++;
	return k == 6 && s[k] == '\0';
}

/* The length of the record name n starts with ("part-K-of-N.json" exactly
 * as ct_part_record_name writes it), or 0. */
static size_t record_prefix(const char *n)
{
	unsigned long long k, parts;
	int used = 0;
	if (sscanf(n, "part-%llu-of-%llu.json%n", &k, &parts, &used) != 2 || used <= 0)
		return 0;
	char want[64];
	if (!ct_part_record_name((size_t)k, (size_t)parts, want, sizeof(want)) ||
	    strlen(want) != (size_t)used || strncmp(want, n, (size_t)used) != 0)
		return 0;
	return (size_t)used;
}

/* The length of the work directory base n starts with ("slice-K" or
 * "finalize"), or 0. */
static size_t work_prefix(const char *n)
{
	if (strncmp(n, "finalize", 8) == 0)
		return 8;
	if (strncmp(n, "slice-", 6) != 0 || n[6] < '1' || n[6] > '9')
		return 0;
	size_t i = 7;
	while (n[i] >= '0' && n[i] <= '9')
		i++;
	return i;
}

/* Whether entry n of a work directory is a file split jobs write there. */
static bool ours_in_work_dir(const cli_output *o, const char *n, const struct stat *st)
{
	return S_ISREG(st->st_mode) && (job_writes(o, n) || ct_part_name_safe(n));
}

/* Whether staging entry n (lstat st, in the directory fd) is ours: a
 * record or its temporary, or a work directory holding only ours. */
static bool ours_in_staging(const cli_output *o, int fd, const char *n, const struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		size_t r = record_prefix(n);
		return r && (n[r] == '\0' || tmp_suffix(n + r));
	}
	size_t w = work_prefix(n);
	if (!S_ISDIR(st->st_mode) || !w || !tmp_suffix(n + w))
		return false;
	int sub = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *sd = sub >= 0 ? fdopendir(sub) : NULL;
	if (!sd) {
		if (sub >= 0)
			close(sub);
		return false;
	}
	bool ok = true;
	struct dirent *se;
	while (ok && (se = readdir(sd))) {
		struct stat ss;
		if (strcmp(se->d_name, ".") == 0 || strcmp(se->d_name, "..") == 0)
			continue;
		ok = fstatat(sub, se->d_name, &ss, AT_SYMLINK_NOFOLLOW) == 0 &&
		     ours_in_work_dir(o, se->d_name, &ss);
	}
	closedir(sd);
	return ok;
}

/* --finalize removes the staging directory: refused before any work when
 * it holds anything split jobs did not write there, naming it. */
static int check_staging_ours(const cli_output *o, ct_error *err)
{
	int fd = open(o->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ct_fail(err, CT_EIO, "%s: cannot list: %s", o->staging, strerror(e));
	}
	char **bad = NULL;
	size_t n_bad = 0;
	int rc = CT_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *n = de->d_name;
		struct stat st;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && ours_in_staging(o, fd, n, &st))
			continue;
		bool dir = fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		char **nb = realloc(bad, (n_bad + 1) * sizeof(*bad));
		char *item = nb ? malloc(strlen(n) + 2) : NULL;
		if (!item) {
			bad = nb ? nb : bad;
			rc = ct_fail(err, CT_EIO, "out of memory");
			break;
		}
		snprintf(item, strlen(n) + 2, "%s%s", n, dir ? "/" : "");
		bad = nb;
		bad[n_bad++] = item;
	}
	closedir(d);
	if (!rc && n_bad) {
		qsort(bad, n_bad, sizeof(*bad), cmp_str);
		char list[1024] = "";
		append_list(list, sizeof(list), bad, n_bad);
		rc = ct_fail(err, CT_EUSAGE, "%s/: holds %s, which split jobs did not write there "
			     "(refusing to finalize: --finalize removes this directory; move %s out "
			     "of it first)", o->staging, list, n_bad == 1 ? "it" : "them");
	}
	for (size_t i = 0; i < n_bad; i++)
		free(bad[i]);
	free(bad);
	return rc;
}

/* OUTPUT and its staging directory (made by whichever job comes first),
 * then this job's own work directory in the staging directory. */
static int make_split_dirs(cli_output *o, ct_error *err)
{
	int rc = ensure_dir(o, o->dest, &o->made_dest, err);
	if (!rc)
		rc = ensure_dir(o, o->staging, &o->made_staging, err);
	if (rc)
		return rc;
	char name[64];
	if (o->finalize)
		snprintf(name, sizeof(name), "finalize");
	else
		snprintf(name, sizeof(name), "slice-%zu", o->part_k);
	char *base = join(o->staging, name);
	if (!base)
		return ct_fail(err, CT_EIO, "out of memory");
	rc = make_work_dir(o, base, err);
	free(base);
	return rc;
}

int cli_output_open(const cli_write_opts *w, const ct_checkpoint *in, cli_output **out,
		    ct_error *err)
{
	*out = NULL;
	const char *given = w->dest;
	if (!given || !*given)
		return ct_fail(err, CT_EUSAGE, "OUTPUT is empty (name the file or directory to "
			       "write)");
	static const int sent[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
				    SIGXCPU };
	cli_report_prepare_signals(sent, sizeof(sent) / sizeof(sent[0]));
	cli_output *o = calloc(1, sizeof(*o));
	if (!o)
		return ct_fail(err, CT_EIO, "out of memory");
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->freed, NULL);
	o->is_dir = in->kind == CT_CKPT_DIR;
	o->force = w->force;
	size_t n = strlen(given);
	bool slash = n > 1 && given[n - 1] == '/';
	while (n > 1 && given[n - 1] == '/')
		n--;
	o->dest = strndup(given, n);
	o->parent = o->dest ? parent_of(o->dest) : NULL;
	int rc = o->dest && o->parent ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
	const char *base = o->dest ? base_of(o->dest) : "";
	if (!rc && (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(o->dest, "/") == 0))
		rc = ct_fail(err, CT_EUSAGE, "%s: names a directory only by '.', '..' or '/' "
			     "(give OUTPUT its own name)", given);
	if (!rc)
		rc = check_not_input(o->dest, in, w->config_path, err);
	if (!rc && o->is_dir)
		rc = list_outputs(o, in, w->not_copied, err);
	o->split = w->part_n || w->finalize;
	o->finalize = w->finalize;
	o->part_k = w->part_k;
	if (!rc && o->split && !o->is_dir)
		rc = ct_fail(err, CT_EUSAGE, "%s: --part and --finalize write a model directory, "
			     "but the input is a file", o->dest);
	if (!rc && o->split && !(o->staging = join(o->dest, CT_PARTS_DIR)))
		rc = ct_fail(err, CT_EIO, "out of memory");
	struct stat st;
	bool exists = !rc && lstat(o->dest, &st) == 0;
	if (!rc && exists)
		rc = o->split ? check_split_dest(o, &st, err) : check_existing(o, &st, err);
	if (!rc && !exists && o->finalize)
		rc = ct_fail(err, CT_EUSAGE, "%s: does not exist: no slice is written (run the "
			     "--part jobs first)", o->dest);
	if (!rc && !exists && slash && !o->is_dir)
		rc = ct_fail(err, CT_EUSAGE, "%s: ends in '/', but the output of a file is a file "
			     "(drop the '/')", given);
	struct stat ps;
	if (!rc && stat(o->parent, &ps) != 0)
		rc = ct_fail(err, errno == ENOENT || errno == ENOTDIR ? CT_EUSAGE : CT_EIO,
			     "%s: the directory %s %s", o->dest, o->parent,
			     errno == ENOENT ? "does not exist (create it first)" : strerror(errno));
	if (!rc && !S_ISDIR(ps.st_mode))
		rc = ct_fail(err, CT_EUSAGE, "%s: %s is %s, not a directory", o->dest, o->parent,
			     kind_of(ps.st_mode));
	if (!rc && access(o->parent, W_OK | X_OK) != 0)
		rc = create_error(o, errno, err);
	if (!rc)
		rc = plan_descriptors(o, err);
	if (!rc)
		warn_stale(o->parent);
	if (!rc && o->finalize)
		rc = check_staging_ours(o, err);
	if (!rc && o->split)
		rc = make_split_dirs(o, err);
	else if (!rc && o->is_dir)
		rc = make_work_dir(o, o->dest, err);
	if (!rc && !o->is_dir) {
		size_t idx;
		int fd;
		/* written through the shard sink, which opens it again */
		rc = new_file(o, NULL, &idx, &fd, err);
		if (!rc)
			close(fd);
	}
	if (rc) {
		cli_output_close(o);
		return rc;
	}
	*out = o;
	return CT_OK;
}

/* ------------------------------------------------------------ writing --- */

static int io_error(const char *path, int e, ct_error *err)
{
	if (e == ENOSPC || e == EDQUOT)
		return ct_fail(err, CT_EIO, "%s: no space left on device", path);
	if (e == EFBIG)
		return ct_fail(err, CT_EIO, "%s: file too large (the file-size limit was "
			       "reached)", path);
	return ct_fail(err, CT_EIO, "%s: write error: %s", path, strerror(e));
}

static int write_all(int fd, const char *label, const void *buf, size_t len, uint64_t off,
		     ct_error *err)
{
	if (cli_pipe_broken())
		return ct_fail(err, CT_EIO, "standard output or error: broken pipe");
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return io_error(label, errno, err);
		}
		if (n == 0)
			return io_error(label, ENOSPC, err);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return CT_OK;
}

/* Takes the descriptor of file i, opening it again if it was closed, and
 * closing the least recently used idle one when max_open are open. */
static int take_fd(cli_output *o, size_t i, int *fd, ct_error *err)
{
	int rc = CT_OK;
	pthread_mutex_lock(&o->lock);
	out_file *f = &o->files[i];
	while (f->fd < 0 && o->n_open >= o->max_open) {
		out_file *victim = NULL;
		for (size_t k = 0; k < o->n_files; k++) {
			out_file *c = &o->files[k];
			if (c->fd >= 0 && c->users == 0 && (!victim || c->used < victim->used))
				victim = c;
		}
		if (!victim) {
			/* every open one is being written by another thread */
			pthread_cond_wait(&o->freed, &o->lock);
			continue;
		}
		int c = close(victim->fd);
		int e = errno;
		victim->fd = -1;
		o->n_open--;
		if (c != 0 && e != EINTR) {
			rc = io_error(victim->name, e, err);
			break;
		}
	}
	if (!rc && f->fd < 0) {
		f->fd = open(f->node->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (f->fd < 0)
			rc = ct_fail(err, CT_EIO, "%s: cannot open again: %s", f->name,
				     strerror(errno));
		else
			o->n_open++;
	}
	if (!rc) {
		f->users++;
		f->used = ++o->tick;
		*fd = f->fd;
	}
	pthread_mutex_unlock(&o->lock);
	return rc;
}

static void give_fd(cli_output *o, size_t i)
{
	pthread_mutex_lock(&o->lock);
	o->files[i].users--;
	pthread_cond_signal(&o->freed);
	pthread_mutex_unlock(&o->lock);
}

static int shard_pwrite(void *ctx, const void *buf, size_t len, uint64_t off, ct_error *err)
{
	shard_sink *s = ctx;
	int fd;
	int rc = take_fd(s->o, s->file, &fd, err);
	if (rc)
		return rc;
	rc = write_all(fd, s->o->files[s->file].name, buf, len, off, err);
	give_fd(s->o, s->file);
	return rc;
}

static int sync_close(int fd, const char *name, ct_error *err)
{
	int rc = fsync(fd) == 0 ? CT_OK : io_error(name, errno, err);
	if (close(fd) != 0 && !rc && errno != EINTR)
		rc = io_error(name, errno, err);
	return rc;
}

/* Syncs and closes shard file i for good, opening it again if its
 * descriptor was closed (fsync on any descriptor flushes the file). */
static int sync_file(cli_output *o, size_t i, ct_error *err)
{
	out_file *f = &o->files[i];
	if (f->synced)
		return CT_OK;
	int fd = f->fd;
	if (fd >= 0)
		o->n_open--;
	else if ((fd = open(f->node->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return ct_fail(err, CT_EIO, "%s: cannot open again: %s", f->name, strerror(errno));
	f->fd = -1;
	f->synced = true;
	return sync_close(fd, f->name, err);
}

/* The space of the shard files, reserved by a few threads at once: each
 * takes the next file, opens it again, fallocates and closes it. */
typedef struct reserve_job {
	const char *path, *name;
	uint64_t size;
} reserve_job;

typedef struct reserve_state {
	const reserve_job *jobs;
	size_t n;
	atomic_size_t next;
	atomic_bool failed;
	pthread_mutex_t lock;
	ct_error err;              /* the first failure, under lock */
	int rc;
} reserve_state;

static int reserve_one(const reserve_job *j, ct_error *err)
{
	int fd = open(j->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ct_fail(err, CT_EIO, "%s: cannot open again: %s", j->name, strerror(errno));
	int rc = CT_OK;
	if (fallocate(fd, 0, 0, (off_t)j->size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS)
		rc = io_error(j->name, errno, err);
	close(fd);
	return rc;
}

static void *reserve_worker(void *arg)
{
	reserve_state *st = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&st->next, 1);
		if (i >= st->n || atomic_load(&st->failed))
			break;
		ct_error e;
		ct_error_clear(&e);
		int rc = reserve_one(&st->jobs[i], &e);
		if (rc) {
			pthread_mutex_lock(&st->lock);
			if (!atomic_load(&st->failed)) {
				st->err = e;
				st->rc = rc;
				atomic_store(&st->failed, true);
			}
			pthread_mutex_unlock(&st->lock);
			break;
		}
	}
	return NULL;
}

/* Reserves the space so that a full disk fails before hours of work. */
static int reserve_space(const reserve_job *jobs, size_t n, int threads, ct_error *err)
{
	reserve_state st = { .jobs = jobs, .n = n };
	atomic_init(&st.next, 0);
	atomic_init(&st.failed, false);
	pthread_mutex_init(&st.lock, NULL);
	ct_run_threads(reserve_worker, &st, threads, n);
	pthread_mutex_destroy(&st.lock);
	if (atomic_load(&st.failed)) {
		*err = st.err;
		return st.rc;
	}
	return CT_OK;
}

int cli_output_begin(cli_output *o, ct_plan *plan, const bool *only, int threads, ct_sink *sinks,
		     ct_error *err)
{
	free(o->sinks);
	o->sinks = calloc(plan->n_shards ? plan->n_shards : 1, sizeof(*o->sinks));
	reserve_job *jobs = calloc(plan->n_shards ? plan->n_shards : 1, sizeof(*jobs));
	size_t n_jobs = 0;
	if (!o->sinks || !jobs) {
		free(jobs);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	for (size_t s = 0; s < plan->n_shards; s++) {
		size_t idx = 0;
		int fd = -1;
		int rc;
		if (only && !only[s]) {
			sinks[s] = (ct_sink){ NULL, NULL };
			continue;
		}
		if (o->is_dir) {
			rc = new_file(o, plan->shards[s].name, &idx, &fd, err);
		} else {
			/* the one temporary file made at open */
			idx = 0;
			fd = open(o->files[0].node->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
			rc = fd < 0 ? ct_fail(err, CT_EIO, "%s: cannot open again: %s", o->dest,
					      strerror(errno)) : CT_OK;
		}
		if (rc) {
			free(jobs);
			return rc;
		}
		uint64_t size = ct_st_builder_file_size(plan->shards[s].builder);
		if (size)
			jobs[n_jobs++] = (reserve_job){ o->files[idx].node->path,
							 o->files[idx].name, size };
		/* closed until the first write: descriptors must not grow with shards */
		close(fd);
		o->sinks[s] = (shard_sink){ o, idx };
		sinks[s] = (ct_sink){ shard_pwrite, &o->sinks[s] };
	}
	int rc = reserve_space(jobs, n_jobs, threads, err);
	free(jobs);
	return rc;
}

int cli_output_put(cli_output *o, const char *name, const char *data, size_t len,
		   ct_error *err)
{
	size_t idx;
	int fd;
	int rc = new_file(o, name, &idx, &fd, err);
	if (rc)
		return rc;
	rc = write_all(fd, name, data, len, 0, err);
	if (rc) {
		close(fd);
		return rc;
	}
	o->files[idx].synced = true;
	return sync_close(fd, name, err);
}

static int copy_file(cli_output *o, const char *src, const char *name, ct_error *err)
{
	int in;
	uint64_t size;
	int rc = ct_open_regular(src, &in, &size, err);
	if (rc)
		return rc;
	size_t idx;
	int fd;
	rc = new_file(o, name, &idx, &fd, err);
	if (rc) {
		close(in);
		return rc;
	}
	char buf[1 << 16];
	uint64_t off = 0;
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
		rc = write_all(fd, name, buf, (size_t)n, off, err);
		off += (uint64_t)n;
	}
	close(in);
	if (rc) {
		close(fd);
		return rc;
	}
	o->files[idx].synced = true;
	return sync_close(fd, name, err);
}

int cli_output_copy_others(cli_output *o, const ct_checkpoint *in, ct_error *err)
{
	if (!o->is_dir)
		return CT_OK;
	int rc = CT_OK;
	for (size_t i = 0; i < o->n_copies && !rc; i++) {
		char *src = join(in->dir, o->copies[i]);
		rc = src ? copy_file(o, src, o->copies[i], err) : ct_fail(err, CT_EIO, "out of memory");
		free(src);
	}
	return rc;
}

/* ------------------------------------------------------------ commit --- */

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

static int appeared(const cli_output *o, ct_error *err)
{
	return ct_fail(err, CT_EUSAGE, "%s: %s while writing; nothing replaced (remove it or "
		       "choose another OUTPUT)", o->dest, o->replace ? "was replaced by another "
		       "file" : "appeared");
}

/* Moves src to dst only if dst does not exist, atomically. */
static int move_noreplace(const cli_output *o, const char *src, bool dir, ct_error *err)
{
	if (renameat2(AT_FDCWD, src, AT_FDCWD, o->dest, RENAME_NOREPLACE) == 0)
		return CT_OK;
	int e = errno;
	if (e == EEXIST || e == ENOTEMPTY)
		return appeared(o, err);
	if (e != EINVAL && e != ENOSYS && e != EOPNOTSUPP)
		return ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", o->dest,
			       strerror(e));
	/* a file system without RENAME_NOREPLACE */
	if (!dir) {
		if (link(src, o->dest) == 0) {
			unlink(src);
			return CT_OK;
		}
		e = errno;
		return e == EEXIST ? appeared(o, err) :
		       ct_fail(err, CT_EIO, "%s: cannot link into place: %s", o->dest, strerror(e));
	}
	/* claim the name with an empty directory, which rename() may replace;
	 * one that someone filled meanwhile is theirs (ENOTEMPTY) */
	if (mkdir(o->dest, 0700) != 0) {
		e = errno;
		return e == EEXIST ? appeared(o, err) :
		       ct_fail(err, CT_EIO, "%s: cannot create: %s", o->dest, strerror(e));
	}
	if (rename(src, o->dest) == 0)
		return CT_OK;
	e = errno;
	rmdir(o->dest);   /* only if still empty, i.e. still ours */
	return e == EEXIST || e == ENOTEMPTY ? appeared(o, err) :
	       ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", o->dest, strerror(e));
}

/* Removes a replaced model directory: its model files, then itself.
 * Anything else (which appeared after the check) stays, and so does the
 * directory; false then. */
static bool remove_model_dir(const cli_output *o, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    (model_file_name(de->d_name) || job_writes(o, de->d_name)))
			unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	return rmdir(path) == 0;
}

/* Swaps src and the existing dest, then makes sure what came out is what
 * was checked at the start; if not, swaps back. *old_at: where the
 * replaced output now is (src's name). Without RENAME_EXCHANGE (some file
 * systems), *old_at stays NULL and errno says so. */
static int exchange_checked(cli_output *o, const char *src, char **old_at, ct_error *err)
{
	if (renameat2(AT_FDCWD, src, AT_FDCWD, o->dest, RENAME_EXCHANGE) != 0) {
		int e = errno;
		if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP)
			return CT_OK;
		return ct_fail(err, CT_EIO, "%s: cannot replace: %s", o->dest, strerror(e));
	}
	struct stat st;
	if (lstat(src, &st) != 0 || st.st_dev != o->old_dev || st.st_ino != o->old_ino) {
		/* replaced by someone between our look and the swap: give it back */
		renameat2(AT_FDCWD, src, AT_FDCWD, o->dest, RENAME_EXCHANGE);
		return appeared(o, err);
	}
	*old_at = strdup(src);
	return *old_at ? CT_OK : ct_fail(err, CT_EIO, "out of memory");
}

/* Puts the finished output in place with the handled signals blocked, so
 * that a signal sees either the temporaries (and removes them) or the
 * committed output (and leaves it). *old_at: where a replaced output now
 * is, to be removed. */
static int put_in_place(cli_output *o, char **old_at, ct_error *err)
{
	*old_at = NULL;
	const char *src = o->is_dir ? o->work_dir : o->files[0].node->path;
	struct stat st;
	if (lstat(o->dest, &st) != 0)
		return move_noreplace(o, src, o->is_dir, err);
	/* only what was checked at the start may be replaced */
	if (!o->replace || st.st_dev != o->old_dev || st.st_ino != o->old_ino)
		return appeared(o, err);
	int rc = o->is_dir ? check_replaceable_dir(o, err) : CT_OK;
	if (!rc)
		rc = exchange_checked(o, src, old_at, err);
	if (rc || *old_at)
		return rc;
	/* without RENAME_EXCHANGE: a file is replaced by rename(); a directory
	 * is moved aside, the new one moved in */
	if (!o->is_dir) {
		if (rename(src, o->dest) != 0)
			return ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", o->dest,
				       strerror(errno));
		return CT_OK;
	}
	char *aside = temp_name(o->dest, "old");
	if (!aside)
		return ct_fail(err, CT_EIO, "out of memory");
	if (rename(o->dest, aside) != 0) {
		int e = errno;
		free(aside);
		return ct_fail(err, CT_EIO, "%s: cannot replace: %s", o->dest, strerror(e));
	}
	rc = move_noreplace(o, o->work_dir, true, err);
	if (rc) {
		rename(aside, o->dest);
		free(aside);
		return rc;
	}
	*old_at = aside;
	return CT_OK;
}

int cli_output_put_record(cli_output *o, const char *name, const char *data, size_t len,
			  ct_error *err)
{
	char *final = join(o->staging, name);
	char *tmp = final ? temp_name(final, "tmp") : NULL;
	temp_node *node = tmp ? register_temp(tmp) : NULL;
	free(tmp);
	if (!node) {
		free(final);
		return ct_fail(err, CT_EIO, "out of memory");
	}
	int rc = CT_OK;
	int fd = open(node->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		rc = ct_fail(err, CT_EIO, "%s: cannot create: %s", node->path, strerror(errno));
	if (!rc) {
		rc = write_all(fd, name, data, len, 0, err);
		if (rc)
			close(fd);
		else
			rc = sync_close(fd, name, err);
	}
	/* the same bytes from a racing job of the same slice may land first:
	 * rename() then replaces them with their equal */
	if (!rc && rename(node->path, final) != 0)
		rc = ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", final,
			     strerror(errno));
	if (rc)
		unlink(node->path);
	unregister_last(node);
	free(final);
	return rc ? rc : fsync_dir(o->staging, err);
}

/* Removes the staging directory: the records and whatever killed jobs
 * left in their work directories (one level of them; links not followed),
 * by the names split jobs give them (ours_in_staging); anything else, put
 * there after the check before the work, is kept, and so is the directory. */
static bool remove_staging(const cli_output *o)
{
	int fd = open(o->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		struct stat st;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) != 0 || !ours_in_staging(o, fd, n, &st))
			continue;
		if (!S_ISDIR(st.st_mode)) {
			unlinkat(fd, n, 0);
			continue;
		}
		int sub = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *sd = sub >= 0 ? fdopendir(sub) : NULL;
		if (!sd) {
			if (sub >= 0)
				close(sub);
			continue;
		}
		struct dirent *se;
		while ((se = readdir(sd))) {
			struct stat ss;
			if (fstatat(sub, se->d_name, &ss, AT_SYMLINK_NOFOLLOW) == 0 &&
			    ours_in_work_dir(o, se->d_name, &ss))
				unlinkat(sub, se->d_name, 0);
		}
		closedir(sd);
		unlinkat(fd, n, AT_REMOVEDIR);
	}
	closedir(d);
	return rmdir(o->staging) == 0;
}

/* A split job's or --finalize's commit: each file moved into OUTPUT in the
 * order it was made (for --finalize: the index, the other files, then
 * config.json), replacing what an earlier run of the same slice left. */
static int commit_split(cli_output *o, ct_error *err)
{
	for (size_t i = 0; i < o->n_files; i++) {
		int rc = sync_file(o, i, err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < o->n_files; i++) {
		char *to = join(o->dest, o->files[i].name);
		if (!to)
			return ct_fail(err, CT_EIO, "out of memory");
		int rc = rename(o->files[i].node->path, to) == 0 ? CT_OK :
			 ct_fail(err, CT_EIO, "%s: cannot rename into place: %s", to,
				 strerror(errno));
		free(to);
		if (rc)
			return rc;
	}
	int rc = fsync_dir(o->dest, err);
	if (rc)
		return rc;
	rmdir(o->work_dir);
	o->committed = true;
	unregister_temps();
	if (o->finalize) {
		if (!remove_staging(o))
			warn_safe("%s: could not be removed entirely: what split jobs did not write "
				  "there is kept (move it out, then remove the directory by hand: the "
				  "output is complete)", o->staging);
		rc = fsync_dir(o->dest, err);
	}
	return rc;
}

int cli_output_commit(cli_output *o, ct_error *err)
{
	if (cli_pipe_broken())
		return ct_fail(err, CT_EIO, "standard output or error: broken pipe");
	if (o->split)
		return commit_split(o, err);
	for (size_t i = 0; i < o->n_files; i++) {
		int rc = sync_file(o, i, err);
		if (rc)
			return rc;
	}
	if (o->is_dir) {
		int rc = fsync_dir(o->work_dir, err);
		if (rc)
			return rc;
	}
	sigset_t mask;
	block_signals(&mask);
	char *old_at = NULL;
	int rc = put_in_place(o, &old_at, err);
	if (!rc) {
		o->committed = true;
		unregister_temps();
	}
	restore_signals(&mask);
	if (rc)
		return rc;
	if (old_at && !o->is_dir)
		unlink(old_at);   /* the replaced file */
	else if (old_at && !remove_model_dir(o, old_at)) {
		/* not under a tmp name, which a later run would call removable */
		char *kept = strstr(old_at, ".ctensors-tmp-") ? temp_name(o->dest, "old") : NULL;
		if (kept && rename(old_at, kept) == 0)
			warn_safe("%s: the replaced output is kept in %s: files appeared in it while "
				  "writing", o->dest, kept);
		else
			warn_safe("%s: the replaced output is kept in %s: files appeared in it while "
				  "writing", o->dest, old_at);
		free(kept);
	}
	free(old_at);
	return fsync_dir(o->parent, err);
}

void cli_output_close(cli_output *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_files; i++)
		if (o->files[i].fd >= 0)
			close(o->files[i].fd);
	if (!o->committed) {
		for (size_t i = 0; i < o->n_files; i++)
			unlink(o->files[i].node->path);
		if (o->work_dir)
			rmdir(o->work_dir);
		unregister_temps();
		/* a job that failed before any slice was written leaves no
		 * OUTPUT behind it: only what it made, only if still empty */
		if (o->made_staging && rmdir(o->staging) == 0 && o->made_dest)
			rmdir(o->dest);
	}
	for (size_t i = 0; i < o->n_files; i++)
		free(o->files[i].name);
	for (size_t i = 0; i < o->n_writes; i++)
		free(o->writes[i]);
	for (size_t i = 0; i < o->n_copies; i++)
		free(o->copies[i]);
	free(o->writes);
	free(o->copies);
	free(o->files);
	free(o->sinks);
	free(o->dest);
	free(o->parent);
	free(o->work_dir);
	free(o->staging);
	pthread_cond_destroy(&o->freed);
	pthread_mutex_destroy(&o->lock);
	free(o);
}
