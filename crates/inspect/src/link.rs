//! `polylink link -- COMMAND…`: the link doctor for a command as the user typed it.
//!
//! The command (gcc, cc, g++, clang or plain ld, with their usual options) is read into the
//! inputs ld would see ([`command`]); GNU ld's resolution is replayed over them from their
//! symbol tables ([`crate::link_order`]); and, unless told not to, the real command runs into a
//! temporary output, whose verdict is the truth. Every problem gets a kind, the symbols it
//! involves (demangled, with the raw name), who needs them and where they are defined, and a
//! fix in plain words ([`problems`]). When the replay finds an order that links, the fix is also
//! a whole command in the user's own syntax, which has really linked before it is printed.

mod command;
mod libraries;
mod problems;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use command::{LinkCommand, Linker};
pub use problems::Problem;

use crate::link_order::{self, Item, Line, LineError};
use crate::scratch::Scratch;
use crate::{Error, Result, System};

/// A command that cannot be read as a link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no link command given: write it after `--`, as `polylink link -- gcc -o main main.o`")]
    Empty,
    #[error(
        "`{program}` is not a linker polylink knows: give a gcc, cc, g++, clang or ld command line"
    )]
    UnknownLinker { program: String },
    #[error("{option} needs a value after it")]
    MissingValue { option: String },
    #[error("{file} is a source file, which ld cannot link: compile it first (`-c`)")]
    Source { file: String },
}

/// How to run the doctor.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Print one JSON object instead of the report.
    pub json: bool,
    /// Do not run the real command (nor the fixed one): the replay's verdict is all there is.
    pub no_run: bool,
    /// Where to write the dependency graph in Graphviz format.
    pub dot: Option<PathBuf>,
    /// For Rust staticlibs that each carry their own std: isolate them into this directory and
    /// propose the command that uses them.
    pub fix_isolate: Option<PathBuf>,
}

/// The doctor's verdict, as `--json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub links: bool,
    pub problems: Vec<Problem>,
    /// A command that links, in the user's own syntax.
    pub fixed: Option<Vec<String>>,
}

/// What the real linker did with a command.
struct Ran {
    links: bool,
    stderr: String,
    took: Duration,
}

