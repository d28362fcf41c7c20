//! One symbol as one line of nm's output: its name as nm shows it (version, demangling,
//! `--unicode`), and its value, letter and size in the BSD, POSIX and System V layouts.

use std::borrow::Borrow;
use std::io::{self, Write};

use super::demangle::Demangler;
use super::source::Sources;
use super::{Format, Options, Radix, Unicode};
use crate::symbols::Symbol;

/// A name's demangled spelling when it is already known: `Some(Some(spelling))`, or
/// `Some(None)` when it does not demangle; `None` when it is not known.
pub(super) type Spelled<'a> = Option<Option<&'a [u8]>>;

/// The name nm prints, as bytes (nm prints names as they are, valid UTF-8 or not): with the
/// version of a dynamic symbol, and demangled if `demangle` is given and the demangler takes
/// it (C++ names by c++filt's answers where it was asked), or as `spelled` says when it is
/// known. `scratch` keeps its allocation from name to name.
pub(super) fn display_name(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    s: &Symbol<'_>,
    demangle: Option<Demangler<'_>>,
    spelled: Spelled<'_>,
    unicode: Unicode,
) {
    out.clear();
    // BFD demangles the name with its version: the same as the name, then the version, since
    // everything from the first `@` is put back as it was.
    let version_text = s
        .version
        .is_none_or(|(v, _)| std::str::from_utf8(v).is_ok());
    let demangled = match (demangle, spelled) {
        (Some(_), Some(Some(spelling))) if version_text => {
            out.extend_from_slice(spelling);
            true
        }
        (Some(_), Some(None)) => false,
        (Some(demangler), None) if version_text => demangler.demangle_name(out, s.name),
        _ => false,
    };
    if !demangled {
        out.extend_from_slice(s.name);
    }
    if let Some((version, one_at)) = s.version {
        out.extend_from_slice(if one_at { b"@" } else { b"@@" });
        out.extend_from_slice(version);
    }
    if unicode != Unicode::Default && out.iter().any(|&c| c.is_ascii_control() || c >= 0xc0) {
        scratch.clear();
        convert_unicode(scratch, out, unicode);
        std::mem::swap(out, scratch);
    }
}

