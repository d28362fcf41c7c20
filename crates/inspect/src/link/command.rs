//! A user's link command, read: which driver (gcc, g++, clang, or plain ld), the options that
//! change what the driver adds around the inputs, the inputs in ld's terms for the replay, and
//! where in the user's own argv each input stands, so that a fix can be written back in the
//! user's own syntax.

use super::LinkError;
use crate::link_order::ld_input_option;

/// How the command links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linker {
    /// A compiler driver (`gcc`, `cc`, `g++`, `clang`, …), named as the user named it.
    Driver { program: String, cxx: bool },
    /// GNU ld itself.
    Ld,
}

/// A link command and what the replay needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkCommand {
    /// The command as given.
    pub argv: Vec<String>,
    pub linker: Linker,
    /// Driver options that change what it adds (`-nostartfiles`, `-static`, `-shared`, …).
    pub driver_args: Vec<String>,
    /// The inputs and input-reading options, in order, as ld takes them (`-Wl,` forms kept:
    /// the replay splits them).
    pub inputs: Vec<String>,
    /// For each entry of `inputs`, where it stands in `argv` (two words for `-l NAME`, `-L DIR`,
    /// `-Xlinker X`: the first).
    pub positions: Vec<usize>,
    /// Where the output file's name is in `argv`, when `-o` names one, and whether it is
    /// joined to the option (`-omain`).
    pub output: Option<(usize, bool)>,
    /// The source files the driver compiles before it links, by index in `inputs`.
    pub sources: Vec<usize>,
    /// The driver's options for compiling them (`-O2`, `-I dir`, `-std=c11`, …).
    pub compile_args: Vec<String>,
}

/// Driver options that take the next word as their value.
const DRIVER_WITH_VALUE: [&str; 9] = [
    "-x", "-I", "-D", "-U", "-include", "-isystem", "-MF", "-MT", "-MQ",
];

/// Driver options that change the link the driver builds (its start files and libraries).
const DRIVER_LINK_OPTIONS: [&str; 17] = [
    "-nostartfiles",
    "-nostdlib",
    "-nodefaultlibs",
    "-nolibc",
    "-static",
    "-static-pie",
    "-shared",
    "-pie",
    "-no-pie",
    "-rdynamic",
    "-static-libgcc",
    "-shared-libgcc",
    "-static-libstdc++",
    "-pthread",
    "-m64",
    "-m32",
    "-r",
];

/// ld options that take the next word as their value, and are not inputs.
const LD_WITH_VALUE: [&str; 16] = [
    "-m",
    "-e",
    "--entry",
    "-T",
    "-z",
    "-soname",
    "-h",
    "-dynamic-linker",
    "--dynamic-linker",
    "-rpath",
    "-rpath-link",
    "-Map",
    "--version-script",
    "-y",
    "--hash-style",
    "--build-id",
];

/// Whether `word` names a source file the driver would compile rather than link.
fn is_source(word: &str) -> bool {
    let ext = word.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(
        ext,
        "c" | "cc" | "cpp" | "cxx" | "c++" | "C" | "s" | "S" | "asm" | "rs" | "m" | "f90"
    )
}

