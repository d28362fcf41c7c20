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

use object::elf;
use object::read::elf::{Dyn, FileHeader, SectionHeader, SectionTable, Sym, VersionTable};
use object::{Endianness, FileKind};

// object's ELF constants are newtypes; the reader works on the raw numbers.
mod input;
mod prefetch;
mod synthetic;

pub use input::{Input, Unit, archive_index, load, open_regular, units};
pub(crate) use prefetch::prefetch;
pub use synthetic::{Synthetic, synthetic};

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
    /// The ELF section index (`st_shndx`, or the extended one).
    pub shndx: u32,
    /// Made by nm --synthetic for a PLT entry: no ELF symbol of its own.
    pub synthetic: bool,
    /// The index in its symbol table ([`Symbol::NO_INDEX`] for a synthetic symbol).
    pub index: u32,
}

impl Symbol<'_> {
    /// The index of a symbol that is in no symbol table.
    pub const NO_INDEX: u32 = u32::MAX;

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
    Reader::new(data, table, debugging)?
        .map(|reader| reader.symbols())
        .transpose()
}

/// A symbol whose name offset lies past the end of its string table: GNU nm warns and lists it
/// as `(null)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    pub offset: u64,
    /// The string table's size.
    pub size: u64,
    /// The string table's section name (`.strtab`, `.dynstr`).
    pub section: String,
}

impl std::fmt::Display for BadName {
    /// As BFD words it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid string offset {} >= {} for section `{}'",
            self.offset, self.size, self.section
        )
    }
}

/// The symbols [`read_elf_as_nm`] reads, and the names it could not.
pub type AsNm<'d> = (Vec<Symbol<'d>>, Vec<BadName>);

/// [`read_elf_with`] as GNU nm reads: a symbol whose name offset lies past its string table is
/// named `(null)` and reported beside, and every symbol is named `(null)` when the string table
/// does not end in a NUL.
pub fn read_elf_as_nm(
    data: &[u8],
    table: Table,
    debugging: bool,
) -> Result<Option<AsNm<'_>>, Fault> {
    Reader::new(data, table, debugging)?
        .map(|reader| reader.symbols_as_nm())
        .transpose()
}

