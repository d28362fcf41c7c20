//! polylink run: raw code loaded, sealed and called, and refused with a clear error when it
//! cannot be run.

use polylink_exec::{CodeBuffer, ModuleBuilder};
use polylink_tests::{nasm, polylink};

const ADD: &str = "bits 64\nmov rax, rdi\nadd rax, rsi\nret\n";

#[test]
fn raw_code_from_nasm_runs_through_polylink_run() {
    let dir = tempfile::tempdir().unwrap();
    let bin = nasm(dir.path(), "add", "bin", ADD);
    assert_eq!(std::fs::read(&bin).unwrap().len(), 7);
    let output = polylink()
        .arg("run")
        .arg(&bin)
        .args(["40", "2"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "42\n");
    let output = polylink()
        .arg("run")
        .arg(&bin)
        .args(["0xffffffffffffffff", "2"])
        .assert()
        .get_output()
        .clone();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1\n",
        "wraps as u64"
    );
}

#[test]
fn bad_raw_code_and_bad_arguments_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let add = nasm(dir.path(), "add", "bin", ADD);
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let huge = dir.path().join("huge.bin");
    std::fs::write(&huge, vec![0xc3; polylink_exec::raw::MAX_RAW_CODE + 1]).unwrap();
    let missing = dir.path().join("missing.bin");
    let seven = ["1", "2", "3", "4", "5", "6", "7"];
    let cases: [(&std::path::Path, &[&str], i32, String); 5] = [
        (
            &missing,
            &[],
            1,
            format!(
                "could not read raw code {}: No such file",
                missing.display()
            ),
        ),
        (
            &empty,
            &[],
            1,
            format!("raw code is 0 bytes: {}", empty.display()),
        ),
        (
            &huge,
            &[],
            1,
            format!(
                "raw code is 1048577 bytes, more than the limit of 1048576 bytes: {}",
                huge.display()
            ),
        ),
        (
            &add,
            &seven,
            1,
            "7 arguments given: machine code is called with at most 6".into(),
        ),
        (&add, &["-1"], 2, "not an unsigned 64-bit integer".into()),
    ];
    for (file, args, status, message) in cases {
        let output = polylink()
            .arg("run")
            .arg(file)
            .args(args)
            .assert()
            .code(status)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&message), "no {message:?} in: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

/// `polylink run` refuses what is not a whole function by name, exit status 1, never a signal:
/// an ELF object, assembly text, bytes that do not decode, a trap, code that runs off its end,
/// and files that are not regular (a FIFO once hung it, /dev/zero once ate 2 GB). `--unchecked`
/// runs code the check refuses: here a function whose trap is on a path it does not take.
#[test]
fn code_that_is_not_a_whole_function_is_refused_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let raw = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let object = nasm(dir.path(), "add", "elf64", ADD);
    let fifo = dir.path().join("fifo");
    polylink_tests::tool("mkfifo").arg(&fifo).assert().success();
    let cases = [
        (
            object,
            "add.elf64 is an ELF file (an object or a program), not raw code",
        ),
        (
            dir.path().join("add.asm"),
            "is a text file (assembly source?), not raw code",
        ),
        (
            raw("06.bin", b"\x06\xc3"),
            "06.bin does not decode as x86-64 code at offset 0",
        ),
        (
            raw("ud2.bin", b"\x0f\x0b"),
            "`ud2` raises an invalid-opcode exception",
        ),
        (raw("hlt.bin", b"\xf4\xc3"), "`hlt` is privileged"),
        (raw("noret.bin", b"\x48\x89\xf8"), "can run past its end"),
        (fifo, "is a FIFO (named pipe), not a regular file"),
        ("/dev/zero".into(), "/dev/zero is a character device"),
        (dir.path().to_path_buf(), "is a directory"),
    ];
    for (file, message) in &cases {
        let output = polylink()
            .arg("run")
            .arg(file)
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "no {message:?} in: {stderr}");
    }
    // test rdi, rdi; jnz +2; ud2; mov rax, rdi; ret
    let guarded = raw(
        "guarded.bin",
        b"\x48\x85\xff\x75\x02\x0f\x0b\x48\x89\xf8\xc3",
    );
    let refused = polylink()
        .arg("run")
        .arg(&guarded)
        .arg("5")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("traps at offset 5"), "{stderr}");
    polylink()
        .args(["run", "--unchecked"])
        .arg(&guarded)
        .arg("5")
        .assert()
        .success()
        .stdout("5\n");
}

/// Code that needs a CPU feature this CPU lacks is refused before it runs: exit status 1 and a
/// message, never SIGILL. The feature is one this CPU really lacks when there is one among the
/// candidates; otherwise AVX2 is hidden from polylink through its environment.
#[test]
fn code_needing_a_missing_cpu_feature_is_refused_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let candidates = [
        ("AVX512_FP16", "vaddph zmm0, zmm1, zmm2"),
        ("AVX512_BF16", "vdpbf16ps zmm0, zmm1, zmm2"),
        ("AVX512F", "vpaddd zmm0, zmm1, zmm2"),
        ("AVX2", "vpaddd ymm0, ymm1, ymm2"),
    ];
    let mut command = polylink();
    let (feature, bin) = candidates
        .iter()
        .enumerate()
        .find_map(|(i, (feature, instruction))| {
            let source = format!("bits 64\n{instruction}\nret\n");
            let bin = nasm(dir.path(), &format!("needs{i}"), "bin", &source);
            let code = std::fs::read(&bin).unwrap();
            let needed = polylink_exec::cpu::required_features(&code);
            let absent = needed
                .iter()
                .any(|f| polylink_exec::cpu::available(*f) == Some(false));
            absent.then_some((*feature, bin))
        })
        .unwrap_or_else(|| {
            command.env("POLYLINK_HIDE_CPU_FEATURES", "AVX2");
            let source = "bits 64\nvpaddd ymm0, ymm1, ymm2\nvzeroupper\nret\n";
            ("AVX2", nasm(dir.path(), "avx2", "bin", source))
        });
    let output = command
        .arg("run")
        .arg(&bin)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = format!("needs the CPU feature {feature}, which this CPU does not have");
    assert!(stderr.contains(&message), "no {message:?} in: {stderr}");
}

