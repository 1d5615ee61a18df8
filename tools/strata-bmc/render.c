/* Resources as Redfish JSON (DMTF schemas: ServiceRoot v1_15, ComputerSystem
 * v1_20, EthernetInterface v1_12, Manager v1_19, VirtualMedia v1_6_5,
 * SessionService/Session, TaskService/Task v1_7_4), plus the two test
 * resources outside /redfish (history, faults). Only reads state: every
 * change goes through machine.c, media.c, tasks.c or auth.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bmc.h"

#define URI_MAX 512u

static json_t *link_to(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *link_to(const char *fmt, ...) {
        char uri[URI_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(uri, sizeof(uri), fmt, ap);
        va_end(ap);
        return json_pack("{s:s}", "@odata.id", uri);
}

static json_t *collection(const char *type, const char *uri, const char *name, json_t *members) {
        if (!members)
                return NULL;
        return json_pack("{s:s, s:s, s:s, s:I, s:o}", "@odata.type", type, "@odata.id", uri, "Name", name,
                         "Members@odata.count", (json_int_t) json_array_size(members), "Members", members);
}

static json_t *status_ok(void) {
        return json_pack("{s:s, s:s}", "State", "Enabled", "Health", "OK");
}

const char *render_system_uri(const BmcMachine *m, char *buf, size_t size) {
        snprintf(buf, size, "/redfish/v1/Systems/%s", m->id);
        return buf;
}

const char *render_media_base_uri(const BmcMachine *m, char *buf, size_t size) {
        snprintf(buf, size, "/redfish/v1/%s/%s/VirtualMedia",
                 m->personality->flags & PERS_MEDIA_ON_SYSTEM ? "Systems" : "Managers", m->id);
        return buf;
}

const char *render_etag(const BmcMachine *m, char *buf, size_t size) {
        snprintf(buf, size, "%s\"%llu\"", m->personality->flags & PERS_ETAG_WEAK ? "W/" : "",
                 (unsigned long long) m->state->generation);
        return buf;
}

json_t *render_root(const Bmc *b) {
        json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:{s:{s:b}, s:b, s:b}}",
                                 "@odata.type", "#ServiceRoot.v1_15_0.ServiceRoot",
                                 "@odata.id", "/redfish/v1/",
                                 "Id", "RootService",
                                 "Name", "Root Service",
                                 "RedfishVersion", "1.17.0",
                                 "UUID", b->uuid,
                                 "Vendor", b->personality->vendor,
                                 "Product", b->personality->product,
                                 "Systems", link_to("/redfish/v1/Systems"),
                                 "Managers", link_to("/redfish/v1/Managers"),
                                 "Tasks", link_to("/redfish/v1/TaskService"),
                                 "ProtocolFeaturesSupported", "ExpandQuery", "ExpandAll", 0,
                                 "SelectQuery", 0, "FilterQuery", 0);
        if (!root)
                return NULL;
        if (b->sessions) {
                if (json_object_set_new(root, "SessionService", link_to("/redfish/v1/SessionService")) < 0 ||
                    json_object_set_new(root, "Links",
                                        json_pack("{s:o}", "Sessions",
                                                  link_to("/redfish/v1/SessionService/Sessions"))) < 0) {
                        json_decref(root);
                        return NULL;
                }
        } else if (json_object_set_new(root, "Links", json_object()) < 0) {
                json_decref(root);
                return NULL;
        }
        return root;
}

json_t *render_systems(const Bmc *b, uint64_t mask) {
        json_t *members = json_array();
        for (size_t i = 0; members && i < b->n_machines; i++)
                if (mask & (UINT64_C(1) << i))
                        json_array_append_new(members, link_to("/redfish/v1/Systems/%s", b->machines[i].id));
        return collection("#ComputerSystemCollection.ComputerSystemCollection", "/redfish/v1/Systems",
                          "Computer System Collection", members);
}

static json_t *names_array(uint32_t bits, size_t max, const char *(*name)(int)) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < max; i++)
                if (bits & (1u << i))
                        json_array_append_new(a, json_string(name((int) i)));
        return a;
}

static const char *reset_name(int i) { return emu_reset_to_string((BmcResetType) i); }
static const char *target_name(int i) { return emu_target_to_string((BmcBootTarget) i); }

static json_t *boot_object(const BmcMachine *m, const BmcBoot *boot) {
        const Personality *p = m->personality;
        json_t *o = json_pack("{s:s, s:s, s:s, s:o}",
                              "BootSourceOverrideEnabled", emu_enabled_to_string(boot->enabled),
                              "BootSourceOverrideTarget", emu_target_to_string(boot->target),
                              "BootSourceOverrideMode", emu_mode_to_string(boot->mode),
                              "BootSourceOverrideTarget@Redfish.AllowableValues",
                              names_array(p->boot_targets, _BMC_TARGET_MAX, target_name));
        if (o && personality_allows_target(p, BMC_TARGET_UEFI_HTTP) &&
            json_object_set_new(o, "HttpBootUri", boot->http_uri[0] ? json_string(boot->http_uri) : json_null()) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *render_system(const BmcMachine *m) {
        const Personality *p = m->personality;
        char uri[URI_MAX], etag[64], media[URI_MAX];
        json_t *s;

        render_system_uri(m, uri, sizeof(uri));
        s = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:{s:[o]}, s:{s:{s:s, s:o}}}",
                      "@odata.type", "#ComputerSystem.v1_20_0.ComputerSystem",
                      "@odata.id", uri,
                      "@odata.etag", render_etag(m, etag, sizeof(etag)),
                      "Id", m->id,
                      "Name", m->name,
                      "SystemType", "Physical",
                      "Manufacturer", p->manufacturer,
                      "Model", p->model,
                      "SerialNumber", m->serial,
                      "UUID", m->uuid,
                      "PowerState", emu_power_to_string(m->state->power),
                      "Status", m->unreachable ? json_pack("{s:s, s:s}", "State", "UnavailableOffline", "Health", "Critical")
                                               : status_ok(),
                      "Boot", boot_object(m, &m->state->boot),
                      "EthernetInterfaces", link_to("%s/EthernetInterfaces", uri),
                      "Links", "ManagedBy", link_to("/redfish/v1/Managers/%s", m->id),
                      "Actions", "#ComputerSystem.Reset", "target", "", "ResetType@Redfish.AllowableValues",
                      names_array(p->reset_types, _BMC_RESET_MAX, reset_name));
        if (!s)
                return NULL;
        /* the target, built here to keep the pack format readable */
        char target[URI_MAX + 64];
        snprintf(target, sizeof(target), "%s/Actions/ComputerSystem.Reset", uri);
        json_object_set_new(json_object_get(json_object_get(s, "Actions"), "#ComputerSystem.Reset"), "target",
                            json_string(target));
        if (p->flags & PERS_MEDIA_ON_SYSTEM)
                json_object_set_new(s, "VirtualMedia", link_to("%s", render_media_base_uri(m, media, sizeof(media))));
        if (p->flags & PERS_BOOT_SETTINGS)
                json_object_set_new(s, "@Redfish.Settings",
                                    json_pack("{s:s, s:o, s:[s]}", "@odata.type", "#Settings.v1_3_5.Settings",
                                              "SettingsObject", link_to("%s/Settings", uri),
                                              "SupportedApplyTimes", "OnReset"));
        return s;
}

