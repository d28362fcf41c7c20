//! `polylink nm`, `polylink checksec` and `polylink link-order`: clap's view of their options,
//! handed to polylink-inspect, whose printers write to stdout.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use polylink_inspect::{Host, checksec, link_order, nm};

/// When `out` is a pipe, lets it hold up to 1 MiB (the most an unprivileged process may ask
/// for by default), so that a listing of that size is handed over without waiting for the
/// reader to take each 64 KiB, the default; best effort.
fn roomy_pipe(out: &impl std::os::fd::AsFd) {
    let is_pipe = rustix::fs::fstat(out)
        .is_ok_and(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode).is_fifo());
    if is_pipe {
        let _ = rustix::pipe::fcntl_setpipe_size(out, 1 << 20);
    }
}

/// nm's options, as GNU nm 2.40 spells them. Where options of one kind disagree (the format:
/// -B, -P, -j, -f; the sort: -n, -p, --size-sort), the last one given wins, as in GNU nm; an
/// option given twice counts once.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true
)]
pub struct NmArgs {
    /// Print the file (and member) on every line (nm -A, -o)
    #[arg(short = 'A', short_alias = 'o', long = "print-file-name")]
    pub print_file_name: bool,
    /// Include debugging symbols: section and file symbols
    #[arg(short = 'a', long = "debug-syms")]
    pub debug_syms: bool,
    /// The BSD format (the default; as --format=bsd)
    #[arg(short = 'B', overrides_with_all = ["portability", "just_symbols", "format"])]
    pub bsd: bool,
    /// Demangle Rust (legacy and v0) and C++ names, as nm -C does; STYLE none turns it off,
    /// any other (auto, gnu-v3, rust, …) demangles what it can
    #[arg(
        short = 'C',
        long = "demangle",
        value_name = "STYLE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "auto",
        overrides_with = "no_demangle"
    )]
    pub demangle: Option<String>,
    /// Do not demangle (the default)
    #[arg(long = "no-demangle", alias = "no-cplus", overrides_with = "demangle")]
    pub no_demangle: bool,
    /// Keep the demangler's recursion limit (the default)
    #[arg(
        long = "recurse-limit",
        alias = "recursion-limit",
        overrides_with = "no_recurse_limit"
    )]
    pub recurse_limit: bool,
    /// Demangle names nested deeper than the demangler's recursion limit too
    #[arg(
        long = "no-recurse-limit",
        alias = "no-recursion-limit",
        overrides_with = "recurse_limit"
    )]
    pub no_recurse_limit: bool,
    /// Read the dynamic symbol table (.dynsym) instead of .symtab
    #[arg(short = 'D', long)]
    pub dynamic: bool,
    /// Ignored, as GNU nm ignores it
    #[arg(short = 'e', hide = true)]
    pub ignored_e: bool,
    /// Only external symbols: global, weak, unique, undefined and common
    #[arg(short = 'g', long = "extern-only")]
    pub extern_only: bool,
    /// The letters for ifunc symbols: the first for global ones, the second for local ones
    #[arg(long = "ifunc-chars", value_name = "CHARS")]
    pub ifunc_chars: Option<String>,
    /// Names only (as --format=just-symbols)
    #[arg(short = 'j', long = "just-symbols", overrides_with_all = ["portability", "bsd", "format"])]
    pub just_symbols: bool,
    /// The source file and line of each symbol, from its DWARF (for an undefined symbol: where
    /// it is first referred to)
    #[arg(short = 'l', long = "line-numbers")]
    pub line_numbers: bool,
    /// Sort by address, undefined symbols first
    #[arg(short = 'n', long = "numeric-sort", short_alias = 'v', overrides_with_all = ["no_sort", "size_sort"])]
    pub numeric_sort: bool,
    /// Do not sort: symbol table order
    #[arg(short = 'p', long = "no-sort", overrides_with_all = ["numeric_sort", "size_sort"])]
    pub no_sort: bool,
    /// The POSIX output format (as --format=posix)
    #[arg(short = 'P', long, overrides_with_all = ["bsd", "just_symbols", "format"])]
    pub portability: bool,
    /// Reverse the sort
    #[arg(short = 'r', long = "reverse-sort")]
    pub reverse_sort: bool,
    /// Print the size of defined symbols
    #[arg(short = 'S', long = "print-size")]
    pub print_size: bool,
    /// Print an archive's symbol index before its members
    #[arg(short = 's', long = "print-armap")]
    pub print_armap: bool,
    /// Do not say that a file has no symbols
    #[arg(long)]
    pub quiet: bool,
    /// Sort by size, printing sizes; only symbols that have one
    #[arg(long = "size-sort", overrides_with_all = ["numeric_sort", "no_sort"])]
    pub size_sort: bool,
    /// Add a `NAME@plt` symbol for each PLT entry of a program or shared object
    #[arg(long)]
    pub synthetic: bool,
    /// Include special symbols (x86-64 has none: accepted, as GNU nm accepts it)
    #[arg(long = "special-syms")]
    pub special_syms: bool,
    /// The radix of values and sizes: d, o or x
    #[arg(short = 't', long = "radix", value_name = "RADIX", value_parser = ["d", "o", "x"])]
    pub radix: Option<String>,
    /// Only undefined symbols
    #[arg(short = 'u', long = "undefined-only")]
    pub undefined_only: bool,
    /// Only defined symbols
    #[arg(long = "defined-only", alias = "defined")]
    pub defined_only: bool,
    /// Only defined symbols, as GNU nm 2.40 parses -U: it takes the next word as an argument,
    /// which it ignores
    #[arg(short = 'U', value_name = "IGNORED", allow_hyphen_values = true)]
    pub defined_only_u: Option<String>,
    /// Leave out weak symbols
    #[arg(short = 'W', long = "no-weak")]
    pub no_weak: bool,
    /// Print the version of dynamic symbols (the default, as in GNU nm 2.40)
    #[arg(long = "with-symbol-versions")]
    pub with_symbol_versions: bool,
    /// Ignored, as GNU nm ignores it (only 32_64 is taken)
    #[arg(short = 'X', value_name = "32_64", value_parser = ["32_64"], hide = true)]
    pub ignored_x: Option<String>,
    /// How to show names with UTF-8: default (as they are), locale (the same, control
    /// characters as ^X), invalid ({0x…}), hex (<0x…>), escape (\u…), highlight (escaped, in
    /// colour on a terminal). GNU nm 2.40 lists `show` too, and refuses it; so does this
    #[arg(long, value_name = "MODE")]
    pub unicode: Option<String>,
    /// Print polylink's version and exit
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Output format: bsd (the default), posix (as -P), sysv, just-symbols (as -j), or json
    #[arg(short = 'f', long, value_enum, overrides_with_all = ["bsd", "portability", "just_symbols"])]
    pub format: Option<Format>,
    /// The files to read (a.out when none is named); @FILE reads more options and files from
    /// FILE
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// The usual `polylink nm` command lines, parsed without clap: short options that take no
/// value and are no other option's rival (`-A -a -C -D -e -g -r -S -s -u -W`, alone or
/// together, as in `-DC`) and files. Building clap's parser of nm's 50 options takes about a
/// quarter of a millisecond, a twentieth of listing a 6 000-symbol library. `None` for any
/// other command line, which clap then parses (and a unit test holds the two to each other).
pub fn quick_nm_args(args: &[std::ffi::OsString]) -> Option<NmArgs> {
    let mut parsed = NmArgs::default();
    for arg in args {
        let arg = arg.to_str()?;
        let Some(flags) = arg.strip_prefix('-') else {
            parsed.files.push(PathBuf::from(arg));
            continue;
        };
        if flags.is_empty() {
            return None;
        }
        for flag in flags.chars() {
            match flag {
                'A' => parsed.print_file_name = true,
                'a' => parsed.debug_syms = true,
                'C' => parsed.demangle = Some("auto".into()),
                'D' => parsed.dynamic = true,
                'e' => parsed.ignored_e = true,
                'g' => parsed.extern_only = true,
                'r' => parsed.reverse_sort = true,
                'S' => parsed.print_size = true,
                's' => parsed.print_armap = true,
                'u' => parsed.undefined_only = true,
                'W' => parsed.no_weak = true,
                _ => return None,
            }
        }
    }
    Some(parsed)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Bsd,
    Posix,
    Sysv,
    #[value(name = "just-symbols")]
    JustSymbols,
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
    if args.version {
        println!(
            "polylink nm {} (prints what GNU nm 2.40 prints)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(ExitCode::SUCCESS);
    }
    // With no file named, GNU nm reads a.out.
    let files = match args.files.is_empty() {
        true => vec![PathBuf::from("a.out")],
        false => args.files.clone(),
    };
    let format = match (args.format, args.portability, args.just_symbols, args.bsd) {
        (Some(Format::Bsd), ..) | (None, false, false, true) => Some(nm::Format::Bsd),
        (Some(Format::Posix), ..) | (None, true, ..) => Some(nm::Format::Posix),
        (Some(Format::JustSymbols), ..) | (None, _, true, _) => Some(nm::Format::JustSymbols),
        (Some(Format::Json), ..) => Some(nm::Format::Json),
        (Some(Format::Sysv), ..) => Some(nm::Format::Sysv),
        (None, false, false, false) => None,
    };
    if args.size_sort && args.undefined_only {
        eprintln!(
            "nm: Using the --size-sort and --undefined-only options together\n\
             nm: will produce no output, since undefined symbols have no size."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ifunc_chars = args.ifunc_chars.as_deref().map(|chars| {
        let mut bytes = chars.bytes();
        (bytes.next().unwrap_or(b'i'), bytes.next())
    });
    let options = nm::Options {
        print_file_name: args.print_file_name,
        demangle: args
            .demangle
            .as_deref()
            .is_some_and(|style| style != "none"),
        dynamic: args.dynamic,
        extern_only: args.extern_only,
        numeric_sort: args.numeric_sort,
        no_sort: args.no_sort,
        portability: false,
        reverse_sort: args.reverse_sort,
        print_size: args.print_size,
        undefined_only: args.undefined_only,
        defined_only: args.defined_only || args.defined_only_u.is_some(),
        format,
        size_sort: args.size_sort,
        no_weak: args.no_weak,
        radix: match args.radix.as_deref() {
            Some("d") => nm::Radix::Decimal,
            Some("o") => nm::Radix::Octal,
            _ => nm::Radix::Hex,
        },
        ifunc_chars,
        print_armap: args.print_armap,
        debug_syms: args.debug_syms,
        line_numbers: args.line_numbers,
        synthetic: args.synthetic,
        no_recurse_limit: args.no_recurse_limit,
        unicode: match args.unicode.as_deref() {
            None | Some("default") => nm::Unicode::Default,
            Some("locale") => nm::Unicode::Locale,
            Some("invalid") => nm::Unicode::Invalid,
            Some("hex") => nm::Unicode::Hex,
            Some("escape") => nm::Unicode::Escape,
            // GNU nm colours only what goes to a terminal.
            Some("highlight") if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
                nm::Unicode::Highlight
            }
            Some("highlight") => nm::Unicode::Escape,
            Some(other) => anyhow::bail!("invalid argument to --unicode: {other}"),
        },
    };
    let stdout = std::io::stdout().lock();
    roomy_pipe(&stdout);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let listed = nm::run(&mut out, &files, &options, &Host)
        .and_then(|outcome| out.flush().map(|()| outcome));
    let outcome = match listed {
        Ok(outcome) => outcome,
        // The reader has gone (`polylink nm … | head`): GNU nm dies of SIGPIPE without a
        // word, and so does this, as far as an exit status says (128 + SIGPIPE).
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::from(141)),
        Err(e) => return Err(e.into()),
    };
    drop(out);
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    for bad in &outcome.bad_names {
        eprintln!("nm: {bad}");
    }
    for file in outcome.no_symbols.iter().filter(|_| !args.quiet) {
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

/// `@FILE` arguments replaced by the words in FILE, as libiberty's `expandargv` does for GNU
/// nm: words split on white space, with single and double quotes and backslashes, and `@FILE`
/// inside expanded in turn (at most 10 deep). An `@FILE` naming no readable regular file stays
/// as it is. A response file is read to at most 1 MiB.
pub fn expand_response_files(
    args: Vec<std::ffi::OsString>,
    depth: usize,
) -> Result<Vec<std::ffi::OsString>> {
    const LIMIT: u64 = 1 << 20;
    let mut out = Vec::new();
    for arg in args {
        let path = arg
            .to_str()
            .and_then(|a| a.strip_prefix('@'))
            .map(PathBuf::from);
        let regular = path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.is_file());
        let Some(path) = path.filter(|_| regular) else {
            out.push(arg);
            continue;
        };
        anyhow::ensure!(
            depth < 10,
            "{}: response files nest more than 10 deep",
            path.display()
        );
        let file = std::fs::File::open(&path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, LIMIT + 1), &mut text)
            .map_err(|e| anyhow::anyhow!("could not read {}: {e}", path.display()))?;
        anyhow::ensure!(
            text.len() as u64 <= LIMIT,
            "{}: a response file of more than 1 MiB",
            path.display()
        );
        let words = response_words(&text).into_iter().map(Into::into).collect();
        out.extend(expand_response_files(words, depth + 1)?);
    }
    Ok(out)
}

/// libiberty's `buildargv`: words split on white space; quotes group, backslash escapes.
fn response_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}
