; callee.asm: NASM functions called from Rust by rust-calls-c-and-asm, the reverse direction.
; Assembled by that crate's build script with nasm-rs (-f elf64).

bits 64
default rel

global asm_sum8, asm_max_u64

section .text

; int64_t asm_sum8(int64_t a, b, c, d, e, f, g, h)
; The same fold as polylink's pl_sum8 (each argument becomes one decimal digit), written to
; show where the arguments are: a-f in rdi, rsi, rdx, rcx, r8, r9; g and h on the stack, just
; above the return address. Clobbers rax only.
asm_sum8:
    mov rax, rdi
    imul rax, rax, 10
    add rax, rsi
    imul rax, rax, 10
    add rax, rdx
    imul rax, rax, 10
    add rax, rcx
    imul rax, rax, 10
    add rax, r8
    imul rax, rax, 10
    add rax, r9
    imul rax, rax, 10
    add rax, [rsp + 8]          ; g: [rsp] is the return address
    imul rax, rax, 10
    add rax, [rsp + 16]         ; h
    ret

; uint64_t asm_max_u64(const uint64_t *values, size_t n): the largest value, 0 when n is 0.
; Clobbers rax, rcx, rdx.
asm_max_u64:
    xor eax, eax
    xor ecx, ecx
.next:
    cmp rcx, rsi
    jae .done
    mov rdx, [rdi + rcx * 8]
    cmp rdx, rax
    cmova rax, rdx              ; unsigned: keep the larger
    inc rcx
    jmp .next
.done:
    ret

; Without this note, ld would mark the stack executable.
section .note.GNU-stack noalloc noexec nowrite progbits
