//! `polylink live-patch` on real processes nobody prepared: plain `gcc -O2` programs (PIE, no
//! special flags), patched from C and NASM objects while they run, undone, and refused
//! cleanly — each refusal leaving the process alive and its code as it was.

use std::path::{Path, PathBuf};
use std::time::Duration;

use polylink_tests::{Running, nasm, polylink, process, tool, xtask};

/// A host that prints `v I COMPUTE(I)` every 20 ms: `compute` is reached with `i` kept in
/// `rsi` across the call (gcc -O2's -fipa-ra), which a patch that calls printf must not
/// disturb. Two files each have a local `step`, and `tiny` is 1 byte.
const HOST: &str = r#"
#include <stdio.h>
#include <unistd.h>
int scale = 3;
static __attribute__((noinline)) long step(long x) { return x + 1; }
long other_step(long x);
__attribute__((noinline)) long compute(long i) { return i * 2; }
__attribute__((naked, noinline)) void tiny(void) { __asm__ volatile("ret"); }
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long i = 0;; i = step(i)) {
        printf("v %ld %ld\n", i, compute(i));
        usleep(other_step(19999));
    }
}
"#;

const HOST_OTHER: &str = r#"
static __attribute__((noinline)) long step(long x) { return x + 1; }
long other_step(long x) { return step(x); }
"#;

/// The patch: calls printf with a string literal, reads the host's `scale`.
const PATCH: &str = r#"
#include <stdio.h>
extern int scale;
long compute(long i) {
    printf("patched: %s\n", "hello from the patch");
    return i * 100 + scale;
}
"#;

fn gcc(dir: &Path, args: &[&str]) {
    tool("gcc").current_dir(dir).args(args).assert().success();
}

/// Builds the host in `dir` and starts it.
fn start_host(dir: &Path) -> (Running, PathBuf) {
    std::fs::write(dir.join("host.c"), HOST).unwrap();
    std::fs::write(dir.join("other.c"), HOST_OTHER).unwrap();
    gcc(dir, &["-O2", "host.c", "other.c", "-o", "host"]);
    let exe = dir.join("host");
    let mut host = Running::start(&mut process(&exe));
    host.wait_for("from the host", Duration::from_secs(10), |l| {
        l.starts_with("v 2 ")
    });
    (host, exe)
}

/// `polylink live-patch --pid PID ARGS…`, run.
fn live(pid: impl std::fmt::Display) -> assert_cmd::Command {
    let mut command = polylink();
    command.args(["live-patch", "--pid", &pid.to_string()]);
    command
}

/// `polylink live-patch --pid PID ARGS…`, which must succeed; what it printed.
fn live_ok(pid: impl std::fmt::Display, args: &[&str]) -> String {
    let output = live(pid).args(args).assert().success().get_output().clone();
    String::from_utf8(output.stdout).unwrap()
}

/// `polylink live-patch --pid PID ARGS…`, which must fail; what it said on stderr.
fn live_err(pid: impl std::fmt::Display, args: &[&str]) -> String {
    let output = live(pid).args(args).assert().failure().get_output().clone();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Compiles C source into an object in `dir`.
fn object(dir: &Path, name: &str, source: &str) -> PathBuf {
    std::fs::write(dir.join(format!("{name}.c")), source).unwrap();
    gcc(
        dir,
        &[
            "-O2",
            "-c",
            &format!("{name}.c"),
            "-o",
            &format!("{name}.o"),
        ],
    );
    dir.join(format!("{name}.o"))
}

/// `v I R` as numbers.
fn values(line: &str) -> Option<(i64, i64)> {
    let mut words = line.strip_prefix("v ")?.split(' ');
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// Reads lines until one whose result `new` accepts; every `v` line before it must have the
/// old or new result for its own `i`, and the `i`s must count up by one.
fn wait_for_result(host: &mut Running, what: &str, old: fn(i64) -> i64, new: fn(i64) -> i64) {
    let mut last: Option<i64> = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = host.wait_for(what, left, |l| l.starts_with("v "));
        let (i, r) = values(&line).unwrap_or_else(|| panic!("not a result line: {line}"));
        if let Some(last) = last {
            assert_eq!(i, last + 1, "i jumped: {:#?}", host.seen);
        }
        last = Some(i);
        assert!(
            r == old(i) || r == new(i),
            "{line}: neither result for i = {i}: {:#?}",
            host.seen
        );
        if r == new(i) && new(i) != old(i) {
            return;
        }
    }
}

/// The address of `name` in the running host: its value in the executable plus the load slide.
fn address_of(pid: u32, exe: &Path, name: &str) -> u64 {
    let out = tool("nm")
        .arg(exe)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out);
    let value = text
        .lines()
        .find(|l| l.ends_with(&format!(" {name}")))
        .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
        .unwrap_or_else(|| panic!("{name} not in nm's output"));
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let exe = exe.canonicalize().unwrap();
    let base = maps
        .lines()
        .find(|l| l.ends_with(&*exe.to_string_lossy()))
        .and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok())
        .unwrap();
    base + value
}

