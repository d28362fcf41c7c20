//! Demangling as nm -C does it (BFD's `bfd_demangle`): Rust names by rustc-demangle, C++ names
//! by libiberty's own demangler linked in (`libiberty.rs`), or, in a build without it, asked
//! of `c++filt -i` once per run for all of them.

use std::io::Write;

use super::{itanium, libiberty};
use crate::System;

/// How `-C` spells names in one report: c++filt's answers for the names it was asked about,
/// else the demanglers linked in.
#[derive(Clone, Copy, Debug)]
pub(super) struct Demangler<'a> {
    pub(super) asked: &'a CppNames,
}

impl Demangler<'_> {
    /// [`Demangler::demangle_into`] of a name as bytes: a name that is not UTF-8 is not
    /// demangled.
    pub(super) fn demangle_name(&self, out: &mut Vec<u8>, name: &[u8]) -> bool {
        // Most names of a C++ library are plain C++ names that the fast demangler takes:
        // those are spelled without the rest of BFD's steps, which would come to the same.
        if self.asked.names.is_empty() && plain_cpp(name) && cpp_core(out, name) {
            return true;
        }
        std::str::from_utf8(name).is_ok_and(|name| self.demangle_into(out, name))
    }

    /// BFD's `bfd_demangle`, appending to `out`: leading dots and dollars and anything from the
    /// first `@` are set aside, the rest demangled (C++ names by c++filt's answer when it has
    /// one, else by the libiberty linked in, else by the `cpp_demangle` crate), and both put
    /// back. False, and `out` as it was, when nothing demangles.
    pub(super) fn demangle_into(&self, out: &mut Vec<u8>, name: &str) -> bool {
        let (pre, core, suffix) = split(name);
        let mark = out.len();
        out.extend_from_slice(pre.as_bytes());
        let done = match scheme(core) {
            Scheme::Rust(d) => {
                // Writing into a vector cannot fail.
                let _ = write!(out, "{d:#}");
                true
            }
            Scheme::Cpp => match self.asked.names.get(core) {
                Some(Some(said)) => {
                    out.extend_from_slice(said.as_bytes());
                    true
                }
                Some(None) => false,
                None => cpp_core(out, core.as_bytes()),
            },
            Scheme::Neither => false,
        };
        if !done {
            out.truncate(mark);
            return false;
        }
        out.extend_from_slice(suffix.as_bytes());
        true
    }
}

