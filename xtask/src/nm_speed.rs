//! `cargo xtask nm-speed`: `polylink nm` against GNU nm, side by side in one run.
//!
//! The input is the release staticlib of `fixtures/nm-speed` (a crate with regex, serde_json,
//! toml and clap: about 30 MB and 20 000 symbols), or any file given. Both tools run as
//! processes, ours as the release build of the `polylink` command, alternating round by round, so that a noisy
//! machine slows both alike; the figure is the ratio of the medians. Before timing, both
//! outputs must be identical.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::plan::Layout;

/// How much faster ours must be, as the inspection issue asks.
pub const TARGET_RATIO: f64 = 2.0;

/// One option set, timed both ways.
#[derive(Debug)]
pub struct Row {
    pub options: &'static str,
    pub gnu: Duration,
    pub ours: Duration,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.gnu.as_secs_f64() / self.ours.as_secs_f64()
    }
}

/// What was measured, on which file.
#[derive(Debug)]
pub struct Report {
    pub file: PathBuf,
    pub bytes: u64,
    pub symbols: usize,
    pub rows: Vec<Row>,
}

/// Builds what is needed (the fixture unless `file` is given, and the release `polylink`), checks
/// that both tools print the same, and times them over `rounds` rounds.
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
    let file = file.map_or_else(
        || release.join("libpolylink_nm_fixture.a"),
        Path::to_path_buf,
    );
    let ours = release.join("polylink");
    let bytes = std::fs::metadata(&file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .len();

    let gnu_nm = |options: &[&str]| {
        Cmd::new("nm")
            .args(["--plugin", "/dev/null"])
            .args(options.iter().copied())
            .arg(&file)
            .env("LC_ALL", "C")
            .install_hint(crate::platform::install_hint("binutils"))
    };
    let our_nm = |options: &[&str]| {
        Cmd::new(ours.display().to_string())
            .arg("nm")
            .args(options.iter().copied())
            .arg(&file)
    };
    let sets: [(&'static str, &[&str]); 2] = [("default", &[]), ("-C", &["-C"])];
    let mut symbols = 0;
    for (name, options) in sets {
        let theirs = gnu_nm(options).output(verbose)?;
        let mine = our_nm(options).output(verbose)?;
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
                file.display()
            );
        }
        if !mine.status.success() {
            let said = String::from_utf8_lossy(&mine.stderr);
            bail!(
                "our nm failed on {}: {}",
                file.display(),
                said.trim_end().trim_start_matches("error: ")
            );
        }
        symbols = mine
            .stdout
            .split(|&b| b == b'\n')
            .filter(|line| line.len() > 19 && line[16] == b' ' && line[18] == b' ')
            .count();
    }

    let time = |cmd: &Cmd| -> Result<Duration> {
        let started = Instant::now();
        cmd.output(false)?;
        Ok(started.elapsed())
    };
    let mut rows = Vec::new();
    for (name, options) in sets {
        let (theirs, mine) = (gnu_nm(options), our_nm(options));
        let mut gnu = Vec::with_capacity(rounds);
        let mut ours = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            gnu.push(time(&theirs)?);
            ours.push(time(&mine)?);
        }
        rows.push(Row {
            options: name,
            gnu: median(gnu),
            ours: median(ours),
        });
    }
    Ok(Report {
        file,
        bytes,
        symbols,
        rows,
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

pub fn print(w: &mut impl Write, report: &Report, shown: &Path) -> std::io::Result<()> {
    writeln!(
        w,
        "nm on {} ({:.1} MB, {} symbols), median of each, both as processes:",
        shown.display(),
        report.bytes as f64 / 1e6,
        report.symbols
    )?;
    writeln!(
        w,
        "  {:<9} {:>10} {:>10} {:>7}  target",
        "options", "GNU nm", "ours", "ratio"
    )?;
    for row in &report.rows {
        let verdict = if row.ratio() >= TARGET_RATIO {
            "met"
        } else {
            "MISSED"
        };
        writeln!(
            w,
            "  {:<9} {:>7.1} ms {:>7.1} ms {:>6.1}×  ≥ {TARGET_RATIO}× {verdict}",
            row.options,
            row.gnu.as_secs_f64() * 1e3,
            row.ours.as_secs_f64() * 1e3,
            row.ratio()
        )?;
    }
    writeln!(w, "  (outputs checked identical before timing)")
}

/// `cargo xtask nm-speed [--rounds N] [FILE]`.
pub fn task(ctx: &Ctx, rounds: usize, file: Option<&Path>) -> Result<()> {
    let file = file.map(std::path::absolute).transpose()?;
    let report = run(ctx, file.as_deref(), rounds)?;
    let shown = crate::cmd::relative_to(&report.file, &ctx.root).to_path_buf();
    print(&mut std::io::stdout().lock(), &report, &shown)?;
    Ok(())
}
