/* Replays a fuzz target's corpus without libFuzzer, so `make check` runs every
 * saved seed and past crash under gcc's ASan+UBSan too. Arguments are files or
 * directories (every regular file inside, not recursive). Prints one TAP line
 * per input and exits non-zero if the target aborted (sanitizers abort). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_INPUT_MAX (16u * 1024u * 1024u)

static int replay_file(const char *path, unsigned *n) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf;
        size_t size;

        if (!f) {
                fprintf(stderr, "replay: cannot open %s\n", path);
                return -1;
        }
        buf = malloc(REPLAY_INPUT_MAX);
        if (!buf) {
                fclose(f);
                return -1;
        }
        size = fread(buf, 1, REPLAY_INPUT_MAX, f);
        fclose(f);
        /* an exact-size copy so ASan sees reads past the input's end */
        uint8_t *exact = malloc(size ? size : 1);
        if (!exact) {
                free(buf);
                return -1;
        }
        memcpy(exact, buf, size);
        free(buf);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
        printf("ok %u - %s\n", ++*n, path);
        return 0;
}

int main(int argc, char **argv) {
        unsigned n = 0;
        int failed = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: not found\n", argv[i]);
                        failed = 1;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed |= replay_file(argv[i], &n) < 0;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                struct dirent *de;
                if (!d) {
                        failed = 1;
                        continue;
                }
                while ((de = readdir(d))) {
                        char p[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
                        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
                                failed |= replay_file(p, &n) < 0;
                }
                closedir(d);
        }
        if (n == 0) {
                fprintf(stderr, "replay: no inputs\n");
                return 1;
        }
        printf("1..%u\n", n);
        return failed;
}
