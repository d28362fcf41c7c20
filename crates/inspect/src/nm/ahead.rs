//! Work ahead, for one large symbol table, on every core. In nm's default order: its names
//! sorted in parts straight from the table (round one); then the sorted parts merged and the
//! symbols read, demangled with `-C`, and written in that order: this thread from the first
//! line on, straight to the output, while another formats from the last line back, a chunk
//! at a time, until the two meet (round two; [`Ends`]). No symbol
//! is read before it is written, and the table is never held whole in memory: on a small VM,
//! each fresh page costs microseconds. Names demangled in sorted order follow one another
//! closely, and each parse picks up where the last one's parts agree (`nm/itanium.rs`).
//!
//! In other orders, with `-C`, the names are demangled ahead, in pieces, in the table's
//! order, while the calling thread reads and sorts the symbols; each line then takes its
//! name's spelling by the symbol's index instead of demangling it.
//!
//! Sorting and demangling need nothing but the names, which an entry's first field leads to
//! ([`Reader::name`]). What is kept is exactly what [`Demangler::demangle_name`] makes of each
//! name, so a line is spelled as it would be without it; and the order is the one
//! [`super::sort::sorted_order`] gives the symbols read.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use super::demangle::{Demangler, may_demangle};
use super::line::Lines;
use super::line::Spelled;
use super::parallel::in_two_rounds;
use super::sort::{AHEAD, BackMerge, FrontMerge, Named, part_by_name};
use super::{Format, Options};
use crate::symbols::Reader;

/// One task of round one.
#[derive(Debug)]
pub(super) enum Task {
    /// Sort these entries by name ([`part_by_name`]).
    Sort(std::ops::Range<usize>),
    Demangle(Demangled),
}

/// A task done.
#[derive(Debug)]
pub(super) enum Done<'d> {
    /// The entries by name, `None` when one does not read.
    Sorted(Option<Vec<Named<'d>>>),
    Demangled(Demangled),
}

/// Does `task` on `reader`'s table.
pub(super) fn run<'d>(reader: &Reader<'d>, task: Task, demangler: Demangler<'_>) -> Done<'d> {
    match task {
        Task::Sort(range) => Done::Sorted(part_by_name(reader, range)),
        Task::Demangle(piece) => Done::Demangled(demangle(reader, piece, demangler)),
    }
}

/// The tasks that sort `reader`'s table in `count` parts.
pub(super) fn sort_parts(reader: &Reader<'_>, count: usize) -> Vec<Task> {
    // The null symbol is no symbol.
    let entries = reader.len().saturating_sub(1);
    let per_part = entries.div_ceil(count.max(1)).max(1);
    (1..reader.len())
        .step_by(per_part)
        .map(|start| Task::Sort(start..(start + per_part).min(reader.len())))
        .collect()
}

/// What a table's report needs besides its symbols.
pub(super) struct Report<'a> {
    pub lines: Lines<'a>,
    pub options: &'a Options,
    /// The object's header, written before its first line.
    pub header: Vec<u8>,
    pub threads: usize,
}

/// Reports `reader`'s table to `out`, in two rounds ([`in_two_rounds`]), the first doing
/// `tasks` (which sort the whole table: [`sort_parts`]). Writes nothing and returns false when
/// an entry does not read, for the fault to be reported as [`crate::symbols::read_elf_with`]
/// finds it.
pub(super) fn report(
    out: &mut impl Write,
    line: &mut Vec<u8>,
    reader: &Reader<'_>,
    tasks: Vec<Task>,
    demangler: Demangler<'_>,
    report: &Report<'_>,
) -> io::Result<bool> {
    let ends = Ends::new(reader.len().saturating_sub(1));
    // The lines from the last back, a chunk at a time, formatted by the first of the other
    // threads, each chunk into a buffer of its own.
    let there = |rank: usize, done: &[&Done<'_>]| -> Option<Vec<Vec<u8>>> {
        let parts = sorted_parts(done).filter(|_| rank == 1)?;
        let mut merged = BackMerge::new(&parts);
        let (mut chunks, mut chunk, mut line) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(count) = ends.take_back() {
            chunk.clear();
            chunk.extend(merged.by_ref().take(count));
            chunk.reverse();
            // Room for every line at once (a demangled name is rarely twice the mangled one's
            // length): a buffer that grows copies itself and faults pages in.
            let names: usize = chunk.iter().map(|(name, _)| name.len()).sum();
            let mut buffer = Vec::with_capacity(2 * names + 48 * chunk.len());
            // Writing into a vector cannot fail.
            let _ = write(&mut buffer, &mut line, reader, &chunk, report);
            chunks.push(buffer);
        }
        Some(chunks)
    };
    // The lines from the first on, straight to the output, until the two meet.
    let here = |done: &[&Done<'_>], _others: usize| -> io::Result<bool> {
        let Some(parts) = sorted_parts(done) else {
            ends.give_up();
            return Ok(false);
        };
        out.write_all(&report.header)?;
        let mut merged = FrontMerge::new(&parts);
        let mut chunk = Vec::new();
        while let Some(count) = ends.take_front() {
            chunk.clear();
            chunk.extend(merged.by_ref().take(count));
            if let Err(fault) = write(out, line, reader, &chunk, report) {
                // Nothing more will be written: the other thread stops too.
                ends.give_up();
                return Err(fault);
            }
        }
        Ok(true)
    };
    let (written, chunks) = in_two_rounds(
        report.threads,
        tasks,
        |task| run(reader, task, demangler),
        there,
        here,
    );
    if written? {
        // Taken from the end back: written the other way round.
        for buffer in chunks.into_iter().flatten().flatten().rev() {
            out.write_all(&buffer)?;
        }
        return Ok(true);
    }
    Ok(false)
}

