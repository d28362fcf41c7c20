//! `cargo xtask compare`: the same bytes, the same results, and the costs as numbers.

use polylink_tests::{build, nasm, xtask_ok};

#[test]
fn every_routine_is_the_same_bytes_and_gives_the_same_results_on_both_paths() {
    build();
    let output = xtask_ok(&["compare", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let routines = report["routines"].as_array().unwrap();
    let names: Vec<&str> = routines
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, xtask::plan::routines(polylink_tests::root()));
    for r in routines {
        assert_eq!(r["bytes_identical"], true, "{r}");
        assert_eq!(r["relocations"], 0, "{r}");
        assert_eq!(r["results_match"], true, "{r}");
        assert!(r["cases"].as_u64().unwrap() > 0, "{r}");
    }
    let add = routines.iter().find(|r| r["name"] == "add").unwrap();
    assert_eq!(add["bytes"], 7);
    // The emitter's add: the object's bytes, the linked routine's results.
    assert_eq!(add["emitted"]["bytes_identical"], true, "{add}");
    assert_eq!(add["emitted"]["results_match"], true, "{add}");
    assert!(
        routines
            .iter()
            .filter(|r| r["name"] != "add")
            .all(|r| r["emitted"].is_null())
    );
    for key in [
        "emitted_over_linked_call",
        "far_over_near_embedded_call",
        "emit_ns_per_instruction",
        "iced_encoder_over_emitter",
        "embedded_over_linked_call",
        "fast_copy_over_memcpy_256mib",
        "fast_copy_over_memcpy_4kib",
        "fast_copy_over_memcpy_64b",
        "fast_copy_over_memcpy_16mib",
        "fast_copy_over_baseline_256mib",
        "batched_seal_us_per_fn",
    ] {
        let value = report["ratios"][key].as_f64();
        assert!(
            value.is_some_and(|v| v.is_finite() && v > 0.0),
            "{key}: {value:?}"
        );
    }
    // Embedded and emitted code is mapped in the caller's 128 GiB block; the far row is not.
    let calls = &report["figures"]["calls"];
    for (row, near) in [
        ("linked", true),
        ("embedded", true),
        ("emitted", true),
        ("far", false),
    ] {
        assert_eq!(calls[row]["near"], near, "{row}: {calls}");
    }
    assert_eq!(calls["rounds"], 61, "{calls}");
    assert!(
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["met"].is_boolean())
    );
}

/// Code that reaches data in another section needs a relocation in the object: the linker
/// fills the hole, so the object's bytes are not the raw bin's, and compare says why.
#[test]
fn a_routine_whose_object_needs_relocations_is_reported_not_pretended() {
    let dir = tempfile::tempdir().unwrap();
    let source = "bits 64\n\
                  %ifidn __OUTPUT_FORMAT__, elf64\n\
                  global pl_asm_digit:function (pl_asm_digit.end - pl_asm_digit)\n\
                  %endif\n\
                  default rel\n\
                  section .text\n\
                  pl_asm_digit:\n    lea rax, [digits]\n    movzx eax, byte [rax + rdi]\n    ret\n\
                  .end:\n\
                  section .rodata\n\
                  digits: db \"0123456789\"\n";
    let object = nasm(dir.path(), "digit", "elf64", source);
    let raw = std::fs::read(nasm(dir.path(), "digit", "bin", source)).unwrap();
    let (bytes, relocations) = xtask::compare::routine_in_object(&object, "pl_asm_digit").unwrap();
    assert_eq!(relocations, 1);
    assert_ne!(
        bytes[..],
        raw[..bytes.len()],
        "the hole is not the raw displacement"
    );
}
