//! How `cargo xtask build-all` behaves: incremental, atomic, loud about failures and missing
//! tools, and reproducible from its `--dry-run` script.

use std::path::Path;
use std::time::SystemTime;

use polylink_tests::{build, copy_of_sources, root, xtask, xtask_ok};

/// The steps a build-all run reports running, as "Verb subject".
fn steps_run(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::trim_start)
        .filter(|l| {
            ["Assembling ", "Compiling ", "Linking "]
                .iter()
                .any(|v| l.starts_with(v))
        })
        .map(str::to_owned)
        .collect()
}

fn build_into(out: &Path) -> Vec<String> {
    let output = xtask_ok(&["build-all", "--out-dir", out.to_str().unwrap()]);
    steps_run(&output.stderr)
}

/// A copy of the sources whose asm/asm-start.asm ends in a syntax error; also the bad line.
fn sources_with_a_broken_asm() -> (tempfile::TempDir, usize) {
    let copy = copy_of_sources();
    let source = copy.path().join("asm/asm-start.asm");
    let mut text = std::fs::read_to_string(&source).unwrap();
    text.push_str("    this is not an instruction\n");
    std::fs::write(&source, &text).unwrap();
    (copy, text.lines().count())
}

/// Runs build-all as `command` describes, requires exit status 1, and returns stderr.
fn build_all_fails(command: &mut polylink_tests::Command) -> String {
    let output = command.assert().code(1).get_output().clone();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn incremental_builds_redo_only_what_changed() {
    build();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let cc = xtask::tools::c_compiler().unwrap();
    let steps = xtask::plan::Plan::new(polylink_tests::layout(), &cc)
        .steps
        .len();
    let first = build_into(&out);
    assert_eq!(
        first.len(),
        steps,
        "a first build runs every step: {first:#?}"
    );

    let output = xtask_ok(&["build-all", "--out-dir", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(steps_run(&output.stderr), Vec::<String>::new(), "{stderr}");
    let nothing = format!("nothing to do: all {steps} steps are fresh");
    assert!(stderr.contains(&nothing), "{stderr}");

    // Touch, as `touch` does: the contents stay, the modification time moves.
    std::fs::File::options()
        .write(true)
        .open(root().join("asm/asm-start.asm"))
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    let output = xtask_ok(&["build-all", "-v", "--out-dir", out.to_str().unwrap()]);
    assert_eq!(
        steps_run(&output.stderr),
        [
            "Assembling asm/asm-start.asm",
            "Linking asm-start (cc)",
            "Linking asm-start-ld (ld)"
        ]
    );
    // -v echoes each command as run (into a temporary file) and says why a step runs or not.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let object = out.join("obj/asm-start.o.tmp");
    for expected in [
        format!(
            "Running `nasm -f elf64 -o {} asm/asm-start.asm`",
            object.display()
        ),
        "Dirty asm/asm-start.asm: asm/asm-start.asm changed".to_owned(),
        "Fresh c/tour.c".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "no {expected:?} in:\n{stderr}");
    }
}

#[test]
fn a_failing_step_stops_the_build_with_the_tools_message_and_leaves_nothing_fresh() {
    let (copy, bad_line) = sources_with_a_broken_asm();
    let out = copy.path().join("out");
    let stderr = build_all_fails(
        xtask()
            .args(["--root", copy.path().to_str().unwrap()])
            .args(["build-all", "--out-dir", out.to_str().unwrap()]),
    );
    assert!(
        stderr.contains("error: assembling asm/asm-start.asm failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("asm/asm-start.asm:{bad_line}: error:")),
        "{stderr}"
    );
    for leftover in ["obj/asm-start.o", "obj/asm-start.o.tmp", "manifest.json"] {
        assert!(!out.join(leftover).exists(), "{leftover} was left behind");
    }
    assert!(
        !steps_run(stderr.as_bytes())
            .iter()
            .any(|s| s.starts_with("Linking"))
    );
}

/// A directory to use as the whole PATH: links to `tools` from the real PATH, and nothing else.
fn path_with_only(tools: &[&str]) -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for tool in tools {
        let found = std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is not on PATH"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    bin
}

#[test]
fn a_path_without_nasm_gets_a_clear_error() {
    let bin = path_with_only(&["cc", "gcc", "ld"]);
    let out = bin.path().join("out");
    let stderr = build_all_fails(
        xtask()
            .args(["build-all", "--out-dir", out.to_str().unwrap()])
            .env("PATH", bin.path())
            .env("POLYLINK_NO_INSTALL", "1"),
    );
    assert!(
        stderr.contains("`nasm` not found: install it with `sudo apt-get install nasm`"),
        "{stderr}"
    );
    assert!(!out.join("manifest.json").exists());
}

#[test]
fn the_dry_run_script_reproduces_the_build() {
    let manifest = build();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let script = xtask_ok(&["build-all", "--dry-run", "--out-dir", out.to_str().unwrap()]).stdout;
    let script_path = scratch.path().join("build.sh");
    std::fs::write(&script_path, script).unwrap();

    polylink_tests::tool("bash")
        .arg(&script_path)
        .current_dir(scratch.path())
        .assert()
        .success();
    assert!(!manifest.programs.is_empty());
    for program in &manifest.programs {
        let ours = std::fs::read(out.join("bin").join(&program.name)).unwrap();
        let theirs = std::fs::read(&program.path).unwrap();
        assert!(ours == theirs, "{} differs from build-all's", program.name);
    }
}

#[test]
fn run_bare_it_lists_the_tasks() {
    let output = xtask().assert().get_output().clone();
    let help = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    for task in ["build-all", "header", "link-demo"] {
        assert!(help.contains(task), "{help}");
    }
}

/// As root on a Debian-like system, a missing nasm is installed with apt-get, after saying so.
/// A stand-in apt-get "installs" nasm by linking the real one into the PATH; a syntax error
/// placed in a copy of the sources then proves that the installed nasm is the one that ran.
#[test]
fn as_root_a_missing_nasm_is_installed_after_saying_so() {
    if !xtask::platform::is_root() || !xtask::platform::is_debian_like() {
        eprintln!("skipped: needs root on a Debian-like system");
        return;
    }
    let real_nasm = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("nasm"))
        .find(|p| p.exists())
        .expect("nasm is on PATH");
    let bin = path_with_only(&["cc", "gcc", "ld"]);
    let log = bin.path().join("apt-get.log");
    let apt_get = bin.path().join("apt-get");
    std::fs::write(
        &apt_get,
        format!(
            "#!/bin/sh\necho \"$@\" >> {log}\n/bin/ln -s {nasm} {dir}/nasm\n",
            log = log.display(),
            nasm = real_nasm.display(),
            dir = bin.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &apt_get,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let (copy, _) = sources_with_a_broken_asm();
    let out = copy.path().join("out");
    let stderr = build_all_fails(
        xtask()
            .args(["--root", copy.path().to_str().unwrap(), "build-all"])
            .args(["--out-dir", out.to_str().unwrap()])
            .env("PATH", bin.path())
            .env_remove("POLYLINK_NO_INSTALL"),
    );
    assert!(
        stderr.contains("Installing nasm with `apt-get install -y nasm`"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "install -y nasm\n");
    assert!(
        stderr.contains("error: assembling asm/asm-start.asm failed"),
        "{stderr}"
    );
}

#[test]
fn the_manifest_describes_each_program() {
    let manifest = build();
    let names: Vec<_> = manifest.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "polylink-routines",
            "polylink",
            "rust-calls-c-and-asm",
            "c-main",
            "c-start",
            "asm-start",
            "asm-start-ld",
            "asm-freestanding"
        ]
    );
    let c_main = manifest.program("c-main").unwrap();
    assert_eq!(
        (c_main.entry.as_str(), c_main.linker.as_str()),
        ("main", "cc")
    );
    assert!(c_main.uses_libc && !c_main.static_link);
    let libs = &manifest.native_static_libs;
    assert!(libs.contains(&"-lc".to_owned()), "{libs:?}");
    let inputs: Vec<&str> = c_main
        .inputs
        .iter()
        .map(|i| i.rsplit('/').next().unwrap())
        .collect();
    let expected: Vec<&str> = ["c-main.o", "tour.o", "libpolylink.a"]
        .into_iter()
        .chain(libs.iter().map(|l| l.as_str()))
        .collect();
    assert_eq!(
        inputs, expected,
        "objects first, then the archive, then its system libraries"
    );
    assert_eq!(c_main.link_command[0], "cc");
    assert!(c_main.link_command.ends_with(&c_main.inputs));

    let ld = manifest.program("asm-start-ld").unwrap();
    assert_eq!((ld.entry.as_str(), ld.linker.as_str()), ("_start", "ld"));
    assert!(
        ld.link_command
            .contains(&"/lib64/ld-linux-x86-64.so.2".to_owned())
    );
    let gcc_dir = ld.inputs.iter().skip_while(|i| *i != "-L").nth(1).unwrap();
    assert!(Path::new(gcc_dir).join("libgcc_s.so").exists(), "{gcc_dir}");

    let free = manifest.program("asm-freestanding").unwrap();
    assert!(free.static_link && !free.uses_libc);
    for program in &manifest.programs {
        assert!(program.path.starts_with(&manifest.out_dir) && program.path.exists());
    }
}
