//! The record of what a live patch changed in a process, where a later run of polylink finds
//! it: a JSON file named by the pid and the process's start time (so that a reused pid is
//! never taken for the process patched), in `$XDG_RUNTIME_DIR/polylink`, else
//! `$TMPDIR/polylink-UID`, made private to its user. It is written whole to a temporary name and
//! renamed into place (`polylink_inspect::write_atomic`).

use std::path::PathBuf;

use super::LiveError;

/// One function redirected in a process.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Patched {
    /// The function, as the user named it.
    pub function: String,
    /// The file that defines it, and its address in the process.
    pub file: String,
    pub address: u64,
    /// The bytes the first patch replaced (the true original, whatever patched it since).
    pub original: Vec<u8>,
    /// The bytes written there last.
    pub written: Vec<u8>,
    /// The patch object.
    pub patch: String,
    /// The blocks mapped for patches of this function: start and length. They stay mapped
    /// after an undo (an old frame may still run them).
    pub blocks: Vec<(u64, u64)>,
    /// How: `entry` (a jump over the first bytes at `address`) or `got` (the GOT cell at
    /// `address`, swapped without stopping a thread).
    #[serde(default = "entry")]
    pub via: String,
}

fn entry() -> String {
    "entry".into()
}

/// Every patch in force in one process.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub pid: u32,
    /// The process's start time, in clock ticks since boot (field 22 of /proc/PID/stat).
    pub start_time: u64,
    pub patches: Vec<Patched>,
}

/// The start time of process `pid`, from /proc/PID/stat.
pub fn start_time(pid: u32) -> Result<u64, LiveError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|cause| LiveError::from_proc(pid, "read its status", cause))?;
    // `pid (comm) state ppid …`: comm may hold anything; fields go on after the last `)`.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_ascii_whitespace().nth(19))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| LiveError::Proc {
            pid,
            what: "read its start time".into(),
            cause: std::io::Error::other("/proc/PID/stat has no start time"),
        })
}

/// The directory records live in.
pub fn directory() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("polylink"),
        _ => std::env::temp_dir().join(format!("polylink-{}", rustix::process::geteuid().as_raw())),
    }
}

impl Record {
    fn path(pid: u32, start_time: u64) -> PathBuf {
        directory().join(format!("live-{pid}-{start_time}.json"))
    }

    /// The record of process `pid` as it runs now (empty when it has none).
    pub fn load(pid: u32) -> Result<Record, LiveError> {
        let start_time = start_time(pid)?;
        let path = Record::path(pid, start_time);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Record {
                    pid,
                    start_time,
                    patches: Vec::new(),
                });
            }
            Err(cause) => {
                return Err(LiveError::Record {
                    path,
                    why: cause.to_string(),
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| LiveError::Record {
            path,
            why: format!("it is not a record polylink wrote: {e}"),
        })
    }

    /// Writes the record (or removes it when no patch is in force).
    pub fn save(&self) -> Result<(), LiveError> {
        let dir = directory();
        let path = Record::path(self.pid, self.start_time);
        let fail = |why: String| LiveError::Record {
            path: path.clone(),
            why,
        };
        if self.patches.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail(e.to_string())),
                _ => Ok(()),
            };
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            let made = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir);
            made.map_err(|e| fail(format!("could not make {}: {e}", dir.display())))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| fail(e.to_string()))?;
        // No fsync: the record outlives no crash of the machine, for the process it describes
        // does not either; the rename alone keeps a reader from seeing half of it.
        polylink_inspect::write_atomic(&path, text.as_bytes()).map_err(|e| fail(e.to_string()))
    }
}
