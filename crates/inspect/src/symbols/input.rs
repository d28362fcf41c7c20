//! Reading inputs: a file named on the command line (a regular file only, mapped), and an
//! archive's members, in GNU, thin and nested thin archives, each read no further than its
//! header says.

use std::path::{Path, PathBuf};

use object::read::archive::ArchiveFile;

use super::Fault;

/// One file named on the command line, mapped into memory.
#[derive(Debug)]
pub struct Input {
    pub path: PathBuf,
    bytes: Bytes,
}

#[derive(Debug)]
enum Bytes {
    Mapped(memmap2::Mmap),
    /// Empty files (which cannot be mapped), and inputs made in memory.
    Owned(Vec<u8>),
}

impl Input {
    /// An input made in memory, for tests that mutate files by the thousand.
    pub fn from_bytes(path: impl Into<PathBuf>, data: Vec<u8>) -> Input {
        Input {
            path: path.into(),
            bytes: Bytes::Owned(data),
        }
    }

    pub fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(map) => map,
            Bytes::Owned(data) => data,
        }
    }
}

/// One member of an archive: its name (for a thin member, the path it is read from) and its
/// bytes, or why they cannot be had.
#[derive(Debug)]
pub struct Unit<'d> {
    pub member: String,
    pub result: Result<&'d [u8], Fault>,
}

/// Maps `path` (reading a large archive into a fresh buffer costs more than listing it).
pub fn load(path: &Path) -> Result<Input, Fault> {
    let (file, len) = open_regular(path)?;
    let bytes = if len == 0 {
        Bytes::Owned(Vec::new())
    } else {
        // SAFETY: the mapping is only read. Like every reader that maps its input (GNU nm
        // included), a file truncated by another process while it is read can raise SIGBUS.
        Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Fault(e.to_string()))?)
    };
    Ok(Input {
        path: path.to_path_buf(),
        bytes,
    })
}

/// An archive's symbol index, as `nm -s` prints it: each symbol with the name of the member
/// that defines it, in the index's order. Empty for an archive without an index.
/// A thin archive's member is named by the path it is read from, as nm names it.
pub fn archive_index(input: &Input) -> Result<Vec<(Vec<u8>, String)>, Fault> {
    let archive = ArchiveFile::parse(input.data())?;
    let dir = input.path.parent().unwrap_or(Path::new(""));
    let Some(symbols) = archive.symbols()? else {
        return Ok(Vec::new());
    };
    let mut thin_names: Option<std::collections::HashMap<u64, String>> = None;
    let mut index = Vec::new();
    for symbol in symbols {
        let symbol = symbol?;
        let name = match archive.is_thin() {
            true => thin_names
                .get_or_insert_with(|| thin_index_names(input.data(), dir))
                .get(&symbol.offset().0)
                .cloned()
                .unwrap_or_default(),
            false => {
                let member = archive.member(symbol.offset())?;
                String::from_utf8_lossy(member.name()).into_owned()
            }
        };
        index.push((symbol.name().to_vec(), name));
    }
    Ok(index)
}

/// The name nm gives each member of a thin archive, by its header's offset: the path it is
/// read from, or for a nested member, the name its own archive gives it.
fn thin_index_names(data: &[u8], dir: &Path) -> std::collections::HashMap<u64, String> {
    thin_headers(data, u64::MAX)
        .into_iter()
        .filter_map(|header| {
            let path = dir.join(header.name.ok()?);
            let name = match header.nested {
                None => path.display().to_string(),
                Some(offset) => nested_member(&path, offset.ok()?).ok()?.0,
            };
            Some((header.offset, name))
        })
        .collect()
}

/// Opens `path` to read if it is a regular file, and returns it with its length. A FIFO would
/// block the open, a device never ends and a directory holds no bytes, so each is refused as
/// GNU nm refuses it, by asking the path before it is opened; the open file is asked again
/// (without blocking), in case the path changed in between.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, u64), Fault> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |e: std::io::Error| Fault(e.to_string());
    let regular = |metadata: &std::fs::Metadata| match () {
        _ if metadata.is_file() => Ok(()),
        _ if metadata.is_dir() => Err(Fault("is a directory".into())),
        _ => Err(Fault("is not an ordinary file".into())),
    };
    regular(&std::fs::metadata(path).map_err(io)?)?;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    regular(&metadata)?;
    Ok((file, metadata.len()))
}

/// At most the `size` bytes a thin archive's header gives for the member at `path`, read from
/// its own file, which must be regular.
fn read_thin_member(path: &Path, size: u64) -> Result<Vec<u8>, Fault> {
    use std::io::Read as _;
    // The file may have changed since the archive was made; like GNU nm, read what it holds
    // now, but never more than the header says.
    let (file, len) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(len.min(size) as usize);
    file.take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| Fault(e.to_string()))?;
    Ok(bytes)
}

