//! `polylink patch`: write raw code into a running polylink host's hot region and switch one of
//! its slots to it, from another process.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use polylink_exec::raw;

use crate::code::CheckArgs;
use polylink_hot::patch::Target;
use polylink_hot::shared::TABLE_SYMBOL;

/// Patch a running polylink host: write the raw code in FILE.bin into the executable region the
/// host reserved, then switch its hot slot NAME to it.
#[derive(Debug, clap::Args)]
pub struct PatchArgs {
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
    #[command(flatten)]
    check: CheckArgs,
}

/// Finds and checks the host's table, then installs the code.
pub fn patch(
    PatchArgs {
        pid,
        slot,
        file,
        json,
        check,
    }: PatchArgs,
) -> Result<ExitCode> {
    let slot = slot.as_str();
    let file = file.as_path();
    // The process first: a wrong pid is the likelier mistake, and says nothing of the file.
    let target = Target::open(pid)?;
    let address = target.slot(slot)?.address;
    let code = raw::load(file)?;
    check.check(&file.display().to_string(), &code)?;
    // SAFETY: the tool's purpose: the user vouches that FILE is a function of integers
    // returning one, as for `run`; it was checked to be a whole function this CPU can run
    // before any byte is written, unless told not to.
    let done = unsafe { target.install_unchecked(slot, &code) }?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&done)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(thread) = target.thread {
        writeln!(
            out,
            "{thread} is a thread of process {}: patching the process",
            target.pid()
        )?;
    }
    writeln!(
        out,
        "host {} ({}): {TABLE_SYMBOL} at {:#x} (load bias {:#x}), found in {}",
        target.pid(),
        target.exe().display(),
        target.table,
        target.bias,
        millis(done.resolve_us)
    )?;
    writeln!(out, "slot {slot} at {address:#x}")?;
    writeln!(out, "before: {slot} -> {:#x}", done.before)?;
    writeln!(
        out,
        "after:  {slot} -> {:#x} (unit {} of the region at {:#x}; {} bytes; {} of {} units used)",
        done.after,
        done.unit,
        target.region(),
        done.bytes,
        done.used,
        done.units
    )?;
    writeln!(
        out,
        "wrote the code in {}, switched in {}, starting at CLOCK_MONOTONIC {} ns",
        micros(done.write_us),
        micros(done.switch_us),
        done.switched_at_ns
    )?;
    Ok(ExitCode::SUCCESS)
}

fn millis(us: f64) -> String {
    format!("{:.2} ms", us / 1e3)
}

fn micros(us: f64) -> String {
    format!("{us:.1} us")
}
