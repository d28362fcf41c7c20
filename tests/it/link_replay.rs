//! The link-order replay against gcc on the lines that once fooled it: shared objects dropped
//! by Debian's `--as-needed`, C++ inline statics (STB_GNU_UNIQUE), glibc's empty archives, the
//! user's `-L` searched before the driver's, `-Bstatic`, and ld options written `-Wl,…`. Each
//! case is built here with gcc and ar; the replay's verdict (exit 0 or 1) must be gcc's.

use std::path::Path;

use polylink_tests::{build, polylink, tool};

/// Compiles `source` (C, or C++ when `name` ends in .cpp) into `dir/name.o`.
fn compile(dir: &Path, name: &str, source: &str, extra: &[&str]) {
    let (file, compiler) = match name.strip_suffix(".cpp") {
        Some(stem) => (format!("{stem}.cpp"), "g++"),
        None => (format!("{name}.c"), "gcc"),
    };
    std::fs::write(dir.join(&file), source).unwrap();
    let object = format!("{}.o", name.trim_end_matches(".cpp"));
    tool(compiler)
        .args(["-O1", "-c", &file, "-o", &object])
        .args(extra)
        .current_dir(dir)
        .assert()
        .success();
}

fn archive(dir: &Path, name: &str, members: &[&str]) {
    tool("ar")
        .args(["--plugin", "/dev/null", "rcs", name])
        .args(members)
        .current_dir(dir)
        .assert()
        .success();
}

fn shared(dir: &Path, name: &str, object: &str) {
    tool("gcc")
        .args(["-shared", "-o", name, object])
        .current_dir(dir)
        .assert()
        .success();
}

/// gcc's verdict on linking `line` in `dir`, and the replay's (`link-order --cc`), which must
/// agree; returns whether it links.
fn same_verdict(dir: &Path, line: &[&str], case: &str) -> bool {
    let gcc = tool("gcc")
        .args(["-o", "out"])
        .args(line)
        .current_dir(dir)
        .assert();
    let links = gcc.get_output().status.success();
    let replay = polylink()
        .args(["link-order", "--cc"])
        .args(line)
        .current_dir(dir)
        .assert();
    let code = replay.get_output().status.code();
    assert_eq!(
        code,
        Some(if links { 0 } else { 1 }),
        "{case}: gcc {}, the replay disagrees\n--- gcc\n{gcc}\n--- replay\n{replay}",
        if links { "links" } else { "fails" }
    );
    links
}