fn read_code(pid: u32, address: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut bytes = vec![0; len];
    mem.read_exact_at(&mut bytes, address).unwrap();
    bytes
}

#[test]
fn a_c_patch_calls_printf_reads_a_global_and_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_host(dir.path());
    let pid = host.pid();
    let patch = object(dir.path(), "patch", PATCH);
    let at = address_of(pid, &exe, "compute");
    let before = read_code(pid, at, 16);

    let out = live_ok(pid, &["--function", "compute", patch.to_str().unwrap()]);
    let said = &out;
    for expected in [
        "load slide",
        "/host",
        "libc.so.6",
        "R_X86_64_PLT32 printf ->",
        "R_X86_64_PC32 scale ->",
        "through the thunk",
        "old entry bytes:",
        "threads stopped for",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    // The new values, with the right `i` beside them: the thunk kept rsi.
    wait_for_result(&mut host, "patched", |i| 2 * i, |i| 100 * i + 3);
    host.wait_for("from the patch's printf", Duration::from_secs(5), |l| {
        l == "patched: hello from the patch"
    });
    let listed = live_ok(pid, &["--list"]);
    assert!(listed.starts_with("compute ("));

    live_ok(pid, &["--undo", "compute"]);
    wait_for_result(&mut host, "undone", |i| 100 * i + 3, |i| 2 * i);
    assert_eq!(
        read_code(pid, at, 16),
        before,
        "undo restores the entry exactly"
    );
    let listed = live_ok(pid, &["--list"]);
    assert!(listed.contains("no live patches"));
}

/// A host built with `-g`: `half` returns a double (xmm0), `both` a struct of a long and a
/// double (rax and xmm0), `third` a long double (st0). The patches say nothing of it; the thunk hands back what the DWARF
/// says, where the default (rax only) would restore xmm0 over the results.
const FLOAT_HOST: &str = r#"
#include <stdio.h>
#include <unistd.h>
struct pair { long n; double d; };
__attribute__((noinline)) double half(long i) { return i / 2.0; }
__attribute__((noinline)) struct pair both(long i) { struct pair p = { i, i / 4.0 }; return p; }
__attribute__((noinline)) long double third(long i) { return i / 3.0L; }
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long i = 0;; i++) {
        struct pair p = both(i);
        long t = (long)(third(i) * 3 + 0.5L);
        printf("v %ld %ld %ld %ld %ld\n", i, (long)(half(i) * 2), p.n, (long)(p.d * 4), t);
        usleep(20000);
    }
}
"#;

const FLOAT_PATCH: &str = r#"
struct pair { long n; double d; };
double half(long i) { return i * 1000.0; }
struct pair both(long i) { struct pair p = { i + 7, i * 10.0 }; return p; }
long double third(long i) { return i * 7.0L / 3; }
"#;

