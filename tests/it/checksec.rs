//! `cargo xtask checksec`: the hardening of every program, held against what readelf shows and
//! against programs linked on purpose with and without each protection.

use std::path::{Path, PathBuf};

use polylink_tests::{build, polylink, polylink_ok, xtask_ok};

fn checksec_json(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let output = polylink_ok(
        &[
            &["checksec", "--json"][..],
            &files
                .iter()
                .map(|f| f.to_str().unwrap())
                .collect::<Vec<_>>(),
        ]
        .concat(),
    );
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn readelf(args: &[&str], file: &Path) -> String {
    let output = polylink_tests::tool("readelf")
        .args(args)
        .arg(file)
        .assert()
        .get_output()
        .clone();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_program_is_nx_and_what_gcc_links_is_pie_as_readelf_shows() {
    let manifest = build();
    let files: Vec<PathBuf> = manifest.programs.iter().map(|p| p.path.clone()).collect();
    let results = checksec_json(&files);
    assert_eq!(results.len(), files.len());
    for (program, h) in manifest.programs.iter().zip(&results) {
        assert_eq!(h["nx"], true, "{h}");
        let segments = readelf(&["-lW"], &program.path);
        let dynamic = readelf(&["-dW"], &program.path);
        let stack = segments.lines().find(|l| l.contains("GNU_STACK")).unwrap();
        assert!(!stack.contains("RWE"), "{stack}");
        let relro = match (
            segments.contains("GNU_RELRO"),
            dynamic.contains("BIND_NOW") || dynamic.contains(" NOW"),
        ) {
            (false, _) => "none",
            (true, true) => "full",
            (true, false) => "partial",
        };
        assert_eq!(h["relro"], relro, "{}", program.name);
        let pie = dynamic
            .lines()
            .any(|l| l.contains("FLAGS_1") && l.contains("PIE"));
        assert_eq!(h["pie"] == "pie", pie, "{}", program.name);
        assert_eq!(
            h["static"],
            !segments.contains("INTERP"),
            "{}",
            program.name
        );
        if program.linker == "gcc" && !program.static_link {
            assert_eq!(
                h["pie"], "pie",
                "gcc links {} as a PIE by default",
                program.name
            );
        }
    }
}

/// Compiles and links `source` with `flags` in `dir` and returns the program.
fn program(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let out = dir.join(name);
    polylink_tests::tool("cc")
        .args(flags)
        .arg(&c)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    out
}

/// A program to link: name, compiler flags, then the expected pie, relro, canary, static, nx.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    serde_json::Value,
    bool,
    bool,
);

#[test]
fn each_protection_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let source = "#include <string.h>\n#include <stdio.h>\nint main(int argc, char **argv) { char buf[64]; strcpy(buf, argv[0]); puts(buf); return argc - 1; }\n";
    let cases: [Case; 7] = [
        (
            "canary",
            &["-fstack-protector-all"],
            "pie",
            "partial",
            true.into(),
            false,
            true,
        ),
        (
            "no-canary",
            &["-fno-stack-protector"],
            "pie",
            "partial",
            false.into(),
            false,
            true,
        ),
        (
            "now",
            &["-fno-stack-protector", "-Wl,-z,now"],
            "pie",
            "full",
            false.into(),
            false,
            true,
        ),
        (
            "no-pie-norelro",
            &["-no-pie", "-Wl,-z,norelro"],
            "no",
            "none",
            false.into(),
            false,
            true,
        ),
        (
            "execstack",
            &["-Wl,-z,execstack"],
            "pie",
            "partial",
            false.into(),
            false,
            false,
        ),
        // A static program defines __stack_chk_fail itself: its code, which reads the guard
        // at %fs:0x28, tells.
        (
            "static-canary",
            &["-static", "-fstack-protector-all"],
            "no",
            "partial",
            true.into(),
            true,
            true,
        ),
        (
            "shared",
            &["-shared", "-fPIC", "-fstack-protector-all"],
            "dso",
            "partial",
            true.into(),
            false,
            true,
        ),
    ];
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, flags, ..)| {
            let flags = [&["-O1"][..], flags].concat();
            program(dir.path(), name, source, &flags)
        })
        .collect();
    let results = checksec_json(&files);
    for ((name, _, pie, relro, canary, static_link, nx), h) in cases.iter().zip(&results) {
        assert_eq!(
            (&h["pie"], &h["relro"], &h["canary"], &h["static"], &h["nx"]),
            (
                &(*pie).into(),
                &(*relro).into(),
                canary,
                &(*static_link).into(),
                &(*nx).into()
            ),
            "{name}: {h}"
        );
        assert!(h["file"].as_str().unwrap().ends_with(name));
    }
}

