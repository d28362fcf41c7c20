//! `nm -l`: the source file and line of each symbol, found as BFD 2.40 finds them for nm.
//!
//! The DWARF is read with gimli; what is looked up, and in which order, is BFD's
//! (`bfd/dwarf2.c`, `elf.c`, `nm.c`'s `print_symbol`):
//!
//! - A defined function symbol gets the declaration (`DW_AT_decl_file`, `DW_AT_decl_line`) of
//!   the smallest subprogram or inlined subroutine around its address whose name is part of
//!   the symbol's name (so `counter.0` finds `counter`). A data symbol gets the declaration of a
//!   static variable at its address. Failing that, a symbol in code gets the line-table row of
//!   its address; one in data, a variable at its address under another symbol's name.
//! - An undefined symbol gets the place of the first relocation that refers to it, section by
//!   section: the line-table row there, or, where DWARF has none, the file symbol (`STT_FILE`)
//!   before the function around it, with line 0.
//! - In a relocatable object every section's address is 0, so BFD first lays the allocated
//!   sections out one after another (`place_sections`) and relocates the DWARF against that
//!   layout; this reader does the same.
//!
//! Not followed, where BFD would: `.gnu_debuglink` and build-id files under `/usr/lib/debug`,
//! compressed debug sections, `.gnu_debugaltlink`, stabs.

use std::collections::HashMap;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, constants as dw};
use object::read::elf::{FileHeader, Rela as _, SectionHeader, SectionTable, Sym as _};
use object::{Endian as _, Endianness, FileKind, elf};

use crate::symbols::{Place, Symbol};

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// What `-l` needs of one ELF file: its sections, its static symbols, its relocations (for
/// undefined symbols) and its DWARF, reduced to BFD's tables.
pub(super) struct Sources {
    /// By ELF section index.
    sections: Vec<Section>,
    /// The static symbol table, without the null symbol: BFD's canonical symbols.
    symbols: Vec<ElfSymbol>,
    /// For a relocatable object: each section's relocations, in section order.
    relocations: Vec<(usize, Vec<(u64, u32)>)>,
    /// By section: the function symbol `_bfd_elf_find_function` picks from each address on,
    /// with the file its file symbol names.
    functions_by_section: HashMap<usize, Vec<FunctionStart>>,
    /// By section and value: the symbol BFD looks a data address up by (the first global one
    /// there, else the last).
    data_symbols: HashMap<(usize, u64), u32>,
    /// `None` when the file has no DWARF. Locked for each lookup, which may rename functions.
    units: Option<std::sync::Mutex<Units>>,
}

/// The compilation units, and which of them may hold an address.
struct Units {
    units: Vec<Unit>,
    /// Every unit's ranges, by address.
    ranges: Intervals,
    /// Units without ranges, which BFD asks about every address.
    rangeless: Vec<u32>,
    /// How many times `find_line` was asked.
    calls: usize,
    /// The tables by name BFD builds after 100 calls.
    by_name: Option<ByName>,
}

impl Units {
    fn new(units: Vec<Unit>) -> Units {
        let ranges = units
            .iter()
            .enumerate()
            .flat_map(|(i, u)| u.ranges.iter().map(move |&(l, h)| (l, h, i as u32)))
            .collect();
        let rangeless = (0..units.len() as u32)
            .filter(|&i| units[i as usize].ranges.is_empty())
            .collect();
        Units {
            units,
            ranges: Intervals::new(ranges),
            rangeless,
            calls: 0,
            by_name: None,
        }
    }

    /// The units that may hold `addr`, in their order (BFD's `comp_unit_may_contain_address`),
    /// without the ones BFD dropped.
    fn holding(&self, addr: u64) -> Vec<usize> {
        let mut at: Vec<usize> = self
            .ranges
            .holding(addr)
            .map(|(_, _, u)| u as usize)
            .chain(self.rangeless.iter().map(|&u| u as usize))
            .filter(|&u| !self.units[u].error)
            .collect();
        at.sort_unstable();
        at.dedup();
        at
    }
}

/// Address ranges with an id each, searchable for the ones holding an address (sorted by
/// start, with the furthest end reached so far, as BFD's function lookup table is).
#[derive(Default)]
struct Intervals {
    entries: Vec<(u64, u64, u32)>,
    reach: Vec<u64>,
}

impl Intervals {
    fn new(mut entries: Vec<(u64, u64, u32)>) -> Intervals {
        entries.sort_unstable();
        let reach = entries
            .iter()
            .scan(0u64, |reach, e| {
                *reach = (*reach).max(e.1);
                Some(*reach)
            })
            .collect();
        Intervals { entries, reach }
    }

    fn holding(&self, addr: u64) -> impl Iterator<Item = (u64, u64, u32)> + '_ {
        let start = self.reach.partition_point(|&reach| reach <= addr);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0 <= addr)
            .filter(move |e| addr < e.1)
            .copied()
    }
}

#[derive(Clone, Copy, Default)]
struct Section {
    /// The address BFD gives it (for a relocatable object, after `place_sections`).
    vma: u64,
    /// What is subtracted from a symbol's value to get BFD's section-relative value.
    symbol_base: u64,
    code: bool,
}

struct ElfSymbol {
    name: Vec<u8>,
    /// BFD's value: relative to the section in executables and shared objects.
    value: u64,
    shndx: u32,
    kind: u8,
    binding: u8,
    visibility: u8,
    size: u64,
}

impl ElfSymbol {
    fn is_function(&self) -> bool {
        matches!(self.kind, STT_FUNC | STT_GNU_IFUNC)
    }
}

const STT_NOTYPE: u8 = elf::STT_NOTYPE.0;
const STT_OBJECT: u8 = elf::STT_OBJECT.0;
const STT_FUNC: u8 = elf::STT_FUNC.0;
const STT_SECTION: u8 = elf::STT_SECTION.0;
const STT_FILE: u8 = elf::STT_FILE.0;
const STT_COMMON: u8 = elf::STT_COMMON.0;
const STT_TLS: u8 = elf::STT_TLS.0;
const STT_GNU_IFUNC: u8 = elf::STT_GNU_IFUNC.0;

/// One compilation unit, as BFD keeps it.
#[derive(Default)]
struct Unit {
    /// The unit's address ranges: its own and its line sequences'.
    ranges: Vec<(u64, u64)>,
    /// In the order read; BFD searches them from the last.
    functions: Vec<Function>,
    /// The functions' ranges, by address.
    function_ranges: Intervals,
    variables: Vec<Variable>,
    /// The static variables at each address, in the order read.
    variables_at: HashMap<u64, Vec<u32>>,
    lines: Vec<Sequence>,
    /// The file names rows and declarations refer to.
    files: Vec<Vec<u8>>,
    /// The line table's file and directory names, for declarations.
    file_table: Option<FileTable>,
    /// BFD drops a unit whose line table or DIEs it cannot read.
    error: bool,
}

#[derive(Default)]
struct Function {
    name: Option<Vec<u8>>,
    /// Whether the name is one the symbol table would spell the same: a linkage name, or the
    /// name in a language that does not mangle.
    linkage: bool,
    file: Option<Vec<u8>>,
    line: u32,
    ranges: Vec<(u64, u64)>,
}

