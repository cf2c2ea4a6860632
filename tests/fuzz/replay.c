/* replay.c - a libFuzzer harness as a plain program: runs every file named
 * on the command line through LLVMFuzzerTestOneInput once, so that `make
 * test` replays the corpus on the normal and the sanitizer builds and a
 * crash found once stays fixed. Linked with one harness (fuzz_*.c). */
#include <libgen.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
main(int argc, char **argv)
{
	int n = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
		size_t got = buf ? fread(buf, 1, (size_t)len, f) : 0;
		fclose(f);
		LLVMFuzzerTestOneInput(buf, got);
		free(buf);
		n++;
	}
	printf("%s: %d passed, 0 failed\n", basename(argv[0]), n);
	return 0;
}
