; mix.asm: uint64_t pl_asm_mix(uint64_t a, uint64_t b, uint64_t c)
;
; Mixes three values into one, working in the callee-saved registers rbx, rbp and r12-r15:
; it saves them first and restores them before returning, as the ABI demands of any function
; that uses them. The result: x = a * K ^ rotl(b, 17); x += c; x ^= x >> 29; x * K, with
; K = 0x9e3779b97f4a7c15 and wrapping multiplication.
; Arguments: rdi = a, rsi = b, rdx = c. Returns: rax. Clobbers: rax only.
; Requires: x86-64.

bits 64
%ifidn __OUTPUT_FORMAT__, elf64
global pl_asm_mix:function (pl_asm_mix.end - pl_asm_mix)
section .note.GNU-stack noalloc noexec nowrite progbits
section .text
%endif

pl_asm_mix:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov rbx, rdi
    mov rbp, rsi
    mov r12, rdx
    mov r13, 0x9e3779b97f4a7c15
    mov r14, rbx
    imul r14, r13               ; a * K
    mov r15, rbp
    rol r15, 17
    xor r14, r15                ; ^ rotl(b, 17)
    add r14, r12                ; + c
    mov r15, r14
    shr r15, 29
    xor r14, r15                ; ^= x >> 29
    imul r14, r13               ; * K
    mov rax, r14
    pop r15                     ; restored in the reverse order
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
.end:
