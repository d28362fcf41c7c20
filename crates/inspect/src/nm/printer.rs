//! nm's printer: one object's symbols kept, sorted and written in the chosen format (BSD,
//! POSIX, System V, just the names, JSON), a large table on every core ([`super::ahead`]).

use std::io::{self, Write};

use super::ahead::{self, Ahead};
use super::demangle::{CppNames, Demangler};
use super::line::{Lines, convert_unicode, display_name};
use super::parallel::{in_parallel_after, threads};
use super::sort::sorted_order;
use super::source::Sources;
use super::{Format, Options, Unicode, keep};
use crate::symbols::{self, Symbol};

/// Writes symbols in the chosen format, keeping what the JSON format needs across files.
pub(super) struct Printer<'o, W: Write> {
    pub(super) out: &'o mut W,
    pub(super) options: &'o Options,
    pub(super) format: Format,
    /// nm's `filename_per_file`: more than one file was named.
    pub(super) several: bool,
    pub(super) json_started: bool,
    pub(super) line: Vec<u8>,
    /// c++filt's answers for the C++ names it was asked about, with `-C`.
    pub(super) cpp: &'o CppNames,
    /// Whether this printer has the machine to itself, and may format a large table on every
    /// core (not when it prints one archive member among others printed in parallel).
    pub(super) whole_core: bool,
}

/// The size of table that is worth demangling (and formatting) on every core.
pub(super) const PARALLEL_LINES: usize = 2048;

/// The size of table that is worth formatting on every core without demangling. A plain line
/// takes little to format, and the buffers the slices are formatted into take page faults:
/// measured side by side on two CPUs, formatting apart lost at 6 000 lines (libstdc++'s table)
/// and broke even at 46 000 (libLLVM's).
pub(super) const PARALLEL_PLAIN_LINES: usize = 64 << 10;

impl<'o, W: Write> Printer<'o, W> {
    pub(super) fn new(
        out: &'o mut W,
        options: &'o Options,
        several: bool,
        cpp: &'o CppNames,
    ) -> Self {
        Printer {
            out,
            options,
            format: options.format(),
            several,
            json_started: false,
            line: Vec::with_capacity(256),
            cpp,
            whole_core: true,
        }
    }

