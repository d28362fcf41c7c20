//! `polylink nm` on any bytes (an object, an archive, a thin archive, garbage), under every
//! combination of its options: the first two bytes choose them.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (flags, file) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => (0, data),
    };
    polylink_inspect::fuzzing::nm(flags, file);
});
