//! Every `extern "C"` export of polylink, in one file and one shape.
//!
//! Each export is `#[unsafe(no_mangle)] pub extern "C"` (or `unsafe extern "C"` when it takes
//! raw pointers), and runs its body through [`boundary`], so a panic never unwinds into the C
//! caller. The header `rust-lib/include/polylink.h` is generated from this file by
//! `cargo xtask header`; the comments here become its comments.
//!
//! Together the exports exercise the x86-64 System V calling convention: integers in rdi, rsi,
//! rdx, rcx, r8, r9 and then on the stack; floating point in xmm0–xmm7; small structs in
//! register pairs; large structs through a hidden pointer; function pointers called back.

use std::ffi::{c_char, c_void};
use std::panic::{self, AssertUnwindSafe};

use crate::{ParseError, PlPoint, PlStats};

/// The result of a fallible polylink function. Zero is success.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlStatus {
    Ok = 0,
    /// A required pointer was NULL.
    NullPointer = 1,
    /// The output buffer is smaller than the result.
    BufferTooSmall = 2,
    /// The input is not what the function accepts.
    InvalidInput = 3,
    /// The result does not fit in its type.
    Overflow = 4,
    /// Rust code panicked; the panic was caught before it reached the caller.
    Panicked = 5,
}

/// A callback for `pl_apply_n`: takes the caller's context pointer and a value, returns a value.
pub type PlStepFn = Option<unsafe extern "C" fn(ctx: *mut c_void, value: i64) -> i64>;

/// Runs `body`, turning a panic into `on_panic` so that it never unwinds into C.
///
/// `AssertUnwindSafe` is sound here because nothing the body touched is used after a panic:
/// the caller sees only `on_panic`, and documented outputs may be partly written.
fn boundary<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Views `len` elements at `ptr` as a slice; `None` when `ptr` is NULL and `len` is not zero.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` initialised elements that stay valid and
/// unmodified for `'a`.
unsafe fn slice_in<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    match (ptr.is_null(), len) {
        (_, 0) => Some(&[]),
        (true, _) => None,
        // SAFETY: non-null, and the caller promises `len` valid elements for `'a`.
        (false, _) => Some(unsafe { std::slice::from_raw_parts(ptr, len) }),
    }
}

/// Prints one line from Rust's standard library to stdout.
#[unsafe(no_mangle)]
pub extern "C" fn hello() {
    boundary((), || println!("Hello from Rust!"))
}

/// Eight integer arguments: a to f travel in rdi, rsi, rdx, rcx, r8 and r9, g and h on the
/// stack. Returns them folded as decimal digits, so `pl_sum8(1, 2, 3, 4, 5, 6, 7, 8)` is
/// 12345678 and a swapped or lost argument shows at once. Arithmetic wraps.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn pl_sum8(a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64) -> i64 {
    boundary(0, || crate::sum8(a, b, c, d, e, f, g, h))
}

/// A double in xmm0 and a double back in xmm0: the area of a circle of radius `radius`.
#[unsafe(no_mangle)]
pub extern "C" fn pl_circle_area(radius: f64) -> f64 {
    boundary(f64::NAN, || std::f64::consts::PI * radius * radius)
}

/// Floats in xmm0, xmm1, xmm2 and back in xmm0: the point at fraction `t` from `a` to `b`.
#[unsafe(no_mangle)]
pub extern "C" fn pl_lerp_f32(a: f32, b: f32, t: f32) -> f32 {
    boundary(f32::NAN, || a + (b - a) * t)
}

/// Integer and floating arguments interleaved: `count` and `offset` go to rdi and rsi, `scale`
/// and `bias` to xmm0 and xmm1, each class counted on its own. Returns
/// `count * scale + offset + bias`.
#[unsafe(no_mangle)]
pub extern "C" fn pl_mix(count: i32, scale: f64, offset: i64, bias: f32) -> f64 {
    boundary(f64::NAN, || {
        f64::from(count) * scale + offset as f64 + f64::from(bias)
    })
}

/// A 16-byte struct by value both ways: `a` arrives in rdi:rsi, `b` in rdx:rcx, and the sum
/// returns in rax:rdx. Coordinates wrap.
#[unsafe(no_mangle)]
pub extern "C" fn pl_point_add(a: PlPoint, b: PlPoint) -> PlPoint {
    boundary(PlPoint::default(), || PlPoint {
        x: a.x.wrapping_add(b.x),
        y: a.y.wrapping_add(b.y),
    })
}