#[derive(Default)]
struct Variable {
    name: Option<Vec<u8>>,
    file: Option<Vec<u8>>,
    line: u32,
    addr: u64,
    stack: bool,
}

/// One line sequence: rows in address order, the last one ending it.
struct Sequence {
    low: u64,
    rows: Vec<Row>,
}

#[derive(Clone, Copy)]
struct Row {
    address: u64,
    op_index: u8,
    /// An index into the unit's files; `NO_FILE` for none.
    file: u32,
    line: u32,
    end: bool,
}

const NO_FILE: u32 = u32::MAX;

impl Row {
    fn sorts_after(&self, other: &Row) -> bool {
        self.address > other.address
            || (self.address == other.address && self.op_index > other.op_index)
    }
}

/// A place in the source: the file (absent when BFD found none) and the line.
type Place2 = (Option<Vec<u8>>, u32);

impl Sources {
    /// Reads what `-l` needs from an ELF file; `None` when it is not one this reader takes.
    pub(super) fn new(data: &[u8]) -> Option<Sources> {
        match FileKind::parse(data) {
            Ok(FileKind::Elf64) => read::<elf::FileHeader64<Endianness>>(data),
            Ok(FileKind::Elf32) => read::<elf::FileHeader32<Endianness>>(data),
            _ => None,
        }
    }