#[test]
fn the_return_registers_come_from_the_dwarf() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("floats.c"), FLOAT_HOST).unwrap();
    gcc(dir.path(), &["-g", "-O2", "floats.c", "-o", "floats"]);
    let mut host = Running::start(&mut process(dir.path().join("floats")));
    let pid = host.pid();
    // `v I HALF*2 N D*4 THIRD*3`, as numbers.
    let fields = |line: &str| -> Vec<i64> {
        line.split(' ')
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    host.wait_for("from the host", Duration::from_secs(10), |l| {
        l.starts_with("v 2 ")
    });
    let patch = object(dir.path(), "floats-patch", FLOAT_PATCH);
    let path = patch.to_str().unwrap();

    let said = live_ok(pid, &["--function", "half", path]);
    assert!(said.contains("(returns float, from the DWARF)"), "{said}");
    host.wait_for("half patched", Duration::from_secs(10), |l| {
        let f = fields(l);
        f.len() == 5 && f[0] > 0 && f[1] == 2000 * f[0] && f[2] == f[0] && f[3] == f[0]
    });
    let said = live_ok(pid, &["--function", "both", path, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(report["returns"], "int-float", "{said}");
    assert_eq!(report["returns_from"], "DWARF", "{said}");
    host.wait_for("both patched", Duration::from_secs(10), |l| {
        let f = fields(l);
        f.len() == 5 && f[0] > 0 && f[1] == 2000 * f[0] && f[2] == f[0] + 7 && f[3] == 40 * f[0]
    });
    let said = live_ok(pid, &["--function", "third", path]);
    assert!(said.contains("(returns x87, from the DWARF)"), "{said}");
    host.wait_for("third patched", Duration::from_secs(10), |l| {
        let f = fields(l);
        f.len() == 5 && f[0] > 0 && f[4] == 7 * f[0] && f[2] == f[0] + 7
    });
    live_ok(pid, &["--undo", "third"]);
    // Said outright, --returns wins: an int return hands back rax alone, so the caller's
    // xmm0 comes back over the patch's result.
    live_ok(pid, &["--undo", "half"]);
    live_ok(pid, &["--undo", "both"]);
    host.wait_for("undone", Duration::from_secs(10), |l| {
        let f = fields(l);
        f.len() == 5 && f[0] > 0 && f[1] == f[0] && f[2] == f[0] && f[3] == f[0] && f[4] == f[0]
    });
    let said = live_ok(pid, &["--function", "half", path, "--returns", "int"]);
    assert!(said.contains("(returns int, as --returns says)"), "{said}");
    live_ok(pid, &["--undo", "half"]);
}

/// Every kind of return value, classified from gcc's DWARF as the System V ABI returns it.
#[test]
fn return_kinds_are_read_from_the_dwarf_as_the_abi_classifies_them() {
    use polylink_inspect::dwarf::{Returned, returned};
    let cases: [(&str, &str, Returned); 17] = [
        ("void", "", Returned::Nothing),
        ("char", "0", Returned::Int),
        ("unsigned long", "0", Returned::Int),
        ("const char *", "0", Returned::Int),
        ("float", "0", Returned::Float),
        ("double", "0", Returned::Float),
        ("long double", "0", Returned::X87),
        ("_Complex double", "0", Returned::FloatPair),
        ("__int128", "0", Returned::IntPair),
        ("struct ll", "(struct ll){0}", Returned::IntPair),
        ("struct dd", "(struct dd){0}", Returned::FloatPair),
        ("struct ff", "(struct ff){0}", Returned::Float),
        ("struct if_", "(struct if_){0}", Returned::Int),
        ("struct ld", "(struct ld){0}", Returned::IntAndFloat),
        ("struct dl", "(struct dl){0}", Returned::IntAndFloat),
        ("struct big", "(struct big){0}", Returned::Memory),
        ("union u", "(union u){0}", Returned::Int),
    ];
    let mut source = String::from(
        "struct ll { long a, b; }; struct dd { double a, b; }; struct ff { float a, b; };\n\
         struct if_ { int a; float b; }; struct ld { long a; double b; };\n\
         struct dl { double a[1]; long b; }; struct big { char c[24]; };\n\
         union u { double d; long l; };\n",
    );
    for (i, (kind, value, _)) in cases.iter().enumerate() {
        let body = if value.is_empty() {
            String::new()
        } else {
            format!("return {value};")
        };
        source.push_str(&format!(
            "__attribute__((noinline)) {kind} f{i}(void) {{ {body} }}\n"
        ));
    }
    let calls: Vec<String> = (0..cases.len()).map(|i| format!("(void)f{i}();")).collect();
    source.push_str(&format!(
        "int main(void) {{ {} return 0; }}\n",
        calls.join(" ")
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kinds.c"), source).unwrap();
    gcc(dir.path(), &["-g", "-O1", "kinds.c", "-o", "kinds"]);
    gcc(dir.path(), &["-O1", "kinds.c", "-o", "bare"]);
    let data = std::fs::read(dir.path().join("kinds")).unwrap();
    let bare = std::fs::read(dir.path().join("bare")).unwrap();
    let listing = String::from_utf8(
        tool("nm")
            .arg(dir.path().join("kinds"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (i, (kind, _, expected)) in cases.iter().enumerate() {
        let address = listing
            .lines()
            .find(|l| l.ends_with(&format!(" T f{i}")))
            .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
            .unwrap();
        assert_eq!(returned(&data, address), Some(*expected), "{kind}");
        // Without DWARF there is nothing to say.
        assert_eq!(returned(&bare, address), None, "{kind} without -g");
    }
}

#[test]
fn a_nasm_patch_and_a_second_patch_undo_to_the_true_original() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_host(dir.path());
    let pid = host.pid();
    let at = address_of(pid, &exe, "compute");
    let before = read_code(pid, at, 16);
    let asm = nasm(
        dir.path(),
        "patch",
        "elf64",
        r#"
default rel
extern printf
global compute
section .text
compute:
    push rbx
    mov rbx, rdi
    lea rdi, [rel msg]
    xor eax, eax
    call printf wrt ..plt
    imul rax, rbx, 1000
    pop rbx
    ret
section .rodata
msg: db "nasm patch", 10, 0
section .note.GNU-stack noalloc noexec nowrite progbits
"#,
    );
    let json = live_ok(
        pid,
        &["--json", "--function", "compute", asm.to_str().unwrap()],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["address"].as_u64(), Some(at));
    assert_eq!(report["returns"], "int");
    wait_for_result(&mut host, "from nasm", |i| 2 * i, |i| 1000 * i);
    host.wait_for("the nasm patch's printf", Duration::from_secs(5), |l| {
        l == "nasm patch"
    });

    // Patched again: the jump is replaced, and undo still goes back to the original.
    let patch = object(dir.path(), "patch", PATCH);
    live_ok(
        pid,
        &["--function", "host:compute", patch.to_str().unwrap()],
    );
    wait_for_result(&mut host, "from C", |i| 1000 * i, |i| 100 * i + 3);
    live_ok(pid, &["--undo", "host:compute"]);
    wait_for_result(&mut host, "undone", |i| 100 * i + 3, |i| 2 * i);
    assert_eq!(read_code(pid, at, 16), before);
}

#[test]
fn every_refusal_leaves_the_process_running_and_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_host(dir.path());
    let pid = host.pid().to_string();
    let at = address_of(host.pid(), &exe, "compute");
    let before = read_code(host.pid(), at, 32);
    let good = object(dir.path(), "patch", PATCH);
    let misspelt = object(
        dir.path(),
        "misspelt",
        "extern int scal; long compute(long i) { return i + scal; }",
    );
    let tls = object(
        dir.path(),
        "tls",
        "extern __thread long counter; long compute(long i) { return i + counter; }",
    );
    let refusals: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--pid".into(),
                "4194302".into(),
                "--function".into(),
                "compute".into(),
                good.display().to_string(),
            ],
            "no such process: 4194302",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "computee".into(),
                good.display().to_string(),
            ],
            "defines no function computee; did you mean compute?",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "tiny".into(),
                good.display().to_string(),
            ],
            "shorter than the 5-byte jump",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "step".into(),
                good.display().to_string(),
            ],
            "step is defined more than once",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "nosuch.so:compute".into(),
                good.display().to_string(),
            ],
            "has no file nosuch.so loaded",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "compute".into(),
                exe.display().to_string(),
            ],
            "is not a patch object: it is a shared object or PIE",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "compute".into(),
                dir.path().display().to_string(),
            ],
            "is a directory",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "compute".into(),
                misspelt.display().to_string(),
            ],
            "undefined symbol: scal: nothing in the process defines it\n>>> did you mean: scale",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "compute".into(),
                tls.display().to_string(),
            ],
            "relocation R_X86_64_GOTTPOFF against counter is not supported: thread-local storage",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--function".into(),
                "compute".into(),
                "--entry".into(),
                "nothere".into(),
                good.display().to_string(),
            ],
            "has no function nothere to enter",
        ),
        (
            vec![
                "--pid".into(),
                pid.clone(),
                "--undo".into(),
                "compute".into(),
            ],
            "has no live patch of compute",
        ),
    ];
    for (args, expected) in refusals {
        let output = polylink()
            .arg("live-patch")
            .args(&args)
            .assert()
            .failure()
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected),
            "{args:?}: {expected:?} not in:\n{stderr}"
        );
        assert_eq!(
            read_code(host.pid(), at, 32),
            before,
            "{args:?} changed the code"
        );
        // Still running, and printing the old results.
        let line = host.wait_for("after a refusal", Duration::from_secs(5), |l| {
            l.starts_with("v ")
        });
        let (i, r) = values(&line).unwrap();
        assert_eq!(r, 2 * i, "{line}");
    }
}

