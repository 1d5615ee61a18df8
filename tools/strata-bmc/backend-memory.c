/* The memory back end: the model is the machine. Power is whatever the
 * state machine (machine.c) says; media operations always succeed. */
#include "bmc.h"

static int memory_power_get(BmcMachine *m, BmcPower *ret) {
        *ret = m->state->power;
        return 0;
}

static int memory_power_apply(BmcMachine *m, const BmcResetPlan *p, BmcPower *ret_observed, char *reterr,
                              size_t reterr_size) {
        (void) m;
        (void) reterr;
        (void) reterr_size;
        *ret_observed = p->to;
        return 0;
}

static int memory_media_insert(BmcMachine *m, unsigned slot, const char *image, bool write_protected, char *reterr,
                               size_t reterr_size) {
        (void) m;
        (void) slot;
        (void) image;
        (void) write_protected;
        (void) reterr;
        (void) reterr_size;
        return 0;
}

static int memory_media_eject(BmcMachine *m, unsigned slot, char *reterr, size_t reterr_size) {
        (void) m;
        (void) slot;
        (void) reterr;
        (void) reterr_size;
        return 0;
}

const BmcBackend backend_memory = {
        .name = "memory",
        .power_get = memory_power_get,
        .power_apply = memory_power_apply,
        .media_insert = memory_media_insert,
        .media_eject = memory_media_eject,
};
