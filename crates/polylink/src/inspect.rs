//! `polylink nm`, `polylink checksec` and `polylink link-order`: clap's view of their options,
//! handed to polylink-inspect, whose printers write to stdout.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use polylink_inspect::{Host, checksec, link_order, nm};

/// nm's options, as flags.
#[derive(Clone, Debug, clap::Args)]
pub struct NmArgs {
    /// Print the file (and member) on every line (nm -A, -o)
    #[arg(short = 'A', short_alias = 'o', long = "print-file-name")]
    pub print_file_name: bool,
    /// Demangle Rust (legacy and v0) and C++ names, as nm -C does
    #[arg(short = 'C', long)]
    pub demangle: bool,
    /// Read the dynamic symbol table (.dynsym) instead of .symtab
    #[arg(short = 'D', long)]
    pub dynamic: bool,
    /// Only external symbols: global, weak, unique, undefined and common
    #[arg(short = 'g', long = "extern-only")]
    pub extern_only: bool,
    /// Sort by address, undefined symbols first
    #[arg(short = 'n', long = "numeric-sort", short_alias = 'v')]
    pub numeric_sort: bool,
    /// Do not sort: symbol table order
    #[arg(short = 'p', long = "no-sort")]
    pub no_sort: bool,
    /// The POSIX output format (nm -P)
    #[arg(short = 'P', long)]
    pub portability: bool,
    /// Reverse the sort
    #[arg(short = 'r', long = "reverse-sort")]
    pub reverse_sort: bool,
    /// Print the size of defined symbols
    #[arg(short = 'S', long = "print-size")]
    pub print_size: bool,
    /// Only undefined symbols
    #[arg(short = 'u', long = "undefined-only")]
    pub undefined_only: bool,
    /// Only defined symbols
    #[arg(long = "defined-only", alias = "defined")]
    pub defined_only: bool,
    /// Output format: bsd (the default), posix (as -P), or json
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The files to read
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Bsd,
    Posix,
    Json,
}

