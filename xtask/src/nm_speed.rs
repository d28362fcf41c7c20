//! `cargo xtask nm-speed`: `polylink nm` against GNU nm, side by side in one run.
//!
//! The inputs are the release staticlib of `fixtures/nm-speed` (a crate with regex,
//! serde_json, toml and clap: about 30 MB and 20 000 symbols), with and without `-C`, and the
//! system's C++ library `libstdc++.so.6` with `-D` and `-D -C` (6 000 C++ names); or any file
//! given, with and without `-C`. Both tools run as processes, ours as the release build of the
//! `polylink` command, alternating round by round, so that a noisy machine slows both alike.
//! Each row gives both medians and both maxima; the target holds when the ratio of the medians
//! and the ratio of the maxima both reach it. Before timing, both outputs must be identical.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::plan::Layout;

/// How much faster ours must be, as the inspection issue asks.
pub const TARGET_RATIO: f64 = 2.0;

/// One file with one option set, timed both ways.
#[derive(Debug)]
pub struct Row {
    /// The file, as shown.
    pub input: String,
    pub options: &'static str,
    pub gnu: Times,
    pub ours: Times,
}

/// A tool's median and slowest round.
#[derive(Clone, Copy, Debug)]
pub struct Times {
    pub median: Duration,
    pub max: Duration,
}

impl Row {
    /// GNU's median over ours.
    pub fn ratio(&self) -> f64 {
        self.gnu.median.as_secs_f64() / self.ours.median.as_secs_f64()
    }

    /// GNU's slowest round over ours.
    pub fn max_ratio(&self) -> f64 {
        self.gnu.max.as_secs_f64() / self.ours.max.as_secs_f64()
    }

    pub fn met(&self) -> bool {
        self.ratio() >= TARGET_RATIO && self.max_ratio() >= TARGET_RATIO
    }
}

/// What was measured.
#[derive(Debug)]
pub struct Report {
    pub rounds: usize,
    pub rows: Vec<Row>,
}

/// One input and the option sets it is timed with.
struct Input {
    path: PathBuf,
    sets: Vec<(&'static str, &'static [&'static str])>,
}

/// Builds what is needed (the fixture unless `file` is given, and the release `polylink`), checks
/// that both tools print the same on every input, and times them over `rounds` rounds.
pub fn run(ctx: &Ctx, file: Option<&Path>, rounds: usize) -> Result<Report> {
    let (root, verbose) = (ctx.root.as_path(), ctx.verbose);
    let layout = Layout::new(root, None);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Cmd::new(&cargo)
        .args(["build", "--release", "--quiet", "--package", "polylink-cli"])
        .cwd(root);
    if file.is_none() {
        build = build.args(["--package", "polylink-nm-fixture"]);
    }
    build.run(verbose)?;
    let release = layout.cargo_target.join("release");
    let inputs = match file {
        Some(file) => vec![Input {
            path: file.to_path_buf(),
            sets: vec![("default", &[]), ("-C", &["-C"])],
        }],
        None => vec![
            Input {
                path: release.join("libpolylink_nm_fixture.a"),
                sets: vec![("default", &[]), ("-C", &["-C"])],
            },
            Input {
                path: cpp_library(verbose)?,
                sets: vec![("-D", &["-D"]), ("-D -C", &["-D", "-C"])],
            },
        ],
    };
    let ours = release.join("polylink");

    let gnu_nm = |file: &Path, options: &[&str]| {
        Cmd::new("nm")
            .args(["--plugin", "/dev/null"])
            .args(options.iter().copied())
            .arg(file)
            .env("LC_ALL", "C")
            .install_hint(crate::platform::install_hint("binutils"))
    };
    let our_nm = |file: &Path, options: &[&str]| {
        Cmd::new(ours.display().to_string())
            .arg("nm")
            .args(options.iter().copied())
            .arg(file)
    };
    for input in &inputs {
        std::fs::metadata(&input.path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.path.display()))?;
        for &(name, options) in &input.sets {
            let theirs = gnu_nm(&input.path, options).output(verbose)?;
            let mine = our_nm(&input.path, options).output(verbose)?;
            if theirs.stdout != mine.stdout {
                let at = theirs
                    .stdout
                    .split(|&b| b == b'\n')
                    .zip(mine.stdout.split(|&b| b == b'\n'))
                    .position(|(a, b)| a != b)
                    .map_or_else(
                        || "in length".to_owned(),
                        |line| format!("at line {}", line + 1),
                    );
                bail!(
                    "{}: GNU nm and ours differ with {name} options, {at}; times of different \
                     outputs say nothing",
                    input.path.display()
                );
            }
            if !mine.status.success() {
                let said = String::from_utf8_lossy(&mine.stderr);
                bail!(
                    "our nm failed on {}: {}",
                    input.path.display(),
                    said.trim_end().trim_start_matches("error: ")
                );
            }
        }
    }

    // Each round starts the clock before the process is spawned and stops it once it has
    // exited and its output has been read.
    let time = |cmd: &Cmd| -> Result<Duration> {
        let started = Instant::now();
        cmd.output(false)?;
        Ok(started.elapsed())
    };
    let mut rows = Vec::new();
    for input in &inputs {
        let shown = crate::cmd::relative_to(&input.path, root)
            .display()
            .to_string();
        for &(name, options) in &input.sets {
            let (theirs, mine) = (gnu_nm(&input.path, options), our_nm(&input.path, options));
            let mut gnu = Vec::with_capacity(rounds);
            let mut ours = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                gnu.push(time(&theirs)?);
                ours.push(time(&mine)?);
            }
            rows.push(Row {
                input: shown.clone(),
                options: name,
                gnu: summary(gnu),
                ours: summary(ours),
            });
        }
    }
    Ok(Report { rounds, rows })
}

