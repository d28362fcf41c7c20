//! `polylink-jit`: runs raw machine code from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use polylink_jit::exec::CodeBuffer;
use std::io::Write as _;

use polylink_jit::emit::text;
use polylink_jit::hot::patch::Target;
use polylink_jit::hot::shared::TABLE_SYMBOL;
use polylink_jit::measure::{COPY_SIZES, Figures, measure};
use polylink_jit::routines::{RoutineSet, agree, agree_emitted_add, embedded_module};
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
    /// Assemble instructions in NASM syntax (the subset the emitter encodes), separated by `;` or
    /// newlines, then print them as hex, write them as a raw bin, or call them
    #[command(group = clap::ArgGroup::new("source").required(true).args(["text", "file"]))]
    Asm {
        /// The instructions, e.g. "mov rax, rdi; add rax, rsi; ret"
        text: Option<String>,
        /// Read the instructions from FILE instead
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print the bytes as lowercase hex pairs on one line (the default when nothing else is asked)
        #[arg(long)]
        hex: bool,
        /// Write the bytes to FILE.bin, which `polylink-jit run` can load
        #[arg(long, value_name = "FILE.bin")]
        out: Option<PathBuf>,
        /// Seal the code and call it with up to six unsigned integers; print the result
        #[arg(long, num_args = 0.., value_name = "ARG", value_parser = parse_u64)]
        call: Option<Vec<u64>>,
    },
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
        /// Copy sizes in bytes [default: 4 KiB, 1 MiB, 256 MiB]
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Patch a running polylink host: write the raw code in FILE.bin into the executable region
    /// the host reserved, then switch its hot slot NAME to it
    Patch {
        /// The host's process id
        #[arg(long)]
        pid: u32,
        /// The slot to switch
        #[arg(long, value_name = "NAME")]
        slot: String,
        /// The new code, raw (from `nasm -f bin`): a function of up to six integers returning one
        #[arg(value_name = "FILE.bin")]
        file: PathBuf,
        /// Print one JSON object instead of lines
        #[arg(long)]
        json: bool,
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
        Command::Asm {
            text,
            file,
            hex,
            out,
            call,
        } => asm(text, file, hex, out, call)?,
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
            let emitted_hex = polylink_jit::hex(&emitted.bytes);
            let mut out = std::io::stdout().lock();
            if json {
                let rows: Vec<_> = results
                    .iter()
                    .map(|a| {
                        let emitted = (a.name == "add").then(|| {
                            serde_json::json!({
                                "bytes": emitted_hex, "cases": emitted.cases,
                                "results_match": emitted.results_match,
                            })
                        });
                        serde_json::json!({
                            "name": a.name, "cases": a.cases,
                            "results_match": a.results_match, "note": a.note,
                            "emitted": emitted,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
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
                    "{:<18} {:>6} cases  {verdict}  emitted add against linked add: {emitted_hex}",
                    "add (emitted)", emitted.cases
                )?;
            }
        }
        Command::Patch {
            pid,
            slot,
            file,
            json,
        } => patch(pid, &slot, &file, json)?,
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

/// `polylink-jit asm`: assembles, then prints, writes or calls, in that order.
fn asm(
    text: Option<String>,
    file: Option<PathBuf>,
    hex: bool,
    out: Option<PathBuf>,
    call: Option<Vec<u64>>,
) -> Result<()> {
    let (source, name) = match (text, &file) {
        (_, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?,
            path.display().to_string(),
        ),
        (Some(text), None) => (text, "<instructions>".to_string()),
        (None, None) => anyhow::bail!("no instructions: give them as an argument or with -f FILE"),
    };
    let assembled = match text::assemble(&source) {
        Ok(assembled) => assembled,
        Err(err @ Error::Syntax { line, column, .. }) => {
            anyhow::bail!("{name}:{err}\n{}", point_at(&source, line, column))
        }
        Err(err) => return Err(anyhow::Error::new(err).context(name)),
    };
    let code = assembled.program.code();
    if code.is_empty() {
        anyhow::bail!("{name}: no instructions to assemble");
    }
    if let Some(args) = &call {
        // Refused before anything is written, like every other fault.
        if args.len() > 6 {
            return Err(Error::TooManyArguments { count: args.len() }.into());
        }
        if !assembled.ends_in_ret_or_jmp {
            anyhow::bail!(
                "{name}: the code does not end with `ret` or `jmp`, so calling it would run past its end"
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    if hex || (out.is_none() && call.is_none()) {
        writeln!(stdout, "{}", polylink_jit::hex(code))?;
    }
    if let Some(path) = &out {
        write_atomically(path, code)?;
    }
    if let Some(args) = call {
        let sealed = assembled.program.seal()?;
        // SAFETY: as for `run`: the user vouches that the code is a function taking integers and
        // returning one; it ends in ret or jmp, and its CPU features were checked when sealed.
        let function = unsafe { sealed.int_function(0) }?;
        writeln!(stdout, "{}", function.call(&args)?)?;
    }
    Ok(())
}

/// `polylink-jit patch`: finds and checks the host's table, then installs the code.
fn patch(pid: u32, slot: &str, file: &std::path::Path, json: bool) -> Result<()> {
    let code = raw::load(file)?;
    let target = Target::open(pid)?;
    let address = target.slot(slot)?.address;
    // SAFETY: the tool's purpose: the user vouches that FILE is a function of integers
    // returning one, as for `run`; its size and CPU features are checked before it is written.
    let done = unsafe { target.install(slot, &code) }?;
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "pid": pid, "exe": target.exe(), "table": target.table, "bias": target.bias,
            "region": target.region(), "slot": slot, "slot_address": address,
            "before": done.before, "after": done.after, "unit": done.unit, "used": done.used,
            "units": done.units, "bytes": done.len,
            "resolve_us": target.resolve.as_secs_f64() * 1e6,
            "write_us": done.write.as_secs_f64() * 1e6,
            "switch_us": done.switch.as_secs_f64() * 1e6,
            "switched_at_ns": done.switched_at_ns,
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(
        out,
        "host {pid} ({}): {TABLE_SYMBOL} at {:#x} (load bias {:#x}), found in {}",
        target.exe().display(),
        target.table,
        target.bias,
        millis(target.resolve)
    )?;
    writeln!(out, "slot {slot} at {address:#x}")?;
    writeln!(out, "before: {slot} -> {:#x}", done.before)?;
    writeln!(
        out,
        "after:  {slot} -> {:#x} (unit {} of the region at {:#x}; {} bytes; {} of {} units used)",
        done.after,
        done.unit,
        target.region(),
        done.len,
        done.used,
        done.units
    )?;
    writeln!(
        out,
        "wrote the code in {}, switched in {}, at CLOCK_MONOTONIC {} ns",
        micros(done.write),
        micros(done.switch),
        done.switched_at_ns
    )?;
    Ok(())
}

fn millis(d: std::time::Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn micros(d: std::time::Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

/// The line of `source` at `line`, and a caret under `column`.
fn point_at(source: &str, line: usize, column: usize) -> String {
    let text = source.lines().nth(line - 1).unwrap_or("");
    format!("  {text}\n  {}^", " ".repeat(column.saturating_sub(1)))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a failure never
/// leaves a half-written file under the name.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("could not write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("could not rename {} to {}", tmp.display(), path.display())
    })
}

/// Prints the figures as a table, or as one JSON object (see `cargo xtask compare`).
fn print_figures(w: &mut impl std::io::Write, f: &Figures, json: bool) -> std::io::Result<()> {
    if json {
        let copies: Vec<_> = f
            .copies
            .iter()
            .map(|c| {
                serde_json::json!({
                    "size": c.size, "memcpy_gbps": c.memcpy_gbps,
                    "baseline_gbps": c.baseline_gbps, "fast_gbps": c.fast_gbps,
                })
            })
            .collect();
        let value = serde_json::json!({
            "calls": {
                "native_ns": f.calls.native_ns,
                "linked_ns": f.calls.linked_ns,
                "embedded_ns": f.calls.embedded_ns,
                "emitted_ns": f.calls.emitted_ns,
            },
            "emit": {
                "instructions": f.emit.instructions,
                "polylink_ns_per_instruction": f.emit.polylink_ns,
                "iced_ns_per_instruction": f.emit.iced_ns,
            },
            "copies": copies,
            "seal": {
                "functions": f.seal.functions,
                "one_mapping_each_us_per_fn": f.seal.one_mapping_each_us,
                "shared_mapping_us_per_fn": f.seal.shared_mapping_us,
            },
        });
        return writeln!(w, "{value}");
    }
    let c = &f.calls;
    writeln!(
        w,
        "ns per call of add: native {:.2}, linked {:.2}, embedded {:.2}, emitted {:.2}",
        c.native_ns, c.linked_ns, c.embedded_ns, c.emitted_ns
    )?;
    writeln!(
        w,
        "{:>10}  {:>12}  {:>12}  {:>12}",
        "copy size", "memcpy GB/s", "baseline", "fast"
    )?;
    for row in &f.copies {
        writeln!(
            w,
            "{:>10}  {:>12.2}  {:>12.2}  {:>12.2}",
            row.size, row.memcpy_gbps, row.baseline_gbps, row.fast_gbps
        )?;
    }
    let s = &f.seal;
    writeln!(
        w,
        "sealing {} functions, us per function: one mapping each {:.3}, one shared mapping {:.3}",
        s.functions, s.one_mapping_each_us, s.shared_mapping_us
    )?;
    let e = &f.emit;
    writeln!(
        w,
        "emitting {} instructions, ns per instruction: polylink {:.2}, iced-x86 encoder {:.2}",
        e.instructions, e.polylink_ns, e.iced_ns
    )
}
