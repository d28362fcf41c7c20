; copy_avx_baseline.asm: void pl_asm_copy_avx_baseline(void *dst, const void *src, size_t n)
;
; The AVX copy as it is usually shown, kept as the baseline: 64 bytes a turn through two ymm
; registers, with the stack traffic of a compiler at -O0 (every variable lives in memory).
; Arguments: rdi = dst, rsi = src, rdx = n. Returns nothing.
; Requires: AVX; dst and src 32-byte aligned; n a multiple of 64; no overlap.
; Clobbers: rax, rdx, ymm0, ymm1 (the upper halves are cleared by vzeroupper on return).

bits 64
%ifidn __OUTPUT_FORMAT__, elf64
global pl_asm_copy_avx_baseline:function (pl_asm_copy_avx_baseline.end - pl_asm_copy_avx_baseline)
section .note.GNU-stack noalloc noexec nowrite progbits
section .text
%endif

pl_asm_copy_avx_baseline:
    push rbp
    mov rbp, rsp
    mov [rbp - 24], rdi         ; dst, src and n spilled, as -O0 does
    mov [rbp - 32], rsi
    mov [rbp - 40], rdx
    mov qword [rbp - 8], 0      ; i = 0
.loop:
    mov rax, [rbp - 8]
    cmp rax, [rbp - 40]
    jae .done                   ; while (i < n)
    mov rdx, [rbp - 32]
    vmovdqa ymm0, [rdx + rax]
    vmovdqa ymm1, [rdx + rax + 32]
    mov rdx, [rbp - 24]
    vmovdqa [rdx + rax], ymm0
    vmovdqa [rdx + rax + 32], ymm1
    add qword [rbp - 8], 64     ; i += 64
    jmp .loop
.done:
    vzeroupper                  ; no AVX-to-SSE transition penalty for the caller
    pop rbp
    ret
.end:
