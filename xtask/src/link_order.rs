//! `cargo xtask link-order INPUT…`: the link-order doctor.
//!
//! Given objects, archives and shared objects in the order they would be passed to the linker,
//! it replays GNU ld's resolution from the inputs' symbol tables:
//!
//! - every object is loaded whole, wherever it stands;
//! - an archive is searched where it stands, and only for symbols undefined at that moment
//!   (strongly: a weak reference pulls nothing in). A member is pulled in when it defines one,
//!   and the archive is searched again until a pass pulls nothing more; a common symbol pulls in
//!   a member that really defines it. Inputs between `--start-group` and `--end-group` are
//!   searched again, as a whole, until nothing more is pulled in;
//! - a shared object defines its exported symbols (default versions) for everything after and
//!   before it; its own undefined symbols are its loader's business;
//! - two strong definitions are an error; a strong definition beats a weak or common one, and a
//!   regular definition beats a shared object's.
//!
//! The order links when no symbol is left strongly undefined and nothing is defined twice.
//! When it does not, the doctor says who needs each symbol and where it is defined (a later
//! input, an earlier one ld had already passed, or none), and proposes an order that links,
//! checked by the same replay: objects first, then archives so that each comes after every
//! archive that needs it. When archives need each other, no order of single names works, and
//! it proposes a group (and naming an archive twice, when that works too).
//!
//! Inputs are written as for ld: paths, `-lNAME` (`-l:FILE`), `-LDIR`, `--start-group`/`-(`,
//! `--end-group`/`-)`; linker scripts that only list inputs (`GROUP`, `INPUT`, `AS_NEEDED`, as
//! glibc's libc.so) are followed. `--cc` surrounds the inputs with what the C compiler driver
//! adds (start files, libgcc, libc), as `cc -###` lists them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::Cmd;
use crate::symbols::{self, Place, Table};

/// `cargo xtask link-order`'s options.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Options {
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

/// An interned symbol name.
type Sym = u32;

/// How strongly a unit defines a symbol, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    /// Exported by a shared object.
    Dynamic,
    Common,
    Weak,
    Strong,
}

/// One loadable unit: an object, an archive member, or a shared object.
#[derive(Debug)]
struct Unit {
    /// `path` or `path(member)`.
    name: String,
    defines: Vec<(Sym, Strength)>,
    /// Each symbol it references without defining, and whether only weakly.
    needs: Vec<(Sym, bool)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Object,
    Archive,
    Shared,
}

/// One input file.
#[derive(Debug)]
struct Input {
    /// As written (or as found, for `-l`).
    shown: String,
    kind: Kind,
    units: Vec<Unit>,
    /// Added by `--cc`, or by a linker script's expansion of such an input: kept in place
    /// when proposing an order.
    system: bool,
}

/// The order of inputs: single inputs and groups, by index into [`Line::inputs`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    One(usize),
    Group(Vec<usize>),
}

/// A unit, by input and position in it.
type UnitId = (usize, usize);

/// The inputs of one link, read.
#[derive(Debug)]
pub struct Line {
    inputs: Vec<Input>,
    items: Vec<Item>,
    names: Vec<Box<[u8]>>,
    /// For each name: whether ld itself defines it.
    by_linker: Vec<bool>,
}

/// What the replay of one order found.
#[derive(Debug, Default)]
struct Resolution {
    /// Each defined symbol: the unit whose definition won, and how strong it is.
    defined: HashMap<Sym, (UnitId, Strength)>,
    /// Each symbol referenced but undefined, whether only weakly, and who referenced it.
    undefined: BTreeMap<Sym, (bool, Vec<UnitId>)>,
    /// Symbols defined strongly twice: the first and the second definer.
    multiple: Vec<(Sym, UnitId, UnitId)>,
    loaded: Vec<Vec<bool>>,
    /// Each loaded unit's references, resolved or not, for the graph.
    order: Vec<UnitId>,
}

impl Resolution {
    fn links(&self) -> bool {
        self.multiple.is_empty() && self.undefined.values().all(|(weak, _)| *weak)
    }

    fn strongly_undefined(&self) -> impl Iterator<Item = (&Sym, &Vec<UnitId>)> {
        self.undefined
            .iter()
            .filter(|(_, (weak, _))| !weak)
            .map(|(s, (_, by))| (s, by))
    }
}

