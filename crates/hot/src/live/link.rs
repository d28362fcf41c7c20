//! Linking a patch object against a live image: what a static linker does, done for one
//! relocatable object and a process that is already running.
//!
//! - The object's allocated sections are laid out in two blocks: code, its stubs and thunk,
//!   read-only data and a GOT in one block mapped read+execute; data and bss in another mapped
//!   read+write. Never one block both.
//! - Each relocation is resolved against the patch's own sections and the live image
//!   ([`Image::resolve`]): R_X86_64_64, PC64, PC32, PLT32, 32, 32S (where the value fits),
//!   GOTPCREL, GOTPCRELX and REX_GOTPCRELX (a GOT entry built in the code block, holding the
//!   symbol's address). A call (PLT32, or PC32 to a function) whose target is out of rel32's
//!   reach goes through a stub, `jmp [rip+cell]`, as a PLT entry does.
//! - Anything else (the TLS relocations among them) is refused by name, with the symbol.

use std::collections::BTreeMap;
use std::ops::Range;

use object::elf;
use object::read::elf::ElfFile64;
use object::{
    Endianness, Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget,
    SectionIndex, SectionKind, SymbolIndex, SymbolSection,
};

use super::LiveError;
use super::image::Image;

/// A patch object, parsed and checked to be an x86-64 ELF64 relocatable object.
pub struct PatchObject<'d> {
    file: ElfFile64<'d, Endianness>,
    path: String,
}

/// One relocation as resolved, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// The relocation's type, `R_X86_64_PLT32`.
    pub kind: String,
    pub symbol: String,
    /// Where the symbol is in the process.
    pub address: u64,
    /// Where it was found: the patch itself, or a file of the process.
    pub from: String,
    /// Through what: directly, a GOT entry, or a stub.
    pub via: String,
}

/// Where a section goes: which block, and at what offset in it.
#[derive(Clone, Copy, Debug)]
enum Place {
    Code(usize),
    Data(usize),
}

/// The patch laid out, its sizes known before any address is.
pub struct Plan {
    code_len: usize,
    data_len: usize,
    /// Each allocated section's place.
    places: BTreeMap<usize, Place>,
    /// Offsets in the code block of the GOT entries and stubs, by symbol.
    got: BTreeMap<usize, usize>,
    stubs: BTreeMap<usize, (usize, usize)>,
    /// Where the thunk goes in the code block, and its length (0: none).
    pub thunk: Range<usize>,
    /// Common symbols, given room in bss: offsets in the data block.
    commons: BTreeMap<usize, usize>,
}

/// The patch linked at its addresses: the bytes of both blocks, and what the report shows.
pub struct Linked {
    pub code: Vec<u8>,
    pub data: Vec<u8>,
    /// The patch's entry, its definition of the function (or of `--entry`).
    pub entry: u64,
    /// Ranges of the code block to check as whole functions, named.
    pub functions: Vec<(Range<usize>, String)>,
    pub resolved: Vec<Resolved>,
}

/// The largest block a patch may need (code, or data): 1 GiB.
const MAX_BLOCK: usize = 1 << 30;

/// The relocations resolved.
const SUPPORTED: [elf::RelocationType; 9] = [
    elf::R_X86_64_64,
    elf::R_X86_64_PC64,
    elf::R_X86_64_PC32,
    elf::R_X86_64_PLT32,
    elf::R_X86_64_32,
    elf::R_X86_64_32S,
    elf::R_X86_64_GOTPCREL,
    elf::R_X86_64_GOTPCRELX,
    elf::R_X86_64_REX_GOTPCRELX,
];

/// The bytes of a stub: `jmp qword [rip+disp32]`, padded to 8 bytes, then its 8-byte cell.
const STUB_LEN: usize = 16;

