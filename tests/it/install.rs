//! `polylink` as a user gets it: `cargo install --path crates/polylink` (as README.md says),
//! then used from another directory on files of the system and of a user's own project.

use std::time::Duration;

use polylink_hot_host::{By, Event};
use polylink_tests::{Running, build, hot_host_bin, process, root, tool};

#[test]
fn the_installed_command_works_from_any_directory() {
    build(); // builds the release polylink, which the install below reuses
    let prefix = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    tool(&cargo)
        .args([
            "install",
            "--locked",
            "--quiet",
            "--path",
            "crates/polylink",
        ])
        .arg("--root")
        .arg(prefix.path())
        .arg("--target-dir")
        .arg(root().join("target"))
        .current_dir(root())
        .assert()
        .success();
    let installed = prefix.path().join("bin/polylink");
    let elsewhere = tempfile::tempdir().unwrap();
    let polylink = || {
        let mut command = tool(&installed);
        command.current_dir(elsewhere.path());
        command
    };

    polylink()
        .arg("--version")
        .assert()
        .success()
        .stdout("polylink 0.1.0\n");
    let libc_nonshared = "/usr/lib/x86_64-linux-gnu/libc_nonshared.a";
    let gnu = tool("nm")
        .args(["--plugin", "/dev/null", "-g", libc_nonshared])
        .env("LC_ALL", "C")
        .assert()
        .success();
    polylink()
        .args(["nm", "-g", libc_nonshared])
        .assert()
        .success()
        .stdout(String::from_utf8(gnu.get_output().stdout.clone()).unwrap());
    polylink()
        .args(["checksec", "--json", "/usr/bin/ls"])
        .assert()
        .success()
        .stdout(predicates::str::contains(r#""file":"/usr/bin/ls""#));
    polylink()
        .args([
            "asm",
            "lea rax, [rdi + rsi*4]; ret",
            "--out",
            "f.bin",
            "--call",
            "2",
            "10",
        ])
        .assert()
        .success()
        .stdout("42\n");
    polylink()
        .args(["run", "f.bin", "1", "1"])
        .assert()
        .success()
        .stdout("5\n");
    let fixtures = root().join("tests/data/elf");
    polylink()
        .arg("link-order")
        .args(["main.o", "libb.a", "liba.a"].map(|f| fixtures.join(f)))
        .assert()
        .code(1)
        .stdout(predicates::str::contains("An order that links"));
    // A running host, patched from the other directory with code the installed asm made.
    for (name, text) in [
        ("step", "lea rax, [rdi + 1]; ret"),
        ("mix", "lea rax, [rdi + rdi*2]; ret"),
    ] {
        polylink()
            .args(["asm", text, "--out", &format!("{name}.bin")])
            .assert()
            .success();
    }
    polylink()
        .args(["asm", "lea rax, [rdi*2]; ret", "--out", "double.bin"])
        .assert()
        .success();
    let mut host = Running::start(
        process(hot_host_bin())
            .arg("--dir")
            .arg(elsewhere.path())
            .args(["--print-ms", "20"]),
    );
    host.wait_for("ready", Duration::from_secs(30), |l| {
        matches!(l.parse(), Ok(Event::Ready { .. }))
    });
    let pid = host.pid().to_string();
    polylink()
        .args(["patch", "--pid", &pid, "--slot", "step", "double.bin"])
        .assert()
        .success()
        .stdout(predicates::str::contains("after:  step -> "));
    host.wait_for("the change", Duration::from_secs(30), |l| {
        matches!(l.parse(), Ok(Event::Change { slot, by: By::AnotherProcess, .. }) if slot == "step")
    });

    // A process that is not a polylink host: this test itself.
    polylink()
        .args([
            "patch",
            "--pid",
            &std::process::id().to_string(),
            "--slot",
            "step",
            "f.bin",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("is not a polylink host"));
}
