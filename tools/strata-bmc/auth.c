/* Authentication: HTTP basic auth against every machine's account, and
 * Redfish sessions (token in X-Auth-Token, DSP0266 "Session management").
 * An account opens the machines whose username and password it matches,
 * kept as a bit mask: one listener can serve machines with separate
 * accounts (like separate BMCs) or one shared account (like a multi-node
 * enclosure). Tokens and passwords live in Secrets and are compared in
 * constant time; sessions are capped (BMC_SESSIONS_MAX) and expire after
 * SessionTimeout seconds of idleness. */
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "bmc.h"
#include "core/cleanup.h"

/* "Basic " + base64 of "user:password" */
#define AUTH_HEADER_MAX (6u + 4u * ((BMC_USERNAME_MAX + BMC_PASSWORD_MAX + 2u) / 3u) + 8u)

static bool secret_equal(const Secret *a, const void *b, size_t b_size) {
        return a && a->size == b_size && CRYPTO_memcmp(a->data, b, b_size) == 0;
}

uint64_t auth_credentials_match(const Bmc *b, const char *username, const Secret *password) {
        uint64_t mask = 0;
        for (size_t i = 0; i < b->n_machines; i++) {
                const BmcMachine *m = &b->machines[i];
                /* evaluate both, so timing does not tell which one failed */
                bool user = strcmp(m->username, username) == 0;
                bool pass = secret_equal(m->password, password->data, password->size);
                if (user && pass)
                        mask |= UINT64_C(1) << i;
        }
        return mask;
}

/* Authorization: Basic; 0 and the mask, or -errno for none or a malformed one */
static int basic_auth(const Bmc *b, const char *header, uint64_t *ret) {
        size_t len;
        int n;

        if (!header || strncasecmp(header, "Basic ", 6) != 0)
                return -ENOENT;
        header += 6;
        while (*header == ' ')
                header++;
        len = strlen(header);
        if (len == 0 || len % 4 != 0 || len > AUTH_HEADER_MAX)
                return -EINVAL;

        _cleanup_(secret_freep) Secret *decoded = secret_new(len / 4 * 3 + 1);
        if (!decoded)
                return -ENOMEM;
        n = EVP_DecodeBlock(decoded->data, (const unsigned char *) header, (int) len);
        if (n < 0)
                return -EINVAL;
        /* EVP_DecodeBlock counts the padding's zero bytes */
        if (len >= 1 && header[len - 1] == '=')
                n--;
        if (len >= 2 && header[len - 2] == '=')
                n--;
        char *colon = memchr(decoded->data, ':', (size_t) n);
        if (!colon)
                return -EINVAL;
        size_t user_len = (size_t) (colon - (char *) decoded->data);
        if (user_len >= BMC_USERNAME_MAX || memchr(decoded->data, '\0', (size_t) n))
                return -EINVAL;

        char user[BMC_USERNAME_MAX];
        memcpy(user, decoded->data, user_len);
        user[user_len] = '\0';
        Secret pass = { .data = (uint8_t *) colon + 1, .size = (size_t) n - user_len - 1 };
        *ret = auth_credentials_match(b, user, &pass);
        return 0;
}

BmcSession *auth_session_find(Bmc *b, unsigned id) {
        for (size_t i = 0; i < BMC_SESSIONS_MAX; i++)
                if (b->sessions_table[i].used && b->sessions_table[i].id == id)
                        return &b->sessions_table[i];
        return NULL;
}

void auth_session_delete(Bmc *b, BmcSession *s) {
        (void) b;
        secret_free(s->token);
        *s = (BmcSession) { 0 };
}

void auth_sessions_expire(Bmc *b, uint64_t now_usec) {
        uint64_t timeout = (uint64_t) b->session_timeout_s * 1000000u;
        for (size_t i = 0; i < BMC_SESSIONS_MAX; i++) {
                BmcSession *s = &b->sessions_table[i];
                if (s->used && now_usec - s->last_used_usec > timeout)
                        auth_session_delete(b, s);
        }
}

int auth_session_new(Bmc *b, const char *username, uint64_t machines, uint64_t now_usec, BmcSession **ret) {
        uint8_t raw[BMC_TOKEN_BYTES];
        BmcSession *s = NULL;

        for (size_t i = 0; i < BMC_SESSIONS_MAX && !s; i++)
                if (!b->sessions_table[i].used)
                        s = &b->sessions_table[i];
        if (!s)
                return -EBUSY;
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
                return -EIO;
        Secret *token = secret_new(2 * BMC_TOKEN_BYTES + 1);
        if (!token) {
                secret_wipe(raw, sizeof(raw));
                return -ENOMEM;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf((char *) token->data + 2 * i, 3, "%02x", raw[i]);
        token->size = 2 * BMC_TOKEN_BYTES; /* the NUL after it is not compared */
        secret_wipe(raw, sizeof(raw));

        *s = (BmcSession) {
                .used = true,
                .id = ++b->next_session_id,
                .token = token,
                .machines = machines,
                .last_used_usec = now_usec,
        };
        snprintf(s->username, sizeof(s->username), "%s", username);
        *ret = s;
        return 0;
}

int auth_check(Bmc *b, struct MHD_Connection *c, uint64_t now_usec, BmcPrincipal *ret) {
        const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Auth-Token");
        const char *basic = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        uint64_t mask = 0;

        *ret = (BmcPrincipal) { 0 };
        if (b->sessions && token) {
                auth_sessions_expire(b, now_usec);
                size_t len = strlen(token);
                for (size_t i = 0; i < BMC_SESSIONS_MAX; i++) {
                        BmcSession *s = &b->sessions_table[i];
                        if (s->used && secret_equal(s->token, token, len)) {
                                s->last_used_usec = now_usec;
                                *ret = (BmcPrincipal) { .machines = s->machines, .session = s };
                                return 0;
                        }
                }
        }
        if (basic_auth(b, basic, &mask) >= 0 && mask) {
                ret->machines = mask;
                return 0;
        }
        return -EACCES;
}

void auth_done(Bmc *b) {
        for (size_t i = 0; i < BMC_SESSIONS_MAX; i++)
                if (b->sessions_table[i].used)
                        auth_session_delete(b, &b->sessions_table[i]);
}
