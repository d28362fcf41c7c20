//! Symbol names as a person reads them: demangled (Rust legacy and v0 by rustc-demangle, C++ by
//! the cpp_demangle crate), with the raw name beside them, for reports and problems.

/// `name` demangled (Rust or C++), with the raw name beside it; the name alone when it is not
/// mangled.
pub fn shown(name: &str) -> String {
    match demangled(name) {
        Some(d) if d != name => format!("`{d}` ({name})"),
        _ => format!("`{name}`"),
    }
}

/// `name` demangled, when it is a Rust or C++ mangled name: C++ as GNU ld spells it (through
/// the libiberty nm uses).
pub fn demangled(name: &str) -> Option<String> {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return Some(format!("{d:#}"));
    }
    if name.starts_with("_Z") {
        return crate::nm::demangle_cpp(name);
    }
    None
}

/// `name` demangled with the raw name in brackets (`foo(int) [_Z3fooi]`), or as it is.
pub fn plain(name: &str) -> String {
    match demangled(name) {
        Some(d) if d != name => format!("{d} [{name}]"),
        _ => name.to_owned(),
    }
}

/// Whether `a` and `b` are one edit apart: an insertion, a deletion, a substitution, a
/// transposition of neighbours, or a difference of case alone: lld's spelling suggestions,
/// which the link doctor and the live patcher both make.
pub fn one_edit(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len() as isize - rb.len() as isize {
        0 => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        1 => ra[1..] == *rb,
        -1 => *ra == rb[1..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_covers_lld_s_spelling_suggestions() {
        assert!(one_edit("prnt", "print"));
        assert!(one_edit("print", "prnt"));
        assert!(one_edit("pirnt", "print"));
        assert!(one_edit("prinx", "print"));
        assert!(one_edit("Print", "print"));
        assert!(!one_edit("print", "print"));
        assert!(!one_edit("pr", "print"));
    }
}
