/* The sss pin's math and header (see pin-sss.h). Secrets (coefficients,
 * shares, the combined key) live in BIGNUMs flagged constant-time and freed
 * with BN_clear_free, and in Secrets. */
#include "unseal/pin-sss.h"

#include <errno.h>
#include <jose/jose.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

struct Sss {
        BIGNUM *p;
        BIGNUM **a; /* a[0] is the secret */
        unsigned t;
        size_t p_size;
        BN_CTX *ctx;
};

static void bn_clear_freep(BIGNUM **b) {
        BN_clear_free(*b);
}
#define _cleanup_bn_ _cleanup_(bn_clear_freep)

int sss_header_parse(const json_t *member, SssHeader *ret, char **reterr) {
        const json_t *t, *p, *jwe;
        SssHeader h = { 0 };

#define FAIL(...) ({ if (reterr && asprintf(reterr, __VA_ARGS__) < 0) *reterr = NULL; -EBADMSG; })
        if (!json_is_object(member))
                return FAIL("malformed sss header: \"clevis.sss\" is not an object");
        t = json_object_get(member, "t");
        p = json_object_get(member, "p");
        jwe = json_object_get(member, "jwe");
        if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > SSS_CHILDREN_MAX)
                return FAIL("malformed sss header: \"t\" must be an integer from 1 to %u", SSS_CHILDREN_MAX);
        if (!json_is_array(jwe) || json_array_size(jwe) < 1 || json_array_size(jwe) > SSS_CHILDREN_MAX)
                return FAIL("malformed sss header: \"jwe\" must be an array of 1 to %u JWEs", SSS_CHILDREN_MAX);
        if ((size_t) json_integer_value(t) > json_array_size(jwe))
                return FAIL("malformed sss header: threshold t=%lld exceeds the %zu children",
                            (long long) json_integer_value(t), json_array_size(jwe));
        for (size_t i = 0; i < json_array_size(jwe); i++)
                if (!json_is_string(json_array_get(jwe, i)))
                        return FAIL("malformed sss header: \"jwe[%zu]\" is not a string", i);
        if (!json_is_string(p) || json_string_length(p) > SSS_PRIME_BYTES_MAX * 2)
                return FAIL("malformed sss header: \"p\" must be a base64url string of at most %u bytes",
                            SSS_PRIME_BYTES_MAX);
        h.p_size = jose_b64_dec(p, NULL, 0);
        if (h.p_size == SIZE_MAX || h.p_size == 0 || h.p_size > SSS_PRIME_BYTES_MAX ||
            jose_b64_dec(p, h.p, sizeof(h.p)) != h.p_size)
                return FAIL("malformed sss header: \"p\" is not base64url of 1 to %u bytes", SSS_PRIME_BYTES_MAX);
        if (h.p[0] == 0 || h.p_size < 2)
                return FAIL("malformed sss header: \"p\" is not a prime of %zu bytes", h.p_size);
#undef FAIL
        h.t = (unsigned) json_integer_value(t);
        h.jwe = jwe;
        *ret = h;
        return 0;
}

Sss *sss_free(Sss *s) {
        if (!s)
                return NULL;
        for (unsigned i = 0; s->a && i < s->t; i++)
                BN_clear_free(s->a[i]);
        free(s->a);
        BN_free(s->p);
        BN_CTX_free(s->ctx);
        free(s);
        return NULL;
}

int sss_new(unsigned t, Sss **ret) {
        Sss *s;

        if (t < 1 || t > SSS_CHILDREN_MAX)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->t = t;
        s->ctx = BN_CTX_secure_new();
        s->p = BN_new();
        s->a = calloc(t, sizeof(BIGNUM *));
        if (!s->ctx || !s->p || !s->a) {
                sss_free(s);
                return -ENOMEM;
        }
        /* a safe prime, as clevis: p = 2q + 1 */
        if (!BN_generate_prime_ex2(s->p, SSS_PRIME_BITS, 1, NULL, NULL, NULL, s->ctx)) {
                sss_free(s);
                return -EIO;
        }
        s->p_size = (size_t) BN_num_bytes(s->p);
        for (unsigned i = 0; i < t; i++) {
                s->a[i] = BN_secure_new();
                if (!s->a[i] || !BN_priv_rand_range(s->a[i], s->p)) {
                        sss_free(s);
                        return -EIO;
                }
                BN_set_flags(s->a[i], BN_FLG_CONSTTIME);
        }
        *ret = s;
        return 0;
}

int sss_prime(const Sss *s, uint8_t *buf, size_t size, size_t *ret_size) {
        if (size < s->p_size)
                return -ENOBUFS;
        if (BN_bn2binpad(s->p, buf, (int) s->p_size) < 0)
                return -EIO;
        *ret_size = s->p_size;
        return 0;
}

