//! `cargo xtask compare`: the same machine code, linked and embedded, side by side.
//!
//! Per routine: its bytes in the elf64 object (read with `object`) against the raw bin, byte
//! for byte (a routine whose bytes carry relocations cannot be embedded raw, and the row says
//! so); whether both paths give the same results (`polylink-routines agree`, and the exact bytes
//! `polylink-routines write` puts on stdout through each path). Then the costs, measured side by
//! side in one run by the release `polylink-routines measure`, as ratios against their targets.
//!
//! xtask only reads files and starts `polylink-routines`: linking the routines into xtask would
//! need nasm to build xtask itself, before build-all could check for it.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};
use serde_json::{Value, json};

use crate::Ctx;
use crate::cmd::Cmd;
use crate::manifest::Manifest;
use polylink_routines_report::{Agreement, CopyRow, Figures};

/// One routine's row.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutineRow {
    pub name: String,
    pub bytes: usize,
    /// Relocations inside the routine's bytes in the object: each is a hole the linker fills.
    pub relocations: usize,
    pub bytes_identical: bool,
    /// `None` when the results were not compared.
    pub results_match: Option<bool>,
    pub cases: usize,
    pub note: String,
    /// The same routine made at run time by polylink's emitter, where there is one (`add`).
    pub emitted: Option<Emitted>,
}

/// A routine made by the emitter, against the object's bytes and the linked routine's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Emitted {
    pub bytes_identical: bool,
    pub results_match: bool,
    pub cases: usize,
}

/// Whether smaller or larger is better for a ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    pub key: &'static str,
    pub label: &'static str,
    pub value: f64,
    pub target: Option<Target>,
}

impl Target {
    /// The comparison and the bound: ("<=", 1.05).
    pub fn parts(self) -> (&'static str, f64) {
        match self {
            Target::AtMost(t) => ("<=", t),
            Target::AtLeast(t) => (">=", t),
        }
    }
}

