/* `strata status [--json] [--watch [SECONDS]]`: the node's state from
 * stratad's local API (with the Cluster API service's, on the seed), and
 * the fleet's provisioning state when this node coordinates it (GET
 * /v1/fleet); --watch redraws it like top until SIGINT. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/strutil.h"
#include "strata.h"

#define STATUS_WATCH_DEFAULT 2L
#define STATUS_WATCH_MAX 3600L
#define STATUS_FLEET_REPLY_MAX (4u * 1024u * 1024u)
#define STATUS_FLEET_TIMEOUT_MS 10000L
#define STATUS_FAILURES_MAX 20u  /* failed machines listed; the rest are counted */
/* ANSI: cursor home, clear the screen */
#define STATUS_CLEAR "\033[H\033[2J"

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
        (void) sig;
        interrupted = 1;
}

static const char *str_or_dash(const json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "-";
}

static void print_list(FILE *f, const char *label, const json_t *list) {
        size_t n = json_array_size(list);
        if (n == 0) {
                fprintf(f, "%-10s (none)\n", label);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                char *s = json_dumps(json_array_get(list, i), JSON_COMPACT | JSON_ENCODE_ANY);
                fprintf(f, "%-10s %s\n", i == 0 ? label : "", s ? s : "?");
                free(s);
        }
}

typedef struct Body {
        char *data;
        size_t size;
        bool too_big;
} Body;

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        Body *b = userdata;
        return curl_body_append(&b->data, &b->size, &b->too_big, STATUS_FLEET_REPLY_MAX, p, size * n);
}

/* GET /v1/fleet, quietly: a node that does not coordinate answers 404,
 * which is no error for `strata status`. *ret NULL then, or when the reply
 * is not usable (the node's own status already said what is wrong). */
static void fleet_get(const CliContext *ctx, json_t **ret) {
        Body body = {};
        long status = 0;
        CURLcode cc;
        CURL *c = curl_easy_init();

        *ret = NULL;
        if (!c)
                return;
        if (curl_easy_setopt(c, CURLOPT_URL, "http://stratad/v1/fleet") == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &body) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, STATUS_FLEET_TIMEOUT_MS) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK) {
                cc = curl_easy_perform(c);
                (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                if (cc == CURLE_OK && status == 200 && body.data)
                        *ret = json_loadb(body.data, body.size, 0, NULL);
        }
        curl_easy_cleanup(c);
        free(body.data);
        if (*ret && !json_is_object(*ret)) {
                json_decref(*ret);
                *ret = NULL;
        }
}

/* The fleet section: counts by state, members, failures, halt. */
static void print_fleet(FILE *f, const json_t *fl) {
        static const char *const states[] = { "member", "leased", "powering", "booting", "attesting",
                                              "unknown", "failed", "excluded" };
        const json_t *counts = json_object_get(fl, "counts"), *members = json_object_get(fl, "members");
        const json_t *machines = json_object_get(fl, "machines"), *v;
        bool halted = json_is_true(json_object_get(fl, "halted"));
        long long now_usec = (long long) time(NULL) * 1000000;
        unsigned failed = 0;
        size_t i;

        fprintf(f, "\n%-10s coordinated by %s, fan-out %lld, deepest generation %lld\n", "PROVISION",
                str_or_dash(fl, "coordinator"), (long long) json_integer_value(json_object_get(fl, "fanout")),
                (long long) json_integer_value(json_object_get(fl, "generations")));
        fprintf(f, "%-10s %s (halt serial %lld)\n", "HALT", halted ? "HALTED: no leases, no power cycles" : "no",
                (long long) json_integer_value(json_object_get(fl, "halt_serial")));
        fprintf(f, "%-10s", "MACHINES");
        for (size_t k = 0; k < ELEMENTSOF(states); k++)
                fprintf(f, " %s %lld%s", states[k], (long long) json_integer_value(json_object_get(counts, states[k])),
                        k + 1 < ELEMENTSOF(states) ? "," : "\n");

        fprintf(f, "%-10s %-20s %4s %7s %4s %s\n", "MEMBERS", "NAME", "GEN", "LEASES", "CAP", "HALT CONFIRMED");
        json_array_foreach(members, i, v)
                fprintf(f, "%-10s %-20s %4lld %7lld %4lld %s\n", "", str_or_dash(v, "name"),
                        (long long) json_integer_value(json_object_get(v, "generation")),
                        (long long) json_integer_value(json_object_get(v, "leases")),
                        (long long) json_integer_value(json_object_get(v, "cap")),
                        json_is_true(json_object_get(v, "halt_confirmed")) ? "yes" : "no");

        json_array_foreach(machines, i, v) {
                const json_t *lease = json_object_get(v, "lease");
                if (!lease)
                        continue;
                fprintf(f, "%-10s %-20s %-10s held by %s, token %lld, last event %s\n", "LEASED",
                        str_or_dash(v, "name"), str_or_dash(v, "state"), str_or_dash(lease, "holder"),
                        (long long) json_integer_value(json_object_get(lease, "token")),
                        str_or_dash(v, "last_event"));
        }
        /* failed for good, or waiting out the back-off before another try */
        json_array_foreach(machines, i, v) {
                const char *state = json_string_value(json_object_get(v, "state"));
                long long attempts = (long long) json_integer_value(json_object_get(v, "attempts"));
                long long retry = (long long) json_integer_value(json_object_get(v, "retry_after"));
                bool is_failed = streq_ptr(state, "failed");

                if (!is_failed && !(streq_ptr(state, "unknown") && attempts > 0))
                        continue;
                if (failed++ >= STATUS_FAILURES_MAX)
                        continue;
                if (is_failed)
                        fprintf(f, "%-10s %-20s after %lld attempt(s): %s\n", "FAILED", str_or_dash(v, "name"),
                                attempts, str_or_dash(v, "reason"));
                else
                        fprintf(f, "%-10s %-20s attempt %lld failed, next try in %llds: %s\n", "RETRYING",
                                str_or_dash(v, "name"), attempts,
                                retry > now_usec ? (retry - now_usec + 999999) / 1000000 : 0,
                                str_or_dash(v, "reason"));
        }
        if (failed > STATUS_FAILURES_MAX)
                fprintf(f, "%-10s (%u more; see strata status --json)\n", "", failed - STATUS_FAILURES_MAX);
}

