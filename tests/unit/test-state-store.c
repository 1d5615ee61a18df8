/* Tests for agent/core/state-store.c: the file format (built and parsed),
 * the directory lock, stale temp removal, each kind of corruption refused
 * with its errno and the file left untouched, and a crash test that
 * SIGKILLs a writer a thousand times at random points. Each test gets a
 * fresh directory under $TMPDIR (default /tmp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/state-store.h"

/* The layout, written out independently of the header's constants. */
#define OFF_VERSION 8
#define OFF_LENGTH 12
#define OFF_DIGEST 20
#define OFF_PAYLOAD 52

/* Crash test parameters: iterations, pad size, how long the parent lets the
 * writer run before SIGKILL, and how long it waits for a first save. */
#define CRASH_ITERATIONS 1000
#define CRASH_PAD_MAX (64 * 1024)
#define CRASH_SLEEP_MAX_US 3000
#define CRASH_FIRST_SAVE_TIMEOUT_MS 10000
#define CRASH_DOC "crash"

typedef struct TestDir {
        char path[256];
} TestDir;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static int setup_dir(void **state) {
        const char *tmp = getenv("TMPDIR");
        TestDir *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        snprintf(d->path, sizeof(d->path), "%s/test-state-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(d->path)) {
                free(d);
                return -1;
        }
        *state = d;
        return 0;
}

static int teardown_dir(void **state) {
        TestDir *d = *state;

        nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
        return 0;
}

/* DIR/sub, a store directory that does not exist yet */
static char *store_path(void **state) {
        TestDir *d = *state;
        char *p;

        assert_true(asprintf(&p, "%s/store", d->path) >= 0);
        return p;
}

static char *doc_path(const char *dir, const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

static uint8_t *read_all(const char *path, size_t *ret_size) {
        struct stat st;
        uint8_t *buf;
        FILE *f = fopen(path, "rb");

        assert_non_null(f);
        assert_int_equal(fstat(fileno(f), &st), 0);
        buf = malloc(st.st_size ? (size_t) st.st_size : 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) st.st_size, f), (size_t) st.st_size);
        fclose(f);
        *ret_size = (size_t) st.st_size;
        return buf;
}

static void write_all_file(const char *path, const void *data, size_t size) {
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        if (size)
                assert_int_equal(fwrite(data, 1, size, f), size);
        assert_int_equal(fclose(f), 0);
}

static json_t *sample_doc(void) {
        json_t *doc = json_pack("{s:i, s:s, s:[i,i]}", "b", 2, "a", "hello", "list", 1, 2);
        assert_non_null(doc);
        return doc;
}

/* A state file assembled by hand, so tests can make ones our writer never
 * would: any version, any declared length, a wrong digest. */
static uint8_t *make_file(uint32_t version, const char *payload, size_t n, uint64_t declared,
                          bool good_digest, size_t *ret_size) {
        uint8_t digest[32];
        unsigned int dn = 0;
        uint8_t *buf = malloc(OFF_PAYLOAD + n);
        Writer w;

        assert_non_null(buf);
        assert_int_equal(EVP_Digest(payload, n, digest, &dn, EVP_sha256(), NULL), 1);
        if (!good_digest)
                digest[0] ^= 0xff;
        writer_init(&w, buf, OFF_PAYLOAD + n);
        writer_put_bytes(&w, "STRATAS\n", 8);
        writer_put_be32(&w, version);
        writer_put_be64(&w, declared);
        writer_put_bytes(&w, digest, sizeof(digest));
        writer_put_bytes(&w, payload, n);
        assert_int_equal(writer_error(&w), 0);
        *ret_size = OFF_PAYLOAD + n;
        return buf;
}

static void test_state_file_build_layout(void **state) {
        json_auto_t *doc = sample_doc();
        static const char payload[] = "{\"a\":\"hello\",\"b\":2,\"list\":[1,2]}";
        _cleanup_free_ uint8_t *data = NULL;
        uint8_t digest[32];
        unsigned int dn = 0;
        size_t size = 0;
        (void) state;

        assert_int_equal(state_file_build(doc, &data, &size), 0);
        assert_int_equal(size, OFF_PAYLOAD + strlen(payload));
        assert_memory_equal(data, "STRATAS\n", 8);
        assert_memory_equal(data + OFF_VERSION, "\0\0\0\1", 4);
        assert_int_equal(strlen(payload), 0x20);
        assert_memory_equal(data + OFF_LENGTH, "\0\0\0\0\0\0\0\x20", 8);
        assert_int_equal(EVP_Digest(payload, strlen(payload), digest, &dn, EVP_sha256(), NULL), 1);
        assert_memory_equal(data + OFF_DIGEST, digest, 32);
        /* sorted keys, compact */
        assert_memory_equal(data + OFF_PAYLOAD, payload, strlen(payload));
}

