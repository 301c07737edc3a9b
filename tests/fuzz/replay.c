/* tests/fuzz/replay.c - run a libFuzzer target over a committed corpus, as
 * a plain program (so gcc builds and CTest replay every input that fuzzing
 * found interesting, in every CI run).
 *
 * Usage: replay DIR... - each regular file in each DIR is read into an
 * exact-size heap block (so ASan sees any over-read) and passed to
 * LLVMFuzzerTestOneInput(), which aborts on a failed check. Prints
 * "N passed, 0 failed" at the end. Single-threaded. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f)
		return -1;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return 0;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf ||
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
	free(buf);
	return 1;
}

int
main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d) {
			fprintf(stderr, "cannot open %s\n", argv[i]);
			return 1;
		}
		while ((e = readdir(d))) {
			char path[4096];
			int rc;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			         e->d_name);
			rc = run_file(path);
			if (rc < 0) {
				fprintf(stderr, "cannot read %s\n", path);
				closedir(d);
				return 1;
			}
			n += rc;
		}
		closedir(d);
	}
	if (n == 0) {
		fprintf(stderr, "no corpus files found\n");
		return 1;
	}
	fprintf(stderr, "%d passed, 0 failed\n", n);
	return 0;
}
