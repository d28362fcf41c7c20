//! `polylink link -- COMMAND`: for each kind of problem, a real link that has it, made here
//! with gcc, g++, nasm and ar; the doctor must name the kind, exit as the linker did, and any
//! `fixed` command it prints must link with the real tool.

use std::path::Path;

use polylink_tests::{build, native_libs, polylink, tool};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Compiles (or assembles) `file` in `dir` with `program` and `args`.
fn make(dir: &Path, program: &str, args: &[&str]) {
    tool(program).args(args).current_dir(dir).assert().success();
}

/// Runs the doctor on `command` in `dir`: its exit code and its JSON verdict.
fn doctor(dir: &Path, command: &[&str]) -> (i32, Value) {
    let ran = polylink()
        .args(["link", "--json", "--"])
        .args(command)
        .current_dir(dir)
        .assert();
    let output = ran.get_output();
    let verdict: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("no JSON ({e}):\n{ran}"));
    (output.status.code().unwrap_or(-1), verdict)
}

/// Asserts the doctor finds `kind` in `command`, which links (`links`) or not; when it prints a
/// fixed command, that command links with the real tool. Returns the verdict.
fn check(dir: &Path, command: &[&str], kind: &str, links: bool) -> Value {
    let (code, verdict) = doctor(dir, command);
    let kinds: Vec<&str> = verdict["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&kind),
        "{command:?}: no {kind} among {kinds:?}\n{verdict:#}"
    );
    assert_eq!(verdict["links"], links, "{command:?}: {verdict:#}");
    assert_eq!(code, if links { 0 } else { 1 }, "{command:?}");
    for p in verdict["problems"].as_array().unwrap() {
        assert!(
            !p["message"].as_str().unwrap().is_empty() && !p["fix"].as_str().unwrap().is_empty(),
            "{p}"
        );
    }
    if let Some(fixed) = verdict["fixed"].as_array() {
        let argv: Vec<&str> = fixed.iter().map(|w| w.as_str().unwrap()).collect();
        tool(argv[0])
            .args(&argv[1..])
            .args(["-o", "fixed.out"])
            .current_dir(dir)
            .assert()
            .success();
    }
    verdict
}

const NOTE: &str = "section .note.GNU-stack noalloc noexec nowrite progbits\n";

