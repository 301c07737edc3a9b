/* auth/holdfast_passwd.c - holdfast-passwd, mosquitto_passwd's interface
 * for the files Holdfast and mosquitto both read.
 *
 *   holdfast-passwd [-H sha512|sha512-pbkdf2] [-I iterations] [-c | -D]
 *                   passwordfile username
 *   holdfast-passwd [-H ...] [-I ...] [-c] -b passwordfile username password
 *   holdfast-passwd [-H ...] [-I ...] -U passwordfile
 *
 * It writes "$7$" lines (PBKDF2-HMAC-SHA512, 1000 iterations unless -I, a
 * 12-byte random salt from RAND_bytes), which mosquitto 2.0 and later
 * read, or with -H sha512 "$6$" lines, which every mosquitto reads; it reads
 * whatever passwd.c reads, and refuses to touch a file it cannot parse (the
 * message names FILE:LINE). Without -b the password is asked twice on the
 * terminal with echo off (or read as two lines from a non-terminal stdin).
 *
 * Where it differs from mosquitto_passwd 2.0.11: comments and blank lines
 * are kept (mosquitto_passwd calls such a file corrupt); -U leaves lines
 * that already hold a $6$/$7$ hash alone (mosquitto_passwd hashes the hash,
 * which locks the user out); every user line of the name is updated or
 * deleted, not only the first. A file is written to a temporary file in
 * the same directory, synced and renamed over the old one: a new file gets
 * mode 0600, an existing one keeps its mode and owner (a 0640 root:mosquitto
 * file stays readable by the broker). "-c -" writes to standard output.
 *
 * Passwords are wiped from memory after use. Single-threaded; the only
 * global is the terminal state restored on a signal. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth_int.h"
#include "util.h"

#define MAX_PASSWORD 65535 /* an MQTT password field */

struct opts {
	enum hf_pw_kind kind;
	uint32_t iterations;
	bool batch, create, delete, upgrade;
	const char *file, *user, *password;
};

