//! `cargo xtask link-demo`: links c-main with the archive before the objects that need it,
//! shows the linker's "undefined reference" error, explains it from the symbol tables of the
//! inputs, hands the same command to `polylink link`, and links the fixed command it prints.
//!
//! GNU ld reads its inputs once, left to right, and takes a member out of an archive only to
//! define a symbol that is undefined at that moment. An archive named before the objects that
//! need it therefore contributes nothing.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::link_order;
use crate::manifest::Manifest;

/// What the demonstration found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The symbols the linker reported undefined in the wrong order.
    pub undefined: BTreeSet<String>,
    /// Whether the right order linked.
    pub right_order_links: bool,
}

/// Runs the demonstration, writing the story to `w`. It went as GNU ld behaves when the wrong
/// order fails with undefined references and the right order links.
pub fn run(ctx: &Ctx, manifest: &Manifest, cc: &str, w: &mut impl Write) -> Result<Verdict> {
    let verbose = ctx.verbose;
    let need = |o: Option<&crate::manifest::Artifact>, what: &str| {
        o.map(|a| a.path.clone())
            .with_context(|| format!("the build manifest lists no {what}"))
    };
    let objects = vec![
        need(manifest.object("c-main.o"), "c-main.o")?,
        need(manifest.object("tour.o"), "tour.o")?,
    ];
    let archive = need(manifest.staticlib("libpolylink.a"), "libpolylink.a")?;
    let demo = manifest.out_dir.join("demo");
    std::fs::create_dir_all(&demo)
        .with_context(|| format!("could not create {}", demo.display()))?;
    let show = |p: &Path| {
        p.strip_prefix(&manifest.root)
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let wrong_argv: Vec<String> = [cc.to_owned(), "-o".into(), show(&demo.join("wrong-order"))]
        .into_iter()
        .chain(std::iter::once(&archive).chain(&objects).map(|p| show(p)))
        .chain(manifest.native_static_libs.iter().cloned())
        .collect();
    let wrong = Cmd::new(cc).args(&wrong_argv[1..]).cwd(&manifest.root);
    writeln!(
        w,
        "The wrong order: the archive before the objects that need it"
    )?;
    writeln!(w, "  $ {wrong}")?;
    let output = wrong.output(verbose)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    writeln!(
        w,
        "  {}; the linker said:",
        describe_status(output.status.code())
    )?;
    for line in stderr.lines() {
        writeln!(w, "    {line}")?;
    }
    let undefined = undefined_references(&stderr);

    // Who needs each symbol and who defines it, from the same replay `link-order` runs.
    let line = link_order::Line::read(
        &link_order::Options {
            inputs: std::iter::once(&archive)
                .chain(&objects)
                .map(|p| p.display().to_string())
                .collect(),
            ..link_order::Options::default()
        },
        &polylink_inspect::Host,
    )?;
    let report = link_order::diagnose(&line);
    writeln!(w)?;
    writeln!(
        w,
        "Why: GNU ld reads its inputs once, left to right, and takes a member out of an"
    )?;
    writeln!(
        w,
        "archive only to define a symbol that is undefined at that moment."
    )?;
    writeln!(
        w,
        "  1. {} came first. Nothing was undefined yet, so ld took none of its members.",
        show(&archive)
    )?;
    writeln!(
        w,
        "  2. {} came next and left {} symbols undefined that no later input defines:",
        objects
            .iter()
            .map(|o| show(o))
            .collect::<Vec<_>>()
            .join(" and "),
        undefined.len()
    )?;
    let width = undefined.iter().map(String::len).max().unwrap_or(0);
    for symbol in &undefined {
        let story = report.undefined.iter().find(|u| &u.symbol == symbol);
        let needed_by: Vec<String> = story
            .map(|u| {
                u.needed_by
                    .iter()
                    .map(|n| file_name(Path::new(n)))
                    .collect()
            })
            .unwrap_or_default();
        let defined_by = story.and_then(|u| u.defined_in.first()).map_or_else(
            || "no input of this link".to_owned(),
            |(unit, _)| file_name(Path::new(unit)),
        );
        writeln!(
            w,
            "       {symbol:width$}  needed by {}, defined in {defined_by}",
            needed_by.join(", ")
        )?;
    }

    // The same command handed to `polylink link`, whose fixed command is the order that works.
    writeln!(w)?;
    writeln!(w, "The same command, handed to polylink link:")?;
    writeln!(w, "  $ polylink link -- {wrong}")?;
    std::env::set_current_dir(&manifest.root)
        .with_context(|| format!("could not enter {}", manifest.root.display()))?;
    let mut report = Vec::new();
    let verdict = polylink_inspect::link::run(
        &wrong_argv,
        &polylink_inspect::link::Options::default(),
        &polylink_inspect::Host,
        &mut report,
    )?;
    for line in String::from_utf8_lossy(&report).lines() {
        writeln!(w, "    {line}")?;
    }
    let mut right_order_links = false;
    if let Some(fixed) = verdict.fixed {
        let mut fixed = fixed;
        if let Some(at) = fixed.iter().position(|a| a == "-o") {
            fixed[at + 1] = show(&demo.join("right-order"));
        }
        let right = Cmd::new(&fixed[0]).args(&fixed[1..]).cwd(&manifest.root);
        writeln!(w)?;
        writeln!(
            w,
            "Its fixed command, objects first, then the archive, then the system libraries:"
        )?;
        writeln!(w, "  $ {right}")?;
        right_order_links = match right.run(verbose) {
            Ok(_) => {
                writeln!(w, "  linked: {}", show(&demo.join("right-order")))?;
                true
            }
            Err(e) => {
                writeln!(w, "  it failed too: {e}")?;
                false
            }
        };
    }
    Ok(Verdict {
        undefined,
        right_order_links,
    })
}

fn describe_status(code: Option<i32>) -> String {
    match code {
        Some(0) => "it linked (GNU ld would not have: is this linker lld?)".into(),
        Some(code) => format!("it failed with exit status {code}"),
        None => "the linker was killed by a signal".into(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The symbols in GNU ld's "undefined reference to `name'" messages.
pub fn undefined_references(stderr: &str) -> BTreeSet<String> {
    stderr
        .split("undefined reference to `")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(name, _)| name.to_owned()))
        .collect()
}

/// `cargo xtask link-demo`: fails unless the linker behaved as GNU ld does.
pub fn task(ctx: &Ctx) -> Result<std::process::ExitCode> {
    let (plan, manifest) = crate::build::default_build(ctx)?;
    let verdict = run(ctx, &manifest, &plan.cc, &mut std::io::stdout())?;
    if verdict.undefined.is_empty() || !verdict.right_order_links {
        eprintln!("error: the linker did not behave as GNU ld does");
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_references_are_read_from_ld_messages() {
        let stderr = "/usr/bin/ld: tour.o: in function `tour_exports':\n\
                      tour.c:(.text+0x1a): undefined reference to `hello'\n\
                      tour.c:(.text+0x3c): undefined reference to `pl_sum8'\n\
                      tour.c:(.text+0x5c): undefined reference to `hello'\n\
                      collect2: error: ld returned 1 exit status\n";
        let found: Vec<_> = undefined_references(stderr).into_iter().collect();
        assert_eq!(found, ["hello", "pl_sum8"]);
    }
}
