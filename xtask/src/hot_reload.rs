//! `cargo xtask hot-reload [--demo]`: a program whose functions change while it runs.
//!
//! It starts `polylink-hot-host`, which calls its hot slots `step` and `mix` in a loop and
//! prints what they return, and watches the slots' NASM sources (notify: inotify events, not
//! polling). Each saved `.asm` is assembled with `nasm -f bin` into `NAME.bin` (through a
//! temporary file and a rename, so the host never reads a half-written bin); the host, which
//! watches the bins, installs the new code into its hot table at once. For every reload it
//! prints the time from the bin being renamed into place to the host's first call of the new
//! code, on CLOCK_MONOTONIC, which every process shares.
//!
//! `--demo` runs the whole story unattended: the host starts, `step.asm` is edited five times
//! (the host reloads it itself), then `polylink patch` patches `step` five times from
//! another process; each change is checked against what the new code must return, and the
//! timings are summarised.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use notify::{RecursiveMode, Watcher};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::plan::Layout;
use crate::timing::median_max;
use polylink_hot::monotonic_ns;
use polylink_hot::patch::Report;
use polylink_hot_host::{By, Event};

/// The host's slots; each has a source `NAME.asm` and a bin `NAME.bin` in the directory.
pub const SLOTS: [&str; 2] = ["step", "mix"];

/// How long the demo waits for the host to show a change before it calls the change lost.
const CHANGE_WAIT: Duration = Duration::from_secs(10);

/// The first code of each slot: step(n) = n + 1, mix(n) = 3n.
const FIRST: [(&str, &str); 2] = [("step", "lea rax, [rdi + 1]"), ("mix", "imul rax, rdi, 3")];

