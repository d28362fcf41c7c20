//! `polylink checksec`: the hardening of ELF files, read from their program headers, dynamic
//! section, notes, symbols and code.
//!
//! - NX: a PT_GNU_STACK segment without execute permission (no such segment: the stack may be
//!   executable, so no). RWX: a loadable segment both writable and executable.
//! - PIE: ET_DYN with DF_1_PIE is a PIE; ET_DYN without it a shared object ("dso"); ET_EXEC no
//!   PIE; ET_REL a relocatable object ("rel").
//! - RELRO: none without PT_GNU_RELRO; full with it and immediate binding (DT_BIND_NOW,
//!   DF_BIND_NOW or DF_1_NOW); partial otherwise.
//! - Canary: a file that references `__stack_chk_fail` has one. A file that defines it (libc,
//!   a static program) or has no symbols at all is judged by its code: a canary is a read of
//!   the guard at `%fs:0x28` (`%gs:0x14` in 32-bit code), which iced-x86 finds. "unknown" only
//!   when neither can tell (no code to read).
//! - FORTIFY, as Debian's checksec 2.6 counts it: the dynamic symbols named as one of the
//!   system libc's checked functions (fortified), and those plus the ones named as a function
//!   libc has a checked variant of (fortifiable); yes when some dynamic symbol ends in `_chk`.
//! - RPATH and RUNPATH with their values; symbols (`.symtab` there or stripped); debug info
//!   (`.debug_*` sections); CET (IBT and SHSTK in `.note.gnu.property`); machine and class.
//! - Static: no PT_INTERP, so no dynamic loader runs first.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind};
use serde_json::json;

use crate::symbols::{self, Fault, Symbol, Table};

/// One file's hardening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hardening {
    pub file: PathBuf,
    /// "ELF64" or "ELF32".
    pub class: &'static str,
    /// The machine, as readelf names it ("x86-64", "i386", "aarch64", …).
    pub machine: String,
    pub nx: bool,
    /// Loadable segments that are writable and executable at once.
    pub rwx_segments: usize,
    /// "pie", "no", "dso" or "rel".
    pub pie: &'static str,
    /// "none", "partial" or "full".
    pub relro: &'static str,
    /// `None`: cannot be told from the file.
    pub canary: Option<bool>,
    pub fortify: Fortify,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
    /// Whether `.symtab` is there (false: stripped).
    pub symbols: bool,
    pub debug_info: bool,
    pub ibt: bool,
    pub shstk: bool,
    pub static_link: bool,
    pub interpreter: Option<String>,
}

/// What `_FORTIFY_SOURCE` left in a file, counted as Debian's checksec 2.6 counts it from the
/// dynamic symbol table (every entry, defined or not, leading underscores and version set
/// aside): the entries named as one of libc's checked functions (`memcpy_chk`), and those
/// plus the entries named as a function libc has a checked variant of (`memcpy`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fortify {
    /// Whether some dynamic symbol's name ends in `_chk`.
    pub any_checked: bool,
    pub fortified: usize,
    /// `None` when the system's libc, which says what can be fortified, was not found.
    pub fortifiable: Option<usize>,
}

impl Fortify {
    pub fn yes(&self) -> bool {
        self.any_checked
    }
}

/// Reads the hardening of the ELF file at `path`.
pub fn check(path: &Path) -> Result<Hardening, Fault> {
    let input = symbols::load(path)?;
    check_data(path, input.data())
}

/// The hardening of an ELF file already in memory, named `path`.
pub fn check_data(path: &Path, data: &[u8]) -> Result<Hardening, Fault> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => read::<elf::FileHeader64<Endianness>>(path, data),
        Ok(FileKind::Elf32) => read::<elf::FileHeader32<Endianness>>(path, data),
        _ if data.starts_with(b"\x7fELF") => Err(truncated(data)),
        _ => Err(Fault("not an ELF file".into())),
    }
}

/// What is cut off in a file that starts as ELF but does not parse as ELF.
fn truncated(data: &[u8]) -> Fault {
    let class = match data.get(4) {
        Some(1) => "ELF32",
        Some(2) => "ELF64",
        Some(other) => return Fault(format!("an ELF file of unknown class {other} (byte 4)")),
        None => return Fault(format!("a truncated ELF file: {} bytes", data.len())),
    };
    let need = if class == "ELF64" { 64 } else { 52 };
    Fault(format!(
        "a truncated {class} file: its header needs {need} bytes, and the file has {}",
        data.len()
    ))
}

