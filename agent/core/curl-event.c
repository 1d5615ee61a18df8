/* CurlEvent: libcurl multi socket API glued to sd-event (see curl-event.h).
 * curl tells us which sockets to watch (socket callback) and when to wake it
 * (timer callback); sd-event tells curl what happened. */
#include "core/curl-event.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/secret.h"

typedef struct CurlSock CurlSock;
typedef struct CurlXfer CurlXfer;

struct CurlSock {
        CurlEvent *owner;
        curl_socket_t fd;
        sd_event_source *source;
        CurlSock *next, *prev;
};

struct CurlXfer {
        CURL *easy;
        CurlEventDoneFn done;
        void *userdata;
        CurlXfer *next, *prev;
};

struct CurlEvent {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        CurlSock *socks;
        CurlXfer *xfers;
        unsigned running;
};

#define LIST_REMOVE(head, item)                                 \
        do {                                                    \
                if ((item)->prev)                               \
                        (item)->prev->next = (item)->next;      \
                else                                            \
                        (head) = (item)->next;                  \
                if ((item)->next)                               \
                        (item)->next->prev = (item)->prev;      \
                (item)->next = (item)->prev = NULL;             \
        } while (0)

#define LIST_PREPEND(head, item)                                \
        do {                                                    \
                (item)->prev = NULL;                            \
                (item)->next = (head);                          \
                if (head)                                       \
                        (head)->prev = (item);                  \
                (head) = (item);                                \
        } while (0)

static void sock_free(CurlEvent *ce, CurlSock *s) {
        LIST_REMOVE(ce->socks, s);
        sd_event_source_disable_unref(s->source);
        free(s);
}

/* Hands finished transfers back to their owners. */
static void curl_event_collect(CurlEvent *ce) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(ce->multi, &left))) {
                CurlXfer *x = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                CURL *easy = msg->easy_handle;
                CURLcode result = msg->data.result;

                curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);
                curl_multi_remove_handle(ce->multi, easy);
                if (x) {
                        LIST_REMOVE(ce->xfers, x);
                        ce->running--;
                        if (x->done)
                                x->done(ce, easy, result, x->userdata);
                        free(x);
                }
                curl_easy_cleanup(easy);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CurlEvent *ce = userdata;
        int action = 0, still;

        (void) s;
        if (revents & (EPOLLIN | EPOLLHUP))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;
        curl_multi_socket_action(ce->multi, fd, action, &still);
        curl_event_collect(ce);
        /* a transfer's failure is reported to its owner, never to sd-event,
         * which would disable this source for everyone */
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CurlEvent *ce = userdata;
        int still;

        (void) s;
        (void) usec;
        curl_multi_socket_action(ce->multi, CURL_SOCKET_TIMEOUT, 0, &still);
        curl_event_collect(ce);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        CurlEvent *ce = userp;
        CurlSock *s = socketp;
        uint32_t events = 0;

        (void) easy;
        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        curl_multi_assign(ce->multi, fd, NULL);
                        sock_free(ce, s);
                }
                return 0;
        }

        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (s) {
                if (sd_event_source_set_io_events(s->source, events) < 0)
                        return -1;
                return 0;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -1;
        s->owner = ce;
        s->fd = fd;
        if (sd_event_add_io(ce->event, &s->source, fd, events, on_io, ce) < 0) {
                free(s);
                return -1;
        }
        (void) sd_event_source_set_description(s->source, "curl-socket");
        LIST_PREPEND(ce->socks, s);
        curl_multi_assign(ce->multi, fd, s);
        return 0;
}