/// A slot's NASM source around `body` (n arrives in rdi; the result goes in rax).
pub fn source(name: &str, body: &str) -> String {
    format!(
        "; {name}(n): a hot function of polylink-hot-host. n arrives in rdi, the result goes in\n\
         ; rax (System V). Save this file and the running host switches to the new code.\n\
         bits 64\n{body}\nret\n"
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub demo: bool,
    /// Where the sources and bins live [default: <target>/polylink/hot, or hot-demo with --demo].
    pub dir: Option<PathBuf>,
}

/// What reaches the session's one loop.
enum Msg {
    /// A file in the directory was written, created or renamed into place.
    File(PathBuf),
    /// A line the host printed.
    Host(String),
    HostClosed,
}

/// A running host, the watcher of its sources, and what happened so far.
struct Session {
    dir: PathBuf,
    host: Child,
    pid: u32,
    messages: Receiver<Msg>,
    _watcher: notify::RecommendedWatcher,
    /// Each slot's source as last assembled, so that a save without a change does nothing.
    assembled: HashMap<String, String>,
    /// When each slot's bin was last renamed into place (CLOCK_MONOTONIC ns).
    written: HashMap<String, u64>,
    /// Bin written → first call of the new code, for every reload the host made itself.
    reloads: Vec<Duration>,
    ctx: Ctx,
}

/// The binaries a session runs, built with cargo.
struct Binaries {
    host: PathBuf,
    polylink: PathBuf,
}

fn build(ctx: &Ctx) -> Result<Binaries> {
    crate::tools::check_nasm(ctx)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Cmd::new(&cargo)
        .args(["build", "--quiet", "--package", "polylink-hot-host"])
        .args(["--package", "polylink-cli"])
        .cwd(&ctx.root)
        .run(ctx.verbose)?;
    let debug = Layout::new(&ctx.root, None).cargo_target.join("debug");
    Ok(Binaries {
        host: debug.join("polylink-hot-host"),
        polylink: debug.join("polylink"),
    })
}

/// Writes `text` to `path` through a temporary file and a rename, as editors save.
fn save(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("asm.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("could not write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("could not rename onto {}", path.display()))
}

impl Session {
    /// Writes each missing source (each one, afresh, when `fresh`; nothing else in the
    /// directory is touched), assembles them, starts the host on the bins and watches the
    /// sources.
    fn start(ctx: &Ctx, bins: &Binaries, dir: &Path, fresh: bool) -> Result<Session> {
        let verbose = ctx.verbose;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        for (name, body) in FIRST {
            let path = dir.join(format!("{name}.asm"));
            if fresh || !path.exists() {
                save(&path, &source(name, body))?;
            }
        }
        let (send, messages) = channel();
        let mut session_assembled = HashMap::new();
        let mut written = HashMap::new();
        for name in SLOTS {
            let (text, at) = assemble(ctx, dir, name)?;
            session_assembled.insert(name.to_owned(), text);
            written.insert(name.to_owned(), at);
        }
        let watcher = watch(dir, send.clone())?;
        let mut host = Cmd::new(bins.host.display().to_string())
            .arg("--dir")
            .arg(dir)
            .args(["--watch", "--print-ms", "250"])
            .spawn(verbose)?;
        let pid = host.id();
        let stdout = host
            .stdout
            .take()
            .context("the host's stdout was not piped")?;
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(Msg::Host(line)).is_err() {
                    return;
                }
            }
            let _ = send.send(Msg::HostClosed);
        });
        Ok(Session {
            dir: dir.to_path_buf(),
            host,
            pid,
            messages,
            _watcher: watcher,
            assembled: session_assembled,
            written,
            reloads: Vec::new(),
            ctx: ctx.clone(),
        })
    }

    /// Handles what comes (assembling saved sources, printing the host's lines) until the host
    /// prints a line `wanted` accepts, which it returns; or forever, when `timeout` is `None`
    /// and nothing is wanted.
    fn pump(
        &mut self,
        timeout: Option<Duration>,
        wanted: impl Fn(&Event) -> bool,
    ) -> Result<Event> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let message = match deadline {
                None => self
                    .messages
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(deadline) => self
                    .messages
                    .recv_timeout(deadline.saturating_duration_since(Instant::now())),
            };
            match message {
                Ok(Msg::File(path)) => self.file_changed(&path)?,
                Ok(Msg::Host(line)) => {
                    println!("host  | {line}");
                    let event: Event = line.parse()?;
                    self.note_reload(&event);
                    if wanted(&event) {
                        return Ok(event);
                    }
                }
                Ok(Msg::HostClosed) | Err(RecvTimeoutError::Disconnected) => {
                    let status = self.host.wait().context("waiting for the host")?;
                    bail!("the host (pid {}) stopped: {status}", self.pid)
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "the host (pid {}) printed no awaited line within {timeout:?}",
                        self.pid
                    )
                }
            }
        }
    }

    /// Assembles a slot's source that was saved with new text.
    fn file_changed(&mut self, path: &Path) -> Result<()> {
        let Some(name) = SLOTS
            .iter()
            .find(|n| path.file_name() == Some(format!("{n}.asm").as_ref()))
        else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // An editor writing in place shows the file empty for a moment; the next event has it.
        if text.trim().is_empty() || self.assembled.get(*name) == Some(&text) {
            return Ok(());
        }
        match assemble(&self.ctx, &self.dir, name) {
            Ok((text, at)) => {
                self.written.insert(name.to_string(), at);
                println!("watch | {name}.asm saved: assembled into {name}.bin");
                self.assembled.insert(name.to_string(), text);
            }
            // A mistake in an edit is the editor's to fix; the host keeps its code. The text is
            // remembered so that the events of one save report it once.
            Err(err) => {
                println!("watch | {name}.asm not assembled, the host keeps its code: {err:#}");
                self.assembled.insert(name.to_string(), text);
            }
        }
        Ok(())
    }

    /// For the host's first call of code it installed itself, the time since the bin was
    /// written.
    fn note_reload(&mut self, event: &Event) {
        let Event::Change {
            slot,
            by: By::ThisHost,
            first_call_ns,
            ..
        } = event
        else {
            return;
        };
        if let Some(&written) = self.written.get(slot) {
            // The bin's timestamp is taken before its rename, so a negative interval is a bug in
            // the measurement, reported rather than clamped.
            let Some(took) = first_call_ns.checked_sub(written).map(Duration::from_nanos) else {
                println!(
                    "       {slot}: the first call came before the bin was written: a clock fault"
                );
                return;
            };
            println!(
                "       {slot}.bin written -> first call of the new code: {}",
                ms(took)
            );
            self.reloads.push(took);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.host.kill();
        let _ = self.host.wait();
    }
}

