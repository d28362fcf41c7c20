//! Executable memory, in states that types enforce.
//!
//! A [`CodeBuffer`] is writable and never executable. [`CodeBuffer::seal`] consumes it and
//! returns [`SealedCode`], readable and executable and never writable; [`SealedCode::unseal`]
//! goes back. No mapping is ever writable and executable at once. Sealed code owns its mapping
//! and unmaps it on drop; a [`CodeFn`] borrows the sealed code, so it cannot outlive it.

use std::marker::PhantomData;

use crate::os::{self, Pages, Placement};
use crate::{Error, Result, check};

/// The byte that pads between functions: `int3`, a trap if ever executed.
pub const PAD: u8 = 0xcc;

/// Writable memory for machine code. It is never executable; [`CodeBuffer::seal`] makes it so.
#[derive(Debug)]
pub struct CodeBuffer {
    pages: Pages,
    len: usize,
}

impl CodeBuffer {
    /// An empty buffer with room for `capacity` bytes (the mapping is rounded up to pages).
    pub fn with_capacity(capacity: usize) -> Result<CodeBuffer> {
        CodeBuffer::aligned(capacity, 0)
    }

    /// An empty buffer with room for `capacity` bytes, starting at a multiple of `align` (a
    /// power of two; the hot region's one-byte switch needs 64 KiB).
    pub fn aligned(capacity: usize, align: usize) -> Result<CodeBuffer> {
        CodeBuffer::placed(capacity, align, Placement::Near)
    }

    /// An empty buffer as [`Self::aligned`] makes, placed as `placement` asks. Code is mapped
    /// near its callers unless asked otherwise, because calls to far code cost more on some
    /// CPUs (see [`crate::near_callers`]); `Placement::Anywhere` is there to measure that.
    pub fn placed(capacity: usize, align: usize, placement: Placement) -> Result<CodeBuffer> {
        if capacity == 0 {
            return Err(Error::ZeroCapacity);
        }
        if align != 0 && !align.is_power_of_two() {
            return Err(Error::Alignment { align });
        }
        let pages = Pages::map(capacity, align, placement).map_err(|cause| Error::Map {
            len: capacity,
            cause,
        })?;
        Ok(CodeBuffer { pages, len: 0 })
    }

    /// A buffer holding exactly `code`.
    pub fn from_code(code: &[u8]) -> Result<CodeBuffer> {
        let mut buffer = CodeBuffer::with_capacity(code.len())?;
        buffer.push(code)?;
        Ok(buffer)
    }

    pub fn capacity(&self) -> usize {
        self.pages.len()
    }

    /// Where the code will start in this process's memory.
    pub fn address(&self) -> usize {
        self.pages.address()
    }

    /// How many bytes of code the buffer holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `code` and returns the offset it starts at.
    pub fn push(&mut self, code: &[u8]) -> Result<usize> {
        let offset = self.len;
        let free = self.capacity() - offset;
        if code.len() > free {
            return Err(Error::Full {
                len: code.len(),
                free,
                capacity: self.capacity(),
            });
        }
        self.pages.bytes_mut()[offset..offset + code.len()].copy_from_slice(code);
        self.len += code.len();
        Ok(offset)
    }

    /// The code written so far, to read or rewrite in place.
    pub fn code_mut(&mut self) -> &mut [u8] {
        &mut self.pages.bytes_mut()[..self.len]
    }

    pub fn code(&self) -> &[u8] {
        &self.pages.bytes()[..self.len]
    }

    /// Makes the buffer readable and executable, and no longer writable, after checking that
    /// the code from its first byte is a whole function this CPU can run ([`crate::check_code`]).
    pub fn seal(self) -> Result<SealedCode> {
        check::check_functions(self.code(), std::iter::once(0..self.len), |_| {
            "the code".to_owned()
        })?;
        self.seal_unchecked()
    }

    /// Seals the code without checking it: for code checked already (a module's functions, each
    /// on its own), or not a function at all (a region of `int3` with functions placed in it).
    /// Calling into unchecked code may kill the process with SIGILL, SIGSEGV or SIGTRAP.
    pub fn seal_unchecked(self) -> Result<SealedCode> {
        let CodeBuffer { mut pages, len } = self;
        pages.protect(true).map_err(|cause| Error::Seal {
            len: pages.len(),
            cause,
        })?;
        Ok(SealedCode { pages, len })
    }
}

/// Readable, executable code that owns its mapping. It is unmapped when dropped, which the
/// borrow in [`CodeFn`] makes safe.
#[derive(Debug)]
pub struct SealedCode {
    pages: Pages,
    len: usize,
}

