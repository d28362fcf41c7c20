//! `cargo xtask`: parses the command line and dispatches to one module per task.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use xtask::plan::{Layout, Plan};
use xtask::{build, checksec, compare, header, hot_reload, link_demo, nm_speed, tools};

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
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build every program: NASM and C objects, Rust staticlibs, links (under target/polylink)
    BuildAll {
        /// Echo every command, and say why each step runs or is fresh
        #[arg(short, long)]
        verbose: bool,
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
        /// Echo every command
        #[arg(short, long)]
        verbose: bool,
    },
    /// Time `polylink nm` against GNU nm side by side (release builds, outputs checked
    /// identical first) on the release staticlib of fixtures/nm-speed, or on FILE
    NmSpeed {
        /// Rounds of each tool per option set; the medians are compared
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: u16,
        /// Echo every command
        #[arg(short, long)]
        verbose: bool,
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
        /// Echo every command
        #[arg(short, long)]
        verbose: bool,
    },
    /// Link c-main in the wrong order, show the linker's error and explain it
    LinkDemo {
        /// Echo every command
        #[arg(short, long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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
    match cli.task {
        Task::BuildAll {
            verbose,
            dry_run,
            out_dir,
        } => {
            // Relative to where the user stands, as any path on a command line.
            let out_dir = out_dir.map(std::path::absolute).transpose()?;
            let plan = Plan::new(
                Layout::new(&root, out_dir.as_deref()),
                &tools::c_compiler()?,
            );
            if dry_run {
                std::io::stdout().write_all(plan.script().as_bytes())?;
            } else {
                let manifest = build_all(&plan, verbose)?;
                // The hardening of every program, as `polylink checksec` reads it.
                let results = manifest
                    .programs
                    .iter()
                    .map(|p| {
                        checksec::check(&p.path)
                            .map_err(|fault| anyhow::anyhow!("{}: {fault}", p.path.display()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                checksec::print_table(&mut std::io::stdout().lock(), &results)?;
            }
        }
        Task::Header { check: true } => header::check(&root)?,
        Task::Header { check: false } => {
            let changed = header::write(&root)?;
            let state = if changed {
                "written"
            } else {
                "already current"
            };
            build::progress("Finished", &format!("{} {state}", header::HEADER));
        }
        Task::Compare { json, verbose } => {
            let (_, manifest) = default_build(&root, verbose)?;
            let report = compare::run(&manifest, verbose)?;
            let mut out = std::io::stdout().lock();
            if json {
                compare::print_json(&mut out, &report)?;
            } else {
                compare::print_table(&mut out, &report)?;
            }
            if !report.consistent() {
                eprintln!("error: the linked and embedded routines differ");
                return Ok(ExitCode::FAILURE);
            }
        }
        Task::NmSpeed {
            rounds,
            verbose,
            file,
        } => {
            let file = file.map(std::path::absolute).transpose()?;
            let report = nm_speed::run(&root, file.as_deref(), rounds.into(), verbose)?;
            let shown = xtask::cmd::relative_to(&report.file, &root).to_path_buf();
            nm_speed::print(&mut std::io::stdout().lock(), &report, &shown)?;
        }
        Task::HotReload { demo, dir, verbose } => {
            hot_reload::run(&root, &hot_reload::Options { demo, dir, verbose })?;
        }
        Task::LinkDemo { verbose } => {
            let (plan, manifest) = default_build(&root, verbose)?;
            let verdict = link_demo::run(&manifest, &plan.cc, verbose, &mut std::io::stdout())?;
            if verdict.undefined.is_empty() || !verdict.right_order_links {
                eprintln!("error: the linker did not behave as GNU ld does");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tasks that inspect the build first bring the default build up to date.
fn default_build(root: &Path, verbose: bool) -> Result<(Plan, xtask::manifest::Manifest)> {
    let plan = Plan::new(Layout::new(root, None), &tools::c_compiler()?);
    let manifest = build_all(&plan, verbose)?;
    Ok((plan, manifest))
}

fn build_all(plan: &Plan, verbose: bool) -> Result<xtask::manifest::Manifest> {
    header::check(&plan.layout.root)?;
    tools::check(&plan.cc, verbose)?;
    build::run(plan, verbose)
}
