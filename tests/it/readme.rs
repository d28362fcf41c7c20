//! README.md's quotes of the build stay true.

use polylink_tests::{root, xtask_ok};

/// Every line of a ```sh block in the README is a comment, a `cargo` command for the reader to
/// type (`cargo xtask`, `cargo test`), or a line of the script `build-all --dry-run` prints.
#[test]
fn readme_quotes_the_commands_build_all_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let script = String::from_utf8(xtask_ok(&["build-all", "--dry-run"]).stdout).unwrap();
    let mut in_sh = false;
    let mut quoted = 0;
    for line in readme.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if !in_sh || l.is_empty() || l.starts_with('#') => {}
            l if l.starts_with("cargo xtask") || l.starts_with("cargo test") => {}
            l => {
                quoted += 1;
                assert!(
                    script.lines().any(|s| s == l),
                    "README.md quotes a command build-all does not run:\n{l}"
                );
            }
        }
    }
    assert!(
        quoted >= 5,
        "the README quotes only {quoted} build commands"
    );
}