/// Where a table the header points to runs past the end of the file, if it does.
fn past_end(data: &[u8], what: &str, offset: u64, count: u64, entry: u64) -> Option<Fault> {
    let end = offset.saturating_add(count.saturating_mul(entry));
    (count > 0 && end > data.len() as u64).then(|| {
        Fault(format!(
            "a truncated ELF file: its {what} ({count} of {entry} bytes at offset {offset}) end \
             at {end}, past the file's {} bytes",
            data.len()
        ))
    })
}

fn read<Elf: FileHeader<Endian = Endianness>>(
    path: &Path,
    data: &[u8],
) -> Result<Hardening, Fault> {
    let need = if Elf::is_type_64_sized() { 64 } else { 52 };
    if data.len() < need {
        return Err(truncated(data));
    }
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let phoff: u64 = header.e_phoff(endian).into();
    let shoff: u64 = header.e_shoff(endian).into();
    let (phnum, shnum) = (header.e_phnum(endian), header.e_shnum(endian));
    let (phentsize, shentsize) = (header.e_phentsize(endian), header.e_shentsize(endian));
    if let Some(fault) = past_end(
        data,
        "program headers",
        phoff,
        phnum.into(),
        phentsize.into(),
    )
    .or_else(|| {
        past_end(
            data,
            "section headers",
            shoff,
            shnum.into(),
            shentsize.into(),
        )
    }) {
        return Err(fault);
    }
    let segments = header.program_headers(endian, data)?;
    let mut nx = false;
    let mut relro_segment = false;
    let mut interpreter = None;
    let mut dynamic: Option<&[Elf::Dyn]> = None;
    let mut rwx_segments = 0;
    for segment in segments {
        let flags = segment.p_flags(endian).0;
        match segment.p_type(endian) {
            elf::PT_GNU_STACK => nx = flags & elf::PF_X.0 == 0,
            elf::PT_GNU_RELRO => relro_segment = true,
            elf::PT_INTERP => {
                interpreter = segment
                    .interpreter(endian, data)?
                    .map(|i| String::from_utf8_lossy(i).into_owned());
            }
            elf::PT_DYNAMIC => dynamic = segment.dynamic(endian, data)?,
            elf::PT_LOAD if flags & elf::PF_W.0 != 0 && flags & elf::PF_X.0 != 0 => {
                rwx_segments += 1
            }
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
    let sections = header.sections(endian, data)?;
    let e_type = header.e_type(endian);
    if e_type == elf::ET_REL {
        // An object has no segments yet: its .note.GNU-stack section tells the linker whether
        // it needs an executable stack.
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
    let (mut rpath, mut runpath) = (None, None);
    let mut symtab = false;
    let mut debug_info = false;
    let (mut ibt, mut shstk) = (false, false);
    let mut code = Vec::new();
    for section in sections.iter() {
        let name = sections.section_name(endian, section).unwrap_or_default();
        symtab |= section.sh_type(endian) == elf::SHT_SYMTAB;
        debug_info |= name.starts_with(b".debug_") || name.starts_with(b".zdebug_");
        if let Some((entries, link)) = section.dynamic(endian, data)? {
            let strings = sections.strings(endian, data, link)?;
            for entry in entries {
                let text = || -> Result<Option<String>, Fault> {
                    Ok(Some(
                        String::from_utf8_lossy(entry.string(endian, strings)?).into_owned(),
                    ))
                };
                match entry.d_tag(endian) {
                    elf::DT_RPATH => rpath = text()?,
                    elf::DT_RUNPATH => runpath = text()?,
                    _ => {}
                }
            }
        }
        if let Some(mut notes) = section.notes(endian, data)? {
            while let Some(note) = notes.next()? {
                let Some(mut properties) = note.gnu_properties(endian) else {
                    continue;
                };
                while let Some(property) = properties.next()? {
                    if property.pr_type() == elf::GNU_PROPERTY_X86_FEATURE_1_AND {
                        let features = property.data_u32(endian)?;
                        ibt |= features & elf::GNU_PROPERTY_X86_FEATURE_1_IBT != 0;
                        shstk |= features & elf::GNU_PROPERTY_X86_FEATURE_1_SHSTK != 0;
                    }
                }
            }
        }
        let executable = section.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 != 0;
        if executable && section.sh_type(endian) == elf::SHT_PROGBITS {
            code.push(section.data(endian, data)?);
        }
    }
    if sections.is_empty() {
        // Without section headers, the executable segments are the code.
        for segment in segments {
            if segment.p_type(endian) == elf::PT_LOAD
                && segment.p_flags(endian).0 & elf::PF_X.0 != 0
            {
                code.push(
                    segment
                        .data(endian, data)
                        .map_err(|()| Fault("a segment runs past the end of the file".into()))?,
                );
            }
        }
    }
    let bits = if Elf::is_type_64_sized() { 64 } else { 32 };
    // Both tables, read once for the canary; the dynamic one for FORTIFY.
    let dynamic = symbols::read_elf(data, Table::Dynamic)?.unwrap_or_default();
    let fortify = fortify(&dynamic);
    let mut symbols = symbols::read_elf(data, Table::Static)?.unwrap_or_default();
    symbols.extend(dynamic);
    let canary = canary(&symbols, &code, bits);
    Ok(Hardening {
        file: path.to_path_buf(),
        class: if bits == 64 { "ELF64" } else { "ELF32" },
        machine: machine(header.e_machine(endian)),
        nx,
        rwx_segments,
        pie,
        relro,
        canary,
        fortify,
        rpath,
        runpath,
        symbols: symtab,
        debug_info,
        ibt,
        shstk,
        static_link,
        interpreter,
    })
}

/// readelf's name for a machine, for the common ones.
fn machine(e_machine: elf::Machine) -> String {
    match e_machine {
        elf::EM_X86_64 => "x86-64".into(),
        elf::EM_386 => "i386".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        elf::EM_ARM => "arm".into(),
        elf::EM_RISCV => "riscv".into(),
        elf::EM_PPC64 => "ppc64".into(),
        elf::EM_S390 => "s390".into(),
        elf::EM_NONE => "none".into(),
        other => format!("machine {}", other.0),
    }
}

/// Whether the file's code checks a stack canary; `None` when it cannot be told.
fn canary(symbols: &[Symbol<'_>], code: &[&[u8]], bits: u32) -> Option<bool> {
    const CHECK: &[u8] = b"__stack_chk_fail";
    let mut referenced = false;
    let mut defined = false;
    for s in symbols {
        if base_name(s) == CHECK {
            if s.is_undefined() {
                referenced = true;
            } else {
                defined = true;
            }
        }
    }
    if referenced {
        return Some(true);
    }
    if !symbols.is_empty() && !defined {
        return Some(false);
    }
    // It defines the check itself, or has no symbols: the code tells.
    if code.iter().all(|c| c.is_empty()) {
        return None;
    }
    Some(code.iter().any(|c| reads_the_guard(c, bits)))
}

/// A symbol's name without its version: `__stack_chk_fail@GLIBC_2.4` in a linked program's
/// .symtab is the same reference as `__stack_chk_fail`.
fn base_name<'d>(s: &Symbol<'d>) -> &'d [u8] {
    s.name.split(|&b| b == b'@').next().unwrap_or(s.name)
}

/// Whether some instruction in `code` reads the stack guard: `%fs:0x28` in 64-bit code,
/// `%gs:0x14` in 32-bit code (glibc's thread control block).
fn reads_the_guard(code: &[u8], bits: u32) -> bool {
    use iced_x86::{Decoder, DecoderOptions, Instruction, Register};
    let (segment, offset) = match bits {
        64 => (Register::FS, 0x28),
        _ => (Register::GS, 0x14),
    };
    let mut decoder = Decoder::new(bits, code, DecoderOptions::NONE);
    let mut instruction = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut instruction);
        if instruction.segment_prefix() == segment
            && instruction.memory_base() == Register::None
            && instruction.memory_index() == Register::None
            && instruction.memory_displacement64() == offset
        {
            return true;
        }
    }
    false
}

