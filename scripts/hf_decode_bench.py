#!/usr/bin/env python3
"""The peer for `tritium bench decode`: Hugging Face transformers generate() on a
random-weight model of the same shape (bf16, eager defaults), timed on the same GPU.
Prints one JSON line: shape, batch, prompt/gen lengths, tokens/s (generated tokens over
the whole generate() call, and over its decode part after the first token).

Usage (GPU machine): python3 scripts/hf_decode_bench.py --shape llama-8b --batch 1
"""
import argparse
import json
import time

import torch
import transformers

SHAPES = {  # same shapes as synthetic_spec() in src/model/model.cpp
    "llama-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=64, tie_word_embeddings=True),
    "llama-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen-len", type=int, default=256)
    a = ap.parse_args()
    cfg = transformers.LlamaConfig(vocab_size=128256, rms_norm_eps=1e-5, max_position_embeddings=8192,
                                   rope_theta=500000.0, **SHAPES[a.shape])
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = transformers.LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (a.batch, a.prompt_len), device="cuda")
    kw = dict(max_new_tokens=a.gen_len, min_new_tokens=a.gen_len, do_sample=False, eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False, eos_token_id=None, pad_token_id=0)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False, eos_token_id=None, pad_token_id=0)
        torch.cuda.synchronize()
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.generate(ids, **kw)
        torch.cuda.synchronize()
        total = time.perf_counter() - t0
    print(json.dumps({"peer": f"transformers {transformers.__version__} generate (torch {torch.__version__})",
                      "shape": a.shape, "batch": a.batch, "prompt_len": a.prompt_len, "gen_len": a.gen_len,
                      "tokens_per_s": a.batch * a.gen_len / total,
                      "decode_tokens_per_s": a.batch * (a.gen_len - 1) / max(total - t_first, 1e-9)}))


if __name__ == "__main__":
    main()
