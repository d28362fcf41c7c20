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

/// `name` demangled, when it is a Rust or C++ mangled name.
pub fn demangled(name: &str) -> Option<String> {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return Some(format!("{d:#}"));
    }
    if name.starts_with("_Z") {
        return cpp_demangle::Symbol::new(name).ok()?.demangle().ok();
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
