; copy_fast.asm: void *pl_asm_copy_fast(void *dst, const void *src, size_t n)
;
; Copies n bytes for any length and alignment, and returns dst.
; Arguments: rdi = dst, rsi = src, rdx = n. Returns: rax = dst.
; Requires: AVX2; dst and src do not overlap.
; Clobbers: rcx, rdx, rsi, rdi, r8, r9, xmm0-xmm5/ymm0-ymm5 (all caller-saved; vzeroupper on
; return).
;
; Up to 64 bytes: two moves that may overlap, no loop. Above: the first and last 32 bytes are
; loaded at once and stored at the end, which lets the loop start at a 32-byte-aligned dst and
; stop without a byte tail. From NT_THRESHOLD on, stores are non-temporal: they bypass the
; caches, which a copy too large for them would only flush; sfence orders them before return.

bits 64
%ifidn __OUTPUT_FORMAT__, elf64
global pl_asm_copy_fast:function (pl_asm_copy_fast.end - pl_asm_copy_fast)
section .note.GNU-stack noalloc noexec nowrite progbits
section .text
%endif

NT_THRESHOLD equ 4 * 1024 * 1024    ; beyond most L2s and a share of the L3
REP_THRESHOLD equ 2048              ; where rep movsb overtakes a vector loop (as glibc finds)

pl_asm_copy_fast:
    mov rax, rdi
    cmp rdx, 32
    jb .below32
    cmp rdx, 64
    ja .above64
    vmovdqu ymm0, [rsi]                 ; 32..64 bytes
    vmovdqu ymm1, [rsi + rdx - 32]
    vmovdqu [rdi], ymm0
    vmovdqu [rdi + rdx - 32], ymm1
    vzeroupper
    ret

.below32:
    cmp edx, 16
    jb .below16
    movdqu xmm0, [rsi]                  ; 16..31 bytes
    movdqu xmm1, [rsi + rdx - 16]
    movdqu [rdi], xmm0
    movdqu [rdi + rdx - 16], xmm1
    ret
.below16:
    cmp edx, 8
    jb .below8
    mov rcx, [rsi]                      ; 8..15 bytes
    mov r8, [rsi + rdx - 8]
    mov [rdi], rcx
    mov [rdi + rdx - 8], r8
    ret
.below8:
    cmp edx, 4
    jb .below4
    mov ecx, [rsi]                      ; 4..7 bytes
    mov r8d, [rsi + rdx - 4]
    mov [rdi], ecx
    mov [rdi + rdx - 4], r8d
    ret
.below4:
    test edx, edx                       ; 0..3 bytes
    jz .done
.byte:
    movzx ecx, byte [rsi]
    mov [rdi], cl
    inc rsi
    inc rdi
    dec edx
    jnz .byte
.done:
    ret

.above64:
    vmovdqu ymm4, [rsi]                 ; the first 32 bytes
    vmovdqu ymm5, [rsi + rdx - 32]      ; the last 32 bytes
    mov r8, rdi
    lea r9, [rdi + rdx - 32]
    mov rcx, rdi                        ; skip to the next 32-byte boundary of dst:
    and ecx, 31                         ; 1..32 bytes, all inside the first 32
    neg rcx
    add rcx, 32
    add rdi, rcx
    add rsi, rcx
    sub rdx, rcx
    cmp rdx, NT_THRESHOLD
    jae .stream
    cmp rdx, REP_THRESHOLD
    jb .loop
    mov rcx, rdx                        ; the microcoded string copy, fastest here on CPUs
    rep movsb                           ; with ERMS/FSRM (it moves whole lines at a time)
    jmp .ends
.loop:
    cmp rdx, 128
    jb .by32
    vmovdqu ymm0, [rsi]
    vmovdqu ymm1, [rsi + 32]
    vmovdqu ymm2, [rsi + 64]
    vmovdqu ymm3, [rsi + 96]
    vmovdqa [rdi], ymm0
    vmovdqa [rdi + 32], ymm1
    vmovdqa [rdi + 64], ymm2
    vmovdqa [rdi + 96], ymm3
    add rsi, 128
    add rdi, 128
    sub rdx, 128
    jmp .loop
.by32:
    cmp rdx, 32
    jb .ends
    vmovdqu ymm0, [rsi]
    vmovdqa [rdi], ymm0
    add rsi, 32
    add rdi, 32
    sub rdx, 32
    jmp .by32
.ends:                                  ; under 32 bytes left: inside the last 32
    vmovdqu [r8], ymm4
    vmovdqu [r9], ymm5
    vzeroupper
    ret

.stream:
    cmp rdx, 128
    jb .streamed
    vmovdqu ymm0, [rsi]
    vmovdqu ymm1, [rsi + 32]
    vmovdqu ymm2, [rsi + 64]
    vmovdqu ymm3, [rsi + 96]
    vmovntdq [rdi], ymm0
    vmovntdq [rdi + 32], ymm1
    vmovntdq [rdi + 64], ymm2
    vmovntdq [rdi + 96], ymm3
    add rsi, 128
    add rdi, 128
    sub rdx, 128
    jmp .stream
.streamed:
    sfence                              ; non-temporal stores are weakly ordered
    jmp .by32
.end:
