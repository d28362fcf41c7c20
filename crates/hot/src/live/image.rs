//! The live image of a running process: which ELF files it has mapped and where, and the
//! functions and data their symbol tables define there.
//!
//! Each file is read from `/proc/PID/map_files/…` (the very file mapped, even if it was
//! replaced or deleted on disk), checked to be a regular file, and its load bias worked out from
//! its first mapping as a debugger does. The executable's `.symtab` is read when it has one, and
//! `.dynsym` always; shared objects' `.dynsym` only (their exported symbols).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{ElfFile64, FileHeader as _, Sym as _};
use object::{Endianness, Object, ObjectSegment};

use super::LiveError;
use crate::patch::Mapping;

/// One file mapped into the process.
#[derive(Debug)]
pub struct Loaded {
    /// Its path, as the process maps it.
    pub path: String,
    /// What is added to its link-time addresses: its load slide.
    pub bias: u64,
    /// Whether it is the process's executable.
    pub executable: bool,
    /// Its symbols that define something (functions, data), by name.
    pub symbols: Vec<Defined>,
    /// Its executable mappings.
    pub code: Vec<std::ops::Range<u64>>,
    /// Its GOT cells that the dynamic linker fills with a symbol's address (R_X86_64_JUMP_SLOT
    /// in `.got.plt`, R_X86_64_GLOB_DAT in `.got`): the symbol's name and the cell's address.
    pub got_cells: Vec<(String, u64)>,
}

/// A symbol that defines something in the live image.
#[derive(Clone, Debug)]
pub struct Defined {
    pub name: String,
    /// Its address in the process.
    pub address: u64,
    pub size: u64,
    pub function: bool,
    /// Global or weak (not local to its file).
    pub global: bool,
    /// From `.symtab` (not `.dynsym`).
    pub from_symtab: bool,
    /// A version that is not the default (`name@VERSION`), which a lookup by name skips.
    pub hidden_version: bool,
}

/// The files a process has mapped, executable first, then in the order of their mappings.
#[derive(Debug)]
pub struct Image {
    pub pid: u32,
    pub files: Vec<Loaded>,
    pub maps: Vec<Mapping>,
}

impl Image {
    /// Reads `/proc/PID/maps` and every ELF file mapped.
    pub fn read(pid: u32) -> Result<Image, LiveError> {
        let maps_path = format!("/proc/{pid}/maps");
        let maps_text = std::fs::read_to_string(&maps_path)
            .map_err(|cause| LiveError::from_proc(pid, "read its memory map", cause))?;
        let maps: Vec<Mapping> = maps_text.lines().filter_map(Mapping::parse).collect();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map_err(|cause| LiveError::from_proc(pid, "read its executable's name", cause))?;
        let exe = exe
            .to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_owned();
        let mut by_path: BTreeMap<&str, Vec<&Mapping>> = BTreeMap::new();
        let mut order = Vec::new();
        for m in &maps {
            if m.path.starts_with('/') && m.inode != 0 {
                if !by_path.contains_key(m.path.as_str()) {
                    order.push(m.path.as_str());
                }
                by_path.entry(&m.path).or_default().push(m);
            }
        }
        let mut files = Vec::new();
        for path in order {
            let mappings = &by_path[path];
            let executable = path.trim_end_matches(" (deleted)") == exe;
            match Loaded::read(pid, path, mappings, executable) {
                Ok(Some(loaded)) => files.push(loaded),
                Ok(None) => {}
                Err(e) if executable => return Err(e),
                // A shared object that cannot be read lends no symbols.
                Err(_) => {}
            }
        }
        files.sort_by_key(|f| !f.executable);
        Ok(Image { pid, files, maps })
    }

    /// The file named `which`: by its path, or by its file name (`libc.so.6`).
    pub fn file(&self, which: &str) -> Option<&Loaded> {
        self.files.iter().find(|f| f.path == which).or_else(|| {
            self.files
                .iter()
                .find(|f| Path::new(&f.path).file_name().is_some_and(|n| n == which))
        })
    }

    /// Every definition of `name` (by default version), in the files searched: all, or the one
    /// named.
    pub fn definitions<'i>(
        &'i self,
        name: &str,
        file: Option<&'i Loaded>,
    ) -> Vec<(&'i Loaded, &'i Defined)> {
        let mut found = Vec::new();
        for loaded in self
            .files
            .iter()
            .filter(|f| file.is_none_or(|only| std::ptr::eq(*f, only)))
        {
            // One file lists a symbol in both tables: .symtab's entry stands for both.
            let mut seen = Vec::new();
            for d in loaded
                .symbols
                .iter()
                .filter(|d| d.name == name && !d.hidden_version)
            {
                if seen.contains(&d.address) {
                    continue;
                }
                seen.push(d.address);
                found.push((loaded, d));
            }
        }
        found
    }

    /// What a symbol the patch needs resolves to, as the dynamic linker's global scope would
    /// have it: the executable first (its local symbols too, when only one has the name), then
    /// each shared object's exported definitions, in load order.
    pub fn resolve(&self, name: &str) -> Option<(&Loaded, &Defined)> {
        for loaded in &self.files {
            let defs: Vec<&Defined> = loaded
                .symbols
                .iter()
                .filter(|d| d.name == name && !d.hidden_version)
                .collect();
            if let Some(global) = defs.iter().find(|d| d.global) {
                return Some((loaded, global));
            }
            if loaded.executable && defs.len() == 1 {
                return Some((loaded, defs[0]));
            }
        }
        None
    }

    /// Every name the image defines, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .flat_map(|f| f.symbols.iter().map(|d| d.name.as_str()))
    }

    /// The address of a `syscall` instruction in the process's code, read from its memory.
    pub fn syscall_instruction(&self, mem: &std::fs::File) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        for range in self.files.iter().flat_map(|f| f.code.iter()) {
            let mut at = range.start;
            let mut chunk = vec![0u8; 1 << 16];
            while at < range.end {
                let len = ((range.end - at) as usize).min(chunk.len());
                if mem.read_exact_at(&mut chunk[..len], at).is_err() {
                    break;
                }
                if let Some(i) = chunk[..len].windows(2).position(|w| w == [0x0f, 0x05]) {
                    return Some(at + i as u64);
                }
                // The next chunk starts one byte back, for an instruction across the seam.
                at += (len as u64 - 1).max(1);
            }
        }
        None
    }
}