static void test_state_file_build_scalar_invalid(void **state) {
        json_auto_t *doc = json_integer(3);
        uint8_t *data = NULL;
        size_t size = 0;
        (void) state;

        assert_int_equal(state_file_build(doc, &data, &size), -EINVAL);
        assert_int_equal(state_file_build(NULL, &data, &size), -EINVAL);
        assert_null(data);
}

static void test_state_file_build_too_big(void **state) {
        _cleanup_free_ char *big = malloc(STATE_FILE_MAX);
        json_auto_t *doc = NULL;
        uint8_t *data = NULL;
        size_t size = 0;
        (void) state;

        assert_non_null(big);
        memset(big, 'x', STATE_FILE_MAX);
        /* {"s":"xxx..."} is 8 bytes of JSON around the string */
        doc = json_pack("{s:s%}", "s", big, (size_t) (STATE_FILE_MAX - OFF_PAYLOAD - 8 + 1));
        assert_non_null(doc);
        assert_int_equal(state_file_build(doc, &data, &size), -E2BIG);
        json_decref(doc);

        /* one byte less is exactly the cap, and parses back */
        doc = json_pack("{s:s%}", "s", big, (size_t) (STATE_FILE_MAX - OFF_PAYLOAD - 8));
        assert_non_null(doc);
        assert_int_equal(state_file_build(doc, &data, &size), 0);
        assert_int_equal(size, STATE_FILE_MAX);
        json_t *back = NULL;
        assert_int_equal(state_file_parse(data, size, &back, NULL), 0);
        assert_true(json_equal(back, doc));
        json_decref(back);
        free(data);
}

static void test_state_file_parse_ok(void **state) {
        json_auto_t *doc = sample_doc();
        json_auto_t *back = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *detail = NULL;
        size_t size;
        (void) state;

        assert_int_equal(state_file_build(doc, &data, &size), 0);
        assert_int_equal(state_file_parse(data, size, &back, &detail), 0);
        assert_null(detail);
        assert_true(json_equal(doc, back));
}

/* Runs state_file_parse on data and checks errno, that *ret stayed
 * untouched, and that the detail mentions `what`. */
static void check_parse_refused(const uint8_t *data, size_t size, int expected, const char *what) {
        json_t *sentinel = (json_t *) (uintptr_t) 0x1;
        json_t *ret = sentinel;
        char *detail = NULL;

        assert_int_equal(state_file_parse(data, size, &ret, &detail), expected);
        assert_ptr_equal(ret, sentinel);
        assert_non_null(detail);
        if (!strstr(detail, what))
                fail_msg("detail \"%s\" does not mention \"%s\"", detail, what);
        free(detail);
}

static void test_state_file_parse_every_truncation_refused(void **state) {
        json_auto_t *doc = sample_doc();
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        (void) state;

        assert_int_equal(state_file_build(doc, &data, &size), 0);
        for (size_t n = 0; n < size; n++) {
                /* an exact-size copy, so ASan catches any read past n */
                _cleanup_free_ uint8_t *copy = malloc(n ? n : 1);
                assert_non_null(copy);
                memcpy(copy, data, n);
                check_parse_refused(copy, n, -EBADMSG, "truncated");
        }
}

static void test_state_file_parse_bad_magic(void **state) {
        static const char payload[] = "{}";
        _cleanup_free_ uint8_t *data = make_file(1, payload, 2, 2, true, &(size_t) { 0 });
        (void) state;

        data[7] = '\r';
        check_parse_refused(data, OFF_PAYLOAD + 2, -EBADMSG, "not a strata state file");
}

