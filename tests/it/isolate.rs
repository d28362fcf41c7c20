//! `polylink isolate`: several Rust staticlibs in one C (or C++) program. The libraries are
//! built here with rustc (no dependencies, no network), with LTO and without, one of them by
//! another toolchain when one is installed; linked naively they collide, isolated they link and
//! each catches its own panics.

use std::path::{Path, PathBuf};

use polylink_tests::{Command, build, native_libs, polylink, process, tool};

/// The Rust source of library `name`: two C functions that print, catch a panic at their
/// boundary, spawn a thread, use a HashMap and a thread-local, allocate, and read the program's
/// arguments, which std learns from its `.init_array`.
fn library_source(name: &str) -> String {
    format!(
        r#"use std::cell::Cell;
use std::collections::HashMap;

thread_local! {{ static CALLS: Cell<u32> = const {{ Cell::new(0) }}; }}

fn work(n: i32) -> i32 {{
    if n < 0 {{
        panic!("{name}: asked for {{n}}");
    }}
    let mut squares = HashMap::new();
    for i in 0..n {{
        squares.insert(i, i * i);
    }}
    let values: Vec<i32> = squares.values().copied().collect();
    let sum = std::thread::spawn(move || values.iter().sum::<i32>()).join().unwrap();
    CALLS.with(|c| c.set(c.get() + 1));
    // std fills its arguments from .init_array: 1 here means this library's ran.
    let args = std::env::args().count();
    println!("{name}: {{n}} squares sum to {{sum}}, call {{}} on this thread, {{args}} argument(s)", CALLS.with(|c| c.get()));
    sum
}}

#[unsafe(no_mangle)]
pub extern "C" fn {name}_work(n: i32) -> i32 {{
    std::panic::catch_unwind(|| work(n)).unwrap_or(-1)
}}

#[unsafe(no_mangle)]
pub extern "C" fn {name}_twice(n: i32) -> i32 {{
    std::panic::catch_unwind(|| work(n) + work(n)).unwrap_or(-2)
}}
"#
    )
}

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

/// The C program that calls every library, flushing after each line so that its lines and the
/// libraries' own stay in order on a pipe.
fn c_main() -> String {
    let mut text = String::from("#include <stdio.h>\n");
    for n in NAMES {
        text += &format!("int {n}_work(int); int {n}_twice(int);\n");
    }
    text += "int main(void) {\n";
    for (i, n) in NAMES.iter().enumerate() {
        let k = i + 2;
        text += &format!(
            "  printf(\"{n}_work({k}) = %d\\n\", {n}_work({k})); fflush(stdout);\n  \
             printf(\"{n}_twice(-1) = %d\\n\", {n}_twice(-1)); fflush(stdout);\n"
        );
    }
    text + "  return 0;\n}\n"
}

/// What the program prints: each library's line, then C's, in call order.
fn expected() -> String {
    let mut text = String::new();
    for (i, n) in NAMES.iter().enumerate() {
        let k = i as i32 + 2;
        let sum: i32 = (0..k).map(|x| x * x).sum();
        text += &format!("{n}: {k} squares sum to {sum}, call 1 on this thread, 1 argument(s)\n");
        text += &format!("{n}_work({k}) = {sum}\n{n}_twice(-1) = -2\n");
    }
    text
}

