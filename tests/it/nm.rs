//! `cargo xtask nm`: line for line what GNU nm prints from the ELF symbol tables, on every file
//! the project builds and on files made to hold each special case; the same symbols as goblin
//! reads; and malformed input refused file by file, never a panic.

use std::path::{Path, PathBuf};

use polylink_inspect::nm::{self, Options};
use polylink_inspect::symbols::{self, Input, Table};
use polylink_tests::{Lcg, build, nasm, polylink, xtask};

/// Files that hold each special case nm's letters and formats have: common, weak and weak
/// object (defined and undefined), ifunc, unique (C++), absolute, TLS, read-only data, a name
/// that is not UTF-8 (printed byte for byte), an object without symbols, an archive, a thin archive and an archive with two members of the
/// same name.
fn special_cases(dir: &Path) -> Vec<PathBuf> {
    let c = r#"
        int common_var;
        __attribute__((weak)) int weak_obj = 3;
        __attribute__((weak)) int weak_fn(void) { return 1; }
        extern __attribute__((weak)) int undef_weak_fn(void);
        extern __attribute__((weak)) int undef_weak_obj;
        static int local_data = 5;
        const int ro = 7;
        static int local_bss;
        __thread int tls_var = 1;
        __thread int tls_bss;
        int data_var = 9;
        int latin1_name __asm__("caf\xe9") = 1;
        int utf8_name __asm__("caf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x") = 1;
        // Legacy Rust names: a hash of fewer than 5 distinct digits, or upper-case, makes
        // the name C++ to libiberty, its `h…` segment kept.
        int rust_hash __asm__("_ZN4core3fmt5write17h0123456789abcdefE") = 1;
        int rust_few __asm__("_ZN8proptest3run17h44b10004000b401bE") = 1;
        int rust_upper __asm__("_ZN8proptest3run17h0123456789ABCDEFE") = 1;
        static int counter;
        void bump(void) { counter++; }
        extern int ext(int);
        static int impl(void) { return 42; }
        static void *resolve(void) { return (void *)impl; }
        int ifn(void) __attribute__((ifunc("resolve")));
        static int local_ifn(void) __attribute__((ifunc("resolve")));
        int use(void) {
            return ext(local_data) + local_bss + tls_bss + (undef_weak_fn ? undef_weak_fn() : 0)
                + local_ifn()
                + (&undef_weak_obj != 0);
        }
    "#;
    let cpp = r#"
        #include <string>
        #include <vector>
        template <class T> struct S { static inline int count = 0; static int get() { return ++count; } };
        namespace ns {
        struct K { int f(std::vector<std::string> const &, int) const; };
        int K::f(std::vector<std::string> const &v, int) const { return S<int>::get() + v.size(); }
        }
        inline int g() { static int x = 0; return ++x; }
        int h() { return g() + S<long>::get(); }
        namespace { int anon(int x) { return x; } }
        int use_anon() { return anon(3); }
        // Names that GCC 12's demangler spells otherwise than binutils 2.40's: a call in a
        // decltype, and _Float16.
        template <class T> __attribute__((noinline)) auto first(T &t)
            -> decltype(std::begin(std::declval<T &>())) { return std::begin(t); }
        int use_first() { std::vector<int> v{1}; return *first(v); }
        int f16(_Float16 x) { return (int)x; }
    "#;
    std::fs::write(dir.join("cases.c"), c).unwrap();
    std::fs::write(dir.join("cases.cpp"), cpp).unwrap();
    let run = |program: &str, args: &[&str]| run_in(dir, program, args);
    run("cc", &["-fcommon", "-O1", "-c", "cases.c", "-o", "cases.o"]);
    run(
        "g++",
        &["-O1", "-std=c++17", "-c", "cases.cpp", "-o", "cases-cpp.o"],
    );
    nasm(
        dir,
        "absolute",
        "elf64",
        "global absval\nabsval equ 0x1234\nsection .note.GNU-stack noalloc noexec nowrite progbits\n",
    );
    nasm(dir, "empty", "elf64", "section .text\nnop\n");
    for sub in ["one", "two"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(dir.join("cases.o"), dir.join("one/same.o")).unwrap();
    std::fs::copy(dir.join("absolute.elf64"), dir.join("two/same.o")).unwrap();
    run(
        "ar",
        &["rc", "lib.a", "cases.o", "absolute.elf64", "empty.elf64"],
    );
    run("ar", &["rcT", "thin.a", "cases.o", "one/same.o"]);
    run("ar", &["q", "dup.a", "one/same.o", "two/same.o"]);
    // 32-bit ELF: addresses are 8 digits wide, and so is the blank before U and w.
    std::fs::write(
        dir.join("cases32.s"),
        ".globl f\n.text\nf: ret\n.data\n.globl d\nd: .long 1\n.size d, 4\n\
         .comm c,4\n.weak w\ncall u\ncall w\n.section .rodata\nr: .long 0xffffffff\n",
    )
    .unwrap();
    run("as", &["--32", "cases32.s", "-o", "cases32.o"]);
    run("ar", &["rc", "lib32.a", "cases32.o"]);
    // A thin archive naming a regular archive: GNU ar writes `/N:OFFSET` names, each the member
    // at OFFSET of the archive named at N, which nm lists by their own names.
    run("ar", &["rcT", "nested.a", "lib.a", "cases-cpp.o"]);
    [
        "cases.o",
        "cases-cpp.o",
        "absolute.elf64",
        "empty.elf64",
        "lib.a",
        "thin.a",
        "dup.a",
        "cases32.o",
        "lib32.a",
        "nested.a",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect()
}

/// Everything build-all made: objects, staticlibs (with their bitcode members) and programs.
fn built_files() -> Vec<PathBuf> {
    let manifest = build();
    let mut files: Vec<PathBuf> = manifest.objects.iter().map(|a| a.path.clone()).collect();
    files.extend(manifest.staticlibs.iter().map(|a| a.path.clone()));
    files.extend(manifest.programs.iter().map(|p| p.path.clone()));
    files
}

const OPTION_SETS: [&[&str]; 57] = [
    &[],
    &["-P"],
    &["-A"],
    &["-S"],
    &["-u"],
    &["--defined-only"],
    &["-g"],
    &["-n"],
    &["-p"],
    &["-r"],
    &["-C"],
    &["-D"],
    &["-n", "-r"],
    &["-p", "-r"],
    &["-A", "-P"],
    &["-g", "-S", "-n"],
    &["-u", "-A"],
    &["-P", "-S", "-C"],
    &["-D", "-C", "-g"],
    &["-A", "-C", "-n", "--defined-only"],
    &["-P", "-A", "-u"],
    // The options GNU nm 2.40 takes beyond those: formats and radixes, sorting by size, weak
    // symbols left out, ifunc letters, the archive index, and what overrides what.
    &["-j"],
    &["-A", "-j"],
    &["-f", "just-symbols"],
    &["-B"],
    &["-j", "-P"],
    &["-P", "-B"],
    &["-t", "d"],
    &["-t", "o", "-S"],
    &["-P", "-t", "d", "-S"],
    &["--size-sort"],
    &["--size-sort", "-S"],
    &["--size-sort", "-r", "-A"],
    &["--size-sort", "-P"],
    &["-p", "-n"],
    &["-n", "--size-sort"],
    &["--ifunc-chars=GL"],
    &["-W"],
    &["-W", "-u"],
    &["-U", "ignored"],
    &["-s"],
    &["-s", "-A", "-P"],
    &[
        "-C",
        "--no-demangle",
        "--quiet",
        "--special-syms",
        "--with-symbol-versions",
    ],
    &["--demangle=none", "-e", "-X", "32_64"],
    &["-a"],
    &["-a", "-n", "-S"],
    &["-a", "-P", "-g"],
    &["-f", "sysv"],
    &["-f", "sysv", "-A", "-a"],
    &["--format=sysv", "-u", "-t", "o"],
    &["--unicode=hex"],
    &["--unicode=escape", "-P"],
    &["--unicode=invalid", "-s"],
    &["--unicode=locale", "-f", "sysv"],
    // Aliases, and long options shortened as getopt takes them.
    &["--no-cplus", "--numeric"],
    &["-C", "--no-recurse-limit"],
    &[
        "--demangle",
        "--no-recursion-limit",
        "--recurse-limit",
        "--defined",
    ],
];

/// GNU nm in the C locale, without the LLVM plugin, with `args` and `files`.
fn gnu_nm_command(args: &[&str], files: &[&Path]) -> assert_cmd::Command {
    let mut command = polylink_tests::tool("nm");
    command
        .env("LC_ALL", "C")
        .args(["--plugin", "/dev/null"])
        .args(args)
        .args(files);
    command
}

fn gnu_nm(args: &[&str], files: &[PathBuf]) -> Vec<u8> {
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = gnu_nm_command(args, &files).assert().get_output().clone();
    output.stdout
}

fn our_nm(args: &[&str], files: &[PathBuf]) -> Vec<u8> {
    polylink()
        .arg("nm")
        .args(args)
        .args(files)
        .assert()
        .get_output()
        .stdout
        .clone()
}

/// The first line where two outputs differ, for the failure message.
fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let (ours, theirs) = (
        String::from_utf8_lossy(ours),
        String::from_utf8_lossy(theirs),
    );
    let mut o = ours.lines();
    let mut t = theirs.lines();
    for n in 1.. {
        match (o.next(), t.next()) {
            (None, None) => break,
            (a, b) if a == b => {}
            (a, b) => return format!("line {n}:\n  ours:   {a:?}\n  GNU nm: {b:?}"),
        }
    }
    "no difference".into()
}

/// Runs `program` with `args` in `dir`, which must succeed.
fn run_in(dir: &Path, program: &str, args: &[&str]) {
    polylink_tests::tool(program)
        .current_dir(dir)
        .args(args)
        .assert()
        .success();
}

/// nm `args` on each of `files` alone, ours and GNU's, line for line.
fn check_each_against_gnu_nm(args: &[&str], files: &[PathBuf]) {
    for file in files {
        let one = std::slice::from_ref(file);
        let (ours, theirs) = (our_nm(args, one), gnu_nm(args, one));
        assert!(
            ours == theirs,
            "nm {args:?} {} differs from GNU nm, first at {}",
            file.display(),
            first_difference(&ours, &theirs)
        );
    }
}

fn check_against_gnu_nm(files: &[PathBuf]) {
    for args in OPTION_SETS {
        let (ours, theirs) = (our_nm(args, files), gnu_nm(args, files));
        assert!(
            ours == theirs,
            "xtask nm {args:?} differs from GNU nm on {} files, first at {}",
            files.len(),
            first_difference(&ours, &theirs)
        );
    }
}

#[test]
fn nm_prints_what_gnu_nm_prints_for_every_file_the_project_builds() {
    let files = built_files();
    check_against_gnu_nm(&files);
    // One file alone prints no file header, one archive only its member headers.
    for file in [
        &files[0],
        files
            .iter()
            .find(|f| f.extension() == Some("a".as_ref()))
            .unwrap(),
    ] {
        check_against_gnu_nm(std::slice::from_ref(file));
    }
}

#[test]
fn nm_prints_what_gnu_nm_prints_for_every_symbol_kind_and_archive_kind() {
    let dir = tempfile::tempdir().unwrap();
    let files = special_cases(dir.path());
    let bytes = our_nm(&[], &files);
    assert_eq!(bytes, gnu_nm(&[], &files));
    // The name that is not UTF-8 comes out as its bytes.
    assert!(bytes.windows(5).any(|w| w == b"caf\xe9\n"));
    let listing = String::from_utf8_lossy(&bytes);
    for line in [
        "0000000000000004 C common_var",
        " V weak_obj",
        "0000000000000006 W weak_fn",
        "                 w undef_weak_fn",
        "                 w undef_weak_obj",
        "i ifn",
        "u _ZN1SIiE5countE",
        "0000000000001234 A absval",
        "R ro",
        "b counter",
        "B tls_bss",
        "00000000 T f",
        "         U u",
        "         w w",
    ] {
        assert!(listing.contains(line), "no `{line}` in:\n{listing}");
    }
    check_against_gnu_nm(&files);
    for file in &files {
        check_against_gnu_nm(std::slice::from_ref(file));
    }
}

/// Files with DWARF for `nm -l`, built the ways that change what BFD finds: C and C++ at
/// -O0 and -O2 (inlined static functions, whose DIEs BFD renames after the symbol at their
/// start), DWARF 4 and 5, one section per function, cold parts (`.cold` symbols in the
/// function's ranges), static locals (`counter.0`), TLS, references from code and from data,
/// objects merged by `ld -r`, an archive, a program, a shared object and 32-bit assembly.
fn dwarf_cases(dir: &Path) -> Vec<PathBuf> {
    let c = r#"
        #include <stdio.h>
        extern int ext_var;
        extern void ext_fn(int);
        int *ptr = &ext_var;
        void (*fnptr)(int) = ext_fn;
        int counter_global = 3;
        static int table[4];
        __thread int tls_counter;
        static int helper(int x) { static int counter; counter += x; return counter * 3; }
        int use_helper(int y) { return helper(y) + table[y & 3]; }
        __attribute__((noinline)) int branchy(int a, int b)
        {
            if (__builtin_expect(a > b, 0)) {
                printf("rare %d\n", a);
                ext_fn(a);
                return a - b;
            }
            return b + tls_counter++;
        }
        static inline int sq(int v) { return v * v; }
        int call_sq(int v) { return sq(v) + sq(v + 1) + counter_global; }
        const char *message(void) { return "hello"; }
    "#;
    let cpp = r#"
        #include <map>
        #include <string>
        #include <vector>
        extern int ext_var;
        static int f_local(int x) { static int counter; counter += x; return counter; }
        int use_local(int y) { return f_local(y) + ext_var; }
        namespace ns {
        struct Shape { static int count; int v; virtual ~Shape() {} virtual int get() const { return v + count; } };
        int Shape::count = 2;
        }
        int make() { ns::Shape s; s.v = 3; return s.get(); }
        template <typename T> T total(const std::vector<T> &v) { T s{}; for (auto &x : v) s += x; return s; }
        double totals(int n) { std::vector<double> v(n, 1.5); return total(v) + total(std::vector<int>(n, 2)); }
        std::string lookup(int k) { std::map<int, std::string> m; m[k] = "x"; auto f = [&](int q) { return m[q] + "y"; }; return f(k); }
    "#;
    std::fs::write(dir.join("lines.c"), c).unwrap();
    std::fs::write(dir.join("lines.cpp"), cpp).unwrap();
    std::fs::write(
        dir.join("main.c"),
        "int ext_var = 1;\nvoid ext_fn(int x) { (void)x; }\nint main(void) { return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("lines32.s"),
        ".globl f\n.text\nf:\n  call u\n  ret\n.data\n.globl d\nd: .long u\n",
    )
    .unwrap();
    let run = |program: &str, args: &[&str]| run_in(dir, program, args);
    let mut files = Vec::new();
    for (i, flags) in [
        &["-g", "-O0"][..],
        &["-g", "-O2"],
        &["-gdwarf-4", "-O2", "-ffunction-sections", "-fdata-sections"],
        &["-g3", "-Os", "-fPIC"],
    ]
    .iter()
    .enumerate()
    {
        let (c_out, cpp_out) = (format!("c{i}.o"), format!("cpp{i}.o"));
        run("cc", &[*flags, &["-c", "lines.c", "-o", &c_out]].concat());
        run(
            "g++",
            &[*flags, &["-c", "lines.cpp", "-o", &cpp_out]].concat(),
        );
        files.extend([c_out, cpp_out]);
    }
    run("ld", &["-r", "-o", "merged.o", "c1.o", "cpp2.o"]);
    run("ar", &["rc", "lines.a", "c0.o", "cpp2.o", "c3.o"]);
    run("cc", &["-g", "-O2", "lines.c", "main.c", "-o", "program"]);
    run(
        "g++",
        &[
            "-g",
            "-O2",
            "-shared",
            "-fPIC",
            "lines.cpp",
            "-o",
            "liblines.so",
        ],
    );
    run("as", &["--32", "-g", "lines32.s", "-o", "lines32.o"]);
    files.extend(["merged.o", "lines.a", "program", "liblines.so", "lines32.o"].map(String::from));
    files.iter().map(|f| dir.join(f)).collect()
}

#[test]
fn line_numbers_are_what_gnu_nm_finds_in_the_dwarf() {
    let dir = tempfile::tempdir().unwrap();
    let files = dwarf_cases(dir.path());
    let listing = String::from_utf8(our_nm(&["-l"], &files)).unwrap();
    let source = dir.path().join("lines.c").display().to_string();
    // A function at its declaration, a variable at its definition, an undefined symbol where
    // it is first used, from code and from data.
    for line in [
        format!("T use_helper\t{source}:11"),
        format!("D counter_global\t{source}:7"),
        format!("U ext_var\t{source}:5"),
        format!("U printf\t{source}:15"),
    ] {
        assert!(listing.contains(&line), "no `{line}` in:\n{listing}");
    }
    for args in [
        &["-l"][..],
        &["-l", "-a"],
        &["-l", "-u"],
        &["-l", "-C", "-n"],
        &["-l", "-D"],
        &["-l", "-f", "sysv", "-a"],
        &["-l", "-P", "-r", "--size-sort"],
    ] {
        check_each_against_gnu_nm(args, &files);
    }
    // Files nobody here wrote: rustc's DWARF in the toolchain's own alloc library, and a
    // system archive without DWARF, where undefined symbols get their file symbol's name.
    let sysroot = polylink_tests::tool("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap()
        .stdout;
    let lib = PathBuf::from(String::from_utf8(sysroot).unwrap().trim())
        .join("lib/rustlib/x86_64-unknown-linux-gnu/lib");
    let mut theirs_too: Vec<PathBuf> = std::fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("liballoc-") && name.ends_with(".rlib")
        })
        .collect();
    theirs_too.push("/usr/lib/x86_64-linux-gnu/libc_nonshared.a".into());
    let (ours, theirs) = (our_nm(&["-l"], &theirs_too), gnu_nm(&["-l"], &theirs_too));
    assert!(
        ours == theirs,
        "nm -l differs from GNU nm on {theirs_too:?}, first at {}",
        first_difference(&ours, &theirs)
    );
    assert!(String::from_utf8_lossy(&ours).contains("library/alloc/src/"));
}

