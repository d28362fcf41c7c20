//! A fast demangler for the common run of Itanium C++ names, spelled exactly as libiberty's
//! `cplus_demangle` spells them with `DMGL_PARAMS | DMGL_ANSI` (what `nm -C` prints), which
//! gives up on everything else: the caller then asks libiberty itself.
//!
//! libiberty takes about 0.5 to 0.9 µs a name, most of `nm -C`'s time on a C++ library; this
//! one, which parses into an arena kept from name to name and prints from it, takes about 0.3.
//! A name that starts as the last one did (sorted names do) resumes the last parse where they
//! part ([`Scratch::start`]).
//!
//! It takes nested and template names, the standard abbreviations, substitutions, template
//! parameters of function templates, builtin (`char8_t` to `char32_t` and `decltype(nullptr)`
//! too), class, pointer, reference and const or volatile types, integer and character
//! literals, the common operators, constructors and destructors, ABI tags, const member
//! functions, vtables, VTTs, typeinfo, thunks, transaction clones and guard variables. It
//! gives up on function, array and member-pointer types, expressions, `decltype`, packs,
//! lambdas, local and unnamed names, clone suffixes, vendor extensions and anything it does not
//! know, and on any name whose spelling would depend on libiberty's finer rules (reference
//! collapsing, repeated qualifiers, template parameters outside a function template's
//! signature).
//!
//! Where it takes a name, it spells it as libiberty does: `itanium_agrees_with_libiberty`
//! (below) holds it to the libiberty linked in on every C++ name of the system's libraries.

mod print;

use print::Printer;

/// Appends the demangling of `name` (a `_Z` name) to `out` and returns true; or returns false,
/// with `out` as it was, when the name is not one this demangler takes.
pub(super) fn demangle(out: &mut Vec<u8>, name: &[u8]) -> bool {
    // Only printable ASCII: libiberty reads a C string, cut at the first NUL, and the rest
    // is left to it.
    // (A fold, not `all`, so that the check runs on whole vectors of bytes.)
    let graphic = name.iter().fold(0, |bad, &b| {
        bad | u8::from(b.wrapping_sub(b'!') > b'~' - b'!')
    }) == 0;
    if name.len() > LONGEST || !name.starts_with(b"_Z") || !graphic {
        return false;
    }
    thread_local! {
        /// The vectors of the last name parsed on this thread, kept for the next.
        static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
    }
    let mut scratch = SCRATCH.take();
    let resume = scratch.start(name);
    let mut parser = Parser {
        input: name,
        at: 2,
        scratch,
        last_name: None,
        depth: 0,
        resume,
    };
    let mark = out.len();
    let done = parser
        .encoding()
        .filter(|_| parser.at == name.len())
        .and_then(|top| {
            let mut printer = Printer {
                input: name,
                nodes: &parser.scratch.nodes,
                lists: &parser.scratch.lists,
                limit: mark + LONGEST_SPELLING,
                out,
            };
            printer.print(top, None)
        })
        .is_some();
    if !done {
        out.truncate(mark);
    }
    SCRATCH.set(parser.scratch);
    done
}