/// Four threads call `compute` without pause and check every result while it is patched and
/// undone 200 times.
/// Three more result lines, each `compute`'s own: `2 * i`.
fn still_old(host: &mut Running) {
    for _ in 0..3 {
        let line = host.wait_for("the old results", Duration::from_secs(5), |l| {
            l.starts_with("v ")
        });
        let (i, r) = values(&line).unwrap();
        assert_eq!(r, 2 * i, "{line}");
    }
}

/// The mappings of process `pid`, as `/proc/PID/maps` lists them.
fn mappings(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether a tracer holds process `pid`.
fn traced(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
}

#[test]
fn ctrl_c_before_the_jump_takes_everything_back() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_host(dir.path());
    let pid = host.pid();
    let at = address_of(pid, &exe, "compute");
    let before = read_code(pid, at, 16);
    let maps_before = mappings(pid);
    let patch = object(dir.path(), "patch", PATCH);
    let mut command = process(polylink_tests::polylink_bin());
    command
        .args([
            "live-patch",
            "--pid",
            &pid.to_string(),
            "--function",
            "compute",
        ])
        .arg(&patch)
        .env("POLYLINK_LIVE_TEST_HOLD_MS", "3000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut live = polylink_tests::start(&mut command);
    let mut stderr = std::io::BufReader::new(live.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("holding"), "{line}");
    // The patch's memory is mapped in the host now; Ctrl-C.
    assert_ne!(
        mappings(pid),
        maps_before,
        "the blocks are mapped while it holds"
    );
    tool("kill")
        .args(["-INT", &live.id().to_string()])
        .assert()
        .success();
    let status = live.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("interrupted before the jump was written"),
        "{rest}"
    );
    // Nothing is left: no mapping, no tracer, the same entry, no record, the old results.
    assert_eq!(mappings(pid), maps_before);
    assert!(!traced(pid));
    assert_eq!(read_code(pid, at, 16), before);
    assert!(live_ok(pid, &["--list"]).contains("no live patches"));
    still_old(&mut host);
}

