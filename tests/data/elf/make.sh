#!/usr/bin/env bash
# Makes the small ELF fixtures the golden tests read (tests/it/golden.rs), from the sources in
# this script. The fixtures are committed, so the goldens do not move with the compiler; run
# this (then `POLYLINK_BLESS=1 cargo test golden`) only to change them on purpose.
#
# Made on Debian 12 with gcc 12 and binutils 2.40.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/kinds.c" <<'C'
/* One of each kind of symbol nm tells apart. */
int initialized = 42;              /* D */
int zeroed = 0;                    /* B */
int common_var;                    /* C with -fcommon */
const int constant = 7;            /* R */
static int file_local = 1;         /* d */
__thread int per_thread = 3;       /* TLS data */
extern int elsewhere(int);         /* U */
extern int maybe(void) __attribute__((weak));   /* w */
__attribute__((noinline)) static int helper(int x) { return x + file_local; }   /* t */
__attribute__((weak)) int overridable(void) { return 1; }  /* W */
int entry(int x) { return helper(x) + elsewhere(x) + (maybe ? maybe() : 0) + per_thread; }
C

cat >"$work/main.c" <<'C'
int a_fn(int);
int main_fn(int x) { return a_fn(x) * 2; }
C
cat >"$work/a.c" <<'C'
int b_fn(int);
int a_counter;
int a_fn(int x) { return b_fn(x) + 1; }
C
cat >"$work/a2.c" <<'C'
int a_unused(int x) { return x - 1; }
C
cat >"$work/b.c" <<'C'
int b_fn(int x) { return x * 3; }
C

cat >"$work/shared.c" <<'C'
int shared_value = 5;
int shared_fn(int x) { return x + shared_value; }
int shared_new(int x) { return x * shared_value; }
int shared_old(int x) { return x; }
C
cat >"$work/shared.map" <<'M'
SHARED_1 { global: shared_fn; shared_value; shared_old; local: *; };
SHARED_2 { global: shared_new; } SHARED_1;
M

cat >"$work/prog.c" <<'C'
#include <stdio.h>
int main(int argc, char **argv) { (void)argv; printf("%d\n", argc); return 0; }
C

# For the troubleshooting chapter: C calling a Rust function that lacks #[unsafe(no_mangle)],
# and C++ calling a C function declared without extern "C".
cat >"$work/calls-sum8.c" <<'C'
long sum8(long, long, long, long, long, long, long, long);
int main(void) { return (int)sum8(1, 2, 3, 4, 5, 6, 7, 8); }
C
cat >"$work/cfoo.c" <<'C'
int foo(int x) { return x + 1; }
C
cat >"$work/callfoo.cpp" <<'C'
int foo(int);
int main() { return foo(41); }
C

flags=(-O1 -fno-asynchronous-unwind-tables -fno-ident)
gcc "${flags[@]}" -fcommon -c "$work/kinds.c" -o kinds.o
gcc "${flags[@]}" -c "$work/main.c" -o main.o
gcc "${flags[@]}" -c "$work/a.c" -o "$work/a.o"
gcc "${flags[@]}" -c "$work/a2.c" -o "$work/a2.o"
gcc "${flags[@]}" -c "$work/b.c" -o "$work/b.o"
rm -f liba.a libb.a
ar --plugin /dev/null rcsD liba.a "$work/a.o" "$work/a2.o"
ar --plugin /dev/null rcsD libb.a "$work/b.o"
gcc "${flags[@]}" -fPIC -shared -Wl,--version-script="$work/shared.map" -Wl,-soname,libshared.so \
    "$work/shared.c" -o libshared.so
gcc "${flags[@]}" -c "$work/calls-sum8.c" -o calls-sum8.o
gcc "${flags[@]}" -c "$work/cfoo.c" -o cfoo.o
g++ "${flags[@]}" -c "$work/callfoo.cpp" -o callfoo.o
gcc "${flags[@]}" "$work/prog.c" -o prog
gcc "${flags[@]}" -no-pie -fstack-protector-all -Wl,-z,norelro "$work/prog.c" -o prog-nopie
ls -l kinds.o main.o liba.a libb.a libshared.so prog prog-nopie calls-sum8.o cfoo.o callfoo.o
