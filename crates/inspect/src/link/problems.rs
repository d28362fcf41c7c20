//! Problems, each of a kind a person can look up: read off the replay (who needs what, who
//! defines it, what is defined twice, which archives need each other) and off what the real
//! linker printed (relocations a PIE cannot have, an executable stack, a 32-bit object). Each
//! names its symbol demangled with the raw name beside it, says who needs it and where it is
//! defined, and gives a fix in plain words.

use super::command::{LinkCommand, Linker};
use crate::link_order::{Line, Report, Whence};
use crate::names::one_edit;
pub use crate::names::shown;

/// One problem, as `--json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub kind: &'static str,
    /// The raw symbol, when one is involved.
    pub symbol: Option<String>,
    pub message: String,
    pub fix: String,
}

/// Kinds read off the linker's own messages; a failure they explain is not the replay's miss.
const FROM_LINKER: [&str; 5] = [
    "plt-needed",
    "pie-absolute-reloc",
    "text-relocation",
    "exec-stack",
    "wrong-elf-class",
];

impl Problem {
    pub(super) fn new(
        kind: &'static str,
        symbol: Option<&str>,
        message: String,
        fix: String,
    ) -> Problem {
        Problem {
            kind,
            symbol: symbol.map(str::to_owned),
            message,
            fix,
        }
    }

    /// Whether it was read off the linker's messages.
    pub fn from_linker(&self) -> bool {
        FROM_LINKER.contains(&self.kind)
    }
}

/// The Rust runtime's symbols that every Rust staticlib defines for itself.
const RUST_RUNTIME: [&str; 8] = [
    "rust_eh_personality",
    "rust_begin_unwind",
    "__rust_alloc",
    "__rust_dealloc",
    "__rust_realloc",
    "__rust_alloc_zeroed",
    "__rust_alloc_error_handler",
    "__rust_no_alloc_shim_is_unstable",
];

/// Whether `sym` is one of the Rust runtime's symbols every staticlib defines for itself.
pub fn rust_runtime(sym: &str) -> bool {
    RUST_RUNTIME.contains(&sym) || sym.contains("3std")
}

/// A C++ name's function name without its parameters and scope (`foo` of `ns::foo(int)`).
fn cpp_base(name: &str) -> Option<String> {
    if !name.starts_with("_Z") || rustc_demangle::try_demangle(name).is_ok() {
        return None;
    }
    let d = cpp_demangle::Symbol::new(name).ok()?.demangle().ok()?;
    let before_args = d.split('(').next()?;
    Some(before_args.rsplit("::").next()?.to_owned())
}

/// A Rust name's last path segment (`hello` of `m2::hello`).
fn rust_base(name: &str) -> Option<String> {
    let d = format!("{:#}", rustc_demangle::try_demangle(name).ok()?);
    Some(d.rsplit("::").next()?.to_owned())
}

fn is_crt(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    matches!(file, "crt1.o" | "Scrt1.o" | "rcrt1.o" | "gcrt1.o")
}

/// The problems the replay shows.
pub fn classify(line: &Line, report: &Report, command: &LinkCommand) -> Vec<Problem> {
    let out = undefined_problems(line, report, command);
    let mut out = merge_same_story(out);
    out.extend(multiple_and_cycles(report, command));
    out
}

