/* render.h — the Gemma 4 chat prompt renderer.
 *
 * g4_chat_render produces, byte for byte, what the official Gemma 4 Jinja chat
 * templates (Google's canonical template of 2026-07-09; large layout =
 * gemma4_31b_chat_template.jinja2 for 12B/26B-A4B/31B, small layout =
 * gemma4_e2b_chat_template.jinja2 for E2B/E4B) produce when rendered by the
 * @huggingface/jinja engine (JavaScript), for any JSON input — including the engine's
 * quirks (JavaScript loose equality, Unicode case mapping, trim set, property order) and
 * its errors: where the engine throws, g4_chat_render returns an error. See docs/CHAT.md
 * for the contract and every deliberate choice.
 *
 * Before rendering, every messages[i].tool_calls[j].function.arguments that is a JSON
 * *string* (what OpenAI clients send) is parsed into an object (like llama.cpp and
 * Ollama): a string of JSON whitespace only becomes {}, a string that is not valid JSON
 * or not a JSON object is an error (G4_ERR_ARG) naming messages[i].tool_calls[j]. */
#ifndef G4_CHAT_RENDER_H
#define G4_CHAT_RENDER_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/json.h"
#include "g4.h"

typedef struct {
    bool large_layout;          /* 12B/26B/31B template (gemma4_31b_chat_template.jinja2): empty
                                   thought channel when thinking is off; false = E2B/E4B template */
    bool enable_thinking;       /* <|think|> at the top of the system turn */
    bool add_generation_prompt; /* end with the opening of the model's turn */
    bool preserve_thinking;     /* keep reasoning of earlier tool-calling assistant messages */
    const char *bos_token;      /* NULL -> "<bos>" */
} g4_chat_opts;

/* messages: JSON array of OpenAI-style messages (role, content as string / list of
 * parts / null, tool_calls, tool_call_id, name, reasoning / reasoning_content, legacy
 * tool_responses). tools: JSON array of OpenAI tool objects, or NULL / JSON null.
 * Appends the prompt to out (nothing is appended on failure). Errors: G4_ERR_ARG for
 * input the template rejects (the message names the message index and the reason; the
 * template's own raise_exception text where it has one), G4_ERR_NOMEM. */
g4_status g4_chat_render(const g4_json *messages, const g4_json *tools, const g4_chat_opts *o,
                         g4_buf *out, g4_error *err);

#endif
