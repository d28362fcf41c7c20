//! The DIEs of one unit, reduced to BFD's function and variable tables
//! (`scan_unit_for_symbols`, `find_abstract_instance`): names (linkage names first, through
//! abstract origins and specifications, across units), declarations, ranges and addresses.

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, constants as dw};

use super::read::{add_ranges, arange_add, int_value, string_value};
use super::{Function, Unit, Variable};

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

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
pub(super) struct Scan<'s, 'd> {
    pub(super) big_endian: bool,
    pub(super) dwarf: &'s gimli::Dwarf<Reader<'d>>,
    pub(super) parsed: &'s [gimli::Unit<Reader<'d>>],
    pub(super) units: &'s [Unit],
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

    pub(super) fn unit(&self, at: usize) -> Option<(Vec<Function>, Vec<Variable>)> {
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
