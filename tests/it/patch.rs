//! Hot-code reloading from another process: `polylink patch` against a running
//! `polylink-hot-host`, and every refusal this machine can produce.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use polylink_hot_host::{By, Event};
use polylink_tests::{Assert, Running, hot_host_bin, nasm, polylink_bin};

const WAIT: Duration = Duration::from_secs(20);

/// A directory any user can read, with the host's first code: step(n) = n + 1, mix(n) = 3n.
fn host_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    nasm(
        dir.path(),
        "step",
        "bin",
        "bits 64\nlea rax, [rdi + 1]\nret\n",
    );
    nasm(dir.path(), "mix", "bin", "bits 64\nimul rax, rdi, 3\nret\n");
    dir
}

/// Raw code `name.bin` in `dir` from NASM `body` (bits 64 is added).
fn code(dir: &Path, name: &str, body: &str) -> PathBuf {
    nasm(dir, name, "bin", &format!("bits 64\n{body}\n"))
}

/// The host, started (as `user` when given) with `args`, once it printed `ready`.
fn start_host(dir: &Path, args: &[&str], user: Option<u32>) -> (Running, Ready) {
    start_program(hot_host_bin(), dir, args, user)
}

/// `program`, a copy of the host, started as [`start_host`] starts the host.
fn start_program(program: &Path, dir: &Path, args: &[&str], user: Option<u32>) -> (Running, Ready) {
    let mut command = as_user(user, program);
    command
        .args(["--dir"])
        .arg(dir)
        .args(["--print-ms", "20"])
        .args(args);
    let mut host = Running::start(&mut command);
    let ready = host.wait_for("ready", WAIT, |l| matches!(event(l), Event::Ready { .. }));
    let Event::Ready {
        table,
        region,
        lock_fd,
        pid,
        ..
    } = event(&ready)
    else {
        unreachable!("waited for ready");
    };
    let ready = Ready {
        table,
        region,
        lock_fd,
        pid,
    };
    (host, ready)
}

/// What the host's `ready` line says, as far as these tests need it.
#[derive(Debug)]
struct Ready {
    table: u64,
    region: u64,
    lock_fd: i32,
    pid: u32,
}

/// A line of the host, read as the host's own type reads it.
fn event(line: &str) -> Event {
    line.parse()
        .unwrap_or_else(|e| panic!("the host printed a line it does not speak: {e}"))
}

/// Whether `line` is the first call of new `step` code (made by `who`, when given).
fn step_changed(line: &str, who: Option<By>) -> bool {
    matches!(event(line), Event::Change { slot, by, .. } if slot == "step" && who.is_none_or(|w| w == by))
}

