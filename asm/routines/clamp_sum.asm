; clamp_sum.asm: int64_t pl_asm_clamp_sum(const int64_t *values, size_t n, int64_t mul,
;                                         int64_t add, int64_t lo, int64_t hi)
;
; Six arguments, all in registers, and a loop over a buffer: the sum over i of
; min(max(values[i] * mul + add, lo), hi), every operation wrapping.
; Arguments: rdi = values, rsi = n, rdx = mul, rcx = add, r8 = lo, r9 = hi. Returns: rax.
; Clobbers: rax, rsi, rdi, r10. Requires: x86-64 (cmov).

bits 64
%ifidn __OUTPUT_FORMAT__, elf64
global pl_asm_clamp_sum:function (pl_asm_clamp_sum.end - pl_asm_clamp_sum)
section .note.GNU-stack noalloc noexec nowrite progbits
section .text
%endif

pl_asm_clamp_sum:
    xor eax, eax
    test rsi, rsi
    jz .done
.next:
    mov r10, [rdi]
    imul r10, rdx
    add r10, rcx
    cmp r10, r8
    cmovl r10, r8               ; below lo: lo
    cmp r10, r9
    cmovg r10, r9               ; above hi: hi
    add rax, r10
    add rdi, 8
    dec rsi
    jnz .next
.done:
    ret
.end:
