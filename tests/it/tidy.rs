//! Habits that check themselves (rust-analyzer's `tidy.rs` is the model): each failure names
//! the file and the rule it breaks.

use std::path::{Path, PathBuf};

use polylink_tests::root;

/// The files allowed to hold `unsafe`: executable memory and the few places that call through
/// it or map files, the C ABI surface, the demo routines, and tests of code called raw.
const UNSAFE_ALLOWED: &[&str] = &[
    "crates/exec/src/buffer.rs",
    "crates/exec/src/lib.rs",
    "crates/exec/src/module.rs",
    "crates/exec/src/os.rs",
    "crates/hot/src/lib.rs",
    "crates/hot/src/live/ptrace.rs",
    "crates/hot/src/patch.rs",
    "crates/hot/src/patch/find.rs",
    "crates/hot/src/shared.rs",
    "crates/inspect/src/nm/libiberty.rs",
    "crates/inspect/src/nm/parallel.rs",
    "crates/inspect/src/symbols/input.rs",
    "crates/inspect/src/symbols/prefetch.rs",
    "crates/polylink/src/code.rs",
    "crates/polylink/src/patch.rs",
    "fixtures/nm-speed/src/lib.rs",
    "hot-host/src/main.rs",
    "routines/benches/linked_vs_embedded.rs",
    "routines/src/call_loops.rs",
    "routines/src/lib.rs",
    "routines/src/measure.rs",
    "rust-lib/calls-c-and-asm/src/main.rs",
    "rust-lib/freestanding/src/lib.rs",
    "rust-lib/src/ffi.rs",
    "tests/it/emit.rs",
    "tests/it/hot.rs",
];

/// The files allowed to call `Command::new`: the one door for external programs, the tests' one
/// helper for the tools they drive, and build scripts that assemble what their crate links.
const COMMAND_ALLOWED: &[&str] = &[
    "crates/cmd/src/lib.rs",
    "tests/src/lib.rs",
    "routines/build.rs",
];

/// Every tracked Rust source, relative to the root, outside `target/`.
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    walk(root(), root(), &mut files);
    files.sort();
    assert!(files.len() > 50, "found only {} Rust files", files.len());
    files
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(root().join(file)).unwrap()
}

/// `text` with the contents of comments and of string and character literals (raw ones, over
/// several lines, included) blanked out, so that only code is left to search.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            while i < chars.len() && !chars[i..].starts_with(&['*', '/']) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str("  ");
            i += 2;
        } else if chars[i] == 'r'
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            && rest.iter().skip(1).take_while(|c| **c == '#').count() + 1 < rest.len()
            && rest[1 + rest.iter().skip(1).take_while(|c| **c == '#').count()] == '"'
        {
            let hashes = rest.iter().skip(1).take_while(|c| **c == '#').count();
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i += 2 + hashes;
            out.push_str(&" ".repeat(2 + hashes));
            while i < chars.len() && !chars[i..].starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str(&" ".repeat(close.len()));
            i += close.len();
        } else if chars[i] == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Whether `text` uses the word `word` in code (not in comments or string literals).
fn uses(text: &str, word: &str) -> bool {
    let code = code_only(text);
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn code_only_blanks_comments_and_strings() {
    let text =
        "let a = \"unsafe\"; // unsafe\nlet b = r#\"\n#[unsafe(x)]\n\"#; unsafe { }\n/* unsafe */";
    let code = code_only(text);
    assert_eq!(code.matches("unsafe").count(), 1, "{code}");
    assert_eq!(code.lines().count(), text.lines().count());
    assert!(uses(text, "unsafe") && !uses("// unsafe only\n", "unsafe"));
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|f| !read(f).starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line saying what they are for:\n{}",
        missing.join("\n")
    );
}

#[test]
fn unsafe_lives_only_in_the_allowed_files() {
    let found: Vec<String> = rust_files()
        .into_iter()
        .filter(|f| !f.ends_with("tidy.rs") && uses(&read(f), "unsafe"))
        .map(|f| f.display().to_string())
        .collect();
    let outside: Vec<&String> = found
        .iter()
        .filter(|f| !UNSAFE_ALLOWED.contains(&f.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "`unsafe` outside the allow-list (tests/it/tidy.rs):\n{outside:#?}"
    );
    let stale: Vec<&&str> = UNSAFE_ALLOWED
        .iter()
        .filter(|f| !found.iter().any(|g| g == *f))
        .collect();
    assert!(
        stale.is_empty(),
        "allowed `unsafe` but have none; take them off the list:\n{stale:#?}"
    );
}

#[test]
fn programs_start_only_through_the_one_door() {
    let outside: Vec<String> = rust_files()
        .into_iter()
        .filter(|f| {
            !f.ends_with("tidy.rs") && uses(&read(f), "Command::new") && !uses(&read(f), "clap")
        })
        .map(|f| f.display().to_string())
        .filter(|f| !COMMAND_ALLOWED.contains(&f.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "`Command::new` outside polylink-cmd, the tests' `tool` helper and the allowed build \
         scripts:\n{outside:#?}"
    );
}

#[test]
fn the_tests_reach_programs_through_one_helper() {
    let helper = read(Path::new("tests/src/lib.rs"));
    assert_eq!(
        helper.matches("Command::new(").count(),
        1,
        "tests/src/lib.rs starts programs in one place, `tool`"
    );
    let direct: Vec<String> = rust_files()
        .into_iter()
        .filter(|f| f.starts_with("tests/it") && !f.ends_with("tidy.rs"))
        .filter(|f| {
            let text = read(f);
            text.contains("Command::new(") || text.contains(".spawn()")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        direct.is_empty(),
        "these tests start programs themselves instead of through polylink_tests::tool, \
         polylink(), xtask(), start() or Running:\n{direct:#?}"
    );
}
