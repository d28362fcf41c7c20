//! nm -C's fast C++ demangler on any bytes as a name, held to libiberty: wherever it spells a
//! name, libiberty (linked in) must spell it the same; it must never panic, hang or run away.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    polylink_inspect::fuzzing::demangle(data);
});
