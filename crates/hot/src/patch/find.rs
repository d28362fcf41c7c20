//! Finding a host's table: its executable's symbol table names the table's link-time address,
//! `/proc/PID/maps` says where the executable was loaded, and the table read from the host's
//! memory is checked before anything is written.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use object::{Object, ObjectSegment, ObjectSymbol};

use super::proc::{proc_error, read_exact, thread_group};
use super::{Bounds, RemoteSlot, Target};
use crate::shared::{
    LOCK_NAME, MAGIC, MAX_UNITS, REGION_ALIGN, TABLE_SYMBOL, UNIT, VERSION, offsets,
};
use crate::{Error, NAME_LEN, Result, slot_name};

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub range: Range<u64>,
    pub perms: String,
    pub offset: u64,
    pub dev: (u32, u32),
    pub inode: u64,
    pub path: String,
}

impl Mapping {
    /// Parses one line, `start-end perms offset major:minor inode [path]`.
    pub fn parse(line: &str) -> Option<Mapping> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?.to_owned();
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let inode = fields.next()?.parse().ok()?;
        Some(Mapping {
            range: u64::from_str_radix(start, 16).ok()?..u64::from_str_radix(end, 16).ok()?,
            perms,
            offset,
            dev: (
                u32::from_str_radix(major, 16).ok()?,
                u32::from_str_radix(minor, 16).ok()?,
            ),
            inode,
            path: fields.collect::<Vec<_>>().join(" "),
        })
    }

    pub(super) fn covers(&self, range: &Range<u64>) -> bool {
        self.range.start <= range.start && range.end <= self.range.end
    }
}

impl Target {
    /// Finds process `pid`'s hot table and checks it, writing nothing. A thread's id is taken
    /// for its process's, and [`Target::thread`] says so.
    pub fn open(pid: u32) -> Result<Target> {
        let started = Instant::now();
        let proc = PathBuf::from(format!("/proc/{pid}"));
        if let Err(cause) = std::fs::metadata(&proc) {
            return Err(match cause.kind() {
                io::ErrorKind::NotFound => Error::NoProcess { pid },
                _ => proc_error(pid, &proc, cause),
            });
        }
        let (pid, thread) = match thread_group(pid) {
            Some(process) if process != pid => (process, Some(pid)),
            _ => (pid, None),
        };
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let exe_link = proc.join("exe");
        let exe = std::fs::read_link(&exe_link).map_err(|cause| match cause.kind() {
            io::ErrorKind::NotFound => Error::NoExecutable { pid },
            _ => proc_error(pid, &exe_link, cause),
        })?;
        let exe_file = File::open(&exe_link).map_err(|cause| proc_error(pid, &exe_link, cause))?;
        let not_host = |reason: String| Error::NotHost {
            pid,
            exe: exe.clone(),
            reason,
        };
        // SAFETY: the mapping is only read. The file is a running program's executable, which
        // the kernel refuses to open for writing (ETXTBSY); were it changed anyway, we would
        // read wrong numbers, which the checks against the host's own memory below refuse.
        let image = unsafe { memmap2::Mmap::map(&exe_file) }
            .map_err(|cause| proc_error(pid, &exe_link, cause))?;
        let elf = object::File::parse(&*image).map_err(|e| {
            not_host(format!(
                "its executable is not an ELF file object reads: {e}"
            ))
        })?;
        // A stripped host keeps the table in .dynsym when it exports it (`-rdynamic`).
        let symbol = elf
            .symbol_by_name(TABLE_SYMBOL)
            .or_else(|| {
                elf.dynamic_symbols()
                    .find(|s| s.name() == Ok(TABLE_SYMBOL) && s.is_definition())
            })
            .ok_or_else(|| {
                not_host(match elf.symbol_table() {
                    None => format!(
                        "its executable has no symbol table (stripped?) and exports no \
                         {TABLE_SYMBOL} in its dynamic symbols"
                    ),
                    Some(_) => format!("its executable defines no symbol {TABLE_SYMBOL}"),
                })
            })?;
        let table_size = symbol.size();
        if table_size < offsets::SLOTS as u64 {
            return Err(not_host(format!(
                "{TABLE_SYMBOL} is {table_size} bytes, smaller than a table's header"
            )));
        }

        let maps_path = proc.join("maps");
        let maps = std::fs::read_to_string(&maps_path)
            .map_err(|cause| proc_error(pid, &maps_path, cause))?;
        let maps: Vec<Mapping> = maps.lines().filter_map(Mapping::parse).collect();
        let meta = exe_file
            .metadata()
            .map_err(|cause| proc_error(pid, &exe_link, cause))?;
        let ours = |m: &&Mapping| {
            m.inode == meta.ino()
                && m.dev == (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()))
        };
        let bias = maps
            .iter()
            .find(ours)
            .and_then(|first| load_bias(&elf, first))
            .ok_or_else(|| not_host("its segments are not where /proc/PID/maps puts it".into()))?;
        let table = bias.wrapping_add(symbol.address());
        let table_range = table..table + table_size;
        if !maps
            .iter()
            .any(|m| m.covers(&table_range) && m.perms.starts_with("rw"))
        {
            return Err(not_host(format!(
                "{TABLE_SYMBOL} at {table:#x} is not in writable memory"
            )));
        }

