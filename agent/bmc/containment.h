/* Containment: the check below every Redfish request. A request may only go
 * to a BMC endpoint listed in the spec's inventory; scheme, host and port
 * are compared after normalisation with the same URL parser libcurl uses to
 * connect, so what is checked is what is dialled. */
#pragma once

#include "bmc/bmc.h"

/* "scheme://host:port" of an http(s) URL: scheme and host lower-cased, a
 * trailing dot dropped from the host, IPv6 in brackets, the default port
 * made explicit; path, query and fragment ignored. -EINVAL (with *reterr)
 * for anything else, user info and zone ids included. */
int bmc_origin_normalize(const char *url, char **ret, char **reterr);

/* 0 if `url`'s origin is the endpoint of an inventory machine; -EPERM with
 * *reterr naming the refused endpoint otherwise (-EINVAL if it does not
 * parse). */
int bmc_containment_check(const BmcInventory *inv, const char *url, char **reterr);