/// A 40-byte struct returned through memory: the caller passes a hidden pointer in rdi, the
/// arguments shift to rsi and rdx, and the same pointer comes back in rax.
/// All fields are zero when `len` is zero or `values` is NULL.
///
/// # Safety
/// `values` is NULL or points to `len` readable `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pl_stats(values: *const i64, len: usize) -> PlStats {
    boundary(PlStats::default(), || {
        // SAFETY: the caller promises `len` readable values at a non-null `values`.
        let values = unsafe { slice_in(values, len) }.unwrap_or(&[]);
        crate::stats(values)
    })
}

/// Copies `src_len` bytes from `src` into `dst` with ASCII letters upper-cased, and stores the
/// number of bytes written in `*written`.
/// Returns PL_STATUS_NULL_POINTER when `written` is NULL, or when `src` or `dst` is NULL with a
/// non-zero length; PL_STATUS_BUFFER_TOO_SMALL when `dst_cap < src_len`, with the size needed
/// in `*written` and nothing copied.
///
/// # Safety
/// `src` is NULL or points to `src_len` readable bytes; `dst` is NULL or points to `dst_cap`
/// writable bytes that do not overlap `src`; `written` is NULL or points to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pl_upper(
    src: *const c_char,
    src_len: usize,
    dst: *mut c_char,
    dst_cap: usize,
    written: *mut usize,
) -> PlStatus {
    boundary(PlStatus::Panicked, || {
        if written.is_null() {
            return PlStatus::NullPointer;
        }
        // SAFETY: the caller promises `src_len` readable bytes at a non-null `src`.
        let Some(src) = (unsafe { slice_in(src.cast::<u8>(), src_len) }) else {
            return PlStatus::NullPointer;
        };
        if dst.is_null() && dst_cap > 0 {
            return PlStatus::NullPointer;
        }
        if dst_cap < src.len() {
            // SAFETY: `written` is non-null and the caller promises it is writable.
            unsafe { written.write(src.len()) };
            return PlStatus::BufferTooSmall;
        }
        for (i, byte) in src.iter().enumerate() {
            // SAFETY: `i < src.len() <= dst_cap`, `dst` is non-null here (dst_cap > 0 when
            // src is not empty) and the caller promises `dst_cap` writable bytes.
            unsafe { dst.cast::<u8>().add(i).write(byte.to_ascii_uppercase()) };
        }
        // SAFETY: `written` is non-null and the caller promises it is writable.
        unsafe { written.write(src.len()) };
        PlStatus::Ok
    })
}

/// Calls the caller's function `f` on `value` `times` times in a row, passing `ctx` through
/// untouched each time, and returns the last result (`value` itself when `times` is zero or
/// `f` is NULL).
///
/// # Safety
/// `f` is NULL or a function that is safe to call with `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pl_apply_n(f: PlStepFn, ctx: *mut c_void, value: i64, times: u32) -> i64 {
    boundary(value, || {
        let Some(f) = f else { return value };
        // SAFETY: the caller promises `f` is safe to call with `ctx`.
        (0..times).fold(value, |v, _| unsafe { f(ctx, v) })
    })
}

/// Parses `len` bytes at `text` as a decimal integer with an optional sign and stores it in
/// `*out`. Returns PL_STATUS_NULL_POINTER when `text` or `out` is NULL, PL_STATUS_INVALID_INPUT
/// for anything but digits, PL_STATUS_OVERFLOW when the value does not fit; `*out` is written
/// only on success.
///
/// # Safety
/// `text` is NULL or points to `len` readable bytes; `out` is NULL or points to a writable
/// `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pl_parse_i64(text: *const c_char, len: usize, out: *mut i64) -> PlStatus {
    boundary(PlStatus::Panicked, || {
        if text.is_null() || out.is_null() {
            return PlStatus::NullPointer;
        }
        // SAFETY: `text` is non-null and the caller promises `len` readable bytes.
        let text = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
        match crate::parse_i64(text) {
            Ok(value) => {
                // SAFETY: `out` is non-null and the caller promises it is writable.
                unsafe { out.write(value) };
                PlStatus::Ok
            }
            Err(ParseError::Invalid) => PlStatus::InvalidInput,
            Err(ParseError::Overflow) => PlStatus::Overflow,
        }
    })
}