/// A C++ name (`_Z…`) as binutils spells it ([`cpp_core`]); `None` when no demangler takes
/// it.
pub(crate) fn cpp(name: &str) -> Option<String> {
    let mut out = Vec::new();
    cpp_core(&mut out, name.as_bytes()).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// A C++ name (`_Z…` or `_GLOBAL_…`) as binutils spells it, appended to `out`: by the fast
/// demangler when it takes the name (`itanium.rs`, which spells what it takes as libiberty
/// does), else by the libiberty linked in, else by the `cpp_demangle` crate. False, and `out`
/// as it was, when none takes it.
fn cpp_core(out: &mut Vec<u8>, core: &[u8]) -> bool {
    if libiberty::LINKED && itanium::demangle(out, core) {
        return true;
    }
    let Ok(core) = std::str::from_utf8(core) else {
        return false;
    };
    match libiberty::demangle(out, core) {
        Some(done) => done,
        None => cpp_demangle_like_libiberty(out, core),
    }
}

/// Whether `name` is a C++ name that BFD demangles whole, as it is: `_Z…`, ASCII, with no
/// `@` or `.` suffix, and not shaped like a legacy Rust name (which ends in `17h`, a 16-digit
/// hash and `E`).
fn plain_cpp(name: &[u8]) -> bool {
    let rust_tail = name.len() > 23
        && name.ends_with(b"E")
        && name[name.len() - 20..name.len() - 17] == *b"17h";
    name.starts_with(b"_Z")
        && !rust_tail
        && name.is_ascii()
        && memchr::memchr2(b'@', b'.', name).is_none()
}

/// The C++ part of `name` when the demangler linked in gives up on it (an invalid name, or
/// one nested past its recursion limit), for `--no-recurse-limit`.
pub(super) fn refused(name: &[u8]) -> Option<&str> {
    if !libiberty::LINKED {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    let (_, core, _) = split(name);
    if !matches!(scheme(core), Scheme::Cpp) || !cpp_word(core) {
        return None;
    }
    let mut scratch = Vec::new();
    (libiberty::demangle(&mut scratch, core) == Some(false)).then_some(core)
}

/// Whether any name in `strings` (a string table) may be one c++filt is asked about: with
/// libiberty linked in, only tables that hold `DT`, `Dt` or `DF` somewhere (a search of the
/// bytes, so that the names of most tables are never split out one by one).
pub(super) fn may_ask_cpp_filt(strings: &[u8]) -> bool {
    !libiberty::LINKED
        || [b"DT", b"Dt", b"DF"]
            .iter()
            .any(|pair| memchr::memmem::find(strings, *pair).is_some())
}

/// The part of `name` that c++filt is asked about, when it is: every C++ name in a build
/// without libiberty linked in; otherwise those that GCC's copy of libiberty spells otherwise
/// than binutils 2.40's (GCC 12's lacks `DF16_`, `_Float16`, and prints a call inside
/// `decltype` without binutils' parentheses). The bytes are looked at before anything else:
/// this runs on every name of every string table.
pub(super) fn for_cpp_filt(name: &[u8]) -> Option<&str> {
    let start = name.iter().position(|&b| b != b'.' && b != b'$')?;
    let rest = &name[start..];
    let core = &rest[..rest.iter().position(|&b| b == b'@').unwrap_or(rest.len())];
    let newer = || {
        core.windows(2)
            .any(|w| w[0] == b'D' && matches!(w[1], b'T' | b't' | b'F'))
    };
    if !(core.starts_with(b"_Z") || core.starts_with(b"_GLOBAL_"))
        || (libiberty::LINKED && !newer())
    {
        return None;
    }
    let core = std::str::from_utf8(core).ok()?;
    (matches!(scheme(core), Scheme::Cpp) && cpp_word(core)).then_some(core)
}

/// Whether `name` may demangle at all: a `_Z…`, `_R…` or `_GLOBAL_…` name after any leading
/// dots and dollars ([`scheme`] takes no other).
pub(super) fn may_demangle(name: &[u8]) -> bool {
    let bare = name.iter().position(|&b| b != b'.' && b != b'$');
    bare.is_some_and(|i| {
        let name = &name[i..];
        name.starts_with(b"_Z") || name.starts_with(b"_R") || name.starts_with(b"_GLOBAL_")
    })
}

/// BFD's split of a name: leading dots and dollars, the name demangled, anything from `@` on.
fn split(name: &str) -> (&str, &str, &str) {
    let start = name.find(|c| c != '.' && c != '$').unwrap_or(name.len());
    let (pre, rest) = name.split_at(start);
    let (core, suffix) = rest.split_at(rest.find('@').unwrap_or(rest.len()));
    (pre, core, suffix)
}

/// Which demangler libiberty's `cplus_demangle` in auto mode would use for a name.
enum Scheme<'a> {
    Rust(rustc_demangle::Demangle<'a>),
    Cpp,
    Neither,
}

/// libiberty's `cplus_demangle` in auto mode: Rust first (legacy symbols overlap with C++),
/// then C++.
fn scheme(name: &str) -> Scheme<'_> {
    if let Some(body) = name.strip_prefix("_ZN") {
        if let Some(len) = legacy_rust_length(body)
            && let Ok(d) = rustc_demangle::try_demangle(&name[..3 + len])
        {
            return Scheme::Rust(d);
        }
    } else if name.starts_with("_R") {
        // v0: libiberty ignores a `.` suffix.
        let body = &name[..name.find('.').unwrap_or(name.len())];
        if !body.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()) {
            return Scheme::Neither;
        }
        return match rustc_demangle::try_demangle(body) {
            Ok(d) => Scheme::Rust(d),
            Err(_) => Scheme::Neither,
        };
    }
    if name.starts_with("_Z") || name.starts_with("_GLOBAL_") {
        return Scheme::Cpp;
    }
    Scheme::Neither
}

