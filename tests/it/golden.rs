//! Golden files for the printers, in the style of the `object` crate's testfiles: small ELF
//! fixtures made by `tests/data/elf/make.sh` (an object with every kind of symbol, two
//! archives, a shared object with symbol versions, two programs), and what `polylink nm` (with
//! several sets of flags), `polylink checksec` (table and JSON) and `polylink link-order` print
//! for them, under `tests/data/elf/golden/`. One test walks them; `POLYLINK_BLESS=1` rewrites
//! them. The nm goldens are also held to GNU nm itself, so a blessed golden cannot be wrong.

use std::path::{Path, PathBuf};

use polylink_tests::{check_golden, polylink, root, tool};

const FIXTURES: [&str; 7] = [
    "kinds.o",
    "main.o",
    "liba.a",
    "libb.a",
    "libshared.so",
    "prog",
    "prog-nopie",
];

/// Flag sets for nm, by name; `dynamic` ones only for files with a dynamic symbol table.
const NM_FLAGS: [(&str, &[&str]); 8] = [
    ("default", &[]),
    ("extern-file", &["-A", "-g"]),
    ("posix", &["-P"]),
    ("numeric-size", &["-n", "-S"]),
    ("undefined", &["-u"]),
    ("defined-reverse", &["--defined-only", "-r"]),
    ("no-sort", &["-p"]),
    ("dynamic", &["-D"]),
];

fn dir() -> PathBuf {
    root().join("tests/data/elf")
}

/// Runs polylink in the fixtures' directory (so paths print as bare names); returns what it
/// printed, with its exit code on the first line when it is not 0.
fn polylink_in_fixtures(args: &[&str]) -> String {
    let ran = polylink().args(args).current_dir(dir()).assert();
    let output = ran.get_output();
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 1)) && !String::from_utf8_lossy(&output.stderr).contains("panick"),
        "{ran}"
    );
    let stdout = String::from_utf8(output.stdout.clone()).expect("polylink prints UTF-8 here");
    match code {
        Some(0) => stdout,
        _ => format!("exit: {}\n{stdout}", code.unwrap_or(-1)),
    }
}

fn has_dynamic_symbols(file: &str) -> bool {
    matches!(file, "libshared.so" | "prog" | "prog-nopie")
}

#[test]
fn printers_match_their_golden_files() {
    let mut checked = 0;
    for file in FIXTURES {
        assert!(
            dir().join(file).is_file(),
            "no fixture {file}: run tests/data/elf/make.sh"
        );
        for (name, flags) in NM_FLAGS {
            if name == "dynamic" && !has_dynamic_symbols(file) {
                continue;
            }
            let args: Vec<&str> = ["nm"]
                .into_iter()
                .chain(flags.iter().copied())
                .chain([file])
                .collect();
            let ours = polylink_in_fixtures(&args);
            check_golden(&format!("elf/golden/nm/{file}.{name}.txt"), &ours);
            assert_eq!(
                ours,
                gnu_nm(flags, file),
                "polylink nm {flags:?} {file} against GNU nm"
            );
            checked += 1;
        }
        let json = polylink_in_fixtures(&["nm", "--format", "json", file]);
        check_golden(&format!("elf/golden/nm/{file}.json"), &json);
        checked += 1;
    }
    let programs = ["prog", "prog-nopie", "libshared.so", "kinds.o"];
    let table = polylink_in_fixtures(&[&["checksec"][..], &programs].concat());
    check_golden("elf/golden/checksec.txt", &table);
    let json = polylink_in_fixtures(&[&["checksec", "--json"][..], &programs].concat());
    check_golden("elf/golden/checksec.json", &json);
    for (name, line) in [
        ("links", &["main.o", "liba.a", "libb.a"][..]),
        ("archive-first", &["liba.a", "main.o", "libb.a"]),
        ("archives-swapped", &["main.o", "libb.a", "liba.a"]),
        (
            "grouped",
            &["main.o", "--start-group", "libb.a", "liba.a", "--end-group"],
        ),
        ("dot", &["--dot", "-", "main.o", "libb.a", "liba.a"]),
    ] {
        let report = polylink_in_fixtures(&[&["link-order"][..], line].concat());
        check_golden(&format!("elf/golden/link-order/{name}.txt"), &report);
        checked += 1;
    }
    assert!(checked > 50, "only {checked} goldens checked");
}

/// What GNU nm prints for `file` with `flags` (no plugin, C locale), with its exit code on the
/// first line when it is not 0, as `polylink_in_fixtures` writes it.
fn gnu_nm(flags: &[&str], file: &str) -> String {
    let ran = tool("nm")
        .args(["--plugin", "/dev/null"])
        .args(flags)
        .arg(file)
        .env("LC_ALL", "C")
        .current_dir(Path::new(&dir()))
        .assert();
    let output = ran.get_output();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.code() {
        Some(0) => stdout,
        code => format!("exit: {}\n{stdout}", code.unwrap_or(-1)),
    }
}