/// A thread that never leaves the third byte of `spin` (`nop; nop; 1: jmp 1b`): stepping it
/// cannot take it out of the five bytes the jump would replace.
const SPINNING_HOST: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
__attribute__((naked, noinline)) void spin(void) {
    __asm__ volatile("nop\n nop\n 1: jmp 1b\n ret\n nop\n nop\n nop\n");
}
static void *work(void *arg) { spin(); return arg; }
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    for (long n = 0;; n++) { printf("alive %ld\n", n); usleep(20000); }
}
"#;

#[test]
fn a_thread_that_stays_inside_the_entry_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_program(dir.path(), "spinning", SPINNING_HOST, &[], |l| {
        l.starts_with("alive 2")
    });
    let patch = object(dir.path(), "spin", "void spin(void) {}");
    refused_and_unchanged(
        host.pid(),
        &exe,
        "spin",
        &patch,
        &[
            "stayed inside the first 5 bytes of spin",
            "nothing was changed",
        ],
    );
    host.wait_for("still alive", Duration::from_secs(5), |l| {
        l.starts_with("alive")
    });
}

/// Compiles `source` into the program `name` in `dir` (gcc -O2 and `flags`, with pthreads)
/// and starts it; back once it printed a line `ready` takes.
fn start_program(
    dir: &Path,
    name: &str,
    source: &str,
    flags: &[&str],
    ready: impl Fn(&str) -> bool,
) -> (Running, PathBuf) {
    let c = format!("{name}.c");
    std::fs::write(dir.join(&c), source).unwrap();
    let mut args = vec!["-O2", &c, "-o", name, "-lpthread"];
    args.extend_from_slice(flags);
    gcc(dir, &args);
    let exe = dir.join(name);
    let mut host = Running::start(&mut process(&exe));
    host.wait_for("the program's first lines", Duration::from_secs(10), ready);
    (host, exe)
}

/// `polylink live-patch` of `function` in process `pid` (running `exe`) with `patch`, which
/// must fail saying each of `said`; the process's mappings, its tracer and the function's code
/// are then as they were.
fn refused_and_unchanged(pid: u32, exe: &Path, function: &str, patch: &Path, said: &[&str]) {
    let at = address_of(pid, exe, function);
    let before = read_code(pid, at, 16);
    let maps_before = mappings(pid);
    let stderr = live_err(pid, &["--function", function, patch.to_str().unwrap()]);
    for expected in said {
        assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
    }
    assert_eq!(mappings(pid), maps_before);
    assert!(!traced(pid));
    assert_eq!(read_code(pid, at, 16), before);
}

/// A process whose main thread called `pthread_exit` while another thread runs on has no
/// memory map or memory under `/proc/PID` (they belong to the gone thread): live-patch says so,
/// for the pid and for the running thread's id, instead of "no such process", and the thread
/// runs on. A zombie is named as one.
#[test]
fn a_process_whose_main_thread_exited_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let source = r#"
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) long compute(long i) { return i * 2; }
static void *work(void *arg) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long i = 0;; i++) { printf("v %ld %ld\n", i, compute(i)); usleep(20000); }
    return arg;
}
int main(void) { pthread_t t; pthread_create(&t, NULL, work, NULL); pthread_exit(NULL); }
"#;
    let (mut host, _) = start_program(dir.path(), "leaderless", source, &[], |l| {
        l.starts_with("v ")
    });
    let pid = host.pid();
    let patch = object(dir.path(), "patch", PATCH);
    let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let worker = tasks.iter().find(|t| **t != pid.to_string()).unwrap();
    for who in [pid.to_string(), worker.clone()] {
        let said = live_err(&who, &["--function", "compute", patch.to_str().unwrap()]);
        assert!(
            said.contains(&format!(
                "process {pid}: its main thread has exited (pthread_exit) while 1 other thread runs on"
            )),
            "{said}"
        );
    }
    assert!(!traced(pid));
    host.wait_for("the thread running on", Duration::from_secs(5), |l| {
        l.starts_with("v ")
    });

    // A zombie: a child that has exited and that its parent (sh, become sleep) never reaps.
    let mut parent = process("sh");
    parent.args(["-c", "sleep 0 & echo $!; exec sleep 10"]);
    let mut parent = Running::start(&mut parent);
    let child = parent.wait_for("the child's pid", Duration::from_secs(5), |_| true);
    let stat = format!("/proc/{child}/stat");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
        assert!(
            std::time::Instant::now() < deadline,
            "{child} never became a zombie"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let said = live_err(&child, &["--function", "compute", patch.to_str().unwrap()]);
    assert!(
        said.contains(&format!(
            "process {child} has exited (a zombie its parent has not reaped)"
        )),
        "{said}"
    );
}

