//! polylink-cmd: the one door through which polylink starts external programs.
//!
//! A [`Cmd`] is data (program, arguments, working directory, environment), so a plan of
//! commands can be printed or checked without running anything. Running one can echo it
//! (`running: …`), and a failure says which program, with which arguments, exited how, and what
//! it wrote: [`CmdError::NotFound`] apart from [`CmdError::Failed`].

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

/// Why a command could not be run, or how it failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program is not on PATH (or not at the path given).
    #[error("`{program}` not found{}", .hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    NotFound {
        program: String,
        hint: Option<String>,
    },
    /// The program exists but could not be started.
    #[error("could not start `{program}`: {cause}")]
    Spawn { program: String, cause: io::Error },
    /// The program ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}){}", tool_output(.stdout, .stderr))]
    Failed {
        command: String,
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
}

fn tool_output(stdout: &str, stderr: &str) -> String {
    let mut text = String::new();
    for stream in [stderr, stdout] {
        let stream = stream.trim_end();
        if !stream.is_empty() {
            text.push('\n');
            text.push_str(stream);
        }
    }
    text
}

/// An external command, built as data and run through [`Cmd::run`] or [`Cmd::output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(String, OsString)>,
    hint: Option<String>,
    /// What the program reads on standard input (nothing when `None`).
    input: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            hint: None,
            input: None,
        }
    }

    /// Gives the program `bytes` on standard input (written while its output is read).
    pub fn stdin(mut self, bytes: Vec<u8>) -> Cmd {
        self.input = Some(bytes);
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<OsString>) -> Cmd {
        self.env.push((key.into(), value.into()));
        self
    }

    /// What to tell the user when the program is missing, such as how to install it.
    pub fn install_hint(mut self, hint: impl Into<String>) -> Cmd {
        self.hint = Some(hint.into());
        self
    }

    /// Runs the command (with no input, unless [`Cmd::stdin`] gave some), captures its output,
    /// and fails unless it exits 0.
    pub fn run(&self, echo: bool) -> Result<Output, CmdError> {
        let output = self.output(echo)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(self.failure(output))
        }
    }

    /// Runs the command and captures its output, whatever its exit status.
    pub fn output(&self, echo: bool) -> Result<Output, CmdError> {
        if echo {
            eprintln!("{:>12} `{self}`", "Running");
        }
        let mut command = self.command();
        let ran = match &self.input {
            None => command.output(),
            Some(bytes) => command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    let mut stdin = child.stdin.take().expect("stdin was piped");
                    // A writer thread, so that a program that answers as it reads cannot fill
                    // its output pipe while we are still writing (a deadlock).
                    std::thread::scope(|scope| {
                        let writer = scope.spawn(move || {
                            use std::io::Write;
                            // A program that exits without reading all of it closes the pipe;
                            // its exit status tells the rest.
                            let _ = stdin.write_all(bytes);
                        });
                        let output = child.wait_with_output();
                        let _ = writer.join();
                        output
                    })
                }),
        };
        ran.map_err(|source| self.start_error(source))
    }

    /// Starts the command and leaves it running, its stdout piped to the caller and its stderr
    /// shared with ours.
    pub fn spawn(&self, echo: bool) -> Result<std::process::Child, CmdError> {
        if echo {
            eprintln!("{:>12} `{self}`", "Starting");
        }
        self.command()
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| self.start_error(source))
    }

    /// The std command: program, arguments, directory, environment, and no input.
    fn command(&self) -> Command {
        #[allow(clippy::disallowed_methods)] // This is the one door.
        let mut command = Command::new(&self.program);
        command.args(&self.args).stdin(Stdio::null());
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    fn start_error(&self, source: io::Error) -> CmdError {
        if source.kind() == io::ErrorKind::NotFound {
            CmdError::NotFound {
                program: self.program.clone(),
                hint: self.hint.clone(),
            }
        } else {
            CmdError::Spawn {
                program: self.program.clone(),
                cause: source,
            }
        }
    }

    /// The error for a run that ended with `output`.
    fn failure(&self, output: Output) -> CmdError {
        CmdError::Failed {
            command: self.to_string(),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The command as a line a POSIX shell would run (environment and directory left out).
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(&arg.to_string_lossy()))?;
        }
        Ok(())
    }
}

/// Quotes `word` for a POSIX shell, leaving it bare when that is already safe.
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let bare = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(bare) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// `path` relative to `base` when it lies inside it, otherwise unchanged.
pub fn relative_to<'a>(path: &'a Path, base: &Path) -> &'a Path {
    path.strip_prefix(base).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_leaves_plain_words_bare() {
        assert_eq!(
            shell_quote("target/polylink/obj/a.o"),
            "target/polylink/obj/a.o"
        );
        assert_eq!(shell_quote("-Wl,--gc-sections"), "-Wl,--gc-sections");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn a_missing_program_is_named_with_its_hint() {
        let err = Cmd::new("polylink-no-such-tool")
            .install_hint("install it with `apt-get install nothing`")
            .run(false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`polylink-no-such-tool` not found: install it with `apt-get install nothing`"
        );
    }

    #[test]
    fn a_failure_reports_command_status_and_stderr() {
        let err = Cmd::new("sh")
            .args(["-c", "echo oops >&2; exit 3"])
            .run(false)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("`sh -c 'echo oops >&2; exit 3'` failed (exit status: 3)"),
            "{text}"
        );
        assert!(text.ends_with("\noops"), "{text}");
    }
}