/// nm.c's `convert_utf8` and `display_utf8`: control characters as `^X`, and each well-formed
/// UTF-8 sequence as `unicode` asks; any other byte as it is.
pub(super) fn convert_unicode(out: &mut Vec<u8>, name: &[u8], unicode: Unicode) {
    let mut i = 0;
    while i < name.len() {
        let c = name[i];
        if c.is_ascii_control() {
            out.extend_from_slice(&[b'^', c.wrapping_add(0x40)]);
            i += 1;
            continue;
        }
        let continues = |at: usize| name.get(at).is_some_and(|b| b & 0xc0 == 0x80);
        let len = match c {
            _ if c < 0xc0 || !continues(i + 1) => 1,
            _ if c & 0x20 == 0 => 2,
            _ if !continues(i + 2) => 1,
            _ if c & 0x10 == 0 => 3,
            _ if !continues(i + 3) => 1,
            _ => 4,
        };
        let bytes = &name[i..i + len];
        i += len;
        if len == 1 {
            out.push(c);
            continue;
        }
        match unicode {
            Unicode::Default | Unicode::Locale => out.extend_from_slice(bytes),
            Unicode::Invalid | Unicode::Hex => {
                let (open, close) = if unicode == Unicode::Hex {
                    (b'<', b'>')
                } else {
                    (b'{', b'}')
                };
                out.extend_from_slice(&[open, b'0', b'x']);
                for b in bytes {
                    out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
                }
                out.push(close);
            }
            Unicode::Escape | Unicode::Highlight => {
                if unicode == Unicode::Highlight {
                    out.extend_from_slice(b"\x1b[31;47m");
                }
                let digits: Vec<u8> = match *bytes {
                    [a, b] => vec![(a & 0x1c) >> 2, ((a & 0x03) << 6) | (b & 0x3f)],
                    [a, b, c] => vec![
                        ((a & 0x0f) << 4) | ((b & 0x3c) >> 2),
                        ((b & 0x03) << 6) | (c & 0x3f),
                    ],
                    [a, b, c, d] => vec![
                        ((a & 0x07) << 6) | ((b & 0x3c) >> 2),
                        ((b & 0x03) << 6) | ((c & 0x3c) >> 2),
                        ((c & 0x03) << 6) | (d & 0x3f),
                    ],
                    _ => Vec::new(),
                };
                out.extend_from_slice(b"\\u");
                for d in digits {
                    out.extend_from_slice(&[HEX[usize::from(d >> 4)], HEX[usize::from(d & 0xf)]]);
                }
                if unicode == Unicode::Highlight {
                    out.extend_from_slice(b"\x1b[0m");
                }
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `%016x` (or `%08x` for a 32-bit file: `digits`; `%016lu`, `%016lo` in another radix),
/// without the formatting machinery.
fn number_fixed(line: &mut Vec<u8>, v: u64, digits: usize, radix: Radix) {
    if radix == Radix::Hex && digits <= 16 {
        let mut text = [0; 16];
        for (i, digit) in text.iter_mut().rev().enumerate() {
            *digit = HEX[((v >> (4 * i)) & 0xf) as usize];
        }
        line.extend_from_slice(&text[16 - digits..]);
        return;
    }
    let start = line.len();
    number(line, v, radix);
    let written = line.len() - start;
    if written < digits {
        line.splice(start..start, std::iter::repeat_n(b'0', digits - written));
    }
}

/// `%x` (`%lu`, `%lo`).
fn number(line: &mut Vec<u8>, mut v: u64, radix: Radix) {
    let start = line.len();
    loop {
        line.push(HEX[(v % radix.base()) as usize]);
        v /= radix.base();
        if v == 0 {
            break;
        }
    }
    line[start..].reverse();
}

/// nm.c's `print_symbol_info_bsd`: value (and size if asked and not zero), letter, name.
/// Addresses take `digits` hex digits: 16 in a 64-bit file, 8 in a 32-bit one. With
/// `--size-sort` and no `-S`, the size stands where the value goes.
pub(super) fn bsd_line(
    line: &mut Vec<u8>,
    s: &Symbol<'_>,
    name: &[u8],
    o: &Options,
    digits: usize,
) {
    bsd_before_name(line, s, o, digits);
    line.extend_from_slice(name);
    line.push(b'\n');
}

/// [`bsd_line`] up to the name: the value (and size), and the letter.
pub(super) fn bsd_before_name(line: &mut Vec<u8>, s: &Symbol<'_>, o: &Options, digits: usize) {
    if matches!(s.letter, b'U' | b'w' | b'v') {
        line.resize(line.len() + digits, b' ');
    } else {
        let value = if o.size_sort && !o.print_size {
            s.size
        } else {
            s.value
        };
        number_fixed(line, value, digits, o.radix);
        if o.print_size && s.size != 0 {
            line.push(b' ');
            number_fixed(line, s.size, digits, o.radix);
        }
    }
    line.extend_from_slice(&[b' ', s.letter, b' ']);
}

/// nm.c's `print_symbol_info_sysv`: the name padded to 20, then value, class, ELF type, size,
/// an empty line column and the section, between bars.
pub(super) fn sysv_line(
    line: &mut Vec<u8>,
    s: &Symbol<'_>,
    name: &[u8],
    radix: Radix,
    digits: usize,
) {
    line.extend_from_slice(name);
    line.resize(line.len() + 20usize.saturating_sub(name.len()), b' ');
    line.push(b'|');
    if matches!(s.letter, b'U' | b'w' | b'v') {
        line.resize(line.len() + digits, b' ');
    } else {
        number_fixed(line, s.value, digits, radix);
    }
    line.extend_from_slice(&[b'|', b' ', b' ', b' ', s.letter, b' ', b' ', b'|']);
    // A section symbol has no ELF details in BFD (it is BSF_SECTION_SYM), nor has a synthetic
    // one: blank columns, but a synthetic symbol's size under --size-sort.
    if s.kind == 3 || s.synthetic {
        line.resize(line.len() + 18, b' ');
        line.push(b'|');
        match s.synthetic && s.size != 0 {
            true => number_fixed(line, s.size, digits, radix),
            false => line.resize(line.len() + digits, b' '),
        }
        line.extend_from_slice(b"|     |\n");
        return;
    }
    let kind = match s.kind {
        0 => "NOTYPE".to_owned(),
        1 => "OBJECT".to_owned(),
        2 => "FUNC".to_owned(),
        3 => "SECTION".to_owned(),
        4 => "FILE".to_owned(),
        5 => "COMMON".to_owned(),
        6 => "TLS".to_owned(),
        k @ 13..=15 => format!("<processor specific>: {k}"),
        k @ 10..=12 => format!("<OS specific>: {k}"),
        k => format!("<unknown>: {k}"),
    };
    line.resize(line.len() + 18usize.saturating_sub(kind.len()), b' ');
    line.extend_from_slice(kind.as_bytes());
    line.push(b'|');
    if s.size != 0 {
        number_fixed(line, s.size, digits, radix);
    } else {
        line.resize(line.len() + digits, b' ');
    }
    line.extend_from_slice(b"|     |");
    line.extend_from_slice(s.section);
    line.push(b'\n');
}

/// nm.c's `print_symbol_info_posix`: name, letter, then value and size (if not zero) in hex,
/// or eight spaces for an undefined symbol.
pub(super) fn posix_line(line: &mut Vec<u8>, s: &Symbol<'_>, name: &[u8], radix: Radix) {
    line.extend_from_slice(name);
    line.extend_from_slice(&[b' ', s.letter, b' ']);
    if s.is_undefined() {
        line.extend_from_slice(&[b' '; 8]);
    } else {
        number(line, s.value, radix);
        line.push(b' ');
        if s.size != 0 {
            number(line, s.size, radix);
        }
    }
    line.push(b'\n');
}

/// How one object's symbols become lines: what `Printer::object` hands to each slice.
pub(super) struct Lines<'a> {
    /// `-A`'s file (and member) before every line.
    pub(super) prefix: &'a [u8],
    pub(super) options: &'a Options,
    pub(super) format: Format,
    /// With -C: how names are demangled; `None` without -C.
    pub(super) cpp: Option<Demangler<'a>>,
    /// Address width.
    pub(super) digits: usize,
    /// With -l: the object's source places.
    pub(super) sources: Option<&'a Sources>,
}

impl Lines<'_> {
    /// Writes the lines of `symbols`, `line` being the buffer each is built in; notes in `ends`,
    /// when given, how many bytes have been written after each line.
    pub(super) fn write<'s>(
        &self,
        out: &mut impl Write,
        line: &mut Vec<u8>,
        symbols: impl Iterator<Item = (impl Borrow<Symbol<'s>>, Spelled<'s>)>,
        mut ends: Option<&mut Vec<usize>>,
    ) -> io::Result<()> {
        let o = self.options;
        let (mut name, mut scratch, mut written) = (Vec::new(), Vec::new(), 0);
        for (symbol, spelled) in symbols {
            let s: &Symbol<'s> = symbol.borrow();
            line.clear();
            line.extend_from_slice(self.prefix);
            // A name already spelled, in the BSD format without another --unicode, straight
            // into the line (as `display_name` would spell it: a version that is not UTF-8
            // keeps a name from being demangled).
            let version_text = s.version.is_none_or(|(v, _)| v.is_ascii());
            if let (Some(_), Some(spelling), Format::Bsd, Unicode::Default, None, true) = (
                self.cpp,
                spelled,
                self.format,
                o.unicode,
                self.sources,
                version_text,
            ) && s.letter != b'i'
            {
                bsd_before_name(line, s, o, self.digits);
                line.extend_from_slice(spelling.unwrap_or(s.name));
                if let Some((version, one_at)) = s.version {
                    line.extend_from_slice(if one_at { b"@" } else { b"@@" });
                    line.extend_from_slice(version);
                }
                line.push(b'\n');
                out.write_all(line)?;
                written += line.len();
                if let Some(ends) = ends.as_deref_mut() {
                    ends.push(written);
                }
                continue;
            }
            display_name(&mut name, &mut scratch, s, self.cpp, spelled, o.unicode);
            let shown = &name;
            // nm.c's `print_symbol`: the first letter for a global ifunc, the second (if any)
            // for any other, weak ones included.
            let letter = match (s.letter, o.ifunc_chars) {
                (b'i', Some((global, _))) if s.binding == object::elf::STB_GLOBAL.0 => global,
                (b'i', Some((_, other))) => other.unwrap_or(b'i'),
                (letter, _) => letter,
            };
            let relettered;
            let s = match letter == s.letter {
                true => s,
                false => {
                    relettered = Symbol { letter, ..*s };
                    &relettered
                }
            };
            match self.format {
                Format::Posix => posix_line(line, s, shown, o.radix),
                Format::JustSymbols => {
                    line.extend_from_slice(shown);
                    line.push(b'\n');
                }
                Format::Sysv => sysv_line(line, s, shown, o.radix, self.digits),
                _ => bsd_line(line, s, shown, o, self.digits),
            }
            if let Some(sources) = self.sources {
                line.pop();
                sources.append(line, s);
                line.push(b'\n');
            }
            out.write_all(line)?;
            written += line.len();
            if let Some(ends) = ends.as_deref_mut() {
                ends.push(written);
            }
        }
        Ok(())
    }
}