/// `nasm -f bin` of `NAME.asm` into `NAME.bin`, through `NAME.bin.tmp` and a rename; returns
/// the source assembled and when the bin was renamed into place (CLOCK_MONOTONIC ns). Empty
/// output is refused, and the old bin stays.
fn assemble(ctx: &Ctx, dir: &Path, name: &str) -> Result<(String, u64)> {
    let asm = dir.join(format!("{name}.asm"));
    let text = std::fs::read_to_string(&asm)
        .with_context(|| format!("could not read {}", asm.display()))?;
    let bin = dir.join(format!("{name}.bin"));
    let tmp = dir.join(format!("{name}.bin.tmp"));
    let nasm = Cmd::new("nasm")
        .args(["-f", "bin", "-o"])
        .arg(&tmp)
        .arg(&asm)
        .install_hint(crate::platform::install_hint("nasm"));
    if let Err(err) = nasm.run(ctx.verbose) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err.into());
    }
    let len = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        let _ = std::fs::remove_file(&tmp);
        bail!("nasm made no code from {}", asm.display());
    }
    // Taken before the rename, the event the host reacts to, so no interval can come out negative.
    let written_at = monotonic_ns();
    std::fs::rename(&tmp, &bin)
        .with_context(|| format!("could not rename onto {}", bin.display()))?;
    Ok((text, written_at))
}

/// Watches `dir` for sources being written or renamed into place.
fn watch(dir: &Path, send: Sender<Msg>) -> Result<notify::RecommendedWatcher> {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let written = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Data(_))
                | EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        if written {
            for path in event.paths {
                if path.extension().is_some_and(|e| e == "asm") {
                    let _ = send.send(Msg::File(path));
                }
            }
        }
    })
    .context("could not start watching files")?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("could not watch {}", dir.display()))?;
    Ok(watcher)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn us_tenths(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn us(d: Duration) -> String {
    format!("{:.0} us", d.as_secs_f64() * 1e6)
}

fn verdict(took: Duration, target: Duration) -> &'static str {
    if took < target { "under" } else { "OVER" }
}

pub fn run(ctx: &Ctx, options: &Options) -> Result<()> {
    let bins = build(ctx)?;
    let default = if options.demo { "hot-demo" } else { "hot" };
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(|| Layout::new(&ctx.root, None).out.join(default));
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let mut session = Session::start(ctx, &bins, &dir, options.demo)?;
    let ready = session.pump(Some(CHANGE_WAIT), |e| matches!(e, Event::Ready { .. }))?;
    if options.demo {
        return demo(&mut session, &bins, &ready);
    }
    println!(
        "hot-reload: host {} calls step(n) and mix(n) from {}\n\
         - edit {}/step.asm or mix.asm: each save is assembled and the host switches to it\n\
         - or patch it from another process: {} patch --pid {} --slot step FILE.bin\n\
         - Ctrl-C stops",
        session.pid,
        dir.display(),
        dir.display(),
        bins.polylink.display(),
        session.pid
    );
    session.pump(None, |_| false).map(drop)
}

/// One version of `step` in the demo: its body, and what it must return for n.
struct Version {
    body: &'static str,
    expect: fn(u64) -> u64,
}

