; freestanding-start.asm: the NASM half of asm-freestanding, a static program with no libc.
;
; _start hands the kernel's argc and argv to Rust's free_main (rust-lib/freestanding) and ends
; the process with its return value. Rust calls back into this file for the two system calls it
; needs, and for the C string and memory primitives LLVM may call even in no_std code (a byte
; loop can become a call to strlen, a struct copy a call to memcpy).
;
; Each routine sits in its own section so that `ld --gc-sections` drops the unused ones.
; Linked with: ld -static --gc-sections

bits 64
default rel

global _start
global sys_write, sys_exit_group
global strlen, memcpy, memset
extern free_main

SYS_WRITE      equ 1
SYS_EXIT_GROUP equ 231          ; ends all threads; exit (60) would end only this one

section .text._start progbits alloc exec nowrite align=16
; The kernel enters with rsp pointing at argc, then argv[0..argc], NULL, envp…, and rsp is
; 16-byte aligned, which is what the ABI asks for before a call, so we may call at once.
_start:
    xor ebp, ebp                ; mark the outermost frame for debuggers
    mov rdi, [rsp]              ; argc
    lea rsi, [rsp + 8]          ; argv
    call free_main
    mov edi, eax                ; exit status: free_main's return value
    jmp sys_exit_group

section .text.sys_write progbits alloc exec nowrite align=16
; isize sys_write(int fd, const u8 *buf, usize len): write(2), -errno on failure.
; The syscall takes its arguments in rdi, rsi, rdx: the same registers as the C call.
sys_write:
    mov eax, SYS_WRITE
    syscall                     ; clobbers rcx and r11, both caller-saved
    ret

section .text.sys_exit_group progbits alloc exec nowrite align=16
; noreturn sys_exit_group(int status)
sys_exit_group:
    mov eax, SYS_EXIT_GROUP
    syscall
    hlt                         ; not reached

section .text.strlen progbits alloc exec nowrite align=16
; usize strlen(const char *s)
strlen:
    mov rax, rdi
.next:
    cmp byte [rax], 0
    je .end
    inc rax
    jmp .next
.end:
    sub rax, rdi
    ret

section .text.memcpy progbits alloc exec nowrite align=16
; void *memcpy(void *dst, const void *src, usize n): returns dst.
memcpy:
    mov rax, rdi
    mov rcx, rdx
    rep movsb                   ; copies rcx bytes from [rsi] to [rdi]; DF is clear per the ABI
    ret

section .text.memset progbits alloc exec nowrite align=16
; void *memset(void *dst, int byte, usize n): returns dst.
memset:
    mov r8, rdi
    mov eax, esi
    mov rcx, rdx
    rep stosb                   ; stores al into rcx bytes at [rdi]
    mov rax, r8
    ret

; Without this note, ld marks the stack executable (and warns).
section .note.GNU-stack noalloc noexec nowrite progbits