impl Line {
    /// Reads the inputs named on a command line (`--cc` adds the driver's).
    pub fn read(options: &Options) -> Result<Line> {
        let mut args: Vec<(String, bool)> =
            options.inputs.iter().map(|a| (a.clone(), false)).collect();
        if options.cc {
            args = around_driver_inputs(&options.cc_args, args)?;
        } else if !options.cc_args.is_empty() {
            bail!("--cc-arg is only used with --cc");
        }
        let mut reader = Reader {
            search: args
                .iter()
                .filter_map(|(a, _)| a.strip_prefix("-L").map(PathBuf::from))
                .collect(),
            ..Reader::default()
        };
        let mut items = Vec::new();
        let mut group: Option<Vec<usize>> = None;
        for (arg, system) in &args {
            match arg.as_str() {
                "--start-group" | "-(" => {
                    if group.is_some() {
                        bail!("{arg}: groups may not be nested");
                    }
                    group = Some(Vec::new());
                }
                "--end-group" | "-)" => match group.take() {
                    Some(inputs) => items.push(Item::Group(inputs)),
                    None => bail!("{arg} without a --start-group before it"),
                },
                a if a.starts_with("-L") => {}
                a if a.starts_with('-') && !a.starts_with("-l") => {
                    bail!(
                        "{a}: not an input (only paths, -lNAME, -LDIR and groups are; \
                         link-order's own options go before the first input)"
                    )
                }
                _ => {
                    let found = reader.input(arg, *system)?;
                    match &mut group {
                        Some(g) => g.extend(found.into_iter().flat_map(flatten)),
                        None => items.extend(found),
                    }
                }
            }
        }
        if group.is_some() {
            bail!("--start-group without an --end-group after it");
        }
        let by_linker = reader.names.iter().map(|n| defined_by_linker(n)).collect();
        Ok(Line {
            inputs: reader.inputs,
            items,
            names: reader.names,
            by_linker,
        })
    }

    fn name(&self, sym: Sym) -> String {
        String::from_utf8_lossy(&self.names[sym as usize]).into_owned()
    }

    fn unit(&self, (input, unit): UnitId) -> &Unit {
        &self.inputs[input].units[unit]
    }

    /// Replays GNU ld over `items`.
    fn resolve(&self, items: &[Item]) -> Resolution {
        let mut r = Resolution {
            loaded: self
                .inputs
                .iter()
                .map(|i| vec![false; i.units.len()])
                .collect(),
            ..Resolution::default()
        };
        for item in items {
            match item {
                Item::One(input) => {
                    self.enter(&mut r, *input);
                }
                Item::Group(inputs) => {
                    for &input in inputs {
                        self.enter(&mut r, input);
                    }
                    while inputs.iter().any(|&input| self.search(&mut r, input)) {}
                }
            }
        }
        r
    }

    /// Loads an object or shared object, or searches an archive. Whether it pulled anything.
    fn enter(&self, r: &mut Resolution, input: usize) -> bool {
        match self.inputs[input].kind {
            Kind::Archive => self.search(r, input),
            Kind::Object | Kind::Shared => {
                if r.loaded[input][0] {
                    return false;
                }
                self.load(r, (input, 0));
                true
            }
        }
    }

    /// Searches an archive until a pass pulls nothing in. Whether it pulled anything.
    fn search(&self, r: &mut Resolution, input: usize) -> bool {
        if self.inputs[input].kind != Kind::Archive {
            return false;
        }
        let mut any = false;
        loop {
            let mut pulled = false;
            for (index, unit) in self.inputs[input].units.iter().enumerate() {
                if r.loaded[input][index] {
                    continue;
                }
                let wanted = unit.defines.iter().any(|&(sym, strength)| {
                    match (r.undefined.get(&sym), r.defined.get(&sym)) {
                        (Some((weak, _)), _) => !weak,
                        (_, Some((_, Strength::Common))) => strength > Strength::Common,
                        _ => false,
                    }
                });
                if wanted {
                    self.load(r, (input, index));
                    pulled = true;
                }
            }
            if !pulled {
                return any;
            }
            any = true;
        }
    }

