//! The generated C header: current, and exactly the staticlib's exports.

use std::collections::BTreeSet;

use object::read::archive::ArchiveFile;
use object::{Object, ObjectSymbol, SymbolKind};
use polylink_tests::{build, copy_of_sources, root};

#[test]
fn the_committed_header_is_current() {
    xtask::header::check(root()).unwrap();
}

#[test]
fn a_stale_header_is_reported_with_the_fix() {
    let copy = copy_of_sources();
    let header = copy.path().join(xtask::header::HEADER);
    let text = std::fs::read_to_string(&header).unwrap();
    std::fs::write(
        &header,
        text.replace("void hello(void);", "void hello(int);"),
    )
    .unwrap();
    let err = xtask::header::check(copy.path()).unwrap_err().to_string();
    assert!(err.contains("polylink.h is stale"), "{err}");
    assert!(err.contains("run `cargo xtask header`"), "{err}");
}

/// The function names a C header declares (prototypes at the start of a line).
fn header_functions(header: &str) -> BTreeSet<String> {
    header
        .lines()
        .filter(|l| !l.starts_with([' ', '/', '#', '}']) && !l.starts_with("typedef"))
        .filter_map(|l| {
            let (before, _) = l.split_once('(')?;
            let name = before.rsplit([' ', '*']).next()?;
            Some(name.to_owned())
        })
        .collect()
}

/// The unmangled global functions that polylink's own members of the staticlib define (the
/// members of std and core are named after their crates).
fn staticlib_exports() -> BTreeSet<String> {
    let lib = &build().staticlib("libpolylink.a").unwrap().path;
    let data = std::fs::read(lib).unwrap();
    let archive = ArchiveFile::parse(&*data).unwrap();
    let mut exports = BTreeSet::new();
    for member in archive.members() {
        let member = member.unwrap();
        if !member.name().starts_with(b"polylink-") {
            continue;
        }
        let file = object::File::parse(member.data(&*data).unwrap()).unwrap();
        for symbol in file.symbols() {
            let name = symbol.name().unwrap();
            let mangled = name.starts_with("_ZN") || name.starts_with("_R");
            if symbol.is_global()
                && symbol.is_definition()
                && symbol.kind() == SymbolKind::Text
                && !mangled
            {
                exports.insert(name.to_owned());
            }
        }
    }
    exports
}

#[test]
fn the_header_declares_exactly_the_functions_the_staticlib_exports() {
    let header = std::fs::read_to_string(root().join(xtask::header::HEADER)).unwrap();
    let declared = header_functions(&header);
    assert!(
        declared.contains("hello") && declared.contains("pl_sum8"),
        "{declared:?}"
    );
    assert_eq!(declared, staticlib_exports());
}
