//! ELF symbol tables as GNU nm sees them, read with `object`'s low-level ELF API.
//!
//! Every symbol gets the letter nm 2.40 gives it through BFD (`bfd_decode_symclass`): common,
//! undefined or weak undefined (object or not), indirect function, weak defined (object or
//! not), unique, then the letter of its section's flags, upper case for global. The rules that
//! decide it are BFD's, restated here so that a test can hold them against the real nm:
//!
//! - A section is code (`t`) when it has SHF_EXECINSTR; data when it is allocated with contents,
//!   read-only (`r`) without SHF_WRITE, else `d`; without contents (SHT_NOBITS) it is `b`; a
//!   non-allocated section named like debugging information is `N`; other read-only sections
//!   with contents are `n`.
//! - A symbol in a section BFD makes no section for (the symbol and string tables, relocations
//!   of a relocatable file) counts as absolute, as BFD makes it.
//!
//! Inputs are read whole (a few tens of MB at most) and parsed in place: no symbol is copied.

use std::fmt;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::archive::ArchiveFile;
use object::read::elf::{Dyn, FileHeader, SectionHeader, SectionTable, Sym, VersionTable};
use object::{Endianness, FileKind};

// object's ELF constants are newtypes; the reader works on the raw numbers.
const STB_GLOBAL: u8 = elf::STB_GLOBAL.0;
const STB_WEAK: u8 = elf::STB_WEAK.0;
const STB_GNU_UNIQUE: u8 = elf::STB_GNU_UNIQUE.0;
const STB_LOCAL: u8 = elf::STB_LOCAL.0;
const STT_SECTION: u8 = elf::STT_SECTION.0;
const STT_FILE: u8 = elf::STT_FILE.0;
const STT_OBJECT: u8 = elf::STT_OBJECT.0;
const STT_COMMON: u8 = elf::STT_COMMON.0;
const STT_GNU_IFUNC: u8 = elf::STT_GNU_IFUNC.0;
const SHT_SYMTAB: u32 = elf::SHT_SYMTAB.0;
const SHT_DYNSYM: u32 = elf::SHT_DYNSYM.0;
const SHT_SYMTAB_SHNDX: u32 = elf::SHT_SYMTAB_SHNDX.0;
const SHT_STRTAB: u32 = elf::SHT_STRTAB.0;
const SHT_REL: u32 = elf::SHT_REL.0;
const SHT_RELA: u32 = elf::SHT_RELA.0;
const SHT_NOBITS: u32 = elf::SHT_NOBITS.0;
const SHF_ALLOC: u64 = elf::SHF_ALLOC.0;
const SHF_WRITE: u64 = elf::SHF_WRITE.0;
const SHF_EXECINSTR: u64 = elf::SHF_EXECINSTR.0;
const SHN_XINDEX: u16 = elf::SHN_XINDEX.0;
const SHN_ABS: u16 = elf::SHN_ABS.0;
const SHN_COMMON: u16 = elf::SHN_COMMON.0;
const ET_REL: u16 = elf::ET_REL.0;

/// Where a symbol lives, as far as nm's letters and filters care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Undefined,
    Absolute,
    Common,
    /// In a section, whose letter (lower case) is given.
    Section(u8),
}

/// One symbol, borrowed from the file's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Symbol<'d> {
    pub name: &'d [u8],
    /// For dynamic symbols: the version name, and whether nm joins it with one `@` (a hidden
    /// version or a reference) rather than two (the default version).
    pub version: Option<(&'d [u8], bool)>,
    /// The value nm prints: st_value, or st_size for a common symbol.
    pub value: u64,
    pub size: u64,
    pub place: Place,
    pub binding: u8,
    pub kind: u8,
    /// The letter nm prints.
    pub letter: u8,
    /// The section's name as BFD gives it: `*UND*`, `*COM*` and `*ABS*` for those places.
    pub section: &'d [u8],
}