/// libiberty takes a legacy symbol as Rust when, after dropping `.suffix`es such as
/// `.llvm.1234` (and with them anything not ending in `E`), it ends in a hash segment: `17h`,
/// 16 hex digits, `E`. Anything else is left to the C++ demangler. The length of the body
/// (after `_ZN`) that is demangled, when it has that shape.
fn legacy_rust_length(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    // The end that counts: the body's, else the last `.` that follows an `E`.
    let mut len = bytes.len();
    while !(len > 0 && bytes[len - 1] == b'E') {
        len = body[..len].rfind('.')?;
    }
    let hashed =
        len > 20 && bytes[len - 20..len - 17] == *b"17h" && legacy_hash(&bytes[len - 17..len - 1]);
    let rust_chars = || {
        bytes
            .iter()
            .all(|&b| b == b'_' || b.is_ascii_alphanumeric() || b"$.:@".contains(&b))
    };
    (hashed && rust_chars()).then_some(len)
}

/// Whether the 16 digits of a legacy hash are one (libiberty's `is_legacy_prefixed_hash`):
/// lower-case hex with at least 5 distinct digits. `h44b10004000b401b` is not one, and its
/// name is demangled as C++, the `h…` segment kept.
fn legacy_hash(digits: &[u8]) -> bool {
    let mut seen = 0u16;
    for &b in digits {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return false,
        };
        seen |= 1 << nibble;
    }
    seen.count_ones() >= 5
}

/// A C++ name through the `cpp_demangle` crate, with the spellings where it differs from
/// libiberty most often mapped back (not all of them: thunks, VTTs, construction vtables,
/// `std::istream` abbreviations and unified constructors still differ).
fn cpp_demangle_like_libiberty(out: &mut Vec<u8>, name: &str) -> bool {
    let Some(d) = cpp_demangle::Symbol::new(name)
        .ok()
        .and_then(|symbol| symbol.demangle().ok())
    else {
        return false;
    };
    let d = match d
        .strip_prefix("{vtable(")
        .and_then(|d| d.strip_suffix(")}"))
    {
        Some(inner) => format!("vtable for {inner}"),
        None => d,
    };
    out.extend_from_slice(d.replace("std::nullptr_t", "decltype(nullptr)").as_bytes());
    true
}

/// Whether c++filt reads a name as one word (these characters), so that it can be asked.
fn cpp_word(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_$.".contains(&b))
}

/// How binutils' libiberty demangles the C++ names of one run that the copy linked in cannot
/// be trusted with, as nm -C prints them: asked of `c++filt -i` (binutils' front end to the
/// same demangler, with nm's options) once, for all those names together.
#[derive(Debug, Default)]
pub struct CppNames {
    /// Each name asked about, and what it demangles to (`None`: libiberty leaves it as it is).
    names: std::collections::HashMap<String, Option<String>>,
    /// Why c++filt could not answer, when it could not.
    pub(super) warning: Option<String>,
}

impl CppNames {
    /// Asks c++filt about `wanted`. Without an answer, the names stay with the `cpp_demangle`
    /// crate, and the warning says so.
    pub(super) fn ask(
        &mut self,
        wanted: std::collections::BTreeSet<String>,
        no_recurse_limit: bool,
        system: &dyn System,
    ) {
        let mut text = Vec::new();
        for name in &wanted {
            text.extend_from_slice(name.as_bytes());
            text.push(b'\n');
        }
        let output = match system.cpp_filt(text, no_recurse_limit) {
            Ok(output) => output,
            Err(e) => {
                self.warning = Some(format!(
                    "{e}: {} C++ names were demangled by the cpp_demangle crate instead, which \
                     spells some of them differently from nm -C",
                    wanted.len()
                ));
                return;
            }
        };
        let said = String::from_utf8_lossy(&output);
        let lines: Vec<&str> = said.lines().collect();
        if lines.len() != wanted.len() {
            self.warning = Some(format!(
                "c++filt answered {} lines for {} names: C++ names were demangled by the \
                 cpp_demangle crate instead",
                lines.len(),
                wanted.len()
            ));
            return;
        }
        for (name, line) in wanted.into_iter().zip(lines) {
            let demangled = (line != name).then(|| line.to_owned());
            self.names.insert(name, demangled);
        }
    }
}