/// Holds this demangler to the libiberty linked in on `name`: where it spells the name,
/// libiberty must spell it the same; a difference panics (for the fuzz target to report).
pub(crate) fn check_against_libiberty(name: &[u8]) {
    let mut ours = Vec::new();
    if !super::libiberty::LINKED || !demangle(&mut ours, name) {
        return;
    }
    let (mut theirs, text) = (Vec::new(), String::from_utf8_lossy(name));
    let said = super::libiberty::demangle(&mut theirs, &text);
    assert!(
        std::str::from_utf8(name).is_err() || (said == Some(true) && ours == theirs),
        "{text}: ours {:?}, libiberty {said:?} {:?}",
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}

/// The parser's vectors.
#[derive(Default)]
struct Scratch {
    nodes: Vec<Node>,
    /// Argument and parameter lists, each a run of ids.
    lists: Vec<Id>,
    /// The substitution candidates, in order.
    subs: Vec<Id>,
    /// Lists being made (nested ones above the outer ones).
    stack: Vec<Id>,
    /// The last name parsed, and where its parse stood after each component of its outermost
    /// nested name (in order).
    last: Vec<u8>,
    checkpoints: Vec<Checkpoint>,
}

/// Where a parse stood after one component of a name's outermost nested name (`_ZN…`): how far
/// it had read, how long its vectors were, and what the name so far was.
#[derive(Clone, Copy, Debug)]
struct Checkpoint {
    at: usize,
    nodes: usize,
    lists: usize,
    subs: usize,
    last_name: Option<Id>,
    name: Id,
    const_this: bool,
}

impl Scratch {
    /// Readies the vectors for parsing `name`. Names in sorted order share long prefixes
    /// (`_ZNKSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE…`), and a parse reads a name
    /// from left to right, deciding each step on the bytes read and the next one: where `name`
    /// starts with the same bytes as the last name parsed, through the byte after a
    /// checkpoint, the parse resumes from the furthest such checkpoint (whose vectors' first
    /// parts are kept).
    fn start(&mut self, name: &[u8]) -> Option<Checkpoint> {
        let common = self
            .last
            .iter()
            .zip(name)
            .take_while(|(a, b)| a == b)
            .count();
        let shared = self
            .checkpoints
            .iter()
            .take_while(|c| c.at < common)
            .count();
        self.checkpoints.truncate(shared);
        self.last.clear();
        self.last.extend_from_slice(name);
        self.stack.clear();
        let resume = self.checkpoints.last().copied();
        let (nodes, lists, subs) = resume.map_or((0, 0, 0), |c| (c.nodes, c.lists, c.subs));
        self.nodes.truncate(nodes);
        self.lists.truncate(lists);
        self.subs.truncate(subs);
        resume
    }
}

/// The longest name taken: libiberty refuses names much longer than this under its recursion
/// limit, and deep nesting is left to it.
const LONGEST: usize = 512;

/// The longest spelling made: substitutions can make a short name spell out exponentially
/// long (each one twice the one before), and those are left to libiberty.
const LONGEST_SPELLING: usize = 16 << 10;

/// How deep types and names may nest here.
const DEEPEST: u32 = 64;

type Id = u32;

/// A component of a demangled name, as libiberty's `demangle_component`s that this
/// demangler takes.
#[derive(Clone, Copy, Debug)]
enum Node {
    /// A source name, as written: where it is in the mangled name, and its length.
    Name(u32, u32),
    /// Fixed text: `std`, `(anonymous namespace)`.
    Text(&'static str),
    /// A standard abbreviation's spelling (`std::allocator`, ...).
    Std(&'static str),
    /// `left::right`.
    Qual(Id, Id),
    /// `name<args>`: the arguments are `lists[start..start + len]`.
    Template(Id, u32, u32),
    /// `name[abi:tag]`, the tag where it is in the mangled name.
    Tagged(Id, u32, u32),
    /// A constructor or destructor, named by the class's last name.
    Ctor(Id),
    Dtor(Id),
    /// `operator` and the operator's spelling.
    Operator(&'static str),
    Builtin(&'static str),
    Const(Id),
    Volatile(Id),
    Pointer(Id),
    LRef(Id),
    RRef(Id),
    /// A template parameter: the function template's argument of that index.
    Param(u32),
    /// An integer literal: its type's letter, whether negative, where its digits are.
    Literal(u8, bool, u32, u32),
    /// A function: its name (perhaps const), whether `this` is const, its return type, its
    /// parameters `lists[start..start + len]` (none for `(void)`).
    Function {
        name: Id,
        const_this: bool,
        returns: Option<Id>,
        start: u32,
        len: u32,
    },
    /// `vtable for`, `typeinfo for`, ... and what it is for.
    Special(&'static str, Id),
}

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
    scratch: Scratch,
    /// libiberty's `last_name`: what a constructor or destructor is named by.
    last_name: Option<Id>,
    depth: u32,
    /// Where the outermost nested name's parse resumes ([`Scratch::start`]).
    resume: Option<Checkpoint>,
}

impl Parser<'_> {
    fn peek(&self) -> u8 {
        self.input.get(self.at).copied().unwrap_or(0)
    }

    fn peek_next(&self) -> u8 {
        self.input.get(self.at + 1).copied().unwrap_or(0)
    }

    fn next(&mut self) -> u8 {
        let c = self.peek();
        self.at += 1;
        c
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next() == c).then_some(())
    }

    fn add(&mut self, node: Node) -> Option<Id> {
        let id = Id::try_from(self.scratch.nodes.len()).ok()?;
        self.scratch.nodes.push(node);
        Some(id)
    }

    fn node(&self, id: Id) -> Node {
        self.scratch.nodes[id as usize]
    }

    fn sub(&mut self, id: Id) {
        self.scratch.subs.push(id);
    }

    /// Where the list being made starts on the stack.
    fn open(&self) -> usize {
        self.scratch.stack.len()
    }

    /// The list made since `base`, moved from the stack to the lists.
    fn close(&mut self, base: usize) -> Option<(u32, u32)> {
        let start = u32::try_from(self.scratch.lists.len()).ok()?;
        let len = u32::try_from(self.scratch.stack.len() - base).ok()?;
        let Scratch { stack, lists, .. } = &mut self.scratch;
        lists.extend(stack.drain(base..));
        Some((start, len))
    }

    /// A range of the mangled name, as a node's offsets.
    fn span(start: usize, len: usize) -> Option<(u32, u32)> {
        Some((u32::try_from(start).ok()?, u32::try_from(len).ok()?))
    }

    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= DEEPEST).then_some(())
    }

    /// `<encoding>`: a function (name and bare function type), a data name, or a special
    /// name.
    fn encoding(&mut self) -> Option<Id> {
        self.deeper()?;
        let peek = self.peek();
        let done = if peek == b'G' || peek == b'T' {
            self.special()
        } else {
            let (name, const_this) = self.name()?;
            match self.peek() {
                0 | b'E' if !const_this => Some(name),
                0 | b'E' => None,
                _ => {
                    let returns = self.has_return_type(name);
                    self.function(name, const_this, returns)
                }
            }
        };
        self.depth -= 1;
        done
    }

    /// libiberty's `has_return_type`: a template that is not a constructor or destructor.
    fn has_return_type(&self, name: Id) -> bool {
        match self.node(name) {
            Node::Template(left, ..) => !self.is_ctor_dtor(left),
            _ => false,
        }
    }

    fn is_ctor_dtor(&self, id: Id) -> bool {
        match self.node(id) {
            Node::Qual(_, right) => self.is_ctor_dtor(right),
            Node::Ctor(_) | Node::Dtor(_) => true,
            _ => false,
        }
    }

    /// `<bare-function-type>` after `name`.
    fn function(&mut self, name: Id, const_this: bool, has_return: bool) -> Option<Id> {
        if self.peek() == b'J' {
            return None;
        }
        let returns = match has_return {
            true => Some(self.ty()?),
            false => None,
        };
        let base = self.open();
        while !matches!(self.peek(), 0 | b'E' | b'.') {
            let param = self.ty()?;
            self.scratch.stack.push(param);
        }
        let params = &self.scratch.stack[base..];
        if params.is_empty() {
            return None;
        }
        // A single `void` is no parameter.
        if let [only] = params
            && matches!(self.node(*only), Node::Builtin("void"))
        {
            self.scratch.stack.truncate(base);
        }
        let (start, len) = self.close(base)?;
        self.add(Node::Function {
            name,
            const_this,
            returns,
            start,
            len,
        })
    }

    /// `<special-name>`: the vtables, typeinfo, thunks and guard variables.
    fn special(&mut self) -> Option<Id> {
        let (first, second) = (self.next(), self.next());
        let (text, of) = match (first, second) {
            (b'T', b'V') => ("vtable for ", self.ty()?),
            (b'T', b'T') => ("VTT for ", self.ty()?),
            (b'T', b'I') => ("typeinfo for ", self.ty()?),
            (b'T', b'S') => ("typeinfo name for ", self.ty()?),
            (b'T', b'h') => {
                self.call_offset(b'h')?;
                ("non-virtual thunk to ", self.encoding()?)
            }
            (b'T', b'v') => {
                self.call_offset(b'v')?;
                ("virtual thunk to ", self.encoding()?)
            }
            (b'G', b'T') => match self.next() {
                b't' => ("transaction clone for ", self.encoding()?),
                b'n' => ("non-transaction clone for ", self.encoding()?),
                _ => return None,
            },
            (b'G', b'V') => {
                let (name, const_this) = self.name()?;
                if const_this {
                    return None;
                }
                ("guard variable for ", name)
            }
            _ => return None,
        };
        self.add(Node::Special(text, of))
    }

    fn call_offset(&mut self, kind: u8) -> Option<()> {
        self.number()?;
        if kind == b'v' {
            self.expect(b'_')?;
            self.number()?;
        }
        self.expect(b'_')
    }

    /// libiberty's `d_number`: an optional `n`, then decimal digits (perhaps none). Past
    /// `INT_MAX` libiberty stops reading (and the name then fails to parse where it is): given
    /// up here.
    fn number(&mut self) -> Option<i64> {
        let negative = self.peek() == b'n';
        if negative {
            self.at += 1;
        }
        let mut value: i64 = 0;
        while self.peek().is_ascii_digit() {
            value = value * 10 + i64::from(self.next() - b'0');
            if value > i64::from(i32::MAX) {
                return None;
            }
        }
        Some(if negative { -value } else { value })
    }

    /// `<name>`, and whether it is a nested name with a const `this`.
    fn name(&mut self) -> Option<(Id, bool)> {
        self.deeper()?;
        let done = match self.peek() {
            b'N' => self.nested(),
            b'S' => {
                let (dc, subst) = if self.peek_next() == b't' {
                    self.at += 2;
                    let std = self.add(Node::Text("std"))?;
                    let name = self.unqualified()?;
                    (self.add(Node::Qual(std, name))?, false)
                } else {
                    (self.substitution(false)?, true)
                };
                let dc = if self.peek() == b'I' {
                    if !subst {
                        self.sub(dc);
                    }
                    let (start, len) = self.template_args()?;
                    self.add(Node::Template(dc, start, len))?
                } else {
                    dc
                };
                Some((dc, false))
            }
            b'Z' | b'U' | b'L' => None,
            _ => {
                let dc = self.unqualified()?;
                let dc = if self.peek() == b'I' {
                    self.sub(dc);
                    let (start, len) = self.template_args()?;
                    self.add(Node::Template(dc, start, len))?
                } else {
                    dc
                };
                Some((dc, false))
            }
        };
        self.depth -= 1;
        done
    }

    /// `<nested-name>`: `N [K] <prefix> E`.
    fn nested(&mut self) -> Option<(Id, bool)> {
        // The outermost nested name of a `_ZN…` name, whose steps are checkpoints.
        let outermost = self.at == 2;
        let (mut ret, const_this) = match self.resume.take() {
            Some(c) if outermost => {
                self.at = c.at;
                self.last_name = c.last_name;
                (Some(c.name), c.const_this)
            }
            _ => {
                self.expect(b'N')?;
                let const_this = self.peek() == b'K';
                if const_this {
                    self.at += 1;
                }
                if matches!(self.peek(), b'r' | b'V' | b'K' | b'R' | b'O') {
                    return None;
                }
                (None, const_this)
            }
        };
        loop {
            let peek = self.peek();
            let dc = match peek {
                0 => return None,
                b'E' => break,
                b'D' if matches!(self.peek_next(), b'T' | b't') => return None,
                b'0'..=b'9' | b'a'..=b'z' | b'C' | b'D' => self.unqualified()?,
                b'S' => self.substitution(true)?,
                b'I' => {
                    let left = ret?;
                    let (start, len) = self.template_args()?;
                    self.add(Node::Template(left, start, len))?
                }
                _ => return None,
            };
            let combined = match (ret, peek) {
                (None, _) => dc,
                (Some(_), b'I') => dc,
                (Some(left), _) => self.add(Node::Qual(left, dc))?,
            };
            ret = Some(combined);
            if peek != b'S' && self.peek() != b'E' {
                self.sub(combined);
            }
            if outermost {
                let Scratch {
                    nodes,
                    lists,
                    subs,
                    checkpoints,
                    ..
                } = &mut self.scratch;
                checkpoints.push(Checkpoint {
                    at: self.at,
                    nodes: nodes.len(),
                    lists: lists.len(),
                    subs: subs.len(),
                    last_name: self.last_name,
                    name: combined,
                    const_this,
                });
            }
        }
        self.expect(b'E')?;
        Some((ret?, const_this))
    }

    /// `<unqualified-name>`: a source name, an operator, a constructor or destructor; with
    /// any ABI tags.
    fn unqualified(&mut self) -> Option<Id> {
        let peek = self.peek();
        let ret = match peek {
            b'0'..=b'9' => self.source_name()?,
            b'a'..=b'z' => self.operator()?,
            b'C' | b'D' => {
                let kind = self.next();
                let digit = self.next();
                let name = self.last_name?;
                match (kind, digit) {
                    (b'C', b'1'..=b'3') => self.add(Node::Ctor(name))?,
                    (b'D', b'0'..=b'2') => self.add(Node::Dtor(name))?,
                    _ => return None,
                }
            }
            _ => return None,
        };
        let mut ret = ret;
        // The tags' names do not become the last name (GCC's libiberty keeps it).
        let hold = self.last_name;
        while self.peek() == b'B' {
            self.at += 1;
            let (start, len) = self.identifier()?;
            // A tag is a source name to libiberty, which spells this one as the anonymous
            // namespace: left to it.
            if anonymous(&self.input[start as usize..(start + len) as usize]) {
                return None;
            }
            ret = self.add(Node::Tagged(ret, start, len))?;
        }
        self.last_name = hold;
        Some(ret)
    }

    /// `<source-name>`, which becomes the last name.
    fn source_name(&mut self) -> Option<Id> {
        let (start, len) = self.identifier()?;
        let name = &self.input[start as usize..(start + len) as usize];
        let id = match anonymous(name) {
            true => self.add(Node::Text("(anonymous namespace)"))?,
            false => self.add(Node::Name(start, len))?,
        };
        self.last_name = Some(id);
        Some(id)
    }

    /// A length, then that many bytes: where they are.
    fn identifier(&mut self) -> Option<(u32, u32)> {
        if !self.peek().is_ascii_digit() {
            return None;
        }
        let len = usize::try_from(self.number()?).ok().filter(|&l| l > 0)?;
        let start = self.at;
        let end = start.checked_add(len).filter(|&e| e <= self.input.len())?;
        self.at = end;
        Self::span(start, len)
    }

    /// The operators that may name a function.
    fn operator(&mut self) -> Option<Id> {
        let code = [self.next(), self.next()];
        let spelled = match &code {
            b"aN" => "&=",
            b"aS" => "=",
            b"aa" => "&&",
            b"ad" | b"an" => "&",
            b"cl" => "()",
            b"cm" => ",",
            b"co" => "~",
            b"dV" => "/=",
            b"da" => "delete[]",
            b"de" | b"ml" => "*",
            b"dl" => "delete",
            b"dv" => "/",
            b"eO" => "^=",
            b"eo" => "^",
            b"eq" => "==",
            b"ge" => ">=",
            b"gt" => ">",
            b"ix" => "[]",
            b"lS" => "<<=",
            b"le" => "<=",
            b"ls" => "<<",
            b"lt" => "<",
            b"mI" => "-=",
            b"mL" => "*=",
            b"mi" | b"ng" => "-",
            b"mm" => "--",
            b"na" => "new[]",
            b"ne" => "!=",
            b"nt" => "!",
            b"nw" => "new",
            b"oR" => "|=",
            b"oo" => "||",
            b"or" => "|",
            b"pL" => "+=",
            b"pl" | b"ps" => "+",
            b"pm" => "->*",
            b"pp" => "++",
            b"pt" => "->",
            b"rM" => "%=",
            b"rS" => ">>=",
            b"rm" => "%",
            b"rs" => ">>",
            _ => return None,
        };
        self.add(Node::Operator(spelled))
    }

    /// `<substitution>`: `S_`, `S<seq-id>_`, or a standard abbreviation (in full before a
    /// constructor or destructor, when `prefix`).
    fn substitution(&mut self, prefix: bool) -> Option<Id> {
        self.expect(b'S')?;
        let c = self.next();
        if c == b'_' || c.is_ascii_digit() || c.is_ascii_uppercase() {
            let mut id: usize = 0;
            if c != b'_' {
                let mut c = c;
                while c != b'_' {
                    let digit = match c {
                        b'0'..=b'9' => c - b'0',
                        b'A'..=b'Z' => c - b'A' + 10,
                        _ => return None,
                    };
                    id = id.checked_mul(36)?.checked_add(usize::from(digit))?;
                    c = self.next();
                }
                id += 1;
            }
            return self.scratch.subs.get(id).copied();
        }
        let full = prefix && matches!(self.peek(), b'C' | b'D');
        let (simple, expanded, last) = match c {
            b't' => ("std", "std", None),
            b'a' => ("std::allocator", "std::allocator", Some("allocator")),
            b'b' => (
                "std::basic_string",
                "std::basic_string",
                Some("basic_string"),
            ),
            b's' => (
                "std::string",
                "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
                Some("basic_string"),
            ),
            b'i' => (
                "std::istream",
                "std::basic_istream<char, std::char_traits<char> >",
                Some("basic_istream"),
            ),
            b'o' => (
                "std::ostream",
                "std::basic_ostream<char, std::char_traits<char> >",
                Some("basic_ostream"),
            ),
            b'd' => (
                "std::iostream",
                "std::basic_iostream<char, std::char_traits<char> >",
                Some("basic_iostream"),
            ),
            _ => return None,
        };
        if let Some(last) = last {
            self.last_name = Some(self.add(Node::Std(last))?);
        }
        if self.peek() == b'B' {
            return None;
        }
        self.add(Node::Std(if full { expanded } else { simple }))
    }

    /// `<template-args>`: `I <arg>+ E`, as a list; the last name is kept across them.
    fn template_args(&mut self) -> Option<(u32, u32)> {
        self.deeper()?;
        let hold = self.last_name;
        self.expect(b'I')?;
        if self.peek() == b'E' {
            return None;
        }
        let base = self.open();
        while self.peek() != b'E' {
            let arg = match self.peek() {
                b'L' => self.literal()?,
                b'X' | b'I' | b'J' => return None,
                _ => self.ty()?,
            };
            self.scratch.stack.push(arg);
        }
        self.at += 1;
        self.last_name = hold;
        self.depth -= 1;
        self.close(base)
    }

    /// `L <builtin type> [n] <digits> E`, for the integer and character types.
    fn literal(&mut self) -> Option<Id> {
        self.expect(b'L')?;
        let kind = self.peek();
        if !matches!(
            kind,
            b'a' | b'b'
                | b'c'
                | b'h'
                | b'i'
                | b'j'
                | b'l'
                | b'm'
                | b's'
                | b't'
                | b'w'
                | b'x'
                | b'y'
        ) {
            return None;
        }
        self.at += 1;
        let negative = self.peek() == b'n';
        if negative {
            self.at += 1;
        }
        let start = self.at;
        while self.peek().is_ascii_digit() {
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        let (start, len) = Self::span(start, self.at - start)?;
        self.expect(b'E')?;
        self.add(Node::Literal(kind, negative, start, len))
    }

    /// `<type>`, added to the substitutions as libiberty adds it.
    fn ty(&mut self) -> Option<Id> {
        self.deeper()?;
        let done = self.ty_inner();
        self.depth -= 1;
        done
    }

    fn ty_inner(&mut self) -> Option<Id> {
        let peek = self.peek();
        if let Some(spelled) = builtin(peek) {
            self.at += 1;
            return self.add(Node::Builtin(spelled));
        }
        // The builtin types of two letters (not substitution candidates either).
        if peek == b'D' {
            let spelled = match self.peek_next() {
                b'i' => "char32_t",
                b's' => "char16_t",
                b'u' => "char8_t",
                b'n' => "decltype(nullptr)",
                _ => return None,
            };
            self.at += 2;
            return self.add(Node::Builtin(spelled));
        }
        let ret = match peek {
            b'K' | b'V' => {
                // The qualifiers, the first outermost; each at most once.
                let (mut quals, mut count) = ([0; 2], 0);
                while matches!(self.peek(), b'K' | b'V') {
                    let q = self.next();
                    if quals[..count].contains(&q) {
                        return None;
                    }
                    quals[count] = q;
                    count += 1;
                }
                if matches!(self.peek(), b'F' | b'r') {
                    return None;
                }
                let mut ret = self.ty()?;
                for &q in quals[..count].iter().rev() {
                    ret = self.add(match q {
                        b'K' => Node::Const(ret),
                        _ => Node::Volatile(ret),
                    })?;
                }
                self.sub(ret);
                return Some(ret);
            }
            b'0'..=b'9' | b'N' => {
                let (name, const_this) = self.name()?;
                if const_this {
                    return None;
                }
                name
            }
            b'T' => {
                self.at += 1;
                let index = self.compact_number()?;
                if self.peek() == b'I' {
                    return None;
                }
                self.add(Node::Param(index))?
            }
            b'S' => {
                let next = self.peek_next();
                if next == b'_' || next.is_ascii_digit() || next.is_ascii_uppercase() {
                    let sub = self.substitution(false)?;
                    if self.peek() != b'I' {
                        return Some(sub);
                    }
                    let (start, len) = self.template_args()?;
                    self.add(Node::Template(sub, start, len))?
                } else {
                    let (name, _) = self.name()?;
                    if matches!(self.node(name), Node::Std(_)) {
                        return Some(name);
                    }
                    name
                }
            }
            b'P' | b'R' | b'O' => {
                self.at += 1;
                let inner = self.ty()?;
                self.add(match peek {
                    b'P' => Node::Pointer(inner),
                    b'R' => Node::LRef(inner),
                    _ => Node::RRef(inner),
                })?
            }
            _ => return None,
        };
        self.sub(ret);
        Some(ret)
    }

    /// `_` is 0, `<digits>_` is the number plus one.
    fn compact_number(&mut self) -> Option<u32> {
        if self.peek() == b'_' {
            self.at += 1;
            return Some(0);
        }
        if !self.peek().is_ascii_digit() {
            return None;
        }
        let n = u32::try_from(self.number()?).ok()?;
        self.expect(b'_')?;
        n.checked_add(1)
    }
}

/// Whether libiberty spells source name `name` as `(anonymous namespace)`.
fn anonymous(name: &[u8]) -> bool {
    name.len() >= 10
        && name.starts_with(b"_GLOBAL_")
        && matches!(name[8], b'.' | b'_' | b'$')
        && name[9] == b'N'
}

/// The builtin types libiberty spells, by their letter.
fn builtin(letter: u8) -> Option<&'static str> {
    Some(match letter {
        b'a' => "signed char",
        b'b' => "bool",
        b'c' => "char",
        b'd' => "double",
        b'e' => "long double",
        b'f' => "float",
        b'g' => "__float128",
        b'h' => "unsigned char",
        b'i' => "int",
        b'j' => "unsigned int",
        b'l' => "long",
        b'm' => "unsigned long",
        b'n' => "__int128",
        b'o' => "unsigned __int128",
        b's' => "short",
        b't' => "unsigned short",
        b'v' => "void",
        b'w' => "wchar_t",
        b'x' => "long long",
        b'y' => "unsigned long long",
        b'z' => "...",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
