//! `polylink nm`: symbol reports line for line as GNU nm 2.40 prints them from the ELF symbol
//! tables (`nm --plugin /dev/null`, in the C locale), and as JSON.
//!
//! Unlike nm with the LLVM plugin installed, it reads the ELF symbols of every member of a Rust
//! staticlib, bitcode or not. Options are nm's, `-l` (`nm/source.rs`) and `--synthetic`
//! (`symbols/synthetic.rs`) included.
//! Output formats follow nm.c: the BSD format prints `\nFILE:\n` before each file when there are
//! several and `\nMEMBER:\n` before each archive member; the POSIX format prints `FILE:` and
//! `ARCHIVE[MEMBER]:`; with `-A` every line starts with its file instead.
//!
//! A file or member that cannot be read is reported on stderr with the file, the member and
//! the fault, and the other files are still reported; the exit code is then 1, as nm's.

use std::io::{self, Write};
use std::path::PathBuf;

mod ahead;
mod demangle;
mod itanium;

pub(crate) use demangle::cpp as demangle_cpp;
pub(crate) use itanium::check_against_libiberty;
mod libiberty;
mod line;
mod parallel;
mod printer;
mod sort;
mod source;

use crate::System;
use crate::symbols::{self, Fault, Input, Symbol, Table, Unit};
use ahead::Ahead;
use demangle::{CppNames, Demangler};
use parallel::{in_parallel, in_parallel_after, threads};
use printer::{Object, Printer};
use sort::sorted_order;

/// nm's options, as flags.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Print the file (and member) on every line (nm -A, -o)
    pub print_file_name: bool,
    /// Demangle Rust (legacy and v0) and C++ names, as nm -C does
    pub demangle: bool,
    /// Read the dynamic symbol table (.dynsym) instead of .symtab
    pub dynamic: bool,
    /// Only external symbols: global, weak, unique, undefined and common
    pub extern_only: bool,
    /// Sort by address, undefined symbols first
    pub numeric_sort: bool,
    /// Do not sort: symbol table order
    pub no_sort: bool,
    /// The POSIX output format (nm -P)
    pub portability: bool,
    /// Reverse the sort
    pub reverse_sort: bool,
    /// Print the size of defined symbols
    pub print_size: bool,
    /// Only undefined symbols
    pub undefined_only: bool,
    /// Only defined symbols
    pub defined_only: bool,
    /// Output format: bsd (the default), posix (as -P), just-symbols (as -j), or json
    pub format: Option<Format>,
    /// Sort by size, printing the size where the value goes (nm --size-sort)
    pub size_sort: bool,
    /// Leave out weak symbols (nm -W)
    pub no_weak: bool,
    /// The radix of values and sizes (nm -t)
    pub radix: Radix,
    /// The letters for global and local ifunc symbols, instead of `i` (nm --ifunc-chars)
    pub ifunc_chars: Option<(u8, Option<u8>)>,
    /// Print an archive's symbol index before its members (nm -s)
    pub print_armap: bool,
    /// Include the section and file symbols (nm -a)
    pub debug_syms: bool,
    /// How names with UTF-8 (and control characters) are shown (nm --unicode)
    pub unicode: Unicode,
    /// Each symbol's source file and line, from DWARF (nm -l)
    pub line_numbers: bool,
    /// Add the `NAME@plt` symbols of the PLT entries (nm --synthetic)
    pub synthetic: bool,
    /// Demangle names nested deeper than libiberty's recursion limit too
    /// (nm --no-recurse-limit): those the demangler linked in, which keeps the limit, gives up
    /// on are asked of `c++filt -r`
    pub no_recurse_limit: bool,
}