/// A command running `program`, as the given uid (through setpriv) or as ourselves.
fn as_user(uid: Option<u32>, program: &Path) -> Command {
    let mut command = match uid {
        None => polylink_tests::process(program),
        Some(uid) => {
            let mut c = polylink_tests::process("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg(program);
            c
        }
    };
    command.env_remove("RUST_BACKTRACE");
    command
}

/// `polylink patch`, killed (and so failed) if it takes longer than a refusal ever should.
fn patch(pid: u32, slot: &str, file: &Path, user: Option<u32>) -> Assert {
    let mut command = as_user(user, polylink_bin());
    command
        .args(["patch", "--pid", &pid.to_string(), "--slot", slot])
        .arg(file);
    polylink_tests::Command::from_std(command)
        .timeout(WAIT)
        .assert()
}

fn patch_ok(pid: u32, slot: &str, file: &Path) -> String {
    let ran = patch(pid, slot, file, None).success();
    String::from_utf8(ran.get_output().stdout.clone()).unwrap()
}

/// Asserts that the patch failed with exit status 1 and a message containing every part.
fn assert_refused(ran: Assert, parts: &[&str]) {
    let ran = ran.code(1);
    let stderr = String::from_utf8_lossy(&ran.get_output().stderr);
    for part in parts {
        assert!(
            stderr.contains(part),
            "expected {part:?} in the refusal:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Waits for the next `call` line and returns its n, step and mix.
fn next_call(host: &mut Running) -> (u64, u64, u64) {
    let line = host.wait_for("call", WAIT, |l| matches!(event(l), Event::Call { .. }));
    let call = event(&line);
    let Event::Call { n, .. } = call else {
        unreachable!("waited for a call");
    };
    (
        n,
        call.result_of("step").unwrap(),
        call.result_of("mix").unwrap(),
    )
}

fn hex(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

/// The address after `label` in patch's output, e.g. `before: step -> 0x…`.
fn address_after(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"));
    hex(line.split_ascii_whitespace().nth(3).unwrap())
}

/// A host started separately is patched twice from another process: the slot switches to each
/// new unit of the region the host reported, the host's next calls of `step` return what the
/// new code computes, and `mix`, not patched, is untouched.
#[test]
fn patch_from_another_process_changes_what_the_host_prints() {
    let dir = host_dir();
    let (mut host, ready) = start_host(dir.path(), &[], None);
    let (region, table) = (ready.region, ready.table);
    let (n, step, mix) = next_call(&mut host);
    assert_eq!((step, mix), (n + 1, 3 * n));

    let double = code(dir.path(), "double", "lea rax, [rdi * 2]\nret");
    let out = patch_ok(host.pid(), "step", &double);
    assert!(
        out.contains(&format!("POLYLINK_HOT_TABLE at {table:#x}")),
        "patch found the table where the host says it is:\n{out}"
    );
    assert!(out.contains("slot step at 0x"), "{out}");
    assert_eq!(address_after(&out, "before:"), region, "{out}");
    assert_eq!(address_after(&out, "after:"), region + 2 * 256, "{out}");
    let change = host.wait_for("change", WAIT, |l| step_changed(l, None));
    let Event::Change {
        by,
        entry,
        n,
        result,
        ..
    } = event(&change)
    else {
        unreachable!("waited for a change");
    };
    assert_eq!(by, By::AnotherProcess, "{change}");
    assert_eq!(entry, region + 512, "{change}");
    assert_eq!(result, 2 * n, "{change}");
    let (n, step, mix) = next_call(&mut host);
    assert_eq!((step, mix), (2 * n, 3 * n), "{:?}", host.seen);

    let plus_seven = code(dir.path(), "plus7", "lea rax, [rdi + 7]\nret");
    let out = patch_ok(host.pid(), "step", &plus_seven);
    assert_eq!(address_after(&out, "before:"), region + 512, "{out}");
    assert_eq!(address_after(&out, "after:"), region + 768, "{out}");
    host.wait_for("second change", WAIT, |l| {
        matches!(event(l), Event::Change { slot, entry, .. } if slot == "step" && entry == region + 768)
    });
    let (n, step, mix) = next_call(&mut host);
    assert_eq!((step, mix), (n + 7, 3 * n), "{:?}", host.seen);
}

/// A host with room for one more unit takes one patch, then refuses the next with the numbers,
/// and keeps running the code it had.
#[test]
fn a_full_region_is_refused_and_the_host_runs_on() {
    let dir = host_dir();
    let (mut host, _) = start_host(dir.path(), &["--units", "3"], None);
    let double = code(dir.path(), "double", "lea rax, [rdi * 2]\nret");
    let out = patch_ok(host.pid(), "step", &double);
    assert!(out.contains("3 of 3 units used"), "{out}");
    let again = code(dir.path(), "plus9", "lea rax, [rdi + 9]\nret");
    assert_refused(
        patch(host.pid(), "step", &again, None),
        &[
            "no room left in the patch region",
            "needs 1 units",
            "3 of its 3 are used",
        ],
    );
    host.wait_for("the change", WAIT, |l| step_changed(l, None));
    let (n, step, _) = next_call(&mut host);
    assert_eq!(step, 2 * n, "{:?}", host.seen);
}

/// Each refusal names its cause, exits 1 and does not panic: no such process, a process with no
/// executable (a zombie), a process that is not a host (a stripped one, and one with symbols but
/// no table), no such slot, an unreadable file.
#[test]
fn refusals_name_the_cause() {
    let dir = host_dir();
    let bin = dir.path().join("step.bin");
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_refused(
        patch(pid_max, "step", &bin, None),
        &[&format!("no such process: {pid_max}")],
    );

    // A zombie: a child that exited and was not waited for keeps its pid but not its memory.
    let mut zombie = polylink_tests::start(&mut polylink_tests::process("true"));
    let stat = format!("/proc/{}/stat", zombie.id());
    while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_refused(
        patch(zombie.id(), "step", &bin, None),
        &[&format!("process {} has no executable", zombie.id())],
    );
    zombie.wait().unwrap();

    // `sleep` as Debian ships it has no symbol table; this test binary has one, without a table.
    let sleeper = Running::start(polylink_tests::process("sleep").arg("60"));
    assert_refused(
        patch(sleeper.pid(), "step", &bin, None),
        &[
            &format!("process {} (", sleeper.pid()),
            "is not a polylink host",
            "POLYLINK_HOT_TABLE",
        ],
    );
    assert_refused(
        patch(std::process::id(), "step", &bin, None),
        &[
            "is not a polylink host",
            "defines no symbol POLYLINK_HOT_TABLE",
        ],
    );

    let (host, _) = start_host(dir.path(), &[], None);
    assert_refused(
        patch(host.pid(), "nope", &bin, None),
        &["no hot slot named \"nope\" (the table has: step, mix)"],
    );
    assert_refused(
        patch(host.pid(), "step", &dir.path().join("missing.bin"), None),
        &["could not read raw code", "missing.bin"],
    );
}

/// Bytes that are not a whole function, and files that are not raw code, are refused by name
/// before a byte reaches the host: each such patch once killed the host with SIGILL, SIGTRAP
/// or SIGSEGV, or hung (a FIFO) or ran out of memory (/dev/zero). The host runs on with its
/// code, and the good patch after them takes unit 2, the first free one.
#[test]
fn bad_code_is_refused_before_anything_reaches_the_host() {
    let dir = host_dir();
    let (mut host, _) = start_host(dir.path(), &[], None);
    let raw = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let fifo = dir.path().join("fifo.bin");
    polylink_tests::tool("mkfifo").arg(&fifo).assert().success();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            raw("push-es.bin", b"\x06\xc3"),
            "push-es.bin does not decode as x86-64 code at offset 0 (bytes 06 c3)",
        ),
        (raw("ff-ff.bin", b"\xff\xff\xc3"), "does not decode"),
        (raw("0f-04.bin", b"\x0f\x04\xc3"), "does not decode"),
        (
            raw("ud2.bin", b"\x0f\x0b"),
            "traps at offset 0: `ud2` raises an invalid-opcode exception (SIGILL)",
        ),
        (raw("int3.bin", b"\xcc\xc3"), "traps at offset 0: `int3`"),
        (
            code(dir.path(), "noret", "lea rax, [rdi + 1]"),
            "can run past its end: `lea rax,[rdi+1]` at offset 0 is followed by nothing",
        ),
        (
            polylink_tests::nasm(dir.path(), "object", "elf64", "bits 64\nret\n"),
            "object.elf64 is an ELF file (an object or a program), not raw code: extract",
        ),
        (
            raw("step-text.bin", b"lea rax, [rdi + 1]\nret\n"),
            "is a text file (assembly source?), not raw code",
        ),
        (fifo, "fifo.bin is a FIFO (named pipe), not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "/dev/zero is a character device, not a regular file",
        ),
    ];
    for (file, part) in &cases {
        assert_refused(patch(host.pid(), "step", file, None), &[part]);
    }
    let (n, step, _) = next_call(&mut host);
    assert_eq!(step, n + 1, "the host runs its first code: {:?}", host.seen);
    let double = code(dir.path(), "double", "lea rax, [rdi * 2]\nret");
    let out = patch_ok(host.pid(), "step", &double);
    assert!(out.contains("unit 2 of the region"), "{out}");
    // The check can be skipped by one who knows what they install; its size is still checked.
    let unchecked = polylink_tests::Command::from_std(as_user(None, polylink_bin()))
        .args(["patch", "--unchecked", "--pid", &host.pid().to_string()])
        .args(["--slot", "mix"])
        .arg("/dev/zero")
        .timeout(WAIT)
        .assert();
    assert_refused(unchecked, &["is a character device"]);
}

/// A host that dies the moment it runs its new code (here `ud2`, installed with --unchecked)
/// was still patched: `polylink patch` says that the code was installed and then the process
/// exited, not that a read failed. The patcher is made to pause after the switch, so that the
/// host surely dies before the switch is read back.
#[test]
fn a_host_that_exits_after_the_switch_is_reported_as_patched() {
    let dir = host_dir();
    let (host, _) = start_host(dir.path(), &["--every-us", "0"], None);
    let ud2 = dir.path().join("ud2.bin");
    std::fs::write(&ud2, b"\x0f\x0b").unwrap();
    let mut command = as_user(None, polylink_bin());
    command
        .env("POLYLINK_PAUSE_AFTER_SWITCH_MS", "300")
        .args(["patch", "--unchecked", "--pid", &host.pid().to_string()])
        .args(["--slot", "step"])
        .arg(&ud2);
    let ran = polylink_tests::Command::from_std(command)
        .timeout(WAIT)
        .assert();
    assert_refused(
        ran,
        &[
            &format!(
                "the code was installed: slot \"step\" of process {} was switched to 0x",
                host.pid()
            ),
            "then the process exited",
        ],
    );
}

/// A thread's id names its process: the patch says so and patches the process. A host stripped
/// of its symbol table is found through the table it exports in `.dynsym`.
#[test]
fn a_thread_id_and_a_stripped_host_are_patched() {
    let dir = host_dir();
    let stripped = dir.path().join("stripped-host");
    polylink_tests::tool("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(hot_host_bin())
        .assert()
        .success();
    let symtab = polylink_tests::tool("readelf")
        .args(["-S", "-W"])
        .arg(&stripped)
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&symtab.get_output().stdout).contains(".symtab"));
    // --watch: the watcher runs on threads of its own.
    let (mut host, ready) = start_program(&stripped, dir.path(), &["--watch"], None);
    let pid = ready.pid;
    let tid: u32 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .find(|&tid| tid != pid)
        .expect("the host runs more than one thread");
    let double = code(dir.path(), "double", "lea rax, [rdi * 2]\nret");
    let out = patch_ok(tid, "step", &double);
    assert!(
        out.contains(&format!(
            "{tid} is a thread of process {pid}: patching the process"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("host {pid} (")), "{out}");
    host.wait_for("the change", WAIT, |l| {
        step_changed(l, Some(By::AnotherProcess))
    });
}

/// A bin saved the moment the host says `ready` is installed: the host's watcher is live
/// before it prints `ready` (it once was not, and such a save was never seen).
#[test]
fn a_save_right_after_ready_is_installed() {
    for _ in 0..3 {
        let dir = host_dir();
        let (mut host, _) = start_host(dir.path(), &["--watch"], None);
        let new = polylink_tests::nasm(
            dir.path(),
            "next",
            "bin",
            "bits 64\nlea rax, [rdi + 5]\nret\n",
        );
        std::fs::rename(&new, dir.path().join("step.bin")).unwrap();
        host.wait_for("the reload", WAIT, |l| step_changed(l, Some(By::ThisHost)));
    }
}

/// Whether this process runs as root, which the tests that switch users need.
fn root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    uid.split_ascii_whitespace().nth(1) == Some("0")
}

const NOBODY: u32 = 65534;

/// Permission refusals say why: a host of another user, and a non-dumpable host of the same
/// user. The same user patching the same host while it is dumpable succeeds, so the flag is
/// what refused it. Yama's ptrace_scope is checked too when this kernel has Yama.
#[test]
fn permission_refusals_say_why() {
    if !root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let dir = host_dir();
    let double = code(dir.path(), "double", "lea rax, [rdi * 2]\nret");

    let (root_host, _) = start_host(dir.path(), &[], None);
    assert_refused(
        patch(root_host.pid(), "step", &double, Some(NOBODY)),
        &[
            "permission denied",
            "it runs as another user (uid 0 (root), you are uid 65534 (nobody))",
        ],
    );

    let (hidden, _) = start_host(dir.path(), &["--not-dumpable"], Some(NOBODY));
    assert_refused(
        patch(hidden.pid(), "step", &double, Some(NOBODY)),
        &["permission denied", "it is not dumpable"],
    );
    // Root holds CAP_SYS_PTRACE, which the kernel lets past the dumpable flag.
    patch_ok(hidden.pid(), "step", &double);

    let (mut open, _) = start_host(dir.path(), &[], Some(NOBODY));
    let yama = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope");
    match yama.as_deref().map(str::trim) {
        Ok("1") | Ok("2") => assert_refused(
            patch(open.pid(), "step", &double, Some(NOBODY)),
            &["ptrace is restricted (kernel.yama.ptrace_scope"],
        ),
        _ => {
            patch(open.pid(), "step", &double, Some(NOBODY)).success();
            open.wait_for("the change", WAIT, |l| {
                step_changed(l, Some(By::AnotherProcess))
            });
        }
    }
}

/// `cargo xtask hot-reload --demo` runs the whole story and checks it itself: five saves of
/// step.asm installed by the host, a save nasm refuses, five patches from another process, each
/// change's first result checked; it prints both timings and exits 0.
#[test]
fn the_hot_reload_demo_checks_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let output = polylink_tests::xtask()
        .args(["hot-reload", "--demo", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout);
    let count = |by: By| {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("host  | "))
            .filter(|l| step_changed(l, Some(by)))
            .count()
    };
    assert_eq!(count(By::ThisHost), 5, "{output}");
    assert_eq!(count(By::AnotherProcess), 5, "{output}");
    for part in [
        "step.asm not assembled, the host keeps its code",
        "in-process reload, step.bin written -> first call of the new code: ",
        "cross-process patch, switch -> first call of the new code: ",
        "the one-byte switch",
        "every change gave the results of its new code",
        "in-process, step.asm saved -> first call of the new code (nasm included): ",
        "each target is a bound, judged on the largest",
    ] {
        assert!(stdout.contains(part), "no {part:?} in:\n{stdout}");
    }
    // Every interval is measured from before the event the host reacts to: each is positive
    // (they once printed 0.00 ms, a negative interval clamped), and a save takes longer than
    // the bin it makes, since nasm runs in between.
    let times = |label: &str| -> Vec<f64> {
        stdout
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .map(|rest| {
                let number = rest.split_ascii_whitespace().next().unwrap();
                number.parse::<f64>().unwrap_or_else(|_| panic!("{rest:?}"))
            })
            .collect()
    };
    let written = times("step.bin written -> first call of the new code: ");
    let saved = times("step.asm saved -> first call of the new code (nasm included): ");
    let switched = times("switch -> first call of the new code: ");
    assert_eq!(
        (written.len(), saved.len(), switched.len()),
        (5, 5, 5),
        "{output}"
    );
    for t in written.iter().chain(&saved).chain(&switched) {
        assert!(*t > 0.0, "an interval of {t} in:\n{stdout}");
    }
    for (save, bin) in saved.iter().zip(&written) {
        assert!(save > bin, "saved {save} ms, written {bin} ms:\n{stdout}");
    }
}

/// Patchers of one host take turns through a flock on the memfd the host keeps for it: while
/// another process holds that lock, a patch waits, then refuses by name and writes nothing; once
/// the lock is free, the same patch goes through.
#[test]
fn a_patcher_waits_its_turn() {
    let dir = host_dir();
    let (_host, ready) = start_host(dir.path(), &[], None);
    let pid = ready.pid;
    let double = code(dir.path(), "double", "lea rax, [rdi * 2]\nret");
    let mut holder = Running::start(
        // --close: the lock stays with flock itself, so killing it frees the lock.
        polylink_tests::process("flock")
            .args(["--exclusive", "--close"])
            .arg(format!("/proc/{pid}/fd/{}", ready.lock_fd))
            .args(["sh", "-c", "echo held; exec sleep 10"]),
    );
    holder.wait_for("held", WAIT, |l| l == "held");
    assert_refused(
        patch(pid, "mix", &double, None),
        &[
            "another patcher of process",
            "has held its hot table's lock (/proc/",
            "try again",
        ],
    );
    drop(holder);
    let out = patch_ok(pid, "mix", &double);
    assert!(
        out.contains("unit 2 of the region"),
        "the refused patch took no unit:\n{out}"
    );
}