int sss_secret(const Sss *s, Secret **ret) {
        Secret *k = secret_new(s->p_size);
        if (!k)
                return -ENOMEM;
        if (BN_bn2binpad(s->a[0], k->data, (int) k->size) < 0) {
                secret_free(k);
                return -EIO;
        }
        *ret = k;
        return 0;
}

int sss_share(const Sss *s, Secret **ret) {
        _cleanup_bn_ BIGNUM *x = BN_secure_new(), *y = BN_secure_new(), *xp = BN_secure_new(),
                            *term = BN_secure_new();
        Secret *share;

        if (!x || !y || !xp || !term)
                return -ENOMEM;
        /* x = 0 would hand out the secret itself */
        do {
                if (!BN_priv_rand_range(x, s->p))
                        return -EIO;
        } while (BN_is_zero(x));

        /* y = sum a_i x^i mod p */
        if (!BN_copy(y, s->a[0]) || !BN_one(xp))
                return -EIO;
        for (unsigned i = 1; i < s->t; i++) {
                if (!BN_mod_mul(xp, xp, x, s->p, s->ctx) || !BN_mod_mul(term, s->a[i], xp, s->p, s->ctx) ||
                    !BN_mod_add(y, y, term, s->p, s->ctx))
                        return -EIO;
        }
        share = secret_new(s->p_size * 2);
        if (!share)
                return -ENOMEM;
        if (BN_bn2binpad(x, share->data, (int) s->p_size) < 0 ||
            BN_bn2binpad(y, share->data + s->p_size, (int) s->p_size) < 0) {
                secret_free(share);
                return -EIO;
        }
        *ret = share;
        return 0;
}

int sss_combine(const uint8_t *pbuf, size_t p_size, Secret *const *shares, size_t n, Secret **ret) {
        _cleanup_bn_ BIGNUM *p = NULL, *k = NULL, *num = NULL, *den = NULL, *tmp = NULL, *term = NULL;
        BIGNUM **xs = NULL, **ys = NULL;
        BN_CTX *ctx = NULL;
        Secret *out = NULL;
        int r = -EIO;

        if (n == 0 || n > SSS_CHILDREN_MAX || p_size == 0 || p_size > SSS_PRIME_BYTES_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (shares[i]->size != 2 * p_size)
                        return -EBADMSG;

        ctx = BN_CTX_secure_new();
        p = BN_bin2bn(pbuf, (int) p_size, NULL);
        k = BN_secure_new();
        num = BN_secure_new();
        den = BN_secure_new();
        tmp = BN_secure_new();
        term = BN_secure_new();
        xs = calloc(n, sizeof(BIGNUM *));
        ys = calloc(n, sizeof(BIGNUM *));
        if (!ctx || !p || !k || !num || !den || !tmp || !term || !xs || !ys) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                xs[i] = BN_secure_new();
                ys[i] = BN_secure_new();
                if (!xs[i] || !ys[i] || !BN_bin2bn(shares[i]->data, (int) p_size, xs[i]) ||
                    !BN_bin2bn(shares[i]->data + p_size, (int) p_size, ys[i])) {
                        r = -ENOMEM;
                        goto out;
                }
                if (BN_is_zero(xs[i]) || BN_cmp(xs[i], p) >= 0 || BN_cmp(ys[i], p) >= 0) {
                        r = -EBADMSG;
                        goto out;
                }
                for (size_t j = 0; j < i; j++)
                        if (BN_cmp(xs[i], xs[j]) == 0) {
                                r = -EBADMSG;
                                goto out;
                        }
        }

        /* k = sum_i y_i * prod_{j != i} (0 - x_j) / (x_i - x_j)  (mod p) */
        BN_zero(k);
        for (size_t i = 0; i < n; i++) {
                if (!BN_one(num) || !BN_one(den))
                        goto out;
                for (size_t j = 0; j < n; j++) {
                        if (j == i)
                                continue;
                        if (!BN_mod_sub(tmp, p, xs[j], p, ctx) || !BN_mod_mul(num, num, tmp, p, ctx) ||
                            !BN_mod_sub(tmp, xs[i], xs[j], p, ctx) || !BN_mod_mul(den, den, tmp, p, ctx))
                                goto out;
                }
                /* p prime and x distinct: den is invertible; if not, p was no prime */
                if (!BN_mod_inverse(den, den, p, ctx)) {
                        r = -EBADMSG;
                        goto out;
                }
                if (!BN_mod_mul(term, num, den, p, ctx) ||
                    !BN_mod_mul(term, term, ys[i], p, ctx) || !BN_mod_add(k, k, term, p, ctx))
                        goto out;
        }

        out = secret_new(p_size);
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        if (BN_bn2binpad(k, out->data, (int) p_size) < 0) {
                out = secret_free(out);
                goto out;
        }
        *ret = out;
        r = 0;
out:
        for (size_t i = 0; i < n; i++) {
                if (xs)
                        BN_clear_free(xs[i]);
                if (ys)
                        BN_clear_free(ys[i]);
        }
        free(xs);
        free(ys);
        BN_CTX_free(ctx);
        return r;
}
