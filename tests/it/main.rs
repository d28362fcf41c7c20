//! polylink's integration tests: one binary, a module per area, each test named as a claim.
//! They build what they need themselves (see `polylink_tests::build`).

mod asm;
mod build;
mod checksec;
mod compare;
mod elf;
mod emit;
mod golden;
mod header;
mod hot;
mod install;
mod isolate;
mod jit;
mod link_doctor;
mod link_order;
mod link_replay;
mod live;
mod nm;
mod patch;
mod programs;
mod readme;
mod routines;
mod tidy;
