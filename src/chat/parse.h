/* parse.h — streaming parser for Gemma 4 model output: text -> content / reasoning /
 * tool calls (spec §10.2-10.4; design and leniency rules in docs/PARSER.md).
 *
 * The parser works on text, so it is correct for any chunking of the output: a suffix
 * that could be the start of a marker (`<|channel>`, `<tool_call|>`, `<turn|>` ...) is
 * held back until the next feed decides it; nothing else is delayed. Content and
 * reasoning deltas are coalesced within one feed call. A tool call is reported once,
 * complete, as soon as its argument object closes (or at `<tool_call|>`, another marker
 * or finish for malformed calls), with its arguments as compact JSON object text whose
 * keys keep the order the model wrote.
 *
 * Pure: no model, no allocation other than the parser's own buffers, no globals. */
#ifndef G4_CHAT_PARSE_H
#define G4_CHAT_PARSE_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "g4.h"

typedef enum { G4_PARSE_CONTENT, G4_PARSE_REASONING, G4_PARSE_TOOL_CALL } g4_parse_kind;

/* Pointers are valid only during the callback. Strings are not NUL-terminated. */
typedef struct {
    g4_parse_kind kind;
    const char *text; /* CONTENT / REASONING delta (len > 0) */
    size_t len;
    const char *name; /* TOOL_CALL: function name (raw bytes) */
    size_t name_len;
    const char *args; /* TOOL_CALL: arguments, compact JSON object text */
    size_t args_len;
    int index;        /* TOOL_CALL: 0, 1, 2 ... within this output */
} g4_parse_event;

typedef void (*g4_parse_cb)(void *user, const g4_parse_event *ev);

typedef struct g4_outparser g4_outparser;

/* in_thinking: the prompt already ended inside an open thought channel
 * ("<|channel>thought\n", e.g. after a tool response with thinking on), so the output
 * starts as reasoning. */
g4_status g4_outparser_new(bool in_thinking, g4_outparser **out, g4_error *err);

/* Feeds the next piece of output text (any length, any split, may be 0). cb may be
 * NULL (events are dropped). Errors: G4_ERR_NOMEM, G4_ERR_UNSUPPORTED (a tool call
 * longer than G4_PARSE_MAX_CALL bytes), G4_ERR_ARG (feed after finish); after an
 * error the parser only returns that error again. */
g4_status g4_outparser_feed(g4_outparser *p, const char *text, size_t len, g4_parse_cb cb,
                            void *user, g4_error *err);

/* End of generation: held-back text is flushed as text; an unterminated tool call is
 * parsed leniently, or its raw text becomes content if it cannot be parsed. */
g4_status g4_outparser_finish(g4_outparser *p, g4_parse_cb cb, void *user, g4_error *err);

/* Saw an end marker (`<turn|>`, `<eos>`, `<|tool_response>`, `<|turn>`): the caller
 * should stop generating. Text fed after it is ignored. */
bool g4_outparser_done(const g4_outparser *p);

/* At least one tool call was reported. */
bool g4_outparser_wants_tools(const g4_outparser *p);

void g4_outparser_free(g4_outparser *p);

#define G4_PARSE_MAX_DEPTH 64            /* nesting of objects/arrays in call arguments */
#define G4_PARSE_MAX_CALL (16u << 20)    /* bytes in one tool-call body */

/* One-shot: converts a Gemma object-notation value (`{k:<|"|>v<|"|>,n:[1,2]}`, `3`,
 * `<|"|>s<|"|>` ...) to JSON text appended to *json, or a call body `call:NAME{...}`
 * (optionally wrapped in `<|tool_call>`...`<tool_call|>`) to
 * `{"name":"NAME","arguments":{...}}`. Lenient like the streaming parser, but trailing
 * non-space text is G4_ERR_FORMAT, as is nesting deeper than G4_PARSE_MAX_DEPTH. */
g4_status g4_gemma_value_to_json(const char *s, size_t len, g4_buf *json, g4_error *err);

#endif
