//! `polylink`: the one command users install. It parses the command line with clap and hands
//! each subcommand to its library: inspection (`nm`, `checksec`, `link-order`) to
//! polylink-inspect, raw code (`run`, `asm`) to polylink-exec and polylink-emit, and patching a
//! running host (`patch`) to polylink-hot.

mod code;
mod inspect;
mod live;
mod patch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "polylink",
    version,
    about = "Inspect, link, run and patch programs that mix Rust, C and x86-64 assembly",
    after_help = "Use polylink on your own project: see the chapter \"Use polylink on your own \
                  project\" in README.md, beside the sources polylink was installed from.",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What `polylink nm` does, as `polylink --help` lists it.
const NM_ABOUT: &str = "List the symbols of ELF objects, archives, executables and shared \
                        objects, as GNU nm prints them (nm --plugin /dev/null, C locale)";

#[derive(Debug, Subcommand)]
enum Command {
    #[command(about = NM_ABOUT)]
    Nm(inspect::NmArgs),
    /// Hardening of ELF programs: NX, PIE, RELRO, stack canary, static or dynamic, interpreter
    Checksec(inspect::ChecksecArgs),
    /// Hand it your link command (after --): whether it links, each problem by kind with a fix,
    /// and a command that links
    Link(inspect::LinkArgs),
    /// Replay GNU ld's archive resolution over a link line: does it link, what is left
    /// undefined and why, and which order links
    LinkOrder(inspect::LinkOrderArgs),
    /// Make a Rust staticlib coexist with others in one program: keep its C surface global and
    /// everything else (its own std) local
    Isolate(inspect::IsolateArgs),
    /// Call raw machine code (e.g. from `nasm -f bin`) with up to six integers; print rax
    Run(code::RunArgs),
    /// Assemble NASM-syntax instructions with polylink's emitter: print hex, write a raw bin,
    /// or call the code
    Asm(code::AsmArgs),
    /// Write raw code into a running polylink host's hot region and switch a slot to it
    Patch(patch::PatchArgs),
    /// Replace a function of an unmodified running process with a relocatable object linked
    /// against its live image; undo it; list what is patched
    LivePatch(live::LivePatchArgs),
}

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let outcome = if args.get(1).is_some_and(|a| a == "nm") {
        // `polylink nm @FILE` reads options and files from FILE, as GNU nm (libiberty) does.
        let rest = args.split_off(2);
        match inspect::expand_response_files(rest, 0) {
            Ok(expanded) => args.extend(expanded),
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::FAILURE;
            }
        }
        // nm alone is parsed, its usual command lines without clap: the parsers, built for
        // nothing, would be a good part of a small listing's time.
        let nm_args = inspect::quick_nm_args(&args[2..]).unwrap_or_else(|| {
            let matches = nm_command().get_matches_from(args.split_off(1));
            clap::FromArgMatches::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
        });
        inspect::nm(nm_args)
    } else {
        run(Cli::parse_from(args))
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `nm` subcommand on its own, as `polylink nm`.
fn nm_command() -> clap::Command {
    <inspect::NmArgs as clap::Args>::augment_args(clap::Command::new("nm"))
        .bin_name("polylink nm")
        .about(NM_ABOUT)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Nm(args) => inspect::nm(args),
        Command::Checksec(args) => inspect::checksec(args),
        Command::Link(args) => inspect::link(args),
        Command::LinkOrder(args) => inspect::link_order(args),
        Command::Isolate(args) => inspect::isolate(args),
        Command::Run(args) => code::run(args),
        Command::Asm(args) => code::asm(args),
        Command::Patch(args) => patch::patch(args),
        Command::LivePatch(args) => live::live_patch(args),
    }
}

/// Parses an unsigned integer, decimal or 0x-prefixed hexadecimal.
fn parse_u64(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("not an unsigned 64-bit integer: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `polylink nm`, parsed on its own, is the subcommand `polylink --help` lists: the same
    /// help, the same usage.
    #[test]
    fn nm_alone_is_the_subcommand() {
        super::Cli::command().debug_assert();
        let mut full = super::Cli::command();
        full.build();
        let sub = full.find_subcommand_mut("nm").expect("an nm subcommand");
        let mut alone = super::nm_command();
        assert_eq!(
            alone.render_long_help().to_string(),
            sub.render_long_help().to_string()
        );
        assert_eq!(
            alone.render_usage().to_string(),
            sub.render_usage().to_string()
        );
    }

    #[test]
    fn usual_nm_command_lines_parse_as_clap_parses_them() {
        use std::ffi::OsString;
        let clap_parse = |args: &[&str]| {
            let line = std::iter::once("nm").chain(args.iter().copied());
            let matches = super::nm_command().try_get_matches_from(line).unwrap();
            let parsed: crate::inspect::NmArgs =
                clap::FromArgMatches::from_arg_matches(&matches).unwrap();
            format!("{parsed:?}")
        };
        let quick = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            crate::inspect::quick_nm_args(&args).map(|parsed| format!("{parsed:?}"))
        };
        let flags = "AaCDegrSsuW";
        let mut lines: Vec<Vec<String>> = vec![vec![], vec!["lib.so".into()]];
        for (i, a) in flags.chars().enumerate() {
            lines.push(vec![format!("-{a}"), "f.o".into()]);
            for b in flags.chars().skip(i) {
                lines.push(vec![
                    format!("-{a}"),
                    format!("-{b}"),
                    "x".into(),
                    "y.a".into(),
                ]);
                lines.push(vec!["x".into(), format!("-{a}{b}"), format!("-{b}")]);
            }
        }
        lines.push(vec![format!("-{flags}"), "f".into()]);
        for line in &lines {
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            assert_eq!(quick(&line), Some(clap_parse(&line)), "{line:?}");
        }
        // Left to clap: long options, values, rivals, `-`, `--`.
        for line in [
            &["--dynamic", "f"][..],
            &["-C=gnu-v3", "f"],
            &["-tx", "f"],
            &["-n", "f"],
            &["-D", "-"],
            &["--", "-f"],
            &["-Dj", "f"],
        ] {
            assert_eq!(quick(line), None, "{line:?}");
        }
    }
}