/* The Cluster API section (the seed, with a bootstrap cluster): where the
 * install and the pivot stand, and the last error with its backoff. */
static void print_cluster(FILE *f, const json_t *cl) {
        const json_t *pivot = json_object_get(cl, "pivot");
        const char *job = json_string_value(json_object_get(cl, "job"));
        const char *err = json_string_value(json_object_get(cl, "last_error"));
        long long retry = (long long) json_integer_value(json_object_get(cl, "retry_in_seconds"));

        fprintf(f, "\n%-10s %s%s%s%s\n", "CLUSTER", str_or_dash(cl, "state"), job ? " (running: " : "",
                job ? job : "", job ? ")" : "");
        fprintf(f, "%-10s bootstrap %s, pivoted %s, %lld fleet objects, %lld Machines left alone\n", "CAPI",
                json_is_true(json_object_get(cl, "bootstrap_installed")) ? "installed" : "not installed",
                json_is_true(json_object_get(cl, "pivoted")) ? "yes" : "no",
                (long long) json_integer_value(json_object_get(cl, "fleet_objects")),
                (long long) json_integer_value(json_object_get(cl, "left_alone")));
        if (pivot)
                fprintf(f, "%-10s phase %s, %lld journal steps\n", "PIVOT", str_or_dash(pivot, "phase"),
                        (long long) json_integer_value(json_object_get(pivot, "steps")));
        long long failures = (long long) json_integer_value(json_object_get(cl, "failures"));
        if (err && failures > 0 && retry > 0)
                fprintf(f, "%-10s %s (%lld failure(s) in a row, next try in %llds)\n", "ERROR", err, failures, retry);
        else if (err && failures > 0)
                fprintf(f, "%-10s %s (%lld failure(s) in a row, trying again)\n", "ERROR", err, failures);
        else if (err)
                fprintf(f, "%-10s %s\n", "WAITING", err); /* the target is not ready yet */
}

