//! The Rust half of asm-freestanding: `#![no_std]`, no libc, no allocator.
//!
//! `asm/freestanding-start.asm` owns `_start` and the two system calls this crate needs
//! (`sys_write`, `sys_exit_group`), and also `strlen`, `memcpy` and `memset`, which LLVM may
//! call for loops it recognises even in a no_std crate. This crate formats its own numbers and
//! never touches `core::fmt`, which would triple the size of the program.

// `cargo clippy --all-targets` checks a test build too, where std provides the panic handler.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(test, allow(dead_code))]

/// The exit status of a panic, so that a caller can tell it from success. It is EX_SOFTWARE
/// from sysexits.h, "internal software error".
pub const PANIC_EXIT_CODE: i32 = 70;

const STDOUT: i32 = 1;
const STDERR: i32 = 2;

unsafe extern "C" {
    /// write(2) through the raw system call; returns bytes written or a negative errno.
    fn sys_write(fd: i32, buf: *const u8, len: usize) -> isize;
    /// exit_group(2): ends every thread of the process.
    fn sys_exit_group(code: i32) -> !;
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { sys_write(fd, bytes.as_ptr(), bytes.len()) };
        if n <= 0 {
            return; // Nowhere left to report a failing write.
        }
        bytes = &bytes[n as usize..];
    }
}

/// Writes `n` in decimal without core::fmt.
fn write_u64(fd: i32, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    write_all(fd, &digits[at..]);
}

/// The bytes of a NUL-terminated string.
///
/// # Safety
/// `p` points to a NUL-terminated string that outlives `'a`.
unsafe fn c_str<'a>(p: *const u8) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: the string is NUL-terminated, so every byte up to the NUL is readable.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// Called by `_start` with the kernel's argc and argv; the return value becomes the exit status.
/// Prints its arguments one per line; the argument `panic` panics on purpose, which ends the
/// process with [`PANIC_EXIT_CODE`].
///
/// # Safety
/// `argv` points to `argc` pointers to NUL-terminated strings, as the kernel lays them out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free_main(argc: usize, argv: *const *const u8) -> i32 {
    write_all(
        STDOUT,
        b"Hello from no_std Rust: no libc, no interpreter, raw syscalls only\n",
    );
    write_all(STDOUT, b"argc = ");
    write_u64(STDOUT, argc as u64);
    write_all(STDOUT, b"\n");
    for i in 0..argc {
        // SAFETY: the kernel provides `argc` valid pointers to NUL-terminated strings.
        let arg = unsafe { c_str(*argv.add(i)) };
        write_all(STDOUT, b"argv[");
        write_u64(STDOUT, i as u64);
        write_all(STDOUT, b"] = ");
        write_all(STDOUT, arg);
        write_all(STDOUT, b"\n");
        if i > 0 && arg == b"panic" {
            panic!("asked to panic on the command line");
        }
    }
    let sum: u64 = (1..=100).sum();
    write_all(STDOUT, b"sum of 1..=100 = ");
    write_u64(STDOUT, sum);
    write_all(STDOUT, b"\n");
    0
}

#[cfg(not(test))]
#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo) -> ! {
    write_all(STDERR, b"asm-freestanding panicked: ");
    write_all(
        STDERR,
        info.message()
            .as_str()
            .unwrap_or("(formatted message)")
            .as_bytes(),
    );
    if let Some(location) = info.location() {
        write_all(STDERR, b" at ");
        write_all(STDERR, location.file().as_bytes());
        write_all(STDERR, b":");
        write_u64(STDERR, u64::from(location.line()));
    }
    write_all(STDERR, b"\n");
    // SAFETY: exit_group never returns and needs nothing from this process.
    unsafe { sys_exit_group(PANIC_EXIT_CODE) }
}
