//! Executable memory, in states that types enforce.
//!
//! A [`CodeBuffer`] is writable and never executable. [`CodeBuffer::seal`] consumes it and
//! returns [`SealedCode`], readable and executable and never writable; [`SealedCode::unseal`]
//! goes back. No mapping is ever writable and executable at once. Sealed code owns its mapping
//! and unmaps it on drop; a [`CodeFn`] borrows the sealed code, so it cannot outlive it.
//!
//! A [`Module`] puts many functions in one mapping with one seal: an mmap and an mprotect cost
//! microseconds, so one mapping per small function costs far more than the function's bytes.
//!
//! The jit crate's `unsafe` lives in this file (turning an address into a function pointer,
//! and calling it) and in the hot tables, which call through their slots ([`crate::hot`]) and
//! map the region another process patches ([`crate::hot::shared`]).

use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::OnceLock;

use memmap2::{Mmap, MmapMut};

use crate::{Error, Result, cpu};

/// The byte that pads between functions: `int3`, a trap if ever executed.
pub(crate) const PAD: u8 = 0xcc;

/// Where a module places each function: at a multiple of 16 bytes, as compilers do.
pub const ENTRY_ALIGN: usize = 16;

/// Writable memory for machine code. It is never executable; [`CodeBuffer::seal`] makes it so.
#[derive(Debug)]
pub struct CodeBuffer {
    map: MmapMut,
    len: usize,
}

impl CodeBuffer {
    /// An empty buffer with room for `capacity` bytes (the mapping is rounded up to pages).
    pub fn with_capacity(capacity: usize) -> Result<CodeBuffer> {
        if capacity == 0 {
            return Err(Error::ZeroCapacity);
        }
        let map = MmapMut::map_anon(capacity).map_err(|cause| Error::Map {
            len: capacity,
            cause,
        })?;
        Ok(CodeBuffer { map, len: 0 })
    }

    /// A buffer holding exactly `code`.
    pub fn from_code(code: &[u8]) -> Result<CodeBuffer> {
        let mut buffer = CodeBuffer::with_capacity(code.len())?;
        buffer.push(code)?;
        Ok(buffer)
    }

    pub fn capacity(&self) -> usize {
        self.map.len()
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
        self.map[offset..offset + code.len()].copy_from_slice(code);
        self.len += code.len();
        Ok(offset)
    }

    /// The code written so far, to read or rewrite in place.
    pub fn code_mut(&mut self) -> &mut [u8] {
        &mut self.map[..self.len]
    }

    pub fn code(&self) -> &[u8] {
        &self.map[..self.len]
    }

    /// Makes the buffer readable and executable, and no longer writable, after checking that
    /// this CPU has every feature the code uses.
    pub fn seal(self) -> Result<SealedCode> {
        cpu::check("the code", self.code())?;
        self.seal_checked()
    }

    /// Seals code whose CPU features were already checked.
    fn seal_checked(self) -> Result<SealedCode> {
        let (len, capacity) = (self.len, self.capacity());
        let map = self.map.make_exec().map_err(|cause| Error::Seal {
            len: capacity,
            cause,
        })?;
        Ok(SealedCode { map, len })
    }
}

/// Readable, executable code that owns its mapping. It is unmapped when dropped, which the
/// borrow in [`CodeFn`] makes safe.
#[derive(Debug)]
pub struct SealedCode {
    map: Mmap,
    len: usize,
}