/// libc's checked functions as Debian's checksec lists them: from each default-version
/// definition `...__NAME_chk@@VERSION`, `NAME_chk` (`sed 's/.*__\(.*_chk\)@@.*/\1/'`); and
/// the same with every `_chk` taken out, the functions they check. Read once.
fn fortifiable_names() -> Option<&'static (Names, Names)> {
    static NAMES: std::sync::OnceLock<Option<(Names, Names)>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            let libc = LIBC_PATHS
                .iter()
                .find_map(|p| symbols::load(Path::new(p)).ok())?;
            let symbols = symbols::read_elf(libc.data(), Table::Dynamic).ok()??;
            let checked: Names = symbols
                .iter()
                .filter(|s| matches!(s.version, Some((_, false))))
                .filter_map(|s| {
                    let name = s.name.strip_suffix(b"_chk")?;
                    // The greedy `.*__`: after the last `__`.
                    let at = name.windows(2).rposition(|w| w == b"__")?;
                    let mut checked = name[at + 2..].to_vec();
                    checked.extend_from_slice(b"_chk");
                    Some(checked)
                })
                .collect();
            let plain = checked.iter().map(|n| without_chk(n)).collect();
            Some((checked, plain))
        })
        .as_ref()
}

/// A set of function names.
type Names = HashSet<Vec<u8>>;