impl Symbol<'_> {
    pub fn is_undefined(&self) -> bool {
        self.place == Place::Undefined
    }

    /// What nm's `-g` keeps: global, weak or unique symbols, and every undefined or common one.
    pub fn is_external(&self) -> bool {
        matches!(self.binding, STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE)
            || matches!(self.place, Place::Undefined | Place::Common)
    }

    /// Section and file symbols, which BFD marks as debugging symbols and nm leaves out.
    fn is_debugging(&self) -> bool {
        matches!(self.kind, STT_SECTION | STT_FILE)
    }

    /// Whether the linker can use this symbol to resolve a reference from another file:
    /// defined (or common) and global, weak or unique.
    pub fn is_definition(&self) -> bool {
        !self.is_undefined() && matches!(self.binding, STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE)
    }
}

/// The fault in an input, as a sentence fragment ("truncated ELF section headers").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault(pub String);

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<object::read::Error> for Fault {
    fn from(e: object::read::Error) -> Fault {
        Fault(e.to_string())
    }
}

/// Which symbol table to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `.symtab`, what nm reads by default.
    Static,
    /// `.dynsym`, what `nm -D` reads.
    Dynamic,
}

/// Whether `data` starts as an ELF file does (its class may still be bad, or it may be cut).
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// How many hex digits nm gives an address of this file: 8 for a 32-bit ELF file, else 16.
pub fn address_digits(data: &[u8]) -> usize {
    match data.get(4) {
        Some(1) if is_elf(data) => 8,
        _ => 16,
    }
}

/// The symbols of one ELF file in table order, without the null symbol and without section and
/// file symbols. `None` when the file has no such table.
pub fn read_elf(data: &[u8], table: Table) -> Result<Option<Vec<Symbol<'_>>>, Fault> {
    read_elf_with(data, table, false)
}

/// [`read_elf`], with the section and file symbols too when `debugging` (nm -a): a section
/// symbol is named by its section.
pub fn read_elf_with(
    data: &[u8],
    table: Table,
    debugging: bool,
) -> Result<Option<Vec<Symbol<'_>>>, Fault> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => read::<elf::FileHeader64<Endianness>>(data, table, debugging),
        Ok(FileKind::Elf32) => read::<elf::FileHeader32<Endianness>>(data, table, debugging),
        Ok(kind) => Err(Fault(format!("not an ELF file but {kind:?}"))),
        Err(_) => Err(Fault("file format not recognized".into())),
    }
}

/// What a shared object's dynamic section says of its own dependencies: the DT_NEEDED names
/// and its DT_RUNPATH (or DT_RPATH) directories, as written (`$ORIGIN` not expanded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    pub needed: Vec<String>,
    pub runpath: Vec<String>,
}

/// The dependencies a 64-bit ELF file's dynamic section names (none when it has no such
/// section, or is not a 64-bit ELF file).
pub fn dependencies(data: &[u8]) -> Result<Dependencies, Fault> {
    if !matches!(FileKind::parse(data), Ok(FileKind::Elf64)) {
        return Ok(Dependencies::default());
    }
    let header = elf::FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut found = Dependencies::default();
    for section in sections.iter() {
        let Some((entries, link)) = section.dynamic(endian, data)? else {
            continue;
        };
        let strings = sections.strings(endian, data, link)?;
        let mut rpath = Vec::new();
        for entry in entries {
            let tag = entry.d_tag(endian);
            let text = || -> Result<String, Fault> {
                let bytes = entry.string(endian, strings)?;
                Ok(String::from_utf8_lossy(bytes).into_owned())
            };
            match tag {
                elf::DT_NEEDED => found.needed.push(text()?),
                elf::DT_RUNPATH => found.runpath.extend(text()?.split(':').map(str::to_owned)),
                elf::DT_RPATH => rpath.extend(text()?.split(':').map(str::to_owned)),
                _ => {}
            }
        }
        // DT_RPATH counts only when there is no DT_RUNPATH.
        if found.runpath.is_empty() {
            found.runpath = rpath;
        }
    }
    Ok(found)
}

