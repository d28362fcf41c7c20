//! The README's and the tour's quotes stay true: every command quoted in a ```sh block is one
//! build-all runs or one a reader can type, every `polylink` command there runs, and quoted
//! output marked with its source matches that source (a golden file, or polylink run now).

use std::path::{Path, PathBuf};

use polylink_tests::{build, polylink, root, xtask_ok};

/// README.md and every chapter of the tour.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut tour: Vec<PathBuf> = std::fs::read_dir(root().join("docs/tour"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    tour.sort();
    assert!(tour.len() >= 10, "the tour has {} chapters", tour.len());
    docs.extend(tour);
    docs
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().display().to_string()
}

/// Every line of a ```sh block is a comment, a `cargo` command for the reader to type
/// (`cargo xtask`, `cargo test`, `cargo install`), a `polylink` command (run here, in the
/// workspace root, where it must not be refused as a usage error), or a line of the script
/// `build-all --dry-run` prints.
#[test]
fn quoted_commands_are_the_ones_that_run() {
    let script = String::from_utf8(xtask_ok(&["build-all", "--dry-run"]).stdout).unwrap();
    let mut quoted = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut in_sh = false;
        for line in text.lines() {
            match line.trim() {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                l if !in_sh || l.is_empty() || l.starts_with('#') => {}
                // cargo's own commands, and the fuzz kit's, which CI runs (`fuzz/run`).
                l if [
                    "cargo xtask",
                    "cargo test",
                    "cargo install",
                    "cargo bench",
                    "cargo +nightly fuzz",
                    "fuzz/run",
                ]
                .iter()
                .any(|c| l.starts_with(c)) => {}
                l if l.starts_with("polylink ") => {
                    build();
                    let words = shell_words(l);
                    let ran = polylink().args(&words[1..]).current_dir(root()).assert();
                    // 0, or 1 for a finding (an order that does not link); 2 is a usage error.
                    assert!(
                        matches!(ran.get_output().status.code(), Some(0 | 1)),
                        "{} quotes a polylink command that fails:\n{ran}",
                        shown(&doc)
                    );
                }
                l => {
                    quoted += 1;
                    assert!(
                        script.lines().any(|s| s == l),
                        "{} quotes a command build-all does not run:\n{l}",
                        shown(&doc)
                    );
                }
            }
        }
    }
    assert!(quoted >= 5, "the docs quote only {quoted} build commands");
}

/// A fenced block after `<!-- golden: NAME -->` quotes `tests/data/NAME`, and one after
/// `<!-- output: polylink ARGS -->` quotes what that command prints now (run in the workspace
/// root). A first line `$ …` shows the command and is not compared; `…` stands for any text
/// within a line, and a line of its own `…` for any number of lines.
#[test]
fn quoted_output_comes_from_its_source() {
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let source = match line.trim() {
                l if l.starts_with("<!-- golden: ") => l
                    .trim_start_matches("<!-- golden: ")
                    .trim_end_matches("-->")
                    .trim()
                    .to_owned(),
                l if l.starts_with("<!-- output: ") => l
                    .trim_start_matches("<!-- output: ")
                    .trim_end_matches("-->")
                    .trim()
                    .to_owned(),
                _ => continue,
            };
            let fence = lines.next().unwrap_or_default();
            assert!(
                fence.starts_with("```"),
                "{}: a block must follow {line}",
                shown(&doc)
            );
            let mut block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            if block.first().is_some_and(|l| l.starts_with("$ ")) {
                block.remove(0);
            }
            let actual = if let Some(args) = source.strip_prefix("polylink ") {
                build();
                let ran = polylink()
                    .args(shell_words(args))
                    .current_dir(root())
                    .assert();
                String::from_utf8_lossy(&ran.get_output().stdout).into_owned()
            } else {
                std::fs::read_to_string(root().join("tests/data").join(&source))
                    .unwrap_or_else(|e| panic!("{}: no golden {source}: {e}", shown(&doc)))
            };
            let actual: Vec<&str> = actual.lines().collect();
            assert!(
                matches(&block, &actual),
                "{} quotes output that {source} does not give:\n--- quoted\n{}\n--- {source}\n{}",
                shown(&doc),
                block.join("\n"),
                actual.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} quoted outputs are checked");
}

/// Splits a command line as a POSIX shell would, for the quoting the docs use: words separated
/// by spaces, and single- or double-quoted parts.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// Whether the quoted lines match consecutive lines of `actual`, starting anywhere, with `…`
/// lines matching any run of lines and `…` inside a line matching any text.
fn matches(quoted: &[&str], actual: &[&str]) -> bool {
    (0..=actual.len()).any(|start| match_here(quoted, &actual[start..]))
}

fn match_here(quoted: &[&str], actual: &[&str]) -> bool {
    match quoted.split_first() {
        None => true,
        Some((&"…", rest)) => (0..=actual.len()).any(|skip| match_here(rest, &actual[skip..])),
        Some((line, rest)) => {
            actual.first().is_some_and(|a| line_matches(line, a)) && match_here(rest, &actual[1..])
        }
    }
}

fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[test]
fn the_matcher_reads_ellipses_as_gaps() {
    let actual = ["a", "b 1 c", "d", "e"];
    assert!(matches(&["b … c", "…", "e"], &actual));
    assert!(matches(&["d", "e"], &actual));
    assert!(!matches(&["a", "d"], &actual));
    assert!(!matches(&["b 1"], &actual));
    assert!(matches(&["…1 c"], &actual));
    assert_eq!(
        shell_words(r#"polylink asm "mov rax, rdi; ret" --call '' 2"#),
        ["polylink", "asm", "mov rax, rdi; ret", "--call", "", "2"]
    );
}
