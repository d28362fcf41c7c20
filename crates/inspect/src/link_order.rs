//! `polylink link-order INPUT…`: the link-order doctor.
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
//!   before it; its own undefined symbols are its loader's business. Under `--as-needed` (which
//!   Debian's gcc passes) a shared object is kept only if, where it stands, it defines a symbol
//!   that is strongly undefined; otherwise its symbols resolve nothing;
//! - two strong definitions are an error; a strong definition beats a weak or common one, a
//!   regular definition beats a shared object's, and two STB_GNU_UNIQUE definitions (a C++
//!   inline function's static) are one.
//!
//! The order links when no symbol is left strongly undefined and nothing is defined twice.
//! When it does not, the doctor says who needs each symbol and where it is defined (a later
//! input, an earlier one ld had already passed, or none), and proposes an order that links,
//! checked by the same replay: objects first, then archives so that each comes after every
//! archive that needs it. When archives need each other, no order of single names works, and
//! it proposes a group (and naming an archive twice, when that works too).
//!
//! Inputs are written as for ld: paths, `-lNAME` (`-l:FILE`), `-LDIR`, `--start-group`/`-(`,
//! `--end-group`/`-)`, and the options that change how later inputs are read (`--as-needed`,
//! `--no-as-needed`, `-Bstatic`/`-static`, `-Bdynamic`, `--push-state`, `--pop-state`), also as
//! the compiler driver takes them (`-Wl,--as-needed,-Bstatic`). Every `-L` applies to every
//! `-l`, the user's before the driver's. Linker scripts that only list inputs (`GROUP`, `INPUT`,
//! `AS_NEEDED`, as glibc's libc.so) are followed; an empty archive needs no index. `--cc`
//! surrounds the inputs with what the C compiler driver adds (start files, libgcc, libc), as
//! `cc -###` lists them.

mod diagnose;
mod dot;
mod inputs;
mod model;
mod propose;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Result, System};

pub use diagnose::{Report, Undefined, Whence, diagnose};
pub use dot::dot;
pub(crate) use inputs::{ld_input_option, script_inputs};
pub use model::{Item, Line};
pub(crate) use propose::minimal;

/// What the doctor is asked: the inputs in order, and how to read them.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Where to write the dependency graph in Graphviz format (`-` for the report's writer).
    pub dot: Option<PathBuf>,
    /// Surround the inputs with what the C compiler driver adds (start files, libgcc, libc), as
    /// `cc -###` lists them.
    pub cc: bool,
    /// Options for the C compiler driver when asking it with `cc` (e.g. `-nostartfiles`).
    pub cc_args: Vec<String>,
    /// The driver to ask with `cc` (`g++`, `clang`) [default: `$CC`, else `cc`].
    pub driver: Option<String>,
    /// The inputs, in the order the linker would get them.
    pub inputs: Vec<String>,
}

/// A link line that cannot be read, named with its argument or file and the fault.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("--cc-arg is only used with --cc")]
    CcArgWithoutCc,
    #[error("{arg}: groups may not be nested")]
    NestedGroup { arg: String },
    #[error("{arg} without a --start-group before it")]
    EndWithoutStart { arg: String },
    #[error(
        "{arg}: not an input or an option link-order reads (it reads paths, -lNAME, -LDIR, groups, --as-needed, -Bstatic, -Bdynamic, --push-state, --pop-state, and -Wl, forms of them; its own options go before the first input)"
    )]
    NotAnInput { arg: String },
    #[error("--start-group without an --end-group after it")]
    UnclosedGroup,
    #[error("{file}: an ELF file that is neither an object nor a shared object")]
    NotLinkable { file: String },
    #[error(
        "{file}: the archive has no symbol index, so ld cannot search it (run `ranlib {file}`)"
    )]
    NoIndex { file: String },
    #[error("{file}: not an ELF object, archive, shared object or input-listing linker script")]
    UnknownInput { file: String },
    #[error(
        "-l{lib}: found in no search directory (-L, then ld's SEARCH_DIR); looked for {looked} in {dirs}"
    )]
    NotFound {
        lib: String,
        looked: String,
        dirs: String,
    },
    #[error("`{cc} -### {mark}` printed no link command (did it fail?):\n{stderr}")]
    NoDriverLine {
        cc: String,
        mark: String,
        stderr: String,
    },
}

/// Runs the doctor: writes the report (and the graph, if asked) and says whether the order
/// links.
pub fn run(options: &Options, system: &dyn System, out: &mut impl Write) -> Result<bool> {
    let line = Line::read(options, system)?;
    let report = diagnose(&line);
    out.write_all(report.text.as_bytes())?;
    if let Some(path) = &options.dot {
        let graph = dot(&line);
        if path == Path::new("-") {
            out.write_all(graph.as_bytes())?;
        } else {
            crate::write_atomic(path, graph.as_bytes())?;
        }
    }
    Ok(report.links)
}
