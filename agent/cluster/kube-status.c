/* Kubernetes error replies (see kube-status.h): the errno tables, the
 * Status decoder and the one-line description. Everything here reads
 * outside input and is fuzzed (tests/fuzz/fuzz-kube-status.c). */
#include "cluster/kube-status.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

/* Status reasons (k8s.io/apimachinery/pkg/apis/meta/v1 StatusReason) */
static const struct {
        const char *reason;
        int error;
} reason_errors[] = {
        { "AlreadyExists", -EEXIST },
        { "Conflict", -ESTALE },
        { "NotFound", -ENOENT },
        { "Gone", -ETIME },
        { "Expired", -ETIME },
        { "Invalid", -EINVAL },
        { "BadRequest", -EINVAL },
        { "Unauthorized", -EACCES },
        { "Forbidden", -EPERM },
        { "MethodNotAllowed", -EOPNOTSUPP },
        { "NotAcceptable", -EPROTO },
        { "UnsupportedMediaType", -EOPNOTSUPP },
        { "RequestEntityTooLarge", -E2BIG },
        { "TooManyRequests", -EBUSY },
        { "Timeout", -ETIMEDOUT },
        { "ServerTimeout", -ETIMEDOUT },
        { "ServiceUnavailable", -EAGAIN },
        { "InternalError", -EIO },
};

static const struct {
        long code;
        int error;
        const char *phrase;
} code_errors[] = {
        { 400, -EINVAL, "Bad Request" },
        { 401, -EACCES, "Unauthorized" },
        { 403, -EPERM, "Forbidden" },
        { 404, -ENOENT, "Not Found" },
        { 405, -EOPNOTSUPP, "Method Not Allowed" },
        { 406, -EPROTO, "Not Acceptable" },
        { 409, -ESTALE, "Conflict" },
        { 410, -ETIME, "Gone" },
        { 413, -E2BIG, "Request Entity Too Large" },
        { 415, -EOPNOTSUPP, "Unsupported Media Type" },
        { 422, -EINVAL, "Unprocessable Entity" },
        { 429, -EBUSY, "Too Many Requests" },
        { 500, -EIO, "Internal Server Error" },
        { 502, -EIO, "Bad Gateway" },
        { 503, -EAGAIN, "Service Unavailable" },
        { 504, -ETIMEDOUT, "Gateway Timeout" },
};

/* What to say when the server said nothing. */
static const struct {
        long code;
        const char *hint;
} code_hints[] = {
        { 401, "the server did not accept the kubeconfig's credentials" },
        { 403, "the kubeconfig's user may not do this" },
        { 404, "no such object or resource" },
};

const char *kube_http_phrase(long code) {
        for (size_t i = 0; i < ELEMENTSOF(code_errors); i++)
                if (code_errors[i].code == code)
                        return code_errors[i].phrase;
        return "";
}

int kube_status_errno(long code, const char *reason) {
        if (code >= 200 && code < 300)
                return 0;
        if (code >= 400 && reason)
                for (size_t i = 0; i < ELEMENTSOF(reason_errors); i++)
                        if (strcmp(reason_errors[i].reason, reason) == 0)
                                return reason_errors[i].error;
        for (size_t i = 0; i < ELEMENTSOF(code_errors); i++)
                if (code_errors[i].code == code)
                        return code_errors[i].error;
        return code >= 500 && code < 600 ? -EIO : -EPROTO;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when invalid or
 * a C1 control (U+0080..U+009F, which terminals act on). */
static size_t utf8_char(const unsigned char *s, size_t n) {
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                len = 2, cp = s[0] & 0x1f;
        else if ((s[0] & 0xf0) == 0xe0)
                len = 3, cp = s[0] & 0x0f;
        else if ((s[0] & 0xf8) == 0xf0)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond Unicode, C1 */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp <= 0x9f))
                return 0;
        return len;
}

char *kube_printable(const char *s, size_t size, size_t max) {
        const unsigned char *u = (const unsigned char *) s;
        size_t start = 0, end = size, n = 0;
        char *out;

        while (start < end && (u[start] <= 0x20 || u[start] == 0x7f))
                start++;
        while (end > start && (u[end - 1] <= 0x20 || u[end - 1] == 0x7f))
                end--;
        out = malloc((end - start < max ? end - start : max) + 4);
        if (!out)
                return NULL;
        for (size_t i = start; i < end;) {
                size_t len = utf8_char(u + i, end - i);
                size_t take = len ? len : 1;

                if (n + (len ? len : 1) > max) {
                        memcpy(out + n, "...", 3);
                        n += 3;
                        break;
                }
                if (len == 1)
                        out[n++] = u[i] < 0x20 || u[i] == 0x7f ? ' ' : (char) u[i];
                else if (len == 0)
                        out[n++] = '?';
                else {
                        memcpy(out + n, u + i, len);
                        n += len;
                }
                i += take;
        }
        out[n] = '\0';
        return out;
}

static char *printable_field(const json_t *obj, const char *field) {
        const json_t *v = json_object_get(obj, field);
        if (!json_is_string(v) || json_string_length(v) == 0)
                return NULL;
        return kube_printable(json_string_value(v), json_string_length(v), KUBE_STATUS_TEXT_MAX);
}

void kube_status_done(KubeStatus *s) {
        if (!s)
                return;
        free(s->reason);
        free(s->message);
        free(s->kind);
        free(s->name);
        free(s->group);
        for (size_t i = 0; i < s->n_causes; i++) {
                free(s->causes[i].type);
                free(s->causes[i].field);
                free(s->causes[i].message);
        }
        *s = (KubeStatus) {};
}

