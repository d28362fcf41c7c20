/* tour.h: the tour of polylink's exports shared by c-main and c-start. */
#ifndef POLYLINK_TOUR_H
#define POLYLINK_TOUR_H

/* Prints the arguments, what pl_parse_i64 makes of each, and what the C and Rust runtimes saw. */
void tour_arguments(int argc, char **argv);

/* Calls every export of libpolylink and prints what came back, one line each. */
void tour_exports(void);

#endif