/// How many lines a thread takes at a time from its end of the table.
const CHUNK: usize = 256;

/// The lines of a table not yet taken, `front..back`: this thread takes them from the front,
/// another from the back, [`CHUNK`] at a time, until the two meet. Neither waits for the
/// other, and a thread held up (by the machine, or by slower lines) simply takes fewer.
struct Ends(AtomicU64);

impl Ends {
    fn new(lines: usize) -> Self {
        // A table has fewer than 2^32 symbols: it would take more than 64 GiB.
        Ends(AtomicU64::new(lines as u64 & u64::from(u32::MAX)))
    }

    /// Takes up to [`CHUNK`] lines from the front: how many, `None` when none is left.
    fn take_front(&self) -> Option<usize> {
        self.take(|front, back| {
            let count = (back - front).min(CHUNK as u64);
            (((front + count) << 32) | back, count)
        })
    }

    /// Takes up to [`CHUNK`] lines from the back.
    fn take_back(&self) -> Option<usize> {
        self.take(|front, back| {
            let count = (back - front).min(CHUNK as u64);
            ((front << 32) | (back - count), count)
        })
    }

    /// Leaves nothing to take.
    fn give_up(&self) {
        self.0.store(0, Ordering::Release);
    }

    fn take(&self, step: impl Fn(u64, u64) -> (u64, u64)) -> Option<usize> {
        let mut now = self.0.load(Ordering::Acquire);
        loop {
            let (front, back) = (now >> 32, now & u64::from(u32::MAX));
            if front >= back {
                return None;
            }
            let (next, count) = step(front, back);
            match self
                .0
                .compare_exchange_weak(now, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(count as usize),
                Err(seen) => now = seen,
            }
        }
    }
}

/// Reads and writes the symbols `entries` of `reader`'s table, those the options keep.
fn write<'d>(
    out: &mut impl Write,
    line: &mut Vec<u8>,
    reader: &Reader<'d>,
    entries: &[Named<'d>],
    report: &Report<'_>,
) -> io::Result<()> {
    let o = report.options;
    let symbols = entries
        .iter()
        .enumerate()
        .filter_map(|(k, &(name, index))| {
            // The entries are all over the table: each is asked for a few ahead.
            if let Some(&(name, index)) = entries.get(k + AHEAD) {
                reader.prefetch(index as usize);
                crate::symbols::prefetch(name.as_ptr());
            }
            // Every entry was read when the table was sorted.
            let symbol = reader.symbol_named(index as usize, name).ok().flatten()?;
            (o.keeps(&symbol) && o.keeps_sized(&symbol)).then_some((symbol, None))
        });
    report.lines.write(out, line, symbols, None)
}

/// When the options allow the work ahead: the sort is by name, the names read are the
/// table's (not with `-a`, which names section symbols after their sections, nor
/// `--synthetic`), and neither -l nor JSON. Only then is the symbol order the table's sorted.
pub(super) fn allowed(o: &Options, format: Format) -> bool {
    let by_name = !(o.no_sort || o.numeric_sort || o.reverse_sort || o.size_sort);
    by_name && !o.debug_syms && !o.synthetic && !o.line_numbers && format != Format::Json
}