/// polylink run as another user (`nobody`, through util-linux's setpriv) is refused by the
/// kernel and says why, and the process is untouched. Only root can run a program as another
/// user, so elsewhere the test says it is skipped.
#[test]
fn another_users_process_is_refused_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let uid = String::from_utf8(tool("id").arg("-u").output().unwrap().stdout).unwrap();
    if uid.trim() != "0" {
        eprintln!("skipped: running polylink as another user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_host(dir.path());
    let patch = object(dir.path(), "patch", PATCH);
    // Where `nobody` can read and run them.
    let bin = dir.path().join("polylink");
    std::fs::copy(polylink_tests::polylink_bin(), &bin).unwrap();
    for (path, mode) in [(dir.path(), 0o755), (&bin, 0o755), (&patch, 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let pid = host.pid();
    let at = address_of(pid, &exe, "compute");
    let before = read_code(pid, at, 16);
    let out = tool("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args([
            "live-patch",
            "--pid",
            &pid.to_string(),
            "--function",
            "compute",
        ])
        .arg(&patch)
        .assert()
        .failure()
        .get_output()
        .clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("it runs as another user"), "{said}");
    assert!(said.contains("uid 0 (root)"), "{said}");
    assert!(!traced(pid));
    assert_eq!(read_code(pid, at, 16), before);
    still_old(&mut host);
}

/// A host that leaves no room within 3 GB of its code: every gap there is reserved.
const CROWDED_HOST: &str = r#"
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int scale = 3;
__attribute__((noinline)) long compute(long i) { return i * 2; }
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned long at = (unsigned long)&compute & ~0xfffUL;
    unsigned long lo = at - (3UL << 30), hi = at + (3UL << 30);
    unsigned long starts[512], ends[512];
    int n = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    while (n < 512 && fscanf(maps, "%lx-%lx%*[^\n]", &starts[n], &ends[n]) == 2)
        n++;
    fclose(maps);
    unsigned long cursor = lo;
    for (int k = 0; k <= n; k++) {
        unsigned long next = k < n && starts[k] < hi ? starts[k] : hi;
        if (next > cursor)
            mmap((void *)cursor, next - cursor, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (k < n && ends[k] > cursor)
            cursor = ends[k];
    }
    for (long i = 0;; i++) {
        printf("v %ld %ld\n", i, compute(i));
        usleep(20000);
    }
}
"#;

#[test]
fn no_room_near_the_function_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, exe) = start_program(dir.path(), "crowded", CROWDED_HOST, &[], |l| {
        l.starts_with("v 2 ")
    });
    let pid = host.pid();
    let patch = object(dir.path(), "patch", PATCH);
    refused_and_unchanged(
        pid,
        &exe,
        "compute",
        &patch,
        &[
            &format!("no room in process {pid} for "),
            "within a 32-bit displacement of",
        ],
    );
    still_old(&mut host);
}

/// Four threads check every `compute` result: the old one or the patch's.
const BUSY_HOST: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int scale = 3;
__attribute__((noinline)) long compute(long i) { return i * 2; }
static void *work(void *arg) {
    for (long i = 0;; i++) {
        long r = compute(i);
        if (r != i * 2 && r != i * 100 + 3) { printf("BAD %ld %ld\n", i, r); fflush(stdout); abort(); }
    }
    return arg;
}
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, work, NULL);
    for (long n = 0;; n++) { printf("alive %ld\n", n); usleep(50000); }
}
"#;

#[test]
fn four_busy_threads_see_only_old_or_new_results_across_200_patches() {
    let dir = tempfile::tempdir().unwrap();
    let patch = object(
        dir.path(),
        "quiet",
        "extern int scale; long compute(long i) { return i * 100 + scale; }",
    );
    let path = patch.to_str().unwrap();
    busy_rounds(
        dir.path(),
        "busy",
        BUSY_HOST,
        &[],
        200,
        &["--function", "compute", path],
        "compute",
    );
}

/// Starts the busy program `name` from `source` (built with `flags`), which prints `alive N`
/// while its threads work and `BAD …` before it aborts on a wrong result; then patches it with
/// `patch_args` and undoes `undo` `rounds` times, and asserts that it stayed alive and never
/// saw a wrong result.
fn busy_rounds(
    dir: &Path,
    name: &str,
    source: &str,
    flags: &[&str],
    rounds: usize,
    patch_args: &[&str],
    undo: &str,
) {
    let (mut host, _) = start_program(dir, name, source, flags, |l| l.starts_with("alive"));
    for round in 0..rounds {
        live_beside(&mut host, patch_args);
        live_beside(&mut host, &["--undo", undo]);
        if round % 50 == 0 {
            host.wait_for("alive", Duration::from_secs(10), |l| l.starts_with("alive"));
        }
    }
    let last = host.wait_for("alive at the end", Duration::from_secs(10), |l| {
        l.starts_with("alive")
    });
    assert!(
        !host.seen.iter().any(|l| l.starts_with("BAD")),
        "{last}: {:#?}",
        host.seen
    );
}

