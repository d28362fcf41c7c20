/* c-start.c: C with its own _start, linked with -nostartfiles: no crt1.o, no C runtime
 * start-up code. ld.so still initialises libc (the program is dynamically linked), so stdio
 * works, but the program's own .init_array never runs: no C constructors, and Rust's
 * std::env::args() stays empty. Nothing flushes stdio at the end either, so we do. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tour.h"

/* Called by _start with the initial stack pointer: argc, then argv[0..argc], NULL, envp. */
__attribute__((noreturn, used)) void c_start_main(long *initial_sp) {
    int argc = (int)initial_sp[0];
    char **argv = (char **)(initial_sp + 1);

    printf("c-start: our own _start, no C runtime start-up code\n");
    tour_arguments(argc, argv);
    tour_exports();

    /* Output to a pipe is fully buffered and exit_group does not flush it. */
    fflush(stdout);
    syscall(SYS_exit_group, 0); /* every thread; SYS_exit (60) would end only this one */
    __builtin_unreachable();
}

/* The entry point. The kernel jumps here with rsp pointing at argc; there is no return address.
 * A C function cannot read its caller's stack pointer, so _start is naked: no prologue, just
 * these instructions. rsp is 16-byte aligned at entry, so the call pushes the return address
 * exactly as the ABI expects. (A _start written as an ordinary C function would instead need
 * __attribute__((force_align_arg_pointer)), since the compiler assumes the entry rsp is off by
 * the 8 bytes of a return address.) The compiler still describes _start to unwinders as if it
 * had been called; without .cfi_undefined rip, a backtrace (RUST_BACKTRACE=1 during a panic)
 * takes argc for a return address and crashes. */
__attribute__((naked, noreturn)) void _start(void) {
    __asm__(".cfi_undefined rip\n\t" /* no caller: unwinders stop here, as at glibc's _start */
            "xor %ebp, %ebp\n\t"   /* mark the outermost frame for debuggers */
            "mov %rsp, %rdi\n\t"   /* first argument: the initial stack pointer */
            "call c_start_main\n\t"
            "hlt");
}
