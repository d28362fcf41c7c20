//! The build as data: every step build-all runs, in dependency order, with its inputs, its
//! output and its command, and every program with how it is linked.
//!
//! Nothing here runs a tool. The same plan is executed by `build` and printed as a shell script
//! by `--dry-run` ([`Plan::script`]), so the two cannot drift apart.
//!
//! Order: NASM and C objects first (cheap, and where typos show up), then cargo's staticlibs
//! and binary, then the links, which need both.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::cmd::{relative_to, shell_quote};
use crate::platform;
use crate::tools::CCompiler;

/// Where things are: the source tree, cargo's target directory, and build-all's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
    pub cargo_target: PathBuf,
    pub out: PathBuf,
}

impl Layout {
    /// The layout for the source tree at `root`; `out` defaults to `<cargo target>/polylink`.
    /// A relative `out` is taken relative to `root`.
    pub fn new(root: &Path, out: Option<&Path>) -> Layout {
        let cargo_target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let out = out.map_or_else(|| cargo_target.join("polylink"), |o| root.join(o));
        Layout {
            root: root.to_path_buf(),
            cargo_target,
            out,
        }
    }

    pub fn obj(&self, name: &str) -> PathBuf {
        self.out.join("obj").join(name)
    }

    pub fn lib(&self, name: &str) -> PathBuf {
        self.out.join("lib").join(name)
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.out.join("bin").join(name)
    }

    /// Raw code: `nasm -f bin` output, no headers.
    pub fn raw(&self, name: &str) -> PathBuf {
        self.out.join("raw").join(name)
    }

    pub fn manifest(&self) -> PathBuf {
        self.out.join("manifest.json")
    }

    /// The record of how `output` was last made, used to tell whether it is fresh.
    pub fn stamp(&self, output: &Path) -> PathBuf {
        let name = relative_to(output, &self.out)
            .to_string_lossy()
            .replace('/', "__");
        self.stamps_dir().join(format!("{name}.json"))
    }

    /// The directories build-all writes its outputs into.
    pub fn output_dirs(&self) -> [PathBuf; 4] {
        ["obj", "lib", "bin", "raw"].map(|d| self.out.join(d))
    }

    /// Where the stamps live (see [`Layout::stamp`]).
    pub fn stamps_dir(&self) -> PathBuf {
        self.out.join(".stamps")
    }

    /// `path` as commands see it: relative to the source tree, which is their working directory.
    pub fn show<'a>(&self, path: &'a Path) -> &'a Path {
        relative_to(path, &self.root)
    }
}

/// A value computed during the build and used by later commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// The system libraries a Rust staticlib needs, as rustc prints them
    /// (`--print native-static-libs`); several words.
    NativeLibs,
    /// The directory of libgcc and libgcc_s, where plain `ld` finds `-lgcc_s`.
    GccLibDir,
}

impl Var {
    pub fn name(self) -> &'static str {
        match self {
            Var::NativeLibs => "NATIVE_LIBS",
            Var::GccLibDir => "GCC_LIBDIR",
        }
    }
}

/// One word of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    /// A file, shown relative to the source tree when it lies inside it.
    Path(PathBuf),
    /// The step's output. A real run writes a temporary file next to it and renames it.
    Output,
    Var(Var),
}

fn lits<const N: usize>(words: [&str; N]) -> impl Iterator<Item = Arg> {
    words.into_iter().map(|w| Arg::Lit(w.to_owned()))
}

/// What a step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// An external tool that reads the step's inputs and writes its output.
    Tool { program: String, args: Vec<Arg> },
    /// A cargo command (cargo judges its own freshness) whose artifact is copied to the output.
    Cargo {
        args: Vec<String>,
        artifact: PathBuf,
        /// Whether rustc prints the native libraries this staticlib needs ([`Var::NativeLibs`]).
        defines_native_libs: bool,
    },
}

