/* Blob, the owned byte buffer evidence travels in (see attest.h). */
#include "attest/attest.h"

#include <stdlib.h>
#include <string.h>

void blob_clear(Blob *b) {
        if (!b)
                return;
        free(b->data);
        *b = (Blob) {};
}