/// Panics on purpose when `do_panic` is non-zero, to show the boundary at work: the panic is
/// caught inside Rust and comes back as PL_STATUS_PANICKED (Rust's panic hook reports it on
/// stderr). Returns PL_STATUS_OK otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn pl_may_panic(do_panic: i32) -> PlStatus {
    boundary(PlStatus::Panicked, || {
        if do_panic != 0 {
            panic!("deliberate panic in pl_may_panic({do_panic})");
        }
        PlStatus::Ok
    })
}

/// A static, NUL-terminated description of a status code ("unknown status" for a code that is
/// not a PlStatus). It takes an int rather than a PlStatus so that any value C passes is safe.
#[unsafe(no_mangle)]
pub extern "C" fn pl_status_str(status: i32) -> *const c_char {
    const NAMES: [&std::ffi::CStr; 6] = [
        c"ok",
        c"null pointer",
        c"buffer too small",
        c"invalid input",
        c"overflow",
        c"panicked",
    ];
    let name = usize::try_from(status)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or(c"unknown status");
    name.as_ptr()
}

/// How many arguments Rust's `std::env::args()` sees. Under an ordinary C `main` that is argc;
/// under a custom `_start` it is 0, because std records them from an `.init_array` function
/// that only the C runtime's start-up code runs.
#[unsafe(no_mangle)]
pub extern "C" fn pl_rust_arg_count() -> usize {
    boundary(0, || std::env::args_os().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    unsafe extern "C" fn double_it(ctx: *mut c_void, value: i64) -> i64 {
        // SAFETY: every caller in these tests passes a pointer to a live u32 counter.
        unsafe { *ctx.cast::<u32>() += 1 };
        value * 2
    }

    #[test]
    fn a_caught_panic_becomes_a_status() {
        assert_eq!(pl_may_panic(0), PlStatus::Ok);
        assert_eq!(pl_may_panic(1), PlStatus::Panicked);
    }

    #[test]
    fn upper_checks_nulls_and_capacity_before_writing() {
        let src = b"abc!";
        let mut dst = [0u8; 4];
        let mut written = 0usize;
        let (s, d) = (src.as_ptr().cast(), dst.as_mut_ptr().cast());
        // SAFETY: the pointers describe the live buffers above.
        unsafe {
            assert_eq!(
                pl_upper(s, 4, d, 4, std::ptr::null_mut()),
                PlStatus::NullPointer
            );
            assert_eq!(
                pl_upper(std::ptr::null(), 4, d, 4, &mut written),
                PlStatus::NullPointer
            );
            assert_eq!(pl_upper(s, 4, d, 3, &mut written), PlStatus::BufferTooSmall);
            assert_eq!((written, dst), (4, [0; 4]));
            assert_eq!(pl_upper(s, 4, d, 4, &mut written), PlStatus::Ok);
            assert_eq!(
                pl_upper(std::ptr::null(), 0, std::ptr::null_mut(), 0, &mut written),
                PlStatus::Ok
            );
        }
        assert_eq!(&dst, b"ABC!");
    }

    #[test]
    fn apply_n_calls_back_with_the_context() {
        let mut calls = 0u32;
        let ctx = (&raw mut calls).cast();
        // SAFETY: double_it is given a pointer to the live counter.
        assert_eq!(unsafe { pl_apply_n(Some(double_it), ctx, 3, 4) }, 48);
        assert_eq!(calls, 4);
        // SAFETY: a NULL callback is never called.
        assert_eq!(unsafe { pl_apply_n(None, ctx, 3, 4) }, 3);
    }

    #[test]
    fn parse_writes_only_on_success() {
        let mut out = -1i64;
        // SAFETY: the pointers describe live buffers.
        unsafe {
            assert_eq!(pl_parse_i64(c"-12".as_ptr(), 3, &mut out), PlStatus::Ok);
            assert_eq!(out, -12);
            assert_eq!(
                pl_parse_i64(c"x".as_ptr(), 1, &mut out),
                PlStatus::InvalidInput
            );
            assert_eq!(out, -12);
            assert_eq!(
                pl_parse_i64(std::ptr::null(), 0, &mut out),
                PlStatus::NullPointer
            );
        }
    }

    #[test]
    fn every_status_has_a_name_and_strangers_are_unknown() {
        let name = |s| {
            // SAFETY: pl_status_str returns static NUL-terminated strings.
            unsafe { CStr::from_ptr(pl_status_str(s)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(name(PlStatus::BufferTooSmall as i32), "buffer too small");
        assert_eq!(name(PlStatus::Panicked as i32), "panicked");
        assert_eq!(name(-1), "unknown status");
        assert_eq!(name(6), "unknown status");
    }
}