    /// When `data`'s table is large enough to be worth it: the work done on every core
    /// ([`ahead`]). The sort, when [`ahead::allowed`], which then also reads, demangles and
    /// writes the symbols; otherwise with -C the demangling, unless options leave most names
    /// out (demangling them would be work in vain).
    pub(super) fn ahead_work<'d>(&self, data: &'d [u8]) -> Option<AheadWork<'d>> {
        let o = self.options;
        let threads = threads();
        if !self.whole_core || threads == 1 || o.line_numbers || self.format == Format::Json {
            return None;
        }
        let sorts = ahead::allowed(o, self.format);
        let filtered = o.undefined_only || o.extern_only || o.no_weak || o.defined_only;
        // In name order, names are demangled as they are written, in that order, which is
        // faster (measured: 10% of a `-D -C` run on libstdc++) and takes no memory for the
        // spellings.
        let demangles = !sorts && o.demangle && !filtered && !o.size_sort;
        if !sorts && !demangles {
            return None;
        }
        let reader = symbols::Reader::new(data, o.table(), o.debug_syms).ok()??;
        if reader.len() < PARALLEL_LINES {
            return None;
        }
        // The parts sorted first: each is one task, and long.
        let mut tasks = Vec::new();
        if sorts {
            tasks = ahead::sort_parts(&reader, threads);
        }
        let mut per_piece = 0;
        if demangles {
            let (pieces, per) = ahead::pieces(&reader, threads * 16);
            tasks.extend(pieces.into_iter().map(ahead::Task::Demangle));
            per_piece = per;
        }
        Some(AheadWork {
            reader,
            tasks,
            per_piece,
            sorts,
        })
    }

    /// BFD's `print_archive_filename`: only the BSD format, only with several files.
    pub(super) fn archive_header(
        &mut self,
        file: &str,
        index: &[(Vec<u8>, String)],
    ) -> io::Result<()> {
        if self.format == Format::Bsd && self.several {
            write!(self.out, "\n{file}:\n")?;
        }
        if self.options.print_armap && self.format != Format::Json && !index.is_empty() {
            self.out.write_all(b"\nArchive index:\n")?;
            let mut shown = Vec::new();
            for (symbol, member) in index {
                let symbol = match self.options.unicode {
                    Unicode::Default => symbol,
                    unicode => {
                        shown.clear();
                        convert_unicode(&mut shown, symbol, unicode);
                        &shown
                    }
                };
                self.out.write_all(symbol)?;
                writeln!(self.out, " in {member}")?;
            }
        }
        Ok(())
    }

    /// What nm prints before an object's symbols: its name, as the format and the number of
    /// files have it.
    pub(super) fn header(&self, file: &str, member: Option<&str>, digits: usize) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a vector cannot fail.
        let _ = self.write_header(&mut out, file, member, digits);
        out
    }

    pub(super) fn write_header(
        &self,
        out: &mut Vec<u8>,
        file: &str,
        member: Option<&str>,
        digits: usize,
    ) -> io::Result<()> {
        let o = self.options;
        let per_symbol = o.print_file_name;
        match (self.format, member) {
            (Format::JustSymbols, _) => {}
            (Format::Sysv, _) => {
                let which = if o.undefined_only {
                    "Undefined symbols"
                } else {
                    "Symbols"
                };
                match member {
                    Some(member) => write!(out, "\n\n{which} from {file}[{member}]:\n\n")?,
                    None => write!(out, "\n\n{which} from {file}:\n\n")?,
                }
                out.write_all(match digits {
                    8 => b"Name                  Value   Class        Type         Size     Line  Section\n\n",
                    _ => b"Name                  Value           Class        Type         Size             Line  Section\n\n",
                })?;
            }
            (Format::Bsd, Some(member)) if !per_symbol => write!(out, "\n{member}:\n")?,
            (Format::Bsd, None) if self.several && !per_symbol => write!(out, "\n{file}:\n")?,
            (Format::Posix, Some(member)) if !per_symbol => writeln!(out, "{file}[{member}]:")?,
            (Format::Posix, None) if self.several && !per_symbol => writeln!(out, "{file}:")?,
            _ => {}
        }
        Ok(())
    }

    /// `-A`'s file (and member) before every line.
    pub(super) fn prefix(&self, file: &str, member: Option<&str>) -> String {
        match (self.options.print_file_name, self.format, member) {
            (false, ..) | (_, Format::JustSymbols, _) => String::new(),
            (true, Format::Posix, Some(member)) => format!("{file}[{member}]: "),
            (true, Format::Posix, None) => format!("{file}: "),
            (true, _, Some(member)) => format!("{file}:{member}:"),
            (true, _, None) => format!("{file}:"),
        }
    }

    /// How this printer's lines are made, with `prefix` ([`Printer::prefix`]).
    pub(super) fn lines<'a>(
        &self,
        prefix: &'a str,
        digits: usize,
        sources: Option<&'a Sources>,
    ) -> Lines<'a>
    where
        'o: 'a,
    {
        Lines {
            prefix: prefix.as_bytes(),
            options: self.options,
            format: self.format,
            cpp: self
                .options
                .demangle
                .then_some(Demangler { asked: self.cpp }),
            digits,
            sources,
        }
    }

    /// One object: its header, as nm prints it for any ELF file (even one without symbols,
    /// which nm then names on stderr), then its symbols.
    pub(super) fn object(
        &mut self,
        object: Object<'_>,
        symbols: Option<Vec<Symbol<'_>>>,
        no_symbols: &mut Vec<String>,
    ) -> io::Result<()> {
        let Object {
            file,
            member,
            digits,
            data,
            synthetic_ends,
            kept_in_order,
            ahead,
        } = object;
        let o = self.options;
        let header = self.header(file, member, digits);
        self.out.write_all(&header)?;
        let Some(mut symbols) = symbols else {
            no_symbols.push(member.unwrap_or(file).to_owned());
            return Ok(());
        };
        if kept_in_order.is_none() {
            keep(&mut symbols, o, &synthetic_ends);
        }
        if self.format == Format::Json {
            let order = kept_in_order.unwrap_or_else(|| sorted_order(&symbols, o));
            return self.json(file, member, order.iter().map(|&i| &symbols[i as usize]));
        }
        let prefix = self.prefix(file, member);
        let sources = o.line_numbers.then(|| Sources::new(data)).flatten();
        let lines = self.lines(&prefix, digits, sources.as_ref());
        let threads = threads();
        // Already kept and sorted (with the names demangled ahead): written as they come.
        if let Some(order) = kept_in_order {
            let at = |&i: &u32| {
                let s = &symbols[i as usize];
                (s, ahead.and_then(|ahead| ahead.spelled(s.index)))
            };
            return lines.write(self.out, &mut self.line, order.iter().map(at), None);
        }
        // With -l, lookups go in the printed order (BFD's lookups change what later ones find).
        let worth = match o.demangle {
            true => PARALLEL_LINES,
            false => PARALLEL_PLAIN_LINES,
        };
        if !self.whole_core || threads == 1 || symbols.len() < worth || o.line_numbers {
            let order = sorted_order(&symbols, o);
            let sorted = order.iter().map(|&i| (&symbols[i as usize], None));
            return lines.write(self.out, &mut self.line, sorted, None);
        }
        // A large table (demangling most of all) is formatted on every core, in the table's
        // order and in slices, while this thread sorts; the lines are then written in the
        // sorted order.
        let per_slice = symbols.len().div_ceil(threads * 8);
        let slices: Vec<&[Symbol<'_>]> = symbols.chunks(per_slice).collect();
        let format = |slice: &[Symbol<'_>]| {
            // Room for every line at once (a demangled name is rarely three times the
            // mangled one's length): a buffer that grows copies itself and faults pages in.
            let guess = slice.iter().map(|s| 3 * s.name.len() + 40).sum();
            let mut buffer = Vec::with_capacity(guess);
            let (mut line, mut ends) = (Vec::new(), Vec::with_capacity(slice.len()));
            // Writing into a vector cannot fail.
            let _ = lines.write(
                &mut buffer,
                &mut line,
                slice.iter().map(|s| (s, None)),
                Some(&mut ends),
            );
            (buffer, ends)
        };
        let (order, formatted) =
            in_parallel_after(threads, slices, format, || sorted_order(&symbols, o));
        for i in order {
            let (slice, at) = (i as usize / per_slice, i as usize % per_slice);
            let (buffer, ends) = &formatted[slice];
            let start = if at == 0 { 0 } else { ends[at - 1] };
            self.out.write_all(&buffer[start..ends[at]])?;
        }
        Ok(())
    }

    pub(super) fn json<'s>(
        &mut self,
        file: &str,
        member: Option<&str>,
        symbols: impl Iterator<Item = &'s Symbol<'s>>,
    ) -> io::Result<()> {
        let (mut name, mut scratch) = (Vec::new(), Vec::new());
        for s in symbols {
            display_name(&mut name, &mut scratch, s, None, None, Unicode::Default);
            let mut value = serde_json::json!({
                "file": file,
                "member": member,
                "name": String::from_utf8_lossy(&name),
                "type": (s.letter as char).to_string(),
                "value": (!s.is_undefined()).then_some(s.value),
                "size": s.size,
            });
            if self.options.demangle {
                let demangler = Demangler { asked: self.cpp };
                display_name(
                    &mut name,
                    &mut scratch,
                    s,
                    Some(demangler),
                    None,
                    Unicode::Default,
                );
                value["demangled"] = String::from_utf8_lossy(&name).into();
            }
            let sep = if self.json_started { ",\n " } else { "[" };
            self.json_started = true;
            write!(self.out, "{sep}{value}")?;
        }
        Ok(())
    }

    pub(super) fn finish(self) -> io::Result<()> {
        if self.format == Format::Json {
            let end = if self.json_started { "]\n" } else { "[]\n" };
            self.out.write_all(end.as_bytes())?;
        }
        self.out.flush()
    }
}

/// One object file to report: where it is, how wide its addresses are, and its bytes.
pub(super) struct Object<'a> {
    pub(super) file: &'a str,
    pub(super) member: Option<&'a str>,
    /// Address width in hex digits.
    pub(super) digits: usize,
    pub(super) data: &'a [u8],
    /// The end address of each section a synthetic symbol is in, by section index.
    pub(super) synthetic_ends: Vec<(u32, u64)>,
    /// The order to print the symbols in, when they are already those kept ([`keep`]) and
    /// sorted.
    pub(super) kept_in_order: Option<Vec<u32>>,
    /// The names demangled ahead, with -C.
    pub(super) ahead: Option<&'a Ahead<'a>>,
}

/// What [`Printer::ahead_work`] hands to every core: a table, and what to do with it
/// ([`ahead::Task`]); the demangled pieces are of `per_piece` names each.
pub(super) struct AheadWork<'d> {
    pub(super) reader: symbols::Reader<'d>,
    pub(super) tasks: Vec<ahead::Task>,
    pub(super) per_piece: usize,
    /// The tasks sort the whole table: [`ahead::report`] reports it.
    pub(super) sorts: bool,
}