/// Programs and shared objects with every PLT layout ld 2.40 writes: lazy and non-lazy
/// (`-z now`), PIE and not, `-fno-plt` (GOT calls only), IBT (`-z ibtplt`: a second PLT), a
/// weak reference (`.plt.got`), i386 PIC and IBT; and the system's libc (`*ABS*+0x…@plt`
/// for its IRELATIVE slots) and a stripped program.
fn plt_cases(dir: &Path) -> Vec<PathBuf> {
    std::fs::write(
        dir.join("plt.c"),
        "#include <stdio.h>\n#include <stdlib.h>\n\
         int main(int c, char **v) { printf(\"%d\\n\", c); puts(v[0]); return abs(c); }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("plt32.s"),
        ".globl f\n.text\nf:\n  call g@PLT\n  call h@PLT\n  ret\n",
    )
    .unwrap();
    let run = |program: &str, args: &[&str]| run_in(dir, program, args);
    let mut files = Vec::new();
    for (name, flags) in [
        ("pie", &[][..]),
        ("nopie", &["-no-pie"]),
        ("now", &["-Wl,-z,now"]),
        ("noplt", &["-fno-plt"]),
        ("ibt", &["-Wl,-z,ibtplt"]),
        ("ibtnow", &["-Wl,-z,ibtplt", "-Wl,-z,now"]),
        ("shared", &["-shared", "-fPIC"]),
    ] {
        run("cc", &[flags, &["-O1", "plt.c", "-o", name]].concat());
        files.push(dir.join(name));
    }
    run("as", &["--32", "plt32.s", "-o", "plt32.o"]);
    run(
        "ld",
        &["-m", "elf_i386", "-shared", "plt32.o", "-o", "plt32.so"],
    );
    run(
        "ld",
        &[
            "-m",
            "elf_i386",
            "-shared",
            "-z",
            "ibtplt",
            "plt32.o",
            "-o",
            "plt32ibt.so",
        ],
    );
    files.extend([dir.join("plt32.so"), dir.join("plt32ibt.so")]);
    files.push("/usr/lib/x86_64-linux-gnu/libc.so.6".into());
    files.push("/usr/bin/ls".into());
    files
}

