/* Embeds the Ignition templates (the JSON files in ignition/, NUL-terminated) so that
 * stratad's boot server and the strata CLI render from exactly the
 * templates they were built with and need no path at run time. One symbol
 * per file; agent/ignition/template.c lists them. */
        .macro TEMPLATE symbol, file
        .section .rodata
        .global \symbol
        .type \symbol, @object
        .balign 16
\symbol:
        .incbin "\file"
        .byte 0
        .size \symbol, . - \symbol
        .endm

        TEMPLATE ignition_template_base, "ignition/base.json"
        TEMPLATE ignition_template_sysext_fetch, "ignition/sysext-fetch.json"
        TEMPLATE ignition_template_fleet_ca, "ignition/fleet-ca.json"
        TEMPLATE ignition_template_role_seed, "ignition/role-seed.json"
        TEMPLATE ignition_template_role_controller, "ignition/role-controller.json"
        TEMPLATE ignition_template_role_worker, "ignition/role-worker.json"
        TEMPLATE ignition_template_pods, "ignition/pods.json"
        TEMPLATE ignition_template_data_volume, "ignition/data-volume.json"
        TEMPLATE ignition_template_data_volume_create, "ignition/data-volume-create.json"
        TEMPLATE ignition_template_sponsor, "ignition/sponsor.json"
        TEMPLATE ignition_template_boot_assets, "ignition/boot-assets.json"

        .section .note.GNU-stack,"",@progbits
