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

use object::{Endianness, FileKind, elf};

use crate::symbols::{Place, Symbol};

mod dies;
mod read;

use read::FileTable;

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
            Ok(FileKind::Elf64) => read::read::<elf::FileHeader64<Endianness>>(data),
            Ok(FileKind::Elf32) => read::read::<elf::FileHeader32<Endianness>>(data),
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