const EDITS: [Version; 5] = [
    Version {
        body: "lea rax, [rdi * 2]",
        expect: |n| 2 * n,
    },
    Version {
        body: "lea rax, [rdi + rdi * 2 + 1]",
        expect: |n| 3 * n + 1,
    },
    Version {
        body: "imul rax, rdi, 5",
        expect: |n| 5 * n,
    },
    Version {
        body: "lea rax, [rdi * 4 + 7]",
        expect: |n| 4 * n + 7,
    },
    Version {
        body: "mov rax, rdi\nshl rax, 3",
        expect: |n| 8 * n,
    },
];

const PATCHES: [Version; 5] = [
    Version {
        body: "lea rax, [rdi + 1000]",
        expect: |n| n + 1000,
    },
    Version {
        body: "imul rax, rdi, 10",
        expect: |n| 10 * n,
    },
    Version {
        body: "lea rax, [rdi * 8 + 3]",
        expect: |n| 8 * n + 3,
    },
    Version {
        body: "mov rax, rdi\nxor rax, 0xff",
        expect: |n| n ^ 0xff,
    },
    Version {
        body: "lea rax, [rdi - 1]",
        expect: |n| n.wrapping_sub(1),
    },
];

/// Waits for the host's first call of new `step` code made `by` whom, and checks its result.
fn await_change(session: &mut Session, who: By, version: &Version) -> Result<u64> {
    let change = session.pump(
        Some(CHANGE_WAIT),
        |e| matches!(e, Event::Change { slot, by, .. } if slot == "step" && *by == who),
    )?;
    let Event::Change {
        n,
        result,
        first_call_ns,
        ..
    } = change
    else {
        unreachable!("pump returns the event asked for");
    };
    if result != (version.expect)(n) {
        bail!(
            "after switching step to `{}`, the host's step({n}) returned {result}, not {}",
            version.body.replace('\n', "; "),
            (version.expect)(n)
        );
    }
    session.pump(Some(CHANGE_WAIT), is_call)?;
    Ok(first_call_ns)
}

fn is_call(event: &Event) -> bool {
    matches!(event, Event::Call { .. })
}