#[test]
fn the_replay_agrees_with_gcc_where_it_once_did_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    compile(
        d,
        "main",
        "int st_fn(void); int main(void) { return st_fn(); }",
        &[],
    );
    compile(
        d,
        "st",
        "int sh_only(void); int st_fn(void) { return sh_only(); }",
        &[],
    );
    compile(d, "shx", "int sh_only(void) { return 0; }", &["-fPIC"]);
    archive(d, "libst.a", &["st.o"]);
    shared(d, "libshx.so", "shx.o");

    // --as-needed (Debian's gcc passes it): a shared object named before what needs it is
    // dropped, unless --no-as-needed keeps it.
    assert!(!same_verdict(
        d,
        &["main.o", "-L.", "-lshx", "libst.a"],
        "as-needed drop"
    ));
    assert!(same_verdict(
        d,
        &["main.o", "libst.a", "-L.", "-lshx"],
        "as-needed kept"
    ));
    assert!(same_verdict(
        d,
        &["main.o", "-L.", "-Wl,--no-as-needed", "-lshx", "libst.a"],
        "-Wl,--no-as-needed"
    ));

    // A shared object's own references: satisfied by a library after it (kept by as-needed
    // because it needs it), not by one before it, and not by its DT_NEEDED when ld cannot find
    // that (ld never looks in -L directories for it).
    compile(d, "bar", "int bar(void) { return 1; }", &["-fPIC"]);
    compile(
        d,
        "foo",
        "int bar(void); int foo(void) { return bar(); }",
        &["-fPIC"],
    );
    compile(
        d,
        "mf",
        "int foo(void); int main(void) { return foo(); }",
        &[],
    );
    shared(d, "libbar.so", "bar.o");
    shared(d, "libfoonodep.so", "foo.o");
    tool("gcc")
        .args(["-shared", "-o", "libfoo.so", "foo.o", "-L.", "-lbar"])
        .current_dir(d)
        .assert()
        .success();
    assert!(!same_verdict(
        d,
        &["mf.o", "-L.", "-lfoonodep"],
        "shared undefined"
    ));
    assert!(!same_verdict(
        d,
        &["mf.o", "-L.", "-lfoo"],
        "DT_NEEDED not found"
    ));
    assert!(same_verdict(
        d,
        &["mf.o", "-L.", "-lfoo", "-lbar"],
        "DT_NEEDED named"
    ));
    assert!(same_verdict(
        d,
        &["mf.o", "-L.", "-lfoonodep", "-lbar"],
        "provider after"
    ));
    assert!(!same_verdict(
        d,
        &["mf.o", "-L.", "-lbar", "-lfoonodep"],
        "provider before"
    ));
    let runpath = [
        "-shared",
        "-o",
        "libfoorp.so",
        "foo.o",
        "-L.",
        "-lbar",
        "-Wl,-rpath,$ORIGIN",
    ];
    tool("gcc").args(runpath).current_dir(d).assert().success();
    assert!(same_verdict(
        d,
        &["mf.o", "-L.", "-lfoorp"],
        "DT_NEEDED by runpath"
    ));

    // -Bstatic finds only archives: libshx has none, libdual has both.
    assert!(!same_verdict(
        d,
        &[
            "main.o",
            "libst.a",
            "-L.",
            "-Wl,-Bstatic",
            "-lshx",
            "-Wl,-Bdynamic"
        ],
        "-Bstatic with only a .so"
    ));
    compile(d, "dual_a", "int dual_static(void) { return 0; }", &[]);
    compile(
        d,
        "dual_s",
        "int dual_shared(void) { return 0; }",
        &["-fPIC"],
    );
    archive(d, "libdual.a", &["dual_a.o"]);
    shared(d, "libdual.so", "dual_s.o");
    compile(
        d,
        "usedual",
        "int dual_static(void); int main(void) { return dual_static(); }",
        &[],
    );
    assert!(!same_verdict(
        d,
        &["usedual.o", "-L.", "-ldual"],
        "-l prefers the .so"
    ));
    assert!(same_verdict(
        d,
        &[
            "usedual.o",
            "-L.",
            "-Wl,-Bstatic",
            "-ldual",
            "-Wl,-Bdynamic"
        ],
        "-Bstatic takes the .a"
    ));

    // The user's -L comes before the driver's: ./libm.a, not the system's libm.
    compile(d, "mine", "int my_m(void) { return 0; }", &[]);
    std::fs::create_dir(d.join("lib")).unwrap();
    archive(d, "lib/libm.a", &["mine.o"]);
    compile(
        d,
        "usem",
        "int my_m(void); int main(void) { return my_m(); }",
        &[],
    );
    assert!(same_verdict(
        d,
        &["usem.o", "-Llib", "-lm"],
        "user -L first"
    ));

    // glibc's empty archives, as rustc's native-static-libs name them.
    std::fs::write(d.join("libempty.a"), b"!<arch>\n").unwrap();
    assert!(same_verdict(
        d,
        &[
            "main.o",
            "libst.a",
            "libshx.so",
            "-L.",
            "-lempty",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-ldl"
        ],
        "empty archives"
    ));

    // A C++ inline function's static, defined in two objects (STB_GNU_UNIQUE).
    let unique = "inline int &ctr() { static int c; return c; }";
    compile(
        d,
        "u1.cpp",
        &format!("{unique}\nint f1() {{ return ++ctr(); }}"),
        &[],
    );
    compile(
        d,
        "u2.cpp",
        &format!("{unique}\nint f2() {{ return ++ctr(); }}"),
        &[],
    );
    compile(
        d,
        "um.cpp",
        "int f1(); int f2(); int main() { return f1() + f2(); }",
        &[],
    );
    assert!(same_verdict(d, &["um.o", "u1.o", "u2.o"], "GNU_UNIQUE"));

    // Archives that need each other, grouped the gcc way.
    compile(
        d,
        "ca",
        "int cb(int); int ca(int x) { return x ? cb(x - 1) : 0; }",
        &[],
    );
    compile(
        d,
        "cb",
        "int ca(int); int cb(int x) { return x ? ca(x - 1) : 1; }",
        &[],
    );
    compile(
        d,
        "cm",
        "int ca(int); int main(void) { return ca(3); }",
        &[],
    );
    archive(d, "libca.a", &["ca.o"]);
    archive(d, "libcb.a", &["cb.o"]);
    assert!(!same_verdict(
        d,
        &["cm.o", "libcb.a", "libca.a"],
        "cycle, no group"
    ));
    assert!(same_verdict(
        d,
        &[
            "cm.o",
            "-Wl,--start-group",
            "libcb.a",
            "libca.a",
            "-Wl,--end-group"
        ],
        "cycle, -Wl, group"
    ));
}

/// A Rust staticlib with the native libraries rustc names, glibc's empty archives among them,
/// links with cc, and the replay says so.
#[test]
fn a_rust_staticlib_line_with_its_native_libraries_is_replayed() {
    let manifest = build();
    let obj = |name: &str| manifest.object(name).unwrap().path.display().to_string();
    let lib = manifest
        .staticlib("libpolylink.a")
        .unwrap()
        .path
        .display()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut line = vec![obj("c-main.o"), obj("tour.o"), lib];
    line.extend(
        [
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ]
        .map(String::from),
    );
    let line: Vec<&str> = line.iter().map(String::as_str).collect();
    assert!(same_verdict(
        dir.path(),
        &line,
        "Rust staticlib with native libs"
    ));
}