#[test]
fn synthetic_plt_symbols_are_what_gnu_nm_makes() {
    let dir = tempfile::tempdir().unwrap();
    let files = plt_cases(dir.path());
    let listing = String::from_utf8(our_nm(&["--synthetic"], &files[..1])).unwrap();
    assert!(listing.contains(" T puts@plt\n"), "{listing}");
    let libc = String::from_utf8(our_nm(&["-D", "--synthetic"], &files[9..10])).unwrap();
    assert!(libc.contains(" T *ABS*+0x"), "{libc}");
    for args in [
        &["--synthetic"][..],
        &["--synthetic", "-D"],
        &["--synthetic", "-D", "--size-sort"],
        &["--synthetic", "-D", "-f", "sysv", "-n"],
        &["--synthetic", "-g", "-S", "-r"],
    ] {
        check_each_against_gnu_nm(args, &files);
    }
}

#[test]
fn a_rust_staticlib_lists_every_member_and_hello_is_text() {
    let manifest = build();
    let lib = &manifest
        .staticlibs
        .iter()
        .find(|a| a.name == "libpolylink.a")
        .unwrap()
        .path;
    let listing =
        String::from_utf8(our_nm(&["-g", "--defined-only"], std::slice::from_ref(lib))).unwrap();
    assert!(
        listing.lines().any(|l| l.ends_with(" T hello")),
        "{listing}"
    );
    let json: serde_json::Value = serde_json::from_slice(&our_nm(
        &["--format", "json", "-C"],
        std::slice::from_ref(lib),
    ))
    .unwrap();
    let symbols = json.as_array().unwrap();
    let hello = symbols.iter().find(|s| s["name"] == "hello").unwrap();
    assert_eq!(hello["type"], "T");
    assert!(hello["member"].as_str().unwrap().ends_with(".o"));
    assert!(symbols.len() > 1000, "{} symbols", symbols.len());
    // Demangled Rust names, legacy and v0, as nm -C prints them.
    assert!(symbols.iter().any(|s| {
        s["demangled"]
            .as_str()
            .is_some_and(|d| d.starts_with("std::") || d.starts_with("<std::"))
    }));
}

