//! `polylink-jit`: runs raw machine code from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use polylink_jit::exec::CodeBuffer;
use polylink_jit::routines::{RoutineSet, embedded_module};
use polylink_jit::{Error, cpu, raw};

#[derive(Debug, Parser)]
#[command(
    name = "polylink-jit",
    about = "Load raw x86-64 machine code into executable memory and call it",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call the raw code in FILE (e.g. from `nasm -f bin`) with up to six unsigned integers in
    /// rdi, rsi, rdx, rcx, r8, r9, and print what it returns in rax as an unsigned decimal
    Run {
        /// The raw code: no headers, the function's first instruction at byte 0
        file: PathBuf,
        /// Unsigned integers, decimal or 0x-prefixed hexadecimal
        #[arg(value_parser = parse_u64, allow_hyphen_values = true)]
        args: Vec<u64>,
    },
    /// Write TEXT to stdout through the write_stdout routine, linked or embedded
    Write {
        /// Which copy of the routine to call
        #[arg(long, value_enum)]
        via: Via,
        text: String,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Via {
    Linked,
    Embedded,
}

fn parse_u64(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("not an unsigned 64-bit integer: {e}"))
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
        Command::Run { file, args } => {
            if args.len() > 6 {
                return Err(Error::TooManyArguments { count: args.len() }.into());
            }
            let code = raw::load(&file)?;
            cpu::check(&file.display().to_string(), &code)?;
            let sealed = CodeBuffer::from_code(&code)?.seal()?;
            // SAFETY: this is the tool's purpose: the user vouches that FILE is a function that
            // takes integers and returns one; polylink checked its size and CPU features.
            let function = unsafe { sealed.int_function(0) }?;
            let result = function
                .call(&args)
                .with_context(|| format!("calling {}", file.display()))?;
            println!("{result}");
        }
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
    }
    Ok(())
}