static void
usage(FILE *f)
{
	fputs("holdfast-passwd manages password files for Holdfast (and "
	      "mosquitto).\n\n"
	      "Usage: holdfast-passwd [-H sha512 | -H sha512-pbkdf2] "
	      "[-I iterations] [-c | -D] passwordfile username\n"
	      "       holdfast-passwd [-H sha512 | -H sha512-pbkdf2] "
	      "[-I iterations] [-c] -b passwordfile username password\n"
	      "       holdfast-passwd [-H ...] [-I iterations] -U "
	      "passwordfile\n"
	      "       holdfast-passwd -h | --help | --version\n"
	      " -b : batch mode: the password is the last argument (it shows "
	      "in ps and the shell history).\n"
	      " -c : create a new password file, overwriting an existing one "
	      "(\"-\": standard output).\n"
	      " -D : delete the username rather than adding or updating its "
	      "password.\n"
	      " -H : the hash: sha512-pbkdf2 (default; mosquitto 2.0 and "
	      "later read it) or sha512\n"
	      "      (for mosquitto 1.6 and earlier too).\n"
	      " -I : PBKDF2 iterations (default 1000).\n"
	      " -U : hash the plain-text passwords of a file (lines already "
	      "hashed are left as they are).\n"
	      "Usernames must not contain ':'. The file is written to a "
	      "temporary file and renamed;\n"
	      "a new file gets mode 0600, an existing one keeps its mode.\n",
	      f);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	int i = 1;

	*o = (struct opts){HF_PW_PBKDF2, HF_PW_ITER_DEFAULT,
	                   false,        false,
	                   false,        false,
	                   NULL,         NULL,
	                   NULL};
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--version")) {
			puts("holdfast-passwd version " HF_VERSION);
			exit(0);
		} else if (!strcmp(a, "-b")) {
			o->batch = true;
		} else if (!strcmp(a, "-c")) {
			o->create = true;
		} else if (!strcmp(a, "-D")) {
			o->delete = true;
		} else if (!strcmp(a, "-U")) {
			o->upgrade = true;
		} else if (!strcmp(a, "-H") && i + 1 < argc) {
			const char *h = argv[++i];
			if (!strcmp(h, "sha512-pbkdf2")) {
				o->kind = HF_PW_PBKDF2;
			} else if (!strcmp(h, "sha512")) {
				o->kind = HF_PW_SHA512;
			} else {
				fprintf(stderr,
				        "Error: Unknown hash type '%s' (sha512 "
				        "or sha512-pbkdf2).\n",
				        h);
				return -1;
			}
		} else if (!strcmp(a, "-I") && i + 1 < argc) {
			char *end;
			errno = 0;
			long n = strtol(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || n < 1 ||
			    n > INT_MAX) {
				fprintf(stderr,
				        "Error: Number of iterations "
				        "must be from 1 to 2147483647.\n");
				return -1;
			}
			o->iterations = (uint32_t)n;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			fprintf(stderr, "Error: Unknown option '%s'.\n", a);
			usage(stderr);
			return -1;
		}
	}
	if (o->create && o->delete) {
		fputs("Error: -c and -D cannot be used together.\n", stderr);
		return -1;
	}
	if (o->upgrade && (o->create || o->delete || o->batch)) {
		fputs("Error: -U cannot be used with -b, -c or -D.\n", stderr);
		return -1;
	}
	if (o->batch && o->delete) {
		fputs("Error: -b and -D cannot be used together.\n", stderr);
		return -1;
	}
	int want = o->upgrade ? 1 : o->batch ? 3 : 2;
	if (argc - i != want) {
		usage(stderr);
		return -1;
	}
	o->file = argv[i];
	if (!o->upgrade) {
		o->user = argv[i + 1];
		if (o->batch)
			o->password = argv[i + 2];
		if (!*o->user || strchr(o->user, ':')) {
			fputs("Error: Username must not be empty or contain "
			      "the ':' character.\n",
			      stderr);
			return -1;
		}
		if (strchr(o->user, '\n') || strchr(o->user, '\r')) {
			fputs("Error: Username must not contain a line "
			      "break.\n",
			      stderr);
			return -1;
		}
	}
	return 0;
}

/* ---- asking for a password --------------------------------------------- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void
restore_tty(int sig)
{
	if (tty_changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read one line of at most MAX_PASSWORD bytes into buf (its '\n' and a
 * '\r' before it dropped). Returns its length, or -1 at end of input or
 * when it is too long. */
static long
read_line(char *buf, size_t cap)
{
	size_t n = 0;
	int c;

	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 >= cap)
			return -1;
		buf[n++] = (char)c;
	}
	if (c == EOF && n == 0)
		return -1;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (long)n;
}

static long
prompt(const char *what, char *buf, size_t cap)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios t;
	long n;

	if (tty) {
		fputs(what, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
			t = saved_tty;
			t.c_lflag &= (tcflag_t)~ECHO;
			t.c_lflag |= ECHONL;
			signal(SIGINT, restore_tty);
			signal(SIGTERM, restore_tty);
			signal(SIGHUP, restore_tty);
			tty_changed =
			    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0;
		}
	}
	n = read_line(buf, cap);
	if (tty_changed) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		tty_changed = 0;
	}
	return n;
}

/* The password twice; returns a malloc'd copy or NULL (message printed). */
static char *
ask_password(void)
{
	char *a = malloc(MAX_PASSWORD + 2), *b = malloc(MAX_PASSWORD + 2);
	long na, nb;
	char *ret = NULL;

	if (!a || !b) {
		fputs("Error: Out of memory.\n", stderr);
	} else if ((na = prompt("Password: ", a, MAX_PASSWORD + 2)) < 0) {
		fputs("Error: No password given (or longer than 65535 "
		      "bytes).\n",
		      stderr);
	} else if (na == 0) {
		fputs("Error: Empty password.\n", stderr);
	} else if ((nb = prompt("Reenter password: ", b, MAX_PASSWORD + 2)) !=
	               na ||
	           memcmp(a, b, (size_t)na) != 0) {
		fputs("Error: Passwords do not match.\n", stderr);
	} else {
		ret = a;
		a = NULL;
	}
	if (a)
		OPENSSL_cleanse(a, MAX_PASSWORD + 2);
	if (b)
		OPENSSL_cleanse(b, MAX_PASSWORD + 2);
	free(a);
	free(b);
	return ret;
}

