/* status.h — g4_fail(): record the first error message and return its code.
 * Internal modules use the public g4_status / g4_error types from g4.h. */
#ifndef G4_CORE_STATUS_H
#define G4_CORE_STATUS_H
#include "g4.h"

#if defined(__GNUC__)
#define G4_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define G4_PRINTF(a, b)
#endif

/* Keeps the first message: the first failure explains the rest. err may be NULL. */
g4_status g4_fail(g4_error *err, g4_status code, const char *fmt, ...) G4_PRINTF(3, 4);
/* Prefixes an existing message (e.g. with a file name); no-op when err is NULL/OK. */
void g4_error_prefix(g4_error *err, const char *fmt, ...) G4_PRINTF(2, 3);

/* Invariants that no input can reach. Aborts with file:line. */
#define G4_ASSERT(x)                                                                     \
    do {                                                                                 \
        if (!(x)) g4_assert_fail(__FILE__, __LINE__, #x);                                \
    } while (0)
void g4_assert_fail(const char *file, int line, const char *expr);

#endif
