//! Emission throughput: polylink's emitter against iced-x86's encoder, on the same instruction
//! mix making the same bytes (a test holds that). Criterion reports time per element, that is per
//! instruction; compare the two lines of one run. `cargo xtask compare` prints the ratio.
//!
//! `cargo bench -p polylink-routines --bench emit`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use polylink_routines::measure::{MIX_PER_ROUND, emit_mix, iced_mix};

fn emission(c: &mut Criterion) {
    const ROUNDS: usize = 1000;
    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements((ROUNDS * MIX_PER_ROUND) as u64));
    group.bench_function("polylink", |b| {
        b.iter(|| emit_mix(black_box(ROUNDS)).unwrap())
    });
    group.bench_function("iced-x86 encoder", |b| {
        b.iter(|| iced_mix(black_box(ROUNDS)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, emission);
criterion_main!(benches);