static void test_state_file_parse_newer_version(void **state) {
        size_t size;
        _cleanup_free_ uint8_t *data = make_file(STATE_FORMAT_VERSION + 1, "{}", 2, 2, true, &size);
        _cleanup_free_ uint8_t *garbage = make_file(0xffffffffu, "", 0, 99, false, &size);
        (void) state;

        check_parse_refused(data, OFF_PAYLOAD + 2, -EPROTONOSUPPORT,
                            "written by a newer version (format 2, this build reads up to 1)");
        /* the version is checked before the rest: a newer layout may differ */
        check_parse_refused(garbage, 12, -EPROTONOSUPPORT, "format 4294967295");
}

static void test_state_file_parse_version_zero(void **state) {
        size_t size;
        _cleanup_free_ uint8_t *data = make_file(0, "{}", 2, 2, true, &size);
        (void) state;

        check_parse_refused(data, size, -EBADMSG, "invalid format version 0");
}

static void test_state_file_parse_length_too_long(void **state) {
        size_t size;
        _cleanup_free_ uint8_t *data = make_file(1, "{}", 2, 3, true, &size);
        _cleanup_free_ uint8_t *huge = make_file(1, "{}", 2, UINT64_MAX, true, &size);
        (void) state;

        check_parse_refused(data, size, -EBADMSG, "truncated payload (header says 3 bytes, 2 present)");
        check_parse_refused(huge, size, -EBADMSG, "truncated payload");
}

static void test_state_file_parse_trailing_garbage(void **state) {
        size_t size;
        _cleanup_free_ uint8_t *data = make_file(1, "{}xyz", 5, 2, true, &size);
        (void) state;

        check_parse_refused(data, size, -EBADMSG, "3 bytes of trailing data");
}

static void test_state_file_parse_bad_checksum(void **state) {
        size_t size;
        _cleanup_free_ uint8_t *data = make_file(1, "{}", 2, 2, false, &size);
        (void) state;

        check_parse_refused(data, size, -EBADMSG, "checksum mismatch");
}

static void test_state_file_parse_not_json(void **state) {
        static const char *const payloads[] = {
                "", "{", "{\"a\":}", "\"just a string\"", "42", "{\"a\":1,\"a\":2}", "{} {}",
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
                size_t n = strlen(payloads[i]), size;
                _cleanup_free_ uint8_t *data = make_file(1, payloads[i], n, n, true, &size);
                check_parse_refused(data, size, -EBADMSG, "payload is not JSON");
        }
}

static void test_state_file_parse_too_big(void **state) {
        _cleanup_free_ uint8_t *data = calloc(1, STATE_FILE_MAX + 1);
        (void) state;

        assert_non_null(data);
        check_parse_refused(data, STATE_FILE_MAX + 1, -E2BIG, "over the 1048576-byte limit");
}

static void test_state_name_is_valid_table(void **state) {
        static const struct {
                const char *name;
                bool valid;
        } names[] = {
                { "node", true }, { "lease-0a", true }, { "-", true }, { "0", true },
                { "", false }, { "Node", false }, { "a/b", false }, { "..", false }, { ".", false },
                { ".lock", false }, { ".#node.1-2", false }, { "a b", false }, { "a_b", false },
                { "a\n", false }, { "\xc3\xa9", false },
        };
        char max[STATE_NAME_MAX + 2];
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (state_name_is_valid(names[i].name) != names[i].valid)
                        fail_msg("name \"%s\" should be %s", names[i].name, names[i].valid ? "valid" : "invalid");
        assert_false(state_name_is_valid(NULL));
        memset(max, 'a', sizeof(max));
        max[STATE_NAME_MAX] = 0;
        assert_true(state_name_is_valid(max));
        max[STATE_NAME_MAX] = 'a';
        max[STATE_NAME_MAX + 1] = 0;
        assert_false(state_name_is_valid(max));
}

