//! `polylink isolate IN.a -o OUT.a`: one Rust staticlib made into an archive that coexists with
//! other Rust staticlibs in one program.
//!
//! Every Rust staticlib carries its own std. Built with LTO, each is one member holding all of
//! it, and two in one link define `rust_eh_personality`, `__rust_alloc` and std's statics twice.
//! Isolating keeps only the library's C surface global, so that each library's references to
//! its std resolve inside it:
//!
//! 1. `ld -r --whole-archive IN.a` links every member into one relocatable object, resolving
//!    the library's internal references (its std's included) once and for all;
//! 2. `objcopy --keep-global-symbols` makes every other defined global symbol local; undefined
//!    references (libc, libgcc_s, libm) stay global, as they must;
//! 3. every COMDAT group is renamed for this library (`objcopy --redefine-syms`). A group is
//!    merged across objects by its signature's *name*, whatever the symbol's binding: two
//!    isolated libraries would still share `DW.ref.rust_eh_personality`, the final link would
//!    keep only the first library's, and the other's unwinder would then find the first
//!    library's personality routine, whose data it does not own, and crash on a caught panic;
//! 4. `ar` writes the one object as OUT.a, under a temporary name renamed into place.
//!
//! Panics, thread-locals, the allocator and `.init_array` keep working: they are the library's
//! own code and data, now reached only from inside it.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};

use crate::scratch::Scratch;
use crate::symbols::{self, Table};
use crate::{Error, Result, System};

/// What `isolate` is asked.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The symbols to keep global; with none (and no header), the library's C ABI surface.
    pub exports: Vec<String>,
    /// A C header whose declared functions and variables are the exports.
    pub exports_from: Option<PathBuf>,
    /// Print what would be kept, and write nothing.
    pub list: bool,
}

/// An input that cannot be isolated, named with the fault.
#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    #[error("{file}: not an archive (a Rust staticlib, `libNAME.a`, is one)")]
    NotArchive { file: String },
    #[error("{file}({member}): not an x86-64 ELF object")]
    NotX86_64 { file: String, member: String },
    #[error("{file}: the archive holds no object")]
    Empty { file: String },
    #[error("{file} does not define {}, asked to be exported", .missing.join(", "))]
    NotDefined { file: String, missing: Vec<String> },
    #[error("{file}: no symbol to export: the library defines no global C symbol (give --export)")]
    NoExports { file: String },
    #[error("{tool} failed on {file}: {stderr}")]
    Tool {
        tool: &'static str,
        file: String,
        stderr: String,
    },
}

/// What was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolated {
    /// The symbols kept global.
    pub exports: Vec<String>,
    /// How many other defined global symbols were made local.
    pub localized: usize,
    /// The COMDAT groups renamed for this library.
    pub groups: usize,
}

/// Symbols a Rust staticlib defines for its std and runtime, never part of its C surface:
/// mangled names, the runtime's (`rust_*`, `__rust_*`, compiler-builtins' `__*`), and LLVM's
/// own (`anon.….llvm.…`), which are no C identifiers.
fn runtime(name: &str) -> bool {
    let c_identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    !c_identifier
        || name.starts_with("_ZN")
        || name.starts_with("_R")
        || name.starts_with("__")
        || name.starts_with("rust_")
}

/// A library's definitions: every defined name, and those that are strong globals (the C
/// surface is among these: compiler-builtins defines its math fallbacks weak).
#[derive(Debug, Default)]
struct Defined {
    all: BTreeSet<String>,
    strong: BTreeSet<String>,
}

