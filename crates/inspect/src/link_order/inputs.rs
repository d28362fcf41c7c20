//! Reading a link line: arguments as ld takes them (paths, `-lNAME`, `-LDIR`, groups, and the
//! options that change how later inputs are read: `--as-needed`, `-Bstatic`, `--push-state`),
//! also written the compiler driver's way (`-Wl,--as-needed,-Bstatic`); the files they name
//! (objects, archives, shared objects, input-listing linker scripts); and with `--cc` the
//! inputs the compiler driver adds around them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use super::model::*;
use super::{LineError, Options};
use crate::symbols::{self, Place, Table};
use crate::{Error, Result, System};

impl Line {
    /// Reads the inputs named on a command line (`--cc` adds the driver's).
    pub fn read(options: &Options, system: &dyn System) -> Result<Line> {
        let mut args: Vec<(String, bool)> =
            options.inputs.iter().map(|a| (a.clone(), false)).collect();
        if options.cc {
            args = around_driver_inputs(system, options.driver.as_deref(), &options.cc_args, args)?;
        } else if !options.cc_args.is_empty() {
            return Err(LineError::CcArgWithoutCc.into());
        }
        // `-Wl,a,b` is ld's `a b`, written for the compiler driver.
        let args: Vec<(String, bool)> = args
            .into_iter()
            .flat_map(|(arg, from_driver)| match arg.strip_prefix("-Wl,") {
                Some(ld) => ld.split(',').map(|a| (a.to_owned(), from_driver)).collect(),
                None => vec![(arg, from_driver)],
            })
            .collect();
        // Every -L applies to every -l, wherever it stands; gcc puts the user's before its own.
        let search_dir = |(a, _): &(String, bool)| a.strip_prefix("-L").map(PathBuf::from);
        let mut reader = Reader {
            system,
            search: args
                .iter()
                .filter(|(_, from_driver)| !from_driver)
                .chain(args.iter().filter(|(_, from_driver)| *from_driver))
                .filter_map(search_dir)
                .collect(),
            inputs: Vec::new(),
            names: Vec::new(),
            ids: HashMap::new(),
            system_dirs: None,
            needed: HashMap::new(),
            arg: String::new(),
        };
        let mut items = Vec::new();
        let mut group: Option<Vec<usize>> = None;
        let mut state = State::default();
        let mut pushed = Vec::new();
        for (arg, from_driver) in &args {
            match arg.as_str() {
                "--as-needed" => state.as_needed = true,
                "--no-as-needed" => state.as_needed = false,
                "-Bstatic" | "-dn" | "-non_shared" | "-static" => state.bstatic = true,
                "-Bdynamic" | "-dy" | "-call_shared" => state.bstatic = false,
                "--push-state" => pushed.push(state),
                "--pop-state" => state = pushed.pop().unwrap_or_default(),
                "--start-group" | "-(" => {
                    if group.is_some() {
                        return Err(LineError::NestedGroup { arg: arg.clone() }.into());
                    }
                    group = Some(Vec::new());
                }
                "--end-group" | "-)" => match group.take() {
                    Some(inputs) => items.push(Item::Group(inputs)),
                    None => return Err(LineError::EndWithoutStart { arg: arg.clone() }.into()),
                },
                a if a.starts_with("-L") => {}
                a if a.starts_with('-') && !a.starts_with("-l") => {
                    return Err(LineError::NotAnInput { arg: a.to_owned() }.into());
                }
                _ => {
                    reader.arg.clone_from(arg);
                    let found = reader.input(arg, *from_driver, state)?;
                    match &mut group {
                        Some(g) => g.extend(found.into_iter().flat_map(flatten)),
                        None => items.extend(found),
                    }
                }
            }
        }
        if group.is_some() {
            return Err(LineError::UnclosedGroup.into());
        }
        let by_linker = reader.names.iter().map(|n| defined_by_linker(n)).collect();
        Ok(Line {
            inputs: reader.inputs,
            items,
            names: reader.names,
            by_linker,
        })
    }
}

/// How ld reads the next inputs, as the options before them set it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    /// `--as-needed`: a shared object is kept only if it is needed where it stands.
    as_needed: bool,
    /// `-Bstatic` (`-static`): `-lNAME` finds only `libNAME.a`.
    bstatic: bool,
}