/// `${name//_chk/}`.
fn without_chk(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        if name[i..].starts_with(b"_chk") {
            i += 4;
        } else {
            out.push(name[i]);
            i += 1;
        }
    }
    out
}

/// Where the system's libc is, on Debian-like and other x86-64 systems.
const LIBC_PATHS: [&str; 3] = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
];

/// Debian's checksec's FORTIFY counts over the dynamic symbols `dynamic`.
fn fortify(dynamic: &[Symbol<'_>]) -> Fortify {
    let names: Vec<&[u8]> = dynamic
        .iter()
        .map(|s| {
            let start = s
                .name
                .iter()
                .position(|&b| b != b'_')
                .unwrap_or(s.name.len());
            &s.name[start..]
        })
        .filter(|n| !n.is_empty())
        .collect();
    let any_checked = names.iter().any(|n| n.ends_with(b"_chk"));
    let lists = fortifiable_names();
    let count = |list: &Names| names.iter().filter(|n| list.contains(**n)).count();
    let fortified = lists.map_or(0, |(checked, _)| count(checked));
    Fortify {
        any_checked,
        fortified,
        fortifiable: lists.map(|(_, plain)| fortified + count(plain)),
    }
}

/// Prints one line per file, under a header.
pub fn print_table(w: &mut impl Write, results: &[Hardening]) -> std::io::Result<()> {
    writeln!(
        w,
        "{:<28} {:<6} {:<7} {:<4} {:<4} {:<4} {:<8} {:<8} {:<9} {:<10} {:<9} {:<5} {:<8} {:<28} {:<10} runpath",
        "file",
        "class",
        "machine",
        "nx",
        "rwx",
        "pie",
        "relro",
        "canary",
        "fortify",
        "cet",
        "symbols",
        "debug",
        "linking",
        "interpreter",
        "rpath"
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
        let fortify = match (h.fortify.yes(), h.fortify.fortifiable) {
            (yes, Some(of)) => format!("{} {}/{of}", yes_no(yes), h.fortify.fortified),
            (yes, None) => format!("{} {}", yes_no(yes), h.fortify.fortified),
        };
        let cet = match (h.ibt, h.shstk) {
            (true, true) => "ibt,shstk",
            (true, false) => "ibt",
            (false, true) => "shstk",
            (false, false) => "no",
        };
        writeln!(
            w,
            "{:<28} {:<6} {:<7} {:<4} {:<4} {:<4} {:<8} {:<8} {:<9} {:<10} {:<9} {:<5} {:<8} {:<28} {:<10} {}",
            name,
            h.class,
            h.machine,
            if h.nx { "yes" } else { "NO" },
            if h.rwx_segments > 0 { "YES" } else { "no" },
            h.pie,
            h.relro,
            canary,
            fortify,
            cet,
            if h.symbols { "yes" } else { "stripped" },
            yes_no(h.debug_info),
            match (h.pie, h.static_link) {
                ("rel", _) => "-",
                (_, true) => "static",
                (_, false) => "dynamic",
            },
            h.interpreter.as_deref().unwrap_or("-"),
            h.rpath.as_deref().unwrap_or("-"),
            h.runpath.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
}

/// Prints a JSON list with one object per file.
pub fn print_json(w: &mut impl Write, results: &[Hardening]) -> std::io::Result<()> {
    let list: Vec<_> = results
        .iter()
        .map(|h| {
            json!({
                "file": h.file.display().to_string(), "class": h.class, "machine": h.machine,
                "nx": h.nx, "rwx_segments": h.rwx_segments, "pie": h.pie,
                "relro": h.relro, "canary": h.canary,
                "fortify": h.fortify.yes(), "fortified": h.fortify.fortified,
                "fortifiable": h.fortify.fortifiable,
                "rpath": h.rpath, "runpath": h.runpath, "symbols": h.symbols,
                "debug_info": h.debug_info, "ibt": h.ibt, "shstk": h.shstk,
                "static": h.static_link, "interpreter": h.interpreter,
            })
        })
        .collect();
    writeln!(w, "{}", serde_json::Value::Array(list))
}
