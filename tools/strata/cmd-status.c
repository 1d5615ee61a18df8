/* `strata status [--json]`: the node's state from stratad's local API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

static const char *str_or_dash(const json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "-";
}

static void print_list(const char *label, const json_t *list) {
        size_t n = json_array_size(list);
        if (n == 0) {
                printf("%-10s (none)\n", label);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                char *s = json_dumps(json_array_get(list, i), JSON_COMPACT | JSON_ENCODE_ANY);
                printf("%-10s %s\n", i == 0 ? label : "", s ? s : "?");
                free(s);
        }
}

int cmd_status(const CliContext *ctx, int argc, char **argv) {
        json_t *st = NULL;
        (void) argv;

        if (argc != 1) {
                fprintf(stderr, "usage: strata [--socket PATH] status [--json]\n");
                return 2;
        }
        if (api_get_json(ctx, "/v1/status", &st) < 0)
                return EXIT_FAILURE;

        if (ctx->json) {
                char *s = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("%s\n", s ? s : "");
                free(s);
                json_decref(st);
                return s ? EXIT_SUCCESS : EXIT_FAILURE;
        }

        const json_t *spec = json_object_get(st, "spec");
        long long up = json_integer_value(json_object_get(st, "uptime_seconds"));
        printf("%-10s %s\n", "PHASE", str_or_dash(st, "phase"));
        printf("%-10s %s (%lld machines)\n", "FLEET", str_or_dash(spec, "fleet"),
               (long long) json_integer_value(json_object_get(spec, "machines")));
        printf("%-10s %s\n", "SPEC", str_or_dash(spec, "digest"));
        printf("%-10s %lldh%02lldm%02llds\n", "UPTIME", up / 3600, up / 60 % 60, up % 60);
        printf("%-10s %lld\n", "BOOTS", (long long) json_integer_value(json_object_get(st, "boots")));
        printf("%-10s %s\n", "VERSION", str_or_dash(st, "version"));
        print_list("PEERS", json_object_get(st, "peers"));
        print_list("LEASES", json_object_get(st, "leases"));
        json_decref(st);
        return EXIT_SUCCESS;
}
