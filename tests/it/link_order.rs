//! The wrong link order, reproduced and explained.

use polylink_tests::{build, layout, xtask_ok};

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