json_t *render_settings(const BmcMachine *m) {
        char uri[URI_MAX], etag[64];
        const BmcBoot *b = m->state->has_pending ? &m->state->pending : &m->state->boot;
        render_system_uri(m, uri, sizeof(uri));
        strncat(uri, "/Settings", sizeof(uri) - strlen(uri) - 1);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
                         "@odata.type", "#ComputerSystem.v1_20_0.ComputerSystem",
                         "@odata.id", uri,
                         "@odata.etag", render_etag(m, etag, sizeof(etag)),
                         "Id", "Settings",
                         "Name", "Pending settings (applied at the next reset)",
                         "Boot", boot_object(m, b));
}

json_t *render_nics(const BmcMachine *m) {
        char uri[URI_MAX];
        json_t *members = json_array();
        snprintf(uri, sizeof(uri), "/redfish/v1/Systems/%s/EthernetInterfaces", m->id);
        for (size_t i = 0; members && i < m->n_macs; i++)
                json_array_append_new(members, link_to("%s/%zu", uri, i + 1));
        return collection("#EthernetInterfaceCollection.EthernetInterfaceCollection", uri,
                          "Ethernet Interface Collection", members);
}

json_t *render_nic(const BmcMachine *m, size_t i) {
        char uri[URI_MAX], id[16], name[32];
        snprintf(uri, sizeof(uri), "/redfish/v1/Systems/%s/EthernetInterfaces/%zu", m->id, i + 1);
        snprintf(id, sizeof(id), "%zu", i + 1);
        snprintf(name, sizeof(name), "NIC %zu", i + 1);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
                         "@odata.type", "#EthernetInterface.v1_12_0.EthernetInterface",
                         "@odata.id", uri,
                         "Id", id,
                         "Name", name,
                         "MACAddress", m->macs[i],
                         "PermanentMACAddress", m->macs[i],
                         "LinkStatus", "LinkUp",
                         "Status", status_ok());
}

json_t *render_managers(const Bmc *b, uint64_t mask) {
        json_t *members = json_array();
        for (size_t i = 0; members && i < b->n_machines; i++)
                if (mask & (UINT64_C(1) << i))
                        json_array_append_new(members, link_to("/redfish/v1/Managers/%s", b->machines[i].id));
        return collection("#ManagerCollection.ManagerCollection", "/redfish/v1/Managers", "Manager Collection",
                          members);
}