/// Every symbol of `data` as goblin reads it: (name, value, size, binding, type), without the
/// null, section and file symbols, with a common symbol's value being its size, as BFD's.
fn goblin_symbols(data: &[u8], dynamic: bool) -> Vec<(String, u64, u64, u8, u8)> {
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let (syms, strtab) = if dynamic {
        (&elf.dynsyms, &elf.dynstrtab)
    } else {
        (&elf.syms, &elf.strtab)
    };
    syms.iter()
        .skip(1)
        .filter(|s| {
            !matches!(
                s.st_type(),
                goblin::elf::sym::STT_SECTION | goblin::elf::sym::STT_FILE
            )
        })
        .map(|s| {
            let common = s.st_shndx == goblin::elf::section_header::SHN_COMMON as usize;
            (
                strtab.get_at(s.st_name).unwrap_or("").to_string(),
                if common { s.st_size } else { s.st_value },
                s.st_size,
                s.st_bind(),
                s.st_type(),
            )
        })
        .collect()
}

fn our_symbols(data: &[u8], table: Table) -> Vec<(String, u64, u64, u8, u8)> {
    symbols::read_elf(data, table)
        .unwrap()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                String::from_utf8_lossy(s.name).into_owned(),
                s.value,
                s.size,
                s.binding,
                s.kind,
            )
        })
        .collect()
}

