//! `polylink asm` and `polylink run` from the command line: the emitter's text front end calls,
//! prints and writes code, and refuses bad text with the place and the reason.

use polylink_emit::text::assemble;
use polylink_tests::nasm;

/// Runs `polylink asm ARGS` and returns (exit code, stdout, stderr).
fn asm_cli(args: &[&str]) -> (i32, String, String) {
    let output = polylink_tests::polylink()
        .arg("asm")
        .args(args)
        .assert()
        .get_output()
        .clone();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const ADD_TEXT: &str = "mov rax, rdi; add rax, rsi; ret";

#[test]
fn polylink_asm_calls_prints_and_writes_the_code() {
    assert_eq!(
        asm_cli(&[ADD_TEXT, "--call", "40", "2"]),
        (0, "42\n".into(), "".into())
    );
    assert_eq!(
        asm_cli(&[ADD_TEXT, "--hex"]),
        (0, "48 89 f8 48 01 f0 c3\n".into(), "".into())
    );
    // Nothing asked: the hex. Everything asked: hex first, then the result.
    assert_eq!(asm_cli(&[ADD_TEXT]).1, "48 89 f8 48 01 f0 c3\n");
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("add.bin");
    let bin_arg = bin.to_str().unwrap();
    let (code, out, err) = asm_cli(&[ADD_TEXT, "--hex", "--out", bin_arg, "--call", "1", "2"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "48 89 f8 48 01 f0 c3\n3\n", "")
    );
    // The raw bin is what NASM makes of the same text, and `polylink run` runs it.
    let nasm_bin = nasm(
        dir.path(),
        "add-nasm",
        "bin",
        &format!("bits 64\n{}\n", ADD_TEXT.replace(';', "\n")),
    );
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        std::fs::read(nasm_bin).unwrap()
    );
    let run = polylink_tests::polylink()
        .arg("run")
        .arg(&bin)
        .args(["40", "2"])
        .assert()
        .get_output()
        .clone();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "42\n");
    // From a file, with labels: the sum of 1..=100 with a loop.
    let file = dir.path().join("sum.asm");
    std::fs::write(
        &file,
        "xor rax, rax\ntest rdi, rdi\njz done\ntop:\n  add rax, rdi\n  dec rdi\n  jnz top\ndone: ret\n",
    )
    .unwrap();
    let (code, out, _) = asm_cli(&["-f", file.to_str().unwrap(), "--call", "100"]);
    assert_eq!((code, out.as_str()), (0, "5050\n"));
    // Unsigned arguments and result, all 64 bits.
    let (_, out, _) = asm_cli(&[ADD_TEXT, "--call", "0xffffffffffffffff", "0"]);
    assert_eq!(out, "18446744073709551615\n");
}

#[test]
fn polylink_asm_refuses_bad_text_with_the_place_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.asm");
    std::fs::write(&file, "mov rax, rdi\nadd rax, 0x100000000\nret\n").unwrap();
    let file_arg = file.to_str().unwrap();
    let out_bin = dir.path().join("out.bin");
    let cases: [(Vec<&str>, &str); 9] = [
        (
            vec!["mov rax, rdi; add rax, rsx; ret"],
            "error: <instructions>:1:24: unknown register `rsx`",
        ),
        (
            vec!["-f", file_arg],
            &*format!("error: {file_arg}:2:10: immediate 4294967296 does not fit in 32 bits"),
        ),
        (
            vec!["vpaddd ymm0, ymm1, ymm2"],
            "error: <instructions>:1:1: unknown or unsupported instruction `vpaddd`",
        ),
        (
            vec!["mov rax, 1", "--call"],
            "<instructions> can run past its end: `mov eax,1` at offset 0 is followed by nothing",
        ),
        (
            vec!["db 0x0f, 0x0b", "--call"],
            "<instructions> traps at offset 0: `ud2` raises an invalid-opcode exception (SIGILL)",
        ),
        (
            vec![ADD_TEXT, "--call", "1", "2", "3", "4", "5", "6", "7"],
            "7 arguments given",
        ),
        (
            vec!["-f", "/nonexistent/x.asm"],
            "error: could not read /nonexistent/x.asm",
        ),
        (vec!["", "--hex"], "no instructions to assemble"),
        (
            vec!["bogus", "--out", out_bin.to_str().unwrap()],
            "unknown or unsupported instruction `bogus`",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = asm_cli(&args);
        assert!(
            code == 1 && out.is_empty() && err.contains(want),
            "polylink asm {args:?}: exit {code}, stdout {out:?}, stderr {err:?}; want {want:?}"
        );
    }
    assert!(
        !out_bin.exists(),
        "a refused text wrote {}",
        out_bin.display()
    );
    // The message shows the line and points at the fault.
    let (_, _, err) = asm_cli(&["mov rax, rdi; add rax, rsx; ret"]);
    assert!(
        err.ends_with("  mov rax, rdi; add rax, rsx; ret\n                         ^\n"),
        "{err}"
    );
}

proptest::proptest! {
    /// Any text, and any jumble of the front end's own tokens, is assembled or refused with a
    /// line and column inside the text: never a panic.
    #[test]
    fn any_text_is_assembled_or_refused_never_a_panic(
        text in "(.{0,40})|(((mov|add|lea|shl|jz|db|strict|qword|rax|r12|rsp|\\[|\\]|\\+|-|\\*|,|:|;|\n|0x7f|-129|8|x) ?){0,12})"
    ) {
        match assemble(&text) {
            Ok(assembled) => proptest::prop_assert!(assembled.program.len() <= 16 * text.len()),
            Err(polylink_emit::Error::Syntax { line, column, .. }) => {
                let lines: Vec<&str> = text.split('\n').collect();
                proptest::prop_assert!(line >= 1 && line <= lines.len(), "line {line}");
                proptest::prop_assert!(column >= 1 && column <= lines[line - 1].chars().count() + 1, "column {column}");
            }
            Err(other) => proptest::prop_assert!(false, "not a syntax error: {other}"),
        }
    }
}