fn demo(session: &mut Session, bins: &Binaries, ready: &Event) -> Result<()> {
    let Event::Ready { table, region, .. } = ready else {
        bail!("the host's first line was not `ready`: {ready}");
    };
    println!(
        "\n== 1. The host (pid {}) calls step(n) = n + 1 and mix(n) = 3n through its hot table \
         at {table:#x}; its code lives in the region at {region:#x}",
        session.pid,
    );
    session.pump(Some(CHANGE_WAIT), is_call)?;
    session.pump(Some(CHANGE_WAIT), is_call)?;

    println!(
        "\n== 2. In-process: step.asm is saved {} times; each save is assembled into step.bin, \
         and the host installs the new bin itself",
        EDITS.len()
    );
    let mut saves = Vec::new();
    for version in &EDITS {
        println!("\nedit  | step.asm: {}", version.body.replace('\n', "; "));
        // Taken before the save: the whole loop a person feels, nasm included.
        let saved_at = monotonic_ns();
        save(&session.dir.join("step.asm"), &source("step", version.body))?;
        let first_call = await_change(session, By::ThisHost, version)?;
        let took = first_call
            .checked_sub(saved_at)
            .map(Duration::from_nanos)
            .context("the host's first call came before the save: a clock fault")?;
        println!(
            "       step.asm saved -> first call of the new code (nasm included): {}",
            ms(took)
        );
        saves.push(took);
    }

    // A save with a mistake: nasm refuses it, the bin stays, and the host runs on unchanged.
    let last = &EDITS[EDITS.len() - 1];
    println!("\nedit  | step.asm: a mistake, `lea rax, [rdi +`");
    save(
        &session.dir.join("step.asm"),
        &source("step", "lea rax, [rdi +"),
    )?;
    let call = session.pump(Some(CHANGE_WAIT), is_call)?;
    let Event::Call { n, .. } = call else {
        unreachable!("pump returns the event asked for");
    };
    let step = call
        .result_of("step")
        .context("the host's call line has no step=")?;
    if step != (last.expect)(n) {
        bail!(
            "after a save nasm refused, the host's step({n}) returned {step}, not {}",
            (last.expect)(n)
        );
    }

    println!(
        "\n== 3. From another process: `polylink patch` writes new code into the host's \
         region and switches step, {} times",
        PATCHES.len()
    );
    let patches = session.dir.join("patches");
    std::fs::create_dir_all(&patches)
        .with_context(|| format!("could not create {}", patches.display()))?;
    let (mut switches, mut finds, mut writes, mut flips) = (vec![], vec![], vec![], vec![]);
    for (i, version) in PATCHES.iter().enumerate() {
        let name = format!("step-{}", i + 1);
        save(
            &patches.join(format!("{name}.asm")),
            &source("step", version.body),
        )?;
        assemble(&session.ctx, &patches, &name)?;
        let file = patches.join(format!("{name}.bin"));
        let patch = Cmd::new(bins.polylink.display().to_string())
            .args([
                "patch",
                "--json",
                "--pid",
                &session.pid.to_string(),
                "--slot",
                "step",
            ])
            .arg(&file);
        println!(
            "\npatch | {patch}    ({})",
            version.body.replace('\n', "; ")
        );
        let output = patch.run(session.ctx.verbose)?;
        let report: Report = serde_json::from_slice(&output.stdout)
            .context("polylink patch --json printed no report")?;
        println!(
            "patch | step at {:#x}: {:#x} -> {:#x} (unit {}, {} of {} used); table found in {:.2} ms, \
             code written in {:.0} us, switched in {:.1} us",
            report.slot_address,
            report.before,
            report.after,
            report.unit,
            report.used,
            report.units,
            report.resolve_us / 1e3,
            report.write_us,
            report.switch_us,
        );
        let switched = report.switched_at_ns;
        let first_call = await_change(session, By::AnotherProcess, version)?;
        let took = first_call
            .checked_sub(switched)
            .map(Duration::from_nanos)
            .context("the host's first call came before the switch: a clock fault")?;
        println!("       switch -> first call of the new code: {}", us(took));
        switches.push(took);
        finds.push(Duration::from_secs_f64(report.resolve_us / 1e6));
        writes.push(Duration::from_secs_f64(report.write_us / 1e6));
        flips.push(Duration::from_secs_f64(report.switch_us / 1e6));
    }

    let (reload, reload_max) = median_max(&session.reloads);
    let (switch, switch_max) = median_max(&switches);
    let (save, save_max) = median_max(&saves);
    println!(
        "\n== 4. Timings (median and largest of each kind; CLOCK_MONOTONIC across processes; \
         each target is a bound, judged on the largest)"
    );
    println!(
        "in-process, step.asm saved -> first call of the new code (nasm included): {} (max {})",
        ms(save),
        ms(save_max),
    );
    println!(
        "in-process reload, step.bin written -> first call of the new code: {} (max {}), max {} the 10 ms target",
        ms(reload),
        ms(reload_max),
        verdict(reload_max, Duration::from_millis(10))
    );
    println!(
        "cross-process patch, switch -> first call of the new code:         {} (max {}), max {} the 1 ms target",
        us(switch),
        us(switch_max),
        verdict(switch_max, Duration::from_millis(1))
    );
    println!(
        "the patch command: finding the table {}, writing the code {}, the one-byte switch {}",
        ms(median_max(&finds).0),
        us(median_max(&writes).0),
        us_tenths(median_max(&flips).0)
    );
    println!(
        "every change gave the results of its new code; the host ran without a restart ({} versions of step)",
        1 + EDITS.len() + PATCHES.len()
    );
    Ok(())
}