#[test]
fn goblin_reads_the_same_symbols_in_every_file_the_project_builds() {
    let mut checked = 0;
    for path in built_files() {
        let input = symbols::load(&path).unwrap();
        let mut thin = Vec::new();
        let units = symbols::units(&input, &mut thin).unwrap();
        let datas: Vec<&[u8]> = match &units {
            Some(units) => units.iter().map(|u| *u.result.as_ref().unwrap()).collect(),
            None => vec![input.data()],
        };
        for data in datas {
            assert_eq!(
                our_symbols(data, Table::Static),
                goblin_symbols(data, false),
                "{}",
                path.display()
            );
            if units.is_none() {
                assert_eq!(
                    our_symbols(data, Table::Dynamic),
                    goblin_symbols(data, true),
                    "{} (dynamic)",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} files");
}

/// An archive's member headers give each size as ten decimal digits at offset 48; this one
/// claims `size` for its first member.
fn with_first_member_size(archive: &[u8], size: &str) -> Vec<u8> {
    let mut out = archive.to_vec();
    let header = 8 + out[8..].windows(2).position(|w| w == b"`\n").unwrap() - 58;
    let field = format!("{size:<10}");
    out[header + 48..header + 58].copy_from_slice(field.as_bytes());
    out
}

#[test]
fn thousands_of_malformed_files_are_refused_by_name_never_with_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let files = special_cases(dir.path());
    let object = std::fs::read(&files[0]).unwrap();
    let archive = std::fs::read(&files[4]).unwrap();
    let options = [
        Options::default(),
        Options {
            demangle: true,
            dynamic: true,
            numeric_sort: true,
            ..Options::default()
        },
    ];
    let mut rng = Lcg(11);
    let mut refused = 0;
    for round in 0..4000 {
        let (name, original) = if round % 2 == 0 {
            ("mutant.o", &object)
        } else {
            ("mutant.a", &archive)
        };
        let mut data = original.clone();
        match round % 5 {
            0 => data.truncate(rng.below(data.len())),
            1 | 2 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(data.len());
                    data[at] = rng.below(256) as u8;
                }
            }
            3 => data = (0..rng.below(4096)).map(|_| rng.below(256) as u8).collect(),
            _ => {
                // A header field that lies: in an archive, a member's size; in an object, one
                // of the section header table's offsets and counts.
                if name == "mutant.a" {
                    let size = ["999999999", "0", "-5", "abc", "70"][rng.below(5)];
                    data = with_first_member_size(&data, size);
                } else {
                    let at = [0x28, 0x30, 0x3a, 0x3c, 0x3e][rng.below(5)];
                    data[at] = data[at].wrapping_add(1 + rng.below(200) as u8);
                }
            }
        }
        let input = Input::from_bytes(name, data);
        let outcome = std::panic::catch_unwind(|| {
            let mut out = Vec::new();
            nm::report_all(
                &mut out,
                std::slice::from_ref(&input),
                &options[round % 2],
                false,
                &polylink_inspect::Host,
            )
            .unwrap()
        })
        .unwrap_or_else(|_| panic!("round {round}: xtask nm panicked on a mutated {name}"));
        for problem in &outcome.problems {
            let message = problem.to_string();
            assert!(message.starts_with(name), "{message}");
            assert!(!problem.fault.0.is_empty());
            refused += 1;
        }
    }
    assert!(refused > 1000, "only {refused} of 4000 mutants refused");
}

#[test]
fn a_bad_file_is_named_and_the_good_ones_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let files = special_cases(dir.path());
    let truncated = dir.path().join("truncated.o");
    let object = std::fs::read(&files[0]).unwrap();
    std::fs::write(&truncated, &object[..100]).unwrap();
    let liar = dir.path().join("liar.a");
    std::fs::write(
        &liar,
        with_first_member_size(&std::fs::read(&files[4]).unwrap(), "999999"),
    )
    .unwrap();
    let output = polylink()
        .arg("nm")
        .args([&truncated, &files[0], &liar, &dir.path().join("missing.o")])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("T use"), "{stdout}");
    for want in [
        format!("error: {}: ", truncated.display()),
        format!("error: {}: member ", liar.display()),
        format!(
            "error: {}: No such file",
            dir.path().join("missing.o").display()
        ),
    ] {
        assert!(stderr.contains(&want), "no {want:?} in:\n{stderr}");
    }
}

/// Files that are not regular are refused at once and by what they are, as GNU nm refuses
/// them: a FIFO (which once hung the open), a directory (once "No such device"), a device. A
/// thin archive's member is read no further than its header says, even when the member became
/// `/dev/zero` (once read without bound).
#[test]
fn files_that_are_not_regular_are_refused_by_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let files = special_cases(dir.path());
    let fifo = dir.path().join("fifo");
    polylink_tests::tool("mkfifo").arg(&fifo).assert().success();
    // thin.a names cases.o and one/same.o; make one a device and the other short.
    let thin = &files[5];
    std::fs::remove_file(dir.path().join("one/same.o")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("one/same.o")).unwrap();
    std::fs::write(dir.path().join("cases.o"), b"not an object").unwrap();
    let output = polylink()
        .arg("nm")
        .arg(&fifo)
        .arg(dir.path())
        .arg("/dev/null")
        .arg(thin)
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for want in [
        format!("error: {}: is not an ordinary file", fifo.display()),
        format!("error: {}: is a directory", dir.path().display()),
        "error: /dev/null: is not an ordinary file".to_owned(),
        "one/same.o: is not an ordinary file".to_owned(),
        "cases.o: file format not recognized".to_owned(),
    ] {
        assert!(stderr.contains(&want), "no {want:?} in:\n{stderr}");
    }
}