/* ---- the file ------------------------------------------------------------ */

struct out {
	char *p;
	size_t len, cap;
};

static int
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t nc = o->cap ? o->cap : 256;
		while (nc < o->len + n + 1)
			nc *= 2;
		char *np = realloc(o->p, nc);
		if (!np)
			return -1;
		o->p = np;
		o->cap = nc;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
	return 0;
}

static int
put_entry(struct out *o, const char *user, size_t ulen, const char *hash)
{
	return put(o, user, ulen) || put(o, ":", 1) ||
	               put(o, hash, strlen(hash)) || put(o, "\n", 1)
	           ? -1
	           : 0;
}

static void
out_free(struct out *o)
{
	if (o->p)
		OPENSSL_cleanse(o->p, o->cap);
	free(o->p);
}

/* Write o to path: a temporary file beside it, synced, renamed over it. A
 * new file is 0600 (mkstemp); an existing one keeps its mode and owner. */
static int
write_file(const char *path, const struct out *o)
{
	char *real = NULL, *tmp = NULL;
	struct stat st;
	bool exists = lstat(path, &st) == 0;
	int fd = -1, rc = -1;

	if (exists && S_ISLNK(st.st_mode)) { /* update the link's target */
		if (!(real = realpath(path, NULL)) || stat(real, &st) != 0) {
			fprintf(stderr, "Error: Cannot resolve %s: %s.\n", path,
			        strerror(errno));
			goto out;
		}
		path = real;
	}
	size_t n = strlen(path) + 8;
	if (!(tmp = malloc(n)))
		goto out;
	snprintf(tmp, n, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "Error: Cannot create a file beside %s: %s.\n",
		        path, strerror(errno));
		tmp[0] = '\0'; /* nothing to remove */
		goto out;
	}
	if (exists) {
		if (fchmod(fd, st.st_mode & 07777) != 0)
			goto io;
		if (fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM)
			goto io;
	}
	for (size_t off = 0; off < o->len;) {
		ssize_t w = write(fd, o->p + off, o->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto io;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto io;
	if (close(fd) != 0) {
		fd = -1;
		goto io;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto io;
	rc = 0;
	goto out;
io:
	fprintf(stderr, "Error: Cannot write %s: %s.\n", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp && tmp[0])
		unlink(tmp);
	free(tmp);
	free(real);
	return rc;
}

/* The new hash for password, or NULL (message printed). */
static char *
make_hash(const struct opts *o, const char *password)
{
	char *h = hf_pw_make(o->kind, o->iterations, HF_PW_SALT_DEFAULT,
	                     (const uint8_t *)password, strlen(password));
	if (!h)
		fputs("Error: Cannot hash the password (out of memory or no "
		      "randomness).\n",
		      stderr);
	return h;
}

static bool
looks_hashed(const char *h, size_t n)
{
	return (n >= 3 && (!memcmp(h, "$6$", 3) || !memcmp(h, "$7$", 3))) ||
	       (n >= 7 && !memcmp(h, "$argon2", 7));
}

/* Rewrite the lines of text into o: for add/update, the user's lines get
 * hash (and it is appended when there was none); for delete, they go;
 * for upgrade, plain-text passwords are hashed. Every other line is kept
 * as it is. Returns 0, or -1 with a message (the file is not touched). */
static int
rewrite(const struct opts *o, const char *text, size_t len, const char *hash,
        struct out *out, int *found)
{
	struct hf_lines it = {text, text + len, 0};
	const char *line, *user, *h, *why;
	size_t n, ulen, hlen, ul = o->user ? strlen(o->user) : 0;
	uint8_t salt[HF_PW_SALT_MAX];
	struct hf_pw_hash ph;

	*found = 0;
	while (hf_lines_next(&it, &line, &n)) {
		int rc =
		    hf_pw_line_split(line, n, &user, &ulen, &h, &hlen, &why);
		bool hashed =
		    rc > 0 && !hf_pw_hash_parse(h, hlen, &ph, salt, &why);
		/* -U hashes plain text, never something that looks like a
		 * hash it cannot read. */
		bool plain =
		    rc > 0 && !hashed && o->upgrade && !looks_hashed(h, hlen);
		if (rc < 0 || (rc > 0 && !hashed && !plain)) {
			fprintf(stderr, "Error: %s:%lu: %s.\n", o->file,
			        it.lineno, why);
			return -1;
		}
		bool mine = rc > 0 && ulen == ul && !memcmp(user, o->user, ul);
		if (plain) {
			char *pw = strndup(h, hlen), *nh;
			if (!pw)
				goto oom;
			nh = make_hash(o, pw);
			OPENSSL_cleanse(pw, hlen);
			free(pw);
			if (!nh || put_entry(out, user, ulen, nh)) {
				free(nh);
				return -1;
			}
			free(nh);
			++*found;
			continue;
		}
		if (mine) {
			++*found;
			if (o->delete)
				continue;
			if (put_entry(out, user, ulen, hash))
				goto oom;
			continue;
		}
		if (put(out, line, n) || put(out, "\n", 1))
			goto oom;
	}
	if (!o->delete &&!o->upgrade && !*found &&
	    put_entry(out, o->user, ul, hash))
		goto oom;
	return 0;
oom:
	fputs("Error: Out of memory.\n", stderr);
	return -1;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct out out = {0};
	char *asked = NULL, *hash = NULL, *text = NULL;
	char err[1024];
	size_t len = 0;
	int found = 0, rc = 1;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (parse_args(argc, argv, &o) != 0)
		return 1;
	if (!o.create &&
	    !(text = hf_auth_read_file(o.file, &len, err, sizeof(err)))) {
		fprintf(stderr, "Error: Unable to open password file %s.\n",
		        err);
		return 1;
	}
	if (o.delete || o.upgrade) {
		if (rewrite(&o, text, len, NULL, &out, &found))
			goto done;
		if (o.delete &&!found) {
			fprintf(stderr,
			        "Warning: User %s not found in password "
			        "file.\n",
			        o.user);
			goto done;
		}
	} else {
		/* Check the file before asking for anything. */
		if (!o.create && rewrite(&o, text, len, "", &out, &found))
			goto done;
		out_free(&out);
		out = (struct out){0};
		const char *pw = o.password;
		if (!pw && !(pw = asked = ask_password()))
			goto done;
		if (!*pw) {
			fputs("Error: Empty password.\n", stderr);
			goto done;
		}
		if (strlen(pw) > MAX_PASSWORD) {
			fputs("Error: Password longer than 65535 bytes.\n",
			      stderr);
			goto done;
		}
		if (!(hash = make_hash(&o, pw)))
			goto done;
		if (o.create ? put_entry(&out, o.user, strlen(o.user), hash)
		             : rewrite(&o, text, len, hash, &out, &found)) {
			if (o.create)
				fputs("Error: Out of memory.\n", stderr);
			goto done;
		}
	}
	if (o.create && !strcmp(o.file, "-")) {
		if (fwrite(out.p, 1, out.len, stdout) != out.len ||
		    fflush(stdout) != 0) {
			fputs("Error: Cannot write to standard output.\n",
			      stderr);
			goto done;
		}
	} else if (write_file(o.file, &out) != 0) {
		goto done;
	}
	rc = 0;
done:
	if (asked) {
		OPENSSL_cleanse(asked, strlen(asked));
		free(asked);
	}
	free(hash);
	if (text) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	out_free(&out);
	return rc;
}
