//! The host exports its hot table in `.dynsym` too, so that a copy stripped of its symbol table
//! (`strip` keeps `.dynsym`) can still be patched: a patcher looks there when `.symtab` is gone.

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol=POLYLINK_HOT_TABLE");
}
