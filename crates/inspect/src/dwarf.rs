//! What a function returns, and in which registers, from the DWARF of the program or shared
//! object that defines it: the live patcher's thunk hands back exactly those registers and
//! keeps every other caller-saved one.
//!
//! The function is found by its address (the subprogram whose `DW_AT_low_pc`, or first range,
//! is it); its `DW_AT_type` (through an abstract origin or a specification when the concrete
//! DIE has none) is classified as the System V x86-64 ABI classifies a return value: scalars
//! and pointers in rax, floats and doubles in xmm0, and aggregates of up to 16 bytes eightbyte
//! by eightbyte (INTEGER to rax then rdx, SSE to xmm0 then xmm1); larger aggregates in memory,
//! their address in rax; `long double` on the x87 stack.

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, UnitOffset, constants as dw};
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind, elf};

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// Where a function's result comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// `void`.
    Nothing,
    /// rax: an integer, a pointer, or an aggregate of up to 8 bytes of them.
    Int,
    /// rax and rdx.
    IntPair,
    /// xmm0.
    Float,
    /// xmm0 and xmm1.
    FloatPair,
    /// rax and xmm0, in either order (a 16-byte struct of an integer and a double).
    IntAndFloat,
    /// In memory the caller provides; rax holds its address.
    Memory,
    /// st0 (`long double`), or st0 and st1 (`_Complex long double`).
    X87,
}

/// The return registers of the function at link-time address `address` of the ELF file
/// `data`, from its DWARF; `None` when the file has no DWARF for it (or none this reader
/// takes).
pub fn returned(data: &[u8], address: u64) -> Option<Returned> {
    let sections = match FileKind::parse(data).ok()? {
        FileKind::Elf64 => debug_sections::<elf::FileHeader64<Endianness>>(data)?,
        _ => return None,
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader<'_>, ()> {
        let bytes = sections
            .iter()
            .find(|(name, _)| *name == id.name().as_bytes())
            .map_or(&[][..], |(_, bytes)| *bytes);
        Ok(EndianSlice::new(bytes, RunTimeEndian::Little))
    })
    .ok()?;
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        let Ok(unit) = dwarf.unit(header) else {
            break;
        };
        let mut entries = unit.entries();
        while let Ok(Some(die)) = entries.next_dfs() {
            if die.tag() != dw::DW_TAG_subprogram || low_pc(&dwarf, &unit, die) != Some(address) {
                continue;
            }
            let classify = Classify {
                dwarf: &dwarf,
                unit: &unit,
            };
            return Some(classify.returned(die.offset()));
        }
    }
    None
}

/// The `.debug_*` sections of an ELF file, uncompressed ones only.
fn debug_sections<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Option<Vec<(&[u8], &[u8])>> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let table = header.sections(endian, data).ok()?;
    let mut out = Vec::new();
    for s in table.iter() {
        let name = table.section_name(endian, s).ok()?;
        if let Some(bytes) = debug_bytes(name, s, endian, data) {
            out.push((name, bytes));
        }
    }
    out.iter().any(|(n, _)| *n == b".debug_info").then_some(out)
}

/// The bytes of section `s`, named `name`, when it is a DWARF section this crate reads: a
/// `.debug_*` (or `.gnu.linkonce.wi.*`) section with contents, not compressed.
pub(crate) fn debug_bytes<'d, S: SectionHeader<Endian = Endianness>>(
    name: &[u8],
    s: &S,
    endian: Endianness,
    data: &'d [u8],
) -> Option<&'d [u8]> {
    let dwarf = name.starts_with(b".debug_") || name.starts_with(b".gnu.linkonce.wi.");
    let readable =
        s.sh_type(endian) != elf::SHT_NOBITS && s.sh_flags(endian).0 & elf::SHF_COMPRESSED.0 == 0;
    if !(dwarf && readable) {
        return None;
    }
    s.data(endian, data).ok()
}

/// A subprogram's entry address: its `DW_AT_low_pc`, else the start of its first range.
fn low_pc(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    die: &gimli::DebuggingInformationEntry<Reader<'_>>,
) -> Option<u64> {
    for attr in die.attrs() {
        match attr.name() {
            dw::DW_AT_low_pc => return dwarf.attr_address(unit, attr.value()).ok()?,
            dw::DW_AT_ranges => {
                let offset = dwarf.attr_ranges_offset(unit, attr.value()).ok()??;
                let mut ranges = dwarf.ranges(unit, offset).ok()?;
                return ranges.next().ok()?.map(|r| r.begin);
            }
            _ => {}
        }
    }
    None
}

