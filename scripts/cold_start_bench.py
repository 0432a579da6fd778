#!/usr/bin/env python3
"""Cold start: wall time from process start to the first generated token (the process exits
after one token) for a llama-8b-shaped checkpoint already in the page cache.

Writes, once, under --dir (default /tmp/tritium_cold): a bf16 safetensors checkpoint in 4 shards
(Llama 3.1 8B shapes, random weights) and a Q8_0 GGUF of the same shapes; reads the chosen one
once so it is in the page cache, then times
  tritium generate --model M --device cuda --prompt-ids 1,2,3,4 --max-tokens 1
and prints one JSON line: {"model": ..., "format": ..., "time_to_first_token_s": ...}.
Needs only numpy. Usage: cold_start_bench.py --format safetensors|gguf [--tritium build/tritium]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

H, FFN, LAYERS, HEADS, KV, HD, VOCAB = 4096, 14336, 32, 32, 8, 128, 128256


def tensors():
    """(HF name, shape) in file order; norms are 1-D."""
    yield "model.embed_tokens.weight", (VOCAB, H)
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        yield p + "input_layernorm.weight", (H,)
        yield p + "self_attn.q_proj.weight", (HEADS * HD, H)
        yield p + "self_attn.k_proj.weight", (KV * HD, H)
        yield p + "self_attn.v_proj.weight", (KV * HD, H)
        yield p + "self_attn.o_proj.weight", (H, HEADS * HD)
        yield p + "post_attention_layernorm.weight", (H,)
        yield p + "mlp.gate_proj.weight", (FFN, H)
        yield p + "mlp.up_proj.weight", (FFN, H)
        yield p + "mlp.down_proj.weight", (H, FFN)
    yield "model.norm.weight", (H,)
    yield "lm_head.weight", (VOCAB, H)


def write_repeated(f, block, n):
    while n > 0:
        k = min(n, len(block))
        f.write(block[:k])
        n -= k


def bf16_block(rng):
    f = (rng.standard_normal(8 << 20) * 0.02).astype(np.float32)
    return (f.view(np.uint32) >> 16).astype(np.uint16).tobytes()


def write_safetensors(d, rng):
    os.makedirs(d, exist_ok=True)
    block, ones = bf16_block(rng), np.full(H, 0x3F80, np.uint16).tobytes()  # bf16 1.0
    items = list(tensors())
    per = (len(items) + 3) // 4
    shards = [items[k:k + per] for k in range(0, len(items), per)]
    weight_map = {}
    for s, group in enumerate(shards):
        name = "model-%05d-of-%05d.safetensors" % (s + 1, len(shards))
        header, off = {}, 0
        for n, shape in group:
            nb = int(np.prod(shape)) * 2
            header[n] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nb]}
            off += nb
            weight_map[n] = name
        hb = json.dumps(header).encode()
        hb += b" " * (-len(hb) % 8)
        with open(os.path.join(d, name + ".tmp"), "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb)
            for n, shape in group:
                write_repeated(f, ones if len(shape) == 1 else block, int(np.prod(shape)) * 2)
        os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": FFN,
           "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HD,
           "vocab_size": VOCAB, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           "tie_word_embeddings": False, "torch_dtype": "bfloat16", "hidden_act": "silu"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, rng):
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    mid = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
           "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
           "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}

    def gname(n):
        if n in names:
            return names[n]
        parts = n.split(".")
        return "blk.%s.%s.weight" % (parts[2], mid[".".join(parts[3:-1])])

    kv = [("general.architecture", 8, gguf_str("llama"))]
    for k, v in [("block_count", LAYERS), ("context_length", 8192), ("embedding_length", H),
                 ("feed_forward_length", FFN), ("attention.head_count", HEADS), ("attention.head_count_kv", KV),
                 ("rope.dimension_count", HD), ("vocab_size", VOCAB)]:
        kv.append(("llama." + k, 4, struct.pack("<I", v)))
    kv.append(("llama.rope.freq_base", 6, struct.pack("<f", 500000.0)))
    kv.append(("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(list(tensors())), len(kv))
    for k, t, v in kv:
        head += gguf_str(k) + struct.pack("<I", t) + v
    # Q8_0 blocks: an f16 scale and 32 int8
    nblk = 1 << 18
    q = np.zeros(nblk, dtype=[("d", "<f2"), ("q", "i1", 32)])
    q["d"] = 0.0005
    q["q"] = rng.integers(-127, 128, (nblk, 32))
    qblock, ones = q.tobytes(), np.ones(H, np.float32).tobytes()
    off, entries, sizes = 0, [], []
    for n, shape in tensors():
        ne = list(reversed(shape))
        typ, nb = (0, int(np.prod(shape)) * 4) if len(shape) == 1 else (8, int(np.prod(shape)) // 32 * 34)
        head += gguf_str(gname(n)) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        head += struct.pack("<IQ", typ, off)
        sizes.append((len(shape), nb))
        off += nb + (-nb % 32)
    head += b"\0" * (-len(head) % 32)
    with open(path + ".tmp", "wb") as f:
        f.write(head)
        for dims, nb in sizes:
            write_repeated(f, ones if dims == 1 else qblock, nb)
            f.write(b"\0" * (-nb % 32))
    os.rename(path + ".tmp", path)


def warm(paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(64 << 20):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["safetensors", "gguf"], required=True)
    ap.add_argument("--tritium", default="build/tritium")
    ap.add_argument("--dir", default=os.environ.get("TRITIUM_COLD_DIR", "/tmp/tritium_cold"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="a 2-layer model of small shapes (checks the script on a CPU)")
    a = ap.parse_args()
    if a.small:
        global H, FFN, LAYERS, HEADS, KV, HD, VOCAB
        H, FFN, LAYERS, HEADS, KV, HD, VOCAB = 256, 512, 2, 4, 2, 64, 1024
        a.dir = os.path.join(a.dir, "small")
    rng = np.random.default_rng(0)
    if a.format == "safetensors":
        model = os.path.join(a.dir, "llama-8b-bf16")
        if not os.path.exists(os.path.join(model, "config.json")):
            print("writing %s (16 GB, once)" % model, file=sys.stderr)
            write_safetensors(model, rng)
        files = [os.path.join(model, f) for f in os.listdir(model)]
    else:
        model = os.path.join(a.dir, "llama-8b-q8_0.gguf")
        if not os.path.exists(model):
            os.makedirs(a.dir, exist_ok=True)
            print("writing %s (8.5 GB, once)" % model, file=sys.stderr)
            write_gguf(model, rng)
        files = [model]
    warm(files)
    cmd = [a.tritium, "generate", "--model", model, "--device", a.device, "--prompt-ids", "1,2,3,4", "--max-tokens", "1"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        print(p.stdout)
        sys.exit(p.returncode)
    print(json.dumps({"model": "llama-8b", "format": a.format, "time_to_first_token_s": round(dt, 2)}))


if __name__ == "__main__":
    main()
