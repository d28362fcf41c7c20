/* callee.c: C functions called from Rust by rust-calls-c-and-asm, the reverse direction.
 * Compiled by that crate's build script with the cc crate. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The n-th Fibonacci number (fib(0) = 0); wraps past fib(93). */
uint64_t c_fibonacci(uint32_t n) {
    uint64_t a = 0, b = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

/* Formats "(x, y)" into the caller's buffer of cap bytes, always NUL-terminated when cap > 0,
 * and returns the length the whole text needs, as snprintf does. */
int c_describe_point(int64_t x, int64_t y, char *buf, size_t cap) {
    return snprintf(buf, cap, "(%lld, %lld)", (long long)x, (long long)y);
}

/* The dot product of two arrays of n doubles. */
double c_dot(const double *a, const double *b, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

/* Calls the caller's function twice: f(f(x)). From Rust, f is a Rust function. */
int64_t c_call_twice(int64_t (*f)(int64_t), int64_t x) { return f(f(x)); }