/// Check the hardening of ELF programs and shared objects.
#[derive(Clone, Debug, clap::Args)]
pub struct ChecksecArgs {
    /// Print a JSON list instead of a table
    #[arg(long)]
    json: bool,
    /// The files to check
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// link-order's options, then the link line.
#[derive(Clone, Debug, clap::Args)]
pub struct LinkOrderArgs {
    /// Write the dependency graph in Graphviz format to FILE (`-` for standard output)
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Surround the inputs with what the C compiler driver adds (start files, libgcc, libc),
    /// as `cc -###` lists them
    #[arg(long)]
    pub cc: bool,
    /// An option for the C compiler driver when asking it with --cc (e.g. -nostartfiles,
    /// -static); repeatable
    #[arg(long = "cc-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub cc_args: Vec<String>,
    /// The inputs, in the order the linker would get them
    #[arg(
        required = true,
        value_name = "INPUT",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub inputs: Vec<String>,
}

pub fn nm(args: NmArgs) -> Result<ExitCode> {
    let format = args.format.map(|f| match f {
        Format::Bsd => nm::Format::Bsd,
        Format::Posix => nm::Format::Posix,
        Format::Json => nm::Format::Json,
    });
    let options = nm::Options {
        print_file_name: args.print_file_name,
        demangle: args.demangle,
        dynamic: args.dynamic,
        extern_only: args.extern_only,
        numeric_sort: args.numeric_sort,
        no_sort: args.no_sort,
        portability: args.portability,
        reverse_sort: args.reverse_sort,
        print_size: args.print_size,
        undefined_only: args.undefined_only,
        defined_only: args.defined_only,
        format,
    };
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let outcome = nm::run(&mut out, &args.files, &options, &Host)?;
    out.flush()?;
    drop(out);
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    for file in &outcome.no_symbols {
        eprintln!("nm: {file}: no symbols");
    }
    for member in &outcome.unrecognized {
        eprintln!("nm: {member}: file format not recognized");
    }
    for problem in &outcome.problems {
        eprintln!("error: {problem}");
    }
    Ok(if outcome.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn checksec(args: ChecksecArgs) -> Result<ExitCode> {
    let mut results = Vec::new();
    let mut failed = false;
    for file in &args.files {
        match checksec::check(file) {
            Ok(h) => results.push(h),
            Err(fault) => {
                eprintln!("error: {}: {fault}", file.display());
                failed = true;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        checksec::print_json(&mut out, &results)?;
    } else {
        checksec::print_table(&mut out, &results)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `polylink link [--json] [--no-run] [--dot FILE] -- COMMAND…`.
#[derive(Clone, Debug, clap::Args)]
pub struct LinkArgs {
    /// Print one JSON object: {"links", "problems": [{"kind", "symbol", "message", "fix"}], "fixed"}
    #[arg(long)]
    json: bool,
    /// Do not run the command (nor the fixed one): trust the replay alone
    #[arg(long)]
    no_run: bool,
    /// Write the dependency graph in Graphviz format to FILE
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
    /// When Rust staticlibs collide (each with its own std), isolate them into DIR and propose
    /// the command that uses them
    #[arg(long, value_name = "DIR")]
    fix_isolate: Option<PathBuf>,
    /// The link command as you would type it: gcc, cc, g++, clang or ld, and its options
    #[arg(required = true, last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn link(args: LinkArgs) -> Result<ExitCode> {
    let options = polylink_inspect::link::Options {
        json: args.json,
        no_run: args.no_run,
        dot: args.dot,
        fix_isolate: args.fix_isolate,
    };
    let mut out = std::io::stdout().lock();
    let verdict = match polylink_inspect::link::run(&args.command, &options, &Host, &mut out) {
        Ok(verdict) => verdict,
        // A command that is not a link command is a usage error, as clap's are.
        Err(polylink_inspect::Error::Link(fault)) => {
            eprintln!("error: {fault}");
            return Ok(ExitCode::from(2));
        }
        Err(other) => return Err(other.into()),
    };
    Ok(if verdict.links {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `polylink isolate IN.a -o OUT.a [--export SYM]… [--exports-from HEADER.h] [--list]`.
#[derive(Clone, Debug, clap::Args)]
pub struct IsolateArgs {
    /// The Rust staticlib to isolate (it is only read)
    #[arg(value_name = "IN.a")]
    input: PathBuf,
    /// Where the isolated archive goes
    #[arg(short, long, value_name = "OUT.a", required_unless_present = "list")]
    output: Option<PathBuf>,
    /// A symbol to keep global (repeatable) [default: the library's C surface: its global
    /// definitions that are neither Rust-mangled nor Rust runtime symbols]
    #[arg(long = "export", value_name = "SYM")]
    exports: Vec<String>,
    /// Keep global the functions and variables a C header declares (cbindgen's, say)
    #[arg(long, value_name = "HEADER.h")]
    exports_from: Option<PathBuf>,
    /// Print the symbols that would be kept global, and write nothing
    #[arg(long)]
    list: bool,
}

pub fn isolate(args: IsolateArgs) -> Result<ExitCode> {
    let options = polylink_inspect::isolate::Options {
        exports: args.exports,
        exports_from: args.exports_from,
        list: args.list,
    };
    let output = args.output.unwrap_or_default();
    polylink_inspect::isolate::isolate(
        &args.input,
        &output,
        &options,
        &Host,
        &mut std::io::stdout().lock(),
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn link_order(args: LinkOrderArgs) -> Result<ExitCode> {
    let options = link_order::Options {
        dot: args.dot,
        cc: args.cc,
        cc_args: args.cc_args,
        driver: None,
        inputs: args.inputs,
    };
    let links = link_order::run(&options, &Host, &mut std::io::stdout().lock())?;
    Ok(if links {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