/// Reads input files, interning symbol names.
struct Reader<'s> {
    system: &'s dyn System,
    inputs: Vec<Input>,
    names: Vec<Box<[u8]>>,
    ids: HashMap<Box<[u8]>, Sym>,
    /// `-L` directories, then ld's own.
    search: Vec<PathBuf>,
    system_dirs: Option<Vec<PathBuf>>,
    /// Each library found for a DT_NEEDED: what it defines, and what it needs in turn.
    needed: HashMap<PathBuf, (Vec<Sym>, symbols::Dependencies)>,
    /// The command-line argument being read (a linker script expands one into several inputs).
    arg: String,
}

impl Reader<'_> {
    fn intern(&mut self, name: &[u8]) -> Sym {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// Reads one argument (a path or `-l`), which a linker script may turn into several.
    fn input(&mut self, arg: &str, system: bool, state: State) -> Result<Vec<Item>> {
        let path = match arg.strip_prefix("-l") {
            Some(lib) => self.find_library(lib, state.bstatic)?,
            None => PathBuf::from(arg),
        };
        let shown = if arg.starts_with("-l") {
            path.display().to_string()
        } else {
            arg.to_owned()
        };
        let input = symbols::load(&path).map_err(|fault| Error::file(&shown, fault))?;
        let data = input.data();
        if data.starts_with(b"\x7fELF") {
            let kind = match data.get(16..18) {
                Some([3, 0]) => Kind::Shared,
                Some([1, 0]) => Kind::Object,
                _ => return Err(LineError::NotLinkable { file: shown }.into()),
            };
            let table = if kind == Kind::Shared {
                Table::Dynamic
            } else {
                Table::Static
            };
            let unit = self.unit(shown.clone(), data, table)?;
            let as_needed = kind == Kind::Shared && state.as_needed;
            let needed_defines = match kind {
                Kind::Shared => self.needed_closure(&path, data, &shown)?,
                _ => HashSet::new(),
            };
            let item = self.push(shown, kind, vec![unit], system, as_needed);
            if let Item::One(index) = item {
                self.inputs[index].needed_defines = needed_defines;
            }
            return Ok(vec![item]);
        }
        if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
            let mut thin = Vec::new();
            let members = symbols::units(&input, &mut thin)
                .map_err(|fault| Error::file(&shown, fault))?
                .unwrap_or_default();
            // ld refuses to search an archive without an index, unless there is nothing in it
            // to search: glibc ships libutil.a and friends as empty archives.
            if !has_index(data) && !members.is_empty() {
                return Err(LineError::NoIndex { file: shown }.into());
            }
            let mut units = Vec::new();
            for member in members {
                let bytes = member
                    .result
                    .map_err(|fault| Error::file(format!("{shown}({})", member.member), fault))?;
                // Members that are not ELF objects (rustc's lib.rmeta) are not in the index.
                if !bytes.starts_with(b"\x7fELF") {
                    continue;
                }
                let name = format!("{shown}({})", member.member);
                units.push(self.unit(name, bytes, Table::Static)?);
            }
            return Ok(vec![self.push(shown, Kind::Archive, units, system, false)]);
        }
        match std::str::from_utf8(data).ok().and_then(script_inputs) {
            Some(script) => {
                let mut items = Vec::new();
                for (group, args) in script {
                    let mut found = Vec::new();
                    for (arg, as_needed) in args {
                        // A bare file name is looked for in the search directories too.
                        let arg = match self.find_bare(&arg) {
                            Some(path) => path.display().to_string(),
                            None => arg,
                        };
                        let state = State {
                            as_needed: state.as_needed || as_needed,
                            ..state
                        };
                        found.extend(self.input(&arg, system, state)?);
                    }
                    if group {
                        items.push(Item::Group(found.into_iter().flat_map(flatten).collect()));
                    } else {
                        items.extend(found);
                    }
                }
                Ok(items)
            }
            None => Err(LineError::UnknownInput { file: shown }.into()),
        }
    }

    fn push(
        &mut self,
        shown: String,
        kind: Kind,
        units: Vec<Unit>,
        system: bool,
        as_needed: bool,
    ) -> Item {
        self.inputs.push(Input {
            shown,
            arg: self.arg.clone(),
            kind,
            units,
            system,
            as_needed,
            needed_defines: HashSet::new(),
        });
        Item::One(self.inputs.len() - 1)
    }

    fn unit(&mut self, name: String, data: &[u8], table: Table) -> Result<Unit> {
        let symbols = symbols::read_elf(data, table)
            .map_err(|fault| Error::file(&name, fault))?
            .unwrap_or_default();
        let mut defines = Vec::new();
        let mut needs = Vec::new();
        for s in symbols {
            if s.is_undefined() {
                if s.is_external() {
                    needs.push((self.intern(s.name), s.binding == STB_WEAK));
                }
            } else if s.is_definition() {
                // A hidden version (one `@`) cannot resolve a new reference.
                if matches!(s.version, Some((_, true))) {
                    continue;
                }
                let strength = match (table, s.place, s.binding) {
                    (Table::Dynamic, _, _) => Strength::Dynamic,
                    (_, Place::Common, _) => Strength::Common,
                    (_, _, STB_WEAK) => Strength::Weak,
                    (_, _, STB_GNU_UNIQUE) => Strength::Unique,
                    _ => Strength::Strong,
                };
                defines.push((self.intern(s.name), strength));
            }
        }
        Ok(Unit {
            name,
            defines,
            needs,
        })
    }

    /// What the libraries a shared object needs define, transitively: each DT_NEEDED looked for
    /// as ld looks for it (LD_LIBRARY_PATH, the needing object's DT_RUNPATH, /etc/ld.so.conf,
    /// then ld's own SEARCH_DIRs, but never a -L directory). One not found defines nothing, as
    /// ld warns and goes on.
    fn needed_closure(&mut self, path: &Path, data: &[u8], shown: &str) -> Result<HashSet<Sym>> {
        let first = symbols::dependencies(data).map_err(|fault| Error::file(shown, fault))?;
        let mut queue: VecDeque<(String, Vec<PathBuf>)> = VecDeque::new();
        let origin = path.parent().unwrap_or(Path::new("."));
        let expand = |runpath: &[String], origin: &Path| -> Vec<PathBuf> {
            let origin = origin.display().to_string();
            runpath
                .iter()
                .map(|d| PathBuf::from(d.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin)))
                .collect()
        };
        let dirs = expand(&first.runpath, origin);
        queue.extend(first.needed.into_iter().map(|n| (n, dirs.clone())));
        let mut seen = HashSet::new();
        let mut defines = HashSet::new();
        while let Some((name, runpath)) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(found) = self.find_needed(&name, &runpath)? else {
                continue;
            };
            if !self.needed.contains_key(&found) {
                let loaded = self.read_needed(&found)?;
                self.needed.insert(found.clone(), loaded);
            }
            let (syms, deps) = &self.needed[&found];
            defines.extend(syms.iter().copied());
            let dirs = expand(&deps.runpath, found.parent().unwrap_or(Path::new(".")));
            queue.extend(deps.needed.iter().map(|n| (n.clone(), dirs.clone())));
        }
        Ok(defines)
    }

    /// Where ld finds the DT_NEEDED `name`, if anywhere.
    fn find_needed(&mut self, name: &str, runpath: &[PathBuf]) -> Result<Option<PathBuf>> {
        if name.contains('/') {
            return Ok(Some(PathBuf::from(name)).filter(|p| p.is_file()));
        }
        if self.system_dirs.is_none() {
            self.system_dirs = Some(self.system.ld_search_dirs()?);
        }
        let library_path: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        let found = library_path
            .iter()
            .chain(runpath)
            .chain(ld_so_conf().iter())
            .chain(self.system_dirs.iter().flatten())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file());
        Ok(found)
    }

    /// The dynamic definitions and dependencies of a library found for a DT_NEEDED.
    fn read_needed(&mut self, path: &Path) -> Result<(Vec<Sym>, symbols::Dependencies)> {
        let shown = path.display().to_string();
        let input = symbols::load(path).map_err(|fault| Error::file(&shown, fault))?;
        let data = input.data();
        let symbols = symbols::read_elf(data, Table::Dynamic)
            .map_err(|fault| Error::file(&shown, fault))?
            .unwrap_or_default();
        let defines = symbols
            .iter()
            .filter(|s| s.is_definition() && !matches!(s.version, Some((_, true))))
            .map(|s| s.name)
            .collect::<Vec<_>>();
        let defines = defines.into_iter().map(|n| self.intern(n)).collect();
        let deps = symbols::dependencies(data).map_err(|fault| Error::file(&shown, fault))?;
        Ok((defines, deps))
    }

    /// A linker script's file name without a slash, when it is not in the current directory:
    /// the first search directory that has it.
    fn find_bare(&mut self, name: &str) -> Option<PathBuf> {
        if name.contains('/') || name.starts_with('-') || Path::new(name).exists() {
            return None;
        }
        self.find_library(&format!(":{name}"), false).ok()
    }

    /// Finds `-lNAME` as ld does: each directory in turn, `libNAME.so` before `libNAME.a`, or
    /// only `libNAME.a` under `-Bstatic`; `-l:FILE` names the file exactly.
    fn find_library(&mut self, lib: &str, bstatic: bool) -> Result<PathBuf> {
        let candidates: Vec<String> = match lib.strip_prefix(':') {
            Some(file) => vec![file.to_owned()],
            None if bstatic => vec![format!("lib{lib}.a")],
            None => vec![format!("lib{lib}.so"), format!("lib{lib}.a")],
        };
        if self.system_dirs.is_none() {
            self.system_dirs = Some(self.system.ld_search_dirs()?);
        }
        let dirs = self.search.iter().chain(self.system_dirs.iter().flatten());
        for dir in dirs.clone() {
            for name in &candidates {
                let path = dir.join(name);
                if path.is_file() {
                    return Ok(path);
                }
            }
        }
        Err(LineError::NotFound {
            lib: lib.to_owned(),
            looked: candidates.join(" and "),
            dirs: dirs
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into())
    }
}

