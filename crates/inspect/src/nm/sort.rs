//! nm's orders (by name, by value, by size, reversed, or the table's), as an order of indexes:
//! the symbols themselves do not move, and a name sort goes eight bytes at a time.

use super::Options;
use crate::symbols::{Reader, Symbol};

/// nm's sorts, as the order in which to print `symbols`: by name (`strcmp` in the C locale),
/// or by value with undefined symbols first and ties by name; `-r` negates the comparison (the
/// sort stays stable, as glibc's qsort is here), and `-p` keeps the table's order.
pub(super) fn sorted_order(symbols: &[Symbol<'_>], o: &Options) -> Vec<u32> {
    // A table has fewer than 2^32 symbols: it would take more than 64 GiB.
    let order: Vec<u32> = (0..symbols.len() as u32).collect();
    if o.no_sort {
        return order;
    }
    let by_name = |a: &Symbol<'_>, b: &Symbol<'_>| a.name.cmp(b.name);
    if o.size_sort {
        // nm.c's `sort_symbols_by_size`: by value first (gnu_compiled and file names ahead of
        // the rest at one value), then only what has a size, by size, then by name; a
        // stable sort keeps the first order where both tie.
        let marked = |s: &Symbol<'_>| {
            let name = s.name;
            let compiled = name.windows(12).any(|w| w == b"gnu_compiled")
                || name.windows(13).any(|w| w == b"gcc2_compiled");
            let file = name.len() > 2
                && name[name.len() - 2] == b'.'
                && matches!(name[name.len() - 1], b'o' | b'a');
            (!compiled, !file)
        };
        let order = stable_sort(symbols, order, |a, b| {
            a.value
                .cmp(&b.value)
                .then_with(|| marked(a).cmp(&marked(b)))
                .then_with(|| by_name(a, b))
        });
        let by_size = |a: &Symbol<'_>, b: &Symbol<'_>| a.size.cmp(&b.size);
        return match o.reverse_sort {
            false => stable_sort(symbols, order, |a, b| {
                by_size(a, b).then_with(|| by_name(a, b))
            }),
            true => stable_sort(symbols, order, |a, b| {
                by_size(b, a).then_with(|| by_name(b, a))
            }),
        };
    }
    let by_value = |a: &Symbol<'_>, b: &Symbol<'_>| {
        match (a.is_undefined(), b.is_undefined()) {
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (true, true) => std::cmp::Ordering::Equal,
            (false, false) => a.value.cmp(&b.value),
        }
        .then_with(|| by_name(a, b))
    };
    match (o.numeric_sort, o.reverse_sort) {
        (false, false) => name_order(symbols),
        (false, true) => stable_sort(symbols, order, |a, b| by_name(b, a)),
        (true, false) => stable_sort(symbols, order, by_value),
        (true, true) => stable_sort(symbols, order, |a, b| by_value(b, a)),
    }
}

/// The order by name (stable: equal names keep the table's order), sorted eight bytes at a
/// time ([`by_name`]).
fn name_order(symbols: &[Symbol<'_>]) -> Vec<u32> {
    by_name(symbols.len(), |i| symbols[i as usize].name)
}

/// Entries `range` of a symbol table by name, ties by index, with their names: what
/// [`name_order`] does with the symbols read from them, from the names alone, so that parts
/// of the table can be sorted apart while nothing else is read. `None` when an entry does
/// not read.
pub(super) fn part_by_name<'d>(
    reader: &Reader<'d>,
    range: std::ops::Range<usize>,
) -> Option<Vec<Named<'d>>> {
    // Names are where the entries say, all over the string table: each is asked for a few
    // entries ahead, so that the waits for memory overlap.
    let names: Vec<&[u8]> = range
        .clone()
        .map(|index| {
            reader.prefetch_name(index + AHEAD);
            reader.name(index)
        })
        .collect::<Option<_>>()?;
    let order = by_name(names.len(), |i| names[i as usize]);
    // A table has fewer than 2^32 symbols: it would take more than 64 GiB.
    let first = range.start as u32;
    Some(
        order
            .into_iter()
            .map(|i| (names[i as usize], first + i))
            .collect(),
    )
}

