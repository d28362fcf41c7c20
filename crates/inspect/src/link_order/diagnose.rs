//! The doctor's verdict on the given order: whether it links, who needs each undefined symbol
//! and where it is defined, what is defined twice, and the report as text.

use std::fmt::Write as _;

use super::model::*;
use super::propose::propose;

/// The doctor's findings for one line.
#[derive(Debug)]
pub struct Report {
    /// Whether the order as given links.
    pub links: bool,
    /// The symbols left strongly undefined, with who needs each and who defines it.
    pub undefined: Vec<Undefined>,
    /// Symbols defined twice: the name and both definers.
    pub multiple: Vec<(String, String, String)>,
    /// An order that links, as ld arguments (system inputs left out), when one was found.
    pub proposal: Option<String>,
    /// The same with archives named twice instead of a group, when that links too.
    pub repeated: Option<String>,
    /// Those two orders as items of the line, for writing them in the user's own syntax.
    pub(crate) proposal_items: Option<Vec<Item>>,
    pub(crate) repeated_items: Option<Vec<Item>>,
    /// Archives that need each other (each cycle, by name).
    pub cycles: Vec<Vec<String>>,
    /// The report as text.
    pub text: String,
    /// The same without the proposed order (which `polylink link` writes as a whole command).
    pub(crate) account: String,
}

/// One symbol the given order leaves undefined.
#[derive(Debug)]
pub struct Undefined {
    pub symbol: String,
    pub needed_by: Vec<String>,
    /// Where it is defined, and whether that input comes after the first reference.
    pub defined_in: Vec<(String, Whence)>,
    /// The inputs (by index in the line) that need it, and those that define it.
    pub(crate) needers: Vec<usize>,
    pub(crate) definers: Vec<usize>,
}

/// Where a definition stands relative to the first reference to the symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    Later,
    Earlier,
}

/// Replays the line's order, explains it, and proposes one that links.
pub fn diagnose(line: &Line) -> Report {
    let given = line.resolve(&line.items);
    let mut text = String::new();
    let mut undefined = Vec::new();
    for (&sym, by) in given.strongly_undefined() {
        let first = by.iter().map(|id| id.0).min().unwrap_or(0);
        let defined_in = line
            .definers(sym)
            .into_iter()
            .map(|id| {
                let whence = if id.0 > first {
                    Whence::Later
                } else {
                    Whence::Earlier
                };
                (line.unit(id).name.clone(), whence)
            })
            .collect();
        let mut needed_by: Vec<String> = by.iter().map(|id| line.unit(*id).name.clone()).collect();
        needed_by.dedup();
        let mut needers: Vec<usize> = by.iter().map(|id| id.0).collect();
        needers.dedup();
        let mut definers: Vec<usize> = line.definers(sym).into_iter().map(|id| id.0).collect();
        definers.dedup();
        undefined.push(Undefined {
            symbol: line.name(sym),
            needed_by,
            defined_in,
            needers,
            definers,
        });
    }
    let multiple: Vec<_> = given
        .multiple
        .iter()
        .map(|&(sym, a, b)| {
            (
                line.name(sym),
                line.unit(a).name.clone(),
                line.unit(b).name.clone(),
            )
        })
        .collect();

    let loaded_units: usize = given.order.len();
    if given.links() {
        let _ = writeln!(
            text,
            "This order links: ld would load {loaded_units} units."
        );
    } else {
        let _ = writeln!(
            text,
            "This order does not link: {} undefined, {} defined twice.",
            count(undefined.len(), "symbol"),
            count(multiple.len(), "symbol")
        );
    }
    for (index, input) in line.inputs.iter().enumerate() {
        if input.kind == Kind::Archive && !input.system {
            let pulled = given.loaded[index].iter().filter(|l| **l).count();
            let _ = writeln!(
                text,
                "  {}: {pulled} of {} members pulled in",
                input.shown,
                input.units.len()
            );
        }
    }
    if !undefined.is_empty() {
        let _ = writeln!(text, "\nUndefined, in the order as given:");
    }
    // Symbols with the same story are told once.
    let mut stories: Vec<(Vec<&str>, &Undefined)> = Vec::new();
    for u in &undefined {
        match stories
            .iter_mut()
            .find(|(_, v)| v.needed_by == u.needed_by && v.defined_in == u.defined_in)
        {
            Some((symbols, _)) => symbols.push(&u.symbol),
            None => stories.push((vec![&u.symbol], u)),
        }
    }
    for (symbols, u) in stories {
        let symbols: Vec<String> = symbols.iter().map(|s| crate::names::plain(s)).collect();
        let _ = writeln!(text, "  {}", symbols.join(", "));
        let _ = writeln!(text, "    needed by {}", u.needed_by.join(", "));
        if u.defined_in.is_empty() {
            let _ = writeln!(text, "    defined by no input: add the library that has it");
        }
        for (definer, whence) in &u.defined_in {
            let when = match whence {
                Whence::Later => "a later input: ld had not reached it when the symbol was needed",
                Whence::Earlier => "an input ld had already searched before the symbol was needed",
            };
            let _ = writeln!(text, "    defined in {definer}, {when}");
        }
    }
    for (symbol, first, second) in &multiple {
        let _ = writeln!(
            text,
            "\nMultiple definition of {}: first in {first}, again in {second}",
            crate::names::plain(symbol)
        );
    }

    let account = text.clone();
    let (proposal_items, repeated_items, cycles) = if given.links() {
        (None, None, Vec::new())
    } else {
        propose(line)
    };
    let proposal = proposal_items
        .as_deref()
        .map(|items| line.shown_items(items));
    let repeated = repeated_items
        .as_deref()
        .map(|items| line.shown_items(items));
    if !given.links() {
        if !cycles.is_empty() {
            for cycle in &cycles {
                let _ = writeln!(
                    text,
                    "\nThese archives need each other, so no order of single names links: {}",
                    cycle.join(", ")
                );
            }
        }
        match (&proposal, &repeated) {
            (Some(order), _) if cycles.is_empty() => {
                let _ = writeln!(text, "\nAn order that links:\n  {order}");
            }
            (Some(order), Some(twice)) => {
                let _ = writeln!(
                    text,
                    "\nGroup them (ld searches a group again until nothing new is pulled in):\n  {order}\nor name an archive twice:\n  {twice}"
                );
            }
            (Some(order), None) => {
                let _ = writeln!(
                    text,
                    "\nGroup them (ld searches a group again until nothing new is pulled in):\n  {order}"
                );
            }
            (None, _) => {
                let mut culprits: Vec<String> = undefined
                    .iter()
                    .filter(|u| u.defined_in.is_empty())
                    .map(|u| format!("{} is defined by no input", u.symbol))
                    .collect();
                culprits.extend(
                    multiple
                        .iter()
                        .map(|(symbol, _, _)| format!("{symbol} is defined twice")),
                );
                if culprits.is_empty() {
                    culprits.push("the archives pull in members that conflict".into());
                }
                let _ = writeln!(
                    text,
                    "\nNo order of these inputs links (with the archives grouped, in every order tried): {}.",
                    culprits.join("; ")
                );
            }
        }
    }
    Report {
        links: given.links(),
        undefined,
        multiple,
        proposal,
        repeated,
        proposal_items,
        repeated_items,
        cycles,
        text,
        account,
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