/// The directories /etc/ld.so.conf lists (and the files it includes), read once.
fn ld_so_conf() -> &'static [PathBuf] {
    static DIRS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = Vec::new();
        read_ld_so_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
        dirs
    })
}

fn read_ld_so_conf(file: &Path, dirs: &mut Vec<PathBuf>, depth: usize) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        match line.strip_prefix("include") {
            Some(pattern) if depth < 4 => {
                // `include DIR/*.conf`, the form distributions use.
                let pattern = Path::new(pattern.trim());
                let (Some(dir), Some(glob)) = (pattern.parent(), pattern.file_name()) else {
                    continue;
                };
                let suffix = glob.to_string_lossy().trim_start_matches('*').to_owned();
                let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(&suffix))
                    .collect();
                files.sort();
                for f in files {
                    read_ld_so_conf(&f, dirs, depth + 1);
                }
            }
            Some(_) => {}
            None if line.starts_with('/') => dirs.push(PathBuf::from(line)),
            None => {}
        }
    }
}

/// Whether an archive has a symbol index (a first member named `/` or `/SYM64/`).
fn has_index(data: &[u8]) -> bool {
    data.get(8..24)
        .is_some_and(|name| name.starts_with(b"/ ") || name.starts_with(b"/SYM64/"))
}