    fn load(&self, r: &mut Resolution, id: UnitId) {
        r.loaded[id.0][id.1] = true;
        r.order.push(id);
        let unit = self.unit(id);
        for &(sym, strength) in &unit.defines {
            match r.defined.get(&sym) {
                None => {
                    r.defined.insert(sym, (id, strength));
                    r.undefined.remove(&sym);
                }
                Some(&(first, Strength::Strong)) if strength == Strength::Strong => {
                    r.multiple.push((sym, first, id));
                }
                Some(&(_, old))
                    if strength > old
                        && !(old == Strength::Common && strength == Strength::Weak) =>
                {
                    r.defined.insert(sym, (id, strength));
                }
                Some(_) => {}
            }
        }
        if self.inputs[id.0].kind == Kind::Shared {
            return;
        }
        for &(sym, weak) in &unit.needs {
            if r.defined.contains_key(&sym) || self.by_linker[sym as usize] {
                continue;
            }
            let entry = r.undefined.entry(sym).or_insert((true, Vec::new()));
            entry.0 &= weak;
            entry.1.push(id);
        }
    }

    /// Every unit defining `sym` (loaded or not), strongest first.
    fn definers(&self, sym: Sym) -> Vec<UnitId> {
        let mut found = Vec::new();
        for (i, input) in self.inputs.iter().enumerate() {
            for (u, unit) in input.units.iter().enumerate() {
                if unit.defines.iter().any(|&(s, _)| s == sym) {
                    found.push((i, u));
                }
            }
        }
        found
    }

    fn shown_items(&self, items: &[Item]) -> String {
        let mut words = Vec::new();
        for item in items {
            match item {
                Item::One(i) if !self.inputs[*i].system => {
                    words.push(self.inputs[*i].shown.clone())
                }
                Item::Group(g) if g.iter().any(|i| !self.inputs[*i].system) => {
                    words.push("--start-group".into());
                    words.extend(g.iter().map(|i| self.inputs[*i].shown.clone()));
                    words.push("--end-group".into());
                }
                _ => {}
            }
        }
        words.join(" ")
    }
}

fn flatten(item: Item) -> Vec<usize> {
    match item {
        Item::One(i) => vec![i],
        Item::Group(g) => g,
    }
}

/// Reads input files, interning symbol names.
#[derive(Debug, Default)]
struct Reader {
    inputs: Vec<Input>,
    names: Vec<Box<[u8]>>,
    ids: HashMap<Box<[u8]>, Sym>,
    /// `-L` directories, then ld's own.
    search: Vec<PathBuf>,
    system_dirs: Option<Vec<PathBuf>>,
}