fn read<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
    table: Table,
    debugging: bool,
) -> Result<Option<Vec<Symbol<'_>>>, Fault> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let sh_type: u32 = match table {
        Table::Static => SHT_SYMTAB,
        Table::Dynamic => SHT_DYNSYM,
    };
    let symbols = sections.symbols(endian, data, elf::SectionType(sh_type))?;
    // Only the null symbol: BFD counts no symbols, and nm says so.
    if symbols.len() <= 1 {
        return Ok(None);
    }
    let letters = section_letters(&sections, endian, header, data)?;
    let versions = match table {
        Table::Dynamic => Some(sections.versions(endian, data)?).flatten(),
        Table::Static => None,
    };
    let mut out = Vec::with_capacity(symbols.len());
    for (index, sym) in symbols.enumerate().skip(1) {
        let name = symbols.symbol_name(endian, sym)?;
        let shndx = match sym.st_shndx(endian).0 {
            SHN_XINDEX => symbols.shndx(endian, index).ok_or_else(|| {
                Fault(format!(
                    "symbol {} has an extended section index but there is no index table",
                    index.0
                ))
            })?,
            shndx => u32::from(shndx),
        };
        let place = match shndx {
            0 => Place::Undefined,
            s if s == u32::from(SHN_ABS) => Place::Absolute,
            // SHN_X86_64_LCOMMON is common too, in the large model.
            s if s == u32::from(SHN_COMMON) || s == 0xff02 => Place::Common,
            s => match letters.get(s as usize) {
                Some(&Some(letter)) => Place::Section(letter),
                // A reserved index, one past the table, or a section BFD makes none for.
                _ => Place::Absolute,
            },
        };
        let value = match place {
            Place::Common => sym.st_size(endian).into(),
            _ => sym.st_value(endian).into(),
        };
        let version = versions
            .as_ref()
            .and_then(|v| version_of(v, endian, index, name, place));
        let section = match place {
            Place::Undefined => &b"*UND*"[..],
            Place::Common => b"*COM*",
            Place::Absolute => b"*ABS*",
            Place::Section(_) => sections
                .section(object::SectionIndex(shndx as usize))
                .and_then(|section| sections.section_name(endian, section))
                .unwrap_or_default(),
        };
        let mut symbol = Symbol {
            name,
            version,
            value,
            size: sym.st_size(endian).into(),
            place,
            binding: sym.st_bind().0,
            kind: sym.st_type().0,
            letter: 0,
            section,
        };
        if symbol.is_debugging() {
            if !debugging {
                continue;
            }
            if symbol.kind == STT_SECTION && symbol.name.is_empty() {
                let section = sections.section(object::SectionIndex(shndx as usize));
                symbol.name = section
                    .and_then(|section| sections.section_name(endian, section))
                    .unwrap_or_default();
            }
        }
        symbol.letter = letter(&symbol);
        out.push(symbol);
    }
    Ok(Some(out))
}

/// The version suffix nm prints for dynamic symbol `index`: none for local and global
/// indices; `@` for a reference or a hidden version; `@@` for the default version.
fn version_of<'d, Elf: FileHeader>(
    versions: &VersionTable<'d, Elf>,
    endian: Elf::Endian,
    index: object::SymbolIndex,
    name: &[u8],
    place: Place,
) -> Option<(&'d [u8], bool)> {
    let versym = versions.version_index(endian, index);
    let version_index = versym.index();
    if version_index.0 <= 1 {
        return None;
    }
    let version = versions.version(version_index).ok().flatten()?;
    // A version definition's own symbol (`CXXABI_1.3` in version `CXXABI_1.3`) gets no suffix.
    if version.file().is_none() && version.name() == name {
        return None;
    }
    let one_at = versym.is_hidden() || version.file().is_some() || place == Place::Undefined;
    Some((version.name(), one_at))
}

/// For each section index, the lower-case letter of its symbols, or `None` where BFD makes no
/// section (so its symbols count as absolute).
fn section_letters<Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'_, Elf>,
    endian: Endianness,
    header: &Elf,
    data: &[u8],
) -> Result<Vec<Option<u8>>, Fault> {
    let relocatable = header.e_type(endian).0 == ET_REL;
    let shstrndx = header.shstrndx(endian, data)? as usize;
    let symtab = sections
        .iter()
        .position(|s| s.sh_type(endian).0 == SHT_SYMTAB);
    let symtab_strings = symtab
        .and_then(|i| sections.section(object::SectionIndex(i)).ok())
        .map(|s| s.sh_link(endian) as usize);
    let mut letters = Vec::with_capacity(sections.len());
    for (i, section) in sections.iter().enumerate() {
        let sh_type = section.sh_type(endian).0;
        let no_bfd_section = i == 0
            || matches!(sh_type, SHT_SYMTAB | SHT_SYMTAB_SHNDX)
            || (sh_type == SHT_STRTAB && (i == shstrndx || Some(i) == symtab_strings))
            || (relocatable
                && matches!(sh_type, SHT_REL | SHT_RELA)
                && Some(section.sh_link(endian) as usize) == symtab
                && section.sh_info(endian) != 0
                && (section.sh_info(endian) as usize) < sections.len());
        if no_bfd_section {
            letters.push(None);
            continue;
        }
        let name = sections.section_name(endian, section).unwrap_or(b"");
        letters.push(Some(section_letter(
            name,
            sh_type,
            section.sh_flags(endian).0,
        )));
    }
    Ok(letters)
}

