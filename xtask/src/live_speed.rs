//! `cargo xtask live-speed`: what `polylink live-patch` costs a running program, side by side
//! in one run.
//!
//! A single-threaded `gcc -O2` program calls `compute` and libc's `getpid` every millisecond.
//! Each round patches `compute` at its entry, undoes it, swaps the GOT cell of `getpid`, and
//! undoes that, with the release `polylink`. The total is the command's whole run, from
//! before it is spawned until it has exited (the new code runs from the next call on); the
//! pause is how long the process's threads were stopped for the jump, as the command measures
//! it; the swap is how long the one thread that stores the GOT cell's new value was held. Medians and maxima are given;
//! the targets (under 10 ms total, under 1 ms pause) are judged on the maxima.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use polylink_hot::live::Report as Patched;

use crate::Ctx;
use crate::cmd::Cmd;
use crate::plan::Layout;
use crate::timing::{max, median};

const HOST: &str = r#"
#include <unistd.h>
int scale = 3;
__attribute__((noinline)) long compute(long i) { return i * 2; }
int main(void) {
    volatile long sink = 0;
    for (long i = 0;; i++) { sink += compute(i) + getpid(); usleep(1000); }
}
"#;

/// The bounds the live-patching issue sets, for a single-threaded target.
pub const TOTAL_BOUND: Duration = Duration::from_millis(10);
pub const PAUSE_BOUND: Duration = Duration::from_millis(1);

/// What was measured, one entry per round.
#[derive(Debug, Default)]
pub struct Report {
    pub rounds: usize,
    pub entry_total: Vec<Duration>,
    pub entry_pause: Vec<Duration>,
    pub got_total: Vec<Duration>,
    pub got_swap: Vec<Duration>,
}

/// Builds the release `polylink` and the program, starts it, and patches it `rounds` times
/// each way.
pub fn run(ctx: &Ctx, rounds: usize) -> Result<Report> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Cmd::new(&cargo)
        .args(["build", "--release", "--quiet", "--package", "polylink-cli"])
        .cwd(&ctx.root)
        .run(ctx.verbose)?;
    let layout = Layout::new(&ctx.root, None);
    let polylink = layout.cargo_target.join("release/polylink");
    let dir = layout.cargo_target.join("polylink/live-speed");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("host.c"), HOST)?;
    std::fs::write(
        dir.join("compute.c"),
        "extern int scale; long compute(long i) { return i * 100 + scale; }\n",
    )?;
    std::fs::write(dir.join("getpid.c"), "int getpid(void) { return 4242; }\n")?;
    let gcc = |args: &[&str]| {
        Cmd::new("gcc")
            .args(args.iter().copied())
            .cwd(&dir)
            .run(ctx.verbose)
    };
    gcc(&["-O2", "host.c", "-o", "host"])?;
    gcc(&["-O2", "-c", "compute.c", "-o", "compute.o"])?;
    gcc(&["-O2", "-c", "getpid.c", "-o", "getpid.o"])?;
    let mut host = Cmd::new(dir.join("host").display().to_string()).spawn(ctx.verbose)?;
    let pid = host.id().to_string();
    let measured = measure(&polylink.display().to_string(), &pid, &dir, rounds);
    let _ = host.kill();
    let _ = host.wait();
    measured
}

fn measure(polylink: &str, pid: &str, dir: &std::path::Path, rounds: usize) -> Result<Report> {
    let live = |args: &[&str]| {
        Cmd::new(polylink)
            .arg("live-patch")
            .args(args.iter().copied())
            .cwd(dir)
    };
    let timed = |cmd: Cmd| -> Result<(Duration, Patched)> {
        let started = Instant::now();
        let output = cmd.run(false)?;
        let took = started.elapsed();
        let report = serde_json::from_slice(&output.stdout).context("reading live-patch --json")?;
        Ok((took, report))
    };
    let mut report = Report {
        rounds,
        ..Report::default()
    };
    for _ in 0..rounds {
        let (took, patched) = timed(live(&[
            "--json",
            "--pid",
            pid,
            "--function",
            "compute",
            "compute.o",
        ]))?;
        report.entry_total.push(took);
        report
            .entry_pause
            .push(Duration::from_secs_f64(patched.pause_us / 1e6));
        live(&["--pid", pid, "--undo", "compute"]).run(false)?;
        let (took, swapped) = timed(live(&[
            "--json",
            "--via",
            "got",
            "--pid",
            pid,
            "--function",
            "getpid",
            "getpid.o",
        ]))?;
        report.got_total.push(took);
        report
            .got_swap
            .push(Duration::from_secs_f64(swapped.pause_us / 1e6));
        live(&["--pid", pid, "--undo", "getpid"]).run(false)?;
    }
    Ok(report)
}

pub fn print(w: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    writeln!(
        w,
        "live-patch on a single-threaded gcc -O2 program, {} rounds each way, release polylink:",
        r.rounds
    )?;
    let row = |w: &mut dyn Write, what: &str, times: &[Duration], bound: Option<Duration>| {
        let verdict = match bound {
            Some(b) if max(times) < b => format!("  target < {:.0} ms met", ms(b)),
            Some(b) => format!("  target < {:.0} ms MISSED", ms(b)),
            None => String::new(),
        };
        writeln!(
            w,
            "  {what:<38} median {:>7.3} ms, slowest {:>7.3} ms{verdict}",
            ms(median(times)),
            ms(max(times))
        )
    };
    row(
        w,
        "entry: total, command to new code",
        &r.entry_total,
        Some(TOTAL_BOUND),
    )?;
    row(
        w,
        "entry: threads stopped for the jump",
        &r.entry_pause,
        Some(PAUSE_BOUND),
    )?;
    row(
        w,
        "--via got: total, command to new code",
        &r.got_total,
        Some(TOTAL_BOUND),
    )?;
    row(
        w,
        "--via got: the cell's swap (1 thread held)",
        &r.got_swap,
        None,
    )?;
    Ok(())
}

/// `cargo xtask live-speed [--rounds N]`.
pub fn task(ctx: &Ctx, rounds: usize) -> Result<()> {
    let report = run(ctx, rounds)?;
    print(&mut std::io::stdout().lock(), &report)?;
    Ok(())
}