impl Reader {
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
    fn input(&mut self, arg: &str, system: bool) -> Result<Vec<Item>> {
        let path = match arg.strip_prefix("-l") {
            Some(lib) => self.find_library(lib)?,
            None => PathBuf::from(arg),
        };
        let shown = if arg.starts_with("-l") {
            path.display().to_string()
        } else {
            arg.to_owned()
        };
        let input = symbols::load(&path).map_err(|fault| anyhow::anyhow!("{shown}: {fault}"))?;
        let data = input.data();
        if data.starts_with(b"\x7fELF") {
            let kind = match data.get(16..18) {
                Some([3, 0]) => Kind::Shared,
                Some([1, 0]) => Kind::Object,
                _ => bail!("{shown}: an ELF file that is neither an object nor a shared object"),
            };
            let table = if kind == Kind::Shared {
                Table::Dynamic
            } else {
                Table::Static
            };
            let unit = self.unit(shown.clone(), data, table)?;
            return Ok(vec![self.push(shown, kind, vec![unit], system)]);
        }
        if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
            if !has_index(data) {
                bail!(
                    "{shown}: the archive has no symbol index, so ld cannot search it (run `ranlib {shown}`)"
                );
            }
            let mut thin = Vec::new();
            let members = symbols::units(&input, &mut thin)
                .map_err(|fault| anyhow::anyhow!("{shown}: {fault}"))?
                .unwrap_or_default();
            let mut units = Vec::new();
            for member in members {
                let bytes = member
                    .result
                    .map_err(|fault| anyhow::anyhow!("{shown}({}): {fault}", member.member))?;
                // Members that are not ELF objects (rustc's lib.rmeta) are not in the index.
                if !bytes.starts_with(b"\x7fELF") {
                    continue;
                }
                let name = format!("{shown}({})", member.member);
                units.push(self.unit(name, bytes, Table::Static)?);
            }
            return Ok(vec![self.push(shown, Kind::Archive, units, system)]);
        }
        match std::str::from_utf8(data).ok().and_then(script_inputs) {
            Some(script) => {
                let mut items = Vec::new();
                for (group, args) in script {
                    let mut found = Vec::new();
                    for arg in args {
                        // A bare file name is looked for in the search directories too.
                        let arg = match self.find_bare(&arg) {
                            Some(path) => path.display().to_string(),
                            None => arg,
                        };
                        found.extend(self.input(&arg, system)?);
                    }
                    if group {
                        items.push(Item::Group(found.into_iter().flat_map(flatten).collect()));
                    } else {
                        items.extend(found);
                    }
                }
                Ok(items)
            }
            None => bail!(
                "{shown}: not an ELF object, archive, shared object or input-listing linker script"
            ),
        }
    }

    fn push(&mut self, shown: String, kind: Kind, units: Vec<Unit>, system: bool) -> Item {
        self.inputs.push(Input {
            shown,
            kind,
            units,
            system,
        });
        Item::One(self.inputs.len() - 1)
    }

    fn unit(&mut self, name: String, data: &[u8], table: Table) -> Result<Unit> {
        let symbols = symbols::read_elf(data, table)
            .map_err(|fault| anyhow::anyhow!("{name}: {fault}"))?
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

    /// A linker script's file name without a slash, when it is not in the current directory:
    /// the first search directory that has it.
    fn find_bare(&mut self, name: &str) -> Option<PathBuf> {
        if name.contains('/') || name.starts_with('-') || Path::new(name).exists() {
            return None;
        }
        self.find_library(&format!(":{name}")).ok()
    }

    /// Finds `-lNAME` as ld does: each directory in turn, `libNAME.so` before `libNAME.a`;
    /// `-l:FILE` names the file exactly.
    fn find_library(&mut self, lib: &str) -> Result<PathBuf> {
        let candidates: Vec<String> = match lib.strip_prefix(':') {
            Some(file) => vec![file.to_owned()],
            None => vec![format!("lib{lib}.so"), format!("lib{lib}.a")],
        };
        if self.system_dirs.is_none() {
            self.system_dirs = Some(ld_search_dirs()?);
        }
        let dirs = self.search.iter().chain(self.system_dirs.iter().flatten());
        for dir in dirs {
            for name in &candidates {
                let path = dir.join(name);
                if path.is_file() {
                    return Ok(path);
                }
            }
        }
        bail!("-l{lib}: found in no search directory (-L, then ld's SEARCH_DIR)")
    }
}

const STB_WEAK: u8 = object::elf::STB_WEAK.0;

/// Whether ld defines the symbol itself when a program refers to it (its default linker
/// script's symbols, the GOT, and `__start_`/`__stop_` of a section).
fn defined_by_linker(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 21] = [
        b"_GLOBAL_OFFSET_TABLE_",
        b"_DYNAMIC",
        b"_TLS_MODULE_BASE_",
        b"__ehdr_start",
        b"__executable_start",
        b"etext",
        b"_etext",
        b"__etext",
        b"edata",
        b"_edata",
        b"end",
        b"_end",
        b"__bss_start",
        b"__preinit_array_start",
        b"__preinit_array_end",
        b"__init_array_start",
        b"__init_array_end",
        b"__fini_array_start",
        b"__fini_array_end",
        b"__GNU_EH_FRAME_HDR",
        b"__rela_iplt_start",
    ];
    NAMES.contains(&name)
        || name == b"__rela_iplt_end"
        || name.starts_with(b"__start_")
        || name.starts_with(b"__stop_")
}

/// Whether an archive has a symbol index (a first member named `/` or `/SYM64/`).
fn has_index(data: &[u8]) -> bool {
    data.get(8..24)
        .is_some_and(|name| name.starts_with(b"/ ") || name.starts_with(b"/SYM64/"))
}

/// The inputs a linker script lists, when it does nothing else (glibc's libc.so): each
/// `GROUP(…)` as a group and each `INPUT(…)` as single inputs; `AS_NEEDED(…)` is read as its
/// contents. `None` for anything else.
fn script_inputs(text: &str) -> Option<Vec<(bool, Vec<String>)>> {
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
                while depth > 0 {
                    match words.next()? {
                        "(" => depth += 1,
                        ")" => depth -= 1,
                        "AS_NEEDED" | "," => {}
                        arg => args.push(arg.to_owned()),
                    }
                }
                out.push((word == "GROUP", args));
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// ld's default search directories, from `ld --verbose`.
fn ld_search_dirs() -> Result<Vec<PathBuf>> {
    let output = Cmd::new("ld")
        .arg("--verbose")
        .install_hint(crate::platform::install_hint("binutils"))
        .run(false)?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .split("SEARCH_DIR(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once("\")"))
        .map(|(dir, _)| PathBuf::from(dir.trim_start_matches('=')))
        .collect())
}

