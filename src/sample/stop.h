/* stop.h — stop strings over streamed text.
 *
 * Generated text arrives one token piece at a time and a stop string may span pieces.
 * The output is the text truncated before the first occurrence of any stop string (the
 * occurrence that starts earliest; OpenAI semantics), independent of how the text is
 * split into pieces. Text is released as soon as it cannot belong to a stop string, so
 * at most (longest stop - 1) bytes are ever held back. Stops are compared as bytes
 * (UTF-8 in, UTF-8 out: for valid UTF-8 text and stops, held-back text starts at a
 * character boundary). Empty stop strings are ignored. */
#ifndef G4_SAMPLE_STOP_H
#define G4_SAMPLE_STOP_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "g4.h"

typedef struct g4_stopper g4_stopper;

/* Copies the n NUL-terminated stop strings (a NULL entry is an error; "" is ignored). */
g4_status g4_stopper_new(const char *const *stops, size_t n, g4_stopper **out, g4_error *err);
void g4_stopper_free(g4_stopper *s); /* NULL is a no-op */

/* Feeds a piece and appends to *emit the text that is now safe to show (out of memory
 * sets emit->oom: check g4_buf_ok). Returns true once the earliest stop occurrence is
 * certain: the text before it has been emitted, the stop string and everything after it
 * are dropped, and later calls emit nothing and return true. A completed stop string
 * can stay undecided for a few bytes when a longer stop that would start earlier is
 * still possible ("bc" in "abc" with stops "bc" and "abcd"); the generation loop should
 * then keep going: the next bytes (or g4_stopper_flush) decide. */
bool g4_stopper_feed(g4_stopper *s, const char *piece, size_t len, g4_buf *emit);

/* End of generation: appends the held-back text, or the text before a stop occurrence
 * that was still undecided (then returns true, as feed would have). */
bool g4_stopper_flush(g4_stopper *s, g4_buf *emit);

/* Ready for a new stream with the same stop strings. */
void g4_stopper_reset(g4_stopper *s);

/* Bytes currently held back (for tests and diagnostics). */
size_t g4_stopper_held(const g4_stopper *s);

#endif
