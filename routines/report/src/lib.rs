//! What `polylink-routines` reports, as types: the figures of `measure --json` and the rows of
//! `agree --json`. The producer serialises them and `cargo xtask compare` reads them back, so
//! both ends agree on every field by construction.

use serde::{Deserialize, Serialize};

/// Nanoseconds per call of `add`: inlined Rust, the linked routine, the embedded routine (a
/// call through a pointer into sealed memory), and the same bytes made by the emitter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallCosts {
    pub native_ns: f64,
    pub linked_ns: f64,
    pub embedded_ns: f64,
    pub emitted_ns: f64,
}

/// Nanoseconds per instruction to encode the measured mix: polylink's emitter against iced-x86's
/// encoder making the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmitCosts {
    pub instructions: usize,
    #[serde(rename = "polylink_ns_per_instruction")]
    pub polylink_ns: f64,
    #[serde(rename = "iced_ns_per_instruction")]
    pub iced_ns: f64,
}

/// Copy throughput at one size, in GB/s (10^9 bytes per second).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyRow {
    pub size: usize,
    pub memcpy_gbps: f64,
    pub baseline_gbps: f64,
    pub fast_gbps: f64,
}

/// Microseconds per function to seal small functions: one mapping each, or one shared.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SealCosts {
    pub functions: usize,
    #[serde(rename = "one_mapping_each_us_per_fn")]
    pub one_mapping_each_us: f64,
    #[serde(rename = "shared_mapping_us_per_fn")]
    pub shared_mapping_us: f64,
}

/// Everything `measure` measures, in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub calls: CallCosts,
    pub emit: EmitCosts,
    pub copies: Vec<CopyRow>,
    pub seal: SealCosts,
}

impl Figures {
    /// The figures as lines for a person: calls, copies, sealing and emission.
    pub fn print(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let calls = &self.calls;
        writeln!(
            w,
            "ns per call of add: native Rust {:.2}, linked {:.2}, embedded {:.2}, emitted {:.2}",
            calls.native_ns, calls.linked_ns, calls.embedded_ns, calls.emitted_ns
        )?;
        writeln!(
            w,
            "{:>10}  {:>12}  {:>12}  {:>12}",
            "copy GB/s", "glibc memcpy", "baseline AVX", "fast copy"
        )?;
        for row in &self.copies {
            let size = match row.size {
                s if s >= 1 << 20 => format!("{} MiB", s >> 20),
                s => format!("{} KiB", s >> 10),
            };
            writeln!(
                w,
                "{size:>10}  {:>12.2}  {:>12.2}  {:>12.2}",
                row.memcpy_gbps, row.baseline_gbps, row.fast_gbps
            )?;
        }
        let seal = &self.seal;
        writeln!(
            w,
            "sealing {} small functions: {:.3} us each in its own mapping, {:.3} us each in one shared mapping",
            seal.functions, seal.one_mapping_each_us, seal.shared_mapping_us
        )?;

        let emit = &self.emit;
        writeln!(
            w,
            "emitting {} instructions: {:.2} ns each with polylink's emitter, {:.2} ns with iced-x86's encoder",
            emit.instructions, emit.polylink_ns, emit.iced_ns
        )
    }
}

/// How one routine fared when called through both paths on the same inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub name: String,
    pub cases: usize,
    /// Whether both paths gave the same results (and the same buffers) in every case; `None`
    /// when the routine was not checked here.
    pub results_match: Option<bool>,
    /// Why it was not checked, or the first case that differed.
    pub note: String,
    /// For `add`: the emitter's own `add` against the linked one.
    pub emitted: Option<EmittedAgreement>,
}

/// The `add` routine made by the emitter, against the linked one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmittedAgreement {
    /// The emitter's bytes for `mov rax, rdi; add rax, rsi; ret`, as lowercase hex pairs.
    pub bytes: String,
    pub cases: usize,
    pub results_match: bool,
}
