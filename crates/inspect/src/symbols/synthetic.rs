//! `nm --synthetic`: the `NAME@plt` symbols BFD makes for an x86-64 program's or shared
//! object's PLT entries (`elf_x86_64_get_synthetic_symtab`, then
//! `_bfd_x86_elf_get_synthetic_symtab`, binutils 2.40).
//!
//! Each PLT section BFD knows (`.plt`, `.plt.got`, `.plt.sec`, `.plt.bnd`) is matched against
//! the entry layouts ld writes: lazy (with PLT0 first), non-lazy, BND and IBT. Each entry's
//! `jmp *disp(%rip)` names a GOT slot; the dynamic relocation at that slot (`JUMP_SLOT`,
//! `GLOB_DAT` or `IRELATIVE`) names the symbol, and the entry becomes `SYMBOL@plt` (with
//! `+0xADDEND` for an addend; `*ABS*` for a relocation without a symbol), a copy of the dynamic
//! symbol moved into the PLT section. A lazy `.plt` is skipped when a second PLT holds the
//! jumps.

use object::elf;
use object::read::elf::{FileHeader, Rel as _, Rela as _, SectionHeader, SectionTable, Sym as _};
use object::{Endianness, FileKind};

use super::{Place, STB_GLOBAL, STB_GNU_UNIQUE, STB_LOCAL, STB_WEAK, Symbol, letter};

/// One synthetic symbol, its name owned (the symbols borrow it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synthetic<'d> {
    pub name: Vec<u8>,
    pub value: u64,
    pub binding: u8,
    pub kind: u8,
    pub shndx: u32,
    /// The PLT section's letter (`t`), name and end address.
    pub section_letter: u8,
    pub section: &'d [u8],
    pub section_end: u64,
}

impl Synthetic<'_> {
    /// The symbol nm lists: in its PLT section, without a size (BFD's synthetic symbols have
    /// none), lettered as its dynamic symbol would be there.
    pub fn symbol(&self) -> Symbol<'_> {
        let mut s = Symbol {
            name: &self.name,
            version: None,
            value: self.value,
            size: 0,
            place: Place::Section(self.section_letter),
            binding: self.binding,
            kind: self.kind,
            letter: 0,
            section: self.section,
            shndx: self.shndx,
            synthetic: true,
            index: Symbol::NO_INDEX,
        };
        s.letter = letter(&s);
        s
    }
}

/// A PLT layout: how long an entry is, where its GOT displacement lies and where the
/// instruction holding it ends.
#[derive(Clone, Copy)]
struct Layout {
    entry_size: u64,
    got_offset: u64,
    got_insn_size: u64,
}

const LAZY: Layout = Layout {
    entry_size: 16,
    got_offset: 2,
    got_insn_size: 6,
};
const NON_LAZY: Layout = Layout {
    entry_size: 8,
    got_offset: 2,
    got_insn_size: 6,
};
const NON_LAZY_BND: Layout = Layout {
    entry_size: 8,
    got_offset: 3,
    got_insn_size: 7,
};
const NON_LAZY_IBT: Layout = Layout {
    entry_size: 16,
    got_offset: 6,
    got_insn_size: 10,
};

/// PLT0 of a lazy PLT: `pushq GOT+8(%rip); jmpq *GOT+16(%rip)`.
const LAZY_PLT0: [u8; 8] = [0xff, 0x35, 8, 0, 0, 0, 0xff, 0x25];
/// PLT0 of a lazy BND PLT: `pushq GOT+8(%rip); bnd jmpq *GOT+16(%rip)`.
const LAZY_BND_PLT0: [u8; 9] = [0xff, 0x35, 8, 0, 0, 0, 0xf2, 0xff, 0x25];
/// The start of a lazy IBT PLT entry: `endbr64; pushq`.
const LAZY_IBT_ENTRY: [u8; 5] = [0xf3, 0x0f, 0x1e, 0xfa, 0x68];
/// The start of a non-lazy entry: `jmpq *name@GOTPCREL(%rip)`, plain, with BND, with IBT.
const NON_LAZY_ENTRY: [u8; 2] = [0xff, 0x25];
const NON_LAZY_BND_ENTRY: [u8; 3] = [0xf2, 0xff, 0x25];
const NON_LAZY_IBT_ENTRY: [u8; 6] = [0xf3, 0x0f, 0x1e, 0xfa, 0xff, 0x25];