/// BFD's `coff_section_type`, then `decode_section_type`, over the flags BFD derives from the
/// ELF section header.
fn section_letter(name: &[u8], sh_type: u32, sh_flags: u64) -> u8 {
    for (prefix, letter) in [
        (&b".drectve"[..], b'i'),
        (b".edata", b'e'),
        (b".idata", b'i'),
        (b".pdata", b'p'),
    ] {
        if name.starts_with(prefix) {
            return letter;
        }
    }
    let flag = |f: u64| sh_flags & f != 0;
    let has_contents = sh_type != SHT_NOBITS;
    let alloc = flag(SHF_ALLOC);
    let load = alloc && has_contents;
    let readonly = !flag(SHF_WRITE);
    if flag(SHF_EXECINSTR) {
        return b't';
    }
    if load {
        return if readonly { b'r' } else { b'd' };
    }
    if !has_contents {
        return b'b';
    }
    let debug_prefixes = [
        &b".debug"[..],
        b".gnu.debuglto_.debug_",
        b".gnu.linkonce.wi.",
        b".zdebug",
        b".line",
        b".stab",
    ];
    let debugging =
        !alloc && (debug_prefixes.iter().any(|p| name.starts_with(p)) || name == b".gdb_index");
    if debugging {
        return b'N';
    }
    if readonly {
        return b'n';
    }
    b'?'
}

/// `bfd_decode_symclass`, in its order.
fn letter(s: &Symbol<'_>) -> u8 {
    let weak = s.binding == STB_WEAK;
    let object = matches!(s.kind, STT_OBJECT | STT_COMMON);
    match s.place {
        Place::Common => return b'C',
        Place::Undefined if weak => return if object { b'v' } else { b'w' },
        Place::Undefined => return b'U',
        _ => {}
    }
    if s.kind == STT_GNU_IFUNC {
        return b'i';
    }
    if weak {
        return if object { b'V' } else { b'W' };
    }
    if s.binding == STB_GNU_UNIQUE {
        return b'u';
    }
    let global = s.binding == STB_GLOBAL;
    if !global && s.binding != STB_LOCAL {
        return b'?';
    }
    let c = match s.place {
        Place::Absolute => b'a',
        Place::Section(letter) => letter,
        _ => b'?',
    };
    if global { c.to_ascii_uppercase() } else { c }
}

/// One file named on the command line, mapped into memory.
#[derive(Debug)]
pub struct Input {
    pub path: PathBuf,
    bytes: Bytes,
}

#[derive(Debug)]
enum Bytes {
    Mapped(memmap2::Mmap),
    /// Empty files (which cannot be mapped), and inputs made in memory.
    Owned(Vec<u8>),
}

impl Input {
    /// An input made in memory, for tests that mutate files by the thousand.
    pub fn from_bytes(path: impl Into<PathBuf>, data: Vec<u8>) -> Input {
        Input {
            path: path.into(),
            bytes: Bytes::Owned(data),
        }
    }

    pub fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(map) => map,
            Bytes::Owned(data) => data,
        }
    }
}

/// One member of an archive: its name (for a thin member, the path it is read from) and its
/// bytes, or why they cannot be had.
#[derive(Debug)]
pub struct Unit<'d> {
    pub member: String,
    pub result: Result<&'d [u8], Fault>,
}

