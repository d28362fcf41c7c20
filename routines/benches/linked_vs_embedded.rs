//! The figures of `cargo xtask compare`, under criterion: calls of `add` through a pointer
//! (Rust's own function, linked, embedded, emitted, and embedded bytes mapped far from the
//! caller), copy throughput (glibc memcpy, the fast copy, and the baseline where it can) at six
//! sizes, aligned and misaligned, and sealing 1000 small functions one mapping each or in one
//! shared mapping. Compare variants within a group: the machine is shared and noisy.
//!
//! `cargo bench -p polylink-routines`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use polylink_exec::{CodeBuffer, ModuleBuilder, Placement};
use polylink_routines::{AddFn, RoutineSet, embedded_module, routine};

#[inline(never)]
extern "C" fn native_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

fn calls(c: &mut Criterion) {
    let module = embedded_module().unwrap();
    let embedded = RoutineSet::embedded(&module).unwrap();
    let emitted = polylink_emit::examples::add_two().seal().unwrap();
    let add = routine("add").unwrap().bytes;
    let mut far = CodeBuffer::placed(add.len(), 0, Placement::Anywhere).unwrap();
    far.push(add).unwrap();
    let far = far.seal().unwrap();
    // SAFETY: both are `u64 add(u64, u64)`, touching no memory, and outlive the benchmark.
    let (emitted, far): (AddFn, AddFn) = unsafe {
        (
            emitted.function::<AddFn>(0).unwrap().as_fn(),
            far.function::<AddFn>(0).unwrap().as_fn(),
        )
    };
    let variants: [(&str, AddFn); 5] = [
        ("Rust function", native_add),
        ("linked", RoutineSet::linked().add_fn()),
        ("embedded", embedded.add_fn()),
        ("emitted", emitted),
        ("embedded, far", far),
    ];
    let mut group = c.benchmark_group("call add through a pointer");
    for (name, f) in variants {
        group.bench_function(name, |b| {
            // SAFETY: as above.
            b.iter(|| unsafe { black_box(f)(black_box(40), black_box(2)) })
        });
    }
    group.finish();
}

fn copies(c: &mut Criterion) {
    let module = embedded_module().unwrap();
    let routines = RoutineSet::embedded(&module).unwrap();
    let mut group = c.benchmark_group("copy");
    for size in [64usize, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20] {
        if size >= 1 << 20 {
            group.sample_size(10);
        }
        for (src_offset, dst_offset) in [(0, 0), (17, 45)] {
            let mut src_store = vec![0x5au8; size + 128];
            let mut dst_store = vec![0u8; size + 128];
            let at = |v: &Vec<u8>| v.as_ptr().addr().next_multiple_of(64) - v.as_ptr().addr();
            let (s, d) = (at(&src_store) + src_offset, at(&dst_store) + dst_offset);
            let src = &mut src_store[s..s + size];
            let dst = &mut dst_store[d..d + size];
            let id =
                |name: &str| BenchmarkId::new(name, format!("{size}@{src_offset}/{dst_offset}"));
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(id("memcpy"), |b| b.iter(|| dst.copy_from_slice(src)));
            // The baseline copies 32-byte-aligned buffers only.
            if src_offset == 0 && dst_offset == 0 {
                group.bench_function(id("baseline"), |b| {
                    b.iter(|| routines.copy_avx_baseline(dst, src).unwrap())
                });
            }
            group.bench_function(id("fast"), |b| {
                b.iter(|| routines.copy_fast(dst, src).unwrap())
            });
        }
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
            let mut builder = ModuleBuilder::with_capacity(1000, 1000 * add.len());
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
