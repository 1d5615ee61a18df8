/* strata-bmc: the Redfish BMC emulator's entry point. Parses the command
 * line, loads the machines (config.c), opens the listener (listen.c),
 * serves the routes (handlers.c) on sd-event until SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "bmc.h"
#include "core/cleanup.h"
#include "core/log.h"

static void help(void) {
        printf("Usage: strata-bmc --listen ADDR:PORT --config FILE [OPTIONS]\n"
               "\n"
               "A Redfish BMC emulator for Strata's tests and virtual lab: one listener serves\n"
               "every machine in FILE as /redfish/v1/Systems/{id} with one Manager each, backed\n"
               "by an in-memory state machine or a QEMU VM over QMP. Test endpoints:\n"
               "GET|DELETE /strata-bmc/v1/history/{id}, GET|PUT /strata-bmc/v1/faults/{id}.\n"
               "\n"
               "  --listen ADDR:PORT   127.0.0.1:8000, [::1]:8000; other addresses only inside a\n"
               "                       non-initial network namespace, and only its own\n"
               "  --config FILE        machines, credentials, personalities (see config.c)\n"
               "  --no-sessions        no SessionService: basic auth only\n"
               "  --on-power-on CMD    simulation (strata sim): memory machines run `sh -c CMD`\n"
               "                       at every power-on, not waited for, with STRATA_SIM_MACHINE,\n"
               "                       STRATA_SIM_BOOT_TARGET (Pxe, ..., None), STRATA_SIM_BOOT_URI,\n"
               "                       STRATA_SIM_RESET_TYPE and STRATA_SIM_MACS set\n"
               "  --log-level LEVEL    0-7 or debug, info, notice, warning, err (default info)\n"
               "  -h, --help           show this help\n"
               "  --version            show the version\n"
               "\n"
               "Personalities:");
        for (size_t i = 0; i < personality_table_size; i++)
                printf(" %s", personality_table[i].name);
        printf("\n");
}

static void observe(const HttpRoute *route, const HttpRequest *req, unsigned status, void *userdata) {
        (void) route;
        (void) userdata;
        log_debug("%s %s -> %u", req->method, req->path, status);
}

static void describe(int fd, char *buf, size_t size) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;

        if (getsockname(fd, (struct sockaddr *) &ss, &len) == 0) {
                if (ss.ss_family == AF_INET) {
                        inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, host, sizeof(host));
                        port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
                } else {
                        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, host, sizeof(host));
                        port = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
                }
        }
        snprintf(buf, size, ss.ss_family == AF_INET6 ? "http://[%s]:%u" : "http://%s:%u", host, port);
}

int main(int argc, char **argv) {
        enum { ARG_LISTEN = 0x100, ARG_CONFIG, ARG_NO_SESSIONS, ARG_ON_POWER_ON, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "no-sessions", no_argument, NULL, ARG_NO_SESSIONS },
                { "on-power-on", required_argument, NULL, ARG_ON_POWER_ON },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        const char *listen_addr = NULL, *config = NULL;
        BmcConfigOptions opts = { 0 };
        int level = LOG_INFO, c, r, fd;
        char why[1024], url[128];
        Bmc b = { 0 };
        sd_event *event = NULL;

        secret_json_alloc_install(); /* login bodies carry passwords */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_LISTEN: listen_addr = optarg; break;
                case ARG_CONFIG: config = optarg; break;
                case ARG_NO_SESSIONS: opts.no_sessions = true; break;
                case ARG_ON_POWER_ON: opts.on_power_on = optarg; break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0) {
                                fprintf(stderr, "strata-bmc: --log-level: expected 0-7 or a level name, got \"%s\"\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case 'h': help(); return EXIT_SUCCESS;
                case ARG_VERSION: printf("strata-bmc %s\n", STRATA_VERSION); return EXIT_SUCCESS;
                default: return EXIT_FAILURE;
                }
        }
        if (optind < argc || !listen_addr || !config) {
                fprintf(stderr, "strata-bmc: %s (see --help)\n",
                        optind < argc ? "unexpected argument" : "--listen and --config are required");
                return EXIT_FAILURE;
        }
        log_setup(LOG_TARGET_STDERR, level, "strata-bmc");

        r = emu_config_load(&b, config, &opts, why, sizeof(why));
        if (r < 0) {
                fprintf(stderr, "strata-bmc: %s\n", why);
                emu_done(&b);
                return EXIT_FAILURE;
        }
        fd = emu_listen_open(listen_addr, why, sizeof(why));
        if (fd < 0) {
                fprintf(stderr, "strata-bmc: %s\n", why);
                emu_done(&b);
                return EXIT_FAILURE;
        }
        describe(fd, url, sizeof(url));

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        b.event = event;
        HttpServerConfig cfg = {
                .routes = emu_http_routes,
                .n_routes = emu_http_routes_size,
                .observer = observe,
                .userdata = &b,
                .body_max = BMC_BODY_MAX,
        };
        if (r >= 0)
                r = http_server_new(event, fd, &cfg, &b.server);
        else
                close(fd);
        if (r < 0) {
                log_error_errno(r, "cannot start the HTTP server");
                sd_event_unref(event);
                emu_done(&b);
                return EXIT_FAILURE;
        }
        log_info("strata-bmc %s: listening on %s, %zu machine(s), personality %s, sessions %s", STRATA_VERSION, url,
                 b.n_machines, b.personality->name, b.sessions ? "on" : "off");
        (void) sd_notify(0, "READY=1");

        r = sd_event_loop(event);
        http_server_free(b.server);
        sd_event_unref(event);
        emu_done(&b);
        if (r < 0) {
                log_error_errno(r, "event loop failed");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