        let mem_path = proc.join("mem");
        let mem = File::options()
            .read(true)
            .write(true)
            .open(&mem_path)
            .map_err(|cause| proc_error(pid, &mem_path, cause))?;
        let mut header = [0u8; offsets::SLOTS];
        read_exact(&mem, table, &mut header, pid)?;
        let TableHeader {
            count,
            needed,
            region,
            units,
            lock_fd,
        } = TableHeader::read(&header, table_size).map_err(|fault| match fault {
            HeaderFault::Magic => not_host(format!(
                "the {table_size} bytes at {TABLE_SYMBOL} ({table:#x}) do not start with the magic {:?}",
                String::from_utf8_lossy(&MAGIC)
            )),
            HeaderFault::Version { found } => Error::TableVersion {
                pid,
                found,
                expected: VERSION,
            },
            HeaderFault::TooSmall { count } => not_host(format!(
                "{TABLE_SYMBOL} is {table_size} bytes, too small for the {count} slots it says it has"
            )),
            HeaderFault::NotReserved => Error::NotReserved { pid },
            HeaderFault::Region { region, units } => not_host(region_fault(region, units)),
        })?;
        let region_range = region..region + (units * UNIT) as u64;
        let private_rx =
            |m: &&Mapping| m.covers(&region_range) && m.perms == "r-xp" && m.inode == 0;
        if !maps.iter().any(|m| private_rx(&m)) {
            return Err(not_host(region_fault(region, units)));
        }

        let lock_path = proc.join(format!("fd/{lock_fd}"));
        let lock_target = std::fs::read_link(&lock_path).unwrap_or_default();
        if lock_fd < 0
            || !lock_target
                .to_string_lossy()
                .starts_with(&format!("/memfd:{LOCK_NAME}"))
        {
            return Err(not_host(format!(
                "its table's lock descriptor {lock_fd} is not its {LOCK_NAME} memfd"
            )));
        }
        let lock_file =
            File::open(&lock_path).map_err(|cause| proc_error(pid, &lock_path, cause))?;

        let mut names = vec![0u8; count * offsets::SLOT_SIZE];
        read_exact(&mem, table + offsets::SLOTS as u64, &mut names, pid)?;
        let slots = names
            .chunks(offsets::SLOT_SIZE)
            .enumerate()
            .map(|(i, chunk)| {
                let name: &[u8; NAME_LEN] =
                    chunk[offsets::SLOT_NAME..][..NAME_LEN].try_into().unwrap();
                RemoteSlot {
                    name: String::from_utf8_lossy(slot_name(name)).into_owned(),
                    address: table + (offsets::SLOTS + i * offsets::SLOT_SIZE) as u64,
                }
            })
            .collect();
        Ok(Target {
            pid,
            thread,
            exe,
            lock_file,
            lock_path,
            mem,
            table,
            bias,
            slots,
            units,
            bounds: Bounds {
                table: table..table + needed as u64,
                region: region_range,
            },
            resolve: started.elapsed(),
        })
    }
}

/// What a table's header says, checked as far as the header alone can tell: the magic, the
/// layout, that the symbol holds the slots it counts, and a reserved region of a sane size
/// and alignment that does not wrap around the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableHeader {
    pub count: usize,
    /// Bytes of the table the header and its slots take.
    pub needed: usize,
    pub region: u64,
    pub units: usize,
    pub lock_fd: i32,
}

/// What is wrong with a table's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderFault {
    Magic,
    Version { found: u32 },
    TooSmall { count: usize },
    NotReserved,
    Region { region: u64, units: usize },
}

