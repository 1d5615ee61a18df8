/* Fuzz target for ignition_scan_secrets() (agent/ignition/secret-scan.c):
 * it reads every rendered config, and through the public spec in it the
 * operator's spec, tang advertisements included; it decodes data: URLs,
 * JSON inside strings and advertisements' payloads. The input is any JSON
 * document. Beyond not crashing or leaking: the answer is 0, -EPERM or
 * -ENOMEM; a hit is one line naming a JSON path ("$..."), and scanning the
 * same document again gives the same answer. Seeds:
 * tests/fuzz/fuzz-secret-scan/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "ignition/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_auto_t *doc = json_loadb((const char *) data, size, 0, NULL);
        _cleanup_free_ char *err = NULL, *again = NULL;
        int r, r2;

        if (!doc)
                return 0;
        r = ignition_scan_secrets(doc, &err);
        if (r == -ENOMEM)
                return 0;
        if (r != 0 && r != -EPERM)
                abort();
        if (r == -EPERM && (!err || err[0] != '$' || strchr(err, '\n')))
                abort();
        r2 = ignition_scan_secrets(doc, &again);
        if (r2 == -ENOMEM)
                return 0;
        if (r2 != r || (r < 0 && strcmp(err, again) != 0))
                abort();
        return 0;
}
