//! `polylink live-patch`: change a function of an unmodified running process, from a
//! relocatable object linked against the process's live image; undo it; list what is patched.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use polylink_exec::hex;
use polylink_hot::live::{self, Options, Returns};

/// Patch a function of a running program that was never prepared for it: link PATCH.o against
/// the process's live image, place it next to the function, and redirect the function's entry
/// to it while every thread is stopped
#[derive(Debug, clap::Args)]
pub struct LivePatchArgs {
    /// The process (a thread's id names its process)
    #[arg(long)]
    pid: u32,
    /// The function to replace: NAME, or FILE:NAME for one file's (libc.so.6:getpid)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["undo", "list"])]
    function: Option<String>,
    /// The new version: an x86-64 ELF relocatable object (gcc -c, rustc --emit obj, nasm -f elf64)
    #[arg(value_name = "PATCH.o", required_unless_present_any = ["undo", "list"])]
    patch: Option<PathBuf>,
    /// The patch's symbol to enter [default: the function's name]
    #[arg(long, value_name = "SYM")]
    entry: Option<String>,
    /// Enter the patch directly, without the thunk that keeps the caller-saved registers (for
    /// functions reached only through their ABI)
    #[arg(long)]
    no_preserve: bool,
    /// What the function returns, which the thunk hands back: int, int-pair, float,
    /// float-pair, int-float, x87 or void [default: from the DWARF of the file that defines
    /// the function, else int]
    #[arg(long, value_name = "KIND")]
    returns: Option<Returns>,
    /// How to redirect the function: `entry` writes a jump over its first five bytes with every
    /// thread stopped; `got` swaps the executable's GOT cell for it (a function the program
    /// calls through its GOT or PLT, such as a libc function) with one 8-byte store made by
    /// one of its threads, while the others run on
    #[arg(long, default_value = "entry", value_parser = ["entry", "got"])]
    via: String,
    /// Put back the original bytes of function NAME
    #[arg(long, value_name = "NAME", conflicts_with = "list")]
    undo: Option<String>,
    /// List the live patches in force in the process
    #[arg(long)]
    list: bool,
    /// Print one JSON object instead of lines
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    check: crate::code::CheckArgs,
}

pub fn live_patch(args: LivePatchArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.list {
        let record = live::list(args.pid)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&record)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        if record.patches.is_empty() {
            writeln!(out, "process {}: no live patches", record.pid)?;
        }
        for p in &record.patches {
            writeln!(
                out,
                "{} ({}, {} at {:#x}): {} -> {} from {}",
                p.function,
                p.file,
                if p.via == "got" { "GOT cell" } else { "entry" },
                p.address,
                hex(&p.original),
                hex(&p.written),
                p.patch
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &args.undo {
        let undone = live::undo(args.pid, name)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&undone)?)?;
        } else {
            writeln!(
                out,
                "{} at {:#x} in process {}: restored {} (threads held for {:.1} us; {:.2} ms in all)",
                undone.function,
                undone.address,
                undone.pid,
                undone.restored,
                undone.pause_us,
                undone.total_us / 1e3
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(function), Some(patch)) = (args.function, args.patch) else {
        bail!("name the function to replace with --function NAME, and give PATCH.o");
    };
    let applied = live::apply(&Options {
        pid: args.pid,
        function,
        patch,
        entry: args.entry,
        preserve: !args.no_preserve,
        returns: args.returns,
        unchecked: args.check.unchecked,
        via_got: args.via == "got",
    });
    let report = match applied {
        Ok(report) => report,
        // As a program that Ctrl-C ends exits: 128 + SIGINT.
        Err(e @ live::LiveError::Interrupted { .. }) => {
            eprintln!("polylink: {e}");
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &report.slides {
        writeln!(out, "load slide {:#x}: {}", s.slide, s.file)?;
    }
    writeln!(
        out,
        "{} in {}: at {:#x}",
        report.function, report.file, report.address
    )?;
    writeln!(
        out,
        "patch: code at {:#x} ({} bytes, read+execute){}",
        report.code.0,
        report.code.1,
        match report.data {
            Some((at, len)) => format!(", data at {at:#x} ({len} bytes, read+write)"),
            None => String::new(),
        }
    )?;
    for r in &report.resolved {
        writeln!(
            out,
            "  {} {} -> {:#x} ({}{})",
            r.kind,
            r.symbol,
            r.address,
            r.from,
            if r.via == "direct" {
                String::new()
            } else {
                format!(", through a {}", r.via)
            }
        )?;
    }
    match (report.thunk, report.returns) {
        (Some(thunk), Some(returns)) => writeln!(
            out,
            "entry {:#x}, through the thunk at {thunk:#x} that keeps caller-saved registers \
             (returns {returns}, {})",
            report.entry,
            match report.returns_from.as_deref() {
                Some("DWARF") => "from the DWARF",
                Some("option") => "as --returns says",
                _ => "by default",
            }
        )?,
        _ => writeln!(out, "entry {:#x}, entered directly", report.entry)?,
    }
    if report.via == "got" {
        let cells: Vec<String> = report.sites.iter().map(|c| format!("{c:#x}")).collect();
        writeln!(
            out,
            "GOT cell {}: {} -> {}",
            cells.join(", "),
            report.old_bytes,
            report.new_bytes
        )?;
        writeln!(
            out,
            "swapped by 1 of the {} threads, held for {:.1} us while the others ran on ({:.1} us stopped to map the patch); {:.2} ms in all",
            report.threads,
            report.pause_us,
            report.map_pause_us,
            report.total_us / 1e3
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "old entry bytes: {}", report.old_bytes)?;
    writeln!(out, "new entry bytes: {} (jmp)", report.new_bytes)?;
    writeln!(
        out,
        "{} threads stopped for {:.1} us to write the jump ({:.1} us to map the patch); {:.2} ms in all",
        report.threads,
        report.pause_us,
        report.map_pause_us,
        report.total_us / 1e3
    )?;
    Ok(ExitCode::SUCCESS)
}
