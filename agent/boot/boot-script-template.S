/* Embeds the per-machine iPXE script template (images/pxe/boot.ipxe,
 * NUL-terminated), as agent/ignition/templates.S embeds the Ignition
 * templates: the boot server fills in exactly the template it was built
 * with and needs no path at run time. agent/boot/boot-script.c uses it. */
        .section .rodata
        .global boot_script_template
        .type boot_script_template, @object
        .balign 16
boot_script_template:
        .incbin "images/pxe/boot.ipxe"
        .byte 0
        .size boot_script_template, . - boot_script_template

        .section .note.GNU-stack,"",@progbits
