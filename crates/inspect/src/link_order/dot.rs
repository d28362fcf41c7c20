//! The dependency graph of a link line in Graphviz format.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::*;

/// The dependency graph in Graphviz format: inputs as nodes, and for each pair of inputs an
/// edge labelled with the symbols one needs from the other. The edges are those of every unit
/// the given order loads, or that one big group of all inputs would load: solid where the
/// given order resolves them, red and dashed where it leaves them undefined, grey where the
/// given order does not load the needing unit at all. The inputs the compiler driver added
/// (start files, libc, libgcc) are left out, unless an edge the given order leaves undefined
/// touches them.
pub fn dot(line: &Line) -> String {
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Style {
        Resolved,
        Undefined,
        NotLoaded,
    }
    let given = line.resolve(&line.items);
    let everything = vec![Item::Group((0..line.inputs.len()).collect())];
    let ideal = line.resolve(&everything);
    let mut units: Vec<UnitId> = given.order.clone();
    units.extend(ideal.order.iter().filter(|id| !given.loaded[id.0][id.1]));
    let mut edges: BTreeMap<(usize, usize, Style), Vec<String>> = BTreeMap::new();
    for id in units {
        let loaded = given.loaded[id.0][id.1];
        for &(sym, weak) in &line.unit(id).needs {
            let (target, style) = match (given.defined.get(&sym), ideal.defined.get(&sym)) {
                (Some(&(d, _)), _) if loaded => (Some(d.0), Style::Resolved),
                (_, Some(&(d, _))) if loaded => (Some(d.0), Style::Undefined),
                (_, Some(&(d, _))) => (Some(d.0), Style::NotLoaded),
                _ if weak || line.by_linker[sym as usize] => continue,
                _ if loaded => (None, Style::Undefined),
                _ => (None, Style::NotLoaded),
            };
            // Edges within one input say nothing about order.
            let to = target.unwrap_or(usize::MAX);
            if to != id.0 {
                edges
                    .entry((id.0, to, style))
                    .or_default()
                    .push(line.name(sym));
            }
        }
    }
    // The driver's inputs are shown only where a problem touches them.
    let shown: Vec<bool> = (0..line.inputs.len())
        .map(|i| {
            !line.inputs[i].system
                || edges
                    .keys()
                    .any(|&(f, t, s)| s == Style::Undefined && (f == i || t == i))
        })
        .collect();
    edges.retain(|&(from, to, _), _| shown[from] && (to == usize::MAX || shown[to]));
    let mut out = String::from(
        "digraph \"link-order\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (i, input) in line.inputs.iter().enumerate() {
        if !shown[i] {
            continue;
        }
        let shape = match input.kind {
            Kind::Object => "box",
            Kind::Archive => "folder",
            Kind::Shared => "component",
        };
        let style = if input.system { ", style=dashed" } else { "" };
        let _ = writeln!(
            out,
            "  n{i} [label=\"{}\", shape={shape}{style}];",
            escape(&input.shown)
        );
    }
    if edges.keys().any(|(_, to, _)| *to == usize::MAX) {
        out.push_str("  nowhere [label=\"defined by no input\", shape=octagon, color=red];\n");
    }
    for ((from, to, style), mut names) in edges {
        names.sort();
        names.dedup();
        let to = if to == usize::MAX {
            "nowhere".to_owned()
        } else {
            format!("n{to}")
        };
        let style = match style {
            Style::Resolved => "",
            Style::Undefined => ", color=red, fontcolor=red, style=dashed, penwidth=2",
            Style::NotLoaded => ", color=grey, fontcolor=grey",
        };
        let _ = writeln!(
            out,
            "  n{from} -> {to} [label=\"{}\"{style}];",
            escape(&label(&names))
        );
    }
    out.push_str("}\n");
    out
}

/// Up to four names, one per line, and how many more.
fn label(names: &[String]) -> String {
    let mut text = names.iter().take(4).cloned().collect::<Vec<_>>().join("\n");
    if names.len() > 4 {
        let _ = write!(text, "\n+{} more", names.len() - 4);
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