/// Reads, replays, runs and explains `argv`; writes the report (or JSON) to `out`.
pub fn run(
    argv: &[String],
    options: &Options,
    system: &dyn System,
    out: &mut impl Write,
) -> Result<Verdict> {
    let command = LinkCommand::parse(argv)?;
    let scratch = Scratch::new("link")?;
    let real = match options.no_run {
        true => None,
        false => {
            let started = Instant::now();
            let (links, stderr) = system.run(&command.with_output(&scratch.path("a.out")))?;
            Some(Ran {
                links,
                stderr,
                took: started.elapsed(),
            })
        }
    };
    let (program, cc) = match &command.linker {
        Linker::Driver { program, .. } => (Some(program.clone()), true),
        Linker::Ld => (None, false),
    };
    // Sources on the line are compiled first, into the scratch directory, as the driver would.
    let mut inputs = command.inputs.clone();
    let mut compiled: Vec<(String, String)> = Vec::new();
    let mut compile_failed = None;
    for &at in &command.sources {
        let source = &command.inputs[at];
        let file_name = std::path::Path::new(source)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let object = scratch.path(&format!("{}-{file_name}.o", compiled.len()));
        let mut argv: Vec<String> = vec![program.clone().unwrap_or_default()];
        argv.extend(command.compile_args.iter().cloned());
        argv.extend(["-c".to_owned(), source.clone(), "-o".into(), object.clone()]);
        let (ok, stderr) = system.run(&argv)?;
        if !ok {
            compile_failed = Some(problems::compile_error(source, &stderr));
            break;
        }
        inputs[at] = object.clone();
        compiled.push((object, source.clone()));
    }
    let line_options = link_order::Options {
        dot: None,
        cc,
        cc_args: command.driver_args.clone(),
        driver: program,
        inputs,
    };
    let mut text = String::new();
    let mut problems = Vec::new();
    let mut fixed = None;
    let replay_started = Instant::now();
    let mut replay_took = None;
    let read = match compile_failed {
        Some(problem) => {
            problems.push(problem);
            Err(Error::EmptyCommand)
        }
        None => Line::read(&line_options, system),
    };
    let replay_links = match read {
        Err(Error::EmptyCommand) => None,
        Ok(line) => {
            let report = link_order::diagnose(&line);
            replay_took = Some(replay_started.elapsed());
            problems = problems::classify(&line, &report, &command);
            libraries::name_missing(&mut problems, system)?;
            problems = problems::merge_same_story(problems);
            if let Some(p) = problems::dynamic_linker(&line, &command) {
                problems.push(p);
            }
            text.push_str(&report.account);
            if let Some(path) = &options.dot {
                crate::write_atomic(path, link_order::dot(&line).as_bytes())?;
            }
            let staticlibs = colliding_staticlibs(&line, &report);
            if !staticlibs.is_empty() {
                name_staticlibs(&mut problems, &staticlibs);
                if let Some(dir) = &options.fix_isolate {
                    fixed = Some(isolated_command(&command, &staticlibs, dir, system)?);
                }
            }
            if !report.links && fixed.is_none() {
                fixed = fix(&command, &line, &report).map(|argv| {
                    argv.into_iter()
                        .map(|w| match compiled.iter().find(|(o, _)| *o == w) {
                            Some((_, source)) => source.clone(),
                            None => w,
                        })
                        .collect()
                });
            }
            Some(report.links)
        }
        Err(Error::Line(fault @ LineError::NotFound { .. })) => {
            problems.push(problems::missing_file(&fault.to_string()));
            None
        }
        Err(Error::File { file, fault }) if fault.0.contains("No such file") => {
            problems.push(problems::missing_file(&format!("{file}: {fault}")));
            None
        }
        Err(other) => return Err(other),
    };
    if let Some(ran) = &real {
        problems.extend(problems::from_linker(&ran.stderr));
    }
    // When the fix is a flag rather than an order, the command with that flag; a hazard in a
    // command that links has its fix too.
    if fixed.is_none() {
        fixed = flag_fix(&command, &problems);
    }
    // A fix has really linked before it is printed.
    if let (Some(argv), false) = (&fixed, options.no_run) {
        let argv_out = LinkCommand::parse(argv)?.with_output(&scratch.path("a.out"));
        let (links, stderr) = system.run(&argv_out)?;
        if !links {
            text.push_str(&format!(
                "\nThe order the replay proposes did not link with the real linker, so it is not \
                 offered:\n{}",
                stderr.trim_end()
            ));
            fixed = None;
        }
    }
    let links = match (&real, replay_links) {
        (Some(ran), _) => ran.links,
        (None, Some(links)) => links,
        (None, None) => false,
    };
    if let (Some(ran), Some(replayed)) = (&real, replay_links)
        && ran.links != replayed
        && (ran.links || !problems.iter().any(Problem::from_linker))
    {
        problems.push(problems::disagreement(replayed, &ran.stderr));
    }
    // The scratch objects of the sources are named as the sources, in what a person reads.
    for (object, source) in &compiled {
        text = text.replace(object.as_str(), source);
        for p in &mut problems {
            p.message = p.message.replace(object.as_str(), source);
            p.fix = p.fix.replace(object.as_str(), source);
        }
    }
    let verdict = Verdict {
        links,
        problems,
        fixed,
    };
    if options.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&verdict).map_err(std::io::Error::other)?
        )?;
    } else {
        print(out, &verdict, &text, real.as_ref())?;
        if let Some(replay) = replay_took {
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
            match &real {
                Some(ran) => writeln!(
                    out,
                    "\nTimes, side by side in this run: the replay {}, the real link {}.",
                    ms(replay),
                    ms(ran.took)
                )?,
                None => writeln!(out, "\nThe replay took {}.", ms(replay))?,
            }
        }
    }
    Ok(verdict)
}