/// `polylink live-patch --pid PID ARGS…` on the running `host`; when it fails, what the host
/// printed last (a `BAD` line, or its end) is shown with the command's error.
fn live_beside(host: &mut Running, args: &[&str]) {
    let output = live(host.pid()).args(args).output().unwrap();
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        let what = format!(
            "BAD after `live-patch {}` failed with {said}",
            args.join(" ")
        );
        let bad = host.wait_for(&what, Duration::from_secs(2), |l| l.starts_with("BAD"));
        panic!("live-patch {args:?} failed: {said}; the program printed {bad}");
    }
}

/// A program nobody here wrote: libc's `getpid`, in a running python3 that prints
/// `os.getpid()`, is patched to return 4242, then undone.
#[test]
fn getpid_in_the_libc_of_a_running_python_is_patched_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let patch = object(dir.path(), "getpid", "int getpid(void) { return 4242; }");
    let mut python = process("python3");
    python.args([
        "-u",
        "-c",
        "import os, time\nwhile True:\n    print('pid', os.getpid(), flush=True)\n    time.sleep(0.02)",
    ]);
    let mut python = Running::start(&mut python);
    let pid = python.pid();
    let own = format!("pid {pid}");
    python.wait_for("its own pid", Duration::from_secs(10), |l| l == own);
    let out = live_ok(
        pid,
        &["--function", "libc.so.6:getpid", patch.to_str().unwrap()],
    );
    assert!(out.contains("libc.so.6: at "), "{out}");
    python.wait_for("the patched pid", Duration::from_secs(10), |l| {
        l == "pid 4242"
    });
    live_ok(pid, &["--undo", "libc.so.6:getpid"]);
    python.wait_for("its own pid again", Duration::from_secs(10), |l| l == own);
}

/// `--via got` swaps the executable's GOT cell for a libc function it calls, with one thread
/// held for the store, and undo puts the old pointer back; a function it does not call through
/// its GOT is refused.
#[test]
fn a_got_cell_is_swapped_and_put_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, own) = swap_and_put_back(dir.path(), "caller", &[]);
    let pid = host.pid();
    let patch = dir.path().join("getpid.o");
    let said = live_err(
        pid,
        &[
            "--via",
            "got",
            "--function",
            "compute",
            patch.to_str().unwrap(),
        ],
    );
    assert!(said.contains("has no GOT cell for compute"), "{said}");
    host.wait_for("still running", Duration::from_secs(5), |l| {
        l.starts_with(&own)
    });
}

/// A program linked with `-z now` and built with `-fno-plt` reads `getpid`'s cell from a `.got`
/// that is read-only once relocated (RELRO): the swap makes the page writable for its one
/// store, and it is read-only again after the swap and after the undo.
#[test]
fn a_got_cell_on_a_read_only_page_is_swapped_and_stays_read_only() {
    let dir = tempfile::tempdir().unwrap();
    swap_and_put_back(dir.path(), "relro", &["-fno-plt", "-Wl,-z,now,-z,relro"]);
}

/// Builds a program `name` (gcc -O2 with `flags`) that prints `pid PID N` as it counts, swaps
/// its GOT cell for `getpid` for a patch that returns 4242, checks the cell, the program's
/// output and that the cell's page keeps its permissions, then undoes it. The running program
/// and its own `pid PID ` prefix.
fn swap_and_put_back(dir: &Path, name: &str, flags: &[&str]) -> (Running, String) {
    std::fs::write(
        dir.join(format!("{name}.c")),
        r#"
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) long compute(long i) { return i * 2; }
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long i = 0;; i++) { printf("pid %d %ld\n", getpid(), compute(i)); usleep(20000); }
}
"#,
    )
    .unwrap();
    let source = format!("{name}.c");
    let mut args = vec!["-O2", &source, "-o", name];
    args.extend_from_slice(flags);
    gcc(dir, &args);
    let patch = object(dir, "getpid", "int getpid(void) { return 4242; }");
    let mut host = Running::start(&mut process(dir.join(name)));
    let pid = host.pid();
    let own = format!("pid {pid} ");
    host.wait_for("its own pid", Duration::from_secs(10), |l| {
        l.starts_with(&own)
    });
    let json = live_ok(
        pid,
        &[
            "--json",
            "--via",
            "got",
            "--function",
            "getpid",
            patch.to_str().unwrap(),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["via"], "got");
    assert_eq!(report["thunk"], serde_json::Value::Null);
    let cell = report["sites"][0].as_u64().unwrap();
    assert_eq!(cell % 8, 0);
    let perms = page_perms(pid, cell);
    assert_eq!(
        read_code(pid, cell, 8),
        report["entry"].as_u64().unwrap().to_le_bytes()
    );
    host.wait_for("the patched pid", Duration::from_secs(10), |l| {
        l.starts_with("pid 4242 ")
    });
    live_ok(pid, &["--undo", "getpid"]);
    host.wait_for("its own pid again", Duration::from_secs(10), |l| {
        l.starts_with(&own)
    });
    assert_eq!(
        page_perms(pid, cell),
        perms,
        "the cell's page after the undo"
    );
    let readelf = tool("readelf")
        .args(["-lW"])
        .arg(dir.join(name))
        .output()
        .unwrap();
    let relro = String::from_utf8_lossy(&readelf.stdout).contains("GNU_RELRO");
    let now_bound = flags.iter().any(|f| f.contains("now"));
    // Lazy binding leaves .got.plt writable; -z now with RELRO makes the whole GOT read-only.
    assert_eq!(
        perms.starts_with("r--"),
        now_bound && relro,
        "{name}: the cell's page is {perms}"
    );
    (host, own)
}

