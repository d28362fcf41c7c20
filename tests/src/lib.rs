//! Support for polylink's integration tests (`tests/it/`): builds the xtask and runs build-all
//! once per test process, runs programs through assert_cmd (one helper, [`tool`], or
//! [`polylink`] and the other binaries by name), and checks output against golden files.
//!
//! `cargo test` needs no earlier step: the first test that asks for [`build`] builds everything.
//! Golden files live in `tests/data/`; `POLYLINK_BLESS=1 cargo test` rewrites them.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;

pub use assert_cmd::Command;
pub use assert_cmd::assert::Assert;

use xtask::manifest::Manifest;
use xtask::plan::Layout;

/// The workspace root.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ lives in the workspace root")
            .canonicalize()
            .expect("the workspace root exists")
    })
}

/// A std command that runs `program`, with no inherited RUST_BACKTRACE: the one place the
/// integration tests make a command; [`tool`] wraps it in assert_cmd, and [`Running`] and
/// [`start`] spawn it.
pub fn process(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    #[allow(clippy::disallowed_methods)] // The tests' one door to the tools they test.
    let mut command = std::process::Command::new(program);
    command.env_remove("RUST_BACKTRACE").stdin(Stdio::null());
    command
}

/// A command that runs `program`, a tool a test drives (gcc, ld, nm, readelf, a built program),
/// through assert_cmd: `.assert()` reports the command, its status, stdout and stderr when an
/// expectation fails.
pub fn tool(program: impl AsRef<std::ffi::OsStr>) -> Command {
    Command::from_std(process(program))
}

/// Starts `command` and leaves it running (or, once it exits, a zombie until it is waited for).
pub fn start(command: &mut std::process::Command) -> std::process::Child {
    let text = format!("{command:?}");
    command
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {text}: {e}"))
}

/// The native libraries a Rust staticlib is linked with, as `rustc --print native-static-libs`
/// named them for build-all (from its manifest), never a list written here.
pub fn native_libs() -> Vec<&'static str> {
    build()
        .native_static_libs
        .iter()
        .map(String::as_str)
        .collect()
}

/// Builds a binary of the workspace with cargo and returns its path (artifact dependencies,
/// which would let cargo do this for the tests, are not stable yet).
fn cargo_bin(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = tool(&cargo)
        .args([
            "build",
            "--package",
            package,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root())
        .assert()
        .success();
    String::from_utf8_lossy(&built.get_output().stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == bin)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no {bin} executable"))
}

/// The xtask binary, built once.
pub fn xtask_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_bin("xtask", "xtask"))
}

/// The `polylink` command, built once.
pub fn polylink_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_bin("polylink-cli", "polylink"))
}

/// A command that runs `polylink` (built once), with no inherited RUST_BACKTRACE.
pub fn polylink() -> Command {
    polylink_bin();
    let mut command = Command::cargo_bin("polylink").expect("cargo built polylink");
    command.env_remove("RUST_BACKTRACE");
    command
}

/// A command that runs the demonstrator's `polylink-routines` (built once).
pub fn routines() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_bin("polylink-routines", "polylink-routines"));
    let mut command = Command::cargo_bin("polylink-routines").expect("cargo built it");
    command.env_remove("RUST_BACKTRACE");
    command
}

/// The `polylink-hot-host` binary, built once.
pub fn hot_host_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_bin("polylink-hot-host", "polylink-hot-host"))
}

/// A running program whose output lines are read as they come; it is killed when dropped.
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far, for failure messages.
    pub seen: Vec<String>,
}

impl Running {
    /// Starts `command` with its stdout piped (stderr is kept apart and shown on failure).
    pub fn start(command: &mut std::process::Command) -> Running {
        let text = format!("{command:?}");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {text}: {e}"));
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line that `wanted` accepts, read within `timeout`; panics with everything seen
    /// when none comes (or the program exits first).
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: std::time::Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line {what} within {timeout:?}; the program printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Assembles `source` with `nasm -f FORMAT` into `dir`, as `NAME.asm` and `NAME.FORMAT`; returns
/// the output's path.
pub fn nasm(dir: &Path, name: &str, format: &str, source: &str) -> PathBuf {
    let asm = dir.join(format!("{name}.asm"));
    std::fs::write(&asm, source).unwrap();
    let out = dir.join(format!("{name}.{format}"));
    tool("nasm")
        .arg("-f")
        .arg(format)
        .arg("-o")
        .arg(&out)
        .arg(&asm)
        .assert()
        .success();
    out
}

/// A command that runs the xtask in the workspace root, with no inherited RUST_BACKTRACE.
pub fn xtask() -> Command {
    let mut command = tool(xtask_bin());
    command.current_dir(root());
    command
}

/// Runs the xtask with `args` and asserts it succeeds; returns its output.
pub fn xtask_ok(args: &[&str]) -> Output {
    xtask().args(args).assert().success().get_output().clone()
}

/// Runs `polylink` with `args` and asserts it succeeds; returns its output.
pub fn polylink_ok(args: &[&str]) -> Output {
    polylink()
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone()
}

/// The layout of the default build, the one [`build`] makes.
pub fn layout() -> Layout {
    Layout::new(root(), None)
}

/// Builds everything once per test process with `cargo xtask build-all` and returns its manifest.
pub fn build() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        xtask_ok(&["build-all"]);
        Manifest::read(&layout().manifest()).expect("build-all wrote its manifest")
    })
}

/// The path of a program in the build, by name.
pub fn program(name: &str) -> &'static Path {
    &build()
        .program(name)
        .unwrap_or_else(|| panic!("the manifest lists no program {name}"))
        .path
}

/// Runs a built program with `args`; its argv[0] is its bare name, so output does not depend on
/// where the build lives.
pub fn run_program(name: &str, args: &[&str]) -> Assert {
    use std::os::unix::process::CommandExt;
    let mut command = process(program(name));
    command.arg0(name).args(args);
    Command::from_std(command).assert()
}

/// Compares `actual` with the golden file `tests/data/<name>`, or rewrites the file when
/// `POLYLINK_BLESS=1`.
pub fn check_golden(name: &str, actual: &str) {
    let path = root().join("tests/data").join(name);
    if std::env::var_os("POLYLINK_BLESS").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {dir:?}: {e}"));
        }
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("no golden file {path:?} ({e}); run with POLYLINK_BLESS=1 to create it")
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .map_or_else(
                || "in length".to_owned(),
                |i| format!("first at line {}", i + 1),
            );
        panic!(
            "output differs from tests/data/{name} ({line}); POLYLINK_BLESS=1 rewrites it\n\
             --- expected\n{expected}--- actual\n{actual}"
        );
    }
}

/// Copies the parts of the source tree that build-all reads before its cargo steps into a
/// fresh directory, for tests that change sources.
pub fn copy_of_sources() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for part in [
        "asm",
        "c",
        "rust-lib/src",
        "rust-lib/include",
        "rust-lib/cbindgen.toml",
    ] {
        copy_recursively(&root().join(part), &dir.path().join(part));
    }
    dir
}

fn copy_recursively(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_recursively(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {from:?}: {e}"));
    }
}

/// A small deterministic generator (a 64-bit LCG), so that generated cases are the same in every
/// run and a failure can be replayed.
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}