#[test]
fn build_all_shows_the_hardening_of_every_program() {
    let manifest = build();
    let output = xtask_ok(&["build-all"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("file "), "{stdout}");
    for program in &manifest.programs {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{} ", program.name)));
        assert!(
            // file, class, machine, nx
            line.is_some_and(|l| l.split_whitespace().nth(3) == Some("yes")),
            "{stdout}"
        );
    }
}

#[test]
fn a_file_that_is_not_elf_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a program\n").unwrap();
    let output = polylink()
        .arg("checksec")
        .arg(&text)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("error: {}: not an ELF file", text.display())),
        "{stderr}"
    );
}

/// `readelf`'s words for what checksec reports of `file`: class, machine, RPATH and RUNPATH,
/// whether .symtab and .debug_* sections are there, RWX LOAD segments, the x86 features, and
/// the `__*_chk` functions it calls.
struct ReadelfSays {
    class: String,
    machine: String,
    rpath: Option<String>,
    runpath: Option<String>,
    symtab: bool,
    debug: bool,
    rwx: usize,
    ibt: bool,
    shstk: bool,
    fortified: usize,
}

/// Asserts that checksec's JSON object `h` for the file `name` says what readelf says.
fn assert_agrees(name: &str, h: &serde_json::Value, said: &ReadelfSays) {
    let class = if said.class == "ELF32" {
        "ELF32"
    } else {
        "ELF64"
    };
    assert_eq!(h["class"], class, "{name}: {h}");
    assert_eq!(h["rpath"], serde_json::json!(said.rpath), "{name}: {h}");
    assert_eq!(h["runpath"], serde_json::json!(said.runpath), "{name}: {h}");
    assert_eq!(h["symbols"], said.symtab, "{name}: {h}");
    assert_eq!(h["debug_info"], said.debug, "{name}: {h}");
    assert_eq!(h["rwx_segments"], said.rwx, "{name}: {h}");
    assert_eq!(
        (&h["ibt"], &h["shstk"]),
        (&said.ibt.into(), &said.shstk.into()),
        "{name}"
    );
    // Yes when some dynamic symbol is a checked function; the counts are held to Debian's
    // checksec below.
    assert_eq!(h["fortify"], said.fortified > 0, "{name}: {h}");
}

