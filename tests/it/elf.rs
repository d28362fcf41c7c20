//! What the built executables are made of, read from their ELF headers with `object`.

use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object};
use polylink_tests::{build, nasm};

/// The parts of an executable's headers these tests look at.
#[derive(Debug)]
struct Headers {
    file_type: u16,
    size: u64,
    /// PT_GNU_STACK's flags, if the segment exists.
    stack_flags: Option<u32>,
    interpreter: Option<String>,
    has_dynamic_section: bool,
}

fn headers(path: &Path) -> Headers {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"));
    let file = ElfFile64::<Endianness>::parse(&*data)
        .unwrap_or_else(|e| panic!("{path:?} is not a 64-bit ELF file: {e}"));
    let endian = file.endian();
    let segments = file.elf_program_headers();
    let of_type = |t| segments.iter().find(|s| s.p_type(endian) == t);
    Headers {
        file_type: file.elf_header().e_type(endian).0,
        size: data.len() as u64,
        stack_flags: of_type(elf::PT_GNU_STACK).map(|s| s.p_flags(endian).0),
        interpreter: of_type(elf::PT_INTERP).map(|s| {
            let bytes = s.interpreter(endian, &*data).unwrap().unwrap_or_default();
            String::from_utf8_lossy(bytes).into_owned()
        }),
        has_dynamic_section: file.section_by_name(".dynamic").is_some(),
    }
}

#[test]
fn every_program_has_a_stack_that_is_not_executable() {
    for program in &build().programs {
        let flags = headers(&program.path).stack_flags;
        let flags = flags.unwrap_or_else(|| panic!("{} has no PT_GNU_STACK", program.name));
        assert_eq!(
            flags & elf::PF_X.0,
            0,
            "{} has an executable stack",
            program.name
        );
        assert_eq!(
            flags & (elf::PF_R.0 | elf::PF_W.0),
            elf::PF_R.0 | elf::PF_W.0,
            "{}",
            program.name
        );
    }
}

#[test]
fn no_link_printed_a_warning() {
    for program in &build().programs {
        if let Some(stderr) = &program.link_stderr {
            assert_eq!(stderr, "", "linking {} printed warnings", program.name);
        }
    }
}

#[test]
fn asm_freestanding_is_static_without_an_interpreter_and_under_16_kib() {
    let program = build().program("asm-freestanding").unwrap();
    assert!(program.static_link && !program.uses_libc);
    let h = headers(&program.path);
    assert_eq!(
        h.file_type,
        elf::ET_EXEC.0,
        "a static, position-dependent executable"
    );
    assert_eq!(h.interpreter, None);
    assert!(
        !h.has_dynamic_section,
        "a static program has no .dynamic section"
    );
    assert!(h.size < 16 * 1024, "asm-freestanding is {} bytes", h.size);
}

#[test]
fn dynamic_programs_name_the_real_dynamic_linker() {
    for program in build().programs.iter().filter(|p| !p.static_link) {
        let h = headers(&program.path);
        assert_eq!(h.file_type, elf::ET_DYN.0, "{} is PIE", program.name);
        assert_eq!(
            h.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2"),
            "{}",
            program.name
        );
    }
}

/// The checks above can fail. A NASM object without `.note.GNU-stack`, linked with objects that
/// have it (as every link here does: rustc and gcc always emit it), makes ld warn and mark the
/// stack executable. (Linked alone, ld is silent and writes no PT_GNU_STACK at all, which the
/// kernel also takes for an executable stack: the first test demands the segment.)
#[test]
fn an_object_without_the_stack_note_gets_an_executable_stack() {
    let dir = tempfile::tempdir().unwrap();
    let bare =
        "global _start\nsection .text\n_start:\n    mov eax, 231\n    xor edi, edi\n    syscall\n";
    let noted = "global other\nsection .text\nother:\n    ret\n\
                 section .note.GNU-stack noalloc noexec nowrite progbits\n";
    let objects = [("bare", bare), ("noted", noted)]
        .map(|(name, source)| nasm(dir.path(), name, "elf64", source));
    let program = dir.path().join("bare");
    let ld = polylink_tests::tool("ld")
        .arg("-o")
        .arg(&program)
        .args(&objects)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&ld.get_output().stderr);
    assert!(
        stderr.contains("missing .note.GNU-stack section implies executable stack"),
        "ld said: {stderr}"
    );
    let flags = headers(&program).stack_flags.expect("a PT_GNU_STACK");
    assert_ne!(flags & elf::PF_X.0, 0);
}
