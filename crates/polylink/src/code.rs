//! `polylink run` and `polylink asm`: raw machine code loaded, checked, sealed and called, and
//! NASM-syntax text assembled by polylink's emitter.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use polylink_emit::text;
use polylink_exec::{CodeBuffer, SealedCode, raw};

use crate::parse_u64;

/// Call the raw code in FILE with up to six unsigned integers in rdi, rsi, rdx, rcx, r8, r9, and
/// print what it returns in rax as an unsigned decimal.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The raw code: no headers, the function's first instruction at byte 0
    file: PathBuf,
    /// Unsigned integers, decimal or 0x-prefixed hexadecimal
    #[arg(value_parser = parse_u64, allow_hyphen_values = true)]
    args: Vec<u64>,
    #[command(flatten)]
    check: CheckArgs,
}

/// The option that skips the check of code before it runs.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Skip the check that the code is a whole function this CPU can run: that every
    /// instruction reachable from byte 0 decodes, none traps or is privileged, none needs a CPU
    /// feature this CPU lacks, and every path ends in `ret` or `jmp`. For code you know to be
    /// right that the check refuses; wrong code then kills the process that runs it with a signal
    #[arg(long)]
    pub unchecked: bool,
}

impl CheckArgs {
    /// Checks `code` unless told not to.
    pub fn check(&self, name: &str, code: &[u8]) -> polylink_exec::Result<()> {
        match self.unchecked {
            true => Ok(()),
            false => polylink_exec::check_code(name, code),
        }
    }

    /// Copies checked (or deliberately unchecked) code into executable memory.
    fn seal(&self, name: &str, code: &[u8]) -> polylink_exec::Result<SealedCode> {
        self.check(name, code)?;
        CodeBuffer::from_code(code)?.seal_unchecked()
    }
}

/// Assemble instructions in NASM syntax (the subset the emitter encodes), separated by `;` or
/// newlines (so `;` does not start a comment), then print them as hex, write them as a raw bin,
/// or call them.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["text", "file"]))]
pub struct AsmArgs {
    /// The instructions, e.g. "mov rax, rdi; add rax, rsi; ret"
    text: Option<String>,
    /// Read the instructions from FILE instead
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print the bytes as lowercase hex pairs on one line (the default when nothing else is asked)
    #[arg(long)]
    hex: bool,
    /// Write the bytes to FILE.bin, which `polylink run` can load
    #[arg(long, value_name = "FILE.bin")]
    out: Option<PathBuf>,
    /// Seal the code and call it with up to six unsigned integers; print the result
    #[arg(long, num_args = 0.., value_name = "ARG", value_parser = parse_u64)]
    call: Option<Vec<u64>>,
    #[command(flatten)]
    check: CheckArgs,
}

pub fn run(RunArgs { file, args, check }: RunArgs) -> Result<ExitCode> {
    if args.len() > 6 {
        return Err(polylink_exec::Error::TooManyArguments { count: args.len() }.into());
    }
    let code = raw::load(&file)?;
    let sealed = check.seal(&file.display().to_string(), &code)?;
    // SAFETY: this is the tool's purpose: the user vouches that FILE is a function that takes
    // integers and returns one; polylink checked that it is a whole function this CPU can run,
    // unless told not to.
    let function = unsafe { sealed.int_function(0) }?;
    let result = function
        .call(&args)
        .with_context(|| format!("calling {}", file.display()))?;
    println!("{result}");
    Ok(ExitCode::SUCCESS)
}

/// Assembles, then prints, writes or calls, in that order.
pub fn asm(args: AsmArgs) -> Result<ExitCode> {
    let AsmArgs {
        text,
        file,
        hex,
        out,
        call,
        check,
    } = args;
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
        Err(err @ polylink_emit::Error::Syntax { line, column, .. }) => {
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
            return Err(polylink_exec::Error::TooManyArguments { count: args.len() }.into());
        }
        check.check(&name, code)?;
    }
    let mut stdout = std::io::stdout().lock();
    if hex || (out.is_none() && call.is_none()) {
        writeln!(stdout, "{}", polylink_exec::hex(code))?;
    }
    if let Some(path) = &out {
        write_atomically(path, code)?;
    }
    if let Some(args) = call {
        let sealed = check.seal(&name, code)?;
        // SAFETY: as for `run`: the user vouches that the code is a function taking integers
        // and returning one; it was checked above, unless told not to.
        let function = unsafe { sealed.int_function(0) }?;
        writeln!(stdout, "{}", function.call(&args)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The line of `source` at `line`, and a caret under `column`.
fn point_at(source: &str, line: usize, column: usize) -> String {
    let text = source.lines().nth(line - 1).unwrap_or("");
    format!("  {text}\n  {}^", " ".repeat(column.saturating_sub(1)))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a failure never
/// leaves a half-written file under the name.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    polylink_inspect::write_atomic(path, bytes)?;
    Ok(())
}