    /// nm's `-l` suffix for `s`, `\tFILE:LINE`, appended to `out`; nothing when BFD finds no
    /// place (or, for a defined symbol, no line). Symbols must come in the order nm prints
    /// them: like BFD, a lookup may rename a function for the lookups after it.
    pub(super) fn append(&self, out: &mut Vec<u8>, s: &Symbol<'_>) {
        let mut guard = self.units.as_ref().map(|units| {
            units
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        let mut units = guard.as_deref_mut();
        let found = match s.place {
            Place::Undefined => self.undefined(&mut units, s),
            Place::Section(_) => self.defined(&mut units, s),
            Place::Absolute | Place::Common => None,
        };
        if let Some((file, line)) = found {
            out.push(b'\t');
            out.extend_from_slice(&file);
            out.push(b':');
            out.extend_from_slice(line.to_string().as_bytes());
        }
    }

    fn section(&self, shndx: u32) -> Section {
        self.sections
            .get(shndx as usize)
            .copied()
            .unwrap_or_default()
    }

    fn defined(&self, units: &mut Held<'_>, s: &Symbol<'_>) -> Option<(Vec<u8>, u32)> {
        let section = self.section(s.shndx);
        let value = s.value.wrapping_sub(section.symbol_base);
        let function = matches!(s.kind, STT_FUNC | STT_GNU_IFUNC);
        let addr = value.wrapping_add(section.vma);
        let found = match find_line(units.as_deref_mut(), s.name, function, addr) {
            Some(found) => Some(found),
            None => self.nearest(units, s.shndx as usize, value),
        };
        match found {
            Some((Some(file), line)) if line != 0 => Some((file, line)),
            _ => None,
        }
    }

    /// nm's search for an undefined symbol: the first relocation against it whose place BFD
    /// can name (a file, even with line 0).
    fn undefined(&self, units: &mut Held<'_>, s: &Symbol<'_>) -> Option<(Vec<u8>, u32)> {
        for (section, relocations) in &self.relocations {
            for &(offset, index) in relocations {
                let Some(target) = index
                    .checked_sub(1)
                    .and_then(|i| self.symbols.get(i as usize))
                else {
                    continue;
                };
                if target.shndx != 0 || target.value != 0 || target.name != s.name {
                    continue;
                }
                if let Some((Some(file), line)) = self.nearest(units, *section, offset) {
                    return Some((file, line));
                }
            }
        }
        None
    }

    /// BFD's `find_nearest_line` for `offset` in section `shndx`. In data, through a symbol at
    /// that address; in code, through the line table and the function around the address.
    /// Then the symbol table is asked for the function around it, whose file symbol names the
    /// file if DWARF did not; and a function DWARF knows by its plain (unmangled) name and
    /// that starts there is renamed after that symbol, as BFD renames it.
    fn nearest(&self, units: &mut Held<'_>, shndx: usize, offset: u64) -> Option<Place2> {
        let section = self.sections.get(shndx).copied().unwrap_or_default();
        let addr = offset.wrapping_add(section.vma);
        let mut found: Option<Place2> = None;
        // The function DWARF found around the address: unit and index.
        let mut around: Option<(usize, usize)> = None;
        if let Some(units) = units.as_deref_mut() {
            let by_symbol = match section.code {
                true => None,
                false => self
                    .data_symbols
                    .get(&(shndx, offset))
                    .map(|&i| &self.symbols[i as usize]),
            };
            match by_symbol {
                Some(s) => found = find_line(Some(units), &s.name, s.is_function(), addr),
                None => {
                    for at in units.holding(addr) {
                        let unit = &units.units[at];
                        let function = unit.function_at(addr);
                        let line = unit.line_at(addr);
                        if function.is_some() || line.is_some() {
                            around = function.map(|f| (at, f));
                            found = Some(match line {
                                Some((file, line)) => {
                                    (file.map(|f| unit.files[f as usize].clone()), line)
                                }
                                None => (None, 0),
                            });
                            break;
                        }
                    }
                }
            }
        }
        let dwarf = found.is_some();
        let (mut file, line) = found.unwrap_or((None, 0));
        let function = match (around, units.as_deref_mut()) {
            (Some((at, f)), Some(units)) => Some(&mut units.units[at].functions[f]),
            _ => None,
        };
        if function.as_ref().is_some_and(|f| f.linkage) {
            return Some((file, line));
        }
        let symbol = self.function_symbol(shndx, offset);
        if let Some(function) = function {
            if let Some((s, _)) = symbol
                && function.ranges.first().map(|r| r.0) == Some(s.value.wrapping_add(section.vma))
            {
                function.name = Some(s.name.clone());
            }
            function.linkage = true;
        }
        match symbol {
            Some((_, named)) if file.is_none() => file = named,
            Some(_) => {}
            None if !dwarf => return None,
            None => {}
        }
        Some((file, line))
    }

    /// BFD's `_bfd_elf_find_function`: the function symbol around `offset` in section `shndx`,
    /// and the file its file symbol names.
    fn function_symbol(&self, shndx: usize, offset: u64) -> Option<(&ElfSymbol, Option<Vec<u8>>)> {
        let starts = self.functions_by_section.get(&shndx)?;
        let at = starts.partition_point(|s| s.0 <= offset).checked_sub(1)?;
        let (_, symbol, file) = &starts[at];
        Some((&self.symbols[*symbol as usize], file.clone()))
    }
}

/// From `.0` on, `_bfd_elf_find_function` picks symbol `.1`, of the file named `.2`.
type FunctionStart = (u64, u32, Option<Vec<u8>>);

/// For each section, what `_bfd_elf_find_function` picks at each address: of the symbols that
/// may be functions (`_bfd_elf_maybe_function_sym`), the one starting last at or before it, the
/// largest of those, the first in the table of those; with the name of the file symbol before
/// it, unless it is global and a later file symbol came after other symbols.
fn function_starts(symbols: &[ElfSymbol]) -> HashMap<usize, Vec<FunctionStart>> {
    #[derive(PartialEq)]
    enum State {
        Nothing,
        Symbol,
        FileAfterSymbol,
    }
    let (mut file, mut state) = (None, State::Nothing);
    // Each candidate's value, size, index and file.
    type Candidate<'s> = (u64, u64, u32, Option<&'s Vec<u8>>);
    let mut candidates: HashMap<usize, Vec<Candidate<'_>>> = HashMap::new();
    for (i, s) in symbols.iter().enumerate() {
        if s.kind == STT_FILE {
            file = Some(&s.name);
            if state == State::Symbol {
                state = State::FileAfterSymbol;
            }
            continue;
        }
        if state == State::Nothing {
            state = State::Symbol;
        }
        if matches!(s.kind, STT_SECTION | STT_OBJECT | STT_COMMON | STT_TLS) || s.shndx == 0 {
            continue;
        }
        let local = s.binding == elf::STB_LOCAL.0;
        if s.size == 0 && local && s.kind == STT_NOTYPE && s.visibility == elf::STV_HIDDEN.0 {
            continue;
        }
        let named = file.filter(|_| local || state != State::FileAfterSymbol);
        candidates.entry(s.shndx as usize).or_default().push((
            s.value,
            s.size.max(1),
            i as u32,
            named,
        ));
    }
    candidates
        .into_iter()
        .map(|(section, mut list)| {
            // By start; at one start the largest, then the first.
            list.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
            list.dedup_by_key(|c| c.0);
            let starts = list
                .into_iter()
                .map(|(value, _, i, file)| (value, i, file.cloned()))
                .collect();
            (section, starts)
        })
        .collect()
}

/// The units, while a lookup holds them; `None` when the file has no DWARF.
type Held<'a> = Option<&'a mut Units>;

/// BFD's `find_line` for a symbol: by name in the function table (functions) or the variable
/// table (anything else), unit by unit. From the 101st call on, BFD first looks the exact name
/// up in tables it then builds (`STASH_INFO_HASH_TRIGGER`), which can find another DIE than the
/// search by part of the name would.
fn find_line(units: Option<&mut Units>, name: &[u8], function: bool, addr: u64) -> Option<Place2> {
    let units = units?;
    units.calls += 1;
    if units.calls > 100 {
        let by_name = units
            .by_name
            .get_or_insert_with(|| ByName::new(&units.units));
        let found = match function {
            true => by_name.function(&units.units, name, addr),
            false => by_name.variable(&units.units, name, addr),
        };
        if found.is_some() {
            return found;
        }
    }
    let holding;
    let order: &mut dyn Iterator<Item = usize> = if function {
        holding = units.holding(addr);
        &mut holding.iter().copied()
    } else {
        &mut (0..units.units.len()).filter(|&u| !units.units[u].error)
    };
    for at in order {
        let unit = &units.units[at];
        let found = if function {
            unit.function_named(name, addr)
        } else {
            unit.variable_named(name, addr)
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// BFD's info hash tables: every named function, and every named static variable with a
/// file, by exact name, in the order read (a lookup goes from the last).
#[derive(Default)]
struct ByName {
    functions: HashMap<Vec<u8>, Vec<(u32, u32)>>,
    variables: HashMap<Vec<u8>, Vec<(u32, u32)>>,
}

impl ByName {
    fn new(units: &[Unit]) -> ByName {
        let mut by_name = ByName::default();
        for (u, unit) in units.iter().enumerate().filter(|(_, u)| !u.error) {
            for (i, f) in unit.functions.iter().enumerate() {
                if let Some(name) = &f.name {
                    let at = (u as u32, i as u32);
                    by_name.functions.entry(name.clone()).or_default().push(at);
                }
            }
            for (i, v) in unit.variables.iter().enumerate() {
                if let (Some(name), Some(_), false) = (&v.name, &v.file, v.stack) {
                    let at = (u as u32, i as u32);
                    by_name.variables.entry(name.clone()).or_default().push(at);
                }
            }
        }
        by_name
    }

    /// `info_hash_lookup_funcinfo`: of the functions named `name`, the smallest range around
    /// `addr`, the last read winning a tie.
    fn function(&self, units: &[Unit], name: &[u8], addr: u64) -> Option<Place2> {
        let mut best: Option<(&Function, u64)> = None;
        for &(u, f) in self.functions.get(name)?.iter().rev() {
            let function = &units[u as usize].functions[f as usize];
            for &(low, high) in &function.ranges {
                let len = high.wrapping_sub(low);
                if low <= addr && addr < high && best.is_none_or(|(_, b)| len < b) {
                    best = Some((function, len));
                }
            }
        }
        best.map(|(f, _)| (f.file.clone(), f.line))
    }

    /// `info_hash_lookup_varinfo`: the last variable read named `name` at `addr`.
    fn variable(&self, units: &[Unit], name: &[u8], addr: u64) -> Option<Place2> {
        self.variables
            .get(name)?
            .iter()
            .rev()
            .map(|&(u, v)| &units[u as usize].variables[v as usize])
            .find(|v| v.addr == addr)
            .map(|v| (v.file.clone(), v.line))
    }
}

impl Unit {
    /// `lookup_symbol_in_function_table`: the smallest function around `addr` whose name is
    /// part of `name`, the last read winning a tie.
    fn function_named(&self, name: &[u8], addr: u64) -> Option<Place2> {
        let f = self.smallest_around(addr, |f| {
            f.file.is_some() && f.name.as_ref().is_some_and(|n| contains(name, n))
        })?;
        let f = &self.functions[f];
        Some((f.file.clone(), f.line))
    }

    /// `lookup_symbol_in_variable_table`: the last static variable read at `addr` whose name
    /// is part of `name`.
    fn variable_named(&self, name: &[u8], addr: u64) -> Option<Place2> {
        self.variables_at
            .get(&addr)?
            .iter()
            .rev()
            .map(|&v| &self.variables[v as usize])
            .find(|v| {
                !v.stack && v.file.is_some() && v.name.as_ref().is_some_and(|n| contains(name, n))
            })
            .map(|v| (v.file.clone(), v.line))
    }

    /// `lookup_address_in_function_table`: the smallest function whose ranges hold `addr`.
    fn function_at(&self, addr: u64) -> Option<usize> {
        self.smallest_around(addr, |_| true)
    }

    /// The function with the smallest range around `addr` that `take` takes, the last read
    /// winning a tie.
    fn smallest_around(&self, addr: u64, take: impl Fn(&Function) -> bool) -> Option<usize> {
        let mut best: Option<(u64, u32)> = None;
        for (low, high, f) in self.function_ranges.holding(addr) {
            let len = high.wrapping_sub(low);
            if best.is_none_or(|(l, b)| len < l || (len == l && f > b))
                && take(&self.functions[f as usize])
            {
                best = Some((len, f));
            }
        }
        best.map(|(_, f)| f as usize)
    }

    /// `lookup_address_in_line_info_table`.
    fn line_at(&self, addr: u64) -> Option<(Option<u32>, u32)> {
        let at = self.lines.partition_point(|s| s.end() <= addr);
        let seq = self.lines.get(at)?;
        if addr < seq.low || addr >= seq.end() {
            return None;
        }
        let i = seq
            .rows
            .partition_point(|r| r.address <= addr)
            .checked_sub(1)?;
        let row = seq.rows[i];
        if row.end || i + 1 >= seq.rows.len() {
            return None;
        }
        Some(((row.file != NO_FILE).then_some(row.file), row.line))
    }
}

impl Sequence {
    fn end(&self) -> u64 {
        self.rows.last().map_or(0, |r| r.address)
    }
}

/// `strstr(haystack, needle) != NULL`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `bfd_log2`: the power of two at least `x`.
fn log2_up(x: u64) -> u32 {
    if x <= 1 {
        0
    } else {
        64 - (x - 1).leading_zeros()
    }
}

fn is_debug_info(name: &[u8]) -> bool {
    name == b".debug_info" || name.starts_with(b".gnu.linkonce.wi.")
}

fn read<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Option<Sources> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let table = header.sections(endian, data).ok()?;
    let relocatable = header.e_type(endian) == elf::ET_REL;
    let names: Vec<&[u8]> = table
        .iter()
        .map(|s| table.section_name(endian, s).unwrap_or_default())
        .collect();
    let mut sections: Vec<Section> = table
        .iter()
        .map(|s| {
            let addr: u64 = s.sh_addr(endian).into();
            Section {
                vma: addr,
                symbol_base: if relocatable { 0 } else { addr },
                code: s.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 != 0,
            }
        })
        .collect();
    if relocatable {
        place_sections(&table, endian, &names, &mut sections);
    }
    let symbols = static_symbols(&table, endian, data, &sections).unwrap_or_default();
    let functions_by_section = function_starts(&symbols);
    let mut data_symbols: HashMap<(usize, u64), u32> = HashMap::new();
    for (i, s) in symbols.iter().enumerate() {
        if s.kind == STT_SECTION {
            continue;
        }
        let chosen = data_symbols
            .entry((s.shndx as usize, s.value))
            .or_insert(i as u32);
        if symbols[*chosen as usize].binding != elf::STB_GLOBAL.0 {
            *chosen = i as u32;
        }
    }
    let relocations = if relocatable {
        relocations(&table, endian, data)
    } else {
        Vec::new()
    };
    let units = dwarf_units(header, &table, endian, data, &names, &sections, relocatable);
    Some(Sources {
        sections,
        symbols,
        relocations,
        functions_by_section,
        data_symbols,
        units: units.map(|units| std::sync::Mutex::new(Units::new(units))),
    })
}

/// BFD's `place_sections`: in a relocatable object, the allocated sections one after another
/// from 0, each at its alignment (and the `.debug_info` sections likewise, apart).
fn place_sections<Elf: FileHeader<Endian = Endianness>>(
    table: &SectionTable<'_, Elf>,
    endian: Endianness,
    names: &[&[u8]],
    sections: &mut [Section],
) {
    let placed: Vec<usize> = table
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, s)| s.sh_flags(endian).0 & elf::SHF_ALLOC.0 != 0 || is_debug_info(names[*i]))
        .map(|(i, _)| i)
        .collect();
    if placed.len() <= 1 {
        return;
    }
    let (mut last_vma, mut last_dwarf) = (0u64, 0u64);
    for i in placed {
        let s = &table.iter().as_slice()[i];
        let next = if is_debug_info(names[i]) {
            &mut last_dwarf
        } else {
            &mut last_vma
        };
        let mask = u64::MAX
            .checked_shl(log2_up(s.sh_addralign(endian).into()))
            .unwrap_or(0);
        *next = next.wrapping_add(!mask) & mask;
        sections[i].vma = *next;
        *next = next.wrapping_add(s.sh_size(endian).into());
    }
}

fn static_symbols<Elf: FileHeader<Endian = Endianness>>(
    table: &SectionTable<'_, Elf>,
    endian: Endianness,
    data: &[u8],
    sections: &[Section],
) -> Option<Vec<ElfSymbol>> {
    let symbols = table.symbols(endian, data, elf::SHT_SYMTAB).ok()?;
    let mut out = Vec::with_capacity(symbols.len());
    for (index, sym) in symbols.enumerate().skip(1) {
        let shndx = match sym.st_shndx(endian) {
            elf::SHN_XINDEX => symbols.shndx(endian, index).unwrap_or(0),
            shndx => u32::from(shndx.0),
        };
        let value: u64 = sym.st_value(endian).into();
        let base = match sections.get(shndx as usize) {
            Some(section) if shndx != 0 && shndx < u32::from(elf::SHN_LORESERVE) => {
                section.symbol_base
            }
            _ => 0,
        };
        out.push(ElfSymbol {
            name: symbols
                .symbol_name(endian, sym)
                .unwrap_or_default()
                .to_vec(),
            value: value.wrapping_sub(base),
            shndx,
            kind: sym.st_type().0,
            binding: sym.st_bind().0,
            visibility: sym.st_visibility().0,
            size: sym.st_size(endian).into(),
        });
    }
    Some(out)
}

/// The relocations BFD attaches to sections (those against the static symbol table), by
/// target section in section order: each one's offset and symbol index.
fn relocations<Elf: FileHeader<Endian = Endianness>>(
    table: &SectionTable<'_, Elf>,
    endian: Endianness,
    data: &[u8],
) -> Vec<(usize, Vec<(u64, u32)>)> {
    use object::read::elf::Rel as _;
    let symtab = table
        .iter()
        .position(|s| s.sh_type(endian) == elf::SHT_SYMTAB)
        .unwrap_or(0);
    let mut out: Vec<(usize, Vec<(u64, u32)>)> = Vec::new();
    for s in table.iter() {
        let target = s.sh_info(endian) as usize;
        if s.sh_link(endian) as usize != symtab || target == 0 {
            continue;
        }
        let entries: Vec<(u64, u32)> = if let Ok(Some((rela, _))) = s.rela(endian, data) {
            rela.iter()
                .map(|r| (r.r_offset(endian).into(), r.r_sym(endian, false)))
                .collect()
        } else if let Ok(Some((rel, _))) = s.rel(endian, data) {
            rel.iter()
                .map(|r| (r.r_offset(endian).into(), r.r_sym(endian)))
                .collect()
        } else {
            continue;
        };
        out.push((target, entries));
    }
    out.sort_by_key(|(target, _)| *target);
    out
}

/// The `.debug_*` sections, relocated against the placed sections in a relocatable object;
/// then the units, as BFD reads them. `None` without `.debug_info` (or with it compressed).
fn dwarf_units<Elf: FileHeader<Endian = Endianness>>(
    header: &Elf,
    table: &SectionTable<'_, Elf>,
    endian: Endianness,
    data: &[u8],
    names: &[&[u8]],
    sections: &[Section],
    relocatable: bool,
) -> Option<Vec<Unit>> {
    let mut store: HashMap<&[u8], Vec<u8>> = HashMap::new();
    let mut info = false;
    for (i, s) in table.iter().enumerate() {
        let name = names[i];
        if !name.starts_with(b".debug_") && !name.starts_with(b".gnu.linkonce.wi.") {
            continue;
        }
        if s.sh_type(endian) == elf::SHT_NOBITS || s.sh_flags(endian).0 & elf::SHF_COMPRESSED.0 != 0
        {
            continue;
        }
        let Ok(bytes) = s.data(endian, data) else {
            continue;
        };
        let mut bytes = bytes.to_vec();
        if relocatable {
            relocate(header, table, endian, data, i, sections, &mut bytes);
        }
        let key: &[u8] = if is_debug_info(name) {
            b".debug_info"
        } else {
            name
        };
        info |= key == b".debug_info";
        store.entry(key).or_default().extend_from_slice(&bytes);
    }
    if !info {
        return None;
    }
    let order = if endian.is_big_endian() {
        RunTimeEndian::Big
    } else {
        RunTimeEndian::Little
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader<'_>, ()> {
        let bytes = store
            .get(id.name().as_bytes())
            .map_or(&[][..], Vec::as_slice);
        Ok(EndianSlice::new(bytes, order))
    })
    .ok()?;
    // BFD trusts nothing after a unit it cannot parse.
    let mut parsed = Vec::new();
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        match dwarf.unit(header) {
            Ok(unit) => parsed.push(unit),
            Err(_) => break,
        }
    }
    let mut units: Vec<Unit> = parsed.iter().map(|u| line_tables(&dwarf, u)).collect();
    for at in 0..parsed.len() {
        if !units[at].error {
            let scanned = Scan {
                big_endian: order == RunTimeEndian::Big,
                dwarf: &dwarf,
                parsed: &parsed,
                units: &units,
            }
            .unit(at);
            match scanned {
                Some((functions, variables)) => {
                    let unit = &mut units[at];
                    let ranges = functions
                        .iter()
                        .enumerate()
                        .flat_map(|(i, f): (usize, &Function)| {
                            f.ranges.iter().map(move |&(l, h)| (l, h, i as u32))
                        })
                        .collect();
                    unit.function_ranges = Intervals::new(ranges);
                    for (i, v) in variables.iter().enumerate() {
                        unit.variables_at.entry(v.addr).or_default().push(i as u32);
                    }
                    unit.functions = functions;
                    unit.variables = variables;
                }
                None => units[at].error = true,
            }
        }
    }
    Some(units)
}

