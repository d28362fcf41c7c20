//! README.md's quotes of the build stay true.

use polylink_tests::{build, polylink, root, xtask_ok};

/// Every line of a ```sh block in the README is a comment, a `cargo` command for the reader to
/// type (`cargo xtask`, `cargo test`, `cargo install`), a `polylink` command (run here, in the
/// workspace root, where it must not be refused as a usage error), or a line of the script
/// `build-all --dry-run` prints.
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
            l if ["cargo xtask", "cargo test", "cargo install"]
                .iter()
                .any(|c| l.starts_with(c)) => {}
            l if l.starts_with("polylink ") => {
                build();
                let words: Vec<&str> = l.split_whitespace().skip(1).collect();
                let ran = polylink().args(&words).current_dir(root()).assert();
                // 0, or 1 for a finding (an order that does not link); 2 is clap's usage error.
                assert!(
                    matches!(ran.get_output().status.code(), Some(0 | 1)),
                    "README.md quotes a polylink command that fails:\n{ran}"
                );
            }
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
