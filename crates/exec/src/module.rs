//! A [`Module`] puts many functions in one mapping with one seal: an mmap and an mprotect cost
//! microseconds, so one mapping per small function costs far more than the function's bytes.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::buffer::{CodeBuffer, CodeFn, FnPtr, IntFn, PAD, SealedCode};
use crate::{Error, Result, check};

/// Where a module places each function: at a multiple of 16 bytes, as compilers do.
pub const ENTRY_ALIGN: usize = 16;

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

    /// A builder with room for `functions` functions of `bytes` bytes in all, so that adding
    /// them never grows a buffer.
    pub fn with_capacity(functions: usize, bytes: usize) -> ModuleBuilder {
        ModuleBuilder {
            code: Vec::with_capacity(bytes + functions * (ENTRY_ALIGN - 1)),
            names: String::with_capacity(functions * 8),
            slots: Vec::with_capacity(functions),
        }
    }

    /// Adds a function named `name`. Names and code are checked by [`Self::build`].
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

    /// Checks that the names are distinct and that each function is whole and runnable here
    /// ([`crate::check_code`]), then writes them all into one mapping and seals it once.
    pub fn build(self) -> Result<Module> {
        let ModuleBuilder { code, names, slots } = self;
        let mut seen = HashSet::with_capacity_and_hasher(slots.len(), NameHash::default());
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
        let functions = slots.iter().map(|s| s.offset..s.offset + s.len);
        check::check_functions(&code, functions, owner)?;
        let code = CodeBuffer::from_code(&code)?.seal_unchecked()?;
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

/// The hash of the duplicate-name check: names are short and come from the program itself,
/// so a fast multiplicative hash (as rustc's own FxHash) serves, where std's SipHash, made to
/// resist chosen keys, cost a quarter of building a module of small functions.
type NameHash = BuildHasherDefault<Fx>;

#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.0 = (self.0 ^ word).wrapping_mul(K).rotate_left(26);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.0 = (self.0 ^ u64::from_le_bytes(tail) ^ bytes.len() as u64)
            .wrapping_mul(K)
            .rotate_left(26);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
