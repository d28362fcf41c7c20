/* tour.c: calls every export of libpolylink and prints what came back.
 *
 * Linked into both c-main (ordinary main) and c-start (own _start), so the two programs differ
 * only in how they start, and their outputs show what the C runtime's start-up code does. */
#include "tour.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "polylink.h"

/* Set by a constructor, which runs from .init_array: only when the C runtime starts the program. */
static int constructor_ran;

__attribute__((constructor)) static void mark_constructor(void) { constructor_ran = 1; }

void tour_arguments(int argc, char **argv) {
    const char *slash = strrchr(argv[0], '/');
    printf("argc = %d, argv[0] = %s\n", argc, slash ? slash + 1 : argv[0]);
    for (int i = 1; i < argc; i++) {
        int64_t value = 0;
        PlStatus status = pl_parse_i64(argv[i], strlen(argv[i]), &value);
        if (status == PL_STATUS_OK)
            printf("argv[%d] = \"%s\": pl_parse_i64 = ok, %" PRId64 "\n", i, argv[i], value);
        else
            printf("argv[%d] = \"%s\": pl_parse_i64 = %s\n", i, argv[i], pl_status_str(status));
    }
    printf("C constructors ran: %s\n", constructor_ran ? "yes" : "no");
    printf("Rust's std::env::args() sees %zu argument(s)\n", pl_rust_arg_count());
}

/* The callback for pl_apply_n: counts its calls through the context pointer. */
static int64_t add_ten(void *ctx, int64_t value) {
    ++*(int *)ctx;
    return value + 10;
}

void tour_exports(void) {
    /* C stdio buffers its output and Rust writes through its own stdout: flush first, or the
     * lines come out of order when stdout is a pipe. */
    fflush(stdout);
    hello();

    printf("pl_sum8(1, 2, 3, 4, 5, 6, 7, 8) = %" PRId64 "\n", pl_sum8(1, 2, 3, 4, 5, 6, 7, 8));
    printf("pl_circle_area(2.0) = %f\n", pl_circle_area(2.0));
    printf("pl_lerp_f32(1.0f, 3.0f, 0.25f) = %f\n", (double)pl_lerp_f32(1.0f, 3.0f, 0.25f));
    printf("pl_mix(3, 1.5, 10, 0.25f) = %f\n", pl_mix(3, 1.5, 10, 0.25f));

    PlPoint sum = pl_point_add((PlPoint){.x = 1, .y = 2}, (PlPoint){.x = 30, .y = 40});
    printf("pl_point_add({1, 2}, {30, 40}) = {%" PRId64 ", %" PRId64 "}\n", sum.x, sum.y);

    const int64_t values[] = {4, -2, 10, 0};
    PlStats s = pl_stats(values, sizeof values / sizeof values[0]);
    printf("pl_stats({4, -2, 10, 0}) = count %" PRIu64 ", sum %" PRId64 ", min %" PRId64
           ", max %" PRId64 ", mean %f\n",
           s.count, s.sum, s.min, s.max, s.mean);

    char out[16];
    size_t written = 0;
    PlStatus status = pl_upper("polylink", 8, out, sizeof out, &written);
    printf("pl_upper(\"polylink\") = %s, \"%.*s\"\n", pl_status_str(status), (int)written, out);
    status = pl_upper("polylink", 8, out, 4, &written);
    printf("pl_upper(\"polylink\") into 4 bytes = %s, needs %zu\n", pl_status_str(status), written);
    status = pl_upper(NULL, 8, out, sizeof out, &written);
    printf("pl_upper(NULL, 8, ...) = %s\n", pl_status_str(status));

    int calls = 0;
    int64_t applied = pl_apply_n(add_ten, &calls, 5, 3);
    printf("pl_apply_n(add_ten, 5, 3 times) = %" PRId64 ", after %d callbacks\n", applied, calls);

    int64_t parsed = 0;
    status = pl_parse_i64("-1234", 5, &parsed);
    printf("pl_parse_i64(\"-1234\") = %s, %" PRId64 "\n", pl_status_str(status), parsed);
    status = pl_parse_i64("99999999999999999999", 20, &parsed);
    printf("pl_parse_i64(\"99999999999999999999\") = %s\n", pl_status_str(status));
    status = pl_parse_i64("12", 2, NULL);
    printf("pl_parse_i64(\"12\", 2, NULL) = %s\n", pl_status_str(status));

    printf("pl_may_panic(0) = %s\n", pl_status_str(pl_may_panic(0)));
    fflush(stdout);
    status = pl_may_panic(1);
    printf("pl_may_panic(1) = %s: the panic was caught inside Rust\n", pl_status_str(status));
}