impl SealedCode {
    pub fn code(&self) -> &[u8] {
        &self.map[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the code starts in this process's memory.
    pub fn address(&self) -> usize {
        self.map.as_ptr() as usize
    }

    /// Makes the code writable again (and no longer executable), to rewrite it in place.
    pub fn unseal(self) -> Result<CodeBuffer> {
        let len = self.len;
        let capacity = self.map.len();
        let map = self.map.make_mut().map_err(|cause| Error::Unseal {
            len: capacity,
            cause,
        })?;
        Ok(CodeBuffer { map, len })
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
        // SAFETY: every FnPtr is a plain function pointer, the size of an address (checked at
        // compile time in the impls), and the caller promises the code there matches `F`.
        let f = unsafe { std::mem::transmute_copy::<usize, F>(&address) };
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
        // SAFETY: a function pointer is address-sized, as the assertion below checks.
        unsafe impl<R, $($arg),*> FnPtr for unsafe extern "C" fn($($arg),*) -> R {
            type Args = ($($arg,)*);
            type Output = R;
            #[allow(non_snake_case)]
            unsafe fn call_with(self, ($($arg,)*): Self::Args) -> R {
                const { assert!(size_of::<Self>() == size_of::<usize>()) };
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

type IntSignature = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64;

/// A function in sealed code that takes up to six unsigned integers and returns one.
#[derive(Debug)]
pub struct IntFn<'code>(CodeFn<'code, IntSignature>);

impl IntFn<'_> {
    /// Calls the function with `args` in rdi, rsi, rdx, rcx, r8, r9 (unused ones are zero).
    pub fn call(&self, args: &[u64]) -> Result<u64> {
        if args.len() > 6 {
            return Err(Error::TooManyArguments { count: args.len() });
        }
        let mut regs = [0u64; 6];
        regs[..args.len()].copy_from_slice(args);
        let [a, b, c, d, e, f] = regs;
        // SAFETY: `int_function`'s caller promised the code is sound with any integers.
        Ok(unsafe { self.0.call((a, b, c, d, e, f)) })
    }
}

/// A function's place in a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'m> {
    pub name: &'m str,
    pub offset: usize,
    pub len: usize,
}

/// An entry as stored: its name is a range of the module's name arena. Small functions are
/// added by the thousand, so adding one allocates nothing of its own.
#[derive(Clone, Debug)]
struct Slot {
    name: std::ops::Range<usize>,
    offset: usize,
    len: usize,
}

/// Collects functions for one shared mapping.
#[derive(Debug, Default)]
pub struct ModuleBuilder {
    code: Vec<u8>,
    names: String,
    slots: Vec<Slot>,
}

impl ModuleBuilder {
    pub fn new() -> ModuleBuilder {
        ModuleBuilder::default()
    }

    /// Adds a function named `name`. Names and CPU features are checked by [`Self::build`].
    pub fn add(&mut self, name: &str, code: &[u8]) -> &mut ModuleBuilder {
        let offset = self.code.len().next_multiple_of(ENTRY_ALIGN);
        self.code.resize(offset, PAD);
        self.code.extend_from_slice(code);
        let start = self.names.len();
        self.names.push_str(name);
        self.slots.push(Slot {
            name: start..self.names.len(),
            offset,
            len: code.len(),
        });
        self
    }

    /// Checks that the names are distinct and that this CPU can run every function, then writes
    /// them all into one mapping and seals it once.
    pub fn build(self) -> Result<Module> {
        let ModuleBuilder { code, names, slots } = self;
        let mut seen = HashSet::with_capacity(slots.len());
        if let Some(slot) = slots.iter().find(|s| !seen.insert(&names[s.name.clone()])) {
            let name = names[slot.name.clone()].to_owned();
            return Err(Error::DuplicateEntry { name });
        }
        // Slots are in offset order, so the one holding an offset is found by bisection.
        let owner = |offset: usize| {
            let i = slots
                .partition_point(|s| s.offset <= offset)
                .saturating_sub(1);
            names[slots[i].name.clone()].to_owned()
        };
        let ranges = slots.iter().map(|s| s.offset..s.offset + s.len);
        if let Some((_, error)) = cpu::first_unrunnable(&code, ranges, owner) {
            return Err(error);
        }
        let code = CodeBuffer::from_code(&code)?.seal_checked()?;
        Ok(Module {
            code,
            names,
            slots,
            sorted: OnceLock::new(),
        })
    }
}

/// Sealed functions sharing one mapping, found by name.
#[derive(Debug)]
pub struct Module {
    code: SealedCode,
    names: String,
    slots: Vec<Slot>,
    /// Slot indexes in name order, for lookup by bisection; made at the first lookup, since
    /// sorting costs more than building when functions are many and lookups few.
    sorted: OnceLock<Vec<usize>>,
}

impl Module {
    fn entry_of(&self, slot: &Slot) -> Entry<'_> {
        Entry {
            name: &self.names[slot.name.clone()],
            offset: slot.offset,
            len: slot.len,
        }
    }

    /// The functions in the order they were added.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.slots.iter().map(|s| self.entry_of(s))
    }

    pub fn entry(&self, name: &str) -> Result<Entry<'_>> {
        let name_of = |i: &usize| &self.names[self.slots[*i].name.clone()];
        let sorted = self.sorted.get_or_init(|| {
            let mut sorted: Vec<usize> = (0..self.slots.len()).collect();
            sorted.sort_unstable_by(|a, b| name_of(a).cmp(name_of(b)));
            sorted
        });
        sorted
            .binary_search_by(|i| name_of(i).cmp(name))
            .map(|at| self.entry_of(&self.slots[sorted[at]]))
            .map_err(|_| Error::NoEntry { name: name.into() })
    }

