//! `cargo xtask`: parses the command line and dispatches to one module per task.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use xtask::{Ctx, build, compare, header, hot_reload, link_demo, link_speed, live_speed, nm_speed};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "polylink's chores: build every program, check the header, compare, demos, nm speed",
    arg_required_else_help = true
)]
struct Cli {
    /// The polylink source tree to work on [default: the one this xtask was built from]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Echo every command, and say why each build step runs or is fresh
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build every program: NASM and C objects, Rust staticlibs, links, and the polylink
    /// command (under target/polylink)
    BuildAll {
        /// Print the whole build as a bash script instead of running it
        #[arg(long)]
        dry_run: bool,
        /// Where the outputs go [default: <cargo target dir>/polylink]
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Regenerate rust-lib/include/polylink.h from rust-lib/src with cbindgen
    Header {
        /// Do not write: fail when the committed header is stale
        #[arg(long)]
        check: bool,
    },
    /// The same machine code linked and embedded: bytes, results and costs side by side
    Compare {
        /// Print one JSON object instead of tables
        #[arg(long)]
        json: bool,
    },
    /// Time `polylink nm` against GNU nm side by side (release builds, outputs checked
    /// identical first) on the release staticlib of fixtures/nm-speed and on libstdc++.so.6,
    /// or on FILE
    NmSpeed {
        /// Rounds of each tool per option set; medians and maxima are compared
        #[arg(long, default_value_t = 31, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: u16,
        /// The file to read [default: the fixture's staticlib, built first]
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Start polylink-hot-host and reload its functions whenever their .asm sources are saved;
    /// print the time from each new raw bin to the first call of its code
    HotReload {
        /// Run the whole story unattended: reloads in-process, patches from another process,
        /// every result checked, timings summarised; then exit
        #[arg(long)]
        demo: bool,
        /// Where the sources (step.asm, mix.asm) and bins are [default: <target>/polylink/hot,
        /// or hot-demo with --demo, which writes its sources afresh]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Link c-main in the wrong order, show the linker's error and explain it
    LinkDemo,
    /// Time `polylink link --no-run` against the real link of the same command, side by side
    /// (the c-main link in the wrong order)
    LinkSpeed {
        /// Rounds of each, alternating
        #[arg(long, default_value_t = 21, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: u16,
    },
    /// Time `polylink live-patch` on a running program: the whole command and the pause, at
    /// the entry and through the GOT (medians and maxima)
    LiveSpeed {
        /// Rounds of each way
        #[arg(long, default_value_t = 31, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: u16,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = cli.root.unwrap_or_else(xtask::default_root);
    let root = root
        .canonicalize()
        .with_context(|| format!("no source tree at {}", root.display()))?;
    let ctx = Ctx {
        root,
        verbose: cli.verbose,
    };
    match cli.task {
        Task::BuildAll { dry_run, out_dir } => {
            // Relative to where the user stands, as any path on a command line.
            let out_dir = out_dir.map(std::path::absolute).transpose()?;
            build::build_all(&ctx, out_dir.as_deref(), dry_run)?;
        }
        Task::Header { check } => header::task(&ctx.root, check)?,
        Task::Compare { json } => return compare::task(&ctx, json),
        Task::NmSpeed { rounds, file } => nm_speed::task(&ctx, rounds.into(), file.as_deref())?,
        Task::HotReload { demo, dir } => hot_reload::run(&ctx, &hot_reload::Options { demo, dir })?,
        Task::LinkDemo => return link_demo::task(&ctx),
        Task::LinkSpeed { rounds } => link_speed::task(&ctx, rounds.into())?,
        Task::LiveSpeed { rounds } => live_speed::task(&ctx, rounds.into())?,
    }
    Ok(ExitCode::SUCCESS)
}
