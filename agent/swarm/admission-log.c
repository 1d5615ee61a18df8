/* admission-log: the sponsor's record of every admission and refusal, as
 * append-only JSON lines in the state directory (see admission.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "swarm/admission.h"

#define LOG_TIME_FORMAT "%Y-%m-%dT%H:%M:%SZ"
#define LOG_TIME_MAX 32u

struct AdmissionLog {
        int fd;
};

int admission_log_open(const char *dir, AdmissionLog **ret) {
        _cleanup_free_ char *path = NULL;
        AdmissionLog *l;

        if (asprintf(&path, "%s/%s", dir, ADMISSION_LOG_FILE) < 0)
                return -ENOMEM;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, ADMISSION_LOG_MODE);
        if (l->fd < 0) {
                int r = -errno;
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

AdmissionLog *admission_log_close(AdmissionLog *l) {
        if (!l)
                return NULL;
        if (l->fd >= 0)
                close(l->fd);
        free(l);
        return NULL;
}

char *admission_log_line(const AdmissionRecord *rec, time_t when, const char *peer) {
        json_auto_t *doc = NULL, *reasons = json_array();
        char stamp[LOG_TIME_MAX], key[32], hex[2 * TPM_NAME_MAX + 1];
        struct tm tm;

        if (!reasons || !gmtime_r(&when, &tm) || strftime(stamp, sizeof(stamp), LOG_TIME_FORMAT, &tm) == 0)
                return NULL;
        for (size_t i = 0; i < rec->reasons.n_lines; i++) {
                /* ASCII only: reasons may quote what a peer sent */
                _cleanup_free_ char *line = strdup(rec->reasons.lines[i]);
                if (!line)
                        return NULL;
                for (char *p = line; *p; p++)
                        if ((unsigned char) *p >= 0x80 || (unsigned char) *p < 0x20)
                                *p = '?';
                if (json_array_append_new(reasons, json_string(line)) < 0)
                        return NULL;
        }
        if (rec->reasons.dropped &&
            json_array_append_new(reasons, json_sprintf("(%zu more)", rec->reasons.dropped)) < 0)
                return NULL;
        doc = json_pack("{s:s, s:s, s:s, s:o}", "time", stamp, "step", rec->step ? rec->step : "?", "verdict",
                        rec->admitted ? "admitted" : "refused", "reasons", json_incref(reasons));
        if (!doc)
                return NULL;
        snprintf(key, sizeof(key), "%s_sha256", rec->step ? rec->step : "message");
        if (json_object_set_new(doc, key, json_string(admission_hex(rec->message_digest, 32, hex))) < 0)
                return NULL;
        if (rec->machine[0] && json_object_set_new(doc, "machine", json_string(rec->machine)) < 0)
                return NULL;
        if (rec->ek_digest_set &&
            json_object_set_new(doc, "ek_sha256", json_string(admission_hex(rec->ek_digest, 32, hex))) < 0)
                return NULL;
        if (rec->ak_name_size &&
            json_object_set_new(doc, "ak_name", json_string(admission_hex(rec->ak_name, rec->ak_name_size, hex))) < 0)
                return NULL;
        if (peer) {
                char p[ADMISSION_LOG_PEER_MAX + 1];

                snprintf(p, sizeof(p), "%s", peer);
                for (char *c = p; *c; c++)
                        if ((unsigned char) *c >= 0x80 || (unsigned char) *c < 0x20)
                                *c = '?';
                if (json_object_set_new(doc, "peer", json_string(p)) < 0)
                        return NULL;
        }
        return admission_canonical(doc);
}

int admission_log_append(AdmissionLog *l, const AdmissionRecord *rec, time_t when, const char *peer) {
        _cleanup_free_ char *line = admission_log_line(rec, when, peer), *text = NULL;
        int r;

        if (!line || asprintf(&text, "%s\n", line) < 0)
                return -ENOMEM;
        /* one write: with O_APPEND the line lands whole at the end */
        r = write_fd_all(l->fd, text, strlen(text));
        if (r < 0)
                return r;
        return fsync(l->fd) < 0 ? -errno : 0;
}
