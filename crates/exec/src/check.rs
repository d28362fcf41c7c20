//! What raw code must be before it is sealed, run or installed into another process: a whole
//! function. Every instruction that can be reached from its first byte decodes, none of them is
//! a trap or privileged, none needs a CPU feature this CPU lacks, and no path runs off its end
//! (each ends in a `ret` or a `jmp`). A file that is plainly something else (an ELF object, an
//! archive, assembly text) is named as such, with how to get raw code out of it.
//!
//! The check follows control flow from the entry, as the CPU would, rather than decoding the
//! bytes in a line: so data or `int3` padding after the last `ret` (a jump table, a constant,
//! the gap before the next function of a module) is not mistaken for code, and code that a
//! branch skips over is still checked.

use std::ops::Range;

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind};

use crate::{Error, Result, cpu};

/// Refuses `code` (called `name` in the errors) unless it is a whole function, as above.
pub fn check_code(name: &str, code: &[u8]) -> Result<()> {
    if let Some((what, hint)) = not_code(code) {
        return Err(Error::NotCode {
            name: name.to_owned(),
            what,
            hint,
        });
    }
    check_functions(code, std::iter::once(0..code.len()), |_| name.to_owned())
}

/// Checks each named range of `code` as a whole function on its own: what a relocatable
/// object's placed code holds (its functions, and the stubs and thunk made for it).
pub fn check_named_functions(code: &[u8], functions: &[(Range<usize>, String)]) -> Result<()> {
    check_functions(
        code,
        functions.iter().map(|(range, _)| range.clone()),
        |start| {
            functions
                .iter()
                .find(|(range, _)| range.start == start)
                .map_or_else(String::new, |(_, name)| name.clone())
        },
    )
}

/// Checks each of `functions`, ranges of `code`, as a whole function on its own, naming the one
/// at an offset `name(offset)`. One decoder serves every function: creating one costs more
/// than checking a small function, and modules check thousands.
pub(crate) fn check_functions(
    code: &[u8],
    functions: impl IntoIterator<Item = Range<usize>>,
    name: impl Fn(usize) -> String,
) -> Result<()> {
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut walk = Walk::default();
    for range in functions {
        walk.function(&mut decoder, range.clone())
            .map_err(|fault| fault.into_error(name(range.start), code, range.start))?;
    }
    Ok(())
}

/// What is wrong, found at `offset` from the function's start.
enum Fault {
    Undecodable {
        offset: usize,
    },
    Trap {
        offset: usize,
        instruction: Instruction,
        why: &'static str,
    },
    Cpu {
        feature: iced_x86::CpuidFeature,
        known: bool,
    },
    RunsOff {
        last: Option<(usize, Instruction)>,
    },
}

impl Fault {
    fn into_error(self, name: String, code: &[u8], start: usize) -> Error {
        match self {
            Fault::Undecodable { offset } => {
                let at = start + offset;
                let end = (at + 15).min(code.len());
                Error::Undecodable {
                    name,
                    offset,
                    bytes: crate::hex(&code[at..end]),
                }
            }
            Fault::Trap {
                offset,
                instruction,
                why,
            } => Error::Trap {
                name,
                offset,
                instruction: instruction.to_string(),
                why,
            },
            Fault::Cpu { feature, known } => {
                let feature = format!("{feature:?}");
                match known {
                    true => Error::MissingCpuFeature { name, feature },
                    false => Error::UncheckableCpuFeature { name, feature },
                }
            }
            Fault::RunsOff { last } => Error::NoReturn {
                name,
                after: match last {
                    Some((offset, i)) => format!("`{i}` at offset {offset} is followed by nothing"),
                    None => "it is empty".to_owned(),
                },
            },
        }
    }
}

/// The state of following one function's control flow, kept between functions so that
/// checking many allocates once.
#[derive(Default)]
struct Walk {
    /// Offsets (from the function's start) still to decode from.
    pending: Vec<usize>,
    /// One bit per byte of the function: an instruction was decoded starting there.
    seen: Vec<u64>,
}

