//! The live image of a running process: which ELF files it has mapped and where, and the
//! functions and data their symbol tables define there.
//!
//! Each file is read from `/proc/PID/map_files/…` (the very file mapped, even if it was
//! replaced or deleted on disk) through polylink-inspect (a regular file, mapped; its symbol
//! tables), and its load bias worked out from its first mapping as the patcher of hosts does.
//! The executable's `.symtab` is read when it has one, and `.dynsym` always; shared objects'
//! `.dynsym` only (their exported symbols).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::ElfFile64;
use object::{Endianness, Object};
use polylink_inspect::symbols::{self, Place, Table};

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
        let maps = read_maps(pid)?;
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
        find_syscall(mem, self.files.iter().flat_map(|f| f.code.iter().cloned()))
    }
}

/// The address of a `syscall` instruction (`0f 05`) in `code`, read from the process's memory.
pub fn find_syscall(
    mem: &std::fs::File,
    code: impl Iterator<Item = std::ops::Range<u64>>,
) -> Option<u64> {
    find_in_code(mem, code, 2, |w| w == [0x0f, 0x05])
}

/// The lines of `/proc/PID/maps`.
pub fn read_maps(pid: u32) -> Result<Vec<Mapping>, LiveError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|cause| LiveError::from_proc(pid, "read its memory map", cause))?;
    Ok(text.lines().filter_map(Mapping::parse).collect())
}

/// The address of the first `width` bytes in `code`, read from the process's memory, that
/// `wanted` accepts.
pub fn find_in_code(
    mem: &std::fs::File,
    code: impl Iterator<Item = std::ops::Range<u64>>,
    width: usize,
    wanted: impl Fn(&[u8]) -> bool,
) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut chunk = vec![0u8; 1 << 16];
    for range in code {
        let mut at = range.start;
        while at < range.end {
            let len = ((range.end - at) as usize).min(chunk.len());
            if mem.read_exact_at(&mut chunk[..len], at).is_err() {
                break;
            }
            if let Some(i) = chunk[..len].windows(width).position(&wanted) {
                return Some(at + i as u64);
            }
            // The next chunk starts a little back, for an instruction across the seam.
            at += (len as u64).saturating_sub(width as u64 - 1).max(1);
        }
    }
    None
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
        // polylink-inspect's door for files: regular ones only, mapped, not read.
        let input = symbols::load(&source).map_err(|fault| LiveError::Proc {
            pid,
            what: format!("read {path}"),
            cause: std::io::Error::other(fault.to_string()),
        })?;
        let inode = std::fs::metadata(&source).map(|m| m.ino());
        if inode.is_ok_and(|inode| inode != first.inode) {
            return Err(LiveError::FileChanged {
                path: path.to_owned(),
            });
        }
        let data = input.data();
        let Ok(file) = ElfFile64::<Endianness>::parse(data) else {
            return Ok(None);
        };
        let Some(bias) = crate::patch::load_bias(&file, first) else {
            return Ok(None);
        };
        let mut symbols = Vec::new();
        if executable {
            defined(data, Table::Static, bias, &mut symbols);
        }
        defined(data, Table::Dynamic, bias, &mut symbols);
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

/// Appends the functions and data that symbol table `table` defines (as polylink-inspect
/// reads it), at their addresses in the process. A dynamic symbol of a hidden version
/// (`name@V`, not the default `name@@V`) is marked, for a lookup by bare name skips it.
fn defined(data: &[u8], table: Table, bias: u64, out: &mut Vec<Defined>) {
    let Ok(Some(read)) = symbols::read_elf(data, table) else {
        return;
    };
    for s in read {
        let function = s.kind == elf::STT_FUNC.0 || s.kind == elf::STT_GNU_IFUNC.0;
        if !matches!(s.place, Place::Section(_)) || !(function || s.kind == elf::STT_OBJECT.0) {
            continue;
        }
        let Ok(name) = std::str::from_utf8(s.name) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        out.push(Defined {
            name: name.to_owned(),
            address: s.value.wrapping_add(bias),
            size: s.size,
            function,
            global: s.is_external(),
            from_symtab: table == Table::Static,
            hidden_version: s.version.is_some_and(|(_, hidden)| hidden),
        });
    }
}

/// A name one edit from `wanted` among `names`, lld's way (`polylink_inspect::names::one_edit`).
pub(crate) fn suggest<'n>(
    wanted: &str,
    mut names: impl Iterator<Item = &'n str>,
) -> Option<String> {
    names
        .find(|name| polylink_inspect::names::one_edit(wanted, name))
        .map(str::to_owned)
}

/// Finds `which` (`NAME` or `FILE:NAME`) in the image: the one function it names.
pub fn find_function<'i>(
    image: &'i Image,
    which: &str,
    at_entry: bool,
) -> Result<(&'i Loaded, &'i Defined), LiveError> {
    let pid = image.pid;
    let (file, name) = match which.rsplit_once(':') {
        Some((file, name)) if !file.is_empty() => {
            let loaded = image.file(file).ok_or_else(|| LiveError::NoFile {
                pid,
                file: file.to_owned(),
                known: image
                    .files
                    .iter()
                    .map(|f| {
                        Path::new(&f.path)
                            .file_name()
                            .map_or(f.path.clone(), |n| n.to_string_lossy().into_owned())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            (Some(loaded), name)
        }
        _ => (None, which),
    };
    let found = image.definitions(name, file);
    match found.as_slice() {
        [] => Err(LiveError::NoFunction {
            pid,
            name: which.to_owned(),
            suggestion: suggest(name, image.names()),
        }),
        [(loaded, defined)] => {
            if !defined.function {
                return Err(LiveError::NotFunction {
                    name: which.to_owned(),
                    file: loaded.path.clone(),
                    address: defined.address,
                });
            }
            if at_entry && defined.size != 0 && defined.size < 5 {
                return Err(LiveError::TooShort {
                    name: which.to_owned(),
                    file: loaded.path.clone(),
                    address: defined.address,
                    size: defined.size,
                });
            }
            Ok((loaded, defined))
        }
        several => Err(LiveError::Ambiguous {
            pid,
            name: name.to_owned(),
            found: several
                .iter()
                .map(|(l, d)| {
                    format!(
                        "  {} at {:#x} in {} ({}{})",
                        d.name,
                        d.address,
                        l.path,
                        if d.global { "global" } else { "local" },
                        if d.from_symtab {
                            ", .symtab"
                        } else {
                            ", .dynsym"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_one_edit_away() {
        let names = ["scale", "compute", "printf"];
        assert_eq!(suggest("scal", names.into_iter()).as_deref(), Some("scale"));
        assert_eq!(
            suggest("Compute", names.into_iter()).as_deref(),
            Some("compute")
        );
        assert_eq!(suggest("xyz", names.into_iter()), None);
    }
}
