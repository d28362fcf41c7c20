//! The routines of `asm/routines/`, reachable two ways from the same source: linked (the
//! `-f elf64` objects, linked into this crate by its build script) and embedded (the `-f bin`
//! bytes, included at compile time and sealed into executable memory at run time).
//!
//! [`RoutineSet`] holds one function pointer per routine, from either path, and checks each
//! routine's contract (lengths, alignment, CPU features) before calling it, so both paths go
//! through the same checks and only the pointers differ.

use std::marker::PhantomData;

mod call_loops;
pub mod measure;

use polylink_exec::{FnPtr, Module, ModuleBuilder};
pub use polylink_routines_report::{Agreement, EmittedAgreement};

/// What goes wrong running the routines: a refused argument, or the code around them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{routine} refuses its arguments: {fault}")]
    Contract {
        routine: &'static str,
        fault: String,
    },
    #[error("iced-x86 refused an instruction of the measured mix: {cause}")]
    IcedMix { cause: String },
    #[error(transparent)]
    Exec(#[from] polylink_exec::Error),
    #[error(transparent)]
    Emit(#[from] polylink_emit::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A routine: its name (the file stem), its symbol in the object, and its raw bytes.
#[derive(Clone, Copy, Debug)]
pub struct Routine {
    pub name: &'static str,
    pub symbol: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! routines {
    ($($name:literal),* $(,)?) => {
        /// Every routine, in the order of their files.
        pub const ROUTINES: &[Routine] = &[$(Routine {
            name: $name,
            symbol: concat!("pl_asm_", $name),
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".bin")),
        }),*];
    };
}
routines![
    "add",
    "clamp_sum",
    "copy_avx_baseline",
    "copy_fast",
    "mix",
    "write_stdout"
];

/// The routine named `name`.
pub fn routine(name: &str) -> Option<&'static Routine> {
    ROUTINES.iter().find(|r| r.name == name)
}

/// `u64 add(u64, u64)`: every variant of `add` has this type.
pub type AddFn = unsafe extern "C" fn(u64, u64) -> u64;
type CopyBaselineFn = unsafe extern "C" fn(*mut u8, *const u8, usize);
type CopyFastFn = unsafe extern "C" fn(*mut u8, *const u8, usize) -> *mut u8;
type WriteFn = unsafe extern "C" fn(*const u8, usize) -> isize;
type ClampSumFn = unsafe extern "C" fn(*const i64, usize, i64, i64, i64, i64) -> i64;
type MixFn = unsafe extern "C" fn(u64, u64, u64) -> u64;

pub(crate) mod linked {
    unsafe extern "C" {
        pub fn pl_asm_add(a: u64, b: u64) -> u64;
        pub fn pl_asm_clamp_sum(
            v: *const i64,
            n: usize,
            mul: i64,
            add: i64,
            lo: i64,
            hi: i64,
        ) -> i64;
        pub fn pl_asm_copy_avx_baseline(dst: *mut u8, src: *const u8, n: usize);
        pub fn pl_asm_copy_fast(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        pub fn pl_asm_mix(a: u64, b: u64, c: u64) -> u64;
        pub fn pl_asm_write_stdout(buf: *const u8, len: usize) -> isize;
    }
}

/// `add` through the linked path as a direct call, the way C calls a linked function (a
/// [`RoutineSet`] calls through a pointer, whichever path it holds).
#[inline]
pub fn linked_add(a: u64, b: u64) -> u64 {
    // SAFETY: add takes and returns integers.
    unsafe { linked::pl_asm_add(a, b) }
}

/// One function pointer per routine, from one path; `None` where this CPU cannot run it.
/// The lifetime ties embedded pointers to their module.
#[derive(Debug)]
pub struct RoutineSet<'code> {
    path: &'static str,
    add: AddFn,
    clamp_sum: ClampSumFn,
    copy_avx_baseline: Option<CopyBaselineFn>,
    copy_fast: Option<CopyFastFn>,
    mix: MixFn,
    write_stdout: WriteFn,
    _code: PhantomData<&'code Module>,
}