/// The ABI class of an eightbyte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    None,
    Integer,
    Sse,
    X87,
}

impl Class {
    fn merge(self, other: Class) -> Class {
        match (self, other) {
            (Class::None, c) | (c, Class::None) => c,
            (Class::X87, _) | (_, Class::X87) => Class::X87,
            (Class::Integer, _) | (_, Class::Integer) => Class::Integer,
            _ => Class::Sse,
        }
    }
}

struct Classify<'u, 'd> {
    dwarf: &'u gimli::Dwarf<Reader<'d>>,
    unit: &'u gimli::Unit<Reader<'d>>,
}

impl Classify<'_, '_> {
    fn attr(&self, at: UnitOffset, name: dw::DwAt) -> Option<AttributeValue<Reader<'_>>> {
        let die = self.unit.entry(at).ok()?;
        die.attr_value(name)
    }

    fn udata(&self, at: UnitOffset, name: dw::DwAt) -> Option<u64> {
        self.attr(at, name)?.udata_value()
    }

    fn reference(&self, at: UnitOffset, name: dw::DwAt) -> Option<UnitOffset> {
        match self.attr(at, name)? {
            AttributeValue::UnitRef(offset) => Some(offset),
            _ => None,
        }
    }

    /// The function's return type, through its abstract origin or specification.
    fn return_type(&self, function: UnitOffset, depth: u32) -> Option<Option<UnitOffset>> {
        if let Some(t) = self.reference(function, dw::DW_AT_type) {
            return Some(Some(t));
        }
        for link in [dw::DW_AT_abstract_origin, dw::DW_AT_specification] {
            if let Some(origin) = self.reference(function, link)
                && depth < 8
            {
                return self.return_type(origin, depth + 1);
            }
        }
        // No type anywhere: void.
        Some(None)
    }

    fn returned(&self, function: UnitOffset) -> Returned {
        let Some(Some(t)) = self.return_type(function, 0) else {
            return Returned::Nothing;
        };
        let Some(size) = self.size(t, 0) else {
            return Returned::Int;
        };
        if size == 0 {
            return Returned::Nothing;
        }
        if size > 16 {
            return Returned::Memory;
        }
        let mut classes = [Class::None; 2];
        if !self.classify(t, 0, &mut classes, 0) {
            return Returned::Memory;
        }
        match (classes[0], if size > 8 { classes[1] } else { Class::None }) {
            (Class::X87, _) | (_, Class::X87) => Returned::X87,
            (Class::Sse, Class::Sse) => Returned::FloatPair,
            (Class::Sse, Class::Integer) | (Class::Integer, Class::Sse) => Returned::IntAndFloat,
            (Class::Integer, Class::Integer) => Returned::IntPair,
            (Class::Sse, Class::None) => Returned::Float,
            _ => Returned::Int,
        }
    }

    /// The type with qualifiers and typedefs peeled off.
    fn peel(&self, mut t: UnitOffset) -> Option<UnitOffset> {
        for _ in 0..32 {
            let tag = self.unit.entry(t).ok()?.tag();
            match tag {
                dw::DW_TAG_typedef
                | dw::DW_TAG_const_type
                | dw::DW_TAG_volatile_type
                | dw::DW_TAG_restrict_type
                | dw::DW_TAG_atomic_type => t = self.reference(t, dw::DW_AT_type)?,
                _ => return Some(t),
            }
        }
        None
    }

    fn size(&self, t: UnitOffset, depth: u32) -> Option<u64> {
        let t = self.peel(t)?;
        if let Some(size) = self.udata(t, dw::DW_AT_byte_size) {
            return Some(size);
        }
        let die = self.unit.entry(t).ok()?;
        match die.tag() {
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type
            | dw::DW_TAG_ptr_to_member_type => Some(8),
            dw::DW_TAG_array_type if depth < 8 => {
                let element = self.size(self.reference(t, dw::DW_AT_type)?, depth + 1)?;
                Some(element.saturating_mul(self.element_count(t)?))
            }
            _ => None,
        }
    }

    /// An array's element count: the product of its subranges' counts.
    fn element_count(&self, array: UnitOffset) -> Option<u64> {
        let mut cursor = self.unit.entries_at_offset(array).ok()?;
        cursor.next_dfs().ok()??;
        let mut count = 1u64;
        while let Some(child) = cursor.next_dfs().ok()? {
            if child.depth() <= 0 {
                break;
            }
            if child.tag() == dw::DW_TAG_subrange_type {
                let n = match child.attr_value(dw::DW_AT_count) {
                    Some(v) => v.udata_value()?,
                    None => child.attr_value(dw::DW_AT_upper_bound)?.udata_value()? + 1,
                };
                count = count.saturating_mul(n);
            }
        }
        Some(count)
    }

    /// Merges the classes of type `t`, at byte `offset` of the value, into `classes`; `false`
    /// for what the ABI passes in memory (an unaligned field) or this reader cannot size.
    fn classify(&self, t: UnitOffset, offset: u64, classes: &mut [Class; 2], depth: u32) -> bool {
        if depth > 16 {
            return false;
        }
        let Some(t) = self.peel(t) else { return false };
        let Ok(die) = self.unit.entry(t) else {
            return false;
        };
        let Some(size) = self.size(t, 0) else {
            return false;
        };
        let put = |classes: &mut [Class; 2], class: Class| {
            for eightbyte in offset / 8..=(offset + size.max(1) - 1) / 8 {
                if let Some(c) = classes.get_mut(eightbyte as usize) {
                    *c = c.merge(class);
                }
            }
        };
        match die.tag() {
            dw::DW_TAG_base_type => {
                let encoding = match self.attr(t, dw::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(e)) => e,
                    _ => dw::DwAte(0),
                };
                // `long double` (16 bytes, x87) and its complex pair; `__float128` is SSE.
                let name = die
                    .attr_value(dw::DW_AT_name)
                    .and_then(|n| self.dwarf.attr_string(self.unit, n).ok())
                    .map(|n| n.slice().to_vec())
                    .unwrap_or_default();
                let quad = name.windows(3).any(|w| w == b"128");
                let class = match (encoding, size) {
                    (dw::DW_ATE_float, 16) | (dw::DW_ATE_complex_float, 32) if !quad => Class::X87,
                    (dw::DW_ATE_float | dw::DW_ATE_complex_float, _) => Class::Sse,
                    _ => Class::Integer,
                };
                put(classes, class);
                true
            }
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type
            | dw::DW_TAG_enumeration_type
            | dw::DW_TAG_ptr_to_member_type => {
                put(classes, Class::Integer);
                true
            }
            dw::DW_TAG_array_type => {
                let Some(element) = self.reference(t, dw::DW_AT_type) else {
                    return false;
                };
                let Some(element_size) = self.size(element, 0).filter(|&s| s > 0) else {
                    return true;
                };
                (0..size / element_size)
                    .all(|i| self.classify(element, offset + i * element_size, classes, depth + 1))
            }
            dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                let Ok(mut cursor) = self.unit.entries_at_offset(t) else {
                    return false;
                };
                if !matches!(cursor.next_dfs(), Ok(Some(_))) {
                    return false;
                }
                let mut members = Vec::new();
                while let Ok(Some(child)) = cursor.next_dfs() {
                    if child.depth() <= 0 {
                        break;
                    }
                    if child.depth() != 1 {
                        continue;
                    }
                    let field = matches!(child.tag(), dw::DW_TAG_member | dw::DW_TAG_inheritance);
                    // A static member has no place in the value.
                    if !field || child.attr_value(dw::DW_AT_external).is_some() {
                        continue;
                    }
                    let at = child
                        .attr_value(dw::DW_AT_data_member_location)
                        .and_then(|v| v.udata_value())
                        .unwrap_or(0);
                    let Some(AttributeValue::UnitRef(member)) = child.attr_value(dw::DW_AT_type)
                    else {
                        return false;
                    };
                    members.push((member, at));
                }
                members
                    .into_iter()
                    .all(|(member, at)| self.classify(member, offset + at, classes, depth + 1))
            }
            _ => {
                put(classes, Class::Integer);
                true
            }
        }
    }
}
