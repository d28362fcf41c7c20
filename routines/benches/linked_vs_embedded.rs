//! The figures of `cargo xtask compare`, under criterion: calls of `add` (native Rust, linked,
//! embedded), copy throughput (glibc memcpy, the baseline AVX copy, the fast copy) at 4 KiB,
//! 1 MiB and 256 MiB, and sealing 1000 small functions one mapping each or in one shared
//! mapping. Compare variants within a group: the machine is shared and noisy.
//!
//! `cargo bench -p polylink-routines`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use polylink_exec::{CodeBuffer, ModuleBuilder};
use polylink_routines::{RoutineSet, embedded_module, linked_add, routine};

fn calls(c: &mut Criterion) {
    let module = embedded_module().unwrap();
    let embedded = RoutineSet::embedded(&module).unwrap();
    let mut group = c.benchmark_group("call add");
    group.bench_function("native", |b| {
        b.iter(|| black_box(black_box(40u64).wrapping_add(black_box(2))))
    });
    group.bench_function("linked", |b| {
        b.iter(|| linked_add(black_box(40), black_box(2)))
    });
    group.bench_function("embedded", |b| {
        b.iter(|| embedded.add(black_box(40), black_box(2)))
    });
    group.finish();
}

fn copies(c: &mut Criterion) {
    let module = embedded_module().unwrap();
    let routines = RoutineSet::embedded(&module).unwrap();
    let mut group = c.benchmark_group("copy");
    for size in [4usize << 10, 1 << 20, 256 << 20] {
        if size >= 1 << 20 {
            group.sample_size(10);
        }
        // 64-byte aligned, as the baseline copy requires 32.
        let mut src_store = vec![0x5au8; size + 64];
        let mut dst_store = vec![0u8; size + 64];
        let at = |v: &Vec<u8>| v.as_ptr().addr().next_multiple_of(64) - v.as_ptr().addr();
        let (s, d) = (at(&src_store), at(&dst_store));
        let src = &mut src_store[s..s + size];
        let dst = &mut dst_store[d..d + size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| dst.copy_from_slice(src))
        });
        group.bench_function(BenchmarkId::new("baseline", size), |b| {
            b.iter(|| routines.copy_avx_baseline(dst, src).unwrap())
        });
        group.bench_function(BenchmarkId::new("fast", size), |b| {
            b.iter(|| routines.copy_fast(dst, src).unwrap())
        });
    }
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let add = routine("add").unwrap().bytes;
    let names: Vec<String> = (0..1000).map(|i| format!("add{i}")).collect();
    let mut group = c.benchmark_group("seal 1000 functions");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("one mapping each", |b| {
        b.iter(|| {
            let sealed: Vec<_> = (0..1000)
                .map(|_| CodeBuffer::from_code(add).unwrap().seal().unwrap())
                .collect();
            black_box(sealed)
        })
    });
    group.bench_function("one shared mapping", |b| {
        b.iter(|| {
            let mut builder = ModuleBuilder::new();
            for name in &names {
                builder.add(name, add);
            }
            black_box(builder.build().unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, calls, copies, sealing);
criterion_main!(benches);
