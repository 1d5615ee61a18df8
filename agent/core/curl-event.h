/* CurlEvent: drives libcurl's multi interface from an sd-event loop. Every
 * HTTP client in the agent (Tang, Redfish, Kubernetes, peers) hands its easy
 * handles to one CurlEvent, so transfers never block the loop and share its
 * connection cache. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct CurlEvent CurlEvent;

/* Called once per transfer when it finishes (successfully or not). `result`
 * is curl's code for the transfer; the HTTP status is available through
 * curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE). The easy handle is still
 * valid during the call and is cleaned up by CurlEvent right after. */
typedef void (*CurlEventDoneFn)(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata);

/* Creates a CurlEvent on `event` (referenced). Returns 0, -ENOMEM or -EIO. */
int curl_event_new(sd_event *event, CurlEvent **ret);

/* Aborts every transfer still running, without calling their callbacks. */
CurlEvent *curl_event_free(CurlEvent *ce);

/* Starts `easy` (ownership passes to CurlEvent, also on failure). `done`
 * runs exactly once unless the CurlEvent is freed first. */
int curl_event_add(CurlEvent *ce, CURL *easy, CurlEventDoneFn done, void *userdata);

/* Stops `easy` (started with curl_event_add) without calling its callback
 * and frees it. Returns -ENOENT if it is not running here, -EBUSY when
 * called from inside one of curl's own callbacks (write, header), where
 * libcurl forbids it. Done callbacks may cancel other transfers, but must
 * not free the CurlEvent itself. */
int curl_event_cancel(CurlEvent *ce, CURL *easy);

/* The one bounds-checked reply-body collector for CURLOPT_WRITEFUNCTION
 * callbacks: appends `len` bytes to *body (kept NUL-terminated) unless that
 * would pass `max`, in which case *too_big is set and 0 returned, which
 * makes curl abort the transfer. Returns `len`, or 0 on OOM. */
size_t curl_body_append(char **body, size_t *size, bool *too_big, size_t max, const char *p, size_t len);

/* Number of transfers not yet finished. */
unsigned curl_event_running(const CurlEvent *ce);

static inline void curl_event_freep(CurlEvent **p) {
        curl_event_free(*p);
}