#[test]
fn each_kind_of_link_problem_is_named_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cc = |file: &str, text: &str| {
        write(d, file, text);
        let object = format!("{}.o", file.rsplit_once('.').unwrap().0);
        let compiler = if file.ends_with(".cpp") { "g++" } else { "gcc" };
        make(d, compiler, &["-O1", "-c", file, "-o", &object]);
    };
    let asm = |file: &str, format: &str, text: &str| {
        write(d, file, text);
        let object = format!("{}.o", file.trim_end_matches(".asm"));
        make(d, "nasm", &["-f", format, "-o", &object, file]);
    };

    // link-order: a library named before the object that needs it.
    cc("m.c", "int st_fn(void); int main(void) { return st_fn(); }");
    cc("st.c", "int st_fn(void) { return 0; }");
    make(d, "ar", &["rcs", "libst.a", "st.o"]);
    let v = check(
        d,
        &["gcc", "-o", "p", "libst.a", "m.o"],
        "link-order",
        false,
    );
    assert_eq!(v["fixed"][3], "m.o", "{v:#}");

    // The same with the source on the line: the driver compiles it, and so does the doctor.
    write(
        d,
        "msrc.c",
        "int st_fn(void); int main(void) { return st_fn(); }",
    );
    let v = check(
        d,
        &["gcc", "-O1", "-o", "p", "libst.a", "msrc.c"],
        "link-order",
        false,
    );
    assert_eq!(v["fixed"][4], "msrc.c", "{v:#}");
    write(d, "broken.c", "int main(void) { return nope; }");
    check(d, &["gcc", "-o", "p", "broken.c"], "compile-error", false);

    // duplicate-start and missing-main: a NASM _start linked with the C runtime.
    asm(
        "start.asm",
        "elf64",
        &format!(
            "{NOTE}section .text\nglobal _start\n_start:\n mov eax, 231\n xor edi, edi\n syscall\n"
        ),
    );
    let v = check(d, &["gcc", "-o", "p", "start.o"], "duplicate-start", false);
    assert_eq!(v["fixed"][1], "-nostartfiles", "{v:#}");
    cc("lib_only.c", "int helper(void) { return 1; }");
    check(d, &["gcc", "-o", "p", "lib_only.o"], "missing-main", false);

    // missing-extern-c: C++ calls foo, C defines it.
    cc("foo.c", "int foo(int x) { return x; }");
    cc("callfoo.cpp", "int foo(int); int main() { return foo(1); }");
    let v = check(
        d,
        &["g++", "-o", "p", "callfoo.o", "foo.o"],
        "missing-extern-c",
        false,
    );
    assert!(v.to_string().contains("foo(int)"), "demangled: {v:#}");

    // typo, undefined, duplicate-definition.
    cc("print.c", "int print(void) { return 0; }");
    cc(
        "calls_prnt.c",
        "int prnt(void); int main(void) { return prnt(); }",
    );
    check(
        d,
        &["gcc", "-o", "p", "calls_prnt.o", "print.o"],
        "typo",
        false,
    );
    cc(
        "nowhere.c",
        "int nowhere_at_all(void); int main(void) { return nowhere_at_all(); }",
    );
    check(d, &["gcc", "-o", "p", "nowhere.o"], "undefined", false);
    cc("dup1.c", "int dup(void) { return 1; }");
    cc("dup2.c", "int dup(void) { return 2; }");
    cc(
        "usedup.c",
        "int dup(void); int main(void) { return dup(); }",
    );
    check(
        d,
        &["gcc", "-o", "p", "usedup.o", "dup1.o", "dup2.o"],
        "duplicate-definition",
        false,
    );

    // archive-cycle: a1 needs b1, which needs a2 in the first archive again.
    cc("a1.c", "int b1(void); int a1(void) { return b1(); }");
    cc("a2.c", "int a2(void) { return 2; }");
    cc("b1.c", "int a2(void); int b1(void) { return a2(); }");
    cc("cyc.c", "int a1(void); int main(void) { return a1(); }");
    make(d, "ar", &["rcs", "libA.a", "a1.o", "a2.o"]);
    make(d, "ar", &["rcs", "libB.a", "b1.o"]);
    let v = check(
        d,
        &["gcc", "-o", "p", "cyc.o", "libA.a", "libB.a"],
        "archive-cycle",
        false,
    );
    assert!(
        v["fixed"].to_string().contains("-Wl,--start-group"),
        "{v:#}"
    );

    // missing-cxx-runtime: C++ linked by the C driver.
    cc(
        "thrower.cpp",
        "int main(int argc, char **) { if (argc > 5) throw argc; return 0; }",
    );
    check(
        d,
        &["gcc", "-o", "p", "thrower.o"],
        "missing-cxx-runtime",
        false,
    );

    // What only the linker sees: PIE relocations, a text relocation, an executable stack, a
    // 32-bit object.
    let main_asm = |extra: &str, body: &str| {
        format!(
            "{extra}section .rodata\nmsg: db \"hi\", 0\nsection .text\nglobal main\nmain:\n{body}\n xor eax, eax\n ret\n"
        )
    };
    asm(
        "plt.asm",
        "elf64",
        &format!(
            "{NOTE}{}",
            main_asm(
                "extern puts\n",
                " sub rsp, 8\n lea rdi, [rel msg]\n call puts\n add rsp, 8"
            )
        ),
    );
    check(d, &["gcc", "-o", "p", "plt.o"], "plt-needed", false);
    asm(
        "abs32.asm",
        "elf64",
        &format!("{NOTE}{}", main_asm("", " mov edi, msg")),
    );
    check(
        d,
        &["gcc", "-o", "p", "abs32.o"],
        "pie-absolute-reloc",
        false,
    );
    asm(
        "abs64.asm",
        "elf64",
        &format!("{NOTE}{}", main_asm("", " mov rdi, msg")),
    );
    check(d, &["gcc", "-o", "p", "abs64.o"], "text-relocation", true);
    asm(
        "nonote.asm",
        "elf64",
        "section .text\nglobal helper2\nhelper2:\n ret\n",
    );
    cc(
        "main2.c",
        "void helper2(void); int main(void) { helper2(); return 0; }",
    );
    check(
        d,
        &["gcc", "-o", "p", "main2.o", "nonote.o"],
        "exec-stack",
        true,
    );
    asm(
        "thirty2.asm",
        "elf32",
        "section .text\nglobal helper3\nhelper3:\n ret\n",
    );
    check(
        d,
        &["gcc", "-o", "p", "m.o", "libst.a", "thirty2.o"],
        "wrong-elf-class",
        false,
    );

    // as-needed-dropped, shared-undefined, missing-file.
    cc(
        "st2.c",
        "int sh_only(void); int st2_fn(void) { return sh_only(); }",
    );
    cc(
        "m2.c",
        "int st2_fn(void); int main(void) { return st2_fn(); }",
    );
    write(d, "shx.c", "int sh_only(void) { return 0; }");
    make(d, "gcc", &["-fPIC", "-shared", "-o", "libshx.so", "shx.c"]);
    make(d, "ar", &["rcs", "libst2.a", "st2.o"]);
    let v = check(
        d,
        &["gcc", "-o", "p", "m2.o", "-L.", "-lshx", "libst2.a"],
        "as-needed-dropped",
        false,
    );
    assert_eq!(
        v["fixed"].as_array().unwrap().last().unwrap(),
        "-lshx",
        "{v:#}"
    );
    write(
        d,
        "foo2.c",
        "int bar2(void); int foo2(void) { return bar2(); }",
    );
    make(
        d,
        "gcc",
        &["-fPIC", "-shared", "-o", "libfoonodep.so", "foo2.c"],
    );
    cc("mf.c", "int foo2(void); int main(void) { return foo2(); }");
    check(
        d,
        &["gcc", "-o", "p", "mf.o", "-L.", "-lfoonodep"],
        "shared-undefined",
        false,
    );
    check(
        d,
        &["gcc", "-o", "p", "m.o", "-lpolylink_no_such_lib"],
        "missing-file",
        false,
    );

    // missing-library: cos without -lm.
    cc(
        "cosine.c",
        "#include <math.h>\nint main(int c, char **v) { (void)v; return (int)cos((double)c); }",
    );
    let v = check(d, &["gcc", "-o", "p", "cosine.o"], "missing-library", false);
    assert_eq!(
        v["fixed"].as_array().unwrap().last().unwrap(),
        "-lm",
        "{v:#}"
    );

    // missing-dynamic-linker: plain ld links a dynamic program that cannot start.
    let v = check(
        d,
        &["ld", "-pie", "-o", "p", "start.o", "-lc"],
        "missing-dynamic-linker",
        true,
    );
    assert_eq!(v["fixed"][1], "--dynamic-linker", "{v:#}");
}

