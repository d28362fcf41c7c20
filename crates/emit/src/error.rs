//! The emitter's error type: what a type cannot rule out, named, never a panic.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unknown register `{name}`: the emitter knows the 64-bit registers rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi and r8 to r15"
    )]
    UnknownRegister { name: String },
    #[error("rsp cannot be an index register: its number in the SIB byte means \"no index\"")]
    RspIndex,
    #[error("shift count {count} is out of range: a 64-bit register shifts by 0 to 63")]
    ShiftCount { count: u8 },
    #[error("label {label} is bound twice")]
    LabelBoundTwice { label: usize },
    #[error("label {label} is jumped to but never bound")]
    UnboundLabel { label: usize },
    #[error("label {label} belongs to another assembler")]
    ForeignLabel { label: usize },
    /// A statement of [`crate::text`] that is not in the supported subset of NASM syntax.
    #[error("{line}:{column}: {reason}")]
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    /// Sealing the finished code: mapping it, checking its CPU features, making it executable.
    #[error(transparent)]
    Exec(#[from] polylink_exec::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