/// One step of the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The progress verb, cargo style: "Assembling", "Compiling", "Linking".
    pub verb: &'static str,
    /// What the progress line names.
    pub subject: String,
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub action: Action,
}

impl Step {
    /// The variables this step's command uses.
    pub fn uses(&self) -> impl Iterator<Item = Var> + '_ {
        let args = match &self.action {
            Action::Tool { args, .. } => args.as_slice(),
            Action::Cargo { .. } => &[],
        };
        args.iter().filter_map(|a| match a {
            Arg::Var(v) => Some(*v),
            _ => None,
        })
    }

    /// The command as a script line: paths relative to the source tree, variables unexpanded.
    /// Fingerprints use this form, so a run in another directory is not "different".
    pub fn script_words(&self, layout: &Layout) -> Vec<String> {
        match &self.action {
            Action::Tool { program, args } => std::iter::once(shell_quote(program).into_owned())
                .chain(args.iter().map(|arg| match arg {
                    Arg::Lit(s) => shell_quote(s).into_owned(),
                    Arg::Path(p) => shell_quote(&layout.show(p).to_string_lossy()).into_owned(),
                    Arg::Output => {
                        shell_quote(&layout.show(&self.output).to_string_lossy()).into_owned()
                    }
                    Arg::Var(Var::NativeLibs) => "$NATIVE_LIBS".to_owned(),
                    Arg::Var(v) => format!("\"${}\"", v.name()),
                }))
                .collect(),
            Action::Cargo { args, .. } => std::iter::once("cargo".to_owned())
                .chain(args.iter().map(|a| shell_quote(a).into_owned()))
                .collect(),
        }
    }
}

/// How a program is linked, recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    pub name: &'static str,
    pub entry: &'static str,
    /// "cc", "ld" or "cargo".
    pub linker: &'static str,
    pub uses_libc: bool,
    pub static_link: bool,
    /// The linker's inputs in the order given (for cargo: the sources its build script uses).
    pub inputs: Vec<Arg>,
    pub output: PathBuf,
}

/// The whole build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub layout: Layout,
    pub steps: Vec<Step>,
    pub programs: Vec<ProgramSpec>,
    /// The C compiler, also the link driver for programs linked "with gcc".
    pub cc: String,
}