impl Walk {
    fn function(
        &mut self,
        decoder: &mut Decoder<'_>,
        range: Range<usize>,
    ) -> std::result::Result<(), Fault> {
        let len = range.end - range.start;
        if len == 0 {
            return Err(Fault::RunsOff { last: None });
        }
        // Most functions are small: their bits fit in one word, and need no buffer cleared.
        let mut one = [0u64; 1];
        let Walk { pending, seen } = self;
        let seen: &mut [u64] = if len <= 64 {
            &mut one
        } else {
            seen.clear();
            seen.resize(len.div_ceil(64), 0);
            seen
        };
        pending.clear();
        pending.push(0);
        let mut instruction = Instruction::default();
        while let Some(mut offset) = pending.pop() {
            // Decode straight on from `offset` until the path ends or joins one already seen.
            let at = range.start + offset;
            decoder
                .set_position(at)
                .map_err(|_| Fault::Undecodable { offset })?;
            decoder.set_ip(at as u64);
            loop {
                if seen[offset / 64] & (1 << (offset % 64)) != 0 {
                    break;
                }
                seen[offset / 64] |= 1 << (offset % 64);
                decoder.decode_out(&mut instruction);
                let next = offset + instruction.len();
                if instruction.is_invalid() || next > len {
                    return Err(Fault::Undecodable { offset });
                }
                check_instruction(&instruction, offset)?;
                let local = |target: u64| {
                    let target = usize::try_from(target).ok()?;
                    range.contains(&target).then(|| target - range.start)
                };
                let target = match instruction.op0_kind() {
                    OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                        local(instruction.near_branch_target())
                    }
                    _ => None,
                };
                let falls_through = match instruction.flow_control() {
                    FlowControl::Return
                    | FlowControl::UnconditionalBranch
                    | FlowControl::IndirectBranch => false,
                    FlowControl::Next
                    | FlowControl::ConditionalBranch
                    | FlowControl::Call
                    | FlowControl::IndirectCall
                    | FlowControl::Interrupt
                    | FlowControl::XbeginXabortXend
                    | FlowControl::Exception => true,
                };
                // A branch out of the function (a tail call, a call into the host) is not
                // followed: what lies there is not this code's to check.
                pending.extend(target);
                if !falls_through {
                    break;
                }
                if next == len {
                    return Err(Fault::RunsOff {
                        last: Some((offset, instruction)),
                    });
                }
                offset = next;
            }
        }
        Ok(())
    }
}

/// Refuses an instruction that always faults in a user process, or that needs a CPU feature
/// this CPU lacks (or that polylink cannot check for).
fn check_instruction(instruction: &Instruction, offset: usize) -> std::result::Result<(), Fault> {
    let trap = |why| {
        Err(Fault::Trap {
            offset,
            instruction: *instruction,
            why,
        })
    };
    match instruction.flow_control() {
        FlowControl::Exception => return trap("raises an invalid-opcode exception (SIGILL)"),
        // `int 0x80` is the 32-bit system call, which Linux also serves to 64-bit code.
        FlowControl::Interrupt
            if !(instruction.mnemonic() == Mnemonic::Int && instruction.immediate8() == 0x80) =>
        {
            return trap("raises a trap (SIGTRAP or SIGSEGV)");
        }
        _ => {}
    }
    if instruction.is_privileged() {
        return trap("is privileged: a user process that runs it gets SIGSEGV");
    }
    for &feature in instruction.cpuid_features() {
        if cpu::is_baseline(feature) {
            continue;
        }
        match cpu::available(feature) {
            Some(true) => {}
            Some(false) => {
                return Err(Fault::Cpu {
                    feature,
                    known: true,
                });
            }
            None => {
                return Err(Fault::Cpu {
                    feature,
                    known: false,
                });
            }
        }
    }
    Ok(())
}

