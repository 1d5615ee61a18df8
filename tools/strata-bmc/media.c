/* Virtual media operations, shared by the InsertMedia/EjectMedia actions,
 * the slot PATCH (Lenovo XCC has no actions) and tasks (InsertMedia as a
 * 202 task on Dell): the personality's refusals, then the back end
 * (QEMU: blockdev-change-medium), then the model. */
#include <stdio.h>
#include <string.h>

#include "bmc.h"
#include "core/log.h"

#define ACTION_INSERT "VirtualMedia.InsertMedia"

int media_check_insert(const BmcMachine *m, unsigned slot, const BmcInsertMedia *req, BmcError *reterr) {
        const Personality *p = m->personality;

        /* Supermicro X11 refuses the default-valued fields (sushy
         * virtual_media.py; redfish.md section 9) */
        if ((p->flags & PERS_MEDIA_STRICT_FIELDS) && req->has_inserted)
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_NOT_SUPPORTED, "Inserted", ACTION_INSERT, NULL);
        if ((p->flags & PERS_MEDIA_STRICT_FIELDS) && req->has_write_protected)
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_NOT_SUPPORTED, "WriteProtected", ACTION_INSERT,
                                   NULL);
        /* a slot in use must be ejected first (Ironic always ejects first
         * for Dell, redfish.md section 9) */
        if (m->state->media[slot].inserted)
                return message_set(reterr, 0, BMC_MSG_RESOURCE_IN_USE, NULL, NULL, NULL);
        return 0;
}

int media_insert(Bmc *b, BmcMachine *m, unsigned slot, const BmcInsertMedia *req, BmcError *reterr) {
        char why[256] = "";
        bool write_protected = req->has_write_protected ? req->write_protected : true;
        int r;

        (void) b;
        r = media_check_insert(m, slot, req, reterr);
        if (r < 0)
                return r;
        r = m->backend->media_insert(m, slot, req->image, write_protected, why, sizeof(why));
        if (r < 0) {
                log_warning_errno(r, "machine %s: inserting media into slot %u failed: %s", m->id, slot, why);
                return message_set(reterr, 0, BMC_MSG_INTERNAL_ERROR, NULL, NULL, NULL);
        }
        machine_media_insert(m->state, slot, req->image, write_protected);
        return 0;
}

int media_eject(Bmc *b, BmcMachine *m, unsigned slot, BmcError *reterr) {
        char why[256] = "";
        int r;

        (void) b;
        if (!m->state->media[slot].inserted)
                return 0; /* nothing to eject: idempotent */
        r = m->backend->media_eject(m, slot, why, sizeof(why));
        if (r < 0) {
                log_warning_errno(r, "machine %s: ejecting media from slot %u failed: %s", m->id, slot, why);
                return message_set(reterr, 0, BMC_MSG_INTERNAL_ERROR, NULL, NULL, NULL);
        }
        machine_media_eject(m->state, slot);
        return 0;
}