/// Isolates `input` into `output` (or only lists the exports), reporting to `out`.
pub fn isolate(
    input: &Path,
    output: &Path,
    options: &Options,
    system: &dyn System,
    out: &mut impl Write,
) -> Result<Isolated> {
    let shown = input.display().to_string();
    let defined = check_and_read(input)?;
    let exports = exports(&shown, &defined, options)?;
    if options.list {
        for name in &exports {
            writeln!(out, "{name}")?;
        }
        return Ok(Isolated {
            exports,
            localized: 0,
            groups: 0,
        });
    }
    let scratch = Scratch::new("isolate")?;
    let combined = scratch.path("combined.o");
    let localized = scratch.path("isolated.o");
    let keep = scratch.path("exports.txt");
    let run = |tool: &'static str, argv: Vec<String>| -> Result<()> {
        let (ok, stderr) = system.run(&argv)?;
        if ok {
            Ok(())
        } else {
            Err(Error::Isolate(IsolateError::Tool {
                tool,
                file: shown.clone(),
                stderr: stderr.trim_end().to_owned(),
            }))
        }
    };
    run(
        "ld -r",
        vec![
            "ld".into(),
            "-r".into(),
            "-o".into(),
            combined.clone(),
            "--whole-archive".into(),
            shown.clone(),
        ],
    )?;
    write_file(&keep, &exports.join("\n"))?;
    run(
        "objcopy",
        vec![
            "objcopy".into(),
            format!("--keep-global-symbols={keep}"),
            combined.clone(),
            localized.clone(),
        ],
    )?;
    let data = std::fs::read(&localized).map_err(|cause| Error::Write {
        path: PathBuf::from(&localized),
        cause,
    })?;
    let groups = group_signatures(&data).map_err(|fault| Error::file(&localized, fault))?;
    let tag = tag_of(input);
    if !groups.is_empty() {
        let renames = scratch.path("groups.txt");
        let lines: Vec<String> = groups.iter().map(|g| format!("{g} {g}.{tag}")).collect();
        write_file(&renames, &lines.join("\n"))?;
        run(
            "objcopy",
            vec![
                "objcopy".into(),
                format!("--redefine-syms={renames}"),
                localized.clone(),
            ],
        )?;
    }
    let mut temp = output.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let _ = std::fs::remove_file(&temp);
    run(
        "ar",
        vec![
            "ar".into(),
            "--plugin".into(),
            "/dev/null".into(),
            "rcs".into(),
            temp.display().to_string(),
            localized.clone(),
        ],
    )?;
    std::fs::rename(&temp, output).map_err(|cause| {
        let _ = std::fs::remove_file(&temp);
        Error::Write {
            path: output.to_path_buf(),
            cause,
        }
    })?;
    let localized_count = defined.all.len() - exports.len();
    writeln!(
        out,
        "{}: kept {} symbols global ({}), made {} other global symbols local, renamed {} COMDAT groups for this library",
        output.display(),
        exports.len(),
        exports.join(", "),
        localized_count,
        groups.len()
    )?;
    Ok(Isolated {
        exports,
        localized: localized_count,
        groups: groups.len(),
    })
}

/// Checks that `input` is an archive of x86-64 ELF objects; returns the global symbols its
/// members define.
fn check_and_read(input: &Path) -> Result<Defined> {
    let shown = input.display().to_string();
    let loaded = symbols::load(input).map_err(|fault| Error::file(&shown, fault))?;
    let mut thin = Vec::new();
    let Some(members) =
        symbols::units(&loaded, &mut thin).map_err(|fault| Error::file(&shown, fault))?
    else {
        return Err(IsolateError::NotArchive { file: shown }.into());
    };
    let mut defined = Defined::default();
    let mut objects = 0;
    for member in members {
        let bytes = member
            .result
            .map_err(|fault| Error::file(format!("{shown}({})", member.member), fault))?;
        let x86_64 = bytes.starts_with(b"\x7fELF")
            && bytes.get(4) == Some(&2)
            && bytes.get(18..20) == Some(&62u16.to_le_bytes()[..]);
        if !x86_64 {
            return Err(IsolateError::NotX86_64 {
                file: shown,
                member: member.member.to_string(),
            }
            .into());
        }
        objects += 1;
        let found = symbols::read_elf(bytes, Table::Static)
            .map_err(|fault| Error::file(format!("{shown}({})", member.member), fault))?
            .unwrap_or_default();
        for s in found {
            if s.is_definition() {
                let name = String::from_utf8_lossy(s.name).into_owned();
                if s.binding == elf::STB_GLOBAL.0 {
                    defined.strong.insert(name.clone());
                }
                defined.all.insert(name);
            }
        }
    }
    if objects == 0 {
        return Err(IsolateError::Empty { file: shown }.into());
    }
    Ok(defined)
}

/// The symbols to keep global: asked for, declared in a header, or the C surface.
fn exports(shown: &str, defined: &Defined, options: &Options) -> Result<Vec<String>> {
    let mut asked: Vec<String> = options.exports.clone();
    if let Some(header) = &options.exports_from {
        let text = std::fs::read_to_string(header).map_err(|cause| Error::Write {
            path: header.clone(),
            cause,
        })?;
        asked.extend(header_names(&text));
    }
    if asked.is_empty() {
        let surface: Vec<String> = defined
            .strong
            .iter()
            .filter(|n| !runtime(n))
            .cloned()
            .collect();
        if surface.is_empty() {
            return Err(IsolateError::NoExports {
                file: shown.to_owned(),
            }
            .into());
        }
        return Ok(surface);
    }
    asked.sort();
    asked.dedup();
    let missing: Vec<String> = asked
        .iter()
        .filter(|a| !defined.all.contains(*a))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(IsolateError::NotDefined {
            file: shown.to_owned(),
            missing,
        }
        .into());
    }
    Ok(asked)
}

