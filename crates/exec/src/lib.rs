//! polylink-exec: raw machine code run from executable memory.
//!
//! Raw code (the headerless bytes of `nasm -f bin`, or bytes made at run time) is written into
//! a [`CodeBuffer`], sealed into read+execute [`SealedCode`] after a CPU capability check
//! ([`cpu`]), and called through a function pointer that borrows it, with arguments in rdi,
//! rsi, … as the System V ABI says. A [`Module`] seals many functions in one mapping.
//!
//! Nearly all of polylink's `unsafe` lives here: every `mmap`, `mprotect` and `munmap`, and the
//! one conversion from an address to a function pointer, are in one module, `os`.

mod buffer;
mod check;
pub mod cpu;
mod error;
mod module;
mod os;
pub mod raw;

pub use buffer::{CodeBuffer, CodeFn, FnPtr, IntFn, IntSignature, PAD, SealedCode, call_int_at};
pub use check::{check_code, check_named_functions};
pub use error::{Error, Result};
pub use module::{ENTRY_ALIGN, Entry, Module, ModuleBuilder};
pub use os::{BLOCK, Placement, near_callers};

/// Bytes as polylink prints them: lowercase hex pairs separated by single spaces.
pub fn hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(" ")
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
