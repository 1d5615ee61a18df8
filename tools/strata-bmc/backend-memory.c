/* The memory back end: the model is the machine. Power is whatever the
 * state machine (machine.c) says; media operations always succeed.
 *
 * For simulation only (`strata sim`, tools/sim/): with --on-power-on CMD,
 * every power-on that boots the machine (On, ForceOn, PushPowerButton from
 * off, and the resets that leave it on: ForceRestart, GracefulRestart,
 * PowerCycle) runs `sh -c CMD` with STRATA_SIM_MACHINE (the system's Id),
 * STRATA_SIM_BOOT_TARGET (the override this boot uses: Pxe, UefiHttp, Cd,
 * ..., or None when it boots its disk), STRATA_SIM_BOOT_URI (UefiHttp),
 * STRATA_SIM_RESET_TYPE and STRATA_SIM_MACS (space-separated) in its
 * environment, so a simulator can start the simulated machine's firmware.
 * The command is not waited for (double fork: it is never our child to
 * reap), and whatever it does, the Redfish answer is the same as without
 * it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bmc.h"
#include "core/log.h"

static void power_on_hook_exec(const BmcMachine *m, const BmcResetPlan *p) {
        bool override = p->boot.enabled != BMC_BOOT_DISABLED && p->boot.target != BMC_TARGET_NONE;
        char macs[BMC_MACS_MAX * (BMC_MAC_LEN + 1) + 1] = "";
        sigset_t all;

        for (size_t i = 0; i < m->n_macs; i++) {
                if (i > 0)
                        strcat(macs, " ");
                strcat(macs, m->macs[i]);
        }
        /* main() blocks SIGTERM and SIGINT for its loop: the command gets
         * the default mask back, and none of our descriptors */
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        closefrom(3);
        if (setenv("STRATA_SIM_MACHINE", m->id, 1) < 0 ||
            setenv("STRATA_SIM_BOOT_TARGET", override ? emu_target_to_string(p->boot.target) : "None", 1) < 0 ||
            setenv("STRATA_SIM_BOOT_URI", override ? p->boot.http_uri : "", 1) < 0 ||
            setenv("STRATA_SIM_RESET_TYPE", emu_reset_to_string(p->type), 1) < 0 ||
            setenv("STRATA_SIM_MACS", macs, 1) < 0)
                _exit(127);
        execl("/bin/sh", "sh", "-c", m->on_power_on, (char *) NULL);
        _exit(127);
}

static void power_on_hook(const BmcMachine *m, const BmcResetPlan *p) {
        pid_t pid, grandchild;
        int status = 0;

        pid = fork();
        if (pid < 0) {
                log_warning_errno(-errno, "machine %s: cannot run the --on-power-on command", m->id);
                return;
        }
        if (pid == 0) {
                grandchild = fork();
                if (grandchild == 0)
                        power_on_hook_exec(m, p);
                _exit(grandchild < 0 ? 1 : 0);
        }
        (void) waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                log_warning("machine %s: cannot run the --on-power-on command", m->id);
        else
                log_debug("machine %s: --on-power-on started", m->id);
}

static int memory_power_get(BmcMachine *m, BmcPower *ret) {
        *ret = m->state->power;
        return 0;
}

static int memory_power_apply(BmcMachine *m, const BmcResetPlan *p, BmcPower *ret_observed, char *reterr,
                              size_t reterr_size) {
        (void) reterr;
        (void) reterr_size;
        if (m->on_power_on && p->boots && p->to == BMC_POWER_ON)
                power_on_hook(m, p);
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