/// The functions and variables a C header declares: each identifier directly before a `(` of
/// a declaration (not a macro, a type or a keyword), and each `extern` variable.
fn header_names(text: &str) -> Vec<String> {
    const NOT_NAMES: [&str; 12] = [
        "if", "while", "for", "return", "sizeof", "switch", "void", "int", "char", "long",
        "typedef", "struct",
    ];
    let mut names = Vec::new();
    let mut in_comment = false;
    for line in text.lines() {
        let mut line = line.trim();
        if in_comment {
            match line.find("*/") {
                Some(end) => {
                    in_comment = false;
                    line = &line[end + 2..];
                }
                None => continue,
            }
        }
        if let Some(start) = line.find("/*") {
            in_comment = !line[start..].contains("*/");
            line = &line[..start];
        }
        let line = line.split("//").next().unwrap_or("");
        if line.starts_with('#') || line.starts_with("typedef") {
            continue;
        }
        let bytes = line.as_bytes();
        for (at, _) in line.match_indices('(') {
            let before = line[..at].trim_end();
            let start = before
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let word = &before[start..];
            let is_pointer_type = before[..start].trim_end().ends_with('(');
            if !word.is_empty()
                && !word.starts_with(|c: char| c.is_ascii_digit())
                && !NOT_NAMES.contains(&word)
                && !is_pointer_type
                && bytes.first() != Some(&b'(')
            {
                names.push(word.to_owned());
            }
        }
        if let Some(rest) = line.strip_prefix("extern ")
            && !line.contains('(')
            && rest.trim_end().ends_with(';')
        {
            let decl = rest.trim_end().trim_end_matches(';');
            let decl = decl.split('[').next().unwrap_or(decl).trim_end();
            if let Some(word) = decl
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                && !word.is_empty()
                && word != "\"C\""
            {
                names.push(word.to_owned());
            }
        }
    }
    names
}

/// The signature symbols of an object's COMDAT groups.
fn group_signatures(data: &[u8]) -> std::result::Result<Vec<String>, symbols::Fault> {
    let header = elf::FileHeader64::<object::Endianness>::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB)?;
    let mut names = BTreeSet::new();
    for section in sections.iter() {
        if section.sh_type(endian) != elf::SHT_GROUP {
            continue;
        }
        let index = object::SymbolIndex(section.sh_info(endian) as usize);
        let symbol = symbols.symbol(index)?;
        let name = symbols.symbol_name(endian, symbol)?;
        names.insert(String::from_utf8_lossy(name).into_owned());
    }
    Ok(names.into_iter().collect())
}

/// A short tag for this library, from its file name: `polylink` for `libpolylink.a`.
fn tag_of(input: &Path) -> String {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_prefix("lib").unwrap_or(&stem);
    let clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("polylink_isolated_{clean}")
}

fn write_file(path: &str, text: &str) -> Result<()> {
    std::fs::write(path, format!("{text}\n")).map_err(|cause| Error::Write {
        path: PathBuf::from(path),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cbindgen_header_names_its_functions_and_variables() {
        let header = "#include <stdint.h>\n/* a comment with f(x) */\n#define PL_OK 0\n\
                      typedef void (*pl_callback)(int32_t);\n\
                      int32_t pl_sum8(int64_t a, int64_t b);\n\
                      void hello(void);\n\
                      extern const char *pl_version;\n\
                      double pl_circle_area(double r); // area\n";
        assert_eq!(
            header_names(header),
            ["pl_sum8", "hello", "pl_version", "pl_circle_area"]
        );
    }

    #[test]
    fn the_runtime_and_mangled_names_are_not_the_surface() {
        for name in [
            "rust_eh_personality",
            "__rust_alloc",
            "_ZN3std2io5stdio6_print17h0E",
            "_RNvCs1_3std4main",
            "__udivti3",
            "DW.ref.rust_eh_personality",
            "anon.19c9f38ce57571c9.0.llvm.18007647161817314737",
        ] {
            assert!(runtime(name), "{name}");
        }
        assert!(!runtime("pl_sum8") && !runtime("hello"));
        assert_eq!(
            tag_of(Path::new("/x/libnm-speed.a")),
            "polylink_isolated_nm_speed"
        );
    }
}