/// A problem for each symbol the replay leaves undefined.
fn undefined_problems(line: &Line, report: &Report, command: &LinkCommand) -> Vec<Problem> {
    let mut out = Vec::new();
    let defined = line.defined_names();
    for u in &report.undefined {
        let sym = u.symbol.as_str();
        let needers = u.needed_by.join(", ");
        let arg = |i: usize| line.input_arg(i).0.to_owned();
        if sym == "main" && u.needed_by.iter().any(|n| is_crt(n)) {
            out.push(Problem::new(
                "missing-main",
                Some(sym),
                format!(
                    "the C runtime's start file ({needers}) calls `main`, and no input defines it"
                ),
                "define `main`, or, when the program brings its own `_start`, link with \
                 `-nostartfiles` so that the C runtime's start file is left out"
                    .into(),
            ));
            continue;
        }
        if !u.definers.is_empty() {
            let definer = u.definers[0];
            let (shared, as_needed) = line.input_shared(definer);
            let earlier = u.defined_in.iter().all(|(_, w)| *w == Whence::Earlier);
            let needer = u.needers.first().map(|&i| arg(i)).unwrap_or_default();
            if shared && as_needed && earlier {
                out.push(Problem::new(
                    "as-needed-dropped",
                    Some(sym),
                    format!(
                        "{} is needed by {needers}; {} defines it, but it stands before them, and \
                         under --as-needed (which this driver passes) ld dropped it as unneeded",
                        shown(sym),
                        arg(definer)
                    ),
                    format!(
                        "name {} after {needer}, or keep it with -Wl,--no-as-needed before it",
                        arg(definer)
                    ),
                ));
            } else {
                out.push(Problem::new(
                    "link-order",
                    Some(sym),
                    format!(
                        "{} is needed by {needers} and defined in {}, which ld had already \
                         searched when the symbol was needed: ld reads its inputs once, left to \
                         right",
                        shown(sym),
                        u.defined_in
                            .iter()
                            .map(|(d, _)| d.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("name {} after {needer}", arg(definer)),
                ));
            }
            continue;
        }
        let only_shared = u.needers.iter().all(|&i| line.input_shared(i).0);
        if only_shared {
            out.push(Problem::new(
                "shared-undefined",
                Some(sym),
                format!(
                    "the shared object {needers} needs {}, and neither the command nor the \
                     libraries it needs define it",
                    shown(sym)
                ),
                format!(
                    "name the library that defines {} after {needers}, or relink {needers} \
                     against it so that it is one of its DT_NEEDED",
                    shown(sym)
                ),
            ));
            continue;
        }
        out.push(undefined(sym, &needers, &defined, command));
    }
    out
}

/// Symbols defined twice, and archives that need each other.
fn multiple_and_cycles(report: &Report, command: &LinkCommand) -> Vec<Problem> {
    let mut out = Vec::new();
    for (sym, first, second) in &report.multiple {
        let (kind, fix) = if sym == "_start" {
            (
                "duplicate-start",
                "the program brings its own `_start`: link with `-nostartfiles`, so that the C \
                 runtime's start file (and its `_start`) is left out"
                    .to_owned(),
            )
        } else if rust_runtime(sym) {
            (
                "duplicate-rust-runtime",
                "each Rust staticlib carries its own std: link one staticlib that depends on \
                 both crates, or keep only each library's C surface global (`polylink isolate`, \
                 issue 14)"
                    .to_owned(),
            )
        } else {
            (
                "duplicate-definition",
                format!(
                    "keep one definition of {}: remove or rename the other",
                    shown(sym)
                ),
            )
        };
        out.push(Problem::new(
            kind,
            Some(sym),
            format!(
                "{} is defined twice: in {first} and in {second}",
                shown(sym)
            ),
            fix,
        ));
    }
    for cycle in &report.cycles {
        let group = match command.linker {
            Linker::Driver { .. } => "-Wl,--start-group … -Wl,--end-group",
            Linker::Ld => "--start-group … --end-group",
        };
        out.push(Problem::new(
            "archive-cycle",
            None,
            format!(
                "these archives need each other, so no order that names each once links: {}",
                cycle.join(", ")
            ),
            format!("put them in a group ({group}), or name one of them twice"),
        ));
    }
    out
}

/// Problems of one kind with the same fix (a library named too early, say, defining many
/// symbols) told once: the first symbol stands for all, and the message names them all.
pub(super) fn merge_same_story(problems: Vec<Problem>) -> Vec<Problem> {
    let mut merged: Vec<(Problem, Vec<String>)> = Vec::new();
    for p in problems {
        let sym = p.symbol.clone().unwrap_or_default();
        match merged
            .iter_mut()
            .find(|(q, _)| q.kind == p.kind && q.fix == p.fix && q.kind != "undefined")
        {
            Some((_, symbols)) => symbols.push(sym),
            None => merged.push((p, vec![sym])),
        }
    }
    merged
        .into_iter()
        .map(|(mut p, symbols)| {
            if symbols.len() > 1 {
                let names: Vec<String> = symbols.iter().map(|s| shown(s)).collect();
                p.message = format!(
                    "{} (so are {} more symbols: {})",
                    p.message,
                    symbols.len() - 1,
                    names[1..].join(", ")
                );
            }
            p
        })
        .collect()
}

/// A symbol nothing defines: a typo, a Rust function without `#[unsafe(no_mangle)]`, a C/C++
/// mismatch, a C++ runtime the C driver leaves out, or plainly undefined.
fn undefined(sym: &str, needers: &str, defined: &[String], command: &LinkCommand) -> Problem {
    let rust = defined
        .iter()
        .find(|d| rust_base(d).as_deref() == Some(sym));
    if let Some(mangled) = rust {
        return Problem::new(
            "missing-no-mangle",
            Some(sym),
            format!(
                "{needers} calls `{sym}`, and the Rust library defines it only under its \
                 mangled name {}",
                shown(mangled)
            ),
            format!(
                "mark the Rust function `#[unsafe(no_mangle)] pub extern \"C\" fn {sym}`, so \
                 that its symbol is `{sym}`"
            ),
        );
    }
    if let Some(base) = cpp_base(sym)
        && defined.contains(&base)
    {
        return Problem::new(
            "missing-extern-c",
            Some(sym),
            format!(
                "{needers} needs the C++ function {}, and `{base}` is defined with C linkage",
                shown(sym)
            ),
            format!(
                "declare it `extern \"C\"` where C++ uses it: did you mean `extern \"C\" {base}`?"
            ),
        );
    }
    if let Some(cpp) = defined.iter().find(|d| cpp_base(d).as_deref() == Some(sym)) {
        return Problem::new(
            "missing-extern-c",
            Some(sym),
            format!(
                "{needers} needs `{sym}` with C linkage, and it is defined as the C++ function {}",
                shown(cpp)
            ),
            "define it inside `extern \"C\" { … }` in the C++ source".into(),
        );
    }
    let cxx_runtime = sym.starts_with("__gxx_personality")
        || sym.starts_with("__cxa_")
        || sym.starts_with("_ZSt")
        || sym.starts_with("_ZNSt")
        || sym.starts_with("_ZNKSt")
        || matches!(sym, "_Znwm" | "_Znam" | "_ZdlPv" | "_ZdaPv" | "_ZdlPvm");
    if cxx_runtime && matches!(&command.linker, Linker::Driver { cxx: false, .. }) {
        return Problem::new(
            "missing-cxx-runtime",
            Some(sym),
            format!(
                "{needers} needs {}, from the C++ runtime, which a C driver does not link",
                shown(sym)
            ),
            "link with g++ (or clang++), or add -lstdc++".into(),
        );
    }
    if let Some(near) = defined.iter().find(|d| one_edit(sym, d)) {
        return Problem::new(
            "typo",
            Some(sym),
            format!(
                "{needers} needs {}, which nothing defines; `{near}` is defined",
                shown(sym)
            ),
            format!("did you mean `{near}`? Correct the name where it is used or defined"),
        );
    }
    Problem::new(
        "undefined",
        Some(sym),
        format!("{needers} needs {}, and no input defines it", shown(sym)),
        format!("add the object or library that defines {}", shown(sym)),
    )
}

/// Plain ld linking a dynamic program without being told its interpreter: it links, and the
/// program names `/lib/ld64.so.1`, which does not exist, so it cannot start.
pub fn dynamic_linker(line: &Line, command: &LinkCommand) -> Option<Problem> {
    if command.linker != Linker::Ld {
        return None;
    }
    let told = command.argv.iter().any(|w| {
        matches!(w.as_str(), "-dynamic-linker" | "--dynamic-linker" | "-I")
            || w.starts_with("--dynamic-linker=")
            || w.starts_with("-dynamic-linker=")
    });
    let not_a_program = command.argv.iter().any(|w| {
        matches!(
            w.as_str(),
            "-shared" | "-Bshareable" | "-static" | "-r" | "-i" | "--relocatable"
        )
    });
    let dynamic = (0..line.input_count()).any(|i| line.input_shared(i).0);
    (dynamic && !told && !not_a_program).then(|| {
        Problem::new(
            "missing-dynamic-linker",
            None,
            "plain ld links a dynamic program here without being told its dynamic linker: the \
             program would name /lib/ld64.so.1, which does not exist, and fail to start with \
             \"required file not found\""
                .into(),
            format!("add `--dynamic-linker {}`", crate::DYNAMIC_LINKER),
        )
    })
}

/// A source on the command line that does not compile: nothing is linked.
pub fn compile_error(source: &str, stderr: &str) -> Problem {
    Problem::new(
        "compile-error",
        None,
        format!(
            "{source} does not compile, so nothing is linked:\n{}",
            stderr.trim_end()
        ),
        "fix the source first; the compiler's message says where".into(),
    )
}

/// A `-l` or file the command names that is not there.
pub fn missing_file(message: &str) -> Problem {
    Problem::new(
        "missing-file",
        None,
        message.to_owned(),
        "check the name and the -L directories; build the library first if it is yours".into(),
    )
}

/// What the linker printed that the replay cannot see: relocations a PIE cannot have, an
/// executable stack, a 32-bit object.
pub fn from_linker(stderr: &str) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    let quoted = |line: &str, after: &str| -> Option<String> {
        let rest = &line[line.find(after)? + after.len()..];
        let start = rest.find('`')? + 1;
        let end = rest[start..].find('\'')? + start;
        Some(rest[start..end].split('@').next()?.to_owned())
    };
    for line in stderr.lines() {
        let pie = line.contains("can not be used when making a PIE object");
        let problem = if pie && line.contains("R_X86_64_PC32") {
            let sym = quoted(line, "against symbol").unwrap_or_default();
            Some(Problem::new(
                "plt-needed",
                Some(&sym),
                format!(
                    "a direct call or reference to {} (R_X86_64_PC32), which a shared library \
                     defines, cannot be resolved in a position-independent executable: {line}",
                    shown(&sym)
                ),
                format!(
                    "call it through the PLT (NASM: `call {sym} wrt ..plt`; C: compile with \
                     -fPIC or -fPIE), or link with -no-pie"
                ),
            ))
        } else if pie && (line.contains("R_X86_64_32") || line.contains("R_X86_64_32S")) {
            let sym = quoted(line, "against").unwrap_or_default();
            Some(Problem::new(
                "pie-absolute-reloc",
                (!sym.is_empty()).then_some(sym.as_str()),
                format!(
                    "a 32-bit absolute address cannot be used in a position-independent executable: {line}"
                ),
                "address it relative to rip (NASM: `lea rdi, [rel msg]` instead of `mov edi, \
                 msg`; C: compile with -fPIE), or link with -no-pie"
                    .into(),
            ))
        } else if line.contains("DT_TEXTREL") || line.contains("relocation in read-only section") {
            Some(Problem::new(
                "text-relocation",
                None,
                format!(
                    "the program links, but the loader must write into its code to relocate it: {line}"
                ),
                "address data relative to rip (NASM: `lea rdi, [rel msg]` instead of `mov rdi, \
                 msg`), so that the code needs no relocation at load time"
                    .into(),
            ))
        } else if line.contains("missing .note.GNU-stack section implies executable stack") {
            Some(Problem::new(
                "exec-stack",
                None,
                format!("the program's stack will be executable: {line}"),
                "add `section .note.GNU-stack noalloc noexec nowrite progbits` to each NASM \
                 source (`.section .note.GNU-stack,\"\",@progbits` in GNU as)"
                    .into(),
            ))
        } else if line.contains("is incompatible with i386:x86-64 output")
            || line.contains("file in wrong format")
        {
            Some(Problem::new(
                "wrong-elf-class",
                None,
                format!("an input is not a 64-bit x86-64 object: {line}"),
                "rebuild it for x86-64 (`nasm -f elf64`, `gcc -m64`), or leave it out".into(),
            ))
        } else {
            None
        };
        if let Some(p) = problem
            && !out.iter().any(|q| q.kind == p.kind && q.symbol == p.symbol)
        {
            out.push(p);
        }
    }
    out
}

/// The replay and the real linker disagree: a bug in polylink, said plainly.
pub fn disagreement(replay_links: bool, stderr: &str) -> Problem {
    let (said, did) = match replay_links {
        true => ("links", "failed"),
        false => ("does not link", "linked"),
    };
    Problem::new(
        "replay-disagrees",
        None,
        format!(
            "polylink's replay says the command {said}, but the real linker {did}: that is a bug \
             in polylink. The linker said:\n{}",
            stderr.trim_end()
        ),
        "trust the linker; please report the command and this output".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_demangled_beside_their_raw_form() {
        assert_eq!(shown("hello"), "`hello`");
        assert_eq!(shown("_Z3fooi"), "`foo(int)` (_Z3fooi)");
        assert_eq!(cpp_base("_ZN2ns3fooEi").as_deref(), Some("foo"));
        assert_eq!(
            rust_base("_ZN2m25hello17h0123456789abcdefE").as_deref(),
            Some("hello")
        );
    }
}
