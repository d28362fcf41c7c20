//! Entry points for the fuzz targets in `fuzz/`: each runs what a command runs on one input's
//! bytes, in memory, with no external program. A fuzz target must never see a panic, a hang or
//! unbounded memory from any of them; every fault is an `Err`.

use std::path::PathBuf;

use crate::symbols::{self, Input, Table};
use crate::{Error, Result, System, checksec, nm};

/// A system with no tools: every question is answered with an error, as on a machine
/// without binutils, which the readers must survive.
struct NoTools;

impl System for NoTools {
    fn ld_search_dirs(&self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
    fn driver_line(&self, _: Option<&str>, _: &[String], _: &str) -> Result<(String, String)> {
        Err(no_tools())
    }
    fn run(&self, _: &[String]) -> Result<(bool, String)> {
        Err(no_tools())
    }
    fn cpp_filt(&self, _: Vec<u8>, _: bool) -> Result<Vec<u8>> {
        Err(no_tools())
    }
}

fn no_tools() -> Error {
    Error::Io(std::io::Error::other("no external tools while fuzzing"))
}

/// Where fuzzed inputs claim to live: a directory that does not exist, so that a thin
/// archive's relative member names lead nowhere.
const NOWHERE: &str = "/nonexistent/polylink-fuzz/input";

/// nm -C's fast C++ demangler on `data` as a name, held to libiberty (when it is linked in):
/// where the fast one spells a name, libiberty spells it the same, or this panics.
pub fn demangle(data: &[u8]) {
    nm::check_against_libiberty(data);
}

/// `polylink nm` on `data`, with the options `flags`' bits choose, into a buffer.
pub fn nm(flags: u16, data: &[u8]) {
    let bit = |n: u16| flags & (1 << n) != 0;
    let options = nm::Options {
        print_file_name: bit(0),
        demangle: bit(1),
        dynamic: bit(2),
        extern_only: bit(3),
        numeric_sort: bit(4),
        no_sort: bit(5),
        portability: bit(6),
        reverse_sort: bit(7),
        print_size: bit(8),
        undefined_only: bit(9),
        defined_only: bit(10),
        format: match (bit(11), bit(14)) {
            (true, _) => Some(nm::Format::Json),
            (false, true) => Some(nm::Format::Sysv),
            (false, false) => None,
        },
        size_sort: bit(13),
        no_weak: bit(14),
        radix: match flags >> 14 {
            0 | 1 => nm::Radix::Hex,
            2 => nm::Radix::Decimal,
            _ => nm::Radix::Octal,
        },
        ifunc_chars: bit(15).then_some((b'G', Some(b'L'))),
        print_armap: bit(15),
        debug_syms: bit(12) && bit(13),
        line_numbers: bit(12) != bit(0),
        synthetic: bit(13) != bit(2),
        no_recurse_limit: bit(11) && bit(1),
        unicode: match flags >> 13 {
            0..=3 => nm::Unicode::Default,
            4 => nm::Unicode::Hex,
            5 => nm::Unicode::Escape,
            6 => nm::Unicode::Invalid,
            _ => nm::Unicode::Locale,
        },
    };
    let input = Input::from_bytes(NOWHERE, data.to_vec());
    let mut out = Vec::new();
    let _ = nm::report_all(&mut out, &[input], &options, bit(12), &NoTools);
}

/// `polylink checksec` on `data`, printed both ways.
pub fn checksec(data: &[u8]) {
    if let Ok(hardening) = checksec::check_data(NOWHERE.as_ref(), data) {
        let mut out = Vec::new();
        let _ = checksec::print_table(&mut out, std::slice::from_ref(&hardening));
        let _ = checksec::print_json(&mut out, &[hardening]);
    }
}

/// What link-order's reader does with one input's bytes: a linker script's inputs, an
/// archive's members and their symbols, an object's or shared object's symbols and its
/// dependencies.
pub fn link_input(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::link_order::script_inputs(text);
    }
    let input = Input::from_bytes(NOWHERE, data.to_vec());
    let mut thin = Vec::new();
    match symbols::units(&input, &mut thin) {
        Ok(Some(units)) => {
            for unit in units {
                if let Ok(member) = unit.result {
                    let _ = symbols::read_elf(member, Table::Static);
                }
            }
        }
        Ok(None) => {
            let _ = symbols::read_elf(data, Table::Static);
            let _ = symbols::read_elf(data, Table::Dynamic);
            let _ = symbols::dependencies(data);
        }
        Err(_) => {}
    }
}