impl SealedCode {
    pub fn code(&self) -> &[u8] {
        &self.pages.bytes()[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the code starts in this process's memory.
    pub fn address(&self) -> usize {
        self.pages.address()
    }

    /// Makes the code writable again (and no longer executable), to rewrite it in place.
    pub fn unseal(self) -> Result<CodeBuffer> {
        let SealedCode { mut pages, len } = self;
        pages.protect(false).map_err(|cause| Error::Unseal {
            len: pages.len(),
            cause,
        })?;
        Ok(CodeBuffer { pages, len })
    }

    /// Keeps the code mapped, read+execute, for the life of the process, and returns its
    /// address: code that other code (or another process) will reach by address forever, such
    /// as a hot region, is never unmapped.
    pub fn leak(self) -> usize {
        self.pages.leak()
    }

    /// The function at `offset`, typed as `F`.
    ///
    /// # Safety
    /// The bytes at `offset` must be a function that follows the System V x86-64 calling
    /// convention for the signature `F`.
    pub unsafe fn function<F: FnPtr>(&self, offset: usize) -> Result<CodeFn<'_, F>> {
        if offset >= self.len {
            return Err(Error::OutOfBounds {
                offset,
                len: self.len,
            });
        }
        let address = self.address() + offset;
        // SAFETY: the address lies in this sealed (executable) code, which the returned value
        // borrows, and the caller promises the code there matches `F`.
        let f = unsafe { os::fn_at::<F>(address) };
        Ok(CodeFn {
            f,
            _code: PhantomData,
        })
    }

    /// The function at `offset`, called with up to six unsigned integers.
    ///
    /// # Safety
    /// The bytes at `offset` must be a function that follows the System V x86-64 calling
    /// convention, takes at most six integer arguments and returns an integer in rax, and is
    /// sound to call with any integers (it must not, say, use them as pointers).
    pub unsafe fn int_function(&self, offset: usize) -> Result<IntFn<'_>> {
        // SAFETY: the caller's promise covers this signature: extra arguments in registers the
        // function does not read are ignored under the System V convention.
        let f = unsafe { self.function::<IntSignature>(offset)? };
        Ok(IntFn(f))
    }
}

/// A function pointer type that [`SealedCode::function`] can hand out.
///
/// # Safety
/// Implemented only for `unsafe extern "C" fn` pointer types, which are the size of an address.
pub unsafe trait FnPtr: Copy {
    type Args;
    type Output;
    /// # Safety
    /// The arguments must satisfy the contract of the code behind the pointer.
    unsafe fn call_with(self, args: Self::Args) -> Self::Output;
}

macro_rules! fn_ptr {
    ($($arg:ident),*) => {
        // SAFETY: a function pointer is address-sized, as `os::fn_at` asserts.
        unsafe impl<R, $($arg),*> FnPtr for unsafe extern "C" fn($($arg),*) -> R {
            type Args = ($($arg,)*);
            type Output = R;
            #[allow(non_snake_case)]
            unsafe fn call_with(self, ($($arg,)*): Self::Args) -> R {
                // SAFETY: the caller upholds the code's contract for these arguments.
                unsafe { self($($arg),*) }
            }
        }
    };
}
fn_ptr!();
fn_ptr!(A);
fn_ptr!(A, B);
fn_ptr!(A, B, C);
fn_ptr!(A, B, C, D);
fn_ptr!(A, B, C, D, E);
fn_ptr!(A, B, C, D, E, F);

/// A typed function in sealed code. It borrows the code, so it cannot outlive the mapping.
#[derive(Debug)]
pub struct CodeFn<'code, F> {
    f: F,
    _code: PhantomData<&'code SealedCode>,
}

impl<F: FnPtr> CodeFn<'_, F> {
    /// The bare function pointer. Calling it is `unsafe`, and sound only while the code it
    /// points into is alive: keep it next to a borrow of the code, as `RoutineSet` does.
    pub fn as_fn(&self) -> F {
        self.f
    }

    /// Calls the function.
    ///
    /// # Safety
    /// `args` must satisfy the code's contract (pointers valid for what it reads and writes).
    pub unsafe fn call(&self, args: F::Args) -> F::Output {
        // SAFETY: the pointer is live (borrowed) and the caller upholds the contract.
        unsafe { self.f.call_with(args) }
    }
}

/// A function of up to six unsigned integers returning one, as `run`, `asm --call` and hot slots
/// call code.
pub type IntSignature = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64;

/// A function in sealed code that takes up to six unsigned integers and returns one.
#[derive(Debug)]
pub struct IntFn<'code>(CodeFn<'code, IntSignature>);

impl IntFn<'_> {
    /// Calls the function with `args` in rdi, rsi, rdx, rcx, r8, r9 (unused ones are zero).
    pub fn call(&self, args: &[u64]) -> Result<u64> {
        let [a, b, c, d, e, f] = int_args(args)?;
        // SAFETY: `int_function`'s caller promised the code is sound with any integers.
        Ok(unsafe { self.0.call((a, b, c, d, e, f)) })
    }
}

/// Up to six integer arguments as the six argument registers (unused ones zero).
fn int_args(args: &[u64]) -> Result<[u64; 6]> {
    if args.len() > 6 {
        return Err(Error::TooManyArguments { count: args.len() });
    }
    let mut regs = [0u64; 6];
    regs[..args.len()].copy_from_slice(args);
    Ok(regs)
}

/// Calls the code at `address` with `args` in rdi, rsi, rdx, rcx, r8, r9 (unused ones zero).
///
/// # Safety
/// `address` must be the start of a function in executable memory that stays mapped during the
/// call, follows the System V x86-64 calling convention, takes at most six integer arguments,
/// returns an integer in rax, and is sound to call with any integers.
pub unsafe fn call_int_at(address: usize, args: &[u64]) -> Result<u64> {
    let [a, b, c, d, e, f] = int_args(args)?;
    // SAFETY: the caller's promise, passed on.
    let function = unsafe { os::fn_at::<IntSignature>(address) };
    // SAFETY: as above; the contract holds for any six integers.
    Ok(unsafe { function(a, b, c, d, e, f) })
}
