//! rust-calls-c-and-asm: the reverse direction. A Rust `main` calls C functions from
//! `c/callee.c` and NASM functions from `asm/callee.asm`, which the build script compiled and
//! assembled, and hands C a Rust function to call back.

use std::ffi::{CStr, c_char, c_int};

unsafe extern "C" {
    fn c_fibonacci(n: u32) -> u64;
    fn c_describe_point(x: i64, y: i64, buf: *mut c_char, cap: usize) -> c_int;
    fn c_dot(a: *const f64, b: *const f64, n: usize) -> f64;
    fn c_call_twice(f: extern "C" fn(i64) -> i64, x: i64) -> i64;

    #[allow(clippy::too_many_arguments)]
    fn asm_sum8(a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64) -> i64;
    fn asm_max_u64(values: *const u64, n: usize) -> u64;
}

/// Handed to C as a plain function pointer; C calls it back.
extern "C" fn square_plus_one(x: i64) -> i64 {
    x.wrapping_mul(x).wrapping_add(1)
}

fn main() {
    println!("rust-calls-c-and-asm: Rust main calling C and NASM");

    // SAFETY: c_fibonacci takes a plain integer and touches no memory.
    println!("c_fibonacci(50) = {}", unsafe { c_fibonacci(50) });

    let mut buf = [0 as c_char; 32];
    // SAFETY: the pointer and capacity describe `buf`, which C fills with a NUL-terminated text.
    let needed = unsafe { c_describe_point(3, -4, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: c_describe_point NUL-terminates within `buf` since its capacity is non-zero.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    println!("c_describe_point(3, -4) = {text:?}, {needed} bytes");

    let (a, b) = ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]);
    // SAFETY: both pointers describe arrays of `a.len()` doubles.
    println!("c_dot([1, 2, 3], [4, 5, 6]) = {}", unsafe {
        c_dot(a.as_ptr(), b.as_ptr(), a.len())
    });

    // SAFETY: square_plus_one is a valid extern "C" function for as long as C may call it.
    println!("c_call_twice(square_plus_one, 2) = {}", unsafe {
        c_call_twice(square_plus_one, 2)
    });

    // SAFETY: asm_sum8 reads its eight arguments and touches no memory.
    println!("asm_sum8(1, 2, 3, 4, 5, 6, 7, 8) = {}", unsafe {
        asm_sum8(1, 2, 3, 4, 5, 6, 7, 8)
    });

    let values = [7u64, 3, u64::MAX - 1, 12];
    // SAFETY: the pointer and length describe `values`.
    println!("asm_max_u64([7, 3, 2^64 - 2, 12]) = {}", unsafe {
        asm_max_u64(values.as_ptr(), values.len())
    });
}
