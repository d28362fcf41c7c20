//! The loops that time a call, one per variant, in assembly so that each has the same shape at
//! the same alignment: a loop compiled by rustc might be laid out differently for each variant,
//! or cross a 64-byte line in one and not in another (which costs about a cycle per call), and
//! stable Rust cannot align a function. Each loop starts at a 64-byte boundary; its body, 16
//! bytes at a 32-byte boundary, never crosses a line. Each variant has its own loop, so each
//! call site has its own entry in the branch predictor, as separate callers in a program do.
//!
//! Every loop calls `f` through a register, `calls` times, each call's result feeding the next
//! call's first argument (so calls cannot overlap), the counter its second; it returns the last
//! result.

use std::arch::global_asm;

pub use crate::AddFn;

macro_rules! call_loops {
    ($($name:ident),*) => {
        $(
            global_asm!(
                concat!(".globl ", stringify!($name)),
                concat!(".type ", stringify!($name), ", @function"),
                ".p2align 6",
                concat!(stringify!($name), ":"),
                "push rbx",
                "push r12",
                "push r13",
                "mov rbx, rdi",
                "mov r12, rsi",
                "xor r13d, r13d",
                "xor eax, eax",
                "test r12, r12",
                "jz 3f",
                ".p2align 5",
                "2:",
                "mov rdi, rax",
                "mov rsi, r13",
                "call rbx",
                "inc r13",
                "cmp r13, r12",
                "jne 2b",
                "3:",
                "pop r13",
                "pop r12",
                "pop rbx",
                "ret",
                concat!(".size ", stringify!($name), ", . - ", stringify!($name)),
            );
        )*
        unsafe extern "C" {
            $(
                /// Calls `f` `calls` times, as the module says; `f` must be an `add`: a function of
                /// two integers that touches no memory.
                pub fn $name(f: AddFn, calls: u64) -> u64;
            )*
        }
    };
}

call_loops!(
    pl_call_loop_native,
    pl_call_loop_linked,
    pl_call_loop_embedded,
    pl_call_loop_emitted,
    pl_call_loop_far
);
