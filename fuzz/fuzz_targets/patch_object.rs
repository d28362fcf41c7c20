//! The live patcher's object reader: a patch object (an ELF relocatable file) parsed, laid out
//! and its relocations resolved, as `polylink live-patch` does before it touches a process.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    polylink_hot::live::fuzzing::link_object(data, "compute");
});