/// The synthetic symbols of an x86-64 or i386 ELF program or shared object; none for anything
/// else.
pub fn synthetic(data: &[u8]) -> Vec<Synthetic<'_>> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => read::<elf::FileHeader64<Endianness>>(data).unwrap_or_default(),
        Ok(FileKind::Elf32) => read::<elf::FileHeader32<Endianness>>(data).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A dynamic relocation, as BFD canonicalizes it.
struct Relocation {
    address: u64,
    kind: u32,
    symbol: u32,
    addend: i64,
}

/// One PLT section BFD recognised.
struct Plt<'d> {
    index: usize,
    vma: u64,
    size: u64,
    contents: &'d [u8],
    layout: Layout,
    /// PLT0, skipped.
    lazy: bool,
    /// i386: the entries' displacements are from the GOT, not absolute.
    pic: bool,
}

fn read<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Option<Vec<Synthetic<'_>>> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let e_type = header.e_type(endian);
    let x86_64 = match (header.e_machine(endian), header.is_class_64()) {
        (elf::EM_X86_64, true) => true,
        (elf::EM_386, false) => false,
        _ => return None,
    };
    if !(e_type == elf::ET_EXEC || e_type == elf::ET_DYN) {
        return None;
    }
    let sections = header.sections(endian, data).ok()?;
    let dynsym_index = sections
        .iter()
        .position(|s| s.sh_type(endian) == elf::SHT_DYNSYM)?;
    let dynsyms = sections.symbols(endian, data, elf::SHT_DYNSYM).ok()?;
    if dynsyms.len() <= 1 {
        return None;
    }
    let relocations = dynamic_relocations(&sections, endian, data, dynsym_index);
    if relocations.is_empty() {
        return None;
    }
    let by_name = |name: &[u8]| {
        sections
            .iter()
            .enumerate()
            .find(|(_, s)| sections.section_name(endian, s).ok() == Some(name))
    };
    let names: &[&[u8]] = match x86_64 {
        true => &[b".plt", b".plt.got", b".plt.sec", b".plt.bnd"],
        false => &[b".plt", b".plt.got", b".plt.sec"],
    };
    let mut plts = Vec::new();
    // BFD remembers the non-lazy layout the last section matched, and compares the next
    // sections with it first.
    let mut non_lazy = match x86_64 {
        true => X86_64_NON_LAZY,
        false => I386_NON_LAZY,
    };
    for &name in names {
        let Some((index, section)) = by_name(name) else {
            continue;
        };
        let size: u64 = section.sh_size(endian).into();
        if size == 0 {
            continue;
        }
        let contents = match section.sh_type(endian) {
            elf::SHT_NOBITS => &[][..],
            _ => section.data(endian, data).ok()?,
        };
        let kind = match x86_64 {
            true => x86_64_layout(contents, size, name == b".plt", &mut non_lazy),
            false => i386_layout(contents, size, name == b".plt", &mut non_lazy),
        };
        let Some(kind) = kind else {
            continue;
        };
        plts.push(Plt {
            index,
            vma: section.sh_addr(endian).into(),
            size,
            contents,
            layout: kind.layout,
            lazy: kind.lazy,
            pic: kind.pic,
        });
        // A lazy PLT whose jumps are in the second PLT adds no entries.
        if kind.second && kind.lazy {
            plts.pop();
        }
    }
    // i386 PIC entries count from the GOT: `.got.plt`, else `.got`.
    let got = match plts.iter().any(|p| p.pic) {
        false => 0,
        true => {
            let (_, got) = by_name(b".got.plt").or_else(|| by_name(b".got"))?;
            got.sh_addr(endian).into()
        }
    };
    let letters = super::section_letters(&sections, endian, header, data).ok()?;
    let mut out = Vec::new();
    for plt in &plts {
        let count = plt.size / plt.layout.entry_size;
        for k in u64::from(plt.lazy)..count {
            let offset = k * plt.layout.entry_size;
            let at = (offset + plt.layout.got_offset) as usize;
            // Past the section's bytes, BFD reads zeros (a section without contents).
            let displacement = plt
                .contents
                .get(at..at + 4)
                .map_or(0, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                as i64 as u64;
            let slot = match x86_64 {
                true => plt
                    .vma
                    .wrapping_add(offset)
                    .wrapping_add(displacement)
                    .wrapping_add(plt.layout.got_insn_size),
                false => got.wrapping_add(displacement),
            };
            let Some(r) = find_relocation(&relocations, slot) else {
                continue;
            };
            let valid = match x86_64 {
                true => [R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT, R_X86_64_IRELATIVE],
                false => [R_386_JUMP_SLOT, R_386_GLOB_DAT, R_386_IRELATIVE],
            };
            if !valid.contains(&r.kind) {
                continue;
            }
            let (mut name, binding, kind) = match r.symbol {
                0 => (b"*ABS*".to_vec(), STB_GLOBAL, elf::STT_NOTYPE.0),
                s => {
                    let Ok(sym) = dynsyms.symbol(object::SymbolIndex(s as usize)) else {
                        continue;
                    };
                    let name = dynsyms.symbol_name(endian, sym).unwrap_or_default();
                    let binding = match sym.st_bind().0 {
                        b @ (STB_LOCAL | STB_WEAK | STB_GNU_UNIQUE) => b,
                        _ => STB_GLOBAL,
                    };
                    (name.to_vec(), binding, sym.st_type().0)
                }
            };
            if r.addend != 0 {
                let addend = match x86_64 {
                    true => r.addend as u64,
                    false => u64::from(r.addend as u32),
                };
                name.extend_from_slice(format!("+0x{addend:x}").as_bytes());
            }
            name.extend_from_slice(b"@plt");
            out.push(Synthetic {
                name,
                value: plt.vma.wrapping_add(offset),
                binding,
                kind,
                shndx: plt.index as u32,
                section_letter: letters
                    .get(plt.index)
                    .copied()
                    .flatten()
                    .map_or(b't', |(letter, _)| letter),
                section: name_of(&sections, endian, plt.index),
                section_end: plt.vma.wrapping_add(plt.size),
            });
        }
    }
    Some(out)
}