/// The permissions (`r--p`) of the mapping that holds `address` in process `pid`.
fn page_perms(pid: u32, address: u64) -> String {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let range = u64::from_str_radix(start, 16).ok()?..u64::from_str_radix(end, 16).ok()?;
            range
                .contains(&address)
                .then(|| fields.next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no mapping of {pid} holds {address:#x}"))
}

/// Four threads check every `getpid`: the program's own pid or the patch's.
const BUSY_GOT_HOST: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static int own;
static void *work(void *arg) {
    for (;;) {
        int r = getpid();
        if (r != own && r != 4242) { printf("BAD %d\n", r); fflush(stdout); abort(); }
    }
    return arg;
}
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    own = getpid();
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, work, NULL);
    for (long n = 0;; n++) { printf("alive %ld\n", n); usleep(50000); }
}
"#;

/// The GOT cell is swapped while four threads call through it without pause: each call reads
/// the old pointer or the new one, never a mix (which would send a thread into nowhere). 100
/// times each way in a lazily bound program, then 50 in one whose GOT is read-only (RELRO), where
/// each swap also changes the page's protection under the callers.
#[test]
fn four_threads_calling_through_a_got_cell_survive_100_swaps() {
    let dir = tempfile::tempdir().unwrap();
    let patch = object(dir.path(), "getpid", "int getpid(void) { return 4242; }");
    let path = patch.to_str().unwrap();
    let args = ["--via", "got", "--function", "getpid", path];
    busy_rounds(
        dir.path(),
        "busy-got",
        BUSY_GOT_HOST,
        &[],
        100,
        &args,
        "getpid",
    );
    let relro = ["-fno-plt", "-Wl,-z,now,-z,relro"];
    busy_rounds(
        dir.path(),
        "busy-relro",
        BUSY_GOT_HOST,
        &relro,
        50,
        &args,
        "getpid",
    );
}

/// A Rust program built with cargo, whose `#[inline(never)] extern "C" fn compute` is patched
/// from a C object and undone.
#[test]
fn a_rust_program_is_patched_from_a_c_object() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"rusthost\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/main.rs"),
        r#"
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn compute(i: i64) -> i64 {
    i * 2
}

fn main() {
    for i in 0.. {
        println!("v {i} {}", compute(std::hint::black_box(i)));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
"#,
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    tool(&cargo)
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .args(["build", "--release", "--quiet", "--offline"])
        .assert()
        .success();
    let patch = object(
        dir.path(),
        "patch",
        "long compute(long i) { return i * 1000; }",
    );
    let mut host = Running::start(&mut process(dir.path().join("target/release/rusthost")));
    host.wait_for("from the Rust host", Duration::from_secs(10), |l| {
        l.starts_with("v 2 ")
    });
    let pid = host.pid().to_string();
    live_ok(&pid, &["--function", "compute", patch.to_str().unwrap()]);
    wait_for_result(&mut host, "patched", |i| 2 * i, |i| 1000 * i);
    live_ok(&pid, &["--undo", "compute"]);
    wait_for_result(&mut host, "undone", |i| 1000 * i, |i| 2 * i);
}

/// `cargo xtask live-speed` patches a running program both ways and prints a median and a
/// slowest time for each row. (The times are figures for the machine, not a test.)
#[test]
fn live_speed_prints_every_row() {
    let output = xtask()
        .args(["live-speed", "--rounds", "2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&output);
    for row in [
        "entry: total, command to new code",
        "entry: threads stopped for the jump",
        "--via got: total, command to new code",
        "--via got: the cell's swap (1 thread held)",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(row))
            .unwrap_or_else(|| panic!("no row {row:?} in:\n{stdout}"));
        let numbers: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(
            numbers.len() >= 2 && numbers[0] > 0.0 && numbers[1] >= numbers[0],
            "{line}"
        );
    }
}
