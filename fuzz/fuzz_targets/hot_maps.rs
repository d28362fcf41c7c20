//! The patcher's readers of what another process holds: the header of its hot table (checked
//! before anything is read by it) and the lines of `/proc/PID/maps`, by which it finds the
//! host's executable, its load bias and its region. The first bytes are a header, the rest
//! maps text.

#![no_main]

use polylink_hot::patch::TableHeader;
use polylink_hot::shared::offsets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((header, rest)) = data.split_first_chunk::<{ offsets::SLOTS }>() {
        let size = u64::from(rest.first().copied().unwrap_or(0)) * 16;
        let _ = TableHeader::read(header, size);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            let _ = polylink_hot::patch::Mapping::parse(line);
        }
    }
});