impl LinkCommand {
    pub fn parse(argv: &[String]) -> Result<LinkCommand, LinkError> {
        let (program, args) = argv.split_first().ok_or(LinkError::Empty)?;
        let name = std::path::Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '.');
        let linker = match base {
            "ld" | "ld.bfd" | "x86_64-linux-gnu-ld" | "x86_64-linux-gnu-ld.bfd" => Linker::Ld,
            b if b.ends_with("gcc")
                || b.ends_with("cc")
                || b.ends_with("clang")
                || b.ends_with("g++")
                || b.ends_with("c++")
                || b.ends_with("clang++") =>
            {
                Linker::Driver {
                    program: program.clone(),
                    cxx: b.ends_with("++"),
                }
            }
            _ => {
                return Err(LinkError::UnknownLinker {
                    program: program.clone(),
                });
            }
        };
        let mut command = LinkCommand {
            argv: argv.to_vec(),
            linker: linker.clone(),
            driver_args: Vec::new(),
            inputs: Vec::new(),
            positions: Vec::new(),
            output: None,
            sources: Vec::new(),
            compile_args: Vec::new(),
        };
        let mut i = 0;
        while i < args.len() {
            let at = i + 1; // the position in argv
            let word = args[i].as_str();
            let next = args.get(i + 1);
            let take = |input: String, command: &mut LinkCommand| {
                command.inputs.push(input);
                command.positions.push(at);
            };
            match word {
                "-o" => {
                    command.output = Some((at + 1, false));
                    i += 1;
                }
                w if w.starts_with("-o") && w.len() > 2 => command.output = Some((at, true)),
                w if matches!(linker, Linker::Driver { .. })
                    && DRIVER_LINK_OPTIONS.contains(&w) =>
                {
                    command.driver_args.push(w.to_owned());
                }
                "-l" | "-L" => {
                    let value = next.ok_or_else(|| LinkError::MissingValue {
                        option: word.into(),
                    })?;
                    take(format!("{word}{value}"), &mut command);
                    i += 1;
                }
                "-Xlinker" if matches!(linker, Linker::Driver { .. }) => {
                    let value = next.ok_or_else(|| LinkError::MissingValue {
                        option: word.into(),
                    })?;
                    take(format!("-Wl,{value}"), &mut command);
                    i += 1;
                }
                w if w.starts_with("-Wl,") => take(w.to_owned(), &mut command),
                w if ld_input_option(w) => take(w.to_owned(), &mut command),
                w if !w.starts_with('-') && is_source(w) => {
                    if linker == Linker::Ld {
                        return Err(LinkError::Source { file: w.to_owned() });
                    }
                    command.sources.push(command.inputs.len());
                    take(w.to_owned(), &mut command);
                }
                w if !w.starts_with('-') => take(w.to_owned(), &mut command),
                w => match linker {
                    Linker::Driver { .. } => {
                        if w.starts_with("-fuse-ld=") {
                            command.driver_args.push(w.to_owned());
                        } else if DRIVER_WITH_VALUE.contains(&w) {
                            command.compile_args.push(w.to_owned());
                            command.compile_args.extend(next.cloned());
                            i += 1;
                        } else {
                            command.compile_args.push(w.to_owned());
                        }
                    }
                    Linker::Ld => {
                        if LD_WITH_VALUE.contains(&w) {
                            i += 1;
                        }
                    }
                },
            }
            i += 1;
        }
        Ok(command)
    }

    /// The command with its output sent to `output` instead (added when it names none).
    pub fn with_output(&self, output: &str) -> Vec<String> {
        let mut argv = self.argv.clone();
        match self.output {
            Some((at, false)) if at < argv.len() => argv[at] = output.to_owned(),
            Some((at, true)) => argv[at] = format!("-o{output}"),
            _ => argv.extend(["-o".to_owned(), output.to_owned()]),
        }
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_gcc_line_splits_into_driver_options_and_inputs() {
        let c = LinkCommand::parse(&words(
            "gcc -O2 -o main main.o -L lib -lm -Wl,--as-needed -nostartfiles -Xlinker -Bstatic x.a",
        ))
        .unwrap();
        assert_eq!(
            c.linker,
            Linker::Driver {
                program: "gcc".into(),
                cxx: false
            }
        );
        assert_eq!(c.driver_args, ["-nostartfiles"]);
        assert_eq!(
            c.inputs,
            [
                "main.o",
                "-Llib",
                "-lm",
                "-Wl,--as-needed",
                "-Wl,-Bstatic",
                "x.a"
            ]
        );
        assert_eq!(c.positions, [4, 5, 7, 8, 10, 12]);
        assert_eq!(c.output, Some((3, false)));
        assert_eq!(c.with_output("/tmp/o")[3], "/tmp/o");
    }

    #[test]
    fn an_ld_line_skips_the_values_of_its_options() {
        let c = LinkCommand::parse(&words(
            "ld -pie -m elf_x86_64 --dynamic-linker /lib64/ld.so -o p start.o -L. -lfoo -z now",
        ))
        .unwrap();
        assert_eq!(c.linker, Linker::Ld);
        assert_eq!(c.inputs, ["start.o", "-L.", "-lfoo"]);
        assert_eq!(c.with_output("o2")[7], "o2");
        let with_source = LinkCommand::parse(&words("gcc -O2 -I inc -o p main.c x.a")).unwrap();
        assert_eq!(
            (with_source.sources, with_source.compile_args),
            (vec![0], vec!["-O2".to_owned(), "-I".into(), "inc".into()])
        );
        assert!(LinkCommand::parse(&words("ld main.c")).is_err());
        assert!(LinkCommand::parse(&words("make all")).is_err());
        assert_eq!(
            LinkCommand::parse(&words("g++ -o a a.o")).unwrap().output,
            Some((2, false))
        );
        let joined = LinkCommand::parse(&words("cc -omain -static m.o")).unwrap();
        assert_eq!(joined.with_output("x")[1], "-ox");
        assert_eq!(joined.driver_args, ["-static"]);
    }
}
