//! Every program's exact stdout, stderr where it matters, and exit status.

use polylink_tests::{Command, check_golden, process, program, run_program};

/// Runs `program` with `args` and checks its exit status and its stdout against a golden file.
/// Returns stderr.
fn check(program: &str, args: &[&str], status: i32, golden: &str) -> String {
    let ran = run_program(program, args).code(status);
    let output = ran.get_output();
    check_golden(golden, &String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// c-main and c-start run the same tour of the exports; Rust's panic hook reports on stderr the
/// panic that pl_may_panic(1) caught.
fn check_tour(program: &str) {
    let stderr = check(program, &["42", "x"], 0, &format!("{program}.stdout"));
    let panic = "deliberate panic in pl_may_panic(1)";
    assert!(stderr.contains(panic), "{program}'s stderr: {stderr}");
}

#[test]
fn c_main_calls_every_export() {
    check_tour("c-main");
}

#[test]
fn c_start_reads_its_arguments_from_the_initial_stack_and_rust_sees_none() {
    check_tour("c-start");
}

#[test]
fn c_start_survives_a_backtrace_through_its_own_start() {
    use std::os::unix::process::CommandExt;
    let mut command = process(program("c-start"));
    command.arg0("c-start").env("RUST_BACKTRACE", "1");
    Command::from_std(command).assert().success();
}

#[test]
fn asm_start_calls_rust_with_stack_arguments_and_an_asm_callback() {
    let stderr = check("asm-start", &[], 0, "asm-start.stdout");
    assert_eq!(stderr, "");
}

#[test]
fn asm_start_linked_by_plain_ld_behaves_the_same() {
    let stderr = check("asm-start-ld", &[], 0, "asm-start.stdout");
    assert_eq!(stderr, "");
}

#[test]
fn asm_freestanding_runs_without_libc() {
    let stderr = check(
        "asm-freestanding",
        &["one", "two"],
        0,
        "asm-freestanding.stdout",
    );
    assert_eq!(stderr, "");
}

#[test]
fn asm_freestanding_panics_with_its_own_exit_status() {
    let stderr = check(
        "asm-freestanding",
        &["panic"],
        70,
        "asm-freestanding-panic.stdout",
    );
    check_golden("asm-freestanding-panic.stderr", &stderr);
}

#[test]
fn rust_calls_c_and_asm() {
    let stderr = check(
        "rust-calls-c-and-asm",
        &[],
        0,
        "rust-calls-c-and-asm.stdout",
    );
    assert_eq!(stderr, "");
}
