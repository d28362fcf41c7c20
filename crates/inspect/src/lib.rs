//! polylink-inspect: what is inside ELF objects, archives and programs, and how GNU ld will
//! link them.
//!
//! - [`symbols`] reads ELF symbol tables (objects, GNU and thin archives, executables, shared
//!   objects) and gives each symbol the letter BFD gives it;
//! - [`nm`] prints them line for line as GNU nm 2.40 does, or as JSON;
//! - [`checksec`] reads a program's hardening (NX, PIE, RELRO, canary, interpreter);
//! - [`link_order`] replays GNU ld's archive search over a link line, explains what it leaves
//!   undefined and proposes an order that links.
//!
//! Bytes go in and a `&mut impl Write` comes out. The three things this crate asks of the
//! system (ld's search directories, the compiler driver's link line, and c++filt) go through
//! the [`System`] trait, so a test can answer them with fixed data; [`Host`] asks the real
//! tools, through polylink-cmd.

pub mod checksec;
pub mod dwarf;
#[doc(hidden)]
pub mod fuzzing;
pub mod isolate;
pub mod link;
pub mod link_order;
pub mod names;
pub mod nm;
mod scratch;
pub mod symbols;

use std::path::{Path, PathBuf};

use polylink_cmd::{Cmd, CmdError};

/// What goes wrong inspecting: a file or member named with its fault, a link line that cannot
/// be read, a tool that failed, or an output that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {fault}")]
    File { file: String, fault: symbols::Fault },
    #[error(transparent)]
    Line(#[from] link_order::LineError),
    #[error(transparent)]
    Link(#[from] link::LinkError),
    #[error(transparent)]
    Isolate(#[from] isolate::IsolateError),
    #[error(transparent)]
    Tool(#[from] CmdError),
    #[error("could not write {}: {cause}", .path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no link command given")]
    EmptyCommand,
}

impl Error {
    /// A fault of the file (or member) shown as `file`.
    pub fn file(file: impl Into<String>, fault: symbols::Fault) -> Error {
        Error::File {
            file: file.into(),
            fault,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What inspection asks of the system, behind one small trait so that a test can answer with
/// fixed data.
pub trait System {
    /// ld's default search directories, as `ld --verbose` lists them in `SEARCH_DIR(…)`.
    fn ld_search_dirs(&self) -> Result<Vec<PathBuf>>;
    /// What the compiler driver (`driver`, or the C compiler when `None`) prints on stderr for
    /// `DRIVER -### CC_ARGS MARK` (its link command among it), and the driver's name.
    fn driver_line(
        &self,
        driver: Option<&str>,
        cc_args: &[String],
        mark: &str,
    ) -> Result<(String, String)>;
    /// Runs a command (`argv[0]` is the program): a link, a compile, `ld -r`, `objcopy`, `ar`.
    /// Whether it succeeded, and its stderr.
    fn run(&self, argv: &[String]) -> Result<(bool, String)>;
    /// `c++filt -i` over `names` (one a line): libiberty's spelling of each, one a line. With
    /// `no_recurse_limit`, also `-r`: deeply nested names are demangled too, as
    /// `nm --no-recurse-limit` asks.
    fn cpp_filt(&self, names: Vec<u8>, no_recurse_limit: bool) -> Result<Vec<u8>>;
}

/// The real system: `ld`, the C compiler (`$CC`, else `cc`) and `c++filt`, started through
/// polylink-cmd's one door.
#[derive(Clone, Copy, Debug, Default)]
pub struct Host;

/// The program interpreter of a dynamically linked x86-64 program.
pub const DYNAMIC_LINKER: &str = "/lib64/ld-linux-x86-64.so.2";

/// How to install a missing tool, named by the Debian package that carries it.
pub fn install_hint(package: &str) -> String {
    format!("install it with `sudo apt-get install {package}` (Debian, Ubuntu)")
}

impl System for Host {
    fn ld_search_dirs(&self) -> Result<Vec<PathBuf>> {
        let output = Cmd::new("ld")
            .arg("--verbose")
            .install_hint(install_hint("binutils"))
            .run(false)?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text
            .split("SEARCH_DIR(\"")
            .skip(1)
            .filter_map(|rest| rest.split_once("\")"))
            .map(|(dir, _)| PathBuf::from(dir.trim_start_matches('=')))
            .collect())
    }

    fn driver_line(
        &self,
        driver: Option<&str>,
        cc_args: &[String],
        mark: &str,
    ) -> Result<(String, String)> {
        let cc = match driver {
            Some(driver) => driver.to_owned(),
            None => std::env::var("CC")
                .ok()
                .filter(|cc| !cc.is_empty())
                .unwrap_or_else(|| "cc".to_owned()),
        };
        let output = Cmd::new(&cc)
            .arg("-###")
            .args(cc_args)
            .arg(mark)
            .install_hint(install_hint("gcc"))
            .output(false)?;
        Ok((cc, String::from_utf8_lossy(&output.stderr).into_owned()))
    }

    fn run(&self, argv: &[String]) -> Result<(bool, String)> {
        let (program, args) = argv.split_first().ok_or(Error::EmptyCommand)?;
        let output = Cmd::new(program)
            .args(args)
            .install_hint(install_hint("binutils (ld) or gcc"))
            .output(false)?;
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    fn cpp_filt(&self, names: Vec<u8>, no_recurse_limit: bool) -> Result<Vec<u8>> {
        let mut command = Cmd::new("c++filt").arg("-i");
        if no_recurse_limit {
            command = command.arg("-r");
        }
        let output = command
            .stdin(names)
            .install_hint(install_hint("binutils"))
            .run(false)?;
        Ok(output.stdout)
    }
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so that a reader
/// never sees half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let fail = |cause| Error::Write {
        path: path.to_path_buf(),
        cause,
    };
    std::fs::write(&temp, bytes).map_err(fail)?;
    std::fs::rename(&temp, path).map_err(|cause| {
        let _ = std::fs::remove_file(&temp);
        fail(cause)
    })
}
