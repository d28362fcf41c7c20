//! The same machine code, linked and embedded: both paths agree with each other, and with Rust,
//! on many random inputs.

use std::sync::OnceLock;

use polylink_exec::Module;
use polylink_routines::{RoutineSet, embedded_module};
use polylink_tests::routines;
use proptest::prelude::*;

fn linked() -> RoutineSet<'static> {
    RoutineSet::linked()
}

fn embedded() -> RoutineSet<'static> {
    static MODULE: OnceLock<Module> = OnceLock::new();
    let module = MODULE.get_or_init(|| embedded_module().expect("the routines seal"));
    RoutineSet::embedded(module).unwrap()
}

/// `len` bytes at `offset` (0..64) inside a 64-byte-aligned buffer with room around them.
struct Placed {
    buffer: Vec<u8>,
    start: usize,
    len: usize,
}

impl Placed {
    fn new(fill: impl Fn(usize) -> u8, offset: usize, len: usize) -> Placed {
        let mut buffer: Vec<u8> = (0..len + 192).map(&fill).collect();
        let start = buffer.as_ptr().addr().next_multiple_of(64) - buffer.as_ptr().addr() + offset;
        buffer.truncate(start + len + 64);
        Placed { buffer, start, len }
    }
    fn slice(&self) -> &[u8] {
        &self.buffer[self.start..self.start + self.len]
    }
    fn slice_mut(&mut self) -> &mut [u8] {
        &mut self.buffer[self.start..self.start + self.len]
    }
}

proptest! {
    #[test]
    fn add_agrees(a: u64, b: u64) {
        prop_assert_eq!(linked().add(a, b), a.wrapping_add(b));
        prop_assert_eq!(embedded().add(a, b), a.wrapping_add(b));
    }

    #[test]
    fn mix_agrees_and_keeps_callee_saved_registers(a: u64, b: u64, c: u64) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut x = (a.wrapping_mul(K) ^ b.rotate_left(17)).wrapping_add(c);
        x ^= x >> 29;
        let expected = x.wrapping_mul(K);
        prop_assert_eq!(linked().mix(a, b, c), expected);
        prop_assert_eq!(embedded().mix(a, b, c), expected);
    }

    #[test]
    fn clamp_sum_agrees(values in prop::collection::vec(any::<i64>(), 0..200),
                        mul: i64, add: i64, lo: i64, hi: i64) {
        let expected = values.iter().fold(0i64, |sum, &v| {
            sum.wrapping_add(v.wrapping_mul(mul).wrapping_add(add).max(lo).min(hi))
        });
        prop_assert_eq!(linked().clamp_sum(&values, mul, add, lo, hi), expected);
        prop_assert_eq!(embedded().clamp_sum(&values, mul, add, lo, hi), expected);
    }

    #[test]
    fn copy_fast_agrees_for_any_length_and_alignment(len in 0usize..5000, src_at in 0usize..64,
                                                     dst_at in 0usize..64, seed: u8) {
        let src = Placed::new(|i| (i as u8).wrapping_mul(31).wrapping_add(seed), src_at, len);
        for routines in [linked(), embedded()] {
            let mut dst = Placed::new(|_| 0xee, dst_at, len);
            routines.copy_fast(dst.slice_mut(), src.slice()).unwrap();
            prop_assert_eq!(dst.slice(), src.slice(), "{}", routines.path());
            let untouched = dst.buffer[..dst.start].iter()
                .chain(&dst.buffer[dst.start + len..])
                .all(|&b| b == 0xee);
            prop_assert!(untouched, "{} wrote outside dst", routines.path());
        }
    }

    #[test]
    fn copy_avx_baseline_agrees(blocks in 0usize..64, seed: u8) {
        let src = Placed::new(|i| (i as u8) ^ seed, 0, blocks * 64);
        for routines in [linked(), embedded()] {
            let mut dst = Placed::new(|_| 0, 0, blocks * 64);
            routines.copy_avx_baseline(dst.slice_mut(), src.slice()).unwrap();
            prop_assert_eq!(dst.slice(), src.slice(), "{}", routines.path());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// write_stdout writes exactly the bytes it is given, byte for byte the same on both paths;
    /// each path runs in its own polylink-routines process, whose stdout is a pipe.
    #[test]
    fn write_stdout_writes_exactly_its_bytes(text in "[ -~]{1,200}") {
        for via in ["linked", "embedded"] {
            let ran = routines().args(["write", "--via", via, "--", &text]).assert();
            let output = ran.get_output();
            prop_assert!(output.status.success(), "{ran}");
            prop_assert_eq!(String::from_utf8_lossy(&output.stdout), text.as_str(), "{}", via);
        }
    }
}

/// Lengths around the 4 MiB threshold where copy_fast switches to non-temporal stores.
#[test]
fn copy_fast_agrees_across_the_non_temporal_threshold() {
    const MIB: usize = 1 << 20;
    for len in [4 * MIB - 1, 4 * MIB + 33, 9 * MIB + 7] {
        let src = Placed::new(|i| (i % 251) as u8, 5, len);
        for routines in [linked(), embedded()] {
            let mut dst = Placed::new(|_| 0xee, 17, len);
            routines.copy_fast(dst.slice_mut(), src.slice()).unwrap();
            assert!(
                dst.slice() == src.slice(),
                "{} at {len} bytes",
                routines.path()
            );
            assert_eq!(
                dst.buffer[dst.start + len],
                0xee,
                "{} wrote past the end",
                routines.path()
            );
        }
    }
}