/// The system's `libstdc++.so.6`, where the C++ compiler finds it.
fn cpp_library(verbose: bool) -> Result<PathBuf> {
    let said = Cmd::new("g++")
        .arg("-print-file-name=libstdc++.so.6")
        .install_hint(crate::platform::install_hint("g++"))
        .output(verbose)?;
    let path = PathBuf::from(String::from_utf8_lossy(&said.stdout).trim());
    if !path.is_absolute() {
        bail!(
            "g++ does not know where libstdc++.so.6 is (it answered {})",
            path.display()
        );
    }
    Ok(path.canonicalize().unwrap_or(path))
}

fn summary(times: Vec<Duration>) -> Times {
    let (median, max) = crate::timing::median_max(&times);
    Times { median, max }
}

pub fn print(w: &mut impl Write, report: &Report) -> std::io::Result<()> {
    writeln!(
        w,
        "nm, GNU's against ours, both as processes, {} interleaved rounds (median / slowest):",
        report.rounds
    )?;
    writeln!(
        w,
        "  {:<40} {:<8} {:>17} {:>17} {:>13}  target",
        "file", "options", "GNU nm", "ours", "ratio"
    )?;
    let ms = |t: Duration| t.as_secs_f64() * 1e3;
    for row in &report.rows {
        let verdict = if row.met() { "met" } else { "MISSED" };
        writeln!(
            w,
            "  {:<40} {:<8} {:>6.1} / {:>5.1} ms {:>6.1} / {:>5.1} ms {:>5.2}× / {:>4.2}×  ≥ {TARGET_RATIO}× {verdict}",
            row.input,
            row.options,
            ms(row.gnu.median),
            ms(row.gnu.max),
            ms(row.ours.median),
            ms(row.ours.max),
            row.ratio(),
            row.max_ratio()
        )?;
    }
    writeln!(w, "  (outputs checked identical before timing)")
}

/// `cargo xtask nm-speed [--rounds N] [FILE]`.
pub fn task(ctx: &Ctx, rounds: usize, file: Option<&Path>) -> Result<()> {
    let file = file.map(std::path::absolute).transpose()?;
    let report = run(ctx, file.as_deref(), rounds)?;
    print(&mut std::io::stdout().lock(), &report)?;
    Ok(())
}