/// nm's `--unicode`: names as they are (the default), or their UTF-8 sequences shown as they
/// are (`locale`, `show`), as `{0x…}` (`invalid`), `<0x…>` (`hex`), or `\u…` escapes
/// (`escape`; `highlight` colours them on a terminal). Every mode but the default shows a
/// control character as `^X`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unicode {
    #[default]
    Default,
    Locale,
    Invalid,
    Hex,
    Escape,
    Highlight,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bsd,
    Posix,
    Sysv,
    JustSymbols,
    Json,
}

/// How nm writes numbers: `-t x` (the default), `-t d`, `-t o`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Radix {
    #[default]
    Hex,
    Decimal,
    Octal,
}

impl Radix {
    fn base(self) -> u64 {
        match self {
            Radix::Hex => 16,
            Radix::Decimal => 10,
            Radix::Octal => 8,
        }
    }
}

impl Options {
    fn table(&self) -> Table {
        if self.dynamic {
            Table::Dynamic
        } else {
            Table::Static
        }
    }

    fn format(&self) -> Format {
        match self.format {
            Some(format) => format,
            None if self.portability => Format::Posix,
            None => Format::Bsd,
        }
    }

    /// nm.c's `filter_symbols`: -u, else -g, else -W; then --size-sort drops absolute,
    /// undefined and sizeless symbols, and --defined-only undefined ones. (So -W leaves out weak symbols
    /// only when neither -u nor -g is given, as in GNU nm.)
    fn keeps(&self, s: &Symbol<'_>) -> bool {
        let keep = if self.undefined_only {
            s.is_undefined()
        } else if self.extern_only {
            s.is_external()
        } else if self.no_weak {
            s.binding != object::elf::STB_WEAK.0
        } else {
            true
        };
        let absolute = matches!(s.letter, b'A' | b'a');
        // By size, only what has one.
        keep && !(self.size_sort && (absolute || s.is_undefined()))
            && !(self.defined_only && s.is_undefined())
    }

    /// [`Options::keeps`], and by size only what has one.
    fn keeps_sized(&self, s: &Symbol<'_>) -> bool {
        self.keeps(s) && !(self.size_sort && s.size == 0)
    }
}

/// A problem with one input, reported on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub member: Option<String>,
    pub fault: Fault,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(member) = &self.member {
            write!(f, ": member {member}")?;
        }
        write!(f, ": {}", self.fault)
    }
}

/// What [`run`] found besides the report: the problems, and the files that had no symbols
/// (nm says so on stderr and still succeeds).
#[derive(Debug, Default)]
pub struct Outcome {
    pub problems: Vec<Problem>,
    pub no_symbols: Vec<String>,
    /// Archive members that are no object file: nm says so on stderr and still succeeds.
    pub unrecognized: Vec<String>,
    /// Things the user should know that are not faults of an input.
    pub warnings: Vec<String>,
    /// Symbols named `(null)` because their name offset lies past the string table, as GNU nm
    /// warns of them: `FILE: invalid string offset …` (`ARCHIVE(MEMBER): …` for a member).
    pub bad_names: Vec<String>,
}

impl Outcome {
    /// Adds what `other` found after what this found.
    fn append(&mut self, other: &mut Outcome) {
        let Outcome {
            problems,
            no_symbols,
            unrecognized,
            warnings,
            bad_names,
        } = other;
        self.problems.append(problems);
        self.no_symbols.append(no_symbols);
        self.unrecognized.append(unrecognized);
        self.warnings.append(warnings);
        self.bad_names.append(bad_names);
    }
}

/// Reports the symbols of `files` to `out`.
pub fn run(
    out: &mut impl Write,
    files: &[PathBuf],
    options: &Options,
    system: &dyn System,
) -> io::Result<Outcome> {
    let mut problems = Vec::new();
    let inputs: Vec<Input> = files
        .iter()
        .filter_map(|path| {
            symbols::load(path)
                .map_err(|fault| {
                    problems.push(Problem {
                        file: path.clone(),
                        member: None,
                        fault,
                    })
                })
                .ok()
        })
        .collect();
    let mut outcome = report_all(out, &inputs, options, files.len() > 1, system)?;
    problems.append(&mut outcome.problems);
    outcome.problems = problems;
    Ok(outcome)
}