/// The driver's link line with `inputs` in place of the user's files: start files before,
/// libraries and end files after, each marked as the system's.
fn around_driver_inputs(
    cc_args: &[String],
    inputs: Vec<(String, bool)>,
) -> Result<Vec<(String, bool)>> {
    const MARK: &str = "POLYLINK-LINK-ORDER-INPUTS.o";
    let cc = crate::tools::c_compiler()?.program;
    let output = Cmd::new(&cc)
        .arg("-###")
        .args(cc_args)
        .arg(MARK)
        .output(false)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Some(line) = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(' ') && l.contains(MARK))
    else {
        bail!("`{cc} -### {MARK}` printed no link command (did it fail?):\n{stderr}");
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
        } else if word.starts_with("-l")
            || word.starts_with("-L")
            || matches!(word.as_str(), "--start-group" | "--end-group" | "-(" | "-)")
            || !word.starts_with('-')
        {
            out.push((word, true));
        }
    }
    Ok(out)
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

/// The doctor's findings for one line.
#[derive(Debug)]
pub struct Report {
    /// Whether the order as given links.
    pub links: bool,
    /// The symbols left strongly undefined, with who needs each and who defines it.
    pub undefined: Vec<Undefined>,
    /// Symbols defined twice: the name and both definers.
    pub multiple: Vec<(String, String, String)>,
    /// An order that links, as ld arguments (system inputs left out), when one was found.
    pub proposal: Option<String>,
    /// The same with archives named twice instead of a group, when that links too.
    pub repeated: Option<String>,
    /// Archives that need each other (each cycle, by name).
    pub cycles: Vec<Vec<String>>,
    /// The report as text.
    pub text: String,
}

/// One symbol the given order leaves undefined.
#[derive(Debug)]
pub struct Undefined {
    pub symbol: String,
    pub needed_by: Vec<String>,
    /// Where it is defined, and whether that input comes after the first reference.
    pub defined_in: Vec<(String, Whence)>,
}

/// Where a definition stands relative to the first reference to the symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    Later,
    Earlier,
}