/// Maps `path` (reading a large archive into a fresh buffer costs more than listing it).
pub fn load(path: &Path) -> Result<Input, Fault> {
    let (file, len) = open_regular(path)?;
    let bytes = if len == 0 {
        Bytes::Owned(Vec::new())
    } else {
        // SAFETY: the mapping is only read. Like every reader that maps its input (GNU nm
        // included), a file truncated by another process while it is read can raise SIGBUS.
        Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Fault(e.to_string()))?)
    };
    Ok(Input {
        path: path.to_path_buf(),
        bytes,
    })
}

/// An archive's symbol index, as `nm -s` prints it: each symbol with the name of the member
/// that defines it, in the index's order. Empty for an archive without an index.
/// A thin archive's member is named by the path it is read from, as nm names it.
pub fn archive_index(input: &Input) -> Result<Vec<(Vec<u8>, String)>, Fault> {
    let archive = ArchiveFile::parse(input.data())?;
    let dir = input.path.parent().unwrap_or(Path::new(""));
    let Some(symbols) = archive.symbols()? else {
        return Ok(Vec::new());
    };
    let mut thin_names: Option<std::collections::HashMap<u64, String>> = None;
    let mut index = Vec::new();
    for symbol in symbols {
        let symbol = symbol?;
        let name = match archive.is_thin() {
            true => thin_names
                .get_or_insert_with(|| thin_index_names(input.data(), dir))
                .get(&symbol.offset().0)
                .cloned()
                .unwrap_or_default(),
            false => {
                let member = archive.member(symbol.offset())?;
                String::from_utf8_lossy(member.name()).into_owned()
            }
        };
        index.push((symbol.name().to_vec(), name));
    }
    Ok(index)
}

/// The name nm gives each member of a thin archive, by its header's offset: the path it is
/// read from, or for a nested member, the name its own archive gives it.
fn thin_index_names(data: &[u8], dir: &Path) -> std::collections::HashMap<u64, String> {
    thin_headers(data, u64::MAX)
        .into_iter()
        .filter_map(|header| {
            let path = dir.join(header.name.ok()?);
            let name = match header.nested {
                None => path.display().to_string(),
                Some(offset) => nested_member(&path, offset.ok()?).ok()?.0,
            };
            Some((header.offset, name))
        })
        .collect()
}

/// Opens `path` to read if it is a regular file, and returns it with its length. A FIFO would
/// block the open, a device never ends and a directory holds no bytes, so each is refused as
/// GNU nm refuses it, by asking the path before it is opened; the open file is asked again
/// (without blocking), in case the path changed in between.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, u64), Fault> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |e: std::io::Error| Fault(e.to_string());
    let regular = |metadata: &std::fs::Metadata| match () {
        _ if metadata.is_file() => Ok(()),
        _ if metadata.is_dir() => Err(Fault("is a directory".into())),
        _ => Err(Fault("is not an ordinary file".into())),
    };
    regular(&std::fs::metadata(path).map_err(io)?)?;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    regular(&metadata)?;
    Ok((file, metadata.len()))
}

/// At most the `size` bytes a thin archive's header gives for the member at `path`, read from
/// its own file, which must be regular.
fn read_thin_member(path: &Path, size: u64) -> Result<Vec<u8>, Fault> {
    use std::io::Read as _;
    // The file may have changed since the archive was made; like GNU nm, read what it holds
    // now, but never more than the header says.
    let (file, len) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(len.min(size) as usize);
    file.take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| Fault(e.to_string()))?;
    Ok(bytes)
}