    pub fn code(&self) -> &SealedCode {
        &self.code
    }

    /// The function named `name`, typed as `F`.
    ///
    /// # Safety
    /// As for [`SealedCode::function`].
    pub unsafe fn function<F: FnPtr>(&self, name: &str) -> Result<CodeFn<'_, F>> {
        let offset = self.entry(name)?.offset;
        // SAFETY: passed on to our caller.
        unsafe { self.code.function(offset) }
    }

    /// The function named `name`, called with integers.
    ///
    /// # Safety
    /// As for [`SealedCode::int_function`].
    pub unsafe fn int_function(&self, name: &str) -> Result<IntFn<'_>> {
        let offset = self.entry(name)?.offset;
        // SAFETY: passed on to our caller.
        unsafe { self.code.int_function(offset) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mov rax, rdi; add rax, rsi; ret
    const ADD: [u8; 7] = [0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3];
    /// xor eax, eax; ret
    const ZERO: [u8; 3] = [0x31, 0xc0, 0xc3];

    #[test]
    fn sealed_code_runs_and_its_typed_pointer_borrows_it() {
        let code = CodeBuffer::from_code(&ADD).unwrap().seal().unwrap();
        // SAFETY: ADD is `uint64_t add(uint64_t, uint64_t)`.
        let add = unsafe { code.function::<unsafe extern "C" fn(u64, u64) -> u64>(0) }.unwrap();
        // SAFETY: integers only.
        assert_eq!(unsafe { add.call((40, 2)) }, 42);
    }

    #[test]
    fn a_module_holds_many_functions_in_one_mapping() {
        let mut builder = ModuleBuilder::new();
        builder.add("add", &ADD).add("zero", &ZERO);
        let module = builder.build().unwrap();
        assert_eq!(module.entry("zero").unwrap().offset, ENTRY_ALIGN);
        // SAFETY: both are integer functions.
        let (add, zero) = unsafe {
            (
                module.int_function("add").unwrap(),
                module.int_function("zero").unwrap(),
            )
        };
        assert_eq!(add.call(&[u64::MAX, 2]).unwrap(), 1);
        assert_eq!(zero.call(&[7]).unwrap(), 0);
        assert!(matches!(module.entry("nope"), Err(Error::NoEntry { .. })));
    }

    #[test]
    fn code_is_rewritten_by_unsealing_and_resealing() {
        let code = CodeBuffer::from_code(&ADD).unwrap().seal().unwrap();
        let mut buffer = code.unseal().unwrap();
        buffer.code_mut()[3..6].copy_from_slice(&[0x48, 0x29, 0xf0]); // add → sub rax, rsi
        let code = buffer.seal().unwrap();
        // SAFETY: integers only.
        let sub = unsafe { code.int_function(0) }.unwrap();
        assert_eq!(sub.call(&[50, 8]).unwrap(), 42);
    }

    #[test]
    fn misuse_gets_errors_not_panics() {
        assert!(matches!(
            CodeBuffer::with_capacity(0),
            Err(Error::ZeroCapacity)
        ));
        let mut buffer = CodeBuffer::with_capacity(4096).unwrap();
        let capacity = buffer.capacity();
        assert!(matches!(
            buffer.push(&vec![0; capacity + 1]),
            Err(Error::Full { .. })
        ));
        let code = CodeBuffer::from_code(&ZERO).unwrap().seal().unwrap();
        // SAFETY: never called: the offset is refused.
        let outside = unsafe { code.int_function(3) };
        assert!(matches!(outside, Err(Error::OutOfBounds { .. })));
        // SAFETY: integers only.
        let zero = unsafe { code.int_function(0) }.unwrap();
        assert!(matches!(
            zero.call(&[0; 7]),
            Err(Error::TooManyArguments { count: 7 })
        ));
        let mut builder = ModuleBuilder::new();
        builder.add("f", &ZERO).add("g", &ADD).add("f", &ZERO);
        assert!(matches!(builder.build(), Err(Error::DuplicateEntry { name }) if name == "f"));
    }
}