/// Replays the line's order, explains it, and proposes one that links.
pub fn diagnose(line: &Line) -> Report {
    let given = line.resolve(&line.items);
    let mut text = String::new();
    let mut undefined = Vec::new();
    for (&sym, by) in given.strongly_undefined() {
        let first = by.iter().map(|id| id.0).min().unwrap_or(0);
        let defined_in = line
            .definers(sym)
            .into_iter()
            .map(|id| {
                let whence = if id.0 > first {
                    Whence::Later
                } else {
                    Whence::Earlier
                };
                (line.unit(id).name.clone(), whence)
            })
            .collect();
        let mut needed_by: Vec<String> = by.iter().map(|id| line.unit(*id).name.clone()).collect();
        needed_by.dedup();
        undefined.push(Undefined {
            symbol: line.name(sym),
            needed_by,
            defined_in,
        });
    }
    let multiple: Vec<_> = given
        .multiple
        .iter()
        .map(|&(sym, a, b)| {
            (
                line.name(sym),
                line.unit(a).name.clone(),
                line.unit(b).name.clone(),
            )
        })
        .collect();

    let loaded_units: usize = given.order.len();
    if given.links() {
        let _ = writeln!(
            text,
            "This order links: ld would load {loaded_units} units."
        );
    } else {
        let _ = writeln!(
            text,
            "This order does not link: {} undefined, {} defined twice.",
            count(undefined.len(), "symbol"),
            count(multiple.len(), "symbol")
        );
    }
    for (index, input) in line.inputs.iter().enumerate() {
        if input.kind == Kind::Archive && !input.system {
            let pulled = given.loaded[index].iter().filter(|l| **l).count();
            let _ = writeln!(
                text,
                "  {}: {pulled} of {} members pulled in",
                input.shown,
                input.units.len()
            );
        }
    }
    if !undefined.is_empty() {
        let _ = writeln!(text, "\nUndefined, in the order as given:");
    }
    // Symbols with the same story are told once.
    let mut stories: Vec<(Vec<&str>, &Undefined)> = Vec::new();
    for u in &undefined {
        match stories
            .iter_mut()
            .find(|(_, v)| v.needed_by == u.needed_by && v.defined_in == u.defined_in)
        {
            Some((symbols, _)) => symbols.push(&u.symbol),
            None => stories.push((vec![&u.symbol], u)),
        }
    }
    for (symbols, u) in stories {
        let _ = writeln!(text, "  {}", symbols.join(", "));
        let _ = writeln!(text, "    needed by {}", u.needed_by.join(", "));
        if u.defined_in.is_empty() {
            let _ = writeln!(text, "    defined by no input: add the library that has it");
        }
        for (definer, whence) in &u.defined_in {
            let when = match whence {
                Whence::Later => "a later input: ld had not reached it when the symbol was needed",
                Whence::Earlier => "an input ld had already searched before the symbol was needed",
            };
            let _ = writeln!(text, "    defined in {definer}, {when}");
        }
    }
    for (symbol, first, second) in &multiple {
        let _ = writeln!(
            text,
            "\nMultiple definition of {symbol}: first in {first}, again in {second}"
        );
    }

    let (proposal, repeated, cycles) = if given.links() {
        (None, None, Vec::new())
    } else {
        propose(line)
    };
    if !given.links() {
        if !cycles.is_empty() {
            for cycle in &cycles {
                let _ = writeln!(
                    text,
                    "\nThese archives need each other, so no order of single names links: {}",
                    cycle.join(", ")
                );
            }
        }
        match (&proposal, &repeated) {
            (Some(order), _) if cycles.is_empty() => {
                let _ = writeln!(text, "\nAn order that links:\n  {order}");
            }
            (Some(order), Some(twice)) => {
                let _ = writeln!(
                    text,
                    "\nGroup them (ld searches a group again until nothing new is pulled in):\n  {order}\nor name an archive twice:\n  {twice}"
                );
            }
            (Some(order), None) => {
                let _ = writeln!(
                    text,
                    "\nGroup them (ld searches a group again until nothing new is pulled in):\n  {order}"
                );
            }
            (None, _) => {
                let _ = writeln!(
                    text,
                    "\nNo order of these inputs links (with the archives grouped, in every order tried):\na symbol is defined by no input, or twice."
                );
            }
        }
    }
    Report {
        links: given.links(),
        undefined,
        multiple,
        proposal,
        repeated,
        cycles,
        text,
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// An order of the user's inputs that links, the same with archives repeated instead of
/// grouped (when there are cycles and that links too), and the cycles.
fn propose(line: &Line) -> (Option<String>, Option<String>, Vec<Vec<String>>) {
    // The system's inputs keep their places: before the user's, after them, or both.
    let user: Vec<usize> = line
        .items
        .iter()
        .flat_map(|i| flatten(i.clone()))
        .filter(|&i| !line.inputs[i].system)
        .collect();
    let first_user = line
        .items
        .iter()
        .position(|i| flatten(i.clone()).iter().any(|&j| !line.inputs[j].system));
    let (before, after): (Vec<Item>, Vec<Item>) = {
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (n, item) in line.items.iter().enumerate() {
            let system = flatten(item.clone()).iter().all(|&j| line.inputs[j].system);
            if system && first_user.is_some_and(|f| n < f) {
                before.push(item.clone());
            } else if system {
                after.push(item.clone());
            }
        }
        (before, after)
    };
    let objects: Vec<usize> = user
        .iter()
        .copied()
        .filter(|&i| line.inputs[i].kind == Kind::Object)
        .collect();
    let archives: Vec<usize> = user
        .iter()
        .copied()
        .filter(|&i| line.inputs[i].kind == Kind::Archive)
        .collect();
    let shared: Vec<usize> = user
        .iter()
        .copied()
        .filter(|&i| line.inputs[i].kind == Kind::Shared)
        .collect();
    let assemble = |middle: Vec<Item>| -> Vec<Item> {
        before
            .iter()
            .cloned()
            .chain(objects.iter().map(|&i| Item::One(i)))
            .chain(middle)
            .chain(shared.iter().map(|&i| Item::One(i)))
            .chain(after.iter().cloned())
            .collect()
    };
    // Everything in one group resolves all it can: its pulls give the dependencies. Which
    // members a group pulls in can depend on the order inside it (two members defining the
    // same symbol), so when the given order fails, others are tried.
    let Some((archives, all, ideal)) = archive_orders(&archives).into_iter().find_map(|archives| {
        let all = assemble(vec![Item::Group(archives.clone())]);
        let ideal = line.resolve(&all);
        ideal.links().then_some((archives, all, ideal))
    }) else {
        return (None, None, Vec::new());
    };
    let slot: HashMap<usize, usize> = archives.iter().enumerate().map(|(n, &i)| (i, n)).collect();
    let mut edges = vec![Vec::new(); archives.len()];
    for &id in &ideal.order {
        let Some(&from) = slot.get(&id.0) else {
            continue;
        };
        for &(sym, _) in &line.unit(id).needs {
            if let Some(&((input, _), _)) = ideal.defined.get(&sym)
                && let Some(&to) = slot.get(&input)
                && to != from
                && !edges[from].contains(&to)
            {
                edges[from].push(to);
            }
        }
    }
    let components = strongly_connected(&edges);
    let cycles: Vec<Vec<String>> = components
        .iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            c.iter()
                .map(|&n| line.inputs[archives[n]].shown.clone())
                .collect()
        })
        .collect();
    let middle = |twice: bool| -> Vec<Item> {
        let mut items = Vec::new();
        for c in &components {
            let members: Vec<usize> = c.iter().map(|&n| archives[n]).collect();
            if members.len() == 1 {
                items.push(Item::One(members[0]));
            } else if twice {
                items.extend(members.iter().map(|&i| Item::One(i)));
                items.extend(members[..members.len() - 1].iter().map(|&i| Item::One(i)));
            } else {
                items.push(Item::Group(members));
            }
        }
        items
    };
    let best = assemble(middle(false));
    let proposal = if line.resolve(&best).links() {
        best
    } else {
        all
    };
    let repeated = if cycles.is_empty() {
        None
    } else {
        let twice = assemble(middle(true));
        line.resolve(&twice)
            .links()
            .then(|| line.shown_items(&twice))
    };
    (Some(line.shown_items(&proposal)), repeated, cycles)
}

