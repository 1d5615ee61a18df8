/* `strata boot lease|release|leases`: the network boot leases this node
 * holds, through stratad's local API. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "strata.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: strata [--socket PATH] boot lease MACHINE [--seconds N]\n"
                   "       strata [--socket PATH] boot release MACHINE\n"
                   "       strata [--socket PATH] [--json] boot leases\n"
                   "\n"
                   "lease     let this node boot MACHINE from the network for N seconds (default\n"
                   "          1800): its ProxyDHCP, TFTP and HTTP boot server answer only\n"
                   "          machines holding a lease. Granting again extends the lease.\n"
                   "release   stop answering MACHINE now\n"
                   "leases    the leases held, with each machine's boot steps so far\n");
}

static void print_leases(const json_t *doc) {
        const json_t *segs = json_object_get(doc, "segments"), *leases = json_object_get(doc, "leases"), *v;
        size_t i, j;

        json_array_foreach(segs, i, v)
                printf("SEGMENT %s on %s (%s), HTTP port %lld\n", json_string_value(json_object_get(v, "network")),
                       json_string_value(json_object_get(v, "address")),
                       json_string_value(json_object_get(v, "interface")),
                       (long long) json_integer_value(json_object_get(v, "http_port")));
        if (json_array_size(segs) == 0)
                printf("This node serves network boot on no segment.\n");
        if (json_array_size(leases) == 0) {
                printf("No leases.\n");
                return;
        }
        json_array_foreach(leases, i, v) {
                const json_t *events = json_object_get(v, "events"), *e;
                printf("\n%-16s network %s, expires in %llds, %zu event(s)\n",
                       json_string_value(json_object_get(v, "machine")),
                       json_string_value(json_object_get(v, "network")),
                       (long long) json_integer_value(json_object_get(v, "expires_in_seconds")),
                       json_array_size(events));
                json_array_foreach(events, j, e)
                        printf("  %8.2fs  %-16s %s\n", json_real_value(json_object_get(e, "seconds")),
                               json_string_value(json_object_get(e, "event")),
                               json_string_value(json_object_get(e, "detail")));
        }
}

static int lease(const CliContext *ctx, int argc, char **argv) {
        static const struct option options[] = {
                { "seconds", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        long seconds = 1800;
        char *end;
        int c;

        optind = 0; /* 0, not 1: also resets glibc's state from strata's own "+h" parse */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        errno = 0;
                        seconds = strtol(optarg, &end, 10);
                        if (errno || *end || seconds <= 0) {
                                fprintf(stderr, "strata boot lease: --seconds: expected a positive number, got \"%s\"\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                default: usage(stderr); return 2;
                }
        }
        if (optind + 1 != argc) {
                usage(stderr);
                return 2;
        }
        json_auto_t *body = json_pack("{s:s, s:I}", "machine", argv[optind], "seconds", (json_int_t) seconds);
        json_auto_t *doc = NULL;
        if (!body)
                return EXIT_FAILURE;
        if (api_request_json(ctx, "POST", "/v1/boot/leases", body, &doc) < 0)
                return EXIT_FAILURE;
        printf("%s may boot from this node for %lds.\n", argv[optind], seconds);
        return EXIT_SUCCESS;
}

int cmd_boot(const CliContext *ctx, int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : EXIT_SUCCESS;
        }
        if (strcmp(argv[1], "lease") == 0)
                return lease(ctx, argc - 1, argv + 1);
        if (strcmp(argv[1], "release") == 0) {
                _cleanup_free_ char *path = NULL;
                if (argc != 3 || !argv[2][0] || strchr(argv[2], '/')) {
                        usage(stderr);
                        return 2;
                }
                if (asprintf(&path, "/v1/boot/leases/%s", argv[2]) < 0)
                        return EXIT_FAILURE;
                if (api_request_json(ctx, "DELETE", path, NULL, NULL) < 0)
                        return EXIT_FAILURE;
                printf("%s released.\n", argv[2]);
                return EXIT_SUCCESS;
        }
        if (strcmp(argv[1], "leases") == 0) {
                json_auto_t *doc = NULL;
                if (argc != 2) {
                        usage(stderr);
                        return 2;
                }
                if (api_get_json(ctx, "/v1/boot/leases", &doc) < 0)
                        return EXIT_FAILURE;
                if (ctx->json) {
                        _cleanup_free_ char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
                        printf("%s\n", s ? s : "");
                        return s ? EXIT_SUCCESS : EXIT_FAILURE;
                }
                print_leases(doc);
                return EXIT_SUCCESS;
        }
        fprintf(stderr, "strata boot: unknown action \"%s\"\n", argv[1]);
        usage(stderr);
        return 2;
}
