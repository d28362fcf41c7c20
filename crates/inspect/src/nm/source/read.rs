//! Reading what `-l` needs: the ELF sections (laid out as BFD lays out a relocatable
//! object's), the static symbols, the relocations, and the DWARF through gimli, reduced to
//! BFD's tables (units, line sequences, functions, variables, file names).

use std::collections::HashMap;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, constants as dw};
use object::read::elf::{FileHeader, Rela as _, SectionHeader, SectionTable, Sym as _};
use object::{Endian as _, Endianness, elf};

use super::dies::Scan;
use super::{
    ElfSymbol, Function, Intervals, NO_FILE, Row, STT_SECTION, Section, Sequence, Sources, Unit,
    Units, function_starts,
};

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

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

pub(super) fn read<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Option<Sources> {
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
        let Some(bytes) = crate::dwarf::debug_bytes(name, s, endian, data) else {
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
pub(super) struct FileTable {
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
    pub(super) fn concat(&self, file: u64) -> Option<Vec<u8>> {
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
pub(super) fn int_value(
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

pub(super) fn string_value(
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
pub(super) fn add_ranges(
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

/// BFD's `arange_add`: an empty range is dropped; one that touches an existing range extends
/// it; any other goes after the first.
pub(super) fn arange_add(ranges: &mut Vec<(u64, u64)>, low: u64, high: u64) {
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