/// The report for a person: the verdict, the replay's account, each problem, the fix.
fn print(out: &mut impl Write, v: &Verdict, replay: &str, real: Option<&Ran>) -> Result<()> {
    let how = match real {
        Some(_) => "the linker says so",
        None => "by the replay; the command was not run",
    };
    if v.links {
        writeln!(out, "The command links ({how}).")?;
    } else {
        writeln!(out, "The command does not link ({how}).")?;
    }
    if let Some(ran) = real
        && !ran.stderr.trim().is_empty()
    {
        writeln!(out, "\nThe linker said:")?;
        for line in ran.stderr.trim_end().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if !replay.is_empty() {
        writeln!(out, "\nThe replay of GNU ld's resolution:")?;
        for line in replay.trim_end().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    for p in &v.problems {
        writeln!(out, "\nproblem [{}]: {}", p.kind, p.message)?;
        writeln!(out, "  fix: {}", p.fix)?;
    }
    if let Some(fixed) = &v.fixed {
        let words: Vec<String> = fixed
            .iter()
            .map(|w| polylink_cmd::shell_quote(w).into_owned())
            .collect();
        writeln!(out, "\nfixed: {}", words.join(" "))?;
    } else if !v.links {
        writeln!(
            out,
            "\nNo fixed command: each fix above changes a source file or an input, not the command line."
        )?;
    }
    Ok(())
}

/// The user's command with its inputs in the order the replay proposes, written in the user's
/// own syntax: `-l` names kept, a group as `-Wl,--start-group … -Wl,--end-group` for a driver,
/// and nothing the driver adds by itself.
fn fix(command: &LinkCommand, line: &Line, report: &link_order::Report) -> Option<Vec<String>> {
    let minimal = link_order::minimal(line);
    let items = minimal
        .as_ref()
        .or(report.proposal_items.as_ref())
        .or(report.repeated_items.as_ref())?;
    let (start, end) = match command.linker {
        Linker::Driver { .. } => ("-Wl,--start-group", "-Wl,--end-group"),
        Linker::Ld => ("--start-group", "--end-group"),
    };
    // The user's input words in the proposed order, each argument once per place.
    let mut words: Vec<String> = Vec::new();
    let push = |word: &str, words: &mut Vec<String>| {
        if words.last().map(String::as_str) != Some(word) {
            words.push(word.to_owned());
        }
    };
    for item in items {
        match item {
            Item::One(i) => {
                let (arg, system) = line.input_arg(*i);
                if !system {
                    push(arg, &mut words);
                }
            }
            Item::Group(members) => {
                let user: Vec<&str> = members
                    .iter()
                    .map(|&i| line.input_arg(i))
                    .filter(|(_, system)| !system)
                    .map(|(arg, _)| arg)
                    .collect();
                if user.is_empty() {
                    continue;
                }
                // One argument a linker script expanded into a group (`-lc`) stays one word.
                if user.iter().all(|arg| *arg == user[0]) {
                    push(user[0], &mut words);
                    continue;
                }
                push(start, &mut words);
                for arg in user {
                    push(arg, &mut words);
                }
                push(end, &mut words);
            }
        }
    }
    // The input words of the user's command that name files or libraries (`-l`, paths), in
    // their places; the proposed words go into those places, in order.
    let slots: Vec<usize> = command
        .inputs
        .iter()
        .zip(&command.positions)
        .filter(|(input, _)| !input.starts_with('-') || input.starts_with("-l"))
        .map(|(_, &at)| at)
        .collect();
    let mut argv: Vec<String> = Vec::new();
    let mut proposed = words.into_iter();
    let mut slot = 0;
    for (at, word) in command.argv.iter().enumerate() {
        if slots.get(slot) == Some(&at) {
            slot += 1;
            // `-l NAME` as two words: the name goes with its option.
            if word == "-l" {
                continue;
            }
            if slot == slots.len() {
                argv.extend(proposed.by_ref());
            } else if let Some(next) = proposed.next() {
                argv.push(next);
            }
        } else if at > 0 && command.argv[at - 1] == "-l" && slots.contains(&(at - 1)) {
            continue;
        } else {
            argv.push(word.clone());
        }
    }
    Some(argv)
}

/// The user's command with what the problems call for besides an order: the system libraries
/// that define what is missing, `-nostartfiles` for a program with its own `_start`, `-lstdc++`
/// for C++ linked by a C driver, `-no-pie` for code that cannot be position-independent, the
/// dynamic linker plain ld was not told.
fn flag_fix(command: &LinkCommand, problems: &[Problem]) -> Option<Vec<String>> {
    if problems.iter().any(|p| p.kind == "missing-dynamic-linker") {
        let mut argv = command.argv.clone();
        argv.insert(1, "--dynamic-linker".into());
        argv.insert(2, crate::DYNAMIC_LINKER.into());
        return Some(argv);
    }
    let Linker::Driver { .. } = command.linker else {
        return None;
    };
    let has = |kind: &str| problems.iter().any(|p| p.kind == kind);
    let mut argv = command.argv.clone();
    let libraries: Vec<String> = problems
        .iter()
        .filter(|p| matches!(p.kind, "missing-library" | "missing-native-libs"))
        .filter_map(|p| p.fix.split('`').nth(1).map(str::to_owned))
        .collect();
    if !libraries.is_empty() {
        for lib in libraries {
            if !argv.contains(&lib) {
                argv.push(lib);
            }
        }
    } else if has("duplicate-start") {
        argv.insert(1, "-nostartfiles".into());
    } else if has("missing-cxx-runtime") {
        argv.push("-lstdc++".into());
    } else if has("plt-needed") || has("pie-absolute-reloc") {
        argv.insert(1, "-no-pie".into());
    } else {
        return None;
    }
    Some(argv)
}

/// The Rust staticlibs (as the user named them) whose std collides with another's.
fn colliding_staticlibs(line: &Line, report: &link_order::Report) -> Vec<String> {
    let mut libs: Vec<String> = Vec::new();
    for (sym, first, second) in &report.multiple {
        if !problems::rust_runtime(sym) {
            continue;
        }
        for unit in [first, second] {
            if let Some(arg) = line.arg_of_unit(unit)
                && !libs.contains(&arg)
            {
                libs.push(arg);
            }
        }
    }
    libs
}

/// Says in the duplicate-rust-runtime problem which staticlibs collide and how to isolate them.
fn name_staticlibs(problems: &mut [Problem], staticlibs: &[String]) {
    for p in problems
        .iter_mut()
        .filter(|p| p.kind == "duplicate-rust-runtime")
    {
        p.message = format!(
            "{} each carry their own copy of Rust's std, and both copies are linked: {}",
            staticlibs.join(" and "),
            p.message
        );
        p.fix = format!(
            "isolate each (`polylink isolate {} -o …`): only its C surface stays global, and \
             each library keeps its own std; `polylink link --fix-isolate DIR -- …` does it and \
             checks the command",
            staticlibs[0]
        );
    }
}

/// Isolates `staticlibs` into `dir` and returns the command with the isolated archives in
/// their places.
fn isolated_command(
    command: &LinkCommand,
    staticlibs: &[String],
    dir: &std::path::Path,
    system: &dyn System,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|cause| Error::Write {
        path: dir.to_path_buf(),
        cause,
    })?;
    let mut argv = command.argv.clone();
    for lib in staticlibs {
        let input = std::path::Path::new(lib);
        let stem = input.file_stem().unwrap_or_default().to_string_lossy();
        let output = dir.join(format!("{stem}-isolated.a"));
        crate::isolate::isolate(
            input,
            &output,
            &crate::isolate::Options::default(),
            system,
            &mut std::io::sink(),
        )?;
        for word in argv.iter_mut().filter(|w| *w == lib) {
            *word = output.display().to_string();
        }
    }
    Ok(argv)
}