json_t *render_manager(const BmcMachine *m) {
        char uri[URI_MAX], media[URI_MAX], name[BMC_NAME_MAX + 16];
        json_t *o;
        snprintf(uri, sizeof(uri), "/redfish/v1/Managers/%s", m->id);
        snprintf(name, sizeof(name), "Manager of %s", m->name);
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:[o]}}",
                      "@odata.type", "#Manager.v1_19_0.Manager",
                      "@odata.id", uri,
                      "Id", m->id,
                      "Name", name,
                      "ManagerType", "BMC",
                      "Model", m->personality->manager_model,
                      "FirmwareVersion", STRATA_VERSION,
                      "Status", status_ok(),
                      "Links", "ManagerForServers", link_to("/redfish/v1/Systems/%s", m->id));
        if (o && !(m->personality->flags & PERS_MEDIA_ON_SYSTEM))
                json_object_set_new(o, "VirtualMedia", link_to("%s", render_media_base_uri(m, media, sizeof(media))));
        return o;
}

json_t *render_media_collection(const BmcMachine *m) {
        char uri[URI_MAX];
        json_t *members = json_array();
        render_media_base_uri(m, uri, sizeof(uri));
        for (size_t i = 0; members && i < personality_n_slots(m->personality); i++)
                json_array_append_new(members, link_to("%s/%s", uri, m->personality->slots[i].id));
        return collection("#VirtualMediaCollection.VirtualMediaCollection", uri, "Virtual Media Services",
                          members);
}

static json_t *media_types(const char *csv) {
        char buf[64];
        json_t *a = json_array();
        snprintf(buf, sizeof(buf), "%s", csv);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); a && t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(t));
        return a;
}

json_t *render_media(const BmcMachine *m, unsigned slot) {
        const PersonalitySlot *ps = &m->personality->slots[slot];
        const BmcMedia *md = &m->state->media[slot];
        char base[URI_MAX], uri[URI_MAX + BMC_ID_MAX + 8], etag[64], name[BMC_ID_MAX + 32];
        const char *image_name;
        json_t *o;

        render_media_base_uri(m, base, sizeof(base));
        snprintf(uri, sizeof(uri), "%s/%s", base, ps->id);
        snprintf(name, sizeof(name), "Virtual Media %s", ps->id);
        image_name = strrchr(md->image, '/');
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:b, s:s}",
                      "@odata.type", "#VirtualMedia.v1_6_5.VirtualMedia",
                      "@odata.id", uri,
                      "@odata.etag", render_etag(m, etag, sizeof(etag)),
                      "Id", ps->id,
                      "Name", name,
                      "MediaTypes", media_types(ps->media_types),
                      "Image", md->image[0] ? json_string(md->image) : json_null(),
                      "ImageName", md->image[0] && image_name ? json_string(image_name + 1) : json_null(),
                      "Inserted", md->inserted,
                      "WriteProtected", md->write_protected,
                      "ConnectedVia", md->inserted ? "URI" : "NotConnected");
        if (o && !ps->no_actions) {
                char insert[sizeof(uri) + 64], eject[sizeof(uri) + 64];
                snprintf(insert, sizeof(insert), "%s/Actions/VirtualMedia.InsertMedia", uri);
                snprintf(eject, sizeof(eject), "%s/Actions/VirtualMedia.EjectMedia", uri);
                json_object_set_new(o, "Actions",
                                    json_pack("{s:{s:s}, s:{s:s}}", "#VirtualMedia.InsertMedia", "target", insert,
                                              "#VirtualMedia.EjectMedia", "target", eject));
        }
        return o;
}

json_t *render_session_service(const Bmc *b) {
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:o}",
                         "@odata.type", "#SessionService.v1_1_9.SessionService",
                         "@odata.id", "/redfish/v1/SessionService",
                         "Id", "SessionService",
                         "Name", "Session Service",
                         "ServiceEnabled", 1,
                         "SessionTimeout", (json_int_t) b->session_timeout_s,
                         "Sessions", link_to("/redfish/v1/SessionService/Sessions"));
}

json_t *render_sessions(const Bmc *b) {
        json_t *members = json_array();
        for (size_t i = 0; members && i < BMC_SESSIONS_MAX; i++)
                if (b->sessions_table[i].used)
                        json_array_append_new(members, link_to("/redfish/v1/SessionService/Sessions/%u",
                                                               b->sessions_table[i].id));
        return collection("#SessionCollection.SessionCollection", "/redfish/v1/SessionService/Sessions",
                          "Session Collection", members);
}