const R_X86_64_GLOB_DAT: u32 = elf::R_X86_64_GLOB_DAT.0;
const R_X86_64_JUMP_SLOT: u32 = elf::R_X86_64_JUMP_SLOT.0;
const R_X86_64_IRELATIVE: u32 = elf::R_X86_64_IRELATIVE.0;
const R_386_GLOB_DAT: u32 = elf::R_386_GLOB_DAT.0;
const R_386_JUMP_SLOT: u32 = elf::R_386_JMP_SLOT.0;
const R_386_IRELATIVE: u32 = elf::R_386_IRELATIVE.0;

fn name_of<'d, Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'d, Elf>,
    endian: Endianness,
    index: usize,
) -> &'d [u8] {
    sections
        .section(object::SectionIndex(index))
        .and_then(|s| sections.section_name(endian, s))
        .unwrap_or_default()
}

/// What BFD made of a PLT section: its layout; whether it is lazy (PLT0 first), a second
/// PLT's lazy half (no entries of its own) and position-independent (i386).
#[derive(Clone, Copy)]
struct Kind {
    layout: Layout,
    lazy: bool,
    second: bool,
    pic: bool,
}

/// A non-lazy entry's first bytes (as far as BFD compares them), its PIC form's, and layout.
type NonLazy = (&'static [u8], &'static [u8], Layout);

const X86_64_NON_LAZY: NonLazy = (&NON_LAZY_ENTRY, &NON_LAZY_ENTRY, NON_LAZY);

/// `elf_x86_64_get_synthetic_symtab`'s matching: lazy (only `.plt`), then non-lazy, then BND
/// or IBT second PLTs; `None` for a layout BFD does not know.
fn x86_64_layout(
    contents: &[u8],
    size: u64,
    maybe_lazy: bool,
    non_lazy: &mut NonLazy,
) -> Option<Kind> {
    let starts = |bytes: &[u8]| contents.starts_with(bytes);
    let kind = |layout, lazy, second| Kind {
        layout,
        lazy,
        second,
        pic: false,
    };
    if maybe_lazy && size >= 2 * LAZY.entry_size {
        if starts(&LAZY_PLT0[..2]) && contents.get(6..8) == Some(&LAZY_PLT0[6..8]) {
            let entry1 = contents.get(16..).unwrap_or_default();
            return Some(kind(LAZY, true, entry1.starts_with(&LAZY_IBT_ENTRY)));
        }
        if starts(&LAZY_BND_PLT0[..2]) && contents.get(6..9) == Some(&LAZY_BND_PLT0[6..9]) {
            return Some(kind(LAZY, true, true));
        }
    }
    if size >= non_lazy.2.entry_size && starts(non_lazy.0) {
        return Some(kind(non_lazy.2, false, false));
    }
    for (entry, layout) in [
        (&NON_LAZY_BND_ENTRY[..], NON_LAZY_BND),
        (&NON_LAZY_IBT_ENTRY[..], NON_LAZY_IBT),
    ] {
        if size >= layout.entry_size && starts(entry) {
            *non_lazy = (entry, entry, layout);
            return Some(kind(layout, false, true));
        }
    }
    None
}