impl Loaded {
    /// Reads one mapped file: `None` when it is no ELF file (a locale archive, a font).
    fn read(
        pid: u32,
        path: &str,
        mappings: &[&Mapping],
        executable: bool,
    ) -> Result<Option<Loaded>, LiveError> {
        let first = mappings[0];
        // /proc/PID/map_files/START-END is the file mapped there, whatever its path now holds.
        let through = PathBuf::from(format!(
            "/proc/{pid}/map_files/{:x}-{:x}",
            first.range.start, first.range.end
        ));
        let source = if through.exists() {
            through
        } else {
            PathBuf::from(path)
        };
        let meta = std::fs::metadata(&source)
            .map_err(|cause| LiveError::from_proc(pid, &format!("read {path}"), cause))?;
        if !meta.is_file() {
            return Ok(None);
        }
        if meta.ino() != first.inode {
            return Err(LiveError::FileChanged {
                path: path.to_owned(),
            });
        }
        let file = std::fs::File::open(&source)
            .map_err(|cause| LiveError::from_proc(pid, &format!("read {path}"), cause))?;
        // SAFETY: the mapping is only read, and only while this function runs. The file is
        // one a running process maps; were it rewritten meanwhile, we would read wrong
        // numbers, which every use below bounds-checks (object's parsers), not undefined
        // memory: the pages stay mapped.
        let data = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|cause| LiveError::from_proc(pid, &format!("map {path}"), cause))?;
        let Ok(file) = ElfFile64::<Endianness>::parse(&*data) else {
            return Ok(None);
        };
        let page = rustix::param::page_size() as u64;
        let Some(bias) = file
            .segments()
            .find(|s| s.file_range().0 & !(page - 1) == first.offset)
            .map(|s| first.range.start.wrapping_sub(s.address() & !(page - 1)))
        else {
            return Ok(None);
        };
        let mut symbols = Vec::new();
        if executable {
            read_table(&file, &data, elf::SHT_SYMTAB, bias, &mut symbols);
        }
        read_table(&file, &data, elf::SHT_DYNSYM, bias, &mut symbols);
        let mut got_cells = Vec::new();
        if let (Some(relocations), Some(dynamic)) =
            (file.dynamic_relocations(), file.dynamic_symbol_table())
        {
            use object::{ObjectSymbol as _, ObjectSymbolTable as _};
            for (offset, relocation) in relocations {
                let object::RelocationFlags::Elf { r_type } = relocation.flags() else {
                    continue;
                };
                let object::RelocationTarget::Symbol(index) = relocation.target() else {
                    continue;
                };
                if !matches!(r_type, elf::R_X86_64_JUMP_SLOT | elf::R_X86_64_GLOB_DAT) {
                    continue;
                }
                if let Ok(symbol) = dynamic.symbol_by_index(index)
                    && let Ok(name) = symbol.name()
                {
                    got_cells.push((name.to_owned(), offset.wrapping_add(bias)));
                }
            }
        }
        let code = mappings
            .iter()
            .filter(|m| m.perms.contains('x'))
            .map(|m| m.range.clone())
            .collect();
        Ok(Some(Loaded {
            path: path.to_owned(),
            bias,
            executable,
            symbols,
            code,
            got_cells,
        }))
    }
}

/// Appends the functions and data that the symbol table of type `sh_type` defines, at their
/// addresses in the process. A dynamic symbol of a hidden version (`name@V`, not the default
/// `name@@V`) is marked, for a lookup by bare name skips it.
fn read_table(
    file: &ElfFile64<'_, Endianness>,
    data: &[u8],
    sh_type: elf::SectionType,
    bias: u64,
    out: &mut Vec<Defined>,
) {
    let endian = file.endian();
    let Ok(sections) = file.elf_header().sections(endian, data) else {
        return;
    };
    let Ok(table) = sections.symbols(endian, data, sh_type) else {
        return;
    };
    let versions = match sh_type {
        elf::SHT_DYNSYM => sections.versions(endian, data).ok().flatten(),
        _ => None,
    };
    for (index, sym) in table.enumerate() {
        let kind = sym.st_type();
        let function = matches!(kind, elf::STT_FUNC | elf::STT_GNU_IFUNC);
        if sym.st_shndx(endian) == elf::SHN_UNDEF || !(function || kind == elf::STT_OBJECT) {
            continue;
        }
        let Ok(name) = table.symbol_name(endian, sym) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        out.push(Defined {
            name: name.to_owned(),
            address: sym.st_value(endian).wrapping_add(bias),
            size: sym.st_size(endian),
            function,
            global: matches!(
                sym.st_bind(),
                elf::STB_GLOBAL | elf::STB_WEAK | elf::STB_GNU_UNIQUE
            ),
            from_symtab: sh_type == elf::SHT_SYMTAB,
            hidden_version: versions
                .as_ref()
                .is_some_and(|v| v.version_index(endian, index).is_hidden()),
        });
    }
}