/// `@FILE` reads options and files from FILE (quotes and backslashes as libiberty reads
/// them), `-V` prints a version, and with no file named nm reads `a.out`, as GNU nm does.
#[test]
fn response_files_version_and_the_a_out_default() {
    let dir = tempfile::tempdir().unwrap();
    let files = special_cases(dir.path());
    let spaced = dir.path().join("with space.o");
    std::fs::copy(&files[0], &spaced).unwrap();
    let response = dir.path().join("args");
    std::fs::write(&response, format!("-S \"{}\"\n-n", spaced.display())).unwrap();
    let direct = our_nm(&["-S", "-n"], std::slice::from_ref(&spaced));
    assert_eq!(our_nm(&[&format!("@{}", response.display())], &[]), direct);
    assert_eq!(gnu_nm(&[&format!("@{}", response.display())], &[]), direct);
    let version = polylink().args(["nm", "-V"]).assert().success();
    assert!(String::from_utf8_lossy(&version.get_output().stdout).starts_with("polylink nm "));
    let output = polylink()
        .arg("nm")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&output.stderr).contains("a.out: No such file"));
}

/// A thin archive naming `members`, each `size` bytes by its header, as GNU ar writes one.
fn thin_archive(members: &[(&str, usize)]) -> Vec<u8> {
    let table: String = members
        .iter()
        .map(|(name, _)| format!("{name}/\n"))
        .collect();
    let header = |name: &str, size: usize| {
        format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644)
    };
    let mut out = b"!<thin>\n".to_vec();
    out.extend(header("//", table.len()).bytes());
    out.extend(table.bytes());
    if table.len() % 2 == 1 {
        out.push(b'\n');
    }
    let mut offset = 0;
    for (name, size) in members {
        out.extend(header(&format!("/{offset}"), *size).bytes());
        offset += name.len() + 2;
    }
    out
}

/// Archives whose members are no object files (an empty file, a C source, a thin archive
/// naming itself, two thin archives naming each other) give GNU nm's output and exit status:
/// each such member is named on stderr, and the run succeeds (it once failed).
#[test]
fn archive_members_that_are_not_objects_end_as_gnu_nm_ends() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("empty"), b"").unwrap();
    std::fs::write(at("f.c"), b"int f(void) { return 1; }\n").unwrap();
    for (archive, member) in [("zero.a", "empty"), ("txt.a", "f.c")] {
        polylink_tests::tool("ar")
            .current_dir(dir.path())
            .args(["rc", archive, member])
            .assert()
            .success();
    }
    std::fs::write(at("self.a"), thin_archive(&[("self.a", 200)])).unwrap();
    std::fs::write(at("cyc1.a"), thin_archive(&[("cyc2.a", 100)])).unwrap();
    std::fs::write(at("cyc2.a"), thin_archive(&[("cyc1.a", 100)])).unwrap();
    for name in ["zero.a", "txt.a", "self.a", "cyc1.a"] {
        let theirs = polylink_tests::tool("nm")
            .args(["--plugin", "/dev/null"])
            .arg(name)
            .current_dir(dir.path())
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let ours = polylink()
            .args(["nm", name])
            .current_dir(dir.path())
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{name}: {ours:?} {theirs:?}"
        );
        assert_eq!(ours.stdout, theirs.stdout, "{name}");
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert!(
            stderr.contains("file format not recognized"),
            "{name}: {stderr}"
        );
    }
}

/// `cargo xtask nm-speed FILE` checks that both tools print the same before it times them, and
/// prints one row per option set with both medians and maxima and their ratios. (The ratio itself is a
/// figure for the machine it runs on, not a test: see the closing notes.)
#[test]
fn nm_speed_prints_both_times_and_the_ratio() {
    let manifest = build();
    let archive = manifest.staticlib("libpolylink.a").unwrap().path.clone();
    let output = xtask()
        .args(["nm-speed", "--rounds", "1"])
        .arg(&archive)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("nm, GNU's against ours") && stdout.contains("(median / slowest)"),
        "{stdout}"
    );
    for options in ["default", "-C"] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(options))
            .unwrap_or_else(|| panic!("no {options} row in:\n{stdout}"));
        let words: Vec<&str> = row.split_whitespace().collect();
        // file, options, GNU median, "/", max, "ms", ours median, "/", max, "ms",
        // ratio×, "/", max ratio×, "≥", "2×", verdict
        let number = |at: usize| -> f64 { words[at].trim_end_matches('×').parse().unwrap() };
        let (gnu, gnu_max, ours, ours_max) = (number(2), number(4), number(6), number(8));
        assert!(
            gnu > 0.0 && ours > 0.0 && gnu_max >= gnu && ours_max >= ours,
            "{row}"
        );
        assert!(
            (number(10) - gnu / ours).abs() < 0.1 + number(10) * 0.05,
            "{row}"
        );
        assert!(
            (number(12) - gnu_max / ours_max).abs() < 0.1 + number(12) * 0.05,
            "{row}"
        );
        assert!(matches!(words[15], "met" | "MISSED"), "{row}");
    }
    assert!(
        stdout.contains("outputs checked identical before timing"),
        "{stdout}"
    );

    // A file the tools disagree on is refused before any timing: not an ELF file at all.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.o");
    std::fs::write(&junk, b"not an object").unwrap();
    let output = xtask()
        .args(["nm-speed", "--rounds", "1"])
        .arg(&junk)
        .assert()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("junk.o"), "{stderr}");
}

