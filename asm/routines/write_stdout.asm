; write_stdout.asm: ssize_t pl_asm_write_stdout(const void *buf, size_t len)
;
; Writes len bytes from buf to standard output with the Linux write system call (number 1),
; once: returns the bytes written, or a negative errno.
; Arguments: rdi = buf, rsi = len. Returns: rax.
; Clobbers: rax, rcx and r11 (syscall uses them), rdx, rsi, rdi. Requires: x86-64 Linux.

bits 64
%ifidn __OUTPUT_FORMAT__, elf64
global pl_asm_write_stdout:function (pl_asm_write_stdout.end - pl_asm_write_stdout)
section .note.GNU-stack noalloc noexec nowrite progbits
section .text
%endif

SYS_WRITE equ 1
STDOUT    equ 1

pl_asm_write_stdout:
    mov rdx, rsi                ; write(fd = rdi, buf = rsi, count = rdx)
    mov rsi, rdi
    mov edi, STDOUT
    mov eax, SYS_WRITE
    syscall
    ret
.end:
