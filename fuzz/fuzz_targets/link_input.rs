//! What `polylink link` and `link-order` read of one input: a linker script, an archive and
//! its members, an object or shared object and its dependencies.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    polylink_inspect::fuzzing::link_input(data);
});