/* One status report on `f`: 0, or -errno (already said on stderr). */
static int status_once(const CliContext *ctx, FILE *f) {
        json_auto_t *st = NULL, *fleet = NULL;

        if (api_get_json(ctx, "/v1/status", &st) < 0)
                return -EIO;
        fleet_get(ctx, &fleet);

        if (ctx->json) {
                if (fleet && json_object_set(st, "fleet", fleet) < 0)
                        return -ENOMEM;
                char *s = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
                if (!s)
                        return -ENOMEM;
                fprintf(f, "%s\n", s);
                free(s);
                return 0;
        }

        const json_t *spec = json_object_get(st, "spec");
        long long up = json_integer_value(json_object_get(st, "uptime_seconds"));
        fprintf(f, "%-10s %s\n", "PHASE", str_or_dash(st, "phase"));
        fprintf(f, "%-10s %s (%lld machines)\n", "FLEET", str_or_dash(spec, "fleet"),
                (long long) json_integer_value(json_object_get(spec, "machines")));
        fprintf(f, "%-10s %s\n", "SPEC", str_or_dash(spec, "digest"));
        fprintf(f, "%-10s %lldh%02lldm%02llds\n", "UPTIME", up / 3600, up / 60 % 60, up % 60);
        fprintf(f, "%-10s %lld\n", "BOOTS", (long long) json_integer_value(json_object_get(st, "boots")));
        fprintf(f, "%-10s %s\n", "VERSION", str_or_dash(st, "version"));
        print_list(f, "PEERS", json_object_get(st, "peers"));
        print_list(f, "LEASES", json_object_get(st, "leases"));
        if (json_is_object(json_object_get(st, "cluster")))
                print_cluster(f, json_object_get(st, "cluster"));
        if (fleet)
                print_fleet(f, fleet);
        return 0;
}

/* Redraws every `seconds` until SIGINT or SIGTERM: each frame is built in
 * memory and written at once after the clear, so it does not flicker. */
static int status_watch(const CliContext *ctx, long seconds) {
        struct sigaction sa = { .sa_handler = on_interrupt }; /* no SA_RESTART: the sleep ends */

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
                fprintf(stderr, "strata: status: cannot catch SIGINT: %m\n");
                return EXIT_FAILURE;
        }
        while (!interrupted) {
                _cleanup_free_ char *frame = NULL;
                size_t size = 0;
                FILE *m = open_memstream(&frame, &size);
                char when[64] = "";
                time_t now = time(NULL);
                struct tm tm;

                if (!m) {
                        fprintf(stderr, "strata: status: out of memory\n");
                        return EXIT_FAILURE;
                }
                if (localtime_r(&now, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                fprintf(m, "%sstrata status, every %lds (Ctrl-C to stop)   %s\n\n", STATUS_CLEAR, seconds, when);
                fclose(m);
                fwrite(frame, 1, size, stdout);
                /* errors go to stderr, under the header; the next frame clears them */
                (void) status_once(ctx, stdout);
                fflush(stdout);

                struct timespec ts = { .tv_sec = seconds };
                while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
        return EXIT_SUCCESS;
}

static void usage(FILE *f) {
        fprintf(f, "usage: strata [--socket PATH] status [--json] [--watch [SECONDS]]\n"
                   "  the node's phase, spec, peers and leases, and on the node that coordinates the\n"
                   "  fleet its provisioning state (machines by state, members, failures, halt)\n"
                   "  --watch [SECONDS]  redraw every SECONDS (default %ld) until Ctrl-C\n",
                STATUS_WATCH_DEFAULT);
}

/* A whole number of seconds in 1..STATUS_WATCH_MAX, or -1. */
static long seconds_parse(const char *s) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 1 || v > STATUS_WATCH_MAX)
                return -1;
        return v;
}

int cmd_status(const CliContext *ctx, int argc, char **argv) {
        long watch = 0;

        for (int i = 1; i < argc; i++) {
                if (streq_ptr(argv[i], "--help") || streq_ptr(argv[i], "-h")) {
                        usage(stdout);
                        return EXIT_SUCCESS;
                } else if (streq_ptr(argv[i], "--watch") || streq_ptr(argv[i], "-w")) {
                        watch = STATUS_WATCH_DEFAULT;
                        /* an optional operand: the next word, when it is a number */
                        if (i + 1 < argc && argv[i + 1][0] != '-') {
                                watch = seconds_parse(argv[++i]);
                                if (watch < 0) {
                                        fprintf(stderr, "strata: status: --watch takes 1 to %ld seconds, not "
                                                        "\"%s\"\n", STATUS_WATCH_MAX, argv[i]);
                                        return 2;
                                }
                        }
                } else if (strncmp(argv[i], "--watch=", 8) == 0) {
                        watch = seconds_parse(argv[i] + 8);
                        if (watch < 0) {
                                fprintf(stderr, "strata: status: --watch takes 1 to %ld seconds, not \"%s\"\n",
                                        STATUS_WATCH_MAX, argv[i] + 8);
                                return 2;
                        }
                } else {
                        usage(stderr);
                        return 2;
                }
        }
        if (watch > 0)
                return status_watch(ctx, watch);
        return status_once(ctx, stdout) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
