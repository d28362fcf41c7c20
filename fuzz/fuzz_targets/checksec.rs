//! `polylink checksec` on any bytes: headers, segments, sections, notes, dynamic entries, and
//! the code it decodes to find the stack guard.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    polylink_inspect::fuzzing::checksec(data);
});