/// C calls `sum8`, and the Rust library defines only the mangled `polylink::sum8`.
#[test]
fn a_rust_function_without_no_mangle_is_named() {
    let manifest = build();
    let lib = manifest
        .staticlib("libpolylink.a")
        .unwrap()
        .path
        .display()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "c.c",
        "long sum8(long, long, long, long, long, long, long, long);\nint main(void) { return (int)sum8(1, 2, 3, 4, 5, 6, 7, 8); }\n",
    );
    make(dir.path(), "gcc", &["-c", "c.c", "-o", "c.o"]);
    let mut command = vec!["gcc", "-o", "p", "c.o", &lib];
    command.extend(native_libs());
    let v = check(dir.path(), &command, "missing-no-mangle", false);
    assert!(v.to_string().contains("polylink::sum8"), "{v:#}");
}

/// The project's c-main inputs as build-all made them: libpolylink.a, c-main.o and tour.o.
fn project_inputs() -> [String; 3] {
    let manifest = build();
    let path = |p: &Path| p.display().to_string();
    [
        path(&manifest.staticlib("libpolylink.a").unwrap().path),
        path(&manifest.object("c-main.o").unwrap().path),
        path(&manifest.object("tour.o").unwrap().path),
    ]
}

/// The project's own wrong order: the doctor explains it, prints a command that links, and in
/// the text report says what the linker said.
#[test]
fn the_project_link_in_the_wrong_order_gets_a_command_that_links() {
    let [lib, main, tour] = project_inputs();
    let dir = tempfile::tempdir().unwrap();
    let mut command = vec!["cc", "-o", "c-main", &lib, &main, &tour];
    command.extend(native_libs());
    let v = check(dir.path(), &command, "link-order", false);
    let fixed: Vec<&str> = v["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let mut expected = vec!["cc", "-o", "c-main", &main, &tour, &lib];
    expected.extend(native_libs());
    assert_eq!(fixed, expected);
    let text = polylink()
        .args(["link", "--"])
        .args(command)
        .current_dir(dir.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    for part in [
        "The command does not link (the linker says so).",
        "undefined reference to `hello'",
        "problem [link-order]: `hello` is needed by",
        "fixed: cc -o c-main",
    ] {
        assert!(stdout.contains(part), "no {part:?} in:\n{stdout}");
    }
}

/// `cargo xtask link-speed` times the replay beside the real link in one run and prints the
/// table with its verdict (the ratio is a figure for the machine, not a test).
#[test]
fn link_speed_prints_the_replay_beside_the_real_link() {
    let output = polylink_tests::xtask()
        .args(["link-speed", "--rounds", "1"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    for part in [
        "cc, the wrong order (fails):",
        "cc, the order that links:",
        "polylink link --no-run, wrong:",
        "target: the replay's slowest round under the real link's median:",
    ] {
        assert!(stdout.contains(part), "no {part:?} in:\n{stdout}");
    }
}

/// A Rust staticlib linked without the native libraries rustc names: its unwinder's symbols are
/// missing, and the doctor names the library that has them.
#[test]
fn a_rust_staticlib_without_its_native_libraries_is_named() {
    let [lib, main, tour] = project_inputs();
    let dir = tempfile::tempdir().unwrap();
    let v = check(
        dir.path(),
        &["cc", "-nodefaultlibs", "-o", "p", &main, &tour, &lib, "-lc"],
        "missing-native-libs",
        false,
    );
    assert!(v.to_string().contains("-lgcc_s"), "{v:#}");
}

/// Two Rust staticlibs built with LTO, each one member carrying its whole std, in one C program:
/// ld stops at `rust_eh_personality` defined twice, and the doctor names the Rust runtime.
#[test]
fn two_rust_staticlibs_with_their_own_std_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, body) in [("a", "x + 1"), ("b", "x * 2")] {
        write(
            d,
            &format!("{name}.rs"),
            &format!(
                "#[unsafe(no_mangle)]\npub extern \"C\" fn {name}_fn(x: i32) -> i32 {{\n    \
                 std::panic::catch_unwind(|| {body}).unwrap_or(0)\n}}\n"
            ),
        );
        let lib = format!("lib{name}_rs.a");
        make(
            d,
            "rustc",
            &[
                "--edition",
                "2024",
                "--crate-type",
                "staticlib",
                "-C",
                "lto",
                "-C",
                "opt-level=1",
                &format!("{name}.rs"),
                "-o",
                &lib,
            ],
        );
    }
    write(
        d,
        "m.c",
        "int a_fn(int); int b_fn(int); int main(void) { return a_fn(1) + b_fn(2); }",
    );
    make(d, "gcc", &["-c", "m.c", "-o", "m.o"]);
    let mut command = vec!["gcc", "-o", "p", "m.o", "liba_rs.a", "libb_rs.a"];
    command.extend(native_libs());
    let v = check(d, &command, "duplicate-rust-runtime", false);
    assert!(v.to_string().contains("rust_eh_personality"), "{v:#}");
}

/// A command that is not a link is a usage error (exit 2), named.
#[test]
fn a_command_that_is_not_a_link_is_a_usage_error() {
    for (command, says) in [
        (
            &["make", "all"][..],
            "`make` is not a linker polylink knows",
        ),
        (
            &["ld", "main.c"],
            "main.c is a source file, which ld cannot link",
        ),
        (&["gcc", "-o", "p", "-l"], "-l needs a value after it"),
    ] {
        let ran = polylink()
            .args(["link", "--"])
            .args(command)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&ran.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{command:?}: {ran}");
    }
}

/// When the replay and the real linker disagree, the linker is trusted and the disagreement is
/// said plainly, as a bug of polylink's: a system whose linker links everything shows it.
#[test]
fn a_replay_that_disagrees_with_the_linker_says_so() {
    struct Lenient;
    impl polylink_inspect::System for Lenient {
        fn ld_search_dirs(&self) -> polylink_inspect::Result<Vec<std::path::PathBuf>> {
            polylink_inspect::Host.ld_search_dirs()
        }
        fn driver_line(
            &self,
            driver: Option<&str>,
            cc_args: &[String],
            mark: &str,
        ) -> polylink_inspect::Result<(String, String)> {
            polylink_inspect::Host.driver_line(driver, cc_args, mark)
        }
        fn cpp_filt(&self, names: Vec<u8>, deep: bool) -> polylink_inspect::Result<Vec<u8>> {
            polylink_inspect::Host.cpp_filt(names, deep)
        }
        fn run(&self, _: &[String]) -> polylink_inspect::Result<(bool, String)> {
            Ok((true, String::new()))
        }
    }
    let fixtures = polylink_tests::root().join("tests/data/elf");
    let path = |f: &str| fixtures.join(f).display().to_string();
    let argv: Vec<String> = ["ld".to_owned(), "-o".into(), "out".into()]
        .into_iter()
        .chain(["liba.a", "main.o", "libb.a"].map(path))
        .collect();
    let mut out = Vec::new();
    let verdict = polylink_inspect::link::run(
        &argv,
        &polylink_inspect::link::Options::default(),
        &Lenient,
        &mut out,
    )
    .unwrap();
    assert!(verdict.links, "the linker is the truth");
    let kinds: Vec<&str> = verdict.problems.iter().map(|p| p.kind).collect();
    assert!(kinds.contains(&"replay-disagrees"), "{kinds:?}");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("that is a bug in polylink"), "{text}");
}