fn readelf_says(file: &Path) -> ReadelfSays {
    let header = readelf(&["-hW"], file);
    let field = |name: &str| {
        header
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let dynamic = readelf(&["-dW"], file);
    let path = |tag: &str| {
        dynamic
            .lines()
            .find(|l| l.contains(&format!("({tag})")))
            .and_then(|l| {
                l.split_once('[')?
                    .1
                    .split_once(']')
                    .map(|(v, _)| v.to_owned())
            })
    };
    let sections = readelf(&["-SW"], file);
    let segments = readelf(&["-lW"], file);
    let notes = readelf(&["-nW"], file);
    let features = notes
        .lines()
        .find(|l| l.contains("x86 feature:"))
        .unwrap_or_default()
        .to_owned();
    let dyn_syms = readelf(&["--dyn-syms", "-W"], file);
    let chk = dyn_syms
        .lines()
        .filter_map(|l| l.split_whitespace().nth(7))
        .map(|n| n.split('@').next().unwrap())
        .filter(|n| n.ends_with("_chk"))
        .count();
    ReadelfSays {
        class: field("Class:"),
        machine: field("Machine:"),
        rpath: path("RPATH"),
        runpath: path("RUNPATH"),
        symtab: sections.contains(" .symtab "),
        debug: sections.contains(" .debug_"),
        rwx: segments
            .lines()
            .filter(|l| l.trim_start().starts_with("LOAD") && l.contains("RWE"))
            .count(),
        ibt: features.contains("IBT"),
        shstk: features.contains("SHSTK"),
        fortified: chk,
    }
}

/// Each property checksec adds to NX, PIE, RELRO and the canary, on programs linked to have it
/// and to lack it, held to readelf: RPATH and RUNPATH with their values, stripped or not, debug
/// info, an RWX segment, IBT and SHSTK, FORTIFY's counts, and the class and machine of a 32-bit
/// object. libc.so.6, which defines `__stack_chk_fail` and calls it, has a canary, and so does
/// a stripped static program (its code reads the guard at %fs:0x28).
#[test]
fn every_property_agrees_with_readelf() {
    let dir = tempfile::tempdir().unwrap();
    let source = "#include <string.h>\n#include <stdio.h>\n\
        int main(int argc, char **argv) { char buf[64]; strcpy(buf, argv[0]); \
        printf(\"%s %d\\n\", buf, argc); return 0; }\n\
        __asm__(\".pushsection .note.GNU-stack,\\\"\\\",@progbits\\n.popsection\");\n";
    let rwx = "int main(void) { return 0; }\n\
        __asm__(\".section .rwxsec,\\\"awx\\\",@progbits\\n.byte 0xc3\\n.previous\");\n";
    let cases: [(&str, &str, &[&str]); 8] = [
        ("plain", source, &[]),
        (
            "rpath",
            source,
            &["-Wl,--disable-new-dtags,-rpath,/opt/old:/opt/two"],
        ),
        (
            "runpath",
            source,
            &["-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"],
        ),
        ("debug", source, &["-g"]),
        ("fortify", source, &["-O2", "-D_FORTIFY_SOURCE=2"]),
        (
            "cet",
            source,
            &["-fcf-protection=full", "-Wl,-z,ibt,-z,shstk"],
        ),
        ("rwx", rwx, &["-Wl,--no-warn-rwx-segments"]),
        ("static", source, &["-static", "-fstack-protector-strong"]),
    ];
    let mut files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, source, flags)| program(dir.path(), name, source, flags))
        .collect();
    let stripped = dir.path().join("stripped-static");
    polylink_tests::tool("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&files[7])
        .assert()
        .success();
    files.push(stripped);
    let as32 = dir.path().join("x32.s");
    std::fs::write(&as32, ".text\n.globl f\nf: ret\n").unwrap();
    let object32 = dir.path().join("x32.o");
    polylink_tests::tool("as")
        .args(["--32", "-o"])
        .arg(&object32)
        .arg(&as32)
        .assert()
        .success();
    files.push(object32);
    let results = checksec_json(&files);
    for (file, h) in files.iter().zip(&results) {
        let said = readelf_says(file);
        let machine = match said.machine.as_str() {
            "Advanced Micro Devices X86-64" => "x86-64",
            "Intel 80386" => "i386",
            other => other,
        };
        let name = file.file_name().unwrap().to_string_lossy();
        assert_eq!(h["machine"], machine, "{name}: {h}");
        assert_agrees(&name, h, &said);
    }
    // Each case has what it was linked for, and the plain program lacks it.
    let by_name = |n: &str| &results[files.iter().position(|f| f.ends_with(n)).unwrap()];
    let plain = by_name("plain");
    assert_eq!(by_name("rpath")["rpath"], "/opt/old:/opt/two");
    assert_eq!(by_name("runpath")["runpath"], "$ORIGIN/../lib");
    assert_eq!(
        (&plain["rpath"], &plain["runpath"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert_eq!(
        (&by_name("debug")["debug_info"], &plain["debug_info"]),
        (&true.into(), &false.into())
    );
    assert!(by_name("fortify")["fortified"].as_u64().unwrap() > 0);
    assert_eq!(plain["fortified"], 0);
    assert!(by_name("fortify")["fortifiable"].as_u64() >= by_name("fortify")["fortified"].as_u64());
    assert_eq!(
        (&by_name("cet")["ibt"], &by_name("cet")["shstk"]),
        (&true.into(), &true.into())
    );
    assert_eq!(plain["ibt"], false);
    assert_eq!(
        (&by_name("rwx")["rwx_segments"], &plain["rwx_segments"]),
        (&1.into(), &0.into())
    );
    assert_eq!(by_name("stripped-static")["symbols"], false);
    assert_eq!(by_name("stripped-static")["canary"], true);
    assert_eq!(by_name("x32.o")["class"], "ELF32");

    let libc = checksec_json(&[PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6")]);
    assert_eq!(libc[0]["canary"], true, "{}", libc[0]);
}

/// The same properties on files nobody here wrote: programs in /usr/bin and libraries in
/// /usr/lib, every 7th ELF file of each (about a hundred), held to readelf.
#[test]
fn system_files_agree_with_readelf() {
    let mut files = Vec::new();
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.is_file() && !p.is_symlink())
            .filter(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF")))
            .collect();
        entries.sort();
        files.extend(entries.into_iter().step_by(7));
    }
    assert!(files.len() > 20, "{files:?}");
    let results = checksec_json(&files);
    for (file, h) in files.iter().zip(&results) {
        assert_agrees(&file.display().to_string(), h, &readelf_says(file));
    }
}

/// A file cut short is named as a truncated ELF file, with what is cut and where.
#[test]
fn a_truncated_elf_file_says_where_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let program = program(dir.path(), "whole", "int main(void) { return 0; }\n", &[]);
    let bytes = std::fs::read(&program).unwrap();
    let cut = |len: usize| {
        let path = dir.path().join(format!("cut-{len}"));
        std::fs::write(&path, &bytes[..len]).unwrap();
        path
    };
    for (len, want) in [
        (
            40,
            "a truncated ELF64 file: its header needs 64 bytes, and the file has 40".to_owned(),
        ),
        (
            1000,
            "a truncated ELF file: its section headers (".to_owned(),
        ),
    ] {
        let file = cut(len);
        let output = polylink().arg("checksec").arg(&file).assert().code(1);
        let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("error: {}: {want}", file.display())),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("past the file's {len} bytes")) || len == 40,
            "{stderr}"
        );
    }
}

