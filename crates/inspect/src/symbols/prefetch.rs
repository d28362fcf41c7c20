//! Memory asked for ahead: a symbol table read out of order (sorted, or merged from parts
//! sorted on other cores) waits on memory for every entry and name unless the CPU is told a
//! few entries early where the next ones are.

/// Asks the CPU to bring the cache line of `byte` in, ahead of a read that would wait for it.
#[inline]
pub fn prefetch(byte: *const u8) {
    // SAFETY: every x86-64 CPU has SSE; and a prefetch reads nothing the program sees and
    // never faults, whatever the address.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(byte.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}