impl<'d> PatchObject<'d> {
    pub fn parse(path: &str, data: &'d [u8]) -> Result<PatchObject<'d>, LiveError> {
        let not = |why: String| LiveError::NotRelocatable {
            path: path.to_owned(),
            why,
        };
        let file = match object::FileKind::parse(data) {
            Ok(object::FileKind::Elf64) => ElfFile64::<Endianness>::parse(data)
                .map_err(|e| not(format!("it is not an ELF file object can read: {e}")))?,
            Ok(kind) => return Err(not(format!("it is {kind:?}, not a 64-bit ELF object"))),
            Err(_) => return Err(not("it is not an ELF file".into())),
        };
        let header = file.elf_header();
        let endian = file.endian();
        use object::read::elf::FileHeader as _;
        if header.e_machine(endian) != elf::EM_X86_64 {
            return Err(not(format!(
                "it is for machine {}, not x86-64",
                header.e_machine(endian)
            )));
        }
        if header.e_type(endian) != elf::ET_REL {
            let what = match header.e_type(endian) {
                elf::ET_EXEC => "an executable",
                elf::ET_DYN => "a shared object or PIE",
                _ => "not a relocatable object",
            };
            return Err(not(format!(
                "it is {what}; give the object the compiler wrote (gcc -c, rustc --emit obj, \
                 nasm -f elf64)"
            )));
        }
        for section in file.sections() {
            let name = section.name().unwrap_or("");
            if matches!(name, ".init_array" | ".fini_array" | ".ctors" | ".dtors")
                || name.starts_with(".init_array.")
                || name.starts_with(".tdata")
                || name.starts_with(".tbss")
            {
                return Err(not(format!(
                    "it has a {name} section: constructors, destructors and thread-local data \
                     are not supported in a live patch"
                )));
            }
        }
        Ok(PatchObject {
            file,
            path: path.to_owned(),
        })
    }

    /// Whether a section is laid out: allocated code and data, not notes or unwind tables.
    fn laid_out(section: &object::read::elf::ElfSection64<'d, '_, Endianness>) -> bool {
        let name = section.name().unwrap_or("");
        matches!(
            section.kind(),
            SectionKind::Text
                | SectionKind::Data
                | SectionKind::ReadOnlyData
                | SectionKind::ReadOnlyString
                | SectionKind::UninitializedData
        ) && !name.starts_with(".eh_frame")
            && !name.starts_with(".note")
    }

    /// The patch's definition of `name`: its offset in its section, and that section.
    fn definition(&self, name: &str) -> Option<(SectionIndex, u64, u64)> {
        self.file.symbols().find_map(|s| {
            let section = s.section_index()?;
            (s.name() == Ok(name) && s.is_definition()).then_some((section, s.address(), s.size()))
        })
    }

    /// Lays the patch out. `thunk_len` is the room to keep for a thunk at the start.
    pub fn plan(&self, thunk_len: usize, image: &Image) -> Result<Plan, LiveError> {
        let mut plan = Plan {
            code_len: thunk_len,
            data_len: 0,
            places: BTreeMap::new(),
            got: BTreeMap::new(),
            stubs: BTreeMap::new(),
            thunk: 0..thunk_len,
            commons: BTreeMap::new(),
        };
        let align = |at: usize, to: u64| at.next_multiple_of(to.clamp(1, 4096) as usize);
        // Sizes come from headers: each is bounded first, so that their sum cannot overflow,
        // and the sum after.
        let too_large = |what: String, size: u64| LiveError::NotRelocatable {
            path: self.path.clone(),
            why: format!("{what} claims {size} bytes; a patch may hold {MAX_BLOCK} in each block"),
        };
        for section in self.file.sections().filter(Self::laid_out) {
            if section.size() > MAX_BLOCK as u64 {
                let name = section.name().unwrap_or("a section").to_owned();
                return Err(too_large(name, section.size()));
            }
        }
        for symbol in self.file.symbols() {
            if let SymbolSection::Common = symbol.section()
                && symbol.size() > MAX_BLOCK as u64
            {
                let name = symbol.name().unwrap_or("a common symbol").to_owned();
                return Err(too_large(name, symbol.size()));
            }
        }
        // Code first, then read-only data, in the code block; data then bss in the other.
        let mut read_only = Vec::new();
        let mut bss = Vec::new();
        for section in self.file.sections().filter(Self::laid_out) {
            let size = section.size() as usize;
            match section.kind() {
                SectionKind::Text => {
                    plan.code_len = align(plan.code_len, section.align());
                    plan.places
                        .insert(section.index().0, Place::Code(plan.code_len));
                    plan.code_len += size;
                }
                SectionKind::Data => {
                    plan.data_len = align(plan.data_len, section.align());
                    plan.places
                        .insert(section.index().0, Place::Data(plan.data_len));
                    plan.data_len += size;
                }
                SectionKind::UninitializedData => bss.push(section),
                _ => read_only.push(section),
            }
        }
        // A stub for every call to a function outside the patch (used only when out of
        // reach), and a GOT entry for every symbol a GOT relocation names.
        for section in self.file.sections().filter(Self::laid_out) {
            for (_, relocation) in section.relocations() {
                let RelocationTarget::Symbol(index) = relocation.target() else {
                    continue;
                };
                let r_type = elf_type(relocation.flags());
                let symbol = self.file.symbol_by_index(index).ok();
                let external = symbol.as_ref().is_some_and(|s| s.is_undefined());
                match r_type {
                    elf::R_X86_64_PLT32 | elf::R_X86_64_PC32 if external => {
                        let name = symbol.as_ref().and_then(|s| s.name().ok()).unwrap_or("");
                        let function = image.resolve(name).is_some_and(|(_, d)| d.function);
                        if function && !plan.stubs.contains_key(&index.0) {
                            plan.stubs.insert(index.0, (0, 0));
                        }
                    }
                    elf::R_X86_64_GOTPCREL
                    | elf::R_X86_64_GOTPCRELX
                    | elf::R_X86_64_REX_GOTPCRELX => {
                        plan.got.entry(index.0).or_insert(0);
                    }
                    _ => {}
                }
            }
        }
        plan.code_len = align(plan.code_len, 16);
        for stub in plan.stubs.values_mut() {
            *stub = (plan.code_len, plan.code_len + 8);
            plan.code_len += STUB_LEN;
        }
        for section in read_only {
            plan.code_len = align(plan.code_len, section.align());
            plan.places
                .insert(section.index().0, Place::Code(plan.code_len));
            plan.code_len += section.size() as usize;
        }
        plan.code_len = align(plan.code_len, 8);
        for cell in plan.got.values_mut() {
            *cell = plan.code_len;
            plan.code_len += 8;
        }
        for section in bss {
            plan.data_len = align(plan.data_len, section.align());
            plan.places
                .insert(section.index().0, Place::Data(plan.data_len));
            plan.data_len += section.size() as usize;
        }
        for symbol in self.file.symbols() {
            if let SymbolSection::Common = symbol.section() {
                // A common symbol's value is its alignment.
                plan.data_len = align(plan.data_len, symbol.address());
                plan.commons.insert(symbol.index().0, plan.data_len);
                plan.data_len += symbol.size() as usize;
            }
        }
        for (block, len) in [
            ("its code block", plan.code_len),
            ("its data block", plan.data_len),
        ] {
            if len > MAX_BLOCK {
                return Err(too_large(block.to_owned(), len as u64));
            }
        }
        Ok(plan)
    }

    /// Links the patch at `code_base` and `data_base`, with `entry` its entry symbol.
    pub fn link(
        &self,
        plan: &Plan,
        code_base: u64,
        data_base: u64,
        entry: &str,
        image: &Image,
    ) -> Result<Linked, LiveError> {
        let mut linked = Linked {
            code: vec![0; plan.code_len],
            data: vec![0; plan.data_len],
            entry: 0,
            functions: Vec::new(),
            resolved: Vec::new(),
        };
        let address_of_place = |place: Place| match place {
            Place::Code(at) => code_base + at as u64,
            Place::Data(at) => data_base + at as u64,
        };
        for (&index, &place) in &plan.places {
            let section = self
                .file
                .section_by_index(SectionIndex(index))
                .map_err(|e| self.bad(e))?;
            if section.kind() == SectionKind::UninitializedData {
                continue;
            }
            let bytes = section.data().map_err(|e| self.bad(e))?;
            let (block, at) = match place {
                Place::Code(at) => (&mut linked.code, at),
                Place::Data(at) => (&mut linked.data, at),
            };
            block[at..at + bytes.len()].copy_from_slice(bytes);
            if section.kind() == SectionKind::Text {
                // Each function the section defines is checked as a whole.
                let mut starts: Vec<(u64, u64, String)> = self
                    .file
                    .symbols()
                    .filter(|s| s.section_index() == Some(SectionIndex(index)) && s.is_definition())
                    .filter(|s| s.kind() == object::SymbolKind::Text)
                    .map(|s| (s.address(), s.size(), s.name().unwrap_or("?").to_owned()))
                    .collect();
                starts.sort();
                for (i, (start, size, name)) in starts.iter().enumerate() {
                    let end = match (*size, starts.get(i + 1)) {
                        (0, Some((next, ..))) => *next,
                        (0, None) => bytes.len() as u64,
                        (size, _) => start.saturating_add(size),
                    };
                    let end = end.min(bytes.len() as u64);
                    if *start < end {
                        linked.functions.push((
                            at + *start as usize..at + end as usize,
                            format!("{}: {name}", self.path),
                        ));
                    }
                }
            }
        }
        let Some((section, value, _)) = self.definition(entry) else {
            return Err(LiveError::NoEntry {
                path: self.path.clone(),
                entry: entry.to_owned(),
                defined: self.defined_functions(),
            });
        };
        let place = plan.places.get(&section.0).copied();
        match place {
            // The entry must be code of the patch, inside its section, where the check reads.
            Some(Place::Code(at))
                if self
                    .file
                    .section_by_index(section)
                    .is_ok_and(|s| s.kind() == SectionKind::Text && value < s.size()) =>
            {
                linked.entry = (code_base + at as u64).wrapping_add(value);
            }
            _ => {
                return Err(LiveError::NoEntry {
                    path: self.path.clone(),
                    entry: entry.to_owned(),
                    defined: self.defined_functions(),
                });
            }
        }

        // Where every symbol is, resolving the patch's undefined ones against the image.
        let symbol_address =
            |index: SymbolIndex| -> Result<(u64, String, String, bool), LiveError> {
                let symbol = self.file.symbol_by_index(index).map_err(|e| self.bad(e))?;
                let name = symbol.name().unwrap_or("").to_owned();
                if let Some(&at) = plan.commons.get(&index.0) {
                    return Ok((data_base + at as u64, name, "the patch".into(), false));
                }
                if let Some(section) = symbol.section_index() {
                    let place = plan.places.get(&section.0).copied().ok_or_else(|| {
                        LiveError::Unsupported {
                            path: self.path.clone(),
                            relocation: "a reference".into(),
                            symbol: name.clone(),
                            why: "it is in a section the patch does not load".into(),
                        }
                    })?;
                    let shown = match symbol.kind() {
                        object::SymbolKind::Section => self
                            .file
                            .section_by_index(section)
                            .ok()
                            .and_then(|s| s.name().ok().map(str::to_owned))
                            .unwrap_or(name),
                        _ => name,
                    };
                    return Ok((
                        address_of_place(place).wrapping_add(symbol.address()),
                        shown,
                        "the patch".into(),
                        false,
                    ));
                }
                if symbol.is_undefined() {
                    return match image.resolve(&name) {
                        Some((file, defined)) => {
                            Ok((defined.address, name, file.path.clone(), defined.function))
                        }
                        None => Err(LiveError::Undefined {
                            path: self.path.clone(),
                            symbol: name.clone(),
                            suggestion: super::image::suggest(&name, image.names()),
                        }),
                    };
                }
                Ok((symbol.address(), name, "absolute".into(), false))
            };

        for (&index, &place) in &plan.places {
            let section = self
                .file
                .section_by_index(SectionIndex(index))
                .map_err(|e| self.bad(e))?;
            let base = address_of_place(place);
            for (offset, relocation) in section.relocations() {
                let r_type = elf_type(relocation.flags());
                if r_type == elf::R_X86_64_NONE {
                    continue;
                }
                let RelocationTarget::Symbol(target) = relocation.target() else {
                    return Err(self.unsupported(r_type, "", "it names no symbol"));
                };
                if !SUPPORTED.contains(&r_type) {
                    let name = self.file.symbol_by_index(target).ok();
                    let name = name.as_ref().and_then(|s| s.name().ok()).unwrap_or("?");
                    let why = match r_type {
                        elf::R_X86_64_TPOFF32
                        | elf::R_X86_64_TPOFF64
                        | elf::R_X86_64_GOTTPOFF
                        | elf::R_X86_64_TLSGD
                        | elf::R_X86_64_TLSLD
                        | elf::R_X86_64_DTPOFF32
                        | elf::R_X86_64_DTPOFF64
                        | elf::R_X86_64_GOTPC32_TLSDESC
                        | elf::R_X86_64_TLSDESC_CALL => {
                            "thread-local storage cannot be reached from a live patch"
                        }
                        _ => "this patcher does not resolve that relocation",
                    };
                    return Err(self.unsupported(r_type, name, why));
                }
                let (s, name, from, function) = symbol_address(target)?;
                let a = relocation.addend();
                let p = base.wrapping_add(offset);
                let kind = relocation_name(r_type);
                let mut via = "direct";
                let (value, width): (u64, usize) = match r_type {
                    elf::R_X86_64_64 => (s.wrapping_add_signed(a), 8),
                    elf::R_X86_64_PC64 => (s.wrapping_add_signed(a).wrapping_sub(p), 8),
                    elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                        let mut v = s.wrapping_add_signed(a).wrapping_sub(p) as i64;
                        if i32::try_from(v).is_err() {
                            match plan.stubs.get(&target.0) {
                                Some(&(stub, cell)) if function => {
                                    via = "stub";
                                    let stub_at = code_base + stub as u64;
                                    write_stub(&mut linked.code, stub, cell, s);
                                    v = stub_at.wrapping_add_signed(a).wrapping_sub(p) as i64;
                                }
                                _ => {
                                    return Err(self.unsupported(
                                        r_type,
                                        &name,
                                        &format!(
                                            "{name} at {s:#x} is out of a 32-bit displacement's \
                                             reach from {p:#x} (data must be reached through the \
                                             GOT: compile the patch with -fPIC)"
                                        ),
                                    ));
                                }
                            }
                        }
                        (v as u64, 4)
                    }
                    elf::R_X86_64_32 => {
                        let v = s.wrapping_add_signed(a);
                        if u32::try_from(v).is_err() {
                            return Err(self.unsupported(
                                r_type,
                                &name,
                                &format!("its value {v:#x} does not fit 32 bits unsigned (compile the patch with -fPIC, or use `lea reg, [rel sym]`)"),
                            ));
                        }
                        (v, 4)
                    }
                    elf::R_X86_64_32S => {
                        let v = s.wrapping_add_signed(a) as i64;
                        if i32::try_from(v).is_err() {
                            return Err(self.unsupported(
                                r_type,
                                &name,
                                &format!("its value {v:#x} does not fit 32 bits signed (compile the patch with -fPIC, or use `lea reg, [rel sym]`)"),
                            ));
                        }
                        (v as u64, 4)
                    }
                    elf::R_X86_64_GOTPCREL
                    | elf::R_X86_64_GOTPCRELX
                    | elf::R_X86_64_REX_GOTPCRELX => {
                        via = "GOT";
                        let cell = plan.got[&target.0];
                        linked.code[cell..cell + 8].copy_from_slice(&s.to_le_bytes());
                        let g = code_base + cell as u64;
                        let v = g.wrapping_add_signed(a).wrapping_sub(p) as i64;
                        // The GOT is in the patch's own block: always within reach.
                        (v as u64, 4)
                    }
                    _ => unreachable!("checked against SUPPORTED above"),
                };
                let block = match place {
                    Place::Code(_) => &mut linked.code,
                    Place::Data(_) => &mut linked.data,
                };
                let at = match place {
                    Place::Code(at) | Place::Data(at) => usize::try_from(offset)
                        .ok()
                        .and_then(|offset| at.checked_add(offset)),
                };
                let Some(field) = at.and_then(|at| block.get_mut(at..at.checked_add(width)?))
                else {
                    return Err(self.unsupported(
                        r_type,
                        &name,
                        "its offset is outside its section",
                    ));
                };
                field.copy_from_slice(&value.to_le_bytes()[..width]);
                if !linked
                    .resolved
                    .iter()
                    .any(|r| r.symbol == name && r.kind == kind && r.via == via)
                {
                    linked.resolved.push(Resolved {
                        kind: kind.clone(),
                        symbol: name,
                        address: s,
                        from,
                        via: via.to_owned(),
                    });
                }
            }
        }
        for &(stub, _) in plan.stubs.values() {
            if linked.code[stub] == 0xff {
                linked
                    .functions
                    .push((stub..stub + 6, format!("{}: call stub", self.path)));
            } else {
                // An unused stub is left as `int3`s, never reached.
                linked.code[stub..stub + 8].fill(0xcc);
            }
        }
        Ok(linked)
    }