/// Debian's checksec 2.6 (`apt-get install checksec`) and ours, on programs linked to have and
/// to lack each property and on every 25th program or shared object of /usr/bin and /usr/lib: RELRO, NX, PIE,
/// RPATH, RUNPATH, symbols, and FORTIFY with both counts as Debian's counts them. The canary
/// too, except in static programs, where Debian's looks for symbols and ours at the code.
#[test]
fn every_verdict_agrees_with_debians_checksec() {
    let dir = tempfile::tempdir().unwrap();
    let source = "#include <string.h>\n#include <stdio.h>\n\
        int main(int argc, char **argv) { char buf[64]; strcpy(buf, argv[0]); \
        memcpy(buf + 1, argv[0], argc); printf(\"%s %d\\n\", buf, argc); return 0; }\n";
    let cases: [(&str, &[&str]); 7] = [
        ("plain", &[]),
        ("fortify", &["-O2", "-D_FORTIFY_SOURCE=2"]),
        ("now", &["-Wl,-z,now", "-fstack-protector-all"]),
        (
            "norelro",
            &["-no-pie", "-Wl,-z,norelro", "-fno-stack-protector"],
        ),
        ("execstack", &["-z", "execstack"]),
        ("rpath", &["-Wl,--disable-new-dtags,-rpath,/opt/lib"]),
        ("runpath", &["-Wl,--enable-new-dtags,-rpath,/opt/lib"]),
    ];
    let mut files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, flags)| program(dir.path(), name, source, flags))
        .collect();
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.is_file() && !p.is_symlink())
            // Programs and shared objects (ET_EXEC, ET_DYN): what Debian's checksec is for.
            .filter(|p| {
                std::fs::read(p)
                    .is_ok_and(|b| b.starts_with(b"\x7fELF") && matches!(b.get(16), Some(2 | 3)))
            })
            .collect();
        entries.sort();
        files.extend(entries.into_iter().step_by(25));
    }
    files.push("/lib/x86_64-linux-gnu/libc.so.6".into());
    let ours = checksec_json(&files);
    let yes = |b: bool| if b { "yes" } else { "no" };
    for (file, h) in files.iter().zip(&ours) {
        let output = polylink_tests::tool("checksec")
            .arg(format!("--file={}", file.display()))
            .arg("--output=json")
            .output()
            .unwrap_or_else(|e| {
                panic!("checksec: {e}; install it with `sudo apt-get install checksec`")
            });
        let debian: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("checksec on {}: {e}", file.display()));
        let d = &debian[file.to_str().unwrap()];
        let name = file.display();
        let relro = match h["relro"].as_str().unwrap() {
            "none" => "no",
            other => other,
        };
        let pie = match h["pie"].as_str().unwrap() {
            "pie" => "yes",
            other => other,
        };
        for (what, theirs, mine) in [
            ("relro", &d["relro"], relro.to_owned()),
            ("nx", &d["nx"], yes(h["nx"] == true).to_owned()),
            ("pie", &d["pie"], pie.to_owned()),
            ("rpath", &d["rpath"], yes(!h["rpath"].is_null()).to_owned()),
            (
                "runpath",
                &d["runpath"],
                yes(!h["runpath"].is_null()).to_owned(),
            ),
            (
                "symbols",
                &d["symbols"],
                yes(h["symbols"] == true).to_owned(),
            ),
            (
                "fortify",
                &d["fortify_source"],
                yes(h["fortify"] == true).to_owned(),
            ),
            ("fortified", &d["fortified"], h["fortified"].to_string()),
            (
                "fortifiable",
                &d["fortify-able"],
                h["fortifiable"].to_string(),
            ),
        ] {
            assert_eq!(
                theirs,
                &serde_json::json!(mine),
                "{name} {what}: {d} against {h}"
            );
        }
        if h["static"] != true {
            assert_eq!(
                d["canary"],
                yes(h["canary"] == true),
                "{name}: {d} against {h}"
            );
        }
    }
    let by_name = |n: &str| &ours[files.iter().position(|f| f.ends_with(n)).unwrap()];
    assert!(by_name("fortify")["fortified"].as_u64().unwrap() > 0);
    assert_eq!(by_name("plain")["fortified"], 0);
}