const I386_NON_LAZY: NonLazy = (&[0xff, 0x25], &[0xff, 0xa3], NON_LAZY);
/// i386 IBT: `endbr32` first.
const I386_LAZY_IBT_ENTRY: [u8; 5] = [0xf3, 0x0f, 0x1e, 0xfb, 0x68];
const I386_NON_LAZY_IBT: NonLazy = (
    &[0xf3, 0x0f, 0x1e, 0xfb, 0xff, 0x25],
    &[0xf3, 0x0f, 0x1e, 0xfb, 0xff, 0xa3],
    NON_LAZY_IBT,
);

/// `elf_i386_get_synthetic_symtab`'s matching: lazy (only `.plt`; `pushl GOT+4` or, PIC,
/// `pushl 4(%ebx)` first), then non-lazy, then IBT.
fn i386_layout(
    contents: &[u8],
    size: u64,
    maybe_lazy: bool,
    non_lazy: &mut NonLazy,
) -> Option<Kind> {
    let starts = |bytes: &[u8]| contents.starts_with(bytes);
    let ibt_entry1 = || {
        contents
            .get(16..)
            .unwrap_or_default()
            .starts_with(&I386_LAZY_IBT_ENTRY)
    };
    if maybe_lazy && size >= 2 * LAZY.entry_size {
        for (plt0, pic) in [([0xff, 0x35], false), ([0xff, 0xb3], true)] {
            if starts(&plt0) {
                return Some(Kind {
                    layout: LAZY,
                    lazy: true,
                    second: ibt_entry1(),
                    pic,
                });
            }
        }
    }
    let kind = |layout, second, pic| Kind {
        layout,
        lazy: false,
        second,
        pic,
    };
    if size >= non_lazy.2.entry_size {
        if starts(non_lazy.0) {
            return Some(kind(non_lazy.2, false, false));
        }
        if starts(non_lazy.1) {
            return Some(kind(non_lazy.2, false, true));
        }
    }
    let ibt = I386_NON_LAZY_IBT;
    if size >= ibt.2.entry_size {
        for (entry, pic) in [(ibt.0, false), (ibt.1, true)] {
            if starts(entry) {
                *non_lazy = ibt;
                return Some(kind(ibt.2, true, pic));
            }
        }
    }
    None
}

/// The relocation at `address` among relocations sorted by address.
fn find_relocation(relocations: &[Relocation], address: u64) -> Option<&Relocation> {
    let at = relocations.partition_point(|r| r.address < address);
    relocations.get(at).filter(|r| r.address == address)
}

/// Every relocation of the sections that relocate against the dynamic symbol table, sorted
/// by address (BFD's `bfd_canonicalize_dynamic_reloc`, then its sort).
fn dynamic_relocations<Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'_, Elf>,
    endian: Endianness,
    data: &[u8],
    dynsym: usize,
) -> Vec<Relocation> {
    let mut out = Vec::new();
    for s in sections.iter() {
        if s.sh_link(endian) as usize != dynsym {
            continue;
        }
        if let Ok(Some((rela, _))) = s.rela(endian, data) {
            out.extend(rela.iter().map(|r| Relocation {
                address: r.r_offset(endian).into(),
                kind: r.r_type(endian, false).0,
                symbol: r.r_sym(endian, false),
                addend: r.r_addend(endian).into(),
            }));
        } else if let Ok(Some((rel, _))) = s.rel(endian, data) {
            out.extend(rel.iter().map(|r| Relocation {
                address: r.r_offset(endian).into(),
                kind: r.r_type(endian).0,
                symbol: r.r_sym(endian),
                addend: 0,
            }));
        }
    }
    out.sort_by_key(|r| r.address);
    out
}