    fn defined_functions(&self) -> Vec<String> {
        self.file
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text && s.is_definition())
            .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(str::to_owned))
            .collect()
    }

    fn bad(&self, e: object::read::Error) -> LiveError {
        LiveError::NotRelocatable {
            path: self.path.clone(),
            why: e.to_string(),
        }
    }

    fn unsupported(&self, r_type: elf::RelocationType, symbol: &str, why: &str) -> LiveError {
        LiveError::Unsupported {
            path: self.path.clone(),
            relocation: relocation_name(r_type),
            symbol: symbol.to_owned(),
            why: why.to_owned(),
        }
    }
}

/// `jmp qword [rip+disp32]` at `stub`, reading the cell at `cell`, which holds `target`.
fn write_stub(code: &mut [u8], stub: usize, cell: usize, target: u64) {
    let disp = (cell as i64 - (stub as i64 + 6)) as i32;
    code[stub..stub + 2].copy_from_slice(&[0xff, 0x25]);
    code[stub + 2..stub + 6].copy_from_slice(&disp.to_le_bytes());
    code[stub + 6..stub + 8].copy_from_slice(&[0xcc, 0xcc]);
    code[cell..cell + 8].copy_from_slice(&target.to_le_bytes());
}

fn elf_type(flags: RelocationFlags) -> elf::RelocationType {
    match flags {
        RelocationFlags::Elf { r_type } => r_type,
        _ => elf::R_X86_64_NONE,
    }
}