impl TableHeader {
    /// Reads the header bytes of a table whose symbol is `table_size` bytes.
    pub fn read(
        header: &[u8; offsets::SLOTS],
        table_size: u64,
    ) -> Result<TableHeader, HeaderFault> {
        let u32_at = |at: usize| u32::from_ne_bytes(header[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(header[at..at + 8].try_into().unwrap());
        if header[offsets::MAGIC..offsets::MAGIC + 8] != MAGIC {
            return Err(HeaderFault::Magic);
        }
        let version = u32_at(offsets::VERSION);
        if version != VERSION || u32_at(offsets::UNIT) as usize != UNIT {
            return Err(HeaderFault::Version { found: version });
        }
        let count = u32_at(offsets::SLOT_COUNT) as usize;
        let needed = offsets::SLOTS + count * offsets::SLOT_SIZE;
        if table_size < needed as u64 {
            return Err(HeaderFault::TooSmall { count });
        }
        let region = u64_at(offsets::REGION);
        let units = u32_at(offsets::UNITS) as usize;
        if region == 0 {
            return Err(HeaderFault::NotReserved);
        }
        let fits = region.checked_add((units * UNIT) as u64).is_some();
        if units == 0 || units > MAX_UNITS || !region.is_multiple_of(REGION_ALIGN as u64) || !fits {
            return Err(HeaderFault::Region { region, units });
        }
        let lock_fd = i32::from_ne_bytes(
            header[offsets::LOCK_FD..offsets::LOCK_FD + 4]
                .try_into()
                .unwrap(),
        );
        Ok(TableHeader {
            count,
            needed,
            region,
            units,
            lock_fd,
        })
    }
}

/// Why a region is not one a patcher may write.
fn region_fault(region: u64, units: usize) -> String {
    format!(
        "its region ({units} units at {region:#x}) is not a private read+execute mapping of at \
         most {MAX_UNITS} units at a multiple of {REGION_ALIGN:#x}"
    )
}

/// Where an ELF file was loaded, given its first (lowest) mapping: that mapping's address less
/// the page-aligned address of the loadable segment that starts at the mapping's file offset.
pub(crate) fn load_bias<'data>(elf: &impl Object<'data>, first: &Mapping) -> Option<u64> {
    let page = rustix::param::page_size() as u64;
    elf.segments()
        .find(|s| s.file_range().0 & !(page - 1) == first.offset)
        .map(|s| first.range.start.wrapping_sub(s.address() & !(page - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_checked_before_anything_is_read_by_it() {
        let mut header = [0u8; offsets::SLOTS];
        let put = |h: &mut [u8; offsets::SLOTS], at: usize, bytes: &[u8]| {
            h[at..at + bytes.len()].copy_from_slice(bytes)
        };
        assert_eq!(TableHeader::read(&header, 4096), Err(HeaderFault::Magic));
        put(&mut header, offsets::MAGIC, &MAGIC);
        put(&mut header, offsets::VERSION, &VERSION.to_ne_bytes());
        put(&mut header, offsets::UNIT, &(UNIT as u32).to_ne_bytes());
        put(&mut header, offsets::SLOT_COUNT, &2u32.to_ne_bytes());
        assert_eq!(
            TableHeader::read(&header, 4096),
            Err(HeaderFault::NotReserved)
        );
        assert_eq!(
            TableHeader::read(&header, 8),
            Err(HeaderFault::TooSmall { count: 2 })
        );
        put(
            &mut header,
            offsets::UNITS,
            &(MAX_UNITS as u32).to_ne_bytes(),
        );
        // A region at the top of the address space would wrap: refused, not overflowed.
        let top = u64::MAX - (REGION_ALIGN as u64 - 1);
        put(&mut header, offsets::REGION, &top.to_ne_bytes());
        assert_eq!(
            TableHeader::read(&header, 4096),
            Err(HeaderFault::Region {
                region: top,
                units: MAX_UNITS
            })
        );
        put(
            &mut header,
            offsets::REGION,
            &0x7f00_0000_0000u64.to_ne_bytes(),
        );
        let read = TableHeader::read(&header, 4096).unwrap();
        assert_eq!(
            (read.count, read.units, read.region),
            (2, MAX_UNITS, 0x7f00_0000_0000)
        );
    }

    #[test]
    fn maps_lines_parse() {
        let m = Mapping::parse(
            "55d0c3a00000-55d0c3a1e000 r--p 00000000 fd:01 1234567   /usr/bin/prog (deleted)",
        )
        .unwrap();
        assert_eq!(m.range, 0x55d0c3a00000..0x55d0c3a1e000);
        assert_eq!(
            (m.perms.as_str(), m.offset, m.dev, m.inode),
            ("r--p", 0, (0xfd, 1), 1234567)
        );
        assert_eq!(m.path, "/usr/bin/prog (deleted)");
        let anon = Mapping::parse("7f0000000000-7f0000010000 r-xp 00000000 00:00 0").unwrap();
        assert_eq!((anon.inode, anon.path.as_str()), (0, ""));
        assert_eq!(Mapping::parse("garbage"), None);
    }
}
