#!/usr/bin/env python3
"""render_py.py - renders tests/chat/conversations/ with Python jinja2 (the engine the
spec's examples were made with: transformers-style sandboxed environment, trim_blocks,
lstrip_blocks) and reports where it differs from the @huggingface/jinja goldens in
tests/data/chat/goldens/. Documentation aid for docs/CHAT.md; not a test.

    python3 tests/chat/render_py.py [-v]
"""
import json, os, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TPL = {"large": "gemma4_31b_chat_template.jinja2", "small": "gemma4_e2b_chat_template.jinja2"}


def raise_exception(msg):
    raise TemplateError(msg)


def prepare(messages):
    """The same arguments pre-pass as the C renderer and ref.mjs."""
    for i, m in enumerate(messages if isinstance(messages, list) else []):
        tcs = m.get("tool_calls") if isinstance(m, dict) else None
        if not isinstance(tcs, list):
            continue
        for t, tc in enumerate(tcs):
            fn = tc.get("function") if isinstance(tc, dict) else None
            a = fn.get("arguments") if isinstance(fn, dict) else None
            if not isinstance(a, str):
                continue
            if a.strip(" \t\r\n") == "":
                fn["arguments"] = {}
                continue
            p = json.loads(a)  # raises on bad JSON
            if not isinstance(p, dict):
                raise ValueError("messages[%d].tool_calls[%d].function.arguments must encode a JSON object" % (i, t))
            fn["arguments"] = p
    return messages


def main():
    verbose = "-v" in sys.argv
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    tpls = {k: env.from_string(open(os.path.join(REPO, "tests/data/chat/templates", f)).read()) for k, f in TPL.items()}
    gdir = os.path.join(REPO, "tests/data/chat/goldens")
    index = json.load(open(os.path.join(gdir, "index.json")))
    n = same = 0
    for name in index["conversations"]:
        raw = open(os.path.join(HERE, "conversations", name + ".json"), encoding="utf-8").read()
        gold = json.load(open(os.path.join(gdir, name + ".json")))
        diffs = []
        for c in gold["cases"]:
            conv = json.loads(raw)
            try:
                v = dict(messages=prepare(conv["messages"]), add_generation_prompt=c["add_generation_prompt"],
                         enable_thinking=c["enable_thinking"], preserve_thinking=c["preserve_thinking"],
                         bos_token=conv.get("bos_token", "<bos>"))
                if "tools" in conv:
                    v["tools"] = conv["tools"]
                py = {"output": tpls["large" if c["large"] else "small"].render(**v)}
            except Exception as e:  # noqa: BLE001 - any engine error
                py = {"error": "%s: %s" % (type(e).__name__, e)}
            n += 1
            js_err, py_err = "error" in c, "error" in py
            if (js_err and py_err) or (not js_err and not py_err and c["output"] == py["output"]):
                same += 1
                continue
            diffs.append((c, py))
        if diffs:
            c, py = diffs[0]
            print("%-40s %2d/%2d differ" % (name, len(diffs), len(gold["cases"])))
            if verbose:
                js = c.get("output", "ERROR " + c.get("error", ""))
                pv = py.get("output", "ERROR " + py.get("error", ""))
                k = 0
                while k < min(len(js), len(pv)) and js[k] == pv[k]:
                    k += 1
                print("   js: %r\n   py: %r" % (js[max(0, k - 30):k + 70], pv[max(0, k - 30):k + 70]))
    print("%d cases, %d identical in Python jinja2 and @huggingface/jinja" % (n, same))


if __name__ == "__main__":
    main()