static void test_state_store_open_creates_dir_0700(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        struct stat st;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(stat(dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_state_store_open_missing_parent(void **state) {
        TestDir *d = *state;
        _cleanup_free_ char *dir = NULL;
        StateStore *s = NULL;

        assert_true(asprintf(&dir, "%s/no/such", d->path) >= 0);
        assert_int_equal(state_store_open(dir, &s), -ENOENT);
        assert_null(s);
        assert_int_equal(state_store_open("", &s), -EINVAL);
}

static void test_state_store_open_second_busy(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        StateStore *t = NULL;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_open(dir, &t), -EBUSY);
        assert_null(t);
        s = state_store_free(s);
        assert_int_equal(state_store_open(dir, &t), 0);
        state_store_free(t);
}

static void test_state_store_open_other_process_busy(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        int status;
        pid_t pid;

        assert_int_equal(state_store_open(dir, &s), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                StateStore *t = NULL;
                _exit(state_store_open(dir, &t) == -EBUSY ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_state_store_open_removes_stale_temps(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_free_ char *temp = NULL, *temp2 = NULL, *other = NULL, *subdir = NULL;
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = sample_doc(), *back = NULL;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "node", doc), 0);
        s = state_store_free(s);

        temp = doc_path(dir, ".#node.1234-0");
        temp2 = doc_path(dir, ".#lease.99-7");
        other = doc_path(dir, "notes.txt");
        subdir = doc_path(dir, ".#somebody-elses-dir");
        write_all_file(temp, "STRATAS\n\0\0", 10);
        write_all_file(temp2, "", 0);
        write_all_file(other, "keep", 4);
        assert_int_equal(mkdir(subdir, 0700), 0);

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(access(temp, F_OK), -1);
        assert_int_equal(access(temp2, F_OK), -1);
        assert_int_equal(access(other, F_OK), 0);
        assert_int_equal(access(subdir, F_OK), 0);
        assert_int_equal(state_store_load(s, "node", &back), 0);
        assert_true(json_equal(doc, back));
}

static void test_state_store_free_null(void **state) {
        (void) state;
        assert_null(state_store_free(NULL));
}

static void test_state_store_save_load_round_trip(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = sample_doc(), *back = NULL, *arr = json_pack("[s,i,n]", "x", 1), *back2 = NULL;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "node", doc), 0);
        assert_int_equal(state_store_load(s, "node", &back), 0);
        assert_true(json_equal(doc, back));
        assert_int_equal(state_store_save(s, "list", arr), 0);
        assert_int_equal(state_store_load(s, "list", &back2), 0);
        assert_true(json_equal(arr, back2));

        /* and across a reopen */
        s = state_store_free(s);
        json_decref(back);
        back = NULL;
        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_load(s, "node", &back), 0);
        assert_true(json_equal(doc, back));
}

static void test_state_store_save_nul_in_string_round_trip(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = json_pack("{s:s%}", "k", "a\0b", (size_t) 3), *back = NULL;

        assert_non_null(doc);
        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "node", doc), 0);
        assert_int_equal(state_store_load(s, "node", &back), 0);
        assert_true(json_equal(doc, back));
}

static void test_state_store_save_replaces(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *one = json_pack("{s:i}", "v", 1), *two = json_pack("{s:i}", "v", 2), *back = NULL;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "node", one), 0);
        assert_int_equal(state_store_save(s, "node", two), 0);
        assert_int_equal(state_store_load(s, "node", &back), 0);
        assert_true(json_equal(two, back));
}

static void test_state_store_save_leaves_only_the_file(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_free_ char *path = NULL;
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = sample_doc();
        struct dirent *de;
        struct stat st;
        unsigned n = 0;
        DIR *d;

        assert_int_equal(state_store_open(dir, &s), 0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(state_store_save(s, "node", doc), 0);
        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                        if (strcmp(de->d_name, "node") && strcmp(de->d_name, ".lock"))
                                fail_msg("unexpected file %s", de->d_name);
                        n++;
                }
        closedir(d);
        assert_int_equal(n, 2);
        path = doc_path(dir, "node");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_state_store_save_invalid(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = sample_doc(), *scalar = json_string("x");

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "../node", doc), -EINVAL);
        assert_int_equal(state_store_save(s, ".lock", doc), -EINVAL);
        assert_int_equal(state_store_save(s, NULL, doc), -EINVAL);
        assert_int_equal(state_store_save(s, "node", NULL), -EINVAL);
        assert_int_equal(state_store_save(s, "node", scalar), -EINVAL);
}

static void test_state_store_save_too_big_keeps_old(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_free_ char *big = malloc(STATE_FILE_MAX);
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = sample_doc(), *huge = NULL, *back = NULL;

        assert_non_null(big);
        memset(big, 'x', STATE_FILE_MAX);
        huge = json_pack("{s:s%}", "s", big, (size_t) STATE_FILE_MAX);
        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "node", doc), 0);
        assert_int_equal(state_store_save(s, "node", huge), -E2BIG);
        assert_int_equal(state_store_load(s, "node", &back), 0);
        assert_true(json_equal(doc, back));
}