/// Whether `name` is a whole function this CPU can run.
fn runnable(name: &str) -> bool {
    routine(name).is_some_and(|r| polylink_exec::check_code(r.name, r.bytes).is_ok())
}

impl RoutineSet<'static> {
    /// The linked path: the `-f elf64` objects, linked into this crate.
    pub fn linked() -> RoutineSet<'static> {
        RoutineSet {
            path: "linked",
            add: linked::pl_asm_add,
            clamp_sum: linked::pl_asm_clamp_sum,
            copy_avx_baseline: runnable("copy_avx_baseline")
                .then_some(linked::pl_asm_copy_avx_baseline as CopyBaselineFn),
            copy_fast: runnable("copy_fast").then_some(linked::pl_asm_copy_fast as CopyFastFn),
            mix: linked::pl_asm_mix,
            write_stdout: linked::pl_asm_write_stdout,
            _code: PhantomData,
        }
    }
}

/// Seals every routine this CPU can run into one module, each under its name.
pub fn embedded_module() -> Result<Module> {
    let mut builder = ModuleBuilder::new();
    for routine in ROUTINES.iter().filter(|r| runnable(r.name)) {
        builder.add(routine.name, routine.bytes);
    }
    Ok(builder.build()?)
}

impl<'code> RoutineSet<'code> {
    /// The embedded path: the raw bytes sealed in `module` (see [`embedded_module`]).
    pub fn embedded(module: &'code Module) -> Result<RoutineSet<'code>> {
        fn get<F: FnPtr>(module: &Module, name: &str) -> Result<F> {
            // SAFETY: each entry holds the bytes of the routine of that name, whose signature
            // the type aliases above state (see its source in asm/routines).
            Ok(unsafe { module.function::<F>(name) }?.as_fn())
        }
        let optional = |name| module.entry(name).is_ok().then_some(name);
        Ok(RoutineSet {
            path: "embedded",
            add: get(module, "add")?,
            clamp_sum: get(module, "clamp_sum")?,
            copy_avx_baseline: optional("copy_avx_baseline")
                .map(|n| get(module, n))
                .transpose()?,
            copy_fast: optional("copy_fast").map(|n| get(module, n)).transpose()?,
            mix: get(module, "mix")?,
            write_stdout: get(module, "write_stdout")?,
            _code: PhantomData,
        })
    }

    /// "linked" or "embedded".
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The address `add` is called at.
    pub fn add_address(&self) -> usize {
        self.add as usize
    }

    /// `add` as a bare function pointer, valid while this set (and its module) lives.
    pub fn add_fn(&self) -> AddFn {
        self.add
    }

    #[inline]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        // SAFETY: add takes and returns integers; the pointer is linked or borrows its module.
        unsafe { (self.add)(a, b) }
    }

    pub fn clamp_sum(&self, values: &[i64], mul: i64, add: i64, lo: i64, hi: i64) -> i64 {
        // SAFETY: the pointer and length describe `values`, which clamp_sum only reads.
        unsafe { (self.clamp_sum)(values.as_ptr(), values.len(), mul, add, lo, hi) }
    }

    pub fn mix(&self, a: u64, b: u64, c: u64) -> u64 {
        // SAFETY: mix takes and returns integers and restores the callee-saved registers.
        unsafe { (self.mix)(a, b, c) }
    }

    /// Writes `bytes` to stdout with one write system call; bytes written or a negative errno.
    pub fn write_stdout(&self, bytes: &[u8]) -> isize {
        // SAFETY: the pointer and length describe `bytes`, which write only reads.
        unsafe { (self.write_stdout)(bytes.as_ptr(), bytes.len()) }
    }

