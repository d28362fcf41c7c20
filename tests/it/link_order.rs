//! Link order: the wrong order reproduced and explained (`link-demo`), and the link-order
//! doctor's verdicts and proposals held to what GNU ld does with the same inputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use polylink_inspect::link_order::{self, Line, Options};
use polylink_tests::{Assert, Lcg, build, layout, polylink, xtask_ok};

#[test]
fn wrong_link_order_is_reproduced_and_explained() {
    build();
    let output = xtask_ok(&["link-demo"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let layout = layout();
    let path = |p: std::path::PathBuf| layout.show(&p).display().to_string();
    let (main, tour) = (path(layout.obj("c-main.o")), path(layout.obj("tour.o")));
    let archive = path(layout.lib("libpolylink.a"));
    for expected in [
        format!(
            "-o {} {archive} {main} {tour} -lgcc_s",
            path(layout.out.join("demo/wrong-order"))
        ),
        "it failed with exit status 1".into(),
        "undefined reference to `hello'".into(),
        format!("{archive} came first. Nothing was undefined yet, so ld took none of its members."),
        format!(
            "-o {} {main} {tour} {archive} -lgcc_s",
            path(layout.out.join("demo/right-order"))
        ),
        format!("linked: {}", path(layout.out.join("demo/right-order"))),
    ] {
        assert!(stdout.contains(&expected), "no {expected:?} in:\n{stdout}");
    }

    // One explanation row per symbol the linker reported, naming who needs it and who has it.
    let reported = xtask::link_demo::undefined_references(&stdout);
    assert!(reported.contains("pl_sum8") && reported.contains("pl_apply_n"));
    assert!(stdout.contains(&format!("left {} symbols undefined", reported.len())));
    for symbol in &reported {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{symbol} ")))
            .unwrap_or_else(|| panic!("no row for {symbol} in:\n{stdout}"));
        assert!(
            row.contains("needed by tour.o, defined in libpolylink.a(polylink-"),
            "{row}"
        );
    }
}

/// One generated module: GNU as source defining and referencing symbols.
#[derive(Debug, Default)]
struct Module {
    text: String,
}

impl Module {
    fn define(&mut self, name: &str, weak: bool) {
        let bind = if weak { "weak" } else { "globl" };
        self.text +=
            &format!("  .text\n  .{bind} {name}\n  .type {name},@function\n{name}:\n  ret\n");
    }
    fn call(&mut self, name: &str, weak: bool) {
        if weak {
            self.text += &format!("  .weak {name}\n");
        }
        self.text += &format!("  .text\n  call {name}\n");
    }
    fn common(&mut self, name: &str) {
        self.text += &format!("  .comm {name},8,8\n  .text\n  movq {name}(%rip), %rax\n");
    }
    fn data(&mut self, name: &str) {
        self.text += &format!("  .data\n  .globl {name}\n{name}:\n  .quad 1\n");
    }
}

/// What one generated case showed, to prove the generator reaches every kind of case.
#[derive(Debug, Default)]
struct Seen {
    linked: usize,
    failed: usize,
    reordered: usize,
    cycles: usize,
    repeated: usize,
    twice: usize,
    nowhere: usize,
    weak_refs: usize,
    groups: usize,
}

fn run_tool(dir: &Path, program: &str, args: &[String]) -> Assert {
    polylink_tests::tool(program)
        .current_dir(dir)
        .args(args)
        .assert()
}

/// The symbols ld reported after a given phrase ("undefined reference to `", "multiple
/// definition of `").
fn reported(stderr: &str, phrase: &str) -> BTreeSet<String> {
    stderr
        .split(phrase)
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(s, _)| s.to_owned()))
        .collect()
}