static void test_state_store_load_missing(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_state_store_ StateStore *s = NULL;
        json_t *back = NULL;
        char *detail = NULL;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_load(s, "never", &back), -ENOENT);
        assert_int_equal(state_store_load_full(s, "never", &back, &detail), -ENOENT);
        assert_null(back);
        assert_null(detail);
        assert_int_equal(state_store_load(s, "No", &back), -EINVAL);
}

static void test_state_store_load_not_regular(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_free_ char *sub = NULL, *fifo = NULL, *link = NULL, *detail = NULL;
        _cleanup_state_store_ StateStore *s = NULL;
        json_t *back = NULL;

        assert_int_equal(state_store_open(dir, &s), 0);
        sub = doc_path(dir, "sub");
        fifo = doc_path(dir, "fifo");
        link = doc_path(dir, "link");
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(symlink("sub", link), 0);
        assert_int_equal(state_store_load_full(s, "sub", &back, &detail), -EBADMSG);
        assert_non_null(strstr(detail, "sub: not a regular file"));
        /* must not block waiting for a FIFO writer */
        assert_int_equal(state_store_load(s, "fifo", &back), -EBADMSG);
        assert_int_equal(state_store_load(s, "link", &back), -ELOOP);
        assert_null(back);
}

/* The corruption tests: save a good document, damage the file with `damage`,
 * then check load refuses with `expected` and a detail naming the file and
 * `what`, and that neither the load nor a reopen changed the file. */
typedef void (*DamageFn)(uint8_t **data, size_t *size);

static void check_store_refuses(void **state, DamageFn damage, int expected, const char *what) {
        _cleanup_free_ char *dir = store_path(state);
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *data = NULL, *after = NULL;
        _cleanup_state_store_ StateStore *s = NULL;
        json_auto_t *doc = sample_doc();
        size_t size, after_size;

        assert_int_equal(state_store_open(dir, &s), 0);
        assert_int_equal(state_store_save(s, "node", doc), 0);
        path = doc_path(dir, "node");
        data = read_all(path, &size);
        damage(&data, &size);
        write_all_file(path, data, size);

        for (int round = 0; round < 2; round++) {
                json_t *back = NULL;
                char *detail = NULL;

                assert_int_equal(state_store_load_full(s, "node", &back, &detail), expected);
                assert_null(back);
                assert_non_null(detail);
                if (!strstr(detail, path) || !strstr(detail, what))
                        fail_msg("detail \"%s\" should name %s and say \"%s\"", detail, path, what);
                free(detail);
                assert_int_equal(state_store_load(s, "node", &back), expected);

                after = read_all(path, &after_size);
                assert_int_equal(after_size, size);
                if (size)
                        assert_memory_equal(after, data, size);
                free(after);
                after = NULL;

                /* reopening (which removes stale temps) leaves it alone too */
                s = state_store_free(s);
                assert_int_equal(state_store_open(dir, &s), 0);
        }
}

static void damage_flip_payload(uint8_t **data, size_t *size) {
        assert_true(*size > OFF_PAYLOAD + 3);
        (*data)[OFF_PAYLOAD + 3] ^= 0x01;
}

static void damage_flip_digest(uint8_t **data, size_t *size) {
        (void) size;
        (*data)[OFF_DIGEST + 31] ^= 0x80;
}

static void damage_truncate_header(uint8_t **data, size_t *size) {
        (void) data;
        *size = 20;
}

static void damage_truncate_payload(uint8_t **data, size_t *size) {
        (void) data;
        *size -= 1;
}

static void damage_empty(uint8_t **data, size_t *size) {
        (void) data;
        *size = 0;
}

static void damage_bad_magic(uint8_t **data, size_t *size) {
        (void) size;
        memcpy(*data, "{\"json\":", 8);
}

static void damage_newer_version(uint8_t **data, size_t *size) {
        (void) size;
        (*data)[OFF_VERSION + 3] = 7;
}

static void damage_trailing_garbage(uint8_t **data, size_t *size) {
        uint8_t *q = realloc(*data, *size + 4);
        assert_non_null(q);
        memcpy(q + *size, "\n\n\0x", 4);
        *data = q;
        *size += 4;
}