/// Reports inputs already in memory (`several`: print file headers, as for several files).
pub fn report_all(
    out: &mut impl Write,
    inputs: &[Input],
    options: &Options,
    several: bool,
    system: &dyn System,
) -> io::Result<Outcome> {
    let mut cpp = CppNames::default();
    if options.demangle {
        let wanted = cpp_filt_names(inputs, options);
        if !wanted.is_empty() {
            cpp.ask(wanted, options.no_recurse_limit, system);
        }
    }
    let mut outcome = report_pass(out, inputs, options, several, &cpp)?;
    outcome.warnings.extend(cpp.warning.take());
    Ok(outcome)
}

/// The C++ names in the symbol string tables of `inputs` that c++filt is asked about
/// ([`demangle::for_cpp_filt`]): a look at the names before the report (a scan of the string
/// tables, not a read of the symbols), so that c++filt is asked once, and only when there are
/// such names. A name that the report then leaves out is asked about in vain, no more.
fn cpp_filt_names(inputs: &[Input], options: &Options) -> std::collections::BTreeSet<String> {
    let mut wanted = std::collections::BTreeSet::new();
    let mut look = |data: &[u8]| {
        let Some(strings) = symbols::symbol_strings(data, options.table()) else {
            return;
        };
        // Without the recursion limit, the names the linked demangler gives up on go to
        // c++filt too: found by demangling every C++ name once before the report.
        if options.no_recurse_limit {
            for core in strings.split(|&b| b == 0).filter_map(demangle::refused) {
                wanted.insert(core.to_owned());
            }
        }
        if !demangle::may_ask_cpp_filt(strings) {
            return;
        }
        for name in strings.split(|&b| b == 0) {
            if let Some(core) = demangle::for_cpp_filt(name) {
                wanted.insert(core.to_owned());
            }
        }
    };
    for input in inputs {
        let mut thin = Vec::new();
        match symbols::units(input, &mut thin) {
            Ok(Some(units)) => {
                for data in units.into_iter().filter_map(|u| u.result.ok()) {
                    look(data);
                }
            }
            Ok(None) => look(input.data()),
            Err(_) => {}
        }
    }
    wanted
}

fn report_pass(
    out: &mut impl Write,
    inputs: &[Input],
    options: &Options,
    several: bool,
    cpp: &CppNames,
) -> io::Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut printer = Printer::new(out, options, several, cpp);
    for input in inputs {
        report(&mut printer, input, &mut outcome)?;
    }
    printer.finish()?;
    Ok(outcome)
}

fn report(
    printer: &mut Printer<'_, impl Write>,
    input: &Input,
    outcome: &mut Outcome,
) -> io::Result<()> {
    let file = input.path.display().to_string();
    let table = printer.options.table();
    let mut thin = Vec::new();
    let units = match symbols::units(input, &mut thin) {
        Ok(units) => units,
        Err(fault) => {
            outcome.problems.push(Problem {
                file: input.path.clone(),
                member: None,
                fault,
            });
            return Ok(());
        }
    };
    let Some(units) = units else {
        return report_object(printer, input, &file, outcome);
    };
    let index = match printer.options.print_armap {
        true => symbols::archive_index(input).unwrap_or_default(),
        false => Vec::new(),
    };
    printer.archive_header(&file, &index)?;
    let threads = threads();
    if printer.format == Format::Json || threads == 1 || units.len() < 2 {
        for unit in units {
            report_member(printer, &input.path, &file, table, unit, outcome)?;
        }
        return Ok(());
    }
    // Members are read, sorted and formatted on every core, each into its own buffer; the
    // buffers are then written in the archive's order.
    let (options, several, cpp) = (printer.options, printer.several, printer.cpp);
    let done = in_parallel(threads, units, |unit| {
        let mut buffer = Vec::new();
        let mut found = Outcome::default();
        let mut member_printer = Printer::new(&mut buffer, options, several, cpp);
        member_printer.whole_core = false;
        // Writing into a vector cannot fail.
        let _ = report_member(
            &mut member_printer,
            &input.path,
            &file,
            table,
            unit,
            &mut found,
        );
        (buffer, found)
    });
    for (buffer, mut found) in done {
        printer.out.write_all(&buffer)?;
        outcome.append(&mut found);
    }
    Ok(())
}