/// A file of the system's C++ compiler (`libstdc++.so.6`, `libstdc++.a`), where g++ finds it.
fn gcc_file(name: &str) -> PathBuf {
    let out = polylink_tests::tool("g++")
        .arg(format!("-print-file-name={name}"))
        .assert()
        .get_output()
        .clone();
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.canonicalize().unwrap_or(path)
}

/// The system's C++ library, static and shared: thousands of C++ names (thunks, VTTs,
/// construction vtables, `std::istream` abbreviations, unified constructors) demangled as
/// `nm -C` prints them, because they are libiberty's, asked of c++filt.
#[test]
fn cpp_names_are_demangled_as_nm_prints_them_in_the_system_cpp_library() {
    let (archive, shared) = (gcc_file("libstdc++.a"), gcc_file("libstdc++.so"));
    assert!(
        archive.is_file() && shared.is_file(),
        "{archive:?} {shared:?}"
    );
    for args in [
        &["-C"][..],
        &["-C", "-u", "-A"],
        &["-C", "-P", "--defined-only"],
    ] {
        let files = [archive.clone()];
        let (ours, theirs) = (our_nm(args, &files), gnu_nm(args, &files));
        assert!(ours.len() > 100_000, "{} bytes", ours.len());
        assert!(
            ours == theirs,
            "{args:?}: {}",
            first_difference(&ours, &theirs)
        );
    }
    let files = [shared];
    let (ours, theirs) = (our_nm(&["-D", "-C"], &files), gnu_nm(&["-D", "-C"], &files));
    assert!(
        ours == theirs,
        "-D -C: {}",
        first_difference(&ours, &theirs)
    );
}