static void damage_too_big(uint8_t **data, size_t *size) {
        uint8_t *q = realloc(*data, STATE_FILE_MAX + 1);
        assert_non_null(q);
        memset(q + *size, ' ', STATE_FILE_MAX + 1 - *size);
        *data = q;
        *size = STATE_FILE_MAX + 1;
}

static void test_state_store_load_flipped_payload_byte(void **state) {
        check_store_refuses(state, damage_flip_payload, -EBADMSG, "checksum mismatch");
}

static void test_state_store_load_flipped_digest_byte(void **state) {
        check_store_refuses(state, damage_flip_digest, -EBADMSG, "checksum mismatch");
}

static void test_state_store_load_truncated_header(void **state) {
        check_store_refuses(state, damage_truncate_header, -EBADMSG, "truncated header (20 of 52 bytes)");
}

static void test_state_store_load_truncated_payload(void **state) {
        check_store_refuses(state, damage_truncate_payload, -EBADMSG, "truncated payload");
}

static void test_state_store_load_empty_file(void **state) {
        check_store_refuses(state, damage_empty, -EBADMSG, "truncated header (0 of 52 bytes)");
}

static void test_state_store_load_bad_magic(void **state) {
        check_store_refuses(state, damage_bad_magic, -EBADMSG, "not a strata state file");
}

static void test_state_store_load_newer_version(void **state) {
        check_store_refuses(state, damage_newer_version, -EPROTONOSUPPORT,
                            "written by a newer version (format 7, this build reads up to 1)");
}

static void test_state_store_load_trailing_garbage(void **state) {
        check_store_refuses(state, damage_trailing_garbage, -EBADMSG, "4 bytes of trailing data");
}

static void test_state_store_load_too_big(void **state) {
        check_store_refuses(state, damage_too_big, -E2BIG, "over the 1048576-byte limit");
}

/* The crash test's deterministic pseudo-random numbers (splitmix64): no
 * global state, and a printed seed makes a failure reproducible with
 * STRATA_TEST_SEED=<seed>. */
static uint64_t rng_next(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

/* The pad saved with `seq`: a function of (seed, seq), so the parent can
 * check that the document it loads is the whole of one save. */
static char *crash_pad(uint64_t seed, uint64_t seq, size_t *ret_len) {
        uint64_t s = seed ^ (seq * 0xd1342543de82ef95ull);
        size_t len = (size_t) (rng_next(&s) % (CRASH_PAD_MAX + 1));
        char *pad = malloc(len + 1);
        uint64_t bits = 0;

        assert_non_null(pad);
        for (size_t i = 0; i < len; i++) {
                if (i % 8 == 0)
                        bits = rng_next(&s);
                pad[i] = (char) ('a' + (bits & 0xff) % 26);
                bits >>= 8;
        }
        pad[len] = 0;
        *ret_len = len;
        return pad;
}

static json_t *crash_doc(uint64_t seed, uint64_t seq) {
        size_t len;
        _cleanup_free_ char *pad = crash_pad(seed, seq, &len);
        return json_pack("{s:I, s:s%}", "seq", (json_int_t) seq, "pad", pad, len);
}

/* The writer: saves seq = first, first + 1, ... and reports each on `fd`
 * once state_store_save() has returned. Never returns; exit codes say what
 * failed. */
static void crash_writer(const char *dir, uint64_t seed, uint64_t first, int fd, pid_t parent) {
        StateStore *s = NULL;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(20);
        if (state_store_open(dir, &s) < 0)
                _exit(21);
        for (uint64_t seq = first;; seq++) {
                char line[32];
                json_t *doc = crash_doc(seed, seq);
                int n;

                if (!doc)
                        _exit(22);
                if (state_store_save(s, CRASH_DOC, doc) < 0)
                        _exit(23);
                json_decref(doc);
                n = snprintf(line, sizeof(line), "%" PRIu64 "\n", seq);
                if (write(fd, line, (size_t) n) != n)
                        _exit(24);
        }
}

typedef struct Confirmed {
        uint64_t last;   /* the last seq the writer confirmed */
        uint64_t cur;    /* digits of a line still arriving */
        unsigned lines;
} Confirmed;

/* Reads what is available (or, when `until_line`, until a first line or the
 * timeout); returns -1 at EOF, else 0. */
static int confirmed_read(Confirmed *c, int fd, bool until_line) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char buf[256];
                ssize_t k;
                int r;

                r = poll(&p, 1, until_line ? CRASH_FIRST_SAVE_TIMEOUT_MS : 0);
                if (r < 0 && errno == EINTR)
                        continue;
                assert_true(r >= 0);
                if (r == 0) {
                        if (until_line)
                                fail_msg("the writer confirmed no save within %d ms",
                                         CRASH_FIRST_SAVE_TIMEOUT_MS);
                        return 0;
                }
                k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                assert_true(k >= 0);
                if (k == 0)
                        return -1;
                for (ssize_t i = 0; i < k; i++) {
                        if (buf[i] == '\n') {
                                c->last = c->cur;
                                c->cur = 0;
                                c->lines++;
                        } else {
                                assert_true(buf[i] >= '0' && buf[i] <= '9');
                                c->cur = c->cur * 10 + (uint64_t) (buf[i] - '0');
                        }
                }
                if (until_line && c->lines > 0)
                        return 0;
        }
}

