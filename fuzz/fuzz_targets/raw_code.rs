//! The check every raw code passes before it is sealed, run or installed in another process
//! (`polylink run`, `patch`): it follows any bytes along every branch.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = polylink_exec::check_code("fuzz", data);
});
