; asm-start.asm: a NASM _start that calls polylink's Rust exports and prints with printf.
;
; Linked two ways from this one object: by gcc with -nostartfiles (asm-start), and by plain ld
; with every library and the dynamic linker named (asm-start-ld). Either way there is no C
; runtime start-up code: the kernel jumps to _start, and ld.so has initialised libc by then.
;
; Calls follow the System V AMD64 ABI: integer arguments in rdi, rsi, rdx, rcx, r8, r9, then on
; the stack; floating point in xmm0-xmm7; rsp 16-byte aligned at every call; rbx, rbp, r12-r15
; survive calls. The program is PIE, so data is addressed relative to rip (default rel) and libc
; functions are called through the PLT (wrt ..plt); the Rust functions are linked into this
; same executable and are called directly.

bits 64
default rel

global _start
extern hello, pl_sum8, pl_point_add, pl_apply_n, pl_circle_area, pl_stats
extern pl_may_panic, pl_status_str
extern printf, fflush

SYS_EXIT_GROUP equ 231

section .rodata
fmt_argc:   db "asm-start: _start in NASM, argc = %ld", 10, 0
fmt_sum8:   db "pl_sum8(1, 2, 3, 4, 5, 6, 7, 8) = %ld", 10, 0
fmt_point:  db "pl_point_add({1, 2}, {30, 40}) = {%ld, %ld}", 10, 0
fmt_apply:  db "pl_apply_n(triple, 2, 3 times) = %ld", 10, 0
fmt_area:   db "pl_circle_area(2.0) = %f", 10, 0
fmt_stats:  db "pl_stats({4, -2, 10, 0}) = count %lu, sum %ld, min %ld, max %ld, mean %f", 10, 0
fmt_status: db "pl_may_panic(0) = %d (%s)", 10, 0
align 8
values:     dq 4, -2, 10, 0
two:        dq 2.0

section .text
; The kernel enters with rsp pointing at argc and 16-byte aligned, which is what the ABI asks
; for before a call: _start may call at once. It must never return: there is nothing to return to.
_start:
    xor ebp, ebp                ; mark the outermost frame for debuggers
    mov rbx, [rsp]              ; argc, kept in callee-saved rbx

    lea rdi, [fmt_argc]
    mov rsi, rbx
    xor eax, eax                ; variadic call: al = number of vector registers used
    call printf wrt ..plt

    ; C stdio buffers its output and Rust writes through its own stdout: flush C's buffer
    ; before Rust prints, or the lines come out of order when stdout is a pipe.
    xor edi, edi                ; fflush(NULL) flushes every stream
    call fflush wrt ..plt
    call hello

    ; Eight integer arguments: six in registers, g and h on the stack. Pushed right to left,
    ; so g is at [rsp] at the call; two pushes (16 bytes) keep rsp 16-byte aligned.
    push 8                      ; h
    push 7                      ; g
    mov edi, 1                  ; a
    mov esi, 2                  ; b
    mov edx, 3                  ; c
    mov ecx, 4                  ; d
    mov r8d, 5                  ; e
    mov r9d, 6                  ; f
    call pl_sum8
    add rsp, 16                 ; the caller removes its stack arguments
    lea rdi, [fmt_sum8]
    mov rsi, rax
    xor eax, eax
    call printf wrt ..plt

    ; A 16-byte struct travels in two registers each way: a in rdi:rsi, b in rdx:rcx,
    ; the result in rax:rdx.
    mov edi, 1
    mov esi, 2
    mov edx, 30
    mov ecx, 40
    call pl_point_add
    lea rdi, [fmt_point]
    mov rsi, rax                ; x
    ; rdx already holds y, which is printf's third argument
    xor eax, eax
    call printf wrt ..plt

    ; A callback: Rust calls our triple through the function pointer we pass.
    lea rdi, [triple]           ; f
    xor esi, esi                ; ctx = NULL: triple does not use it
    mov edx, 2                  ; value
    mov ecx, 3                  ; times
    call pl_apply_n
    lea rdi, [fmt_apply]
    mov rsi, rax
    xor eax, eax
    call printf wrt ..plt

    ; Floating point in and out through xmm0.
    movsd xmm0, [two]
    call pl_circle_area
    lea rdi, [fmt_area]
    mov eax, 1                  ; one vector register (xmm0) carries a variadic argument
    call printf wrt ..plt

    ; A 40-byte struct comes back through memory: we reserve it on the stack and pass its
    ; address as a hidden first argument; the real arguments shift to rsi and rdx.
    sub rsp, 48                 ; 40 bytes, rounded up to keep rsp 16-byte aligned
    mov rdi, rsp                ; where pl_stats writes its PlStats (returned again in rax)
    lea rsi, [values]
    mov edx, 4
    call pl_stats
    lea rdi, [fmt_stats]
    mov rsi, [rsp]              ; count
    mov rdx, [rsp + 8]          ; sum
    mov rcx, [rsp + 16]         ; min
    mov r8, [rsp + 24]          ; max
    movsd xmm0, [rsp + 32]      ; mean
    mov eax, 1
    call printf wrt ..plt
    add rsp, 48

    ; A status code, and its name from Rust.
    xor edi, edi
    call pl_may_panic
    mov r12d, eax               ; callee-saved: survives the next call
    mov edi, eax
    call pl_status_str
    lea rdi, [fmt_status]
    mov esi, r12d
    mov rdx, rax
    xor eax, eax
    call printf wrt ..plt

    ; No C runtime will flush stdio at exit: do it, then end every thread of the process.
    xor edi, edi
    call fflush wrt ..plt
    mov eax, SYS_EXIT_GROUP
    xor edi, edi                ; status 0
    syscall

; int64_t triple(void *ctx, int64_t value): the callback handed to pl_apply_n.
triple:
    lea rax, [rsi + rsi * 2]
    ret

; Without this note, ld marks the stack executable (and warns).
section .note.GNU-stack noalloc noexec nowrite progbits
