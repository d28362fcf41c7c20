//! The NASM-syntax front end of the emitter (`polylink asm`) on any text; what it assembles is
//! also checked as code would be before it runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(assembled) = polylink_emit::text::assemble(text)
    {
        let _ = polylink_exec::check_code("fuzz", assembled.program.code());
    }
});
