//! The patcher's reader of `/proc/PID/maps` lines, by which it finds a host's executable, its
//! load bias and its region.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            let _ = polylink_hot::patch::Mapping::parse(line);
        }
    }
});