/// The mappings of this process that are writable and executable at once.
fn writable_and_executable_mappings() -> Vec<String> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|line| {
            let perms = line.split_whitespace().nth(1).unwrap_or("");
            perms.contains('w') && perms.contains('x')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_mapping_is_ever_writable_and_executable() {
    let mut buffer = CodeBuffer::with_capacity(4096).unwrap();
    buffer
        .push(&[0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3])
        .unwrap();
    assert_eq!(
        writable_and_executable_mappings(),
        Vec::<String>::new(),
        "while writable"
    );
    let sealed = buffer.seal().unwrap();
    assert_eq!(
        writable_and_executable_mappings(),
        Vec::<String>::new(),
        "while sealed"
    );
    // The kernel merges neighbouring mappings with equal permissions (another test's sealed
    // code, say), so look for the line whose range holds the code.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let holds_code = |line: &&str| {
        let range = line.split_whitespace().next().unwrap_or("");
        let (start, end) = range.split_once('-').unwrap_or(("", ""));
        let parse = |hex| usize::from_str_radix(hex, 16).unwrap_or(0);
        (parse(start)..parse(end)).contains(&sealed.address())
    };
    let line = maps.lines().find(holds_code).expect("the code's mapping");
    let perms = line.split_whitespace().nth(1).unwrap();
    assert!(perms.starts_with("r-x"), "{line}");
    let buffer = sealed.unseal().unwrap();
    assert_eq!(
        writable_and_executable_mappings(),
        Vec::<String>::new(),
        "unsealed"
    );
    drop(buffer);
}

/// The number of mappings of this process, and the size of its address space in KiB.
fn mappings_and_vm_size() -> (usize, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    (
        maps,
        line.split_whitespace().nth(1).unwrap().parse().unwrap(),
    )
}

/// Each cycle maps, seals and unmaps a module. A leaked mapping per cycle would add 100 000
/// mappings and 400 000 KiB; the tests running beside this one (in other threads of this
/// process) move the figures by dozens of mappings and tens of MiB.
#[test]
fn a_hundred_thousand_seals_leave_memory_flat() {
    let cycle = || {
        let mut module = ModuleBuilder::new();
        module.add("ret", &[0xc3]);
        drop(module.build().unwrap());
    };
    for _ in 0..1000 {
        cycle();
    }
    let (maps_before, vm_before) = mappings_and_vm_size();
    for _ in 0..100_000 {
        cycle();
    }
    let (maps_after, vm_after) = mappings_and_vm_size();
    let grown = vm_after.saturating_sub(vm_before);
    assert!(
        maps_after < maps_before + 1000,
        "{maps_before} mappings became {maps_after}"
    );
    assert!(grown < 200 * 1024, "the address space grew by {grown} KiB");
}

/// Machine code no one here wrote: gcc -O2 compiles a leaf function, its bytes are cut out of
/// the object by symbol (they need no relocations), and polylink runs them. The same object
/// linked into a C program gives the native answers to compare with.
#[test]
fn a_leaf_function_cut_out_of_gcc_output_agrees_with_the_native_call() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("gcd.c");
    std::fs::write(
        &c,
        "unsigned long gcd(unsigned long a, unsigned long b) {\n\
         \x20   while (b) { unsigned long t = a % b; a = b; b = t; }\n\
         \x20   return a;\n}\n",
    )
    .unwrap();
    let main = dir.path().join("main.c");
    std::fs::write(
        &main,
        "#include <stdio.h>\n#include <stdlib.h>\n\
         unsigned long gcd(unsigned long, unsigned long);\n\
         int main(int argc, char **argv) {\n\
         \x20   printf(\"%lu\\n\", gcd(strtoul(argv[1], 0, 0), strtoul(argv[2], 0, 0)));\n\
         \x20   return argc != 3;\n}\n",
    )
    .unwrap();
    let object = dir.path().join("gcd.o");
    let native = dir.path().join("native");
    for args in [
        vec![
            "-O2",
            "-c",
            "-o",
            object.to_str().unwrap(),
            c.to_str().unwrap(),
        ],
        vec![
            "-O2",
            "-o",
            native.to_str().unwrap(),
            main.to_str().unwrap(),
            object.to_str().unwrap(),
        ],
    ] {
        polylink_tests::tool("cc").args(&args).assert().success();
    }
    let (bytes, relocations) = xtask::compare::routine_in_object(&object, "gcd").unwrap();
    assert_eq!(relocations, 0, "a leaf function needs no relocations");
    let raw = dir.path().join("gcd.bin");
    std::fs::write(&raw, &bytes).unwrap();

    for (a, b) in [
        (48u64, 18u64),
        (0, 7),
        (7, 0),
        (1071, 462),
        (u64::MAX, 3 << 40),
        (97, 89),
    ] {
        let (a, b) = (a.to_string(), b.to_string());
        let expected = polylink_tests::tool(&native)
            .args([&a, &b])
            .assert()
            .get_output()
            .clone();
        let got = polylink()
            .arg("run")
            .arg(&raw)
            .args([&a, &b])
            .assert()
            .success()
            .get_output()
            .clone();
        assert_eq!(got.stdout, expected.stdout, "gcd({a}, {b})");
    }
}
