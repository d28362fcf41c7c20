//! `cargo xtask link-speed`: what `polylink link` costs beside the link it explains, side by
//! side in one run.
//!
//! The command is the project's own c-main link, in the wrong order (libpolylink.a, 321
//! members, before the objects), with rustc's native libraries. All run as processes,
//! alternating round by round, so that a noisy machine slows them alike: the real link of that
//! command (`cc`, which fails early), the real link of c-main in the order that works, and the
//! release `polylink link --no-run` on the wrong command (reading every input's symbols,
//! replaying GNU ld, proposing the fix). The bound is judged on the replay's slowest round
//! against the median of the real c-main link.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::plan::Layout;
use crate::timing::{max, median};

/// What was measured.
#[derive(Debug)]
pub struct Report {
    pub rounds: usize,
    /// The wrong command, linked for real (it fails after reading the inputs).
    pub wrong: Vec<Duration>,
    /// c-main in the order that works, linked for real.
    pub link: Vec<Duration>,
    pub replay: Vec<Duration>,
}

/// Builds the release `polylink` and the default build, then times both `rounds` times.
pub fn run(ctx: &Ctx, rounds: usize) -> Result<Report> {
    let (plan, manifest) = crate::build::default_build(ctx)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Cmd::new(&cargo)
        .args(["build", "--release", "--quiet", "--package", "polylink-cli"])
        .cwd(&ctx.root)
        .run(ctx.verbose)?;
    let polylink = Layout::new(&ctx.root, None)
        .cargo_target
        .join("release/polylink");
    let path = |name: &str, found: Option<&crate::manifest::Artifact>| -> Result<String> {
        match found {
            Some(a) => Ok(a.path.display().to_string()),
            None => bail!("the build manifest lists no {name}"),
        }
    };
    let scratch = manifest.out_dir.join("demo");
    std::fs::create_dir_all(&scratch)?;
    let mut command = vec![
        plan.cc.clone(),
        "-o".to_owned(),
        scratch.join("link-speed").display().to_string(),
        path("libpolylink.a", manifest.staticlib("libpolylink.a"))?,
        path("c-main.o", manifest.object("c-main.o"))?,
        path("tour.o", manifest.object("tour.o"))?,
    ];
    command.extend(manifest.native_static_libs.iter().cloned());
    let wrong = Cmd::new(&command[0]).args(&command[1..]);
    let mut right = command.clone();
    right[3..6].rotate_left(1);
    let link = Cmd::new(&right[0]).args(&right[1..]);
    let replay = Cmd::new(polylink.display().to_string())
        .args(["link", "--no-run", "--"])
        .args(&command);
    // Once each first: the link must fail as expected, and the replay must say so.
    let failed = wrong.output(ctx.verbose)?;
    let said = replay.output(ctx.verbose)?;
    if failed.status.success() || said.status.code() != Some(1) {
        bail!(
            "the wrong order should fail and the replay should say so: `{wrong}` {}, `{replay}` \
             exited {:?}",
            failed.status,
            said.status.code()
        );
    }
    link.run(ctx.verbose)?;
    let time = |cmd: &Cmd| -> Result<Duration> {
        let started = Instant::now();
        cmd.output(false)?;
        Ok(started.elapsed())
    };
    let (mut wrong_times, mut link_times, mut replay_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        wrong_times.push(time(&wrong)?);
        link_times.push(time(&link)?);
        replay_times.push(time(&replay)?);
    }
    Ok(Report {
        rounds,
        wrong: wrong_times,
        link: link_times,
        replay: replay_times,
    })
}

pub fn print(w: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    writeln!(
        w,
        "the c-main link, {} alternating rounds, all as processes:",
        r.rounds
    )?;
    writeln!(
        w,
        "  cc, the wrong order (fails):  median {:>7.1} ms, slowest {:>7.1} ms",
        ms(median(&r.wrong)),
        ms(max(&r.wrong))
    )?;
    writeln!(
        w,
        "  cc, the order that links:     median {:>7.1} ms, slowest {:>7.1} ms",
        ms(median(&r.link)),
        ms(max(&r.link))
    )?;
    writeln!(
        w,
        "  polylink link --no-run, wrong: median {:>6.1} ms, slowest {:>7.1} ms",
        ms(median(&r.replay)),
        ms(max(&r.replay))
    )?;
    let verdict = if max(&r.replay) < median(&r.link) {
        "met"
    } else {
        "MISSED"
    };
    writeln!(
        w,
        "  link median / replay median: {:.1}×; target: the replay's slowest round under the real link's median: {verdict}",
        median(&r.link).as_secs_f64() / median(&r.replay).as_secs_f64()
    )
}

/// `cargo xtask link-speed [--rounds N]`.
pub fn task(ctx: &Ctx, rounds: usize) -> Result<()> {
    let report = run(ctx, rounds)?;
    print(&mut std::io::stdout().lock(), &report)?;
    Ok(())
}