impl Ratio {
    pub fn met(&self) -> Option<bool> {
        self.target.map(|t| match t {
            Target::AtMost(max) => self.value <= max,
            Target::AtLeast(min) => self.value >= min,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub routines: Vec<RoutineRow>,
    pub ratios: Vec<Ratio>,
    /// `polylink-routines measure --json`, read back.
    pub figures: Figures,
}

impl Report {
    /// Whether every routine is byte-identical on every path (or honestly cannot be) and gives
    /// the same results.
    pub fn consistent(&self) -> bool {
        self.routines.iter().all(|r| {
            (r.bytes_identical || r.relocations > 0)
                && r.results_match != Some(false)
                && r.emitted
                    .as_ref()
                    .is_none_or(|e| e.bytes_identical && e.results_match)
        })
    }
}

/// The texts the write routine is checked with, through each path.
const WRITE_TEXTS: [&str; 3] = ["hello from the write routine\n", "two\nlines\n", "-"];

/// Compares every routine of the build in `manifest` and measures the costs.
pub fn run(ctx: &Ctx, manifest: &Manifest) -> Result<Report> {
    let program = &manifest
        .program("polylink-routines")
        .context("the build manifest lists no polylink-routines")?
        .path;
    let program = program.to_string_lossy().into_owned();
    let agree: Vec<Agreement> = json_of(ctx, Cmd::new(&program).args(["agree", "--json"]))?;

    let mut routines = Vec::new();
    for raw in &manifest.raw_bins {
        let name = raw.name.trim_end_matches(".bin").to_owned();
        let object = manifest
            .object(&format!("{name}.o"))
            .with_context(|| format!("the build manifest lists no object for {name}"))?;
        let symbol = format!("pl_asm_{name}");
        let (linked, relocations) = routine_in_object(&object.path, &symbol)?;
        let embedded = std::fs::read(&raw.path)
            .with_context(|| format!("could not read {}", raw.path.display()))?;
        let mut row = RoutineRow {
            name: name.clone(),
            bytes: embedded.len(),
            relocations,
            bytes_identical: relocations == 0 && linked == embedded,
            results_match: None,
            cases: 0,
            note: String::new(),
            emitted: None,
        };
        if relocations > 0 {
            row.note = format!("needs {relocations} relocations: cannot be embedded raw");
        }
        if name == "write_stdout" {
            row.results_match = Some(writes_agree(ctx, &program)?);
            row.cases = WRITE_TEXTS.len();
            row.note = "the exact bytes on stdout, through each path".into();
        } else if let Some(found) = agree.iter().find(|r| r.name == name) {
            row.results_match = found.results_match;
            row.cases = found.cases;
            if !found.note.is_empty() {
                row.note = found.note.clone();
            }
            if let Some(emitted) = &found.emitted {
                row.emitted = Some(Emitted {
                    bytes_identical: emitted.bytes == hex(&linked),
                    results_match: emitted.results_match,
                    cases: emitted.cases,
                });
            }
        }
        routines.push(row);
    }

    let figures: Figures = json_of(ctx, Cmd::new(&program).args(["measure", "--json"]))?;
    let ratios = ratios(&figures)?;
    Ok(Report {
        routines,
        ratios,
        figures,
    })
}

/// Bytes as `polylink-routines` prints them (`polylink_exec::hex`, which xtask does not link):
/// lowercase hex pairs separated by spaces.
fn hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(" ")
}

/// Runs `cmd` and parses its stdout as JSON of type `T`.
fn json_of<T: serde::de::DeserializeOwned>(ctx: &Ctx, cmd: Cmd) -> Result<T> {
    let output = cmd.run(ctx.verbose)?;
    serde_json::from_slice(&output.stdout).with_context(|| format!("`{cmd}` printed no JSON"))
}

/// The bytes of `symbol` in the object at `path`, and how many relocations fall inside them.
pub fn routine_in_object(path: &Path, symbol: &str) -> Result<(Vec<u8>, usize)> {
    let data = std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an object file", path.display()))?;
    let sym = file
        .symbols()
        .find(|s| s.name() == Ok(symbol))
        .with_context(|| format!("{} has no symbol {symbol}", path.display()))?;
    let index = sym
        .section_index()
        .with_context(|| format!("{symbol} in {} is not in a section", path.display()))?;
    let section = file.section_by_index(index)?;
    let start = sym.address() - section.address();
    let range = start..start + sym.size();
    let bytes = section
        .data()?
        .get(range.start as usize..range.end as usize)
        .with_context(|| format!("{symbol} in {} runs past its section", path.display()))?
        .to_vec();
    let relocations = section
        .relocations()
        .filter(|(offset, _)| range.contains(offset))
        .count();
    Ok((bytes, relocations))
}

/// Whether `polylink-routines write` puts exactly the given bytes on stdout through both paths.
fn writes_agree(ctx: &Ctx, program: &str) -> Result<bool> {
    for text in WRITE_TEXTS {
        for via in ["linked", "embedded"] {
            let output = Cmd::new(program)
                .args(["write", "--via", via, "--", text])
                .run(ctx.verbose)?;
            if output.stdout != text.as_bytes() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The copy sizes whose fast copy / glibc ratio (the worst over the alignments measured) is
/// reported: the size, the key and the label.
const COPY_KEYS: [(usize, &str, &str); 6] = [
    (
        64,
        "fast_copy_over_memcpy_64b",
        "fast copy / memcpy at 64 B, worst alignment",
    ),
    (
        4 << 10,
        "fast_copy_over_memcpy_4kib",
        "fast copy / memcpy at 4 KiB, worst alignment",
    ),
    (
        64 << 10,
        "fast_copy_over_memcpy_64kib",
        "fast copy / memcpy at 64 KiB, worst alignment",
    ),
    (
        1 << 20,
        "fast_copy_over_memcpy_1mib",
        "fast copy / memcpy at 1 MiB, worst alignment",
    ),
    (
        16 << 20,
        "fast_copy_over_memcpy_16mib",
        "fast copy / memcpy at 16 MiB, worst alignment",
    ),
    (
        256 << 20,
        "fast_copy_over_memcpy_256mib",
        "fast copy / memcpy at 256 MiB, worst alignment",
    ),
];

/// Why the fast copy trails glibc beyond its non-temporal threshold, as measured here.
const LARGE_COPY_LOSS: &str = "from about 100 MiB glibc copies four pages at once with \
     prefetches (its large_memcpy_4x), keeping more DRAM pages open, where the fast copy streams \
     one: about 10% less at 256 MiB";

fn ratios(f: &Figures) -> Result<Vec<Ratio>> {
    let rows = |size: usize| -> Result<Vec<&CopyRow>> {
        let rows: Vec<&CopyRow> = f.copies.iter().filter(|r| r.size == size).collect();
        anyhow::ensure!(
            !rows.is_empty(),
            "polylink-routines measure has no copy of {size} bytes"
        );
        Ok(rows)
    };
    let aligned = |size: usize| -> Result<&CopyRow> {
        rows(size)?
            .into_iter()
            .find(|r| r.src_offset == 0 && r.dst_offset == 0)
            .with_context(|| format!("no aligned copy of {size} bytes"))
    };
    let baseline = |size: usize| -> Result<f64> {
        let row = aligned(size)?;
        let baseline = row
            .baseline_gbps
            .with_context(|| format!("no baseline copy of {size} bytes"))?;
        Ok(row.fast_gbps / baseline)
    };
    let (calls, seal, emit) = (&f.calls, &f.seal, &f.emit);
    let emit_ns = emit.polylink_ns;
    let mut ratios = vec![
        Ratio {
            key: "embedded_over_linked_call",
            label: "embedded call / linked call (best round)",
            value: calls.embedded.best_ns / calls.linked.best_ns,
            target: Some(Target::AtMost(1.02)),
        },
        Ratio {
            key: "emitted_over_linked_call",
            label: "emitted call / linked call (best round)",
            value: calls.emitted.best_ns / calls.linked.best_ns,
            target: Some(Target::AtMost(1.02)),
        },
        Ratio {
            key: "far_over_near_embedded_call",
            label: "embedded call, far mapping / near (best round)",
            value: calls.far.best_ns / calls.embedded.best_ns,
            target: None,
        },
    ];
    for (size, key, label) in COPY_KEYS {
        let worst = rows(size)?
            .iter()
            .map(|r| r.fast_gbps / r.memcpy_gbps)
            .fold(f64::INFINITY, f64::min);
        ratios.push(Ratio {
            key,
            label,
            value: worst,
            // Beyond the non-temporal threshold the loss is known and explained.
            target: (size < 64 << 20).then_some(Target::AtLeast(0.95)),
        });
    }
    ratios.extend([
        Ratio {
            key: "fast_copy_over_baseline_256mib",
            label: "fast copy / baseline AVX copy at 256 MiB (GB/s)",
            value: baseline(256 << 20)?,
            target: Some(Target::AtLeast(1.1)),
        },
        Ratio {
            key: "fast_copy_over_baseline_4kib",
            label: "fast copy / baseline AVX copy at 4 KiB (GB/s)",
            value: baseline(4 << 10)?,
            target: None,
        },
        Ratio {
            key: "batched_seal_us_per_fn",
            label: "sealing in one shared mapping (us per function)",
            value: seal.shared_mapping_us,
            target: Some(Target::AtMost(0.1)),
        },
        Ratio {
            key: "one_mapping_each_over_shared_seal",
            label: "one mapping per function / shared mapping (time)",
            value: seal.one_mapping_each_us / seal.shared_mapping_us,
            target: None,
        },
        Ratio {
            key: "emit_ns_per_instruction",
            label: "emitting one instruction (ns)",
            value: emit_ns,
            target: Some(Target::AtMost(5.0)),
        },
        Ratio {
            key: "iced_encoder_over_emitter",
            label: "iced-x86 encoder / polylink emitter (time)",
            value: emit.iced_ns / emit_ns,
            target: Some(Target::AtLeast(3.0)),
        },
    ]);
    Ok(ratios)
}

/// Prints the report as one JSON object.
pub fn print_json(w: &mut impl Write, report: &Report) -> Result<()> {
    let routines: Vec<Value> = report
        .routines
        .iter()
        .map(|r| {
            json!({
                "name": r.name, "bytes": r.bytes, "relocations": r.relocations,
                "bytes_identical": r.bytes_identical, "results_match": r.results_match,
                "cases": r.cases, "note": r.note,
                "emitted": r.emitted.as_ref().map(|e| json!({
                    "bytes_identical": e.bytes_identical, "results_match": e.results_match,
                    "cases": e.cases,
                })),
            })
        })
        .collect();
    let ratios: serde_json::Map<String, Value> = report
        .ratios
        .iter()
        .map(|r| (r.key.to_owned(), json!(r.value)))
        .collect();
    let targets: Vec<Value> = report
        .ratios
        .iter()
        .filter_map(|r| {
            let (comparison, target) = r.target?.parts();
            Some(
                json!({"ratio": r.key, "value": r.value, "comparison": comparison,
                        "target": target, "met": r.met()}),
            )
        })
        .collect();
    let value = json!({
        "routines": routines, "ratios": ratios, "targets": targets,
        "figures": serde_json::to_value(&report.figures)?,
    });
    writeln!(w, "{value}")?;
    Ok(())
}

/// Prints the report as tables.
pub fn print_table(w: &mut impl Write, report: &Report) -> Result<()> {
    writeln!(
        w,
        "{:<18} {:>5} {:>6}  {:<9}  {:<22}  {:<23}  note",
        "routine", "bytes", "relocs", "identical", "results", "emitted"
    )?;
    for r in &report.routines {
        let results = match r.results_match {
            Some(true) => format!("agree ({} cases)", r.cases),
            Some(false) => format!("DIFFER ({} cases)", r.cases),
            None => "not compared".to_owned(),
        };
        let identical = if r.bytes_identical { "yes" } else { "NO" };
        let emitted = match &r.emitted {
            None => "-".to_owned(),
            Some(e) => format!(
                "{}, {}",
                if e.bytes_identical {
                    "same bytes"
                } else {
                    "OTHER BYTES"
                },
                if e.results_match { "agree" } else { "DIFFER" }
            ),
        };
        writeln!(
            w,
            "{:<18} {:>5} {:>6}  {identical:<9}  {results:<22}  {emitted:<23}  {}",
            r.name, r.bytes, r.relocations, r.note
        )?;
    }

    writeln!(w)?;
    report.figures.print(w)?;
    let losing: Vec<String> = report
        .ratios
        .iter()
        .filter(|r| r.key.starts_with("fast_copy_over_memcpy_") && r.value < 0.95)
        .map(|r| format!("{} ({:.2})", r.label, r.value))
        .collect();
    if !losing.is_empty() {
        writeln!(
            w,
            "note: the fast copy loses to glibc: {}",
            losing.join("; ")
        )?;
        writeln!(w, "      where it is large: {LARGE_COPY_LOSS}")?;
    }
    let calls = &report.figures.calls;
    if !(calls.embedded.near && calls.emitted.near) {
        writeln!(
            w,
            "note: executable memory could not be mapped in the program's 128 GiB block here, so \
             embedded and emitted code pay the far-call cost (polylink_exec::near_callers)"
        )?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<50} {:>9}  {:<8}  verdict",
        "ratio (measured side by side in this run)", "value", "target"
    )?;
    for r in &report.ratios {
        let target = r.target.map_or(String::new(), |t| {
            let (comparison, bound) = t.parts();
            format!("{comparison} {bound}")
        });
        let verdict = match r.met() {
            None => "",
            Some(true) => "met",
            Some(false) => "MISSED",
        };
        writeln!(
            w,
            "{:<50} {:>9.3}  {target:<8}  {verdict}",
            r.label, r.value
        )?;
    }
    Ok(())
}

/// `cargo xtask compare [--json]`: fails when the linked and embedded routines differ.
pub fn task(ctx: &Ctx, json: bool) -> Result<std::process::ExitCode> {
    let (_, manifest) = crate::build::default_build(ctx)?;
    let report = run(ctx, &manifest)?;
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&mut out, &report)?;
    } else {
        print_table(&mut out, &report)?;
    }
    if !report.consistent() {
        eprintln!("error: the linked and embedded routines differ");
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