/* curl only asks for a wake-up here; calling back into curl from this
 * callback is not allowed, so the work happens in on_timer. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        CurlEvent *ce = userp;
        uint64_t now;

        (void) multi;
        if (timeout_ms < 0)
                return sd_event_source_set_enabled(ce->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

        if (sd_event_now(ce->event, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        if (sd_event_source_set_time(ce->timer, now + (uint64_t) timeout_ms * 1000u) < 0)
                return -1;
        return sd_event_source_set_enabled(ce->timer, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
}

int curl_event_new(sd_event *event, CurlEvent **ret) {
        CurlEvent *ce;
        int r;

        ce = calloc(1, sizeof(*ce));
        if (!ce)
                return -ENOMEM;
        ce->event = sd_event_ref(event);
        ce->multi = curl_multi_init();
        if (!ce->multi) {
                curl_event_free(ce);
                return -ENOMEM;
        }
        /* accuracy 1 us: curl asks for 0 ms right after a transfer is added;
         * sd-event's default 250 ms slack would delay every request */
        r = sd_event_add_time(event, &ce->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, ce);
        if (r < 0) {
                curl_event_free(ce);
                return r;
        }
        (void) sd_event_source_set_description(ce->timer, "curl-timer");
        (void) sd_event_source_set_enabled(ce->timer, SD_EVENT_OFF);

        if (curl_multi_setopt(ce->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl_multi_setopt(ce->multi, CURLMOPT_SOCKETDATA, ce) != CURLM_OK ||
            curl_multi_setopt(ce->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl_multi_setopt(ce->multi, CURLMOPT_TIMERDATA, ce) != CURLM_OK) {
                curl_event_free(ce);
                return -EIO;
        }
        *ret = ce;
        return 0;
}

CurlEvent *curl_event_free(CurlEvent *ce) {
        if (!ce)
                return NULL;
        /* from here on curl must not call back into a half-freed CurlEvent */
        if (ce->multi) {
                curl_multi_setopt(ce->multi, CURLMOPT_SOCKETFUNCTION, NULL);
                curl_multi_setopt(ce->multi, CURLMOPT_TIMERFUNCTION, NULL);
        }
        while (ce->xfers) {
                CurlXfer *x = ce->xfers;
                LIST_REMOVE(ce->xfers, x);
                if (ce->multi)
                        curl_multi_remove_handle(ce->multi, x->easy);
                curl_easy_cleanup(x->easy);
                free(x);
        }
        /* sockets curl still had registered: drop our sources before the
         * multi handle (and the fds under them) go away */
        while (ce->socks)
                sock_free(ce, ce->socks);
        if (ce->multi)
                curl_multi_cleanup(ce->multi);
        sd_event_source_disable_unref(ce->timer);
        sd_event_unref(ce->event);
        free(ce);
        return NULL;
}

int curl_event_add(CurlEvent *ce, CURL *easy, CurlEventDoneFn done, void *userdata) {
        CurlXfer *x;

        x = calloc(1, sizeof(*x));
        if (!x) {
                curl_easy_cleanup(easy);
                return -ENOMEM;
        }
        x->easy = easy;
        x->done = done;
        /* no SIGALRM-based DNS time-outs in a daemon with signalfd */
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        x->userdata = userdata;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
        if (curl_multi_add_handle(ce->multi, easy) != CURLM_OK) {
                curl_easy_cleanup(easy);
                free(x);
                return -EIO;
        }
        LIST_PREPEND(ce->xfers, x);
        ce->running++;
        return 0;
}

int curl_event_cancel(CurlEvent *ce, CURL *easy) {
        for (CurlXfer *x = ce->xfers; x; x = x->next) {
                if (x->easy != easy)
                        continue;
                /* refused inside curl's own callbacks (write, header, socket):
                 * then nothing is freed and the caller must cancel later */
                if (curl_multi_remove_handle(ce->multi, easy) != CURLM_OK)
                        return -EBUSY;
                LIST_REMOVE(ce->xfers, x);
                ce->running--;
                curl_easy_cleanup(easy);
                free(x);
                return 0;
        }
        return -ENOENT;
}

unsigned curl_event_running(const CurlEvent *ce) {
        return ce->running;
}

size_t curl_body_append(char **body, size_t *size, bool *too_big, size_t max, const char *p, size_t len) {
        char *b;

        if (len > max - *size) {
                *too_big = true;
                return 0;
        }
        b = realloc(*body, *size + len + 1);
        if (!b)
                return 0;
        memcpy(b + *size, p, len);
        *body = b;
        *size += len;
        b[*size] = '\0';
        return len;
}

int curl_transfer_new(const CurlTransferSetup *s, CURL **ret) {
        uint64_t ms = s->timeout_usec / 1000u;
        CURL *easy;

        easy = curl_easy_init();
        if (!easy)
                return -ENOMEM;
        if (ms < 1)
                ms = 1;
        if (curl_easy_setopt(easy, CURLOPT_URL, s->url) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, s->protocols) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_PROXY, s->proxy ? s->proxy : "") != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) ms) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) ms) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) s->reply_max) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, s->on_data) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_WRITEDATA, s->userdata) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, s->on_header) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_HEADERDATA, s->userdata) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_USERAGENT, s->user_agent) != CURLE_OK) {
                curl_easy_cleanup(easy);
                return -EIO;
        }
        *ret = easy;
        return 0;
}

void curl_headers_free(struct curl_slist *h) {
        for (struct curl_slist *i = h; i; i = i->next)
                secret_wipe(i->data, strlen(i->data));
        curl_slist_free_all(h);
}

static bool is_blank_or_eol(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool curl_header_split(const char *p, size_t len, size_t *ret_name_len, const char **ret_value,
                       size_t *ret_value_len) {
        const char *colon = memchr(p, ':', len), *value;
        size_t name_len, value_len;

        if (!colon)
                return false;
        name_len = (size_t) (colon - p);
        value = colon + 1;
        value_len = len - name_len - 1;
        while (value_len > 0 && (*value == ' ' || *value == '\t'))
                value++, value_len--;
        while (value_len > 0 && is_blank_or_eol(value[value_len - 1]))
                value_len--;
        *ret_name_len = name_len;
        *ret_value = value;
        *ret_value_len = value_len;
        return true;
}
