/* c-main.c: an ordinary C program. The C runtime's start-up code runs first (constructors,
 * Rust's argument capture), then main calls every polylink export. */
#include <stdio.h>

#include "tour.h"

int main(int argc, char **argv) {
    printf("c-main: an ordinary main, started by the C runtime\n");
    tour_arguments(argc, argv);
    tour_exports();
    return 0; /* returning from main calls exit(), which flushes stdio */
}
