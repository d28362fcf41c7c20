//! The model of one link and GNU ld's resolution replayed over it: inputs made of units (an
//! object, an archive's members, a shared object), each defining and needing interned symbols,
//! and [`Line::resolve`], which loads and searches them in a given order as ld does.

use std::collections::{BTreeMap, HashMap, HashSet};

/// An interned symbol name.
pub(super) type Sym = u32;

/// How strongly a unit defines a symbol, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Strength {
    /// Exported by a shared object.
    Dynamic,
    Common,
    Weak,
    /// STB_GNU_UNIQUE: a C++ inline function's local static, in a COMDAT group; every copy is
    /// the same object, so two are merged, never a duplicate.
    Unique,
    Strong,
}

/// One loadable unit: an object, an archive member, or a shared object.
#[derive(Debug)]
pub(super) struct Unit {
    /// `path` or `path(member)`.
    pub(super) name: String,
    pub(super) defines: Vec<(Sym, Strength)>,
    /// Each symbol it references without defining, and whether only weakly.
    pub(super) needs: Vec<(Sym, bool)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Object,
    Archive,
    Shared,
}

/// One input file.
#[derive(Debug)]
pub(super) struct Input {
    /// As written (or as found, for `-l`).
    pub(super) shown: String,
    /// The command-line argument it came from, as the user wrote it (`-lm` for libm.so.6 read
    /// through glibc's linker script).
    pub(super) arg: String,
    pub(super) kind: Kind,
    pub(super) units: Vec<Unit>,
    /// Added by `--cc`, or by a linker script's expansion of such an input: kept in place
    /// when proposing an order.
    pub(super) system: bool,
    /// A shared object read under `--as-needed`: ld keeps it only if, where it stands, it
    /// defines a symbol that is strongly undefined.
    pub(super) as_needed: bool,
    /// For a shared object: what the libraries it needs (DT_NEEDED, found as ld finds them, and
    /// theirs in turn) define. ld loads them after the command line, for the shared objects'
    /// own references only.
    pub(super) needed_defines: HashSet<Sym>,
}

/// The order of inputs: single inputs and groups, by index into [`Line::inputs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    One(usize),
    Group(Vec<usize>),
}

/// A unit, by input and position in it.
pub(super) type UnitId = (usize, usize);

/// The inputs of one link, read.
#[derive(Debug)]
pub struct Line {
    pub(super) inputs: Vec<Input>,
    pub(super) items: Vec<Item>,
    pub(super) names: Vec<Box<[u8]>>,
    /// For each name: whether ld itself defines it.
    pub(super) by_linker: Vec<bool>,
}

/// What the replay of one order found.
#[derive(Debug, Default)]
pub(super) struct Resolution {
    /// Each defined symbol: the unit whose definition won, and how strong it is.
    pub(super) defined: HashMap<Sym, (UnitId, Strength)>,
    /// Each symbol referenced but undefined, whether only weakly, and who referenced it.
    pub(super) undefined: BTreeMap<Sym, (bool, Vec<UnitId>)>,
    /// Symbols defined strongly twice: the first and the second definer.
    pub(super) multiple: Vec<(Sym, UnitId, UnitId)>,
    pub(super) loaded: Vec<Vec<bool>>,
    /// Each loaded unit's references, resolved or not, for the graph.
    pub(super) order: Vec<UnitId>,
}

impl Resolution {
    pub(super) fn links(&self) -> bool {
        self.multiple.is_empty() && self.undefined.values().all(|(weak, _)| *weak)
    }

    pub(super) fn strongly_undefined(&self) -> impl Iterator<Item = (&Sym, &Vec<UnitId>)> {
        self.undefined
            .iter()
            .filter(|(_, (weak, _))| !weak)
            .map(|(s, (_, by))| (s, by))
    }
}

impl Line {
    /// How many inputs the line read.
    pub(crate) fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// Whether input `index` is a shared object, and whether it was read under `--as-needed`.
    pub(crate) fn input_shared(&self, index: usize) -> (bool, bool) {
        let input = &self.inputs[index];
        (input.kind == Kind::Shared, input.as_needed)
    }

    /// The argument of the input that holds the unit named `unit` (`libx.a(m.o)` → `libx.a`
    /// as the user wrote it).
    pub(crate) fn arg_of_unit(&self, unit: &str) -> Option<String> {
        self.inputs
            .iter()
            .find(|i| i.units.iter().any(|u| u.name == unit))
            .map(|i| i.arg.clone())
    }

    /// Every name some unit of the line defines.
    pub(crate) fn defined_names(&self) -> Vec<String> {
        let mut syms: Vec<Sym> = self
            .inputs
            .iter()
            .flat_map(|i| &i.units)
            .flat_map(|u| u.defines.iter().map(|&(sym, _)| sym))
            .collect();
        syms.sort_unstable();
        syms.dedup();
        syms.into_iter().map(|s| self.name(s)).collect()
    }