/// The orders of archives to try: the given one first, then every other when there are at
/// most six, else the given one reversed.
fn archive_orders(archives: &[usize]) -> Vec<Vec<usize>> {
    fn permute(rest: &mut Vec<usize>, done: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(done.clone());
            return;
        }
        for k in 0..rest.len() {
            let next = rest.remove(k);
            done.push(next);
            permute(rest, done, out);
            done.pop();
            rest.insert(k, next);
        }
    }
    let mut out = Vec::new();
    if archives.len() <= 6 {
        permute(&mut archives.to_vec(), &mut Vec::new(), &mut out);
    } else {
        out.push(archives.to_vec());
        out.push(archives.iter().rev().copied().collect());
    }
    out
}

/// Tarjan's strongly connected components, in an order where every edge goes from an earlier
/// component to a later one (a needer before what it needs); within a component and between
/// unrelated ones, the nodes' own order is kept as far as possible.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    // Tarjan emits a component after everything it reaches: reversed, needers come first.
    s.out.reverse();
    s.out
}

/// The dependency graph in Graphviz format: inputs as nodes, and for each pair of inputs an
/// edge labelled with the symbols one needs from the other. The edges are those of every unit
/// the given order loads, or that one big group of all inputs would load: solid where the
/// given order resolves them, red and dashed where it leaves them undefined, grey where the
/// given order does not load the needing unit at all.
pub fn dot(line: &Line) -> String {
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Style {
        Resolved,
        Undefined,
        NotLoaded,
    }
    let given = line.resolve(&line.items);
    let everything = vec![Item::Group((0..line.inputs.len()).collect())];
    let ideal = line.resolve(&everything);
    let mut units: Vec<UnitId> = given.order.clone();
    units.extend(ideal.order.iter().filter(|id| !given.loaded[id.0][id.1]));
    let mut edges: BTreeMap<(usize, usize, Style), Vec<String>> = BTreeMap::new();
    for id in units {
        let loaded = given.loaded[id.0][id.1];
        for &(sym, weak) in &line.unit(id).needs {
            let (target, style) = match (given.defined.get(&sym), ideal.defined.get(&sym)) {
                (Some(&(d, _)), _) if loaded => (Some(d.0), Style::Resolved),
                (_, Some(&(d, _))) if loaded => (Some(d.0), Style::Undefined),
                (_, Some(&(d, _))) => (Some(d.0), Style::NotLoaded),
                _ if weak || line.by_linker[sym as usize] => continue,
                _ if loaded => (None, Style::Undefined),
                _ => (None, Style::NotLoaded),
            };
            // Edges within one input say nothing about order.
            let to = target.unwrap_or(usize::MAX);
            if to != id.0 {
                edges
                    .entry((id.0, to, style))
                    .or_default()
                    .push(line.name(sym));
            }
        }
    }
    let mut out = String::from(
        "digraph \"link-order\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (i, input) in line.inputs.iter().enumerate() {
        let shape = match input.kind {
            Kind::Object => "box",
            Kind::Archive => "folder",
            Kind::Shared => "component",
        };
        let style = if input.system { ", style=dashed" } else { "" };
        let _ = writeln!(
            out,
            "  n{i} [label=\"{}\", shape={shape}{style}];",
            escape(&input.shown)
        );
    }
    if edges.keys().any(|(_, to, _)| *to == usize::MAX) {
        out.push_str("  nowhere [label=\"defined by no input\", shape=octagon, color=red];\n");
    }
    for ((from, to, style), mut names) in edges {
        names.sort();
        names.dedup();
        let to = if to == usize::MAX {
            "nowhere".to_owned()
        } else {
            format!("n{to}")
        };
        let style = match style {
            Style::Resolved => "",
            Style::Undefined => ", color=red, style=dashed",
            Style::NotLoaded => ", color=grey, fontcolor=grey",
        };
        let _ = writeln!(
            out,
            "  n{from} -> {to} [label=\"{}\"{style}];",
            escape(&label(&names))
        );
    }
    out.push_str("}\n");
    out
}

