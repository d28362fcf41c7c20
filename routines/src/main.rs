//! `polylink-routines`: the demonstrator's own binary: calls the NASM routines linked or
//! embedded (`write`), checks that both paths agree (`agree`) and measures them side by side
//! (`measure`). `cargo xtask compare` reads its JSON; users want `polylink` instead.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io::Write as _;

use polylink_routines::measure::{COPY_SIZES, Figures, measure};
use polylink_routines::{RoutineSet, agree, agree_emitted_add, embedded_module};

#[derive(Debug, Parser)]
#[command(
    name = "polylink-routines",
    about = "The NASM routines, linked and embedded: write through them, check they agree, measure them",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write TEXT to stdout through the write_stdout routine, linked or embedded
    Write {
        /// Which copy of the routine to call
        #[arg(long, value_enum)]
        via: Via,
        text: String,
    },
    /// Call every routine through both paths on pseudo-random inputs and say whether they agree
    Agree {
        /// Inputs per routine
        #[arg(long, default_value_t = 1000)]
        cases: usize,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Measure calls, copies and sealing side by side in one run (build with --release)
    Measure {
        /// Copy sizes in bytes [default: 64 B, 4 KiB, 64 KiB, 1 MiB, 16 MiB, 256 MiB]
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Via {
    Linked,
    Embedded,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Write { via, text } => {
            let module;
            let routines = match via {
                Via::Linked => RoutineSet::linked(),
                Via::Embedded => {
                    module = embedded_module()?;
                    RoutineSet::embedded(&module)?
                }
            };
            let written = routines.write_stdout(text.as_bytes());
            if written != text.len() as isize {
                anyhow::bail!("write_stdout wrote {written} of {} bytes", text.len());
            }
        }
        Command::Agree { cases, json } => {
            let module = embedded_module()?;
            let results = agree(
                &RoutineSet::linked(),
                &RoutineSet::embedded(&module)?,
                cases,
            );
            let emitted = agree_emitted_add(&RoutineSet::linked(), cases)?;
            let mut out = std::io::stdout().lock();
            if json {
                let rows: Vec<_> = results
                    .into_iter()
                    .map(|mut a| {
                        if a.name == "add" {
                            a.emitted = Some(emitted.clone());
                        }
                        a
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string(&rows)?)?;
            } else {
                for a in &results {
                    let verdict = match a.results_match {
                        Some(true) => "agree",
                        Some(false) => "DIFFER",
                        None => "not checked",
                    };
                    writeln!(
                        out,
                        "{:<18} {:>6} cases  {verdict}  {}",
                        a.name, a.cases, a.note
                    )?;
                }
                let verdict = if emitted.results_match {
                    "agree"
                } else {
                    "DIFFER"
                };
                writeln!(
                    out,
                    "{:<18} {:>6} cases  {verdict}  emitted add against linked add: {}",
                    "add (emitted)", emitted.cases, emitted.bytes
                )?;
            }
        }
        Command::Measure { sizes, json } => {
            let module = embedded_module()?;
            let sizes = if sizes.is_empty() {
                COPY_SIZES.to_vec()
            } else {
                sizes
            };
            let figures = measure(&RoutineSet::embedded(&module)?, &sizes)?;
            print_figures(&mut std::io::stdout().lock(), &figures, json)?;
        }
    }
    Ok(())
}

/// Prints the figures as a table, or as one JSON object (see `cargo xtask compare`).
fn print_figures(w: &mut impl std::io::Write, f: &Figures, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(
            w,
            "{}",
            serde_json::to_string(f).map_err(std::io::Error::other)?
        );
    }
    f.print(w)
}
