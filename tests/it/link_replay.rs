//! The link-order replay against gcc on the lines that once fooled it: shared objects dropped
//! by Debian's `--as-needed`, C++ inline statics (STB_GNU_UNIQUE), glibc's empty archives, the
//! user's `-L` searched before the driver's, `-Bstatic`, and ld options written `-Wl,…`. Each
//! case is built here with gcc and ar; the replay's verdict (exit 0 or 1) must be gcc's.

use std::path::Path;

use polylink_tests::{build, native_libs, polylink, tool};

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
/// links with cc, and the replay says so; in random orders of the same inputs, the replay's
/// verdict is cc's.
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
    line.extend(native_libs().into_iter().map(String::from));
    let words: Vec<&str> = line.iter().map(String::as_str).collect();
    assert!(same_verdict(
        dir.path(),
        &words,
        "Rust staticlib with native libs"
    ));
    // The same inputs in random orders: the archive or the native libraries before what needs
    // them fail, and the replay must say so exactly when cc does.
    let mut rng = polylink_tests::Lcg(0x7275_7374);
    let (mut links, mut fails) = (0, 0);
    for case in 0..8 {
        let mut order = line.clone();
        for k in (1..order.len()).rev() {
            order.swap(k, rng.below(k + 1));
        }
        let words: Vec<&str> = order.iter().map(String::as_str).collect();
        if same_verdict(dir.path(), &words, &format!("Rust world, case {case}")) {
            links += 1;
        } else {
            fails += 1;
        }
    }
    assert!(fails > 0, "links {links}, fails {fails}");
}

/// Generated worlds of C modules packaged as objects, archives and shared objects, linked by
/// gcc in random orders, sometimes with `-Wl,--no-as-needed` before a shared object or a group
/// of the archives: the replay's verdict must be gcc's every time.
#[test]
fn the_replay_agrees_with_gcc_on_generated_worlds_with_shared_objects() {
    let mut rng = polylink_tests::Lcg(0x5A_4ED);
    let (mut links, mut fails, mut dropped) = (0, 0, 0);
    for world in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let n = 3 + rng.below(4);
        let mut inputs: Vec<String> = vec!["main.o".into()];
        let mut archive_members: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
        let mut libraries = Vec::new();
        compile(
            d,
            "main",
            "int f0(void); int main(void) { return f0(); }",
            &["-fPIC"],
        );
        for i in 0..n {
            let mut calls: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(n)).collect();
            calls.retain(|&j| j != i);
            calls.dedup();
            let decls: String = calls.iter().map(|j| format!("int f{j}(void); ")).collect();
            let body: String = calls.iter().map(|j| format!(" + f{j}()")).collect();
            let source = format!("{decls}int f{i}(void) {{ return {i}{body}; }}");
            compile(d, &format!("m{i}"), &source, &["-fPIC"]);
            match rng.below(4) {
                0 => inputs.push(format!("m{i}.o")),
                1 => {
                    shared(d, &format!("libs{i}.so"), &format!("m{i}.o"));
                    libraries.push(format!("-ls{i}"));
                }
                k => archive_members[k - 2].push(format!("m{i}.o")),
            }
        }
        for (k, members) in archive_members.iter().enumerate() {
            if !members.is_empty() {
                let name = format!("libar{k}.a");
                let refs: Vec<&str> = members.iter().map(String::as_str).collect();
                archive(d, &name, &refs);
                inputs.push(name);
            }
        }
        inputs.extend(libraries.iter().cloned());
        for case in 0..5 {
            let mut order = inputs.clone();
            for k in (1..order.len()).rev() {
                order.swap(k, rng.below(k + 1));
            }
            if rng.below(3) == 0
                && let Some(at) = order.iter().position(|a| a.starts_with("-ls"))
            {
                order.insert(at, "-Wl,--no-as-needed".into());
            }
            let archives: Vec<usize> = (0..order.len())
                .filter(|&k| order[k].ends_with(".a"))
                .collect();
            if case == 4 && archives.len() == 2 {
                order.insert(archives[1] + 1, "-Wl,--end-group".into());
                order.insert(archives[0], "-Wl,--start-group".into());
            }
            let mut line = vec!["-L.".to_owned()];
            line.extend(order);
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            let what = format!("world {world}, case {case}");
            if same_verdict(d, &line, &what) {
                links += 1;
            } else {
                fails += 1;
                dropped += usize::from(
                    line.iter()
                        .position(|a| a.starts_with("-ls"))
                        .is_some_and(|s| s < line.len() - 1),
                );
            }
        }
    }
    assert!(links > 5 && fails > 5, "links {links}, fails {fails}");
    assert!(
        dropped > 0,
        "no failing order had a shared object before other inputs"
    );
}

/// Generated C++ worlds: every module uses one inline function with a local static (a COMDAT
/// group, its static STB_GNU_UNIQUE) and calls others; modules are objects or archive members,
/// linked by g++ in random orders. `polylink link --no-run` (the replay alone) must give g++'s
/// verdict.
#[test]
fn the_replay_agrees_with_gxx_on_generated_cxx_worlds() {
    let mut rng = polylink_tests::Lcg(0xC0FFEE);
    let (mut links, mut fails) = (0, 0);
    for world in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let n = 3 + rng.below(3);
        let shared_inline = "inline int &counter() { static int c; return c; }\n";
        let mut inputs = vec!["main.o".to_owned()];
        let mut members = Vec::new();
        compile(
            d,
            "main.cpp",
            &format!("{shared_inline}int f0();\nint main() {{ return f0() + counter(); }}"),
            &[],
        );
        for i in 0..n {
            let mut calls: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(n)).collect();
            calls.retain(|&j| j != i);
            calls.dedup();
            let decls: String = calls.iter().map(|j| format!("int f{j}();\n")).collect();
            let body: String = calls.iter().map(|j| format!(" + f{j}()")).collect();
            let source =
                format!("{shared_inline}{decls}int f{i}() {{ return ++counter(){body}; }}");
            compile(d, &format!("m{i}.cpp"), &source, &[]);
            if rng.below(2) == 0 {
                inputs.push(format!("m{i}.o"));
            } else {
                members.push(format!("m{i}.o"));
            }
        }
        if !members.is_empty() {
            let refs: Vec<&str> = members.iter().map(String::as_str).collect();
            archive(d, "libcx.a", &refs);
            inputs.push("libcx.a".into());
        }
        for case in 0..4 {
            let mut order = inputs.clone();
            for k in (1..order.len()).rev() {
                order.swap(k, rng.below(k + 1));
            }
            let real = tool("g++")
                .args(["-o", "out"])
                .args(&order)
                .current_dir(d)
                .assert();
            let linked = real.get_output().status.success();
            let replay = polylink()
                .args(["link", "--no-run", "--", "g++", "-o", "out"])
                .args(&order)
                .current_dir(d)
                .assert();
            assert_eq!(
                replay.get_output().status.code(),
                Some(if linked { 0 } else { 1 }),
                "world {world}, case {case}, {order:?}\n--- g++\n{real}\n--- replay\n{replay}"
            );
            if linked {
                links += 1;
            } else {
                fails += 1;
            }
        }
    }
    assert!(links > 3 && fails > 3, "links {links}, fails {fails}");
}