/// The string table of the symbol table `table` of an ELF file, 32- or 64-bit: every symbol's
/// name, NUL-separated (and perhaps other strings). `None` when there is no such table.
pub fn symbol_strings(data: &[u8], table: Table) -> Option<&[u8]> {
    fn strings<Elf: FileHeader<Endian = Endianness>>(data: &[u8], table: Table) -> Option<&[u8]> {
        let header = Elf::parse(data).ok()?;
        let endian = header.endian().ok()?;
        let sections = header.sections(endian, data).ok()?;
        let sh_type = match table {
            Table::Static => SHT_SYMTAB,
            Table::Dynamic => SHT_DYNSYM,
        };
        let symbols = sections
            .symbols(endian, data, elf::SectionType(sh_type))
            .ok()?;
        let section = sections.section(symbols.string_section()).ok()?;
        section.data(endian, data).ok()
    }
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => strings::<elf::FileHeader64<Endianness>>(data, table),
        Ok(FileKind::Elf32) => strings::<elf::FileHeader32<Endianness>>(data, table),
        _ => None,
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

/// A symbol table of an ELF file, read one symbol at a time, in any order: what
/// [`read_elf_with`] reads, symbol by symbol.
#[derive(Debug)]
pub enum Reader<'d> {
    Elf32(TableReader<'d, elf::FileHeader32<Endianness>>),
    Elf64(TableReader<'d, elf::FileHeader64<Endianness>>),
}

impl<'d> Reader<'d> {
    /// The reader of table `table` of `data` (`debugging`: with section and file symbols, as
    /// `nm -a` lists them); `None` when the table has no symbol but the null one, as
    /// [`read_elf_with`] says.
    pub fn new(data: &'d [u8], table: Table, debugging: bool) -> Result<Option<Self>, Fault> {
        Ok(match FileKind::parse(data) {
            Ok(FileKind::Elf64) => TableReader::new(data, table, debugging)?.map(Reader::Elf64),
            Ok(FileKind::Elf32) => TableReader::new(data, table, debugging)?.map(Reader::Elf32),
            Ok(kind) => return Err(Fault(format!("not an ELF file but {kind:?}"))),
            Err(_) => return Err(Fault("file format not recognized".into())),
        })
    }

    /// Every symbol [`read_elf_with`] reads, in the table's order.
    pub fn symbols(&self) -> Result<Vec<Symbol<'d>>, Fault> {
        let mut symbols = Vec::with_capacity(self.len());
        for index in 1..self.len() {
            symbols.extend(self.symbol(index)?);
        }
        Ok(symbols)
    }

    /// [`read_elf_as_nm`]'s symbols, in the table's order.
    pub fn symbols_as_nm(&self) -> Result<AsNm<'d>, Fault> {
        let mut symbols = Vec::with_capacity(self.len());
        let mut bad = Vec::new();
        for index in 1..self.len() {
            let name = match self {
                Reader::Elf32(r) => r.name_as_nm(index)?,
                Reader::Elf64(r) => r.name_as_nm(index)?,
            };
            let name = name.unwrap_or_else(|fault| {
                bad.push(fault);
                b"(null)"
            });
            symbols.extend(self.symbol_named(index, name)?);
        }
        Ok((symbols, bad))
    }

    /// The number of entries, the null symbol included.
    pub fn len(&self) -> usize {
        match self {
            Reader::Elf32(r) => r.len(),
            Reader::Elf64(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Symbol `index` as [`read_elf_with`] reads it; `None` for one it leaves out (a section
    /// or file symbol, unless debugging).
    pub fn symbol(&self, index: usize) -> Result<Option<Symbol<'d>>, Fault> {
        match self {
            Reader::Elf32(r) => r.symbol(index),
            Reader::Elf64(r) => r.symbol(index),
        }
    }

    /// The name of symbol `index` when [`Reader::symbol`] reads it without a fault (as the
    /// table has it: not a section symbol's section name). Reads no more of the entry than
    /// that takes.
    pub fn name(&self, index: usize) -> Option<&'d [u8]> {
        match self {
            Reader::Elf32(r) => r.name(index),
            Reader::Elf64(r) => r.name(index),
        }
    }

    /// [`Reader::symbol`] of a symbol whose name [`Reader::name`] gave.
    pub fn symbol_named(&self, index: usize, name: &'d [u8]) -> Result<Option<Symbol<'d>>, Fault> {
        match self {
            Reader::Elf32(r) => r.symbol_named(index, name),
            Reader::Elf64(r) => r.symbol_named(index, name),
        }
    }

    /// Brings entry `index` (and its version) toward the CPU, to be read soon: a table read
    /// out of order waits on memory for every entry otherwise.
    pub fn prefetch(&self, index: usize) {
        match self {
            Reader::Elf32(r) => r.prefetch(index),
            Reader::Elf64(r) => r.prefetch(index),
        }
    }

    /// Brings the name of entry `index` toward the CPU (reading the entry's first field).
    pub fn prefetch_name(&self, index: usize) {
        match self {
            Reader::Elf32(r) => r.prefetch_name(index),
            Reader::Elf64(r) => r.prefetch_name(index),
        }
    }
}

/// [`Reader`] for one ELF class.
#[derive(Debug)]
pub struct TableReader<'d, Elf: FileHeader<Endian = Endianness>> {
    endian: Endianness,
    sections: SectionTable<'d, Elf>,
    symbols: object::read::elf::SymbolTable<'d, Elf>,
    letters: Vec<Option<Lettered<'d>>>,
    versions: Option<VersionTable<'d, Elf>>,
    /// The string table the names are in.
    strings: &'d [u8],
    /// Its section's name.
    strings_name: &'d [u8],
    /// The version index of each entry (`.gnu.version`), when there is one.
    versym: &'d [u8],
    debugging: bool,
}

impl<'d, Elf: FileHeader<Endian = Endianness>> TableReader<'d, Elf> {
    fn new(data: &'d [u8], table: Table, debugging: bool) -> Result<Option<Self>, Fault> {
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
        let strings_section = sections.section(symbols.string_section()).ok();
        let strings = strings_section
            .and_then(|section| section.data(endian, data).ok())
            .unwrap_or_default();
        let strings_name = strings_section
            .and_then(|section| sections.section_name(endian, section).ok())
            .unwrap_or_default();
        let versym = match table {
            Table::Dynamic => sections
                .iter()
                .find(|s| s.sh_type(endian) == elf::SHT_GNU_VERSYM)
                .and_then(|s| s.data(endian, data).ok())
                .unwrap_or_default(),
            Table::Static => &[],
        };
        Ok(Some(TableReader {
            endian,
            sections,
            symbols,
            letters,
            versions,
            strings,
            strings_name,
            versym,
            debugging,
        }))
    }

    fn len(&self) -> usize {
        self.symbols.len()
    }

    fn name(&self, index: usize) -> Option<&'d [u8]> {
        // A table that does not end in a NUL is read only by `name_as_nm`.
        if self.strings.last() != Some(&0) {
            return None;
        }
        let sym = self.symbols.symbol(object::SymbolIndex(index)).ok()?;
        if sym.st_shndx(self.endian).0 == SHN_XINDEX {
            self.symbols
                .shndx(self.endian, object::SymbolIndex(index))?;
        }
        self.symbols.symbol_name(self.endian, sym).ok()
    }

    /// The name of symbol `index` as GNU nm 2.40 reads it: `(null)`, silently, from a string
    /// table that cannot be read or does not end in a NUL; one whose offset lies past the
    /// string table is the inner error.
    fn name_as_nm(&self, index: usize) -> Result<Result<&'d [u8], BadName>, Fault> {
        let sym = self.symbols.symbol(object::SymbolIndex(index))?;
        if self.strings.last() != Some(&0) {
            return Ok(Ok(b"(null)"));
        }
        let fault = match self.symbols.symbol_name(self.endian, sym) {
            Ok(name) => return Ok(Ok(name)),
            Err(fault) => fault,
        };
        let offset = sym.st_name(self.endian) as usize;
        if offset < self.strings.len() {
            // A table that ends in a NUL has one after every offset inside it.
            return Err(fault.into());
        }
        Ok(Err(BadName {
            offset: offset as u64,
            size: self.strings.len() as u64,
            section: String::from_utf8_lossy(self.strings_name).into_owned(),
        }))
    }

    fn prefetch(&self, index: usize) {
        if let Some(entry) = self.symbols.symbols().get(index) {
            prefetch((&raw const *entry).cast());
        }
        if let Some(version) = self.versym.get(2 * index) {
            prefetch(version);
        }
    }

    fn prefetch_name(&self, index: usize) {
        if let Some(entry) = self.symbols.symbols().get(index) {
            let offset = entry.st_name(self.endian) as usize;
            if let Some(name) = self.strings.get(offset) {
                prefetch(name);
            }
        }
    }

    fn symbol(&self, index: usize) -> Result<Option<Symbol<'d>>, Fault> {
        let sym = self.symbols.symbol(object::SymbolIndex(index))?;
        let name = self.symbols.symbol_name(self.endian, sym)?;
        self.symbol_named(index, name)
    }

    fn symbol_named(&self, index: usize, name: &'d [u8]) -> Result<Option<Symbol<'d>>, Fault> {
        let (endian, symbols) = (self.endian, &self.symbols);
        let index = object::SymbolIndex(index);
        let sym = symbols.symbol(index)?;
        let shndx = match sym.st_shndx(endian).0 {
            SHN_XINDEX => symbols.shndx(endian, index).ok_or_else(|| {
                Fault(format!(
                    "symbol {} has an extended section index but there is no index table",
                    index.0
                ))
            })?,
            shndx => u32::from(shndx),
        };
        let letters = &self.letters;
        let place = match shndx {
            0 => Place::Undefined,
            s if s == u32::from(SHN_ABS) => Place::Absolute,
            // SHN_X86_64_LCOMMON is common too, in the large model.
            s if s == u32::from(SHN_COMMON) || s == 0xff02 => Place::Common,
            s => match letters.get(s as usize) {
                Some(&Some((letter, _))) => Place::Section(letter),
                // A reserved index, one past the table, or a section BFD makes none for.
                _ => Place::Absolute,
            },
        };
        let value = match place {
            Place::Common => sym.st_size(endian).into(),
            _ => sym.st_value(endian).into(),
        };
        let version = self
            .versions
            .as_ref()
            .and_then(|v| version_of(v, endian, index, name, place));
        let section = match place {
            Place::Undefined => &b"*UND*"[..],
            Place::Common => b"*COM*",
            Place::Absolute => b"*ABS*",
            Place::Section(_) => letters
                .get(shndx as usize)
                .copied()
                .flatten()
                .map_or(&b""[..], |(_, name)| name),
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
            shndx,
            synthetic: false,
            // A table of 2^32 symbols or more would take more than 64 GiB.
            index: u32::try_from(index.0).unwrap_or(Symbol::NO_INDEX),
        };
        if symbol.is_debugging() {
            if !self.debugging {
                return Ok(None);
            }
            if symbol.kind == STT_SECTION && symbol.name.is_empty() {
                let sections = &self.sections;
                let section = sections.section(object::SectionIndex(shndx as usize));
                symbol.name = section
                    .and_then(|section| sections.section_name(endian, section))
                    .unwrap_or_default();
            }
        }
        symbol.letter = letter(&symbol);
        Ok(Some(symbol))
    }
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

/// A section as nm's symbols see it: the lower-case letter of its symbols, and its name.
type Lettered<'d> = (u8, &'d [u8]);

/// For each section index, its letter and name, or `None` where BFD makes no section (so its
/// symbols count as absolute).
fn section_letters<'d, Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'d, Elf>,
    endian: Endianness,
    header: &Elf,
    data: &'d [u8],
) -> Result<Vec<Option<Lettered<'d>>>, Fault> {
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
        let letter = section_letter(name, sh_type, section.sh_flags(endian).0);
        letters.push(Some((letter, name)));
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
