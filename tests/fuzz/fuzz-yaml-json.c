/* Fuzz target for the YAML to JSON converter (agent/cluster/yaml-json.c):
 * the input is a YAML stream, as a provider manifest or a kubeconfig
 * arrives. Beyond "no crash, no leak, no hang": a refusal says where in
 * one printable line; every document serialises to JSON and reads back
 * equal (so nothing non-JSON gets through: no NaN, no invalid UTF-8); no
 * value nests deeper than YAML_JSON_DEPTH_MAX. Seeds:
 * tests/fuzz/fuzz-yaml-json/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/yaml-json.h"
#include "core/cleanup.h"

static unsigned depth_of(const json_t *j) {
        unsigned d = 0, k;
        const char *key;
        json_t *v;
        size_t i;

        if (json_is_object(j)) {
                json_object_foreach ((json_t *) j, key, v)
                        if ((k = depth_of(v)) > d)
                                d = k;
                return d + 1;
        }
        if (json_is_array(j)) {
                json_array_foreach (j, i, v)
                        if ((k = depth_of(v)) > d)
                                d = k;
                return d + 1;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(yaml_marks_freep) YamlMarks *marks = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *docs = NULL;
        json_t *doc;
        size_t i;
        int r;

        r = yaml_json_parse(data, size, "fuzz.yaml", size % 2 ? YAML_JSON_SKIP_EMPTY : 0, &docs, &marks, &err);
        if (r < 0) {
                if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
                        abort();
                if (r != -ENOMEM && (!err || strncmp(err, "fuzz.yaml:", 10) != 0))
                        abort();
                for (const unsigned char *c = (const unsigned char *) err; c && *c; c++)
                        if (*c < 0x20 && *c != '\t')
                                abort();
                return 0;
        }
        json_array_foreach (docs, i, doc) {
                _cleanup_free_ char *text = NULL;
                json_auto_t *back = NULL;
                YamlMark m;

                if (depth_of(doc) > YAML_JSON_DEPTH_MAX)
                        abort();
                if ((json_is_object(doc) || json_is_array(doc)) && !yaml_marks_find(marks, doc, &m))
                        abort(); /* a document's root always has a position */
                text = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT);
                if (!text)
                        continue; /* out of memory */
                back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                if (!back || !json_equal(back, doc))
                        abort();
        }
        return 0;
}
