/* CurlEvent: drives libcurl's multi interface from an sd-event loop. Every
 * HTTP client in the agent (Tang, Redfish, Kubernetes, peers) hands its easy
 * handles to one CurlEvent, so transfers never block the loop and share its
 * connection cache. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
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

/* The transfer policy every agent HTTP client shares (Tang, Redfish,
 * Kubernetes): what one request may reach and how much it may take. Each
 * caller keeps its own caps and adds its own options (TLS, method, body)
 * to the handle it gets back. */
typedef struct CurlTransferSetup {
        const char *url;
        const char *protocols;  /* CURLOPT_PROTOCOLS_STR, e.g. "https" */
        const char *proxy;      /* "" for none: never the environment's */
        uint64_t timeout_usec;  /* whole transfer and connect; at least 1 ms */
        size_t reply_max;       /* CURLOPT_MAXFILESIZE_LARGE */
        char *errbuf;           /* CURL_ERROR_SIZE bytes */
        curl_write_callback on_data;
        curl_write_callback on_header;
        void *userdata;         /* for both callbacks */
        struct curl_slist *headers;
        const char *user_agent;
} CurlTransferSetup;

/* A new easy handle with `s` applied: no redirects, no signals. Returns 0
 * and the handle in *ret (the caller's), -ENOMEM, or -EIO when curl
 * refuses an option. */
int curl_transfer_new(const CurlTransferSetup *s, CURL **ret);

/* Frees a request header list after wiping every string in it (auth
 * headers carry tokens and passwords). Accepts NULL. */
void curl_headers_free(struct curl_slist *h);

/* Splits one response header line from a CURLOPT_HEADERFUNCTION callback
 * (not NUL-terminated) into name and value, the value trimmed of blanks
 * and the line end. Returns false for a line without a colon (the status
 * line, the blank line ending the headers). */
bool curl_header_split(const char *p, size_t len, size_t *ret_name_len, const char **ret_value,
                       size_t *ret_value_len);

/* Number of transfers not yet finished. */
unsigned curl_event_running(const CurlEvent *ce);

static inline void curl_event_freep(CurlEvent **p) {
        curl_event_free(*p);
}
