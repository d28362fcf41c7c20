//! `polylink-hot-host`: calls its hot functions in a loop and prints what they return, while
//! their code is swapped under it.
//!
//! The functions are reached only through the hot table, exported as `POLYLINK_HOT_TABLE`.
//! Their first code is read from `DIR/NAME.bin` at start. With `--watch`, the host installs a
//! slot's bin again whenever it changes (notify: inotify, not polling); at any time another
//! process may install code with `polylink patch --pid PID --slot NAME FILE.bin`.
//!
//! Every line it prints is one [`Event`] (`ready`, then `call` every `--print-ms`, `reload` and
//! `change` as code changes, `reload-error`), written by its `Display` and read back by
//! `cargo xtask hot-reload` and the tests with its `FromStr`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use polylink_exec::raw;
use polylink_hot::monotonic_ns;
use polylink_hot::patch::Target;
use polylink_hot::shared::{MAX_UNITS, SharedTable};
use polylink_hot_host::{By, Event};

/// The names of the host's hot functions, in the order `call` lines print them.
const SLOTS: [&str; 2] = ["step", "mix"];

#[unsafe(export_name = "POLYLINK_HOT_TABLE")]
static TABLE: SharedTable<2> = SharedTable::new(SLOTS);

#[derive(Debug, Parser)]
#[command(
    name = "polylink-hot-host",
    about = "Call hot functions in a loop while their machine code is swapped"
)]
struct Cli {
    /// Where the first code of each slot is, as NAME.bin (step.bin, mix.bin)
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Install a slot's bin again whenever it changes
    #[arg(long)]
    watch: bool,
    /// Units of 256 bytes in the region reserved for code (1 to 256)
    #[arg(long, default_value_t = MAX_UNITS)]
    units: usize,
    /// Pause between two rounds of calls, in microseconds
    #[arg(long, default_value_t = 100)]
    every_us: u64,
    /// Print a `call` line this often, in milliseconds
    #[arg(long, default_value_t = 500)]
    print_ms: u64,
    /// Make the process non-dumpable (prctl PR_SET_DUMPABLE 0), which keeps other processes of
    /// the same user out of its memory
    #[arg(long)]
    not_dumpable: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if cli.not_dumpable {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .context("could not make the process non-dumpable")?;
    }
    let mut codes = Vec::new();
    for name in SLOTS {
        codes.push(raw::load(&bin_path(&cli.dir, name))?);
    }
    let first: Vec<(&str, &[u8])> = SLOTS
        .into_iter()
        .zip(codes.iter().map(Vec::as_slice))
        .collect();
    let reserved = TABLE.reserve(cli.units, &first)?;
    // Entries this host installed itself; held locked across each install, so the calling loop
    // cannot see a switch before it can tell who made it.
    let own = Arc::new(Mutex::new(HashSet::new()));
    // The watcher is live before `ready` is printed: a bin saved the moment after `ready` is
    // seen is installed.
    let _watcher = if cli.watch {
        Some(watch(&cli.dir, codes, Arc::clone(&own))?)
    } else {
        None
    };
    // Not locked for good: the watcher's thread prints too.
    let mut out = std::io::stdout();
    let ready = Event::Ready {
        pid: std::process::id(),
        table: TABLE.address() as u64,
        region: reserved.region as u64,
        units: reserved.units,
        used: reserved.used,
        lock_fd: TABLE.lock_fd(),
        slots: SLOTS.map(str::to_owned).into(),
    };
    writeln!(out, "{ready}")?;
    call_loop(&mut out, &own, &cli)
}

fn bin_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.bin"))
}

/// Calls every slot with n = 1, 2, … until stdout is closed.
fn call_loop(out: &mut impl Write, own: &Mutex<HashSet<usize>>, cli: &Cli) -> Result<()> {
    let mut last: Vec<usize> = (0..SLOTS.len()).map(|i| TABLE.entry(i)).collect();
    let mut results = vec![0u64; SLOTS.len()];
    let mut printed = Instant::now();
    let print_every = Duration::from_millis(cli.print_ms);
    let mut n = 0u64;
    loop {
        n += 1;
        for (i, name) in SLOTS.iter().enumerate() {
            let entry = TABLE.entry(i);
            results[i] = TABLE.call_entry(entry, &[n])?;
            if entry != last[i] {
                let first_call_ns = monotonic_ns();
                last[i] = entry;
                let by = if own.lock().map(|set| set.contains(&entry)).unwrap_or(false) {
                    By::ThisHost
                } else {
                    By::AnotherProcess
                };
                let change = Event::Change {
                    slot: name.to_string(),
                    entry: entry as u64,
                    by,
                    first_call_ns,
                    n,
                    result: results[i],
                };
                if writeln!(out, "{change}").is_err() {
                    return Ok(());
                }
            }
        }
        if printed.elapsed() >= print_every {
            printed = Instant::now();
            let call = Event::Call {
                n,
                results: SLOTS
                    .iter()
                    .map(|name| name.to_string())
                    .zip(results.iter().copied())
                    .collect(),
            };
            if writeln!(out, "{call}").is_err() {
                return Ok(()); // whoever read us is gone
            }
        }
        std::thread::sleep(Duration::from_micros(cli.every_us));
    }
}

/// Watches `dir` and installs a slot's bin whenever it is written or renamed into place;
/// `installed` is the code each slot runs now.
fn watch(
    dir: &Path,
    installed: Vec<Vec<u8>>,
    own: Arc<Mutex<HashSet<usize>>>,
) -> Result<notify::RecommendedWatcher> {
    let target =
        Target::open(std::process::id()).context("could not open this host's own table")?;
    let dir_owned = dir.to_path_buf();
    let installed = Mutex::new(installed);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let event_ns = monotonic_ns();
        let Ok(event) = event else { return };
        let written = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Data(_))
                | EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        if !written {
            return;
        }
        for (i, name) in SLOTS.iter().enumerate() {
            let path = bin_path(&dir_owned, name);
            if !event
                .paths
                .iter()
                .any(|p| p.file_name() == path.file_name())
            {
                continue;
            }
            let report = match reload(&target, &own, &installed, i, &path) {
                Ok(Some((unit, bytes))) => Event::Reload {
                    slot: name.to_string(),
                    file: path.clone(),
                    bytes,
                    unit,
                    event_ns,
                    switched_ns: monotonic_ns(),
                },
                Ok(None) => continue, // the same code again
                Err(err) => Event::ReloadError {
                    slot: name.to_string(),
                    error: format!("{err:#}"),
                },
            };
            let _ = writeln!(std::io::stdout(), "{report}");
        }
    })
    .context("could not start watching files")?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("could not watch {}", dir.display()))?;
    Ok(watcher)
}

/// Installs slot `i`'s bin unless it holds the code installed last; returns the unit and size.
fn reload(
    target: &Target,
    own: &Mutex<HashSet<usize>>,
    installed: &Mutex<Vec<Vec<u8>>>,
    i: usize,
    path: &Path,
) -> Result<Option<(usize, usize)>> {
    let code = raw::load(path)?;
    let mut installed = installed.lock().unwrap_or_else(|e| e.into_inner());
    if installed[i] == code {
        return Ok(None);
    }
    let mut own = own.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the bins in the watched directory are this host's own functions of integers,
    // assembled from its sources; `install` checks that each is a whole function this CPU can
    // run.
    let patch = unsafe { target.install(SLOTS[i], &code) }?;
    own.insert(patch.after as usize);
    installed[i] = code;
    Ok(Some((patch.unit, patch.bytes)))
}
