/* Containment (see containment.h): origins from the spec and from every
 * request URL are normalised by libcurl's own URL parser (curl_url), then
 * compared as strings. Host names are compared as names: we never resolve
 * them here, so a name is only as good as the resolver the BMC network
 * uses, exactly as for the connection itself. */
#include "bmc/containment.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"

#define BMC_URL_MAX 2048u /* a request URL: endpoint plus a Redfish path */

static void curl_url_freep(CURLU **u) {
        if (*u)
                curl_url_cleanup(*u);
}

static void curl_freep(char **p) {
        curl_free(*p);
}

int bmc_origin_normalize(const char *url, char **ret, char **reterr) {
        _cleanup_(curl_url_freep) CURLU *u = NULL;
        _cleanup_(curl_freep) char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *zone = NULL;
        size_t n;

        if (!url || !*url)
                return error_detail_set(reterr, -EINVAL, "empty URL");
        if (strlen(url) > BMC_URL_MAX)
                return error_detail_set(reterr, -EINVAL, "URL longer than %u bytes", BMC_URL_MAX);
        for (const char *c = url; *c; c++)
                if ((unsigned char) *c <= 0x20 || (unsigned char) *c >= 0x7f)
                        return error_detail_set(reterr, -EINVAL, "URL with spaces or control characters");
        u = curl_url();
        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
                return error_detail_set(reterr, -EINVAL, "not a URL with a scheme and a host");
        for (char *c = scheme; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
                return error_detail_set(reterr, -EINVAL, "scheme %s is not http or https", scheme);
        if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
                return error_detail_set(reterr, -EINVAL, "URL with user info");
        if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK)
                return error_detail_set(reterr, -EINVAL, "URL with an IPv6 zone id");
        for (char *c = host; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        n = strlen(host);
        if (n > 1 && host[n - 1] == '.')
                host[--n] = '\0';
        if (n == 0)
                return error_detail_set(reterr, -EINVAL, "URL without a host");
        if (asprintf(ret, "%s://%s:%s", scheme, host, port) < 0)
                return -ENOMEM;
        return 0;
}

int bmc_containment_check(const BmcInventory *inv, const char *url, char **reterr) {
        _cleanup_free_ char *origin = NULL, *err = NULL;
        int r;

        r = bmc_origin_normalize(url, &origin, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_detail_set(reterr, r, "refused: %s", err ? err : "not a URL");
        for (size_t i = 0; inv && i < inv->n_machines; i++)
                if (strcmp(inv->machines[i].origin, origin) == 0)
                        return 0;
        return error_detail_set(reterr, -EPERM, "refused: %s is not a BMC endpoint in the spec's inventory", origin);
}
