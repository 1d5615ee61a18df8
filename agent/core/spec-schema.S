/* Embeds proto/spec.schema.json (NUL-terminated) as spec_schema_json, so the
 * binaries validate against exactly the schema they were built with. */
        .section .rodata
        .global spec_schema_json
        .type spec_schema_json, @object
        .balign 16
spec_schema_json:
        .incbin "proto/spec.schema.json"
        .byte 0
        .size spec_schema_json, . - spec_schema_json
        .section .note.GNU-stack,"",@progbits