/* A missing field is fine; a present one that could not be copied is OOM. */
static bool copied(const json_t *obj, const char *field, char *const *p) {
        const json_t *v = json_object_get(obj, field);
        return *p || !json_is_string(v) || json_string_length(v) == 0;
}

static int parse_json_status(const json_t *doc, KubeStatus *s) {
        const json_t *details = json_object_get(doc, "details"), *causes = json_object_get(details, "causes"), *c;
        json_int_t retry = json_integer_value(json_object_get(details, "retryAfterSeconds"));
        size_t i;

        s->reason = printable_field(doc, "reason");
        s->message = printable_field(doc, "message");
        s->kind = printable_field(details, "kind");
        s->name = printable_field(details, "name");
        s->group = printable_field(details, "group");
        if (!copied(doc, "reason", &s->reason) || !copied(doc, "message", &s->message) ||
            !copied(details, "kind", &s->kind) || !copied(details, "name", &s->name) ||
            !copied(details, "group", &s->group))
                return -ENOMEM;
        if (retry > 0)
                s->retry_after_sec = retry > 86400 ? 86400 : (unsigned) retry;
        json_array_foreach (causes, i, c) {
                KubeStatusCause *k;
                if (s->n_causes >= KUBE_STATUS_CAUSES_MAX)
                        break;
                if (!json_is_object(c))
                        continue;
                k = &s->causes[s->n_causes++];
                k->type = printable_field(c, "reason");
                k->field = printable_field(c, "field");
                k->message = printable_field(c, "message");
                if (!copied(c, "reason", &k->type) || !copied(c, "field", &k->field) ||
                    !copied(c, "message", &k->message))
                        return -ENOMEM;
        }
        return 0;
}

int kube_status_parse(long code, const char *body, size_t size, KubeStatus *ret) {
        KubeStatus s = { .code = code };
        json_auto_t *doc = NULL;
        int r = 0;

        if (!body)
                size = 0;
        if (size > 0 && size <= KUBE_STATUS_BODY_MAX)
                doc = json_loadb(body, size, 0, NULL);
        /* a Status, or something shaped like one (some proxies drop kind) */
        if (json_is_object(doc) &&
            (json_is_string(json_object_get(doc, "reason")) || json_is_string(json_object_get(doc, "message")) ||
             strcmp(json_string_value(json_object_get(doc, "kind")) ?: "", "Status") == 0))
                r = parse_json_status(doc, &s);
        else if (!doc && size > 0) {
                s.message = kube_printable(body, size, KUBE_STATUS_TEXT_MAX);
                if (!s.message)
                        r = -ENOMEM;
                else if (!*s.message) {
                        free(s.message);
                        s.message = NULL;
                }
        }
        if (r < 0) {
                kube_status_done(&s);
                return r;
        }
        s.error = kube_status_errno(code, s.reason);
        *ret = s;
        return s.error;
}

/* "Not Found" and "NotFound" and "not found" are the same words. */
static bool same_words(const char *a, const char *b) {
        for (;;) {
                while (*a == ' ')
                        a++;
                while (*b == ' ')
                        b++;
                if (!*a || !*b)
                        return !*a && !*b;
                if ((*a | 0x20) != (*b | 0x20))
                        return false;
                a++, b++;
        }
}

static bool code_reason_redundant(const KubeStatus *s) {
        /* "(404 Not Found: NotFound)" says NotFound twice */
        return !s->reason || same_words(kube_http_phrase(s->code), s->reason);
}

char *kube_status_describe(const KubeStatus *s) {
        _cleanup_free_ char *out = NULL;
        const char *hint = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(code_hints); i++)
                if (code_hints[i].code == s->code)
                        hint = code_hints[i].hint;
        /* a message that only repeats the status ("Unauthorized") says less than the hint */
        if (s->message && hint &&
            (same_words(s->message, kube_http_phrase(s->code)) || (s->reason && same_words(s->message, s->reason))))
                fputs(hint, f);
        else if (s->message)
                fputs(s->message, f);
        else if (s->kind || s->name)
                fprintf(f, "%s%s\"%s\"", s->kind ? s->kind : "", s->kind ? " " : "", s->name ? s->name : "");
        else
                fputs(hint ? hint : "the server gave no reason", f);
        for (size_t i = 0; i < s->n_causes; i++) {
                const KubeStatusCause *c = &s->causes[i];
                /* Invalid (422) messages already list their causes */
                if (!c->message || (s->message && strstr(s->message, c->message)))
                        continue;
                fprintf(f, "; %s%s%s", c->field ? c->field : "", c->field ? ": " : "", c->message);
        }
        fprintf(f, " (%ld%s%s%s%s)", s->code, *kube_http_phrase(s->code) ? " " : "", kube_http_phrase(s->code),
                code_reason_redundant(s) ? "" : ": ", code_reason_redundant(s) ? "" : s->reason);
        if (fclose(f) != 0)
                return NULL;
        return take_ptr(out);
}

int kube_status_decode(long code, const char *body, size_t size, char **ret_message) {
        KubeStatus s;
        int r = kube_status_parse(code, body, size, &s);

        if (r == -ENOMEM)
                return r;
        *ret_message = kube_status_describe(&s);
        kube_status_done(&s);
        return r;
}