static unsigned count_temps(const char *dir) {
        struct dirent *de;
        unsigned n = 0;
        DIR *d = opendir(dir);

        assert_non_null(d);
        while ((de = readdir(d)))
                n += strncmp(de->d_name, ".#", 2) == 0;
        closedir(d);
        return n;
}

typedef enum KillWhen {
        KILL_AT_ONCE,           /* before or while the writer opens the store */
        KILL_AFTER_SLEEP,       /* 0..3 ms after fork: anywhere in the first saves */
        KILL_AFTER_FIRST_SAVE,  /* 0..3 ms after a first confirmed save */
        _KILL_WHEN_MAX,
} KillWhen;

static void test_state_store_save_survives_sigkill(void **state) {
        _cleanup_free_ char *dir = store_path(state);
        const char *seed_env = getenv("STRATA_TEST_SEED");
        unsigned mid_write = 0, in_flight = 0, confirmed_kept = 0, never_saved = 0;
        struct timespec t0, t1;
        uint64_t seed, rng, prev = 0;

        if (seed_env)
                seed = strtoull(seed_env, NULL, 0);
        else {
                clock_gettime(CLOCK_REALTIME, &t0);
                seed = (uint64_t) t0.tv_nsec ^ ((uint64_t) t0.tv_sec << 20) ^ (uint64_t) getpid();
        }
        print_message("crash test seed: STRATA_TEST_SEED=%" PRIu64 "\n", seed);
        rng = seed;
        clock_gettime(CLOCK_MONOTONIC, &t0);

        /* seq 0 exists before the first writer runs, so every load must work */
        {
                _cleanup_state_store_ StateStore *s = NULL;
                json_auto_t *doc = crash_doc(seed, 0);
                assert_int_equal(state_store_open(dir, &s), 0);
                assert_int_equal(state_store_save(s, CRASH_DOC, doc), 0);
        }

        for (unsigned it = 0; it < CRASH_ITERATIONS; it++) {
                KillWhen when = (KillWhen) (rng_next(&rng) % _KILL_WHEN_MAX);
                useconds_t sleep_us = (useconds_t) (rng_next(&rng) % (CRASH_SLEEP_MAX_US + 1));
                Confirmed conf = { .last = prev };
                _cleanup_state_store_ StateStore *s = NULL;
                json_auto_t *doc = NULL;
                _cleanup_free_ char *detail = NULL, *want_pad = NULL;
                const char *pad = NULL;
                json_int_t seq = -1;
                size_t pad_len = 0, want_len;
                int fds[2], status, r;
                pid_t parent = getpid(), pid;

                assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        close(fds[0]);
                        crash_writer(dir, seed, prev + 1, fds[1], parent);
                }
                close(fds[1]);

                if (when == KILL_AFTER_FIRST_SAVE)
                        confirmed_read(&conf, fds[0], true);
                if (when != KILL_AT_ONCE)
                        usleep(sleep_us);
                assert_int_equal(kill(pid, SIGKILL), 0);
                while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                        ;
                assert_int_equal(r, pid);
                if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                        fail_msg("iteration %u: the writer ended by itself (status 0x%x)", it, status);
                while (confirmed_read(&conf, fds[0], false) == 0)
                        ;
                close(fds[0]);

                mid_write += count_temps(dir) > 0;
                assert_int_equal(state_store_open(dir, &s), 0);
                assert_int_equal(count_temps(dir), 0);
                r = state_store_load_full(s, CRASH_DOC, &doc, &detail);
                if (r < 0)
                        fail_msg("iteration %u: load failed: %s (%s)", it, strerror(-r), detail ? detail : "");
                assert_int_equal(json_unpack(doc, "{s:I, s:s%}", "seq", &seq, "pad", &pad, &pad_len), 0);
                if ((uint64_t) seq != conf.last && (uint64_t) seq != conf.last + 1)
                        fail_msg("iteration %u: loaded seq %" PRId64 ", but the writer confirmed %" PRIu64,
                                 it, (int64_t) seq, conf.last);
                want_pad = crash_pad(seed, (uint64_t) seq, &want_len);
                assert_int_equal(pad_len, want_len);
                assert_memory_equal(pad, want_pad, want_len);

                in_flight += (uint64_t) seq == conf.last + 1;
                confirmed_kept += conf.lines > 0 && (uint64_t) seq == conf.last;
                never_saved += (uint64_t) seq == prev;
                prev = (uint64_t) seq;
        }

        clock_gettime(CLOCK_MONOTONIC, &t1);
        print_message("crash test: %u kills in %.1f s; last seq %" PRIu64 "; %u left a temp file "
                      "(killed mid-save), %u kept an unconfirmed save, %u ended on a confirmed one, "
                      "%u saved nothing\n",
                      CRASH_ITERATIONS, (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9,
                      prev, mid_write, in_flight, confirmed_kept, never_saved);
        /* the kills must have landed both inside a save and around them */
        assert_true(mid_write > 0);
        assert_true(in_flight > 0);
        assert_true(confirmed_kept + never_saved > 0);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_file_build_layout),
                cmocka_unit_test(test_state_file_build_scalar_invalid),
                cmocka_unit_test(test_state_file_build_too_big),
                cmocka_unit_test(test_state_file_parse_ok),
                cmocka_unit_test(test_state_file_parse_every_truncation_refused),
                cmocka_unit_test(test_state_file_parse_bad_magic),
                cmocka_unit_test(test_state_file_parse_newer_version),
                cmocka_unit_test(test_state_file_parse_version_zero),
                cmocka_unit_test(test_state_file_parse_length_too_long),
                cmocka_unit_test(test_state_file_parse_trailing_garbage),
                cmocka_unit_test(test_state_file_parse_bad_checksum),
                cmocka_unit_test(test_state_file_parse_not_json),
                cmocka_unit_test(test_state_file_parse_too_big),
                cmocka_unit_test(test_state_name_is_valid_table),
                DIR_TEST(test_state_store_open_creates_dir_0700),
                DIR_TEST(test_state_store_open_missing_parent),
                DIR_TEST(test_state_store_open_second_busy),
                DIR_TEST(test_state_store_open_other_process_busy),
                DIR_TEST(test_state_store_open_removes_stale_temps),
                cmocka_unit_test(test_state_store_free_null),
                DIR_TEST(test_state_store_save_load_round_trip),
                DIR_TEST(test_state_store_save_nul_in_string_round_trip),
                DIR_TEST(test_state_store_save_replaces),
                DIR_TEST(test_state_store_save_leaves_only_the_file),
                DIR_TEST(test_state_store_save_invalid),
                DIR_TEST(test_state_store_save_too_big_keeps_old),
                DIR_TEST(test_state_store_load_missing),
                DIR_TEST(test_state_store_load_not_regular),
                DIR_TEST(test_state_store_load_flipped_payload_byte),
                DIR_TEST(test_state_store_load_flipped_digest_byte),
                DIR_TEST(test_state_store_load_truncated_header),
                DIR_TEST(test_state_store_load_truncated_payload),
                DIR_TEST(test_state_store_load_empty_file),
                DIR_TEST(test_state_store_load_bad_magic),
                DIR_TEST(test_state_store_load_newer_version),
                DIR_TEST(test_state_store_load_trailing_garbage),
                DIR_TEST(test_state_store_load_too_big),
                DIR_TEST(test_state_store_save_survives_sigkill),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
