//! Hot-code reloading in-process: a function swapped while other threads call it.

use std::sync::atomic::{AtomicBool, Ordering};

use polylink_emit::{Assembler, Mem, Reg};
use polylink_exec::SealedCode;
use polylink_hot::HotTable;

/// Version `v` of the hot function: `rdi + v`, as freshly emitted and sealed code.
fn version(v: i32) -> SealedCode {
    let mut asm = Assembler::new();
    asm.lea(Reg::Rax, Mem::at(Reg::Rdi, v)).ret();
    asm.finish().unwrap().seal().unwrap()
}

/// Three threads call a slot without pause while the main thread swaps it 10 000 times. No
/// call crashes; every result is `arg + v` for a version `v` that was installed, and each
/// caller sees versions in the order they were installed (never an older one after a newer);
/// every retired version is reclaimed once the callers stop.
#[test]
fn ten_thousand_swaps_under_concurrent_callers() {
    const SWAPS: i32 = 10_000;
    let table = HotTable::new(&["op", "other"]).unwrap();
    let slot = table.slot("op").unwrap();
    assert_eq!(
        slot.call(&[1]).unwrap(),
        None,
        "an empty slot is not called"
    );
    // SAFETY: `version` code reads rdi and returns in rax: sound for any integers.
    unsafe { slot.swap(version(0)) };
    let stop = AtomicBool::new(false);
    let calls = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..3u64)
            .map(|t| {
                let stop = &stop;
                scope.spawn(move || {
                    let (mut calls, mut last) = (0u64, 0i64);
                    let arg = 1_000_000 * (t + 1);
                    while !stop.load(Ordering::Relaxed) {
                        let got = slot.call(&[arg]).unwrap().expect("the slot has code");
                        let v = got as i64 - arg as i64;
                        assert!(
                            (0..=i64::from(SWAPS)).contains(&v),
                            "result {got} for {arg}"
                        );
                        assert!(v >= last, "version {v} seen after version {last}");
                        last = v;
                        calls += 1;
                    }
                    (calls, last)
                })
            })
            .collect();
        for v in 1..=SWAPS {
            let (old, new) =
                // SAFETY: as above.
                unsafe { slot.swap(version(v)) };
            assert_ne!(old, 0);
            assert_ne!(old, new);
        }
        stop.store(true, Ordering::Relaxed);
        callers
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (calls, last) in &calls {
        assert!(*calls > 0);
        assert!(*last <= i64::from(SWAPS));
    }
    assert_eq!(slot.call(&[5]).unwrap(), Some(5 + SWAPS as u64));
    let stats = table.collect(1000);
    assert_eq!(stats.swaps, SWAPS as usize + 1);
    assert_eq!(stats.retired, SWAPS as usize);
    assert_eq!(stats.reclaimed, stats.retired, "{stats:?}");
    eprintln!("calls per caller: {calls:?}; {stats:?}");
}

#[test]
fn slots_are_named_and_bad_names_refused() {
    let table = HotTable::new(&["a", "b"]).unwrap();
    assert_eq!(table.slot("b").unwrap().name(), "b");
    let err = table.slot("c").unwrap_err().to_string();
    assert_eq!(err, "no hot slot named \"c\" (the table has: a, b)");
    let long = "x".repeat(33);
    for (names, expected) in [
        (vec!["a", "a"], "hot slot \"a\" is named twice".to_owned()),
        (
            vec![""],
            "hot slot name \"\" is 0 bytes; a slot name holds 1 to 32".into(),
        ),
        (
            vec![long.as_str()],
            format!("hot slot name {long:?} is 33 bytes; a slot name holds 1 to 32"),
        ),
    ] {
        assert_eq!(HotTable::new(&names).unwrap_err().to_string(), expected);
    }
    assert!(
        table.slot("a").unwrap().call(&[1; 7]).is_err(),
        "seven arguments"
    );
}
