//! nm's orders (by name, by value, by size, reversed, or the table's), as an order of indexes:
//! the symbols themselves do not move, and a name sort goes eight bytes at a time.

use super::Options;
use crate::symbols::Symbol;

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
/// time: by the first eight as one number, then each run of equal numbers by the next eight.
/// C++ names share long prefixes (`_ZNSt7__cxx11…`), which a comparison sort compares again
/// and again.
fn name_order(symbols: &[Symbol<'_>]) -> Vec<u32> {
    let mut keyed: Vec<(u64, u32)> = (0..)
        .zip(symbols)
        .map(|(i, s)| (eight_bytes(s.name, 0), i))
        .collect();
    sort_by_eight_bytes(&mut keyed, symbols, 0);
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

/// Sorts `run`, whose names agree before `depth`, by the bytes from `depth` on, ties by index.
fn sort_by_eight_bytes(run: &mut [(u64, u32)], symbols: &[Symbol<'_>], depth: usize) {
    if depth >= 256 {
        // Long shared prefixes are rare; compare the rest whole, without deeper recursion.
        run.sort_unstable_by(|&(_, a), &(_, b)| {
            symbols[a as usize].name[depth..]
                .cmp(&symbols[b as usize].name[depth..])
                .then(a.cmp(&b))
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
                entry.0 = eight_bytes(symbols[entry.1 as usize].name, depth + 8);
            }
            sort_by_eight_bytes(&mut run[start..end], symbols, depth + 8);
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