json_t *render_session(const BmcSession *s) {
        char uri[URI_MAX], id[16];
        snprintf(uri, sizeof(uri), "/redfish/v1/SessionService/Sessions/%u", s->id);
        snprintf(id, sizeof(id), "%u", s->id);
        return json_pack("{s:s, s:s, s:s, s:s, s:s}",
                         "@odata.type", "#Session.v1_7_0.Session",
                         "@odata.id", uri,
                         "Id", id,
                         "Name", "User Session",
                         "UserName", s->username);
}

json_t *render_task_service(const Bmc *b) {
        (void) b;
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}",
                         "@odata.type", "#TaskService.v1_2_1.TaskService",
                         "@odata.id", "/redfish/v1/TaskService",
                         "Id", "TaskService",
                         "Name", "Task Service",
                         "ServiceEnabled", 1,
                         "CompletedTaskOverWritePolicy", "Oldest",
                         "Tasks", link_to("/redfish/v1/TaskService/Tasks"));
}

json_t *render_tasks(const Bmc *b, uint64_t mask) {
        json_t *members = json_array();
        for (size_t i = 0; members && i < BMC_TASKS_MAX; i++) {
                const BmcTask *t = &b->tasks[i];
                if (t->used && (mask & (UINT64_C(1) << t->machine)))
                        json_array_append_new(members, link_to("/redfish/v1/TaskService/Tasks/%u", t->id));
        }
        return collection("#TaskCollection.TaskCollection", "/redfish/v1/TaskService/Tasks", "Task Collection",
                          members);
}

json_t *render_task(const BmcTask *t) {
        char uri[URI_MAX], monitor[URI_MAX + 16], id[16];
        json_t *o, *messages = json_array();

        snprintf(uri, sizeof(uri), "/redfish/v1/TaskService/Tasks/%u", t->id);
        snprintf(monitor, sizeof(monitor), "%s/Monitor", uri);
        snprintf(id, sizeof(id), "%u", t->id);
        if (messages && t->state == BMC_TASK_COMPLETED)
                json_array_append_new(messages, message_json(BMC_MSG_SUCCESS, NULL));
        else if (messages && t->state == BMC_TASK_EXCEPTION) {
                json_t *e = message_error_json(&t->error);
                json_t *info = json_array_get(json_object_get(json_object_get(e, "error"), "@Message.ExtendedInfo"), 0);
                if (info)
                        json_array_append(messages, info);
                json_decref(e);
        }
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}",
                      "@odata.type", "#Task.v1_7_4.Task",
                      "@odata.id", uri,
                      "Id", id,
                      "Name", "VirtualMedia.InsertMedia",
                      "TaskState", task_state_to_string(t->state),
                      "TaskStatus", t->state == BMC_TASK_EXCEPTION ? "Critical" : "OK",
                      "PercentComplete", (json_int_t) (t->state == BMC_TASK_RUNNING ? 50 : 100),
                      "StartTime", t->start_time,
                      "TaskMonitor", monitor,
                      "Messages", messages);
        if (o && t->state != BMC_TASK_RUNNING)
                json_object_set_new(o, "EndTime", json_string(t->end_time));
        return o;
}

json_t *render_history(const BmcMachine *m) {
        const MachineState *s = m->state;
        size_t n = machine_history_size(s);
        json_t *events = json_array();

        for (size_t i = 0; events && i < n; i++) {
                const BmcEvent *e = machine_history_get(s, i);
                json_t *o = json_pack("{s:I, s:s, s:s}", "Seq", (json_int_t) e->seq, "Event",
                                      machine_event_to_string(e->kind), "Detail", e->detail);
                if (o && e->kind == BMC_EVENT_BOOT)
                        json_object_set_new(o, "BootSource", json_string(emu_target_to_string(e->source)));
                json_array_append_new(events, o);
        }
        return json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:s, s:s}, s:b, s:I, s:o}",
                         "Id", m->id,
                         "PowerState", emu_power_to_string(s->power),
                         "BootCount", (json_int_t) s->boot_count,
                         "LastBootSource", emu_target_to_string(s->last_boot),
                         "BootOverride", "Enabled", emu_enabled_to_string(s->boot.enabled),
                         "Target", emu_target_to_string(s->boot.target),
                         "Mode", emu_mode_to_string(s->boot.mode),
                         "SettingsPending", s->has_pending,
                         "EventsDropped", (json_int_t) (s->next_seq - n),
                         "Events", events);
}

json_t *render_faults(const BmcMachine *m) {
        json_t *fail = json_array();
        for (size_t i = 0; fail && i < m->faults.n_fail; i++)
                json_array_append_new(fail, json_integer(m->faults.fail_next[i]));
        json_t *o = json_pack("{s:o, s:I}", "fail_next", fail, "hang_ms", (json_int_t) m->faults.hang_ms);
        if (o && m->faults.hang_counted)
                json_object_set_new(o, "hang_next", json_integer(m->faults.hang_next));
        return o;
}