/// An archive's members' bytes, or the file itself when it is no archive. Thin archive members
/// are read from their own paths, relative to the archive's directory; their bytes are kept in
/// `thin`, which must outlive the units.
pub fn units<'d>(
    input: &'d Input,
    thin: &'d mut Vec<Vec<u8>>,
) -> Result<Option<Vec<Unit<'d>>>, Fault> {
    if !input.data().starts_with(b"!<arch>\n") && !input.data().starts_with(b"!<thin>\n") {
        return Ok(None);
    }
    let archive = ArchiveFile::parse(input.data())?;
    // object stops quietly at a member whose size runs past the end: find it first, by name.
    let lie = check_member_headers(input.data(), archive.is_thin()).err();
    let end = lie.as_ref().map_or(u64::MAX, |(offset, _, _)| *offset);
    let dir = input.path.parent().unwrap_or(Path::new(""));
    // Where each member's bytes are. Thin members are read into `thin` first, so that the
    // borrows of it below are all shared.
    enum Found<'d> {
        InArchive(&'d [u8]),
        Thin(usize),
        Bad(Fault),
    }
    let mut members = Vec::new();
    if archive.is_thin() {
        for (name, read) in thin_members(input.data(), end, dir) {
            let found = match read {
                Ok(bytes) => {
                    thin.push(bytes);
                    Found::Thin(thin.len() - 1)
                }
                Err(fault) => Found::Bad(fault),
            };
            members.push((name, found));
        }
    }
    for member in archive.members().filter(|_| !archive.is_thin()) {
        match member {
            Ok(member) if member.file_range().0 >= end => break,
            Err(_) if lie.is_some() => break,
            Ok(member) if member.is_thin() => {
                // nm names a thin member by the path it reads, as the archive's path gives its
                // directory.
                let path = dir.join(String::from_utf8_lossy(member.name()).as_ref());
                // Never more than the header says: a member may be a device that never ends.
                let bytes = match read_thin_member(&path, member.file_range().1) {
                    Ok(bytes) => {
                        thin.push(bytes);
                        Found::Thin(thin.len() - 1)
                    }
                    Err(e) => Found::Bad(Fault(format!("could not read {}: {e}", path.display()))),
                };
                members.push((path.display().to_string(), bytes));
            }
            Ok(member) => {
                let name = String::from_utf8_lossy(member.name()).into_owned();
                let bytes = match member.data(input.data()) {
                    Ok(data) => Found::InArchive(data),
                    Err(e) => Found::Bad(e.into()),
                };
                members.push((name, bytes));
            }
            Err(e) => {
                let name = format!("#{} (after the last good member)", members.len() + 1);
                members.push((name, Found::Bad(e.into())));
                break;
            }
        }
    }
    if let Some((_, name, fault)) = lie {
        members.push((name, Found::Bad(fault)));
    }
    let thin: &'d Vec<Vec<u8>> = thin;
    Ok(Some(
        members
            .into_iter()
            .map(|(member, bytes)| Unit {
                member,
                result: match bytes {
                    Found::InArchive(data) => Ok(data),
                    Found::Thin(index) => Ok(&thin[index]),
                    Found::Bad(fault) => Err(fault),
                },
            })
            .collect(),
    ))
}

/// One member header of a thin archive: where it is, the name it gives (the long-name table
/// read), the size it states, and for GNU ar's nested thin archives (`/N:OFFSET`) the offset of
/// the member in the archive so named.
struct ThinHeader {
    offset: u64,
    field: String,
    name: Result<String, Fault>,
    size: u64,
    nested: Option<Result<u64, Fault>>,
}