/// One file that is an object (not an archive): read, sorted and written, a large table on
/// every core ([`ahead`]).
fn report_object(
    printer: &mut Printer<'_, impl Write>,
    input: &Input,
    file: &str,
    outcome: &mut Outcome,
) -> io::Result<()> {
    let table = printer.options.table();
    let data = input.data();
    let synthetic = synthetic_of(data, printer.options);
    let ends: Vec<(u32, u64)> = synthetic.iter().map(|s| (s.shndx, s.section_end)).collect();
    let o = printer.options;
    let bad_names = std::sync::Mutex::new(Vec::new());
    let read = || {
        let read = symbols::read_elf_as_nm(data, table, o.debug_syms)?;
        Ok(with_synthetic(
            read.map(|(symbols, bad)| {
                bad_names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(bad);
                symbols
            }),
            &synthetic,
        ))
    };
    let digits = symbols::address_digits(data);
    let work = printer.ahead_work(data);
    let per_piece = work.as_ref().map_or(0, |work| work.per_piece);
    let mut done = Vec::new();
    let (symbols, order) = match work {
        // A large table sorted on every core, then read, demangled and written.
        Some(work) if work.sorts => {
            let prefix = printer.prefix(file, None);
            let report = ahead::Report {
                lines: printer.lines(&prefix, digits, None),
                options: o,
                header: printer.header(file, None, digits),
                threads: threads(),
            };
            let demangler = Demangler { asked: printer.cpp };
            if ahead::report(
                printer.out,
                &mut printer.line,
                &work.reader,
                work.tasks,
                demangler,
                &report,
            )? {
                return Ok(());
            }
            // An entry that does not read: the fault as the read finds it.
            (read(), None)
        }
        // With -C but another order, a large table's names are demangled on the other
        // cores while this thread reads and sorts the symbols.
        Some(work) => {
            let demangler = Demangler { asked: printer.cpp };
            let reader = &work.reader;
            let (symbols, finished) = in_parallel_after(
                threads(),
                work.tasks,
                |task| ahead::run(reader, task, demangler),
                || match read() {
                    Ok(Some(mut symbols)) => {
                        keep(&mut symbols, o, &ends);
                        let order = sorted_order(&symbols, o);
                        (Ok(Some(symbols)), Some(order))
                    }
                    other => (other, None),
                },
            );
            done = finished;
            symbols
        }
        None => (read(), None),
    };
    let bad_names = bad_names.into_inner().unwrap_or_else(|e| e.into_inner());
    outcome
        .bad_names
        .extend(bad_names.iter().map(|bad| format!("{file}: {bad}")));
    let done: Vec<&ahead::Done<'_>> = done.iter().collect();
    let ahead = Ahead::new(&done, per_piece);
    match symbols {
        Ok(symbols) => {
            let object = Object {
                file,
                member: None,
                digits,
                data,
                synthetic_ends: ends,
                kept_in_order: order,
                ahead: Some(&ahead),
            };
            printer.object(object, symbols, &mut outcome.no_symbols)?
        }
        Err(fault) => outcome.problems.push(Problem {
            file: input.path.clone(),
            member: None,
            fault,
        }),
    }
    Ok(())
}