/// Whether a second toolchain is installed (rustup's `+nightly`).
fn nightly() -> bool {
    tool("rustc")
        .args(["+nightly", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the three libraries into `dir` (LTO or not); the third with nightly when there is one.
fn libraries(dir: &Path, lto: bool) -> Vec<PathBuf> {
    let other = nightly();
    if !other {
        eprintln!("no second toolchain (rustc +nightly): all three libraries use the stable one");
    }
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            std::fs::write(dir.join(format!("{name}.rs")), library_source(name)).unwrap();
            let lib = dir.join(format!("lib{name}.a"));
            let mut command = tool("rustc");
            if i == 2 && other {
                command.arg("+nightly");
            }
            command
                .args([
                    "--edition",
                    "2024",
                    "--crate-type",
                    "staticlib",
                    "-C",
                    "opt-level=1",
                ])
                .args(if lto { &["-C", "lto"][..] } else { &[] })
                .arg(format!("{name}.rs"))
                .arg("-o")
                .arg(&lib)
                .current_dir(dir)
                .assert()
                .success();
            lib
        })
        .collect()
}

fn isolate(input: &Path) -> PathBuf {
    let output = input.with_file_name(format!(
        "{}-isolated.a",
        input.file_stem().unwrap().to_string_lossy()
    ));
    polylink()
        .arg("isolate")
        .arg(input)
        .arg("-o")
        .arg(&output)
        .assert()
        .success();
    output
}

/// Links `main.o` with `libs` by `driver`, runs the program, and checks its stdout.
fn link_and_run(dir: &Path, driver: &str, libs: &[PathBuf]) {
    tool(driver)
        .args(["-o", "prog", "main.o"])
        .args(libs)
        .args(native_libs())
        .current_dir(dir)
        .assert()
        .success();
    let mut run = process(dir.join("prog"));
    run.env("RUST_BACKTRACE", "0");
    Command::from_std(run).assert().success().stdout(expected());
}

/// Writes `source` as `dir/file` and compiles it with `compiler` into `dir/main.o`.
fn compile_main(dir: &Path, compiler: &str, file: &str, source: &str) {
    std::fs::write(dir.join(file), source).unwrap();
    tool(compiler)
        .args(["-c", file, "-o", "main.o"])
        .current_dir(dir)
        .assert()
        .success();
}

#[test]
fn three_lto_staticlibs_collide_naively_and_link_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    compile_main(d, "gcc", "main.c", &c_main());
    let libs = libraries(d, true);

    // Naively: multiple definitions, and the doctor names the kind and the libraries.
    let mut naive = vec![
        "gcc".to_owned(),
        "-o".into(),
        "prog".into(),
        "main.o".into(),
    ];
    naive.extend(libs.iter().map(|l| l.display().to_string()));
    naive.extend(native_libs().into_iter().map(String::from));
    let doctor = polylink()
        .args(["link", "--json", "--"])
        .args(&naive)
        .current_dir(d)
        .assert()
        .code(1);
    let verdict: serde_json::Value = serde_json::from_slice(&doctor.get_output().stdout).unwrap();
    let text = verdict.to_string();
    assert!(text.contains("duplicate-rust-runtime"), "{verdict:#}");
    assert!(
        text.contains("libalpha.a") && text.contains("libbeta.a"),
        "{verdict:#}"
    );

    // --fix-isolate writes the isolated archives and proposes the command that uses them,
    // which links (the doctor checked, and so does this test) and runs right.
    let doctor = polylink()
        .args(["link", "--json", "--fix-isolate", "isolated", "--"])
        .args(&naive)
        .current_dir(d)
        .assert()
        .code(1);
    let verdict: serde_json::Value = serde_json::from_slice(&doctor.get_output().stdout).unwrap();
    let fixed: Vec<String> = verdict["fixed"]
        .as_array()
        .unwrap_or_else(|| panic!("no fixed command: {verdict:#}"))
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    assert!(
        fixed.iter().any(|w| w.ends_with("libalpha-isolated.a")),
        "{fixed:?}"
    );
    tool(&fixed[0])
        .args(&fixed[1..])
        .current_dir(d)
        .assert()
        .success();
    let mut run = process(d.join("prog"));
    run.env("RUST_BACKTRACE", "0");
    Command::from_std(run).assert().success().stdout(expected());

    let isolated: Vec<PathBuf> = libs.iter().map(|l| isolate(l)).collect();
    link_and_run(d, "gcc", &isolated);
    // Each isolated library keeps only its two C functions global.
    for (lib, name) in isolated.iter().zip(NAMES) {
        let listing = polylink()
            .args(["nm", "-g", "--defined-only"])
            .arg(lib)
            .assert()
            .success();
        let names: Vec<String> = String::from_utf8_lossy(&listing.get_output().stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
            .collect();
        assert_eq!(names, [format!("{name}_twice"), format!("{name}_work")]);
    }
}

#[test]
fn three_staticlibs_without_lto_link_isolated_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    compile_main(d, "gcc", "main.c", &c_main());
    let libs = libraries(d, false);
    let isolated: Vec<PathBuf> = libs.iter().map(|l| isolate(l)).collect();
    link_and_run(d, "gcc", &isolated);
}