    /// The argument input `index` came from, as written, and whether the driver added it.
    pub(crate) fn input_arg(&self, index: usize) -> (&str, bool) {
        (&self.inputs[index].arg, self.inputs[index].system)
    }

    pub(super) fn name(&self, sym: Sym) -> String {
        String::from_utf8_lossy(&self.names[sym as usize]).into_owned()
    }

    pub(super) fn unit(&self, (input, unit): UnitId) -> &Unit {
        &self.inputs[input].units[unit]
    }

    /// Replays GNU ld over `items`.
    pub(super) fn resolve(&self, items: &[Item]) -> Resolution {
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
        self.resolve_needed(&mut r);
        r
    }

    /// What the libraries the shared objects need define resolves what only shared objects
    /// reference; a regular object's reference it does not (ld: "DSO missing from command
    /// line").
    fn resolve_needed(&self, r: &mut Resolution) {
        let loaded_shared: Vec<&Input> = (0..self.inputs.len())
            .filter(|&i| self.inputs[i].kind == Kind::Shared && r.loaded[i][0])
            .map(|i| &self.inputs[i])
            .collect();
        r.undefined.retain(|sym, (_, by)| {
            let only_shared = by.iter().all(|id| self.inputs[id.0].kind == Kind::Shared);
            !(only_shared && loaded_shared.iter().any(|i| i.needed_defines.contains(sym)))
        });
    }

    /// Loads an object or shared object, or searches an archive. Whether it pulled anything.
    pub(super) fn enter(&self, r: &mut Resolution, input: usize) -> bool {
        match self.inputs[input].kind {
            Kind::Archive => self.search(r, input),
            Kind::Object | Kind::Shared => {
                if r.loaded[input][0] || (self.inputs[input].as_needed && !self.wanted(r, input)) {
                    return false;
                }
                self.load(r, (input, 0));
                true
            }
        }
    }

    /// Whether an as-needed shared object defines a symbol that is strongly undefined now.
    fn wanted(&self, r: &Resolution, input: usize) -> bool {
        self.inputs[input].units[0]
            .defines
            .iter()
            .any(|(sym, _)| r.undefined.get(sym).is_some_and(|(weak, _)| !weak))
    }

    /// Searches an archive until a pass pulls nothing in. Whether it pulled anything.
    pub(super) fn search(&self, r: &mut Resolution, input: usize) -> bool {
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

    pub(super) fn load(&self, r: &mut Resolution, id: UnitId) {
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
                Some(&(_, Strength::Unique)) if strength == Strength::Unique => {}
                Some(&(_, old))
                    if strength > old
                        && !(old == Strength::Common && strength == Strength::Weak) =>
                {
                    r.defined.insert(sym, (id, strength));
                }
                Some(_) => {}
            }
        }
        // A shared object's own references count too: they keep a later as-needed library and
        // pull archive members, and what stays undefined is ld's "undefined reference" in it.
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
    pub(super) fn definers(&self, sym: Sym) -> Vec<UnitId> {
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

    /// An order as the user would write it: each input by the argument it came from (`-lm`,
    /// not the libm.so.6 that glibc's script names), a linker script's expansion once, and the
    /// driver's own inputs left out.
    pub(super) fn shown_items(&self, items: &[Item]) -> String {
        let mut words: Vec<String> = Vec::new();
        let push = |word: &str, words: &mut Vec<String>| {
            if words.last().map(String::as_str) != Some(word) {
                words.push(word.to_owned());
            }
        };
        for item in items {
            match item {
                Item::One(i) if !self.inputs[*i].system => push(&self.inputs[*i].arg, &mut words),
                Item::Group(g) if g.iter().any(|i| !self.inputs[*i].system) => {
                    let args: Vec<&str> = g.iter().map(|i| self.inputs[*i].arg.as_str()).collect();
                    if args.iter().all(|a| *a == args[0]) {
                        push(args[0], &mut words);
                        continue;
                    }
                    push("--start-group", &mut words);
                    for arg in args {
                        push(arg, &mut words);
                    }
                    push("--end-group", &mut words);
                }
                _ => {}
            }
        }
        words.join(" ")
    }
}

pub(super) fn flatten(item: Item) -> Vec<usize> {
    match item {
        Item::One(i) => vec![i],
        Item::Group(g) => g,
    }
}

pub(super) const STB_WEAK: u8 = object::elf::STB_WEAK.0;
pub(super) const STB_GNU_UNIQUE: u8 = object::elf::STB_GNU_UNIQUE.0;

/// Whether ld defines the symbol itself when a program refers to it (its default linker
/// script's symbols, the GOT, and `__start_`/`__stop_` of a section).
pub(super) fn defined_by_linker(name: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn the_linker_defines_its_own_symbols() {
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
