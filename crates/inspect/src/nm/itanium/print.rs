//! Printing a parsed name as libiberty spells it.

use super::{Id, Node, builtin};

/// Prints the nodes of one parsed name into `out`.
pub(super) struct Printer<'p> {
    /// The mangled name, which names and literals are spelled from.
    pub(super) input: &'p [u8],
    pub(super) nodes: &'p [Node],
    pub(super) lists: &'p [Id],
    /// The length of `out` past which printing gives up ([`super::LONGEST_SPELLING`]).
    pub(super) limit: usize,
    pub(super) out: &'p mut Vec<u8>,
}

impl<'p> Printer<'p> {
    fn node(&self, id: Id) -> Node {
        self.nodes[id as usize]
    }

    fn text(&self, start: u32, len: u32) -> &'p [u8] {
        &self.input[start as usize..(start + len) as usize]
    }

    fn list(&self, start: u32, len: u32) -> &[Id] {
        &self.lists[start as usize..(start + len) as usize]
    }

    fn last(&self) -> u8 {
        self.out.last().copied().unwrap_or(0)
    }

    /// Prints `id`; `args` are the function template's arguments that template parameters
    /// stand for, where there are any.
    pub(super) fn print(&mut self, id: Id, args: Option<(u32, u32)>) -> Option<()> {
        if self.out.len() > self.limit {
            return None;
        }
        match self.node(id) {
            Node::Name(start, len) => {
                let name = self.text(start, len);
                self.out.extend_from_slice(name);
            }
            Node::Text(text) | Node::Std(text) | Node::Builtin(text) => {
                self.out.extend_from_slice(text.as_bytes());
            }
            Node::Qual(left, right) => {
                self.print(left, args)?;
                self.out.extend_from_slice(b"::");
                self.print(right, args)?;
            }
            Node::Template(name, start, len) => {
                self.print(name, args)?;
                if self.last() == b'<' {
                    self.out.push(b' ');
                }
                self.out.push(b'<');
                self.print_list(start, len, args)?;
                if self.last() == b'>' {
                    self.out.push(b' ');
                }
                self.out.push(b'>');
            }
            Node::Tagged(name, start, len) => {
                self.print(name, args)?;
                self.out.extend_from_slice(b"[abi:");
                let tag = self.text(start, len);
                self.out.extend_from_slice(tag);
                self.out.push(b']');
            }
            Node::Ctor(name) => self.print(name, args)?,
            Node::Dtor(name) => {
                self.out.push(b'~');
                self.print(name, args)?;
            }
            Node::Operator(spelled) => {
                self.out.extend_from_slice(b"operator");
                if spelled.as_bytes()[0].is_ascii_lowercase() {
                    self.out.push(b' ');
                }
                self.out.extend_from_slice(spelled.as_bytes());
            }
            Node::Const(inner) | Node::Volatile(inner) => {
                // libiberty prints a qualifier once where it meets the same one again.
                if matches!(
                    self.resolved(inner, args)?,
                    Node::Const(_) | Node::Volatile(_)
                ) {
                    return None;
                }
                self.print(inner, args)?;
                self.out.extend_from_slice(match self.node(id) {
                    Node::Const(_) => b" const",
                    _ => b" volatile",
                });
            }
            Node::Pointer(inner) => {
                self.print(inner, args)?;
                self.out.push(b'*');
            }
            Node::LRef(inner) | Node::RRef(inner) => {
                // References to references collapse in libiberty's own way.
                if matches!(self.resolved(inner, args)?, Node::LRef(_) | Node::RRef(_)) {
                    return None;
                }
                self.print(inner, args)?;
                self.out.extend_from_slice(match self.node(id) {
                    Node::LRef(_) => b"&",
                    _ => b"&&",
                });
            }
            Node::Param(index) => {
                let (start, len) = args?;
                let arg = *self.list(start, len).get(index as usize)?;
                // The argument is printed outside the template it belongs to.
                self.print(arg, None)?;
            }
            Node::Literal(kind, negative, start, len) => {
                let digits = self.text(start, len);
                let suffix = match kind {
                    b'i' => Some(""),
                    b'j' => Some("u"),
                    b'l' => Some("l"),
                    b'm' => Some("ul"),
                    b'x' => Some("ll"),
                    b'y' => Some("ull"),
                    _ => None,
                };
                if let Some(suffix) = suffix {
                    if negative {
                        self.out.push(b'-');
                    }
                    self.out.extend_from_slice(digits);
                    self.out.extend_from_slice(suffix.as_bytes());
                } else if kind == b'b' && !negative && matches!(digits, b"0" | b"1") {
                    self.out.extend_from_slice(match digits {
                        b"0" => b"false",
                        _ => b"true",
                    });
                } else {
                    self.out.push(b'(');
                    self.out.extend_from_slice(builtin(kind)?.as_bytes());
                    self.out.push(b')');
                    if negative {
                        self.out.push(b'-');
                    }
                    self.out.extend_from_slice(digits);
                }
            }
            Node::Function {
                name,
                const_this,
                returns,
                start,
                len,
            } => {
                // The function's own template arguments stand for its parameters' `T_`; the
                // name itself is printed outside them.
                let own = match self.node(name) {
                    Node::Template(_, s, l) => Some((s, l)),
                    _ => None,
                };
                if let Some(returns) = returns {
                    self.print(returns, own)?;
                    self.out.push(b' ');
                }
                self.print(name, args)?;
                self.out.push(b'(');
                self.print_list(start, len, own)?;
                self.out.push(b')');
                if const_this {
                    self.out.extend_from_slice(b" const");
                }
            }
            Node::Special(text, of) => {
                self.out.extend_from_slice(text.as_bytes());
                self.print(of, args)?;
            }
        }
        Some(())
    }

    /// The node `id` stands for: a template parameter's argument, else itself.
    fn resolved(&self, id: Id, args: Option<(u32, u32)>) -> Option<Node> {
        match self.node(id) {
            Node::Param(index) => {
                let (start, len) = args?;
                let arg = *self.list(start, len).get(index as usize)?;
                Some(self.node(arg))
            }
            node => Some(node),
        }
    }

    fn print_list(&mut self, start: u32, len: u32, args: Option<(u32, u32)>) -> Option<()> {
        for k in 0..len {
            if k > 0 {
                self.out.extend_from_slice(b", ");
            }
            self.print(self.lists[(start + k) as usize], args)?;
        }
        Some(())
    }
}