/// One `GROUP(…)` (true) or `INPUT(…)` of a linker script: each input, and whether it stands in
/// an `AS_NEEDED(…)`.
pub(crate) type ScriptList = (bool, Vec<(String, bool)>);

/// The inputs a linker script lists, when it does nothing else (glibc's libc.so): each
/// `GROUP(…)` as a group and each `INPUT(…)` as single inputs; `AS_NEEDED(…)` marks its contents
/// as needed only if used. `None` for anything else.
pub(crate) fn script_inputs(text: &str) -> Option<Vec<ScriptList>> {
    let mut clean = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        clean.push_str(&rest[..start]);
        rest = &rest[start..][rest[start..].find("*/")? + 2..];
    }
    clean.push_str(rest);
    let spaced = clean.replace('(', " ( ").replace(')', " ) ");
    let mut words = spaced.split_whitespace().peekable();
    let mut out = Vec::new();
    while let Some(word) = words.next() {
        match word {
            "OUTPUT_FORMAT" | "OUTPUT_ARCH" | "SEARCH_DIR" => {
                if words.next()? != "(" {
                    return None;
                }
                while words.next()? != ")" {}
            }
            "GROUP" | "INPUT" => {
                if words.next()? != "(" {
                    return None;
                }
                let mut args = Vec::new();
                let mut depth = 1;
                // The depth at which an AS_NEEDED( … ) began, while inside one.
                let mut as_needed = None;
                while depth > 0 {
                    match words.next()? {
                        "(" => depth += 1,
                        ")" => {
                            if as_needed == Some(depth) {
                                as_needed = None;
                            }
                            depth -= 1;
                        }
                        "AS_NEEDED" => as_needed = Some(depth + 1),
                        "," => {}
                        arg => args.push((arg.to_owned(), as_needed.is_some())),
                    }
                }
                out.push((word == "GROUP", args));
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The driver's link line with `inputs` in place of the user's files: start files before,
/// libraries and end files after, each marked as the system's.
fn around_driver_inputs(
    system: &dyn System,
    driver: Option<&str>,
    cc_args: &[String],
    inputs: Vec<(String, bool)>,
) -> Result<Vec<(String, bool)>> {
    const MARK: &str = "POLYLINK-LINK-ORDER-INPUTS.o";
    let (cc, stderr) = system.driver_line(driver, cc_args, MARK)?;
    let Some(line) = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(' ') && l.contains(MARK))
    else {
        return Err(LineError::NoDriverLine {
            cc,
            mark: MARK.to_owned(),
            stderr,
        }
        .into());
    };
    let words = split_driver_line(line);
    let mut out = Vec::new();
    let mut words = words.into_iter().skip(1);
    // ld's options that take their value as the next word.
    const WITH_VALUE: [&str; 8] = [
        "-plugin",
        "-m",
        "-dynamic-linker",
        "-o",
        "-z",
        "-e",
        "-T",
        "-soname",
    ];
    while let Some(word) = words.next() {
        if word == MARK {
            out.extend(inputs.iter().cloned());
        } else if WITH_VALUE.contains(&word.as_str()) {
            words.next();
        } else if ld_input_option(&word) || !word.starts_with('-') {
            out.push((word, true));
        }
    }
    Ok(out)
}

/// ld options that are inputs, or change how the inputs after them are read.
pub(crate) fn ld_input_option(word: &str) -> bool {
    matches!(
        word,
        "--start-group"
            | "--end-group"
            | "-("
            | "-)"
            | "--as-needed"
            | "--no-as-needed"
            | "--push-state"
            | "--pop-state"
            | "-Bstatic"
            | "-Bdynamic"
            | "-dn"
            | "-dy"
            | "-static"
            | "-non_shared"
            | "-call_shared"
    ) || word.starts_with("-l")
        || word.starts_with("-L")
}

/// Splits a `cc -###` line: words separated by spaces, some in double quotes.
fn split_driver_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => word.extend(chars.next()),
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_linker_scripts_are_read_as_their_inputs() {
        let libc = "/* GNU ld script\n   Use the shared library. */\nOUTPUT_FORMAT(elf64-x86-64)\n\
                    GROUP ( /lib/libc.so.6 /usr/lib/libc_nonshared.a  AS_NEEDED ( /lib64/ld.so.2 ) )\n";
        let found = script_inputs(libc).unwrap();
        assert_eq!(
            found,
            [(
                true,
                vec![
                    ("/lib/libc.so.6".to_owned(), false),
                    ("/usr/lib/libc_nonshared.a".into(), false),
                    ("/lib64/ld.so.2".into(), true)
                ]
            )]
        );
        assert_eq!(
            script_inputs("INPUT(-lfoo bar.o)"),
            Some(vec![(
                false,
                vec![("-lfoo".to_owned(), false), ("bar.o".into(), false)]
            )])
        );
        // Anything that does more than list inputs is not followed.
        assert_eq!(script_inputs("SECTIONS { . = 0x1000; }"), None);
        assert_eq!(script_inputs("GROUP ( a.o"), None);
        assert_eq!(script_inputs(""), None);
    }

    #[test]
    fn driver_lines_split_on_spaces_outside_quotes() {
        let line = r#" /usr/lib/collect2 -plugin /x.so "-plugin-opt=-pass-through=-lgcc" -o a.out "a \"b\"" x.o"#;
        assert_eq!(
            split_driver_line(line),
            [
                "/usr/lib/collect2",
                "-plugin",
                "/x.so",
                "-plugin-opt=-pass-through=-lgcc",
                "-o",
                "a.out",
                "a \"b\"",
                "x.o"
            ]
        );
    }
}