/// What a file plainly is when it is not raw code, and how to get raw code from it.
fn not_code(code: &[u8]) -> Option<(&'static str, &'static str)> {
    if code.starts_with(b"\x7fELF") {
        return Some((
            "an ELF file (an object or a program), not raw code",
            "extract a function's bytes with `objcopy -O binary --only-section=.text FILE \
             OUT.bin`, or assemble with `nasm -f bin`",
        ));
    }
    if code.starts_with(b"!<arch>\n") || code.starts_with(b"!<thin>\n") {
        return Some((
            "an archive of objects, not raw code",
            "raw code is the headerless output of `nasm -f bin` (or `polylink asm --out`)",
        ));
    }
    // Machine code is almost never valid UTF-8 free of control characters: `ret` (c3) is a
    // lead byte that needs a continuation.
    let text = std::str::from_utf8(code).is_ok_and(|t| {
        t.chars()
            .all(|c| c == '\n' || c == '\r' || c == '\t' || !c.is_control())
    });
    if text && code.len() >= 4 {
        return Some((
            "a text file (assembly source?), not raw code",
            "assemble it first: `nasm -f bin FILE -o FILE.bin`, or `polylink asm -f FILE --out \
             FILE.bin`",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &[u8]) -> String {
        check_code("x", code).unwrap_err().to_string()
    }

    #[test]
    fn whole_functions_pass() {
        check_code("add", &[0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]).unwrap();
        check_code("jmp rax", &[0xff, 0xe0]).unwrap();
        check_code("syscall; ret", &[0x0f, 0x05, 0xc3]).unwrap();
        // test edi, edi; jz +1; ret; ret, and data after the last ret that is never reached
        check_code(
            "branch",
            &[0x85, 0xff, 0x74, 0x01, 0xc3, 0xc3, 0x0f, 0x0b, 0xff],
        )
        .unwrap();
        // a call to a local function after the ret: call +1; ret; ret
        check_code("local call", &[0xe8, 0x01, 0, 0, 0, 0xc3, 0xc3]).unwrap();
        // a tail call out of the code is not followed: jmp -0x1000
        check_code("tail call", &[0xe9, 0x00, 0xf0, 0xff, 0xff]).unwrap();
        // int 0x80; ret
        check_code("int 0x80", &[0xcd, 0x80, 0xc3]).unwrap();
    }

    #[test]
    fn bad_bytes_are_refused_by_what_is_wrong() {
        assert!(
            refused(b"\x06\xc3").contains("does not decode"),
            "{}",
            refused(b"\x06\xc3")
        );
        assert!(refused(b"\xff\xff\xc3").contains("does not decode"));
        assert!(refused(b"\x0f\x04\xc3").contains("does not decode"));
        assert!(
            refused(b"\x48\x8b").contains("does not decode"),
            "a cut instruction"
        );
        assert!(refused(b"\x0f\x0b").contains("SIGILL"));
        assert!(refused(b"\xcc\xc3").contains("trap"));
        assert!(refused(b"\xf4\xc3").contains("privileged"), "hlt");
        assert!(refused(b"\xfa\xc3").contains("privileged"), "cli");
        assert!(refused(b"\x48\x89\xf8").contains("`mov rax,rdi` at offset 0"));
        assert!(refused(b"\x7fELF\x02\x01\x01").contains("an ELF file"));
        assert!(refused(b"!<arch>\n").contains("an archive"));
        assert!(refused(b"mov rax, rdi\nret\n").contains("a text file"));
    }

    #[test]
    fn every_path_is_followed() {
        // test edi, edi; jz +1; ret; ud2: only the taken branch reaches the trap
        let skipped_trap = [0x85, 0xff, 0x74, 0x01, 0xc3, 0x0f, 0x0b];
        assert!(
            refused(&skipped_trap).contains("at offset 5"),
            "{}",
            refused(&skipped_trap)
        );
        // jz +1; ret; nop: the taken side runs off the end
        let runs_off = [0x74, 0x01, 0xc3, 0x90];
        assert!(
            refused(&runs_off).contains("`nop` at offset 3"),
            "{}",
            refused(&runs_off)
        );
        // a jump back into a loop that ends: l: dec edi; jnz l; ret
        check_code("loop", &[0xff, 0xcf, 0x75, 0xfc, 0xc3]).unwrap();
    }

    #[test]
    fn each_function_of_many_is_checked_on_its_own() {
        let code = [0xc3, 0xcc, 0xcc, 0xcc, 0x90, 0x90];
        let name = |offset: usize| format!("f@{offset}");
        check_functions(&code, std::iter::once(0..1), name).unwrap();
        let error = check_functions(&code, [0..1, 4..6], name).unwrap_err();
        assert!(
            error.to_string().starts_with("f@4 can run past its end"),
            "{error}"
        );
    }
}
