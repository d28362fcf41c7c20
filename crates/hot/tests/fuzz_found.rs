//! Inputs the fuzz targets found crashing the live patcher's object reader (sizes and symbol
//! values from headers that overflowed the layout's arithmetic), kept so that they never do
//! again: each is parsed, laid out and linked, and refused or linked, without a panic.

#[test]
fn objects_the_fuzzer_found_are_read_without_a_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-found");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        polylink_hot::live::fuzzing::link_object(&bytes, "compute");
        seen += 1;
    }
    assert!(seen >= 3, "{seen} inputs in {}", dir.display());
}