/// Builds a world of modules (objects, or members of up to three archives) with chains,
/// cycles, weak definitions and references, commons, symbols defined twice and symbols defined
/// nowhere, then links it in several orders with ld and asks the doctor about each: whether it
/// links, and which symbols ld reports undefined or defined twice, must agree; every order it
/// proposes must link with ld, and when it proposes none, not even one big group links.
#[test]
fn link_order_verdicts_agree_with_ld_on_generated_cases() {
    let mut rng = Lcg(0x11D_0D0C);
    let mut seen = Seen::default();
    for world in 0..36 {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let n = 3 + rng.below(5);
        let mut modules: Vec<Module> = (0..n).map(|_| Module::default()).collect();
        for (i, m) in modules.iter_mut().enumerate() {
            m.define(&format!("f{i}"), false);
        }
        for (i, m) in modules.iter_mut().enumerate() {
            for _ in 0..rng.below(3) {
                let j = rng.below(n);
                if j != i {
                    m.call(&format!("f{j}"), false);
                }
            }
            match rng.below(24) {
                0..=2 => {
                    let j = rng.below(n);
                    m.call(&format!("g{j}"), true);
                    seen.weak_refs += 1;
                }
                3..=5 => m.define(&format!("g{i}"), true),
                6..=7 => {
                    let j = (i + 1) % n;
                    m.define(&format!("f{j}"), false);
                    m.call(&format!("f{i}"), false);
                }
                8 => m.define(&format!("f{}", (i + 1) % n), true),
                9 => m.call(&format!("nowhere{i}"), false),
                10..=11 => m.common(&format!("c{}", rng.below(2))),
                12 => m.data(&format!("c{}", rng.below(2))),
                _ => {}
            }
        }
        // Every fourth world holds a cycle for sure: m0 in one archive and m1 in another need
        // each other, and m2, an object, needs m0.
        let cycle = world % 4 == 0;
        if cycle {
            modules[0].call("f1", false);
            modules[1].call("f0", false);
            modules[2].call("f0", false);
        }
        // Every third world: m0 holds a common symbol, and an archive member defines it for
        // real, with a second definition of f0. ld pulls that member in for the common
        // symbol alone, and then finds f0 defined twice.
        let real_common = world % 3 == 1;
        if real_common {
            modules[0].common("c0");
            let mut m = Module::default();
            m.data("c0");
            m.define("f0", false);
            modules.push(m);
        }
        // Package: each module is an object or a member of one of up to three archives.
        let archives = if cycle {
            2 + rng.below(2)
        } else {
            1 + rng.below(3)
        };
        let mut members: Vec<Vec<String>> = vec![Vec::new(); archives];
        let mut inputs = Vec::new();
        for (i, m) in modules.iter().enumerate() {
            let source = format!("m{i}.s");
            std::fs::write(
                dir.join(&source),
                format!("{}  .section .note.GNU-stack,\"\",@progbits\n", m.text),
            )
            .unwrap();
            let object = format!("m{i}.o");
            run_tool(dir, "as", &[source.clone(), "-o".into(), object.clone()]).success();
            let place = match i {
                0..=2 if cycle => [1, 2, 0][i],
                _ if real_common && i == n => 1 + rng.below(archives),
                _ => rng.below(archives + 1),
            };
            match place {
                0 => inputs.push(object),
                a => members[a - 1].push(object),
            }
        }
        for (a, objects) in members.iter().enumerate() {
            if objects.is_empty() {
                continue;
            }
            let name = format!("liba{a}.a");
            let mut args = vec!["rcs".to_owned(), name.clone()];
            args.extend(objects.iter().cloned());
            run_tool(dir, "ar", &args).success();
            inputs.push(name);
        }
        for case in 0..6 {
            // A random order, sometimes with a run of it grouped.
            let mut order = inputs.clone();
            for k in (1..order.len()).rev() {
                order.swap(k, rng.below(k + 1));
            }
            if cycle && case == 5 {
                // The cycle's archives grouped, the one needed first placed last: only
                // searching the group again links it.
                order = inputs
                    .iter()
                    .filter(|i| i.ends_with(".o"))
                    .cloned()
                    .collect();
                order.push("--start-group".into());
                order.extend(inputs.iter().rev().filter(|i| i.ends_with(".a")).cloned());
                order.push("--end-group".into());
                seen.groups += 1;
            } else if case > 0 && rng.below(4) == 0 && order.len() > 1 {
                let start = rng.below(order.len() - 1);
                let end = start + 2 + rng.below(order.len() - start - 1);
                order.insert(end, "--end-group".into());
                order.insert(start, "--start-group".into());
                seen.groups += 1;
            }
            let what = format!("world {world}, order {order:?}");
            let ld = |args: &[String]| {
                let mut full = vec!["-o".to_owned(), "out".into()];
                full.extend(args.iter().cloned());
                run_tool(dir, "ld", &full).get_output().clone()
            };
            let linked = ld(&order);
            let stderr = String::from_utf8_lossy(&linked.stderr).into_owned();

            let options = Options {
                inputs: order
                    .iter()
                    .map(|a| {
                        if a.starts_with('-') {
                            a.clone()
                        } else {
                            dir.join(a).display().to_string()
                        }
                    })
                    .collect(),
                ..Options::default()
            };
            let line = Line::read(&options, &polylink_inspect::Host)
                .unwrap_or_else(|e| panic!("{what}: {e:#}"));
            let report = link_order::diagnose(&line);
            assert_eq!(
                report.links,
                linked.status.success(),
                "{what}\n{}\n--- ld:\n{stderr}",
                report.text
            );
            let undefined: BTreeSet<String> =
                report.undefined.iter().map(|u| u.symbol.clone()).collect();
            assert_eq!(
                undefined,
                reported(&stderr, "undefined reference to `"),
                "{what}\n{}",
                report.text
            );
            let twice: BTreeSet<String> = report.multiple.iter().map(|m| m.0.clone()).collect();
            assert_eq!(
                twice,
                reported(&stderr, "multiple definition of `"),
                "{what}\n{}",
                report.text
            );
            if report.links {
                seen.linked += 1;
                continue;
            }
            seen.failed += 1;
            seen.twice += usize::from(!twice.is_empty());
            seen.nowhere += usize::from(report.undefined.iter().any(|u| u.defined_in.is_empty()));
            let strip = |text: &str| -> Vec<String> {
                let prefix = format!("{}/", dir.display());
                text.split_whitespace()
                    .map(|w| w.trim_start_matches(&prefix).to_owned())
                    .collect()
            };
            match &report.proposal {
                Some(proposal) => {
                    seen.reordered += 1;
                    let out = ld(&strip(proposal));
                    assert!(
                        out.status.success(),
                        "{what}: the proposal {proposal} does not link:\n{}\n{}",
                        String::from_utf8_lossy(&out.stderr),
                        report.text
                    );
                    if !report.cycles.is_empty() {
                        seen.cycles += 1;
                        assert!(
                            proposal.contains("--start-group"),
                            "{what}: {}",
                            report.text
                        );
                    }
                    if let Some(repeated) = &report.repeated {
                        seen.repeated += 1;
                        let out = ld(&strip(repeated));
                        assert!(
                            out.status.success(),
                            "{what}: {repeated} does not link:\n{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                }
                None => {
                    // Not even everything in one group links.
                    let objects = inputs.iter().filter(|i| i.ends_with(".o")).cloned();
                    let archives = inputs.iter().filter(|i| i.ends_with(".a")).cloned();
                    let all: Vec<String> = objects
                        .chain(["--start-group".to_owned()])
                        .chain(archives)
                        .chain(["--end-group".to_owned()])
                        .collect();
                    assert!(
                        !ld(&all).status.success(),
                        "{what}: no proposal, but {all:?} links\n{}",
                        report.text
                    );
                }
            }
        }
    }
    eprintln!("{seen:?}");
    let Seen {
        linked,
        failed,
        reordered,
        cycles,
        repeated,
        twice,
        nowhere,
        weak_refs,
        groups,
    } = seen;
    for (count, what) in [
        (linked, "orders that link"),
        (failed, "orders that fail"),
        (reordered, "proposed orders"),
        (cycles, "cycles"),
        (repeated, "archives named twice"),
        (twice, "symbols defined twice"),
        (nowhere, "symbols defined nowhere"),
        (weak_refs, "weak references"),
        (groups, "groups"),
    ] {
        assert!(count > 0, "the generator made no case with {what}");
    }
}

/// The doctor on the project's own link: the archive first fails, naming `hello` as needed by
/// tour.o and defined in libpolylink.a, and proposes objects first; that order, with the C
/// driver's own inputs around it, links; `--dot` draws the inputs and the symbols between them.
#[test]
fn link_order_diagnoses_the_wrong_order_of_the_project_link() {
    build();
    let layout = layout();
    let (main, tour) = (layout.obj("c-main.o"), layout.obj("tour.o"));
    let archive = layout.lib("libpolylink.a");
    let [main, tour, archive] = [&main, &tour, &archive].map(|p| p.display().to_string());

    let output = polylink()
        .args(["link-order", "--cc", &archive, &main, &tour])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hello = stdout
        .lines()
        .position(|l| l.trim_start().starts_with("hello,") || l.trim() == "hello")
        .unwrap_or_else(|| panic!("no hello in:\n{stdout}"));
    let story: Vec<&str> = stdout.lines().skip(hello + 1).take(2).collect();
    assert_eq!(story[0].trim(), format!("needed by {tour}"), "{stdout}");
    assert!(
        story[1].contains(&format!("defined in {archive}(polylink-"))
            && story[1].ends_with("an input ld had already searched before the symbol was needed"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "An order that links:\n  {main} {tour} {archive}\n"
        )),
        "{stdout}"
    );
    // Without --cc, libc's symbols are missing too: said, and no order is proposed.
    let output = polylink()
        .args(["link-order", &main, &tour, &archive])
        .assert()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("puts\n    needed by ") && stdout.contains("defined by no input"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let dot = dir.path().join("graph.dot");
    let output = polylink()
        .args(["link-order", "--cc", "--dot"])
        .arg(&dot)
        .args([&main, &tour, &archive])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("This order links"), "{stdout}");
    let graph = std::fs::read_to_string(&dot).unwrap();
    assert!(
        graph.starts_with("digraph \"link-order\" {") && graph.ends_with("}\n"),
        "{graph}"
    );
    let node = |path: &str| {
        graph
            .lines()
            .find(|l| l.contains(&format!("[label=\"{path}\"")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no node for {path} in:\n{graph}"))
            .to_owned()
    };
    let edge = format!("  {} -> {} [label=\"", node(&tour), node(&archive));
    let line = graph
        .lines()
        .find(|l| l.starts_with(&edge))
        .unwrap_or_else(|| panic!("no {edge} in:\n{graph}"));
    assert!(line.contains("hello"), "{line}");
    // The driver's own inputs stay out of the picture when no problem touches them.
    for driver_input in ["Scrt1.o", "crtbeginS.o", "libc.so"] {
        assert!(!graph.contains(driver_input), "{driver_input} in:\n{graph}");
    }
    let dot_tool = polylink_tests::tool("dot").arg("-V").output();
    if dot_tool.is_ok_and(|o| o.status.success()) {
        polylink_tests::tool("dot")
            .arg("-Tsvg")
            .arg(&dot)
            .assert()
            .success();
    }
}

/// Bad input is refused by name, with exit status 1: a missing file, a file that is no input,
/// an archive without a symbol index, an unknown option, an unclosed group.
#[test]
fn link_order_refuses_bad_input_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an object\n").unwrap();
    let object = dir.path().join("empty.o");
    let show = |p: &Path| p.display().to_string();
    run_tool(
        dir.path(),
        "as",
        &["/dev/null".into(), "-o".into(), show(&object)],
    )
    .success();
    let bare = dir.path().join("bare.a");
    run_tool(
        dir.path(),
        "ar",
        &["rcS".into(), show(&bare), show(&object)],
    )
    .success();
    let missing = dir.path().join("missing.o");
    for (args, expected) in [
        (
            vec![show(&missing)],
            format!("{}: No such file", show(&missing)),
        ),
        (
            vec![show(&text)],
            format!(
                "{}: not an ELF object, archive, shared object or input-listing linker script",
                show(&text)
            ),
        ),
        (
            vec![show(&bare)],
            format!("{}: the archive has no symbol index", show(&bare)),
        ),
        (
            vec![show(&object), "--gc-sections".into()],
            "--gc-sections: not an input or an option link-order reads".into(),
        ),
        (
            vec!["--start-group".into(), show(&object)],
            "--start-group without an --end-group".into(),
        ),
        (
            vec!["-lpolylink-no-such-library".into()],
            "-lpolylink-no-such-library: found in no search directory".into(),
        ),
    ] {
        let output = polylink()
            .arg("link-order")
            .args(&args)
            .assert()
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "{args:?}: no {expected:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// What link-order asks of the system goes through one trait: answered here with fixed data (a
/// search directory and a driver line), the replay finds `-la` where the data says, and the
/// `-lb` the "driver" adds after the user's inputs resolves what liba.a needs (main.o, a.o and
/// b.o: three units), without running ld or cc.
#[test]
fn the_system_is_asked_through_one_trait() {
    struct Fixed(PathBuf);
    impl polylink_inspect::System for Fixed {
        fn ld_search_dirs(&self) -> polylink_inspect::Result<Vec<PathBuf>> {
            Ok(vec![self.0.clone()])
        }
        fn driver_line(
            &self,
            driver: Option<&str>,
            cc_args: &[String],
            mark: &str,
        ) -> polylink_inspect::Result<(String, String)> {
            assert_eq!((driver, cc_args), (None, &["-nostartfiles".to_owned()][..]));
            Ok((
                "fixed-cc".into(),
                format!("Using built-in specs.\n /fixed/collect2 -o a.out {mark} -lb\n"),
            ))
        }
        fn cpp_filt(&self, _: Vec<u8>, _: bool) -> polylink_inspect::Result<Vec<u8>> {
            unreachable!("link-order demangles nothing")
        }
        fn run(&self, _: &[String]) -> polylink_inspect::Result<(bool, String)> {
            unreachable!("link-order runs no link")
        }
    }
    let fixtures = polylink_tests::root().join("tests/data/elf");
    let main = fixtures.join("main.o").display().to_string();
    let options = Options {
        cc: true,
        cc_args: vec!["-nostartfiles".into()],
        inputs: vec![main, "-la".into()],
        ..Options::default()
    };
    let line = Line::read(&options, &Fixed(fixtures.clone())).unwrap();
    let report = link_order::diagnose(&line);
    assert!(report.links, "{}", report.text);
    assert!(
        report.text.contains("ld would load 3 units")
            && report.text.contains("elf/liba.a: 1 of 2 members pulled in"),
        "{}",
        report.text
    );
}