    /// The classic AVX copy: `dst` and `src` of equal length, a multiple of 64, both 32-byte
    /// aligned.
    pub fn copy_avx_baseline(&self, dst: &mut [u8], src: &[u8]) -> Result<()> {
        let f = self
            .copy_avx_baseline
            .ok_or_else(|| missing("copy_avx_baseline"))?;
        let fault = if dst.len() != src.len() {
            Some(format!("dst is {} bytes and src {}", dst.len(), src.len()))
        } else if !src.len().is_multiple_of(64) {
            Some(format!("{} bytes is not a multiple of 64", src.len()))
        } else if !dst.as_ptr().addr().is_multiple_of(32) || !src.as_ptr().addr().is_multiple_of(32)
        {
            Some("dst and src must be 32-byte aligned".into())
        } else {
            None
        };
        if let Some(fault) = fault {
            return Err(Error::Contract {
                routine: "copy_avx_baseline",
                fault,
            });
        }
        // SAFETY: the contract was just checked; the borrows keep dst and src apart.
        unsafe { f(dst.as_mut_ptr(), src.as_ptr(), src.len()) };
        Ok(())
    }

    /// The fast copy: `dst` and `src` of equal length, any length and alignment.
    pub fn copy_fast(&self, dst: &mut [u8], src: &[u8]) -> Result<()> {
        let f = self.copy_fast.ok_or_else(|| missing("copy_fast"))?;
        if dst.len() != src.len() {
            return Err(Error::Contract {
                routine: "copy_fast",
                fault: format!("dst is {} bytes and src {}", dst.len(), src.len()),
            });
        }
        // SAFETY: equal lengths, and the borrows keep dst and src apart.
        unsafe { f(dst.as_mut_ptr(), src.as_ptr(), src.len()) };
        Ok(())
    }
}

/// splitmix64: a plain, seeded, reproducible source of test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One case of a routine on both paths: whether they agreed, or why it could not run.
type Case<'a> = &'a dyn Fn(&mut Rng) -> Result<bool, String>;

/// Runs every routine but write_stdout (whose output is stdout: run `polylink-routines write`
/// through each path and compare) on `cases` pseudo-random inputs through both paths.
pub fn agree(linked: &RoutineSet<'_>, embedded: &RoutineSet<'_>, cases: usize) -> Vec<Agreement> {
    let (l, e) = (linked, embedded);
    let checks: [(&'static str, Case<'_>); 5] = [
        ("add", &|r| {
            let (a, b) = (r.next(), r.next());
            Ok(l.add(a, b) == e.add(a, b))
        }),
        ("clamp_sum", &|r| {
            let values: Vec<i64> = (0..r.next() % 64).map(|_| r.next() as i64).collect();
            let (mul, add, lo, hi) = (
                r.next() as i64,
                r.next() as i64,
                r.next() as i64,
                r.next() as i64,
            );
            Ok(l.clamp_sum(&values, mul, add, lo, hi) == e.clamp_sum(&values, mul, add, lo, hi))
        }),
        ("copy_avx_baseline", &|r| {
            let len = (r.next() as usize % 64) * 64;
            copies_agree(len, r.next(), &|d, s| l.copy_avx_baseline(d, s), &|d, s| {
                e.copy_avx_baseline(d, s)
            })
        }),
        ("copy_fast", &|r| {
            let len = r.next() as usize % 5000;
            copies_agree(len, r.next(), &|d, s| l.copy_fast(d, s), &|d, s| {
                e.copy_fast(d, s)
            })
        }),
        ("mix", &|r| {
            let (a, b, c) = (r.next(), r.next(), r.next());
            Ok(l.mix(a, b, c) == e.mix(a, b, c))
        }),
    ];
    let mut rng = Rng(0x853c_49e6_748f_ea9b);
    let mut results: Vec<Agreement> = checks
        .iter()
        .map(|&(name, case)| {
            let mut first_difference = None;
            for i in 0..cases {
                match case(&mut rng) {
                    Ok(true) => {}
                    Ok(false) => {
                        first_difference.get_or_insert(format!("case {i} differs"));
                    }
                    Err(why) => {
                        return Agreement {
                            name: name.to_owned(),
                            emitted: None,
                            cases: i,
                            results_match: None,
                            note: why,
                        };
                    }
                }
            }
            Agreement {
                name: name.to_owned(),
                emitted: None,
                cases,
                results_match: Some(first_difference.is_none()),
                note: first_difference.unwrap_or_default(),
            }
        })
        .collect();
    results.push(Agreement {
        name: "write_stdout".to_owned(),
        emitted: None,
        cases: 0,
        results_match: None,
        note: "writes to stdout: compare `polylink-routines write --via linked|embedded TEXT`"
            .into(),
    });
    results
}