/// A C++ main links two isolated libraries with g++.
#[test]
fn a_cxx_main_links_isolated_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cxx = c_main()
        .replace(
            "#include <stdio.h>\n",
            "#include <cstdio>\nextern \"C\" {\n",
        )
        .replacen("int main(void) {", "}\nint main() {", 1);
    compile_main(d, "g++", "main.cpp", &cxx);
    let libs = libraries(d, true);
    let isolated: Vec<PathBuf> = libs.iter().map(|l| isolate(l)).collect();
    link_and_run(d, "g++", &isolated);
}

/// The project's own library, isolated, still gives c-main's golden output.
#[test]
fn the_project_library_isolated_gives_the_same_program() {
    let manifest = build();
    let lib = &manifest.staticlib("libpolylink.a").unwrap().path;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libpolylink.a");
    std::fs::copy(lib, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let isolated = isolate(&copy);
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the input was changed"
    );
    let objects = ["c-main.o", "tour.o"].map(|o| manifest.object(o).unwrap().path.clone());
    tool("cc")
        .arg("-o")
        .arg(dir.path().join("c-main"))
        .args(&objects)
        .arg(&isolated)
        .args(native_libs())
        .assert()
        .success();
    use std::os::unix::process::CommandExt;
    let mut run = process(dir.path().join("c-main"));
    run.arg0("c-main").args(["42", "x"]);
    let golden =
        std::fs::read_to_string(polylink_tests::root().join("tests/data/c-main.stdout")).unwrap();
    Command::from_std(run).assert().success().stdout(golden);
}