/// How many entries ahead of the one read the next are asked for ([`Reader::prefetch`]).
pub(super) const AHEAD: usize = 8;

/// A table entry's name and index.
pub(super) type Named<'d> = (&'d [u8], u32);

/// The sorted `parts` merged, from the first entry on (by name, ties by index: the parts'
/// entries are all different).
pub(super) struct FrontMerge<'p, 'd> {
    parts: &'p [&'p [Named<'d>]],
    heads: Vec<usize>,
}

impl<'p, 'd> FrontMerge<'p, 'd> {
    pub(super) fn new(parts: &'p [&'p [Named<'d>]]) -> Self {
        FrontMerge {
            parts,
            heads: vec![0; parts.len()],
        }
    }
}

impl<'d> Iterator for FrontMerge<'_, 'd> {
    type Item = Named<'d>;

    fn next(&mut self) -> Option<Named<'d>> {
        let (parts, heads) = (self.parts, &mut self.heads);
        let (&entry, p) = (0..parts.len())
            .filter_map(|p| parts[p].get(heads[p]).map(|entry| (entry, p)))
            .min()?;
        heads[p] += 1;
        // The names are where the sort left them, half of them in another core's cache.
        if let Some((name, _)) = parts[p].get(heads[p] + AHEAD) {
            crate::symbols::prefetch(name.as_ptr());
        }
        Some(entry)
    }
}

/// The sorted `parts` merged, from the last entry back.
pub(super) struct BackMerge<'p, 'd> {
    parts: &'p [&'p [Named<'d>]],
    tails: Vec<usize>,
}

impl<'p, 'd> BackMerge<'p, 'd> {
    pub(super) fn new(parts: &'p [&'p [Named<'d>]]) -> Self {
        BackMerge {
            parts,
            tails: parts.iter().map(|part| part.len()).collect(),
        }
    }
}

impl<'d> Iterator for BackMerge<'_, 'd> {
    type Item = Named<'d>;

    fn next(&mut self) -> Option<Named<'d>> {
        let (parts, tails) = (self.parts, &mut self.tails);
        let (&entry, p) = (0..parts.len())
            .filter_map(|p| Some((&parts[p][tails[p].checked_sub(1)?], p)))
            .max()?;
        tails[p] -= 1;
        if let Some((name, _)) = tails[p].checked_sub(AHEAD + 1).map(|at| parts[p][at]) {
            crate::symbols::prefetch(name.as_ptr());
        }
        Some(entry)
    }
}