/// Up to four names, one per line, and how many more.
fn label(names: &[String]) -> String {
    let mut text = names.iter().take(4).cloned().collect::<Vec<_>>().join("\n");
    if names.len() > 4 {
        let _ = write!(text, "\n+{} more", names.len() - 4);
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Runs the doctor: writes the report (and the graph, if asked) and says whether the order
/// links.
pub fn run(options: &Options, out: &mut impl std::io::Write) -> Result<bool> {
    let line = Line::read(options)?;
    let report = diagnose(&line);
    out.write_all(report.text.as_bytes())?;
    if let Some(path) = &options.dot {
        let graph = dot(&line);
        if path == Path::new("-") {
            out.write_all(graph.as_bytes())?;
        } else {
            crate::fsutil::write_atomic(path, graph.as_bytes())
                .with_context(|| format!("could not write {}", path.display()))?;
        }
    }
    Ok(report.links)
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
                    "/lib/libc.so.6".to_owned(),
                    "/usr/lib/libc_nonshared.a".into(),
                    "/lib64/ld.so.2".into()
                ]
            )]
        );
        assert_eq!(
            script_inputs("INPUT(-lfoo bar.o)"),
            Some(vec![(false, vec!["-lfoo".to_owned(), "bar.o".into()])])
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

    #[test]
    fn components_come_needers_first_and_cycles_together() {
        // 0 needs 1, 1 and 2 need each other, 2 needs 3; 4 stands alone.
        let edges = vec![vec![1], vec![2], vec![1, 3], vec![], vec![]];
        let components = strongly_connected(&edges);
        let position = |n: usize| components.iter().position(|c| c.contains(&n)).unwrap();
        assert!(components.contains(&vec![1, 2]), "{components:?}");
        assert!(
            position(0) < position(1) && position(2) < position(3),
            "{components:?}"
        );
        assert_eq!(components.len(), 4);
    }

    #[test]
    fn archive_orders_start_with_the_given_one() {
        assert_eq!(archive_orders(&[4, 2]), [vec![4, 2], vec![2, 4]]);
        assert_eq!(archive_orders(&[1, 2, 3]).len(), 6);
        assert_eq!(archive_orders(&(0..7).collect::<Vec<_>>()).len(), 2);
    }

    #[test]
    fn the_linker_defines_its_own_symbols() {
        for name in [
            "_GLOBAL_OFFSET_TABLE_",
            "__start_my_section",
            "_end",
            "__bss_start",
        ] {
            assert!(defined_by_linker(name.as_bytes()), "{name}");
        }
        // crtbegin.o defines __dso_handle, not ld.
        assert!(!defined_by_linker(b"hello") && !defined_by_linker(b"__dso_handle"));
    }
}
