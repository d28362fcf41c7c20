//! How `cargo xtask build-all` behaves: incremental, atomic, loud about failures and missing
//! tools, and reproducible from its `--dry-run` script.

use std::path::Path;
use std::time::SystemTime;

use polylink_tests::{build, copy_of_sources, describe, output_of, root, xtask, xtask_ok};

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

#[test]
fn incremental_builds_redo_only_what_changed() {
    build();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let first = build_into(&out);
    assert_eq!(first.len(), 13, "a first build runs every step: {first:#?}");

    let output = xtask_ok(&["build-all", "--out-dir", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(steps_run(&output.stderr), Vec::<String>::new(), "{stderr}");
    assert!(
        stderr.contains("nothing to do: all 13 steps are fresh"),
        "{stderr}"
    );

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
    let copy = copy_of_sources();
    let source = copy.path().join("asm/asm-start.asm");
    let mut text = std::fs::read_to_string(&source).unwrap();
    text.push_str("    this is not an instruction\n");
    let bad_line = text.lines().count();
    std::fs::write(&source, text).unwrap();

    let out = copy.path().join("out");
    let output = output_of(
        xtask()
            .args(["--root", copy.path().to_str().unwrap()])
            .args(["build-all", "--out-dir", out.to_str().unwrap()]),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        describe("build-all", &output)
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
        !steps_run(&output.stderr)
            .iter()
            .any(|s| s.starts_with("Linking"))
    );
}

#[test]
fn a_path_without_nasm_gets_a_clear_error() {
    let bin = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for tool in ["cc", "gcc", "ld"] {
        let found = std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is not on PATH"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = bin.path().join("out");
    let output = output_of(
        xtask()
            .args(["build-all", "--out-dir", out.to_str().unwrap()])
            .env("PATH", bin.path())
            .env("POLYLINK_NO_INSTALL", "1"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        describe("build-all", &output)
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

    #[allow(clippy::disallowed_methods)] // Tests drive the tools they test.
    let run = output_of(
        std::process::Command::new("bash")
            .arg(&script_path)
            .current_dir(scratch.path()),
    );
    assert!(run.status.success(), "{}", describe("bash build.sh", &run));
    assert!(!manifest.programs.is_empty());
    for program in &manifest.programs {
        let ours = std::fs::read(out.join("bin").join(&program.name)).unwrap();
        let theirs = std::fs::read(&program.path).unwrap();
        assert!(ours == theirs, "{} differs from build-all's", program.name);
    }
}

#[test]
fn run_bare_it_lists_the_tasks() {
    let output = output_of(&mut xtask());
    let help = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    for task in ["build-all", "header", "link-demo"] {
        assert!(help.contains(task), "{help}");
    }
}