/// `0..count` ordered by `name` (`strcmp` in the C locale), ties by number: sorted by the
/// first eight bytes of each name as one number, then each run of equal numbers by the next
/// eight. C++ names share long prefixes (`_ZNSt7__cxx11…`), which a comparison sort compares
/// again and again.
fn by_name<'n>(count: usize, name: impl Fn(u32) -> &'n [u8] + Copy) -> Vec<u32> {
    // A table has fewer than 2^32 symbols: it would take more than 64 GiB.
    let mut keyed: Vec<(u64, u32)> = (0..count as u32)
        .map(|i| (eight_bytes(name(i), 0), i))
        .collect();
    sort_by_eight_bytes(&mut keyed, name, 0);
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Bytes `depth..depth + 8` of a name as a big-endian number, zeros past its end (a name holds
/// no zero byte, so a key ending in zero is the name's last).
fn eight_bytes(name: &[u8], depth: usize) -> u64 {
    let rest = name.get(depth..).unwrap_or_default();
    let mut bytes = [0; 8];
    let n = rest.len().min(8);
    bytes[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(bytes)
}

/// Sorts `run`, whose names agree before `depth`, by the bytes from `depth` on, ties by number.
fn sort_by_eight_bytes<'n>(
    run: &mut [(u64, u32)],
    name: impl Fn(u32) -> &'n [u8] + Copy,
    depth: usize,
) {
    if depth >= 256 {
        // Long shared prefixes are rare; compare the rest whole, without deeper recursion.
        run.sort_unstable_by(|&(_, a), &(_, b)| {
            name(a)[depth..].cmp(&name(b)[depth..]).then(a.cmp(&b))
        });
        return;
    }
    run.sort_unstable();
    let mut start = 0;
    while start < run.len() {
        let key = run[start].0;
        let end = start + run[start..].iter().take_while(|(k, _)| *k == key).count();
        if end - start > 1 && key & 0xff != 0 {
            for entry in &mut run[start..end] {
                entry.0 = eight_bytes(name(entry.1), depth + 8);
            }
            sort_by_eight_bytes(&mut run[start..end], name, depth + 8);
        }
        start = end;
    }
}

/// `order` (indexes into `symbols`) sorted stably by `compare`: ties keep their place in
/// `order`. Only the 8-byte pairs move, not the symbols.
fn stable_sort(
    symbols: &[Symbol<'_>],
    order: Vec<u32>,
    compare: impl Fn(&Symbol<'_>, &Symbol<'_>) -> std::cmp::Ordering,
) -> Vec<u32> {
    let mut placed: Vec<(u32, u32)> = (0..).zip(order).collect();
    placed.sort_unstable_by(|&(pa, a), &(pb, b)| {
        compare(&symbols[a as usize], &symbols[b as usize]).then(pa.cmp(&pb))
    });
    placed.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::{Table, read_elf_with};

    /// This test program's own symbol table: thousands of Rust names, many sharing long
    /// prefixes.
    fn own_table() -> Vec<u8> {
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    #[test]
    fn a_table_sorted_in_parts_and_merged_is_the_symbols_sorted() {
        let data = own_table();
        let reader = Reader::new(&data, Table::Static, false).unwrap().unwrap();
        let symbols = read_elf_with(&data, Table::Static, false).unwrap().unwrap();
        // The symbols read leave out section and file symbols: the order of the table's
        // entries is held to the symbols' order with those left out.
        let sorted: Vec<u32> = name_order(&symbols)
            .into_iter()
            .map(|i| symbols[i as usize].index)
            .collect();
        assert!(sorted.len() > 2000, "{} symbols", sorted.len());
        for count in [1, 2, 3, 8] {
            let per = (reader.len() - 1).div_ceil(count);
            let parts: Vec<Vec<Named<'_>>> = (1..reader.len())
                .step_by(per)
                .map(|start| part_by_name(&reader, start..(start + per).min(reader.len())))
                .collect::<Option<_>>()
                .unwrap();
            let parts: Vec<&[Named<'_>]> = parts.iter().map(Vec::as_slice).collect();
            let entries: usize = parts.iter().map(|p| p.len()).sum();
            for front in [0, 1, entries / 2, entries / 5 * 3, entries] {
                let mut merged: Vec<Named<'_>> = FrontMerge::new(&parts).take(front).collect();
                let mut back: Vec<Named<'_>> =
                    BackMerge::new(&parts).take(entries - front).collect();
                back.reverse();
                merged.extend(back);
                assert_eq!(merged.len(), entries);
                // What the read keeps, in the merged order, is the sorted symbols.
                let kept: Vec<u32> = merged
                    .iter()
                    .map(|&(_, index)| index)
                    .filter(|&index| reader.symbol(index as usize).unwrap().is_some())
                    .collect();
                assert!(kept == sorted, "{count} parts, {front} in front");
                for (&(name, index), _) in merged.iter().zip(0..) {
                    assert_eq!(reader.name(index as usize), Some(name));
                }
            }
        }
    }

    #[test]
    fn equal_names_keep_the_table_order_across_parts() {
        let parts: [&[Named<'_>]; 2] = [
            &[(b"a", 1), (b"same", 2), (b"same", 4)],
            &[(b"b", 5), (b"same", 6), (b"z", 7)],
        ];
        let whole: Vec<u32> = [1, 5, 2, 4, 6, 7].into();
        for front in 0..=6 {
            let mut merged: Vec<Named<'_>> = FrontMerge::new(&parts).take(front).collect();
            let mut back: Vec<Named<'_>> = BackMerge::new(&parts).take(6 - front).collect();
            back.reverse();
            merged.extend(back);
            let order: Vec<u32> = merged.iter().map(|&(_, i)| i).collect();
            assert_eq!(order, whole, "{front} in front");
        }
    }
}