/// The name of an x86-64 relocation type.
pub fn relocation_name(r_type: elf::RelocationType) -> String {
    let name = match r_type {
        elf::R_X86_64_NONE => "NONE",
        elf::R_X86_64_64 => "64",
        elf::R_X86_64_PC32 => "PC32",
        elf::R_X86_64_GOT32 => "GOT32",
        elf::R_X86_64_PLT32 => "PLT32",
        elf::R_X86_64_COPY => "COPY",
        elf::R_X86_64_GLOB_DAT => "GLOB_DAT",
        elf::R_X86_64_JUMP_SLOT => "JUMP_SLOT",
        elf::R_X86_64_RELATIVE => "RELATIVE",
        elf::R_X86_64_GOTPCREL => "GOTPCREL",
        elf::R_X86_64_32 => "32",
        elf::R_X86_64_32S => "32S",
        elf::R_X86_64_16 => "16",
        elf::R_X86_64_PC16 => "PC16",
        elf::R_X86_64_8 => "8",
        elf::R_X86_64_PC8 => "PC8",
        elf::R_X86_64_DTPMOD64 => "DTPMOD64",
        elf::R_X86_64_DTPOFF64 => "DTPOFF64",
        elf::R_X86_64_TPOFF64 => "TPOFF64",
        elf::R_X86_64_TLSGD => "TLSGD",
        elf::R_X86_64_TLSLD => "TLSLD",
        elf::R_X86_64_DTPOFF32 => "DTPOFF32",
        elf::R_X86_64_GOTTPOFF => "GOTTPOFF",
        elf::R_X86_64_TPOFF32 => "TPOFF32",
        elf::R_X86_64_PC64 => "PC64",
        elf::R_X86_64_GOTOFF64 => "GOTOFF64",
        elf::R_X86_64_GOTPC32 => "GOTPC32",
        elf::R_X86_64_SIZE32 => "SIZE32",
        elf::R_X86_64_SIZE64 => "SIZE64",
        elf::R_X86_64_GOTPC32_TLSDESC => "GOTPC32_TLSDESC",
        elf::R_X86_64_TLSDESC_CALL => "TLSDESC_CALL",
        elf::R_X86_64_TLSDESC => "TLSDESC",
        elf::R_X86_64_IRELATIVE => "IRELATIVE",
        elf::R_X86_64_GOTPCRELX => "GOTPCRELX",
        elf::R_X86_64_REX_GOTPCRELX => "REX_GOTPCRELX",
        other => return format!("R_X86_64 type {}", other.0),
    };
    format!("R_X86_64_{name}")
}

impl Plan {
    /// The sizes of the two blocks.
    pub fn sizes(&self) -> (usize, usize) {
        (self.code_len, self.data_len)
    }
}
