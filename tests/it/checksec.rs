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
fn each_protection_is_told_apart_and_a_static_canary_is_unknown() {
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
        (
            "static-canary",
            &["-static", "-fstack-protector-all"],
            "no",
            "partial",
            serde_json::Value::Null,
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
            line.is_some_and(|l| l.split_whitespace().nth(1) == Some("yes")),
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
