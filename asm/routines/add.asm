; add.asm: uint64_t pl_asm_add(uint64_t a, uint64_t b)
;
; Returns a + b, wrapping. Seven bytes: the smallest useful function.
; Arguments: rdi = a, rsi = b. Returns: rax. Clobbers: rax. Requires: x86-64.
;
; One source, two forms: `nasm -f elf64` makes an object to link, `nasm -f bin` the raw bytes to
; load at run time. Only the object has symbols and sections, hence the %ifidn.

bits 64
%ifidn __OUTPUT_FORMAT__, elf64
global pl_asm_add:function (pl_asm_add.end - pl_asm_add)
section .note.GNU-stack noalloc noexec nowrite progbits
section .text
%endif

pl_asm_add:
    mov rax, rdi
    add rax, rsi
    ret
.end:
