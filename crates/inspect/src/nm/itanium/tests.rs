//! The fast demangler held to libiberty, and its findings as regression tests.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::symbols::{self, Table};

/// Every `_Z` name (up to any `@`) in the symbol tables of `paths`, archives' members
/// included.
fn cpp_names(paths: &[PathBuf]) -> BTreeSet<Vec<u8>> {
    let mut names = BTreeSet::new();
    let mut take = |data: &[u8]| {
        for table in [Table::Static, Table::Dynamic] {
            let Ok(Some(table)) = symbols::Reader::new(data, table, false) else {
                continue;
            };
            for index in 0..table.len() {
                let Some(name) = table.name(index) else {
                    continue;
                };
                let core = name.split(|&b| b == b'@').next().unwrap_or_default();
                if core.starts_with(b"_Z") {
                    names.insert(core.to_vec());
                }
            }
        }
    };
    for path in paths {
        let Ok(input) = symbols::load(path) else {
            continue;
        };
        let mut thin = Vec::new();
        match symbols::units(&input, &mut thin) {
            Ok(Some(units)) => units
                .into_iter()
                .filter_map(|u| u.result.ok())
                .for_each(&mut take),
            Ok(None) => take(input.data()),
            Err(_) => {}
        }
    }
    names
}

/// The system's C++ libraries and programs: libstdc++ (shared and static), and every
/// shared object and archive under the library directory.
fn system_files() -> Vec<PathBuf> {
    let dir = Path::new("/usr/lib/x86_64-linux-gnu");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    (name.contains(".so") || name.ends_with(".a")) && p.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn itanium_agrees_with_libiberty() {
    if !super::super::libiberty::LINKED {
        return;
    }
    let names = cpp_names(&system_files());
    assert!(names.len() > 5_000, "{} C++ names", names.len());
    let (mut taken, mut differ) = (0, Vec::new());
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for name in &names {
        ours.clear();
        theirs.clear();
        if !super::demangle(&mut ours, name) {
            continue;
        }
        taken += 1;
        let text = std::str::from_utf8(name).unwrap();
        let said = super::super::libiberty::demangle(&mut theirs, text);
        if said != Some(true) || ours != theirs {
            differ.push(format!(
                "{text}\n  ours:      {}\n  libiberty: {}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            ));
        }
    }
    eprintln!("{taken} of {} names taken", names.len());
    assert!(
        differ.is_empty(),
        "{} of {taken} differ:\n{}",
        differ.len(),
        differ[..differ.len().min(20)].join("\n")
    );
    // Most names are the common kind this demangler is for.
    assert!(taken * 10 > names.len() * 7, "{taken} of {}", names.len());
}

/// Names whose spelling doubles with each substitution are given up, not spelled out
/// without bound; a name past the length taken is given up at once.
#[test]
fn exponential_and_overlong_names_are_given_up() {
    // void f<A<int, int>, A<A<int, int>, A<int, int> >, ...>(): each argument twice the
    // last. S_ is f, S0_ is A, S1_ is A<int, int>, and each A<Sn_, Sn_> the next one.
    let bomb = |levels: usize| {
        let mut name = "_Z1fI1AIiiE".to_owned();
        for n in 1..=levels {
            let id = match n {
                0..=9 => char::from(b'0' + n as u8).to_string(),
                _ => char::from(b'A' + (n - 10) as u8).to_string(),
            };
            name.push_str(&format!("S0_IS{id}_S{id}_E"));
        }
        name + "Evv"
    };
    let mut out = Vec::new();
    assert!(super::demangle(&mut out, bomb(4).as_bytes()));
    assert!(out.starts_with(b"void f<A<int, int>, A<A<int, int>, A<int, int> >, "));
    let mut out = b"kept".to_vec();
    assert!(!super::demangle(&mut out, bomb(25).as_bytes()));
    assert_eq!(out, b"kept");
    let long = [b"_Z1fv".as_slice(), &[b'i'; 600]].concat();
    assert!(!super::demangle(&mut out, &long));
    assert_eq!(out, b"kept");
}

/// The `demangle` fuzz target's first finding: a source name holding NUL bytes, which
/// libiberty (reading a C string) never sees whole, is left to it.
#[test]
fn names_of_unprintable_bytes_are_given_up() {
    let name = b"_ZN9\0\0\0\0u_cxx13new_allocatorIcE8allocateEmPKv";
    let mut out = b"kept".to_vec();
    assert!(!super::demangle(&mut out, name));
    assert_eq!(out, b"kept");
    super::check_against_libiberty(name);
    assert!(super::demangle(
        &mut out,
        b"_ZN9__gnu_cxx13new_allocatorIcE8allocateEmPKv"
    ));
}

/// The third: an ABI tag named like the anonymous namespace, which libiberty spells as
/// `(anonymous namespace)` (a tag is a source name to it), is left to libiberty.
#[test]
fn tags_named_as_the_anonymous_namespace_are_given_up() {
    let name = b"_Z11gB5cB5cxx0gB1xx1x1gB12_GLOBAL__Nvv1v";
    let mut out = Vec::new();
    assert!(!super::demangle(&mut out, name));
    super::check_against_libiberty(name);
}

/// A name parsed after another that starts with the same bytes resumes from where that
/// parse stood: spelled as it is when parsed from the start, however far the names agree.
#[test]
fn a_resumed_parse_spells_as_a_fresh_one() {
    let names: [&[u8]; 8] = [
        b"_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE12find_last_ofEPKcm",
        b"_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE12find_last_ofEPKcmm",
        b"_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE4sizeEv",
        b"_ZNKSt7__cxx1112basic_stringIwSt11char_traitsIwESaIwEE4sizeEv",
        b"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE6appendERKS4_",
        b"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC1ERKS4_",
        b"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEED2Ev",
        b"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
    ];
    let fresh = |name: &[u8]| {
        // A name of nothing in common first, so that nothing is resumed.
        super::demangle(&mut Vec::new(), b"_Z1fv");
        let mut out = Vec::new();
        super::demangle(&mut out, name).then_some(out)
    };
    let expected: Vec<_> = names.iter().map(|n| fresh(n)).collect();
    assert!(expected[..7].iter().all(Option::is_some));
    for (i, name) in names.iter().enumerate() {
        for before in &names {
            super::demangle(&mut Vec::new(), before);
            let mut out = Vec::new();
            let said = super::demangle(&mut out, name).then_some(out);
            assert_eq!(
                said,
                expected[i],
                "{} after {}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(before)
            );
            super::check_against_libiberty(name);
        }
    }
}

/// The second: a number past `INT_MAX`, at which libiberty stops reading the number and
/// fails, is given up.
#[test]
fn numbers_past_int_max_are_given_up() {
    for name in [
        b"_ZTv_0000000000000000000000090430433210_6f1xTvv".as_slice(),
        b"_Z2147483648fv",
    ] {
        let mut out = Vec::new();
        assert!(!super::demangle(&mut out, name));
        super::check_against_libiberty(name);
    }
    let mut out = Vec::new();
    assert!(super::demangle(&mut out, b"_ZTv0_n24_N1B1fEv"));
    assert_eq!(out, b"virtual thunk to B::f()");
}

/// A few names spelled as libiberty (and GNU nm -C) spell them, whether or not libiberty
/// is linked in.
#[test]
fn common_names_are_spelled_as_libiberty_spells_them() {
    for (mangled, spelled) in [
        ("_ZNSt8ios_base4InitC1Ev", "std::ios_base::Init::Init()"),
        (
            "_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE4findEPKcmm",
            "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> \
             >::find(char const*, unsigned long, unsigned long) const",
        ),
        (
            "_ZStlsISt11char_traitsIcEERSt13basic_ostreamIcT_ES5_PKc",
            "std::basic_ostream<char, std::char_traits<char> >& std::operator<< \
             <std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, \
             char const*)",
        ),
        ("_ZTVSt9exception", "vtable for std::exception"),
        (
            "_ZThn16_NSdD1Ev",
            "non-virtual thunk to std::basic_iostream<char, std::char_traits<char> >::~basic_iostream()",
        ),
        (
            "_ZN12_GLOBAL__N_11fILi3ELb1EEEvv",
            "void (anonymous namespace)::f<3, true>()",
        ),
        ("_ZNK1A1gB5cxx11Ev", "A::g[abi:cxx11]() const"),
    ] {
        let mut out = Vec::new();
        assert!(super::demangle(&mut out, mangled.as_bytes()), "{mangled}");
        assert_eq!(String::from_utf8_lossy(&out), spelled, "{mangled}");
    }
}
