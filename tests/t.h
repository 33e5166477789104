/* t.h — a tiny test harness: T_CHECK records failures and keeps going; T_DONE()
 * prints a summary and returns the process status. */
#ifndef G4_T_H
#define G4_T_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int t_failures = 0, t_checks = 0;

#define T_CHECK(cond)                                                                    \
    do {                                                                                 \
        t_checks++;                                                                      \
        if (!(cond)) {                                                                   \
            t_failures++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                                \
    } while (0)

#define T_CHECKF(cond, ...)                                                              \
    do {                                                                                 \
        t_checks++;                                                                      \
        if (!(cond)) {                                                                   \
            t_failures++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

#define T_DONE()                                                                         \
    (fprintf(stderr, "%s: %d checks, %d failures\n", __FILE__, t_checks, t_failures),   \
     t_failures ? 1 : 0)

#endif