#[test]
fn bad_inputs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixtures = polylink_tests::root().join("tests/data/elf");
    let refuse = |args: &[&std::ffi::OsStr], says: &str| {
        let ran = polylink().arg("isolate").args(args).assert().code(1);
        let stderr = String::from_utf8_lossy(&ran.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    let out = d.join("out.a");
    let object = fixtures.join("kinds.o");
    refuse(
        &[object.as_os_str(), "-o".as_ref(), out.as_os_str()],
        "not an archive",
    );
    std::fs::write(d.join("t32.asm"), "section .text\nglobal f32\nf32:\n ret\n").unwrap();
    tool("nasm")
        .args(["-f", "elf32", "-o", "t32.o", "t32.asm"])
        .current_dir(d)
        .assert()
        .success();
    tool("ar")
        .args(["rcs", "lib32.a", "t32.o"])
        .current_dir(d)
        .assert()
        .success();
    let lib32 = d.join("lib32.a");
    refuse(
        &[lib32.as_os_str(), "-o".as_ref(), out.as_os_str()],
        "(t32.o): not an x86-64 ELF object",
    );
    let liba = fixtures.join("liba.a");
    refuse(
        &[
            liba.as_os_str(),
            "--export".as_ref(),
            "no_such_fn".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        "does not define no_such_fn",
    );
    assert!(!out.exists(), "nothing is written on a refusal");
}

/// Two isolated libraries that export the same C symbol still collide when both are needed,
/// and the doctor calls it a duplicate definition.
#[test]
fn two_isolated_libraries_exporting_one_symbol_are_a_duplicate_definition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["one", "two"] {
        std::fs::write(
            d.join(format!("{name}.rs")),
            format!(
                "#[unsafe(no_mangle)]\npub extern \"C\" fn shared_name() -> i32 {{ 1 }}\n\
                 #[unsafe(no_mangle)]\npub extern \"C\" fn {name}_only() -> i32 {{ 2 }}\n"
            ),
        )
        .unwrap();
        tool("rustc")
            .args([
                "--edition",
                "2024",
                "--crate-type",
                "staticlib",
                "-C",
                "lto",
            ])
            .arg(format!("{name}.rs"))
            .arg("-o")
            .arg(format!("lib{name}.a"))
            .current_dir(d)
            .assert()
            .success();
    }
    let one = isolate(&d.join("libone.a"));
    let two = isolate(&d.join("libtwo.a"));
    std::fs::write(
        d.join("m.c"),
        "int shared_name(void); int one_only(void); int two_only(void);\n\
         int main(void) { return shared_name() + one_only() + two_only(); }\n",
    )
    .unwrap();
    tool("gcc")
        .args(["-c", "m.c", "-o", "m.o"])
        .current_dir(d)
        .assert()
        .success();
    let doctor = polylink()
        .args(["link", "--json", "--", "gcc", "-o", "p", "m.o"])
        .arg(&one)
        .arg(&two)
        .args(native_libs())
        .current_dir(d)
        .assert()
        .code(1);
    let verdict = String::from_utf8_lossy(&doctor.get_output().stdout).into_owned();
    assert!(
        verdict.contains("\"kind\":\"duplicate-definition\""),
        "{verdict}"
    );
    assert!(verdict.contains("shared_name"), "{verdict}");
}

/// A larger library, the release staticlib of fixtures/nm-speed (regex, serde_json, toml,
/// clap): isolated, it keeps global exactly what `--list` names (its four C functions), and
/// everything else it defines is local; its undefined references stay.
#[test]
fn a_larger_library_keeps_exactly_its_c_surface() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    tool(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--package",
            "polylink-nm-fixture",
        ])
        .current_dir(polylink_tests::root())
        .assert()
        .success();
    let lib = polylink_tests::layout()
        .cargo_target
        .join("release/libpolylink_nm_fixture.a");
    let list = polylink()
        .arg("isolate")
        .arg(&lib)
        .arg("--list")
        .assert()
        .success();
    let listed: Vec<String> = String::from_utf8_lossy(&list.get_output().stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listed,
        [
            "fixture_count_matches",
            "fixture_json_values",
            "fixture_parse_args",
            "fixture_toml_keys"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixture-isolated.a");
    polylink()
        .arg("isolate")
        .arg(&lib)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let globals = polylink()
        .args(["nm", "-g", "--defined-only"])
        .arg(&out)
        .assert()
        .success();
    let kept: Vec<String> = String::from_utf8_lossy(&globals.get_output().stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    assert_eq!(kept, listed);
    let undefined = polylink().args(["nm", "-u"]).arg(&out).assert().success();
    let undefined = String::from_utf8_lossy(&undefined.get_output().stdout).into_owned();
    for libc in ["memcpy", "malloc", "_Unwind_Resume"] {
        assert!(
            undefined.lines().any(|l| l.ends_with(&format!(" {libc}"))),
            "{libc} is no longer an undefined reference:\n{undefined}"
        );
    }
}

/// The exports can come from the C header cbindgen writes: for the project library they are
/// its C surface, the same as by default.
#[test]
fn the_exports_can_come_from_a_header() {
    let manifest = build();
    let lib = &manifest.staticlib("libpolylink.a").unwrap().path;
    let header = polylink_tests::root().join("rust-lib/include/polylink.h");
    let from_header = polylink()
        .arg("isolate")
        .arg(lib)
        .arg("--exports-from")
        .arg(&header)
        .arg("--list")
        .assert()
        .success();
    let by_default = polylink()
        .arg("isolate")
        .arg(lib)
        .arg("--list")
        .assert()
        .success();
    assert_eq!(
        from_header.get_output().stdout,
        by_default.get_output().stdout
    );
    let names = String::from_utf8_lossy(&by_default.get_output().stdout).into_owned();
    assert!(
        names.lines().any(|l| l == "pl_sum8") && names.lines().any(|l| l == "hello"),
        "{names}"
    );
}