/// One archive member's report.
fn report_member(
    printer: &mut Printer<'_, impl Write>,
    path: &std::path::Path,
    file: &str,
    table: Table,
    unit: Unit<'_>,
    outcome: &mut Outcome,
) -> io::Result<()> {
    let member = unit.member;
    // A member that is no object file at all (text, an empty file, an archive named by a thin
    // archive) is reported, as GNU nm reports it, without failing the run.
    if let Ok(data) = &unit.result
        && !symbols::is_elf(data)
    {
        outcome.unrecognized.push(format!("{file}: {member}"));
        return Ok(());
    }
    let data = unit.result.as_ref().map_or(&[][..], |data| data);
    let synthetic = synthetic_of(data, printer.options);
    match unit
        .result
        .and_then(|data| symbols::read_elf_as_nm(data, table, printer.options.debug_syms))
    {
        Ok(read) => {
            let symbols = read.map(|(symbols, bad)| {
                let named = bad.iter().map(|bad| format!("{file}({member}): {bad}"));
                outcome.bad_names.extend(named);
                symbols
            });
            let symbols = with_synthetic(symbols, &synthetic);
            let object = Object {
                file,
                member: Some(&member),
                digits: symbols::address_digits(data),
                data,
                synthetic_ends: synthetic.iter().map(|s| (s.shndx, s.section_end)).collect(),
                kept_in_order: None,
                ahead: None,
            };
            printer.object(object, symbols, &mut outcome.no_symbols)
        }
        Err(fault) => {
            outcome.problems.push(Problem {
                file: path.to_path_buf(),
                member: Some(member),
                fault,
            });
            Ok(())
        }
    }
}

/// Keeps the symbols nm prints with these options ([`Options::keeps`], and by size only those
/// with one, synthetic ones sized as BFD sizes them).
fn keep(symbols: &mut Vec<Symbol<'_>>, o: &Options, synthetic_ends: &[(u32, u64)]) {
    symbols.retain(|s| o.keeps(s));
    if o.size_sort {
        synthetic_sizes(symbols, synthetic_ends);
    }
    symbols.retain(|s| o.keeps_sized(s));
}

/// BFD's sizes for synthetic symbols under `--size-sort` (`sort_symbols_by_size`): up to the
/// next symbol by address if it is in the same section, else up to the section's end (`ends`,
/// by section index).
fn synthetic_sizes(symbols: &mut [Symbol<'_>], ends: &[(u32, u64)]) {
    if !symbols.iter().any(|s| s.synthetic) {
        return;
    }
    let mut order: Vec<usize> = (0..symbols.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&symbols[a], &symbols[b]);
        (a.value, a.shndx, a.name).cmp(&(b.value, b.shndx, b.name))
    });
    for (k, &i) in order.iter().enumerate() {
        let s = &symbols[i];
        if !s.synthetic {
            continue;
        }
        let end = ends
            .iter()
            .find(|(shndx, _)| *shndx == s.shndx)
            .map_or(s.value, |(_, end)| *end);
        let size = match order.get(k + 1).map(|&j| &symbols[j]) {
            Some(next) if next.shndx == s.shndx => next.value.wrapping_sub(s.value),
            _ => end.wrapping_sub(s.value),
        };
        symbols[i].size = size;
    }
}

/// With `--synthetic`: the PLT entries' symbols of an object.
fn synthetic_of<'d>(data: &'d [u8], options: &Options) -> Vec<symbols::Synthetic<'d>> {
    match options.synthetic {
        true => symbols::synthetic(data),
        false => Vec::new(),
    }
}

/// The symbols read, then the synthetic ones, as nm appends them (when there are symbols at
/// all: nm says "no symbols" before it looks for synthetic ones).
fn with_synthetic<'s>(
    symbols: Option<Vec<Symbol<'s>>>,
    synthetic: &'s [symbols::Synthetic<'_>],
) -> Option<Vec<Symbol<'s>>> {
    let mut symbols = symbols?;
    symbols.extend(synthetic.iter().map(symbols::Synthetic::symbol));
    Some(symbols)
}