/// An archive's members' bytes, or the file itself when it is no archive. Thin archive members
/// are read from their own paths, relative to the archive's directory; their bytes are kept in
/// `thin`, which must outlive the units.
pub fn units<'d>(
    input: &'d Input,
    thin: &'d mut Vec<Vec<u8>>,
) -> Result<Option<Vec<Unit<'d>>>, Fault> {
    if !input.data().starts_with(b"!<arch>\n") && !input.data().starts_with(b"!<thin>\n") {
        return Ok(None);
    }
    let archive = ArchiveFile::parse(input.data())?;
    // object stops quietly at a member whose size runs past the end: find it first, by name.
    let lie = check_member_headers(input.data(), archive.is_thin()).err();
    let end = lie.as_ref().map_or(u64::MAX, |(offset, _, _)| *offset);
    let dir = input.path.parent().unwrap_or(Path::new(""));
    // Where each member's bytes are. Thin members are read into `thin` first, so that the
    // borrows of it below are all shared.
    enum Found<'d> {
        InArchive(&'d [u8]),
        Thin(usize),
        Bad(Fault),
    }
    let mut members = Vec::new();
    if archive.is_thin() {
        for (name, read) in thin_members(input.data(), end, dir) {
            let found = match read {
                Ok(bytes) => {
                    thin.push(bytes);
                    Found::Thin(thin.len() - 1)
                }
                Err(fault) => Found::Bad(fault),
            };
            members.push((name, found));
        }
    }
    for member in archive.members().filter(|_| !archive.is_thin()) {
        match member {
            Ok(member) if member.file_range().0 >= end => break,
            Err(_) if lie.is_some() => break,
            Ok(member) if member.is_thin() => {
                // nm names a thin member by the path it reads, as the archive's path gives its
                // directory.
                let path = dir.join(String::from_utf8_lossy(member.name()).as_ref());
                // Never more than the header says: a member may be a device that never ends.
                let bytes = match read_thin_member(&path, member.file_range().1) {
                    Ok(bytes) => {
                        thin.push(bytes);
                        Found::Thin(thin.len() - 1)
                    }
                    Err(e) => Found::Bad(Fault(format!("could not read {}: {e}", path.display()))),
                };
                members.push((path.display().to_string(), bytes));
            }
            Ok(member) => {
                let name = String::from_utf8_lossy(member.name()).into_owned();
                let bytes = match member.data(input.data()) {
                    Ok(data) => Found::InArchive(data),
                    Err(e) => Found::Bad(e.into()),
                };
                members.push((name, bytes));
            }
            Err(e) => {
                let name = format!("#{} (after the last good member)", members.len() + 1);
                members.push((name, Found::Bad(e.into())));
                break;
            }
        }
    }
    if let Some((_, name, fault)) = lie {
        members.push((name, Found::Bad(fault)));
    }
    let thin: &'d Vec<Vec<u8>> = thin;
    Ok(Some(
        members
            .into_iter()
            .map(|(member, bytes)| Unit {
                member,
                result: match bytes {
                    Found::InArchive(data) => Ok(data),
                    Found::Thin(index) => Ok(&thin[index]),
                    Found::Bad(fault) => Err(fault),
                },
            })
            .collect(),
    ))
}

/// One member header of a thin archive: where it is, the name it gives (the long-name table
/// read), the size it states, and for GNU ar's nested thin archives (`/N:OFFSET`) the offset of
/// the member in the archive so named.
struct ThinHeader {
    offset: u64,
    field: String,
    name: Result<String, Fault>,
    size: u64,
    nested: Option<Result<u64, Fault>>,
}

/// A thin archive's member headers, up to offset `end`.
fn thin_headers(data: &[u8], end: u64) -> Vec<ThinHeader> {
    let mut out = Vec::new();
    let mut long_names: &[u8] = &[];
    let mut at = 8usize;
    while let Some(header) = data.get(at..at + 60).filter(|_| (at as u64) < end) {
        let field = String::from_utf8_lossy(&header[..16]).trim_end().to_owned();
        let Ok(size) = String::from_utf8_lossy(&header[48..58])
            .trim_end()
            .parse::<usize>()
        else {
            break; // check_member_headers names this one
        };
        let offset = at as u64;
        let special = matches!(field.as_str(), "/" | "/SYM64/" | "//");
        if field == "//" {
            long_names = data.get(at + 60..at + 60 + size).unwrap_or_default();
        }
        // A thin member's bytes live in its own file; the index and the names are here.
        let stored = if special { size } else { 0 };
        at += 60 + stored + (stored & 1);
        if special {
            continue;
        }
        let (name, nested) = match field.strip_prefix('/') {
            Some(rest) => {
                let (index, nested) = match rest.split_once(':') {
                    Some((index, nested)) => (index, Some(nested)),
                    None => (rest, None),
                };
                let name = index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| long_names.get(i..))
                    .map(|entry| {
                        let end = entry
                            .iter()
                            .position(|&b| b == b'\n')
                            .unwrap_or(entry.len());
                        let entry = &entry[..end];
                        String::from_utf8_lossy(entry.strip_suffix(b"/").unwrap_or(entry))
                            .into_owned()
                    })
                    .ok_or_else(|| {
                        Fault(format!(
                            "the long name {field} is not in the archive's name table"
                        ))
                    });
                let nested = nested.map(|n| {
                    n.parse::<u64>()
                        .map_err(|_| Fault(format!("the member name {field} has no offset")))
                });
                (name, nested)
            }
            None => (Ok(field.trim_end_matches('/').to_owned()), None),
        };
        out.push(ThinHeader {
            offset,
            field,
            name,
            size: size as u64,
            nested,
        });
    }
    out
}