/// A thin archive's member headers, up to offset `end`.
fn thin_headers(data: &[u8], end: u64) -> Vec<ThinHeader> {
    let mut out = Vec::new();
    let mut long_names: &[u8] = &[];
    let mut at = 8usize;
    while let Some(header) = data.get(at..at + 60).filter(|_| (at as u64) < end) {
        let field = String::from_utf8_lossy(&header[..16]).trim_end().to_owned();
        let Ok(size) = String::from_utf8_lossy(&header[48..58])
            .trim_end()
            .parse::<usize>()
        else {
            break; // check_member_headers names this one
        };
        let offset = at as u64;
        let special = matches!(field.as_str(), "/" | "/SYM64/" | "//");
        if field == "//" {
            long_names = data.get(at + 60..at + 60 + size).unwrap_or_default();
        }
        // A thin member's bytes live in its own file; the index and the names are here.
        let stored = if special { size } else { 0 };
        at += 60 + stored + (stored & 1);
        if special {
            continue;
        }
        let (name, nested) = match field.strip_prefix('/') {
            Some(rest) => {
                let (index, nested) = match rest.split_once(':') {
                    Some((index, nested)) => (index, Some(nested)),
                    None => (rest, None),
                };
                let name = index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| long_names.get(i..))
                    .map(|entry| {
                        let end = entry
                            .iter()
                            .position(|&b| b == b'\n')
                            .unwrap_or(entry.len());
                        let entry = &entry[..end];
                        String::from_utf8_lossy(entry.strip_suffix(b"/").unwrap_or(entry))
                            .into_owned()
                    })
                    .ok_or_else(|| {
                        Fault(format!(
                            "the long name {field} is not in the archive's name table"
                        ))
                    });
                let nested = nested.map(|n| {
                    n.parse::<u64>()
                        .map_err(|_| Fault(format!("the member name {field} has no offset")))
                });
                (name, nested)
            }
            None => (Ok(field.trim_end_matches('/').to_owned()), None),
        };
        out.push(ThinHeader {
            offset,
            field,
            name,
            size: size as u64,
            nested,
        });
    }
    out
}

/// A thin archive's members, each named by the path it is read from (the archive's directory
/// joined to its header's name) and read no further than its header says; a nested member is
/// named as its own archive names it, as nm shows it.
fn thin_members(data: &[u8], end: u64, dir: &Path) -> Vec<(String, Result<Vec<u8>, Fault>)> {
    thin_headers(data, end)
        .into_iter()
        .map(|header| {
            let name = match header.name {
                Ok(name) => name,
                Err(fault) => {
                    return (
                        format!("{} (at offset {})", header.field, header.offset),
                        Err(fault),
                    );
                }
            };
            let path = dir.join(&name);
            let shown = path.display().to_string();
            match header.nested {
                None => {
                    let read = read_thin_member(&path, header.size)
                        .map_err(|e| Fault(format!("could not read {shown}: {e}")));
                    (shown, read)
                }
                Some(Ok(offset)) => match nested_member(&path, offset) {
                    Ok((inner, bytes)) => (inner, Ok(bytes)),
                    Err(e) => (
                        shown,
                        Err(Fault(format!(
                            "could not read its member at offset {offset}: {e}"
                        ))),
                    ),
                },
                Some(Err(fault)) => (shown, Err(fault)),
            }
        })
        .collect()
}

/// The member whose header is at `offset` in the archive at `path`: its name and its bytes.
fn nested_member(path: &Path, offset: u64) -> Result<(String, Vec<u8>), Fault> {
    let input = load(path)?;
    let archive = ArchiveFile::parse(input.data())?;
    let member = archive.member(object::read::archive::ArchiveOffset(offset))?;
    let name = String::from_utf8_lossy(member.name()).into_owned();
    let bytes = member.data(input.data())?.to_vec();
    Ok((name, bytes))
}

/// Walks the raw member headers of a GNU archive: each must be whole, end in its terminator,
/// give a decimal size, and (unless its data lives elsewhere, in a thin archive) fit in the
/// file. The first that does not: its offset, its name as the header gives it, and the fault.
fn check_member_headers(data: &[u8], thin: bool) -> Result<(), (u64, String, Fault)> {
    let mut at = 8usize;
    while at < data.len() {
        let Some(header) = data.get(at..at + 60) else {
            let fault = Fault(format!("truncated member header at offset {at}"));
            return Err((at as u64, format!("at offset {at}"), fault));
        };
        let raw_name = String::from_utf8_lossy(&header[..16]).trim_end().to_owned();
        let name = match raw_name.as_str() {
            "/" | "/SYM64/" => format!("{raw_name} (the symbol index)"),
            "//" => "// (the long-name table)".to_owned(),
            n => n.trim_end_matches('/').to_owned(),
        };
        let fail = |fault: String| Err((at as u64, name.clone(), Fault(fault)));
        if &header[58..60] != b"`\n" {
            return fail(format!(
                "member header at offset {at} does not end in \"`\\n\""
            ));
        }
        let size_field = String::from_utf8_lossy(&header[48..58])
            .trim_end()
            .to_owned();
        let Ok(size) = size_field.parse::<usize>() else {
            return fail(format!(
                "the size field {size_field:?} at offset {} is not a number",
                at + 48
            ));
        };
        let special = matches!(raw_name.as_str(), "/" | "//" | "/SYM64/");
        let stored = if thin && !special { 0 } else { size };
        let left = data.len() - at - 60;
        if stored > left {
            return fail(format!(
                "the member claims {size} bytes at offset {at}, but only {left} bytes follow"
            ));
        }
        at += 60 + stored + (stored & 1);
    }
    Ok(())
}