/// The parts sorted in round one, in order; `None` when one could not be.
fn sorted_parts<'a, 'd>(done: &[&'a Done<'d>]) -> Option<Vec<&'a [Named<'d>]>> {
    done.iter()
        .filter_map(|done| match done {
            Done::Sorted(part) => Some(part.as_deref()),
            Done::Demangled(_) => None,
        })
        .collect()
}

/// The spellings of one symbol table's names, in pieces demangled apart.
#[derive(Debug, Default)]
pub(super) struct Ahead<'a> {
    /// The pieces, in the table's order, each of `per_piece` symbols (the last of fewer).
    pieces: Vec<&'a Demangled>,
    per_piece: usize,
}

/// One piece of a symbol table: its symbols `start..end` and their spellings.
#[derive(Debug, Default)]
pub(super) struct Demangled {
    start: usize,
    end: usize,
    /// For each symbol of the piece: where its spelling ends in `text` (it starts where the
    /// previous symbol's ends), with [`PLAIN`] set when its name does not demangle.
    ends: Vec<u32>,
    /// The spellings, one after another.
    text: Vec<u8>,
}

/// In [`Demangled::ends`]: a name that does not demangle (the end is then the previous one).
const PLAIN: u32 = 1 << 31;

/// The symbol table's pieces, not yet demangled: about `count` of them, each with room for
/// what it will hold, taken here, so that the threads that demangle them need not grow their
/// own heaps (each step of which, in a process with threads running on two CPUs, holds up the
/// other thread's page faults).
pub(super) fn pieces(names: &Reader<'_>, count: usize) -> (Vec<Demangled>, usize) {
    let per_piece = names.len().div_ceil(count.max(1)).max(1);
    let pieces = (0..names.len())
        .step_by(per_piece)
        .map(|start| {
            let end = (start + per_piece).min(names.len());
            Demangled {
                start,
                end,
                ends: Vec::with_capacity(end - start),
                // Most names of a large table are C++ names of some 60 bytes, and a demangled
                // name is rarely three times as long as its mangled one.
                text: Vec::with_capacity((end - start) * 128),
            }
        })
        .collect();
    (pieces, per_piece)
}

/// Demangles the names of `piece`'s symbols, as `demangler` spells them.
fn demangle(names: &Reader<'_>, mut piece: Demangled, demangler: Demangler<'_>) -> Demangled {
    for index in piece.start..piece.end {
        let name = names.name(index).unwrap_or_default();
        let demangled = may_demangle(name) && demangler.demangle_name(&mut piece.text, name);
        // Past 2 GiB of spellings, the ends no longer say where they are: nothing is known.
        let Ok(end) = u32::try_from(piece.text.len()) else {
            piece.ends.clear();
            break;
        };
        if end >= PLAIN {
            piece.ends.clear();
            break;
        }
        piece.ends.push(if demangled { end } else { end | PLAIN });
    }
    piece
}

impl<'a> Ahead<'a> {
    /// The spellings of the pieces [`pieces`] cut, from the tasks done, in order.
    pub(super) fn new(done: &[&'a Done<'_>], per_piece: usize) -> Self {
        let pieces = done
            .iter()
            .filter_map(|done| match done {
                Done::Demangled(piece) => Some(piece),
                Done::Sorted(_) => None,
            })
            .collect();
        Ahead { pieces, per_piece }
    }

    /// The spelling of symbol `index`'s name: `None` when it is not known (a synthetic
    /// symbol, or a piece that could not say).
    pub(super) fn spelled(&self, index: u32) -> Spelled<'a> {
        let index = usize::try_from(index).ok()?;
        let piece = self.pieces.get(index.checked_div(self.per_piece)?)?;
        let at = index.checked_sub(piece.start)?;
        let end = *piece.ends.get(at)?;
        if end & PLAIN != 0 {
            return Some(None);
        }
        let start = match at {
            0 => 0,
            _ => piece.ends[at - 1] & !PLAIN,
        };
        piece.text.get(start as usize..end as usize).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_ends_take_every_line_once() {
        for lines in [0, 1, CHUNK - 1, CHUNK, 10 * CHUNK + 7] {
            let ends = Ends::new(lines);
            let (front, back) = std::thread::scope(|scope| {
                let back = scope.spawn(|| std::iter::from_fn(|| ends.take_back()).sum::<usize>());
                let front = std::iter::from_fn(|| ends.take_front()).sum::<usize>();
                (front, back.join().unwrap())
            });
            assert_eq!(front + back, lines);
            assert_eq!(ends.take_front(), None);
        }
        let ends = Ends::new(3 * CHUNK);
        ends.give_up();
        assert_eq!(ends.take_back(), None);
    }
}