/// c++filt is asked only about the C++ names that the demangler linked in (GCC's copy of
/// libiberty) spells otherwise than binutils': without it, those fall back to the cpp_demangle
/// crate, and a warning says so and how to install binutils. Other C++ names, and Rust names,
/// do not need it at all.
#[test]
fn without_cpp_filt_cpp_names_fall_back_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let files = special_cases(dir.path());
    let empty = tempfile::tempdir().unwrap();
    let output = polylink()
        .env("PATH", empty.path())
        .args(["nm", "-C"])
        .args(&files)
        .assert()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: `c++filt` not found")
            && stderr.contains("binutils")
            && stderr.contains("C++ names were demangled by the cpp_demangle crate instead"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ns::K::f("), "{stdout}");

    let rust = build().staticlib("libpolylink.a").unwrap().path.clone();
    polylink()
        .env("PATH", empty.path())
        .args(["nm", "-C"])
        .arg(&rust)
        .assert()
        .success()
        .stderr("");

    // The system's C++ library has 6 000 C++ names and none of those constructs.
    let cpp = gcc_file("libstdc++.so.6");
    let output = polylink()
        .env("PATH", empty.path())
        .args(["nm", "-D", "-C"])
        .arg(&cpp)
        .assert()
        .success()
        .stderr("")
        .get_output()
        .clone();
    let theirs = gnu_nm(&["-D", "-C"], &[cpp]);
    assert!(
        output.stdout == theirs,
        "{}",
        first_difference(&output.stdout, &theirs)
    );
}

/// With -C, the names of a large table are demangled ahead, on every CPU, while the symbols
/// are read and sorted (`nm/ahead.rs`); each line then takes its name's spelling by the
/// symbol's index. Whatever the order, the table or the other options, the lines are those
/// GNU nm prints, and those of the same run on one CPU (where nothing is demangled ahead).
#[test]
fn tables_sorted_and_demangled_ahead_are_listed_as_gnu_nm_lists_them() {
    // This test program: a large static table of Rust names and libstdc++'s C++ names. Each
    // large table is sorted in parts (and demangled) on every CPU, then listed half by one
    // thread and half by another; other orders read the symbols first; on one CPU, none of
    // that happens. And a 32-bit object of 3 000 symbols, in the order `as` wrote them.
    let program = std::env::current_exe().unwrap();
    let cpp = gcc_file("libstdc++.so.6");
    let dir = tempfile::tempdir().unwrap();
    let mut source = String::from(".text\n");
    let mut lcg = Lcg(7);
    for i in 0..3000 {
        let name = format!("f{}_{i}", lcg.below(100_000));
        if i % 2 == 0 {
            source += &format!(".globl {name}\n");
        }
        source += &format!("{name}:\n  call u{}\n", lcg.below(300));
    }
    std::fs::write(dir.path().join("big32.s"), source).unwrap();
    run_in(dir.path(), "as", &["--32", "big32.s", "-o", "big32.o"]);
    let elf32 = dir.path().join("big32.o");
    let cases: [(&[&str], &PathBuf); 14] = [
        (&[], &program),
        (&[], &elf32),
        (&["-S", "-A", "-P"], &elf32),
        (&["-g", "-S", "-t", "d"], &program),
        (&["-D"], &cpp),
        (&["-D", "-A", "--defined-only"], &cpp),
        (&["-D", "-C", "-W", "-P"], &cpp),
        (&["-D", "-C", "-j"], &cpp),
        (&["-C"], &program),
        (&["-C", "-n", "-S"], &program),
        (&["-C", "-r", "-A"], &program),
        (&["-D", "-C", "-p"], &cpp),
        (&["-D", "-C", "--synthetic", "-P"], &cpp),
        (&["-D", "-C", "--format", "sysv"], &cpp),
    ];
    for (args, file) in cases {
        let files = std::slice::from_ref(file);
        let (ours, theirs) = (our_nm(args, files), gnu_nm(args, files));
        // From tables large enough to be listed on every CPU (2 048 symbols and more).
        let lines = ours.iter().filter(|&&b| b == b'\n').count();
        assert!(lines > 2000, "{args:?}: {lines} lines");
        assert!(
            ours == theirs,
            "{args:?} {}: {}",
            file.display(),
            first_difference(&ours, &theirs)
        );
        let one_cpu = nm_on(true, args, file)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert!(
            one_cpu == ours,
            "{args:?} on one CPU: {}",
            first_difference(&one_cpu, &ours)
        );
    }
}

/// `polylink nm ARGS FILE`, on the first CPU alone when asked (where nm does nothing on
/// other cores).
fn nm_on(one_cpu: bool, args: &[&str], file: &Path) -> assert_cmd::Command {
    let mut command = match one_cpu {
        true => {
            let mut taskset = polylink_tests::tool("taskset");
            taskset
                .args(["-c", "0"])
                .arg(polylink_tests::polylink_bin());
            taskset
        }
        false => polylink(),
    };
    command.arg("nm").args(args).arg(file);
    command
}

/// GNU nm's status, stdout and stderr for `ARGS FILE`, beside ours (on every core, and on one
/// when asked): the three must be the same.
fn same_as_gnu_nm(args: &[&str], file: &Path, one_cpu_too: bool) {
    let gnu = gnu_nm_command(args, &[file]).output().unwrap();
    let runs: &[bool] = if one_cpu_too {
        &[false, true]
    } else {
        &[false]
    };
    for &one_cpu in runs {
        let ours = nm_on(one_cpu, args, file).output().unwrap();
        let what = format!("{args:?} {} (one CPU: {one_cpu})", file.display());
        assert_eq!(ours.status.code(), gnu.status.code(), "{what}");
        assert!(
            ours.stdout == gnu.stdout,
            "{what}: {}",
            first_difference(&ours.stdout, &gnu.stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&gnu.stderr),
            "{what}"
        );
    }
}

/// `data` with the name offset of symbol `index` of its table of type `table` set to `offset`;
/// the table's file offset and count.
fn with_name_offset(data: &mut [u8], table: u32, index: usize, offset: u32) -> (usize, usize) {
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let symtab = elf
        .section_headers
        .iter()
        .find(|s| s.sh_type == table)
        .unwrap();
    let (at, count) = (
        symtab.sh_offset as usize,
        (symtab.sh_size / symtab.sh_entsize) as usize,
    );
    let entry = at + 24 * index.min(count - 1);
    data[entry..entry + 4].copy_from_slice(&offset.to_le_bytes());
    (at, count)
}

#[test]
fn names_past_the_string_table_are_listed_as_gnu_nm_lists_them() {
    // A symbol whose name offset lies past its string table: GNU nm 2.40 warns, names it
    // `(null)` and succeeds; a string table that does not end in a NUL names every symbol
    // `(null)`, without a word. In an object, in an archive's member, and in libstdc++'s
    // dynamic table, large enough to be sorted in parts on every core.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("names.c"),
        "int alpha(void) { return 1; } int beta = 3; extern int gamma_(void);\n\
         int delta(void) { return gamma_(); }\n",
    )
    .unwrap();
    run_in(dir, "gcc", &["-c", "names.c", "-o", "names.o"]);
    let object = std::fs::read(dir.join("names.o")).unwrap();
    let sht_symtab = goblin::elf::section_header::SHT_SYMTAB;

    let mut two_bad = object.clone();
    let (_, count) = with_name_offset(&mut two_bad, sht_symtab, usize::MAX, 0x7f_ffff);
    with_name_offset(&mut two_bad, sht_symtab, count - 2, 0x7f_fff0);
    std::fs::write(dir.join("bad.o"), &two_bad).unwrap();

    let mut unended = object.clone();
    let elf = goblin::elf::Elf::parse(&object).unwrap();
    let strtab = &elf.section_headers[elf.section_headers[elf
        .section_headers
        .iter()
        .position(|s| s.sh_type == sht_symtab)
        .unwrap()]
    .sh_link as usize];
    unended[(strtab.sh_offset + strtab.sh_size - 1) as usize] = b'X';
    std::fs::write(dir.join("unended.o"), &unended).unwrap();
    run_in(dir, "ar", &["rc", "bad.a", "names.o", "bad.o", "unended.o"]);

    for file in ["bad.o", "unended.o", "bad.a"] {
        for args in [&[][..], &["-A"], &["-P"], &["-u"], &["-p"], &["-n"]] {
            same_as_gnu_nm(args, &dir.join(file), false);
        }
    }

    let mut cpp = std::fs::read(gcc_file("libstdc++.so.6")).unwrap();
    let sht_dynsym = goblin::elf::section_header::SHT_DYNSYM;
    let (_, count) = with_name_offset(&mut cpp, sht_dynsym, 0, 0);
    assert!(count > 4000, "{count} dynamic symbols");
    // An entry in the second part of the sort.
    with_name_offset(&mut cpp, sht_dynsym, count * 3 / 4, 0x7fff_fff0);
    let bad = dir.join("libbad.so");
    std::fs::write(&bad, &cpp).unwrap();
    for args in [&["-D"][..], &["-D", "-C"], &["-D", "-p"]] {
        same_as_gnu_nm(args, &bad, true);
    }
}

#[test]
fn a_reader_that_goes_away_ends_nm_without_a_word() {
    // `polylink nm -C THIS-TEST-PROGRAM | head -1`: GNU nm dies of SIGPIPE, silently. The
    // listing (megabytes) is more than the pipe holds, so nm is still writing when the reader
    // goes, however late that is.
    let mut child = polylink_tests::start(
        polylink_tests::process(polylink_tests::polylink_bin())
            .args(["nm", "-C"])
            .arg(std::env::current_exe().unwrap())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let mut first = [0; 64];
    let stdout = child.stdout.as_mut().unwrap();
    std::io::Read::read_exact(stdout, &mut first).unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(141), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
}