/// Applies the relocations of section `target` to its bytes, as BFD's
/// `bfd_simple_get_relocated_section_contents` does: symbol values against the placed
/// sections. Only the absolute and PC-relative data relocations DWARF uses are applied.
fn relocate<Elf: FileHeader<Endian = Endianness>>(
    header: &Elf,
    table: &SectionTable<'_, Elf>,
    endian: Endianness,
    data: &[u8],
    target: usize,
    sections: &[Section],
    bytes: &mut [u8],
) {
    use object::read::elf::Rel as _;
    let machine = header.e_machine(endian);
    let Ok(symbols) = table.symbols(endian, data, elf::SHT_SYMTAB) else {
        return;
    };
    let value_of = |index: u32| -> u64 {
        let Ok(sym) = symbols.symbol(object::SymbolIndex(index as usize)) else {
            return 0;
        };
        let shndx = sym.st_shndx(endian).0;
        let value: u64 = sym.st_value(endian).into();
        match shndx {
            0 => 0,
            s if s == elf::SHN_ABS.0 => value,
            s if s >= elf::SHN_LORESERVE => 0,
            s => sections
                .get(usize::from(s))
                .map_or(0, |section| value.wrapping_add(section.vma)),
        }
    };
    let place = sections.get(target).map_or(0, |s| s.vma);
    let big = endian.is_big_endian();
    let write = |bytes: &mut [u8], offset: u64, width: usize, value: u64| {
        let Some(at) = usize::try_from(offset).ok() else {
            return;
        };
        let Some(slot) = bytes.get_mut(at..at.saturating_add(width)) else {
            return;
        };
        if big {
            slot.copy_from_slice(&value.to_be_bytes()[8 - width..]);
        } else {
            slot.copy_from_slice(&value.to_le_bytes()[..width]);
        }
    };
    for s in table.iter() {
        if s.sh_info(endian) as usize != target {
            continue;
        }
        if let Ok(Some((rela, _))) = s.rela(endian, data) {
            for r in rela {
                let offset: u64 = r.r_offset(endian).into();
                let addend = r.r_addend(endian).into() as u64;
                let sum = value_of(r.r_sym(endian, false)).wrapping_add(addend);
                match (machine, r.r_type(endian, false).0) {
                    (elf::EM_X86_64, 1) => write(bytes, offset, 8, sum),
                    (elf::EM_X86_64, 10 | 11) => write(bytes, offset, 4, sum),
                    (elf::EM_X86_64, 2) => write(
                        bytes,
                        offset,
                        4,
                        sum.wrapping_sub(place.wrapping_add(offset)),
                    ),
                    (elf::EM_X86_64, 24) => write(
                        bytes,
                        offset,
                        8,
                        sum.wrapping_sub(place.wrapping_add(offset)),
                    ),
                    _ => {}
                }
            }
        } else if let Ok(Some((rel, _))) = s.rel(endian, data) {
            for r in rel {
                let offset: u64 = r.r_offset(endian).into();
                let at = offset as usize;
                let Some(implicit) = bytes.get(at..at.saturating_add(4)) else {
                    continue;
                };
                let mut word = [0; 4];
                word.copy_from_slice(implicit);
                let addend = u64::from(if endian.is_big_endian() {
                    u32::from_be_bytes(word)
                } else {
                    u32::from_le_bytes(word)
                });
                let sum = value_of(r.r_sym(endian)).wrapping_add(addend);
                match (machine, r.r_type(endian).0) {
                    (elf::EM_386, 1) => write(bytes, offset, 4, sum),
                    (elf::EM_386, 2) => write(
                        bytes,
                        offset,
                        4,
                        sum.wrapping_sub(place.wrapping_add(offset)),
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// A unit's file names, line sequences and ranges (BFD's `decode_line_info`).
fn line_tables(dwarf: &gimli::Dwarf<Reader<'_>>, u: &gimli::Unit<Reader<'_>>) -> Unit {
    let mut unit = Unit::default();
    let mut root = u.entries();
    if let Ok(Some(die)) = root.next_dfs() {
        let (mut low, mut high, mut relative) = (0u64, 0u64, false);
        for attr in die.attrs() {
            match attr.name() {
                dw::DW_AT_low_pc => low = int_value(dwarf, u, attr.raw_value()).unwrap_or(low),
                dw::DW_AT_high_pc => {
                    if let Some(v) = int_value(dwarf, u, attr.raw_value()) {
                        high = v;
                        relative = attr.form() != dw::DW_FORM_addr;
                    }
                }
                dw::DW_AT_ranges => {
                    add_ranges(dwarf, u, attr.raw_value(), &mut unit.ranges);
                }
                _ => {}
            }
        }
        if relative {
            high = high.wrapping_add(low);
        }
        if high != 0 && low != high {
            unit.ranges.push((low, high));
        }
    }
    let Some(program) = &u.line_program else {
        unit.error = true;
        return unit;
    };
    let header = program.header();
    let files = FileTable::new(dwarf, u, header);
    let mut interned: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut intern = |name: Option<Vec<u8>>, files: &mut Vec<Vec<u8>>| -> u32 {
        match name {
            Some(name) if !name.is_empty() => *interned.entry(name.clone()).or_insert_with(|| {
                files.push(name);
                (files.len() - 1) as u32
            }),
            _ => NO_FILE,
        }
    };
    let mut files = files;
    let encoding = header.line_encoding();
    let (min_len, max_ops) = (
        u64::from(encoding.minimum_instruction_length),
        u64::from(encoding.maximum_operations_per_instruction),
    );
    let (line_base, line_range) = (
        i64::from(encoding.line_base),
        u64::from(encoding.line_range),
    );
    let opcode_base = u64::from(header.opcode_base());
    if max_ops == 0 {
        unit.error = true;
        return unit;
    }
    let mut sequences: Vec<Sequence> = Vec::new();
    let mut instructions = header.instructions();
    let first = if files.v5 { 0 } else { 1 };
    let start_file = if files.files.is_empty() {
        NO_FILE
    } else {
        intern(files.concat(first), &mut unit.files)
    };
    let (mut address, mut op_index, mut file, mut line) = (0u64, 0u64, start_file, 1u32);
    let (mut low, mut high) = (u64::MAX, 0u64);
    loop {
        let instruction = match instructions.next_instruction(header) {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(_) => {
                unit.error = true;
                return unit;
            }
        };
        let mut add = |end: bool, address: u64, op_index: u64, file: u32, line: u32| {
            add_row(
                &mut sequences,
                Row {
                    address,
                    op_index: op_index as u8,
                    file,
                    line,
                    end,
                },
            );
            low = low.min(address);
            high = high.max(address);
        };
        use gimli::LineInstruction as L;
        match instruction {
            L::Special(opcode) => {
                if line_range == 0 {
                    unit.error = true;
                    return unit;
                }
                let adjusted = u64::from(opcode).wrapping_sub(opcode_base);
                let advance = adjusted / line_range;
                if max_ops == 1 {
                    address = address.wrapping_add(advance.wrapping_mul(min_len));
                } else {
                    address = address.wrapping_add((op_index + advance) / max_ops * min_len);
                    op_index = (op_index + advance) % max_ops;
                }
                line = line.wrapping_add((line_base + (adjusted % line_range) as i64) as u32);
                add(false, address, op_index, file, line);
            }
            L::Copy => add(false, address, op_index, file, line),
            L::AdvancePc(n) => {
                if max_ops == 1 {
                    address = address.wrapping_add(min_len.wrapping_mul(n));
                } else {
                    // As BFD has it: the address is set, not advanced.
                    address = (op_index.wrapping_add(n) / max_ops).wrapping_mul(min_len);
                    op_index = op_index.wrapping_add(n) % max_ops;
                }
            }
            L::AdvanceLine(n) => line = line.wrapping_add(n as u32),
            L::SetFile(n) => file = intern(files.concat(n), &mut unit.files),
            L::ConstAddPc => {
                if line_range == 0 {
                    unit.error = true;
                    return unit;
                }
                let adjust = (255 - opcode_base) / line_range;
                if max_ops == 1 {
                    address = address.wrapping_add(min_len * adjust);
                } else {
                    address = address.wrapping_add(min_len * ((op_index + adjust) / max_ops));
                    op_index = (op_index + adjust) % max_ops;
                }
            }
            L::FixedAddPc(n) => {
                address = address.wrapping_add(u64::from(n));
                op_index = 0;
            }
            L::EndSequence => {
                add(true, address, op_index, file, line);
                if low != high {
                    unit.ranges.push((low, high));
                }
                (address, op_index, file, line) = (0, 0, start_file, 1);
                (low, high) = (u64::MAX, 0);
            }
            L::SetAddress(a) => {
                address = a;
                op_index = 0;
            }
            L::DefineFile(entry) => files.files.push((
                dwarf
                    .attr_string(u, entry.path_name())
                    .ok()
                    .map(|r| r.slice().to_vec()),
                entry.directory_index(),
            )),
            L::UnknownExtended(..) => {
                unit.error = true;
                return unit;
            }
            _ => {}
        }
    }
    unit.lines = sort_sequences(sequences);
    unit.file_table = Some(files);
    unit
}

/// BFD's `add_line_info`: rows kept in address order within their sequence; a row at the
/// same place as the last one replaces it.
fn add_row(sequences: &mut Vec<Sequence>, row: Row) {
    let Some(seq) = sequences
        .last_mut()
        .filter(|s| !s.rows.last().is_some_and(|r| r.end))
    else {
        sequences.push(Sequence {
            low: row.address,
            rows: vec![row],
        });
        return;
    };
    let last = *seq.rows.last().expect("a sequence has a row");
    if last.address == row.address
        && u64::from(last.op_index) == u64::from(row.op_index)
        && last.end == row.end
    {
        *seq.rows.last_mut().expect("a sequence has a row") = row;
    } else if row.end || row.sorts_after(&last) {
        seq.rows.push(row);
    } else {
        let at = seq.rows.partition_point(|r| row.sorts_after(r));
        seq.rows.insert(at, row);
        seq.low = seq.low.min(row.address);
    }
}

/// BFD's `sort_line_sequences`: by start, the longest first, then made binary-searchable by
/// dropping nested sequences and trimming overlapping ones.
fn sort_sequences(sequences: Vec<Sequence>) -> Vec<Sequence> {
    let count = sequences.len();
    let mut indexed: Vec<(usize, Sequence)> = sequences
        .into_iter()
        .enumerate()
        .map(|(i, s)| (count - 1 - i, s))
        .collect();
    indexed.sort_by(|(ia, a), (ib, b)| {
        let (la, lb) = (a.rows.last(), b.rows.last());
        a.low
            .cmp(&b.low)
            .then_with(|| lb.map(|r| r.address).cmp(&la.map(|r| r.address)))
            .then_with(|| lb.map(|r| r.op_index).cmp(&la.map(|r| r.op_index)))
            .then_with(|| ia.cmp(ib))
    });
    let mut out: Vec<Sequence> = Vec::with_capacity(count);
    for (_, mut seq) in indexed {
        if let Some(last) = out.last() {
            let last_high = last.end();
            if seq.low < last_high {
                if seq.end() <= last_high {
                    continue;
                }
                seq.low = last_high;
            }
        }
        out.push(seq);
    }
    out
}

/// A line table's names, for BFD's `concat_filename`.
struct FileTable {
    v5: bool,
    /// Each file's name and directory index, as written.
    files: Vec<(Option<Vec<u8>>, u64)>,
    dirs: Vec<Option<Vec<u8>>>,
    comp_dir: Option<Vec<u8>>,
}

impl FileTable {
    fn new(
        dwarf: &gimli::Dwarf<Reader<'_>>,
        u: &gimli::Unit<Reader<'_>>,
        header: &gimli::LineProgramHeader<Reader<'_>>,
    ) -> FileTable {
        let string = |value| dwarf.attr_string(u, value).ok().map(|r| r.slice().to_vec());
        FileTable {
            v5: header.version() >= 5,
            files: header
                .file_names()
                .iter()
                .map(|f| (string(f.path_name()), f.directory_index()))
                .collect(),
            dirs: header
                .include_directories()
                .iter()
                .map(|d| string(*d))
                .collect(),
            comp_dir: u.comp_dir.map(|d| d.slice().to_vec()),
        }
    }

    /// The full name of file `file` (1-based before DWARF 5), as BFD spells it.
    fn concat(&self, file: u64) -> Option<Vec<u8>> {
        let unknown = || Some(b"<unknown>".to_vec());
        let index = if self.v5 {
            file
        } else if file == 0 {
            return unknown();
        } else {
            file - 1
        };
        let Some((Some(name), dir)) = usize::try_from(index).ok().and_then(|i| self.files.get(i))
        else {
            return unknown();
        };
        if name.starts_with(b"/") {
            return Some(name.clone());
        }
        let dir = if self.v5 {
            Some(*dir)
        } else {
            dir.checked_sub(1)
        };
        let mut subdir = dir
            .and_then(|d| usize::try_from(d).ok())
            .and_then(|d| self.dirs.get(d))
            .and_then(|d| d.as_deref());
        let mut dir_name = match subdir {
            Some(s) if s.starts_with(b"/") => None,
            _ => self.comp_dir.as_deref(),
        };
        if dir_name.is_none() {
            dir_name = subdir.take();
        }
        let Some(dir_name) = dir_name else {
            return Some(name.clone());
        };
        let mut out = dir_name.to_vec();
        if let Some(subdir) = subdir {
            out.push(b'/');
            out.extend_from_slice(subdir);
        }
        out.push(b'/');
        out.extend_from_slice(name);
        Some(out)
    }
}

/// BFD's `is_int_form` values: addresses, constants, flags, offsets and references.
fn int_value(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    u: &gimli::Unit<Reader<'_>>,
    value: AttributeValue<Reader<'_>>,
) -> Option<u64> {
    Some(match value {
        AttributeValue::Addr(a) => a,
        AttributeValue::Data1(v) => v.into(),
        AttributeValue::Data2(v) => v.into(),
        AttributeValue::Data4(v) => v.into(),
        AttributeValue::Data8(v) => v,
        AttributeValue::Udata(v) => v,
        AttributeValue::Sdata(v) => v as u64,
        AttributeValue::Flag(f) => f.into(),
        AttributeValue::SecOffset(o) => o as u64,
        AttributeValue::UnitRef(o) => o.0 as u64,
        AttributeValue::DebugInfoRef(o) => o.0 as u64,
        AttributeValue::RangeListsRef(o) => o.0 as u64,
        AttributeValue::DebugAddrIndex(i) => dwarf.address(u, i).ok()?,
        _ => return None,
    })
}

fn string_value(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    u: &gimli::Unit<Reader<'_>>,
    value: AttributeValue<Reader<'_>>,
) -> Option<Vec<u8>> {
    match value {
        AttributeValue::String(_)
        | AttributeValue::DebugStrRef(_)
        | AttributeValue::DebugLineStrRef(_)
        | AttributeValue::DebugStrOffsetsIndex(_) => {
            dwarf.attr_string(u, value).ok().map(|r| r.slice().to_vec())
        }
        _ => None,
    }
}

/// The ranges a `DW_AT_ranges` names, non-empty ones only. `false` when they cannot be read.
fn add_ranges(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    u: &gimli::Unit<Reader<'_>>,
    value: AttributeValue<Reader<'_>>,
    out: &mut Vec<(u64, u64)>,
) -> bool {
    let value = match value {
        AttributeValue::SecOffset(o) => {
            AttributeValue::RangeListsRef(gimli::RawRangeListsOffset(o))
        }
        value => value,
    };
    let Ok(Some(offset)) = dwarf.attr_ranges_offset(u, value) else {
        return false;
    };
    let Ok(mut ranges) = dwarf.ranges(u, offset) else {
        return false;
    };
    loop {
        match ranges.next() {
            Ok(Some(r)) => arange_add(out, r.begin, r.end),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// BFD's `mangle_style(lang) == 0`: languages whose names are not mangled.
fn unmangled(language: u64) -> bool {
    matches!(
        language,
        0x1 | 0x2
            | 0x5
            | 0x6
            | 0x7
            | 0x9
            | 0xc
            | 0xf
            | 0x12
            | 0x1d
            | 0x8001
            | 0x8765
            | 0x8101
            | 0x8102
            | 0x8107
    )
}

/// Reads one unit's functions and variables (BFD's `scan_unit_for_symbols`).
struct Scan<'s, 'd> {
    big_endian: bool,
    dwarf: &'s gimli::Dwarf<Reader<'d>>,
    parsed: &'s [gimli::Unit<Reader<'d>>],
    units: &'s [Unit],
}

/// What an abstract instance or a specification adds to a function or variable.
struct Declared<'a> {
    name: &'a mut Option<Vec<u8>>,
    linkage: &'a mut bool,
    file: &'a mut Option<Vec<u8>>,
    line: &'a mut u32,
}

impl Scan<'_, '_> {
    fn language(&self, at: usize) -> u64 {
        let mut entries = self.parsed[at].entries();
        let Ok(Some(root)) = entries.next_dfs() else {
            return 0;
        };
        root.attrs()
            .iter()
            .find(|a| a.name() == dw::DW_AT_language)
            .and_then(|a| int_value(self.dwarf, &self.parsed[at], a.raw_value()))
            .unwrap_or(0)
    }

    fn decl_file(&self, at: usize, value: AttributeValue<Reader<'_>>) -> Option<Vec<u8>> {
        let file = int_value(self.dwarf, &self.parsed[at], value)?;
        self.units[at].file_table.as_ref()?.concat(file)
    }

    fn unit(&self, at: usize) -> Option<(Vec<Function>, Vec<Variable>)> {
        let u = &self.parsed[at];
        let unmangled = unmangled(self.language(at));
        let big_endian = self.big_endian;
        let (mut functions, mut variables) = (Vec::new(), Vec::new());
        let mut entries = u.entries();
        // The unit's own DIE is not scanned.
        entries.next_dfs().ok()??;
        while let Some(die) = entries.next_dfs().ok()? {
            let tag = die.tag();
            if matches!(
                tag,
                dw::DW_TAG_subprogram | dw::DW_TAG_entry_point | dw::DW_TAG_inlined_subroutine
            ) {
                let mut f = Function::default();
                let (mut low, mut high, mut relative) = (0u64, 0u64, false);
                for attr in die.attrs() {
                    let value = attr.raw_value();
                    match attr.name() {
                        dw::DW_AT_abstract_origin | dw::DW_AT_specification
                            if int_value(self.dwarf, u, value).is_some() =>
                        {
                            let declared = Declared {
                                name: &mut f.name,
                                linkage: &mut f.linkage,
                                file: &mut f.file,
                                line: &mut f.line,
                            };
                            if !self.abstract_instance(at, value, 0, declared) {
                                return None;
                            }
                        }
                        dw::DW_AT_name => {
                            if f.name.is_none()
                                && let Some(name) = string_value(self.dwarf, u, value)
                            {
                                f.name = Some(name);
                                f.linkage = unmangled;
                            }
                        }
                        dw::DW_AT_linkage_name | dw::DW_AT_MIPS_linkage_name => {
                            if let Some(name) = string_value(self.dwarf, u, value) {
                                f.name = Some(name);
                                f.linkage = true;
                            }
                        }
                        dw::DW_AT_low_pc => {
                            if let Some(v) = int_value(self.dwarf, u, value) {
                                low = v;
                            }
                        }
                        dw::DW_AT_high_pc => {
                            if let Some(v) = int_value(self.dwarf, u, value) {
                                high = v;
                                relative = attr.form() != dw::DW_FORM_addr;
                            }
                        }
                        dw::DW_AT_ranges
                            if int_value(self.dwarf, u, value).is_some()
                                && !add_ranges(self.dwarf, u, value, &mut f.ranges) =>
                        {
                            return None;
                        }
                        dw::DW_AT_decl_file => {
                            if let Some(file) = self.decl_file(at, value) {
                                f.file = Some(file);
                            }
                        }
                        dw::DW_AT_decl_line => {
                            if let Some(v) = int_value(self.dwarf, u, value) {
                                f.line = v as u32;
                            }
                        }
                        _ => {}
                    }
                }
                if relative {
                    high = high.wrapping_add(low);
                }
                if high != 0 {
                    arange_add(&mut f.ranges, low, high);
                }
                functions.push(f);
            } else if matches!(tag, dw::DW_TAG_variable | dw::DW_TAG_member) {
                let mut v = Variable {
                    stack: true,
                    ..Variable::default()
                };
                for attr in die.attrs() {
                    let value = attr.raw_value();
                    match attr.name() {
                        dw::DW_AT_specification
                            if int_value(self.dwarf, u, value).is_some_and(|r| r != 0) =>
                        {
                            let mut linkage = false;
                            let declared = Declared {
                                name: &mut v.name,
                                linkage: &mut linkage,
                                file: &mut v.file,
                                line: &mut v.line,
                            };
                            // BFD reports a failure here and goes on.
                            self.abstract_instance(at, value, 0, declared);
                        }
                        dw::DW_AT_name => {
                            if let Some(name) = string_value(self.dwarf, u, value) {
                                v.name = Some(name);
                            }
                        }
                        dw::DW_AT_decl_file => {
                            if let Some(file) = self.decl_file(at, value) {
                                v.file = Some(file);
                            }
                        }
                        dw::DW_AT_decl_line => {
                            if let Some(line) = int_value(self.dwarf, u, value) {
                                v.line = line as u32;
                            }
                        }
                        dw::DW_AT_external
                            if int_value(self.dwarf, u, value).is_some_and(|e| e != 0) =>
                        {
                            v.stack = false;
                        }
                        dw::DW_AT_location => {
                            let block = match value {
                                AttributeValue::Block(b) => Some(b),
                                AttributeValue::Exprloc(e) => Some(e.0),
                                _ => None,
                            };
                            if let Some(block) = block.map(|b| b.slice())
                                && block.first() == Some(&dw::DW_OP_addr.0)
                            {
                                v.stack = false;
                                let size = usize::from(u.encoding().address_size);
                                if block.len() == size + 1 && size <= 8 {
                                    let mut word = [0u8; 8];
                                    if big_endian {
                                        word[8 - size..].copy_from_slice(&block[1..]);
                                        v.addr = u64::from_be_bytes(word);
                                    } else {
                                        word[..size].copy_from_slice(&block[1..]);
                                        v.addr = u64::from_le_bytes(word);
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                variables.push(v);
            }
        }
        Some((functions, variables))
    }

    /// BFD's `find_abstract_instance`: the name and declaration of the DIE `reference` points
    /// at, following its own specification. `false` for a reference BFD cannot follow.
    fn abstract_instance(
        &self,
        at: usize,
        reference: AttributeValue<Reader<'_>>,
        depth: u32,
        declared: Declared<'_>,
    ) -> bool {
        if depth == 100 {
            return false;
        }
        let (at, offset) = match reference {
            AttributeValue::UnitRef(offset) => {
                if offset.0 == 0 {
                    return false;
                }
                (at, offset)
            }
            AttributeValue::DebugInfoRef(offset) => {
                if offset.0 == 0 {
                    return true;
                }
                let Some((other, local)) = self
                    .parsed
                    .iter()
                    .enumerate()
                    .find_map(|(i, u)| offset.to_unit_offset(&u.header).map(|o| (i, o)))
                else {
                    return false;
                };
                (other, local)
            }
            _ => return false,
        };
        let u = &self.parsed[at];
        let Ok(die) = u.entry(offset) else {
            return false;
        };
        let unmangled = unmangled(self.language(at));
        for attr in die.attrs() {
            let value = attr.raw_value();
            match attr.name() {
                dw::DW_AT_name => {
                    if declared.name.is_none()
                        && let Some(name) = string_value(self.dwarf, u, value)
                    {
                        *declared.name = Some(name);
                        if unmangled {
                            *declared.linkage = true;
                        }
                    }
                }
                dw::DW_AT_specification if int_value(self.dwarf, u, value).is_some() => {
                    let inner = Declared {
                        name: &mut *declared.name,
                        linkage: &mut *declared.linkage,
                        file: &mut *declared.file,
                        line: &mut *declared.line,
                    };
                    if !self.abstract_instance(at, value, depth + 1, inner) {
                        return false;
                    }
                }
                dw::DW_AT_linkage_name | dw::DW_AT_MIPS_linkage_name => {
                    if let Some(name) = string_value(self.dwarf, u, value) {
                        *declared.name = Some(name);
                        *declared.linkage = true;
                    }
                }
                dw::DW_AT_decl_file => {
                    if self.units[at].error {
                        return false;
                    }
                    if let Some(file) = self.decl_file(at, value) {
                        *declared.file = Some(file);
                    }
                }
                dw::DW_AT_decl_line => {
                    if let Some(line) = int_value(self.dwarf, u, value) {
                        *declared.line = line as u32;
                    }
                }
                _ => {}
            }
        }
        true
    }
}

/// BFD's `arange_add`: an empty range is dropped; one that touches an existing range extends
/// it; any other goes after the first.
fn arange_add(ranges: &mut Vec<(u64, u64)>, low: u64, high: u64) {
    if low == high {
        return;
    }
    if ranges.is_empty() {
        ranges.push((low, high));
        return;
    }
    for range in ranges.iter_mut() {
        if low == range.1 {
            range.1 = high;
            return;
        }
        if high == range.0 {
            range.0 = low;
            return;
        }
    }
    ranges.insert(1, (low, high));
}
