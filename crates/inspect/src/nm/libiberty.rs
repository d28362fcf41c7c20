//! libiberty's C++ demangler, in this process: GCC's `libsupc++.a` carries libiberty's
//! `cp-demangle.c` (the code behind `nm -C` and `c++filt`), and the build script links it when
//! the C compiler can find it. Its `__gcclibcxx_demangle_callback` demangles with
//! `DMGL_PARAMS | DMGL_TYPES`, which spells `_Z` and `_GLOBAL_` names as nm's
//! `DMGL_PARAMS | DMGL_ANSI` does.
//!
//! The demangler keeps two components and a substitution per byte of the name on the stack
//! (about 72 bytes a byte). Names up to [`IN_PLACE`] bytes are demangled on the calling thread;
//! longer ones on a thread of their own with a stack sized for them, up to [`LARGEST`].

/// Whether the demangler is linked in.
pub(super) const LINKED: bool = cfg!(polylink_libiberty);

/// The longest name demangled on the calling thread (which may have as little as 2 MiB of
/// stack): about 600 KiB of the demangler's arrays.
const IN_PLACE: usize = 8 << 10;

/// The longest name demangled at all (on a thread with a stack of 128 bytes a byte, 512 MiB
/// of address space, touched only as far as used).
const LARGEST: usize = 4 << 20;

/// Appends libiberty's demangling of `name` (a `_Z` or `_GLOBAL_` name) to `out`. `Some(true)`
/// when it demangles, `Some(false)` (and `out` as it was) when libiberty leaves it as it is,
/// `None` when the demangler is not linked in or the name is too long to ask it about.
pub(super) fn demangle(out: &mut Vec<u8>, name: &str) -> Option<bool> {
    if !LINKED || name.len() > LARGEST {
        return None;
    }
    if name.len() <= IN_PLACE {
        // The name NUL-terminated in a buffer this thread keeps, not a new allocation a name.
        thread_local! {
            static TERMINATED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        return TERMINATED.with_borrow_mut(|buffer| {
            buffer.clear();
            buffer.extend_from_slice(name.as_bytes());
            buffer.push(0);
            let name = std::ffi::CStr::from_bytes_with_nul(buffer).ok()?;
            Some(demangle_here(out, name))
        });
    }
    let name = std::ffi::CString::new(name).ok()?;
    let stack = name.as_bytes().len() * 128 + (8 << 20);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("demangle".into())
            .stack_size(stack)
            .spawn_scoped(scope, || demangle_here(out, &name))
            .ok()?
            .join()
            .ok()
    })
}

#[cfg(polylink_libiberty)]
fn demangle_here(out: &mut Vec<u8>, name: &std::ffi::CStr) -> bool {
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" {
        /// libiberty's `d_demangle_callback` with `DMGL_PARAMS | DMGL_TYPES`: 0 when it
        /// demangled, negative when it did not. It calls `callback` with pieces of the result.
        fn __gcclibcxx_demangle_callback(
            mangled: *const c_char,
            callback: unsafe extern "C" fn(*const c_char, usize, *mut c_void),
            opaque: *mut c_void,
        ) -> c_int;
    }

    /// Appends one piece of the demangled name to the vector behind `opaque`.
    unsafe extern "C" fn append(piece: *const c_char, len: usize, opaque: *mut c_void) {
        // SAFETY: `opaque` is the `&mut Vec<u8>` passed below, alive and not otherwise used
        // for the length of the call; `piece` points to `len` bytes of the demangler's buffer.
        let (out, piece) = unsafe {
            (
                &mut *opaque.cast::<Vec<u8>>(),
                std::slice::from_raw_parts(piece.cast::<u8>(), len),
            )
        };
        out.extend_from_slice(piece);
    }

    let mark = out.len();
    // SAFETY: `name` is NUL-terminated and outlives the call; `append` matches the callback's
    // C signature and only appends to `out`, which the call borrows exclusively. The
    // demangler keeps no pointer after it returns.
    let status = unsafe {
        __gcclibcxx_demangle_callback(name.as_ptr(), append, (&raw mut *out).cast::<c_void>())
    };
    if status != 0 {
        // A name that parses but fails to print may have sent part of itself.
        out.truncate(mark);
    }
    status == 0
}

#[cfg(not(polylink_libiberty))]
fn demangle_here(_: &mut Vec<u8>, _: &std::ffi::CStr) -> bool {
    false
}
