/* Tasks (DSP0266 "Asynchronous operations"): an operation answered 202
 * with a task monitor in Location. Used for InsertMedia on personalities
 * with PERS_MEDIA_TASK. A task finishes task_ms after it was created;
 * task_advance() runs at the start of every request, so a client polling
 * the monitor sees 202 until then and the operation's own answer after.
 * Capped at BMC_TASKS_MAX; the oldest finished task makes room. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bmc.h"

static const char *const state_names[_BMC_TASK_STATE_MAX] = {
        [BMC_TASK_RUNNING] = "Running",
        [BMC_TASK_COMPLETED] = "Completed",
        [BMC_TASK_EXCEPTION] = "Exception",
};

const char *task_state_to_string(BmcTaskState s) {
        return s >= 0 && s < _BMC_TASK_STATE_MAX ? state_names[s] : NULL;
}

static void now_iso8601(char buf[32]) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

int task_new(Bmc *b, const BmcMachine *m, unsigned slot, const BmcInsertMedia *req, uint64_t now_usec,
             BmcTask **ret) {
        BmcTask *t = NULL, *oldest = NULL;

        for (size_t i = 0; i < BMC_TASKS_MAX && !t; i++) {
                BmcTask *x = &b->tasks[i];
                if (!x->used)
                        t = x;
                else if (x->state != BMC_TASK_RUNNING && (!oldest || x->id < oldest->id))
                        oldest = x;
        }
        if (!t)
                t = oldest;
        if (!t)
                return -EBUSY;
        *t = (BmcTask) {
                .used = true,
                .id = ++b->next_task_id,
                .machine = m->index,
                .slot = slot,
                .request = *req,
                .state = BMC_TASK_RUNNING,
                .start_usec = now_usec,
                .done_usec = now_usec + (uint64_t) m->task_ms * 1000u,
        };
        now_iso8601(t->start_time);
        *ret = t;
        return 0;
}

BmcTask *task_find(Bmc *b, unsigned id) {
        for (size_t i = 0; i < BMC_TASKS_MAX; i++)
                if (b->tasks[i].used && b->tasks[i].id == id)
                        return &b->tasks[i];
        return NULL;
}

void task_advance(Bmc *b, uint64_t now_usec) {
        for (size_t i = 0; i < BMC_TASKS_MAX; i++) {
                BmcTask *t = &b->tasks[i];
                if (!t->used || t->state != BMC_TASK_RUNNING || now_usec < t->done_usec)
                        continue;
                BmcMachine *m = &b->machines[t->machine];
                int r = media_insert(b, m, t->slot, &t->request, &t->error);
                t->state = r < 0 ? BMC_TASK_EXCEPTION : BMC_TASK_COMPLETED;
                now_iso8601(t->end_time);
        }
}
