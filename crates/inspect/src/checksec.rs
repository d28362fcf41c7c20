//! `cargo xtask checksec`: the hardening of ELF files, read from their program headers, dynamic
//! section and symbols.
//!
//! - NX: a PT_GNU_STACK segment without execute permission (no such segment: the stack may be
//!   executable, so no).
//! - PIE: ET_DYN with DF_1_PIE is a PIE; ET_DYN without it a shared object ("dso"); ET_EXEC no
//!   PIE; ET_REL a relocatable object ("rel").
//! - RELRO: none without PT_GNU_RELRO; full with it and immediate binding (DT_BIND_NOW,
//!   DF_BIND_NOW or DF_1_NOW); partial otherwise.
//! - Canary: the file references `__stack_chk_fail` (undefined in its symbols). In a static
//!   program libc defines and calls it itself, so its symbols cannot tell whether the program's
//!   own code was compiled with a canary: "unknown" there, never a guess.
//! - Static: no PT_INTERP, so no dynamic loader runs first.

use std::io::Write;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind};
use serde_json::json;

use crate::symbols::{self, Fault, Table};

/// One file's hardening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hardening {
    pub file: PathBuf,
    pub nx: bool,
    /// "pie", "no", "dso" or "rel".
    pub pie: &'static str,
    /// "none", "partial" or "full".
    pub relro: &'static str,
    /// `None`: cannot be told from the file.
    pub canary: Option<bool>,
    pub static_link: bool,
    pub interpreter: Option<String>,
}

/// Reads the hardening of the ELF file at `path`.
pub fn check(path: &Path) -> Result<Hardening, Fault> {
    let input = symbols::load(path)?;
    let data = input.data();
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => read::<elf::FileHeader64<Endianness>>(path, data),
        Ok(FileKind::Elf32) => read::<elf::FileHeader32<Endianness>>(path, data),
        _ => Err(Fault("not an ELF file".into())),
    }
}

fn read<Elf: FileHeader<Endian = Endianness>>(
    path: &Path,
    data: &[u8],
) -> Result<Hardening, Fault> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let segments = header.program_headers(endian, data)?;
    let mut nx = false;
    let mut relro_segment = false;
    let mut interpreter = None;
    let mut dynamic: Option<&[Elf::Dyn]> = None;
    for segment in segments {
        match segment.p_type(endian) {
            elf::PT_GNU_STACK => nx = segment.p_flags(endian).0 & elf::PF_X.0 == 0,
            elf::PT_GNU_RELRO => relro_segment = true,
            elf::PT_INTERP => {
                interpreter = segment
                    .interpreter(endian, data)?
                    .map(|i| String::from_utf8_lossy(i).into_owned());
            }
            elf::PT_DYNAMIC => dynamic = segment.dynamic(endian, data)?,
            _ => {}
        }
    }
    let (mut bind_now, mut pie_flag) = (false, false);
    for entry in dynamic.unwrap_or_default() {
        let value: u64 = entry.d_val(endian).into();
        match entry.d_tag(endian) {
            elf::DT_BIND_NOW => bind_now = true,
            elf::DT_FLAGS => bind_now |= value & elf::DF_BIND_NOW.0 != 0,
            elf::DT_FLAGS_1 => {
                bind_now |= value & elf::DF_1_NOW.0 != 0;
                pie_flag = value & elf::DF_1_PIE.0 != 0;
            }
            _ => {}
        }
    }
    let e_type = header.e_type(endian);
    if e_type == elf::ET_REL {
        // An object has no segments yet: its .note.GNU-stack section tells the linker whether
        // it needs an executable stack.
        let sections = header.sections(endian, data)?;
        nx = sections.iter().any(|section| {
            sections.section_name(endian, section) == Ok(&b".note.GNU-stack"[..])
                && section.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 == 0
        });
    }
    let pie = match e_type {
        elf::ET_DYN if pie_flag => "pie",
        elf::ET_DYN => "dso",
        elf::ET_REL => "rel",
        _ => "no",
    };
    let relro = match (relro_segment, bind_now) {
        (false, _) => "none",
        (true, true) => "full",
        (true, false) => "partial",
    };
    let static_link = interpreter.is_none() && e_type != elf::ET_REL && pie != "dso";
    let canary = canary(data, static_link)?;
    Ok(Hardening {
        file: path.to_path_buf(),
        nx,
        pie,
        relro,
        canary,
        static_link,
        interpreter,
    })
}

fn canary(data: &[u8], static_link: bool) -> Result<Option<bool>, Fault> {
    const CHECK: &[u8] = b"__stack_chk_fail";
    let mut referenced = false;
    let mut defined = false;
    for table in [Table::Static, Table::Dynamic] {
        for s in symbols::read_elf(data, table)?.unwrap_or_default() {
            // `__stack_chk_fail@GLIBC_2.4` in a linked program's .symtab is the same reference.
            let base = s.name.split(|&b| b == b'@').next().unwrap_or(s.name);
            if base == CHECK {
                if s.is_undefined() {
                    referenced = true;
                } else {
                    defined = true;
                }
            }
        }
    }
    Ok(match (referenced, defined, static_link) {
        (true, _, _) => Some(true),
        // libc's own definition and calls hide whether the program's code checks.
        (false, true, true) => None,
        _ => Some(false),
    })
}

/// Prints one line per file, under a header.
pub fn print_table(w: &mut impl Write, results: &[Hardening]) -> std::io::Result<()> {
    writeln!(
        w,
        "{:<28} {:<4} {:<4} {:<8} {:<8} {:<8} interpreter",
        "file", "nx", "pie", "relro", "canary", "linking"
    )?;
    for h in results {
        let name = h.file.file_name().map_or_else(
            || h.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let canary = match h.canary {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        writeln!(
            w,
            "{:<28} {:<4} {:<4} {:<8} {:<8} {:<8} {}",
            name,
            if h.nx { "yes" } else { "NO" },
            h.pie,
            h.relro,
            canary,
            match (h.pie, h.static_link) {
                ("rel", _) => "-",
                (_, true) => "static",
                (_, false) => "dynamic",
            },
            h.interpreter.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}

/// Prints a JSON list with one object per file.
pub fn print_json(w: &mut impl Write, results: &[Hardening]) -> std::io::Result<()> {
    let list: Vec<_> = results
        .iter()
        .map(|h| {
            json!({
                "file": h.file.display().to_string(), "nx": h.nx, "pie": h.pie,
                "relro": h.relro, "canary": h.canary, "static": h.static_link,
                "interpreter": h.interpreter,
            })
        })
        .collect();
    writeln!(w, "{}", serde_json::Value::Array(list))
}