/// The routines: the `.asm` files of `asm/routines/`, by name, sorted.
pub fn routines(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("asm/routines"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "asm"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// A program linked by build-all: its name, entry point, linker and inputs.
struct Link {
    name: &'static str,
    entry: &'static str,
    how: Linker,
    inputs: Vec<Arg>,
}

enum Linker {
    /// The C compiler as link driver, with the C runtime's start files.
    Cc,
    /// The C compiler as link driver with `-nostartfiles`: the program brings its own `_start`.
    CcNoStartFiles,
    /// Plain `ld`, dynamic: PIE, the dynamic linker and every library named explicitly.
    LdDynamic,
    /// Plain `ld`, static, unused sections dropped: for code without libc.
    LdStatic,
}

impl Plan {
    /// The polylink build.
    pub fn new(layout: Layout, cc: &CCompiler) -> Plan {
        let mut plan = Plan {
            layout,
            steps: Vec::new(),
            programs: Vec::new(),
            cc: cc.program.clone(),
        };
        let l = plan.layout.clone();

        for name in ["asm-start", "freestanding-start"] {
            let source = format!("asm/{name}.asm");
            let object = l.obj(&format!("{name}.o"));
            plan.assemble(
                &source,
                platform::NASM_OBJECT_FORMAT,
                object,
                source.clone(),
            );
        }
        // Each routine twice from one source: an object to link, raw bytes to load.
        for name in routines(&l.root) {
            let source = format!("asm/routines/{name}.asm");
            let object = l.obj(&format!("{name}.o"));
            let format = platform::NASM_OBJECT_FORMAT;
            plan.assemble(&source, format, object, format!("{source} ({format})"));
            let raw = l.raw(&format!("{name}.bin"));
            plan.assemble(&source, "bin", raw, format!("{source} (bin)"));
        }
        for name in ["tour", "c-main", "c-start"] {
            plan.compile_c(cc, name);
        }

        plan.cargo(
            "polylink",
            &[
                "rustc",
                "--package",
                "polylink",
                "--release",
                "--",
                "--print",
                "native-static-libs",
            ],
            "release/libpolylink.a",
            l.lib("libpolylink.a"),
            true,
        );
        plan.cargo(
            "polylink-freestanding",
            &[
                "rustc",
                "--package",
                "polylink-freestanding",
                "--profile",
                "freestanding",
                "--crate-type",
                "staticlib",
            ],
            "freestanding/libpolylink_freestanding.a",
            l.lib("libpolylink_freestanding.a"),
            false,
        );
        plan.cargo(
            "rust-calls-c-and-asm",
            &["build", "--package", "rust-calls-c-and-asm", "--release"],
            "release/rust-calls-c-and-asm",
            l.bin("rust-calls-c-and-asm"),
            false,
        );
        plan.cargo(
            "polylink-routines",
            &["build", "--package", "polylink-routines", "--release"],
            "release/polylink-routines",
            l.bin("polylink-routines"),
            false,
        );
        plan.programs.push(ProgramSpec {
            name: "polylink-routines",
            entry: "main",
            linker: "cargo",
            uses_libc: true,
            static_link: false,
            inputs: ["routines/src/main.rs", "asm/routines"]
                .map(|p| Arg::Path(l.root.join(p)))
                .into(),
            output: l.bin("polylink-routines"),
        });
        // The command users install, built as `cargo install --path crates/polylink` builds it.
        plan.cargo(
            "polylink-cli",
            &["build", "--package", "polylink-cli", "--release"],
            "release/polylink",
            l.bin("polylink"),
            false,
        );
        plan.programs.push(ProgramSpec {
            name: "polylink",
            entry: "main",
            linker: "cargo",
            uses_libc: true,
            static_link: false,
            inputs: ["crates/polylink/src/main.rs"]
                .map(|p| Arg::Path(l.root.join(p)))
                .into(),
            output: l.bin("polylink"),
        });
        plan.programs.push(ProgramSpec {
            name: "rust-calls-c-and-asm",
            entry: "main",
            linker: "cargo",
            uses_libc: true,
            static_link: false,
            inputs: [
                "rust-lib/calls-c-and-asm/src/main.rs",
                "c/callee.c",
                "asm/callee.asm",
            ]
            .map(|p| Arg::Path(l.root.join(p)))
            .into(),
            output: l.bin("rust-calls-c-and-asm"),
        });

        let obj = |name: &str| Arg::Path(l.obj(&format!("{name}.o")));
        let polylink = Arg::Path(l.lib("libpolylink.a"));
        let native = Arg::Var(Var::NativeLibs);
        let links = [
            Link {
                name: "c-main",
                entry: "main",
                how: Linker::Cc,
                inputs: vec![obj("c-main"), obj("tour"), polylink.clone(), native.clone()],
            },
            Link {
                name: "c-start",
                entry: "_start",
                how: Linker::CcNoStartFiles,
                inputs: vec![
                    obj("c-start"),
                    obj("tour"),
                    polylink.clone(),
                    native.clone(),
                ],
            },
            Link {
                name: "asm-start",
                entry: "_start",
                how: Linker::CcNoStartFiles,
                inputs: vec![obj("asm-start"), polylink.clone(), native.clone()],
            },
            Link {
                name: "asm-start-ld",
                entry: "_start",
                how: Linker::LdDynamic,
                inputs: vec![
                    obj("asm-start"),
                    polylink,
                    Arg::Lit("-L".into()),
                    Arg::Var(Var::GccLibDir),
                    native,
                ],
            },
            Link {
                name: "asm-freestanding",
                entry: "_start",
                how: Linker::LdStatic,
                inputs: vec![
                    obj("freestanding-start"),
                    Arg::Path(l.lib("libpolylink_freestanding.a")),
                ],
            },
        ];
        for link in links {
            plan.link(link);
        }
        plan
    }

    /// `nasm -f FORMAT -o OUTPUT SOURCE`, with SOURCE relative to the source tree.
    fn assemble(&mut self, source: &str, format: &str, output: PathBuf, subject: String) {
        let source = self.layout.root.join(source);
        let args = lits(["-f", format, "-o"])
            .chain([Arg::Output, Arg::Path(source.clone())])
            .collect();
        self.steps.push(Step {
            verb: "Assembling",
            subject,
            inputs: vec![source],
            output,
            action: Action::Tool {
                program: "nasm".into(),
                args,
            },
        });
    }

    fn compile_c(&mut self, cc: &CCompiler, name: &str) {
        let root = &self.layout.root;
        let source = root.join(format!("c/{name}.c"));
        let include = root.join("rust-lib/include");
        let args = cc
            .flags
            .iter()
            .map(|f| Arg::Lit(f.clone()))
            .chain([Arg::Lit("-I".into()), Arg::Path(include.clone())])
            .chain(lits(["-c", "-o"]))
            .chain([Arg::Output, Arg::Path(source.clone())])
            .collect();
        self.steps.push(Step {
            verb: "Compiling",
            subject: format!("c/{name}.c"),
            // Every header a C file here may include.
            inputs: vec![source, root.join("c/tour.h"), include.join("polylink.h")],
            output: self.layout.obj(&format!("{name}.o")),
            action: Action::Tool {
                program: cc.program.clone(),
                args,
            },
        });
    }

    fn cargo(
        &mut self,
        package: &str,
        args: &[&str],
        artifact: &str,
        output: PathBuf,
        defines_native_libs: bool,
    ) {
        self.steps.push(Step {
            verb: "Compiling",
            subject: format!("{package} (cargo)"),
            inputs: Vec::new(),
            output,
            action: Action::Cargo {
                args: args.iter().map(|a| a.to_string()).collect(),
                artifact: self.layout.cargo_target.join(artifact),
                defines_native_libs,
            },
        });
    }

    fn link(&mut self, link: Link) {
        let cc = self.cc.as_str();
        let (program, linker, flags, uses_libc, static_link): (&str, _, &[&str], _, _) =
            match link.how {
                Linker::Cc => (cc, "cc", &[], true, false),
                Linker::CcNoStartFiles => (cc, "cc", &["-nostartfiles"], true, false),
                Linker::LdDynamic => (
                    "ld",
                    "ld",
                    &["-pie", "--dynamic-linker", platform::DYNAMIC_LINKER],
                    true,
                    false,
                ),
                // Without debug info: core's line tables would double the program's size.
                Linker::LdStatic => (
                    "ld",
                    "ld",
                    &["-static", "--gc-sections", "--strip-debug"],
                    false,
                    true,
                ),
            };
        let program = program.to_owned();
        let output = self.layout.bin(link.name);
        let args = flags
            .iter()
            .map(|f| Arg::Lit((*f).into()))
            .chain([Arg::Lit("-o".into()), Arg::Output])
            .chain(link.inputs.iter().cloned())
            .collect();
        let inputs = link
            .inputs
            .iter()
            .filter_map(|a| match a {
                Arg::Path(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        self.steps.push(Step {
            verb: "Linking",
            subject: format!("{} ({program})", link.name),
            inputs,
            output: output.clone(),
            action: Action::Tool { program, args },
        });
        self.programs.push(ProgramSpec {
            name: link.name,
            entry: link.entry,
            linker,
            uses_libc,
            static_link,
            inputs: link.inputs,
            output,
        });
    }

    /// The whole build as a bash script that, pasted into a shell, builds the same programs.
    pub fn script(&self) -> String {
        let l = &self.layout;
        let show = |p: &Path| shell_quote(&l.show(p).to_string_lossy()).into_owned();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "#!/usr/bin/env bash\n\
             # The polylink build as plain commands, printed by `cargo xtask build-all --dry-run`.\n\
             # build-all runs the same commands, writing each output to a temporary file that it\n\
             # renames on success, and skips the steps whose inputs have not changed.\n\
             # rust-lib/include/polylink.h is generated by `cargo xtask header` and committed.\n\
             set -euo pipefail\n\
             cd {}\n\
             mkdir -p {}",
            shell_quote(&l.root.to_string_lossy()),
            l.output_dirs()
                .iter()
                .map(|d| show(d))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut defined = Vec::new();
        for step in &self.steps {
            let _ = writeln!(s, "\n# {} {}", step.verb, step.subject);
            for var in step.uses() {
                if var == Var::GccLibDir && !defined.contains(&var) {
                    let _ = writeln!(
                        s,
                        "{}=$(dirname \"$({} -print-libgcc-file-name)\")",
                        var.name(),
                        shell_quote(&self.cc)
                    );
                    defined.push(var);
                }
            }
            let command = step.script_words(l).join(" ");
            match &step.action {
                Action::Tool { .. } => {
                    let _ = writeln!(s, "{command}");
                }
                Action::Cargo {
                    artifact,
                    defines_native_libs,
                    ..
                } => {
                    if *defines_native_libs {
                        let _ = writeln!(
                            s,
                            "{}=$({command} 2>&1 | tee /dev/stderr | sed -n 's/^note: native-static-libs: //p')",
                            Var::NativeLibs.name()
                        );
                        defined.push(Var::NativeLibs);
                    } else {
                        let _ = writeln!(s, "{command}");
                    }
                    let _ = writeln!(s, "cp {} {}", show(artifact), show(&step.output));
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let cc = CCompiler {
            program: "cc".into(),
            flags: vec!["-O2".into()],
        };
        Plan::new(Layout::new(Path::new("/src"), None), &cc)
    }

    fn words(plan: &Plan, output: &str) -> String {
        let output = plan.layout.root.join(output);
        let step = plan.steps.iter().find(|s| s.output == output).unwrap();
        step.script_words(&plan.layout).join(" ")
    }

    #[test]
    fn objects_come_before_the_archives_they_need() {
        let plan = plan();
        assert_eq!(
            words(&plan, "target/polylink/bin/c-main"),
            "cc -o target/polylink/bin/c-main target/polylink/obj/c-main.o \
             target/polylink/obj/tour.o target/polylink/lib/libpolylink.a $NATIVE_LIBS"
        );
    }

    #[test]
    fn plain_ld_names_the_dynamic_linker_and_gccs_library_directory() {
        let plan = plan();
        assert_eq!(
            words(&plan, "target/polylink/bin/asm-start-ld"),
            "ld -pie --dynamic-linker /lib64/ld-linux-x86-64.so.2 -o target/polylink/bin/asm-start-ld \
             target/polylink/obj/asm-start.o target/polylink/lib/libpolylink.a -L \"$GCC_LIBDIR\" $NATIVE_LIBS"
        );
    }

    #[test]
    fn every_input_is_made_by_an_earlier_step_or_is_a_source() {
        let plan = plan();
        for (i, step) in plan.steps.iter().enumerate() {
            for input in &step.inputs {
                if input.starts_with(&plan.layout.out) {
                    let maker = plan.steps.iter().position(|s| &s.output == input);
                    assert!(
                        maker.is_some_and(|m| m < i),
                        "{} needs {input:?} first",
                        step.subject
                    );
                }
            }
        }
    }

    #[test]
    fn the_script_defines_each_variable_before_its_first_use() {
        let script = plan().script();
        for var in [Var::NativeLibs, Var::GccLibDir] {
            let defined = script.find(&format!("{}=", var.name())).unwrap();
            let used = script.find(&format!("${}", var.name())).unwrap();
            assert!(defined < used, "{} used before it is defined", var.name());
        }
    }
}