/// A thin archive's members, each named by the path it is read from (the archive's directory
/// joined to its header's name) and read no further than its header says; a nested member is
/// named as its own archive names it, as nm shows it.
fn thin_members(data: &[u8], end: u64, dir: &Path) -> Vec<(String, Result<Vec<u8>, Fault>)> {
    thin_headers(data, end)
        .into_iter()
        .map(|header| {
            let name = match header.name {
                Ok(name) => name,
                Err(fault) => {
                    return (
                        format!("{} (at offset {})", header.field, header.offset),
                        Err(fault),
                    );
                }
            };
            let path = dir.join(&name);
            let shown = path.display().to_string();
            match header.nested {
                None => {
                    let read = read_thin_member(&path, header.size)
                        .map_err(|e| Fault(format!("could not read {shown}: {e}")));
                    (shown, read)
                }
                Some(Ok(offset)) => match nested_member(&path, offset) {
                    Ok((inner, bytes)) => (inner, Ok(bytes)),
                    Err(e) => (
                        shown,
                        Err(Fault(format!(
                            "could not read its member at offset {offset}: {e}"
                        ))),
                    ),
                },
                Some(Err(fault)) => (shown, Err(fault)),
            }
        })
        .collect()
}

/// The member whose header is at `offset` in the archive at `path`: its name and its bytes.
fn nested_member(path: &Path, offset: u64) -> Result<(String, Vec<u8>), Fault> {
    let input = load(path)?;
    let archive = ArchiveFile::parse(input.data())?;
    let member = archive.member(object::read::archive::ArchiveOffset(offset))?;
    let name = String::from_utf8_lossy(member.name()).into_owned();
    let bytes = member.data(input.data())?.to_vec();
    Ok((name, bytes))
}

/// Walks the raw member headers of a GNU archive: each must be whole, end in its terminator,
/// give a decimal size, and (unless its data lives elsewhere, in a thin archive) fit in the
/// file. The first that does not: its offset, its name as the header gives it, and the fault.
fn check_member_headers(data: &[u8], thin: bool) -> Result<(), (u64, String, Fault)> {
    let mut at = 8usize;
    while at < data.len() {
        let Some(header) = data.get(at..at + 60) else {
            let fault = Fault(format!("truncated member header at offset {at}"));
            return Err((at as u64, format!("at offset {at}"), fault));
        };
        let raw_name = String::from_utf8_lossy(&header[..16]).trim_end().to_owned();
        let name = match raw_name.as_str() {
            "/" | "/SYM64/" => format!("{raw_name} (the symbol index)"),
            "//" => "// (the long-name table)".to_owned(),
            n => n.trim_end_matches('/').to_owned(),
        };
        let fail = |fault: String| Err((at as u64, name.clone(), Fault(fault)));
        if &header[58..60] != b"`\n" {
            return fail(format!(
                "member header at offset {at} does not end in \"`\\n\""
            ));
        }
        let size_field = String::from_utf8_lossy(&header[48..58])
            .trim_end()
            .to_owned();
        let Ok(size) = size_field.parse::<usize>() else {
            return fail(format!(
                "the size field {size_field:?} at offset {} is not a number",
                at + 48
            ));
        };
        let special = matches!(raw_name.as_str(), "/" | "//" | "/SYM64/");
        let stored = if thin && !special { 0 } else { size };
        let left = data.len() - at - 60;
        if stored > left {
            return fail(format!(
                "the member claims {size} bytes at offset {at}, but only {left} bytes follow"
            ));
        }
        at += 60 + stored + (stored & 1);
    }
    Ok(())
}
