//! What `polylink-routines` reports, as types: the figures of `measure --json` and the rows of
//! `agree --json`. The producer serialises them and `cargo xtask compare` reads them back, so
//! both ends agree on every field by construction.

use serde::{Deserialize, Serialize};

/// Nanoseconds per call of one variant of `add`, over many short interleaved rounds: the best
/// round, the median and the 90th percentile (the spread), and whether the code lies in the
/// same 128 GiB block as its caller.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallCost {
    pub best_ns: f64,
    pub median_ns: f64,
    pub p90_ns: f64,
    pub near: bool,
}

/// The cost of a call of `add`, each variant called through a pointer from its own loop of the
/// same shape: Rust's own function, the linked routine, the embedded routine (its raw bytes
/// sealed in a module), the same bytes made by the emitter, and the embedded bytes in memory
/// mapped where the kernel chooses, far from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallCosts {
    pub rounds: usize,
    pub calls_per_round: u64,
    pub native: CallCost,
    pub linked: CallCost,
    pub embedded: CallCost,
    pub emitted: CallCost,
    pub far: CallCost,
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

/// Copy throughput at one size and alignment, in GB/s (10^9 bytes per second): the source
/// and destination start `src_offset` and `dst_offset` bytes past a 64-byte boundary.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyRow {
    pub size: usize,
    pub src_offset: usize,
    pub dst_offset: usize,
    pub memcpy_gbps: f64,
    /// `None` where the baseline cannot copy: it needs 32-byte-aligned buffers.
    pub baseline_gbps: Option<f64>,
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
            "ns per call of add ({} interleaved rounds of {} calls): best, median, 90th percentile",
            calls.rounds, calls.calls_per_round
        )?;
        let rows = [
            ("Rust function", &calls.native),
            ("linked", &calls.linked),
            ("embedded", &calls.embedded),
            ("emitted", &calls.emitted),
            ("embedded, far", &calls.far),
        ];
        for (name, cost) in rows {
            writeln!(
                w,
                "  {name:<14} {:>6.3} {:>6.3} {:>6.3}  {}",
                cost.best_ns,
                cost.median_ns,
                cost.p90_ns,
                match cost.near {
                    true => "in the caller's 128 GiB block",
                    false => "in another 128 GiB block than the caller",
                }
            )?;
        }
        writeln!(
            w,
            "{:>10}  {:>7}  {:>12}  {:>12}  {:>12}  {:>9}",
            "copy GB/s", "offsets", "glibc memcpy", "baseline AVX", "fast copy", "fast/glibc"
        )?;
        for row in &self.copies {
            writeln!(
                w,
                "{:>10}  {:>7}  {:>12.2}  {:>12}  {:>12.2}  {:>9.2}",
                size_name(row.size),
                format!("{}/{}", row.src_offset, row.dst_offset),
                row.memcpy_gbps,
                row.baseline_gbps.map_or("-".into(), |g| format!("{g:.2}")),
                row.fast_gbps,
                row.fast_gbps / row.memcpy_gbps
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

/// `64 B`, `4 KiB`, `16 MiB`.
pub fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