/// Calls the emitter's `add` ([`polylink_emit::examples::add_two`]) and the linked routine on the
/// same `cases` pseudo-random inputs.
pub fn agree_emitted_add(linked: &RoutineSet<'_>, cases: usize) -> Result<EmittedAgreement> {
    let program = polylink_emit::examples::add_two();
    let sealed = program.seal()?;
    // SAFETY: add_two is `u64 f(u64, u64)` and touches no memory.
    let add = unsafe { sealed.function::<unsafe extern "C" fn(u64, u64) -> u64>(0) }?;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let results_match = (0..cases).all(|_| {
        let (a, b) = (rng.next(), rng.next());
        // SAFETY: as above.
        linked.add(a, b) == unsafe { add.call((a, b)) }
    });
    Ok(EmittedAgreement {
        bytes: polylink_exec::hex(program.code()),
        cases,
        results_match,
    })
}

/// A copy routine as [`RoutineSet`] offers it.
type CopyRoutine<'a> = &'a dyn Fn(&mut [u8], &[u8]) -> Result<()>;

/// Copies `len` bytes into a 64-byte-aligned spot of a larger buffer with both copies: whether
/// both wrote exactly the source's bytes there and nothing around them.
fn copies_agree(
    len: usize,
    fill: u64,
    a: CopyRoutine<'_>,
    b: CopyRoutine<'_>,
) -> Result<bool, String> {
    let aligned = |v: &[u8]| v.as_ptr().addr().next_multiple_of(64) - v.as_ptr().addr();
    let src_store: Vec<u8> = (0..len + 64).map(|i| (i as u64 ^ fill) as u8).collect();
    let src = &src_store[aligned(&src_store)..][..len];
    let exact = |copy: CopyRoutine<'_>| {
        let mut dst = vec![0xeeu8; len + 128];
        let at = aligned(&dst);
        copy(&mut dst[at..at + len], src).map_err(|e| e.to_string())?;
        let around = dst[..at].iter().chain(&dst[at + len..]).all(|&b| b == 0xee);
        Ok::<_, String>(around && dst[at..at + len] == *src)
    };
    Ok(exact(a)? && exact(b)?)
}

/// Why a routine is absent: the CPU feature it needs (or what else is wrong with it).
fn missing(name: &str) -> Error {
    let routine = routine(name).expect("a known routine");
    polylink_exec::check_code(routine.name, routine.bytes)
        .err()
        .unwrap_or_else(|| polylink_exec::Error::NoEntry { name: name.into() })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_the_directory_of_routines() {
        let mut files: Vec<String> = std::fs::read_dir("../asm/routines")
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "asm"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let names: Vec<&str> = ROUTINES.iter().map(|r| r.name).collect();
        assert_eq!(names, files);
    }

    #[test]
    fn add_is_seven_bytes_on_both_paths() {
        assert_eq!(routine("add").unwrap().bytes.len(), 7);
        let module = embedded_module().unwrap();
        let embedded = RoutineSet::embedded(&module).unwrap();
        let linked = RoutineSet::linked();
        assert_eq!((linked.add(40, 2), embedded.add(40, 2)), (42, 42));
        assert_ne!(linked.add_address(), embedded.add_address());
    }

    #[test]
    fn contracts_are_checked_before_calling() {
        let linked = RoutineSet::linked();
        let mut dst = [0u8; 10];
        let err = linked.copy_fast(&mut dst, &[1; 9]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "copy_fast refuses its arguments: dst is 10 bytes and src 9"
        );
        if runnable("copy_avx_baseline") {
            let err = linked
                .copy_avx_baseline(&mut [0; 10], &[0; 10])
                .unwrap_err();
            assert!(err.to_string().contains("not a multiple of 64"), "{err}");
        }
    }
}
