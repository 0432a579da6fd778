#!/usr/bin/env python3
"""Builds the golden fixtures: tiny random-weight models of each supported architecture,
saved as Hugging Face checkpoints, with the fp32 logits transformers computes for a fixed
prompt and a 32-token greedy continuation.

Runs wherever torch + transformers exist (the GPU machine has both); CI does not run it,
the fixtures are committed under tests/fixtures/golden/<name>/:
  config.json, generation_config.json (some), model.safetensors (or shards + index),
  golden.safetensors: prompt_ids I32[P], prompt_logits F32[P,V],
                      gen_ids I32[G], gen_logits F32[G,V] (logits that chose each gen id)
  golden.json: transformers/torch versions, max abs/rel info, top-2 margins per step.

Usage: python tools/golden/make_golden.py [--out tests/fixtures/golden] [--only NAME]
"""
import argparse
import json
import math
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file

PROMPT_LEN = 20
GEN_LEN = 32

BASE = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)

# name -> (config class name, model class name, overrides, weight dtype, config style, extra)
FIXTURES = {
    # Llama, MHA, fp32 weights, rope_theta + rope_scaling style config (most checkpoints).
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(num_hidden_layers=3), torch.float32, "legacy", {}),
    # Tied embeddings, one KV head, head_dim (32) != hidden/heads (16), bf16 weights.
    "llama_tied_1kv_headdim": ("LlamaConfig", "LlamaForCausalLM",
                               dict(num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                                    tie_word_embeddings=True), torch.bfloat16, "new", {}),
    # llama3 rope scaling (short original context so the smoothing matters at these positions).
    "llama3_rope": ("LlamaConfig", "LlamaForCausalLM",
                    dict(num_key_value_heads=1, rope_theta=500000.0,
                         rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                           high_freq_factor=4.0, original_max_position_embeddings=16)),
                    torch.bfloat16, "legacy", {}),
    "llama_yarn": ("LlamaConfig", "LlamaForCausalLM",
                   dict(max_position_embeddings=64,
                        rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=16)),
                   torch.float32, "new", {}),
    "llama_linear": ("LlamaConfig", "LlamaForCausalLM",
                     dict(rope_scaling=dict(rope_type="linear", factor=2.0)), torch.float16, "legacy", {}),
    # Dynamic NTK: max_position_embeddings 32 < prompt + generation, so the scaling kicks in.
    "llama_dynamic": ("LlamaConfig", "LlamaForCausalLM",
                      dict(max_position_embeddings=32, rope_scaling=dict(rope_type="dynamic", factor=2.0)),
                      torch.float32, "legacy", {}),
    # Sharded checkpoint through model.safetensors.index.json, attention + mlp bias.
    "llama_sharded_bias": ("LlamaConfig", "LlamaForCausalLM",
                           dict(attention_bias=True, mlp_bias=True, num_key_value_heads=1),
                           torch.float32, "new", {"shards": 3}),
    # Mistral with a sliding window shorter than the prompt.
    "mistral_swa": ("MistralConfig", "MistralForCausalLM",
                    dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=8),
                    torch.float32, "legacy", {}),
    # Qwen2: q/k/v bias, tied embeddings.
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM",
              dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                   rope_theta=1000000.0), torch.bfloat16, "legacy", {"generation_config": True}),
    # Qwen3: q/k RMSNorm, head_dim override.
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM",
              dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32, rope_theta=1000000.0),
              torch.float32, "new", {"generation_config": True}),
}


def init_weights(model, gen):
    """Random weights with unit-scale activations so logits are well separated."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / math.sqrt(fan_in)))


def legacy_config(cfg: dict) -> dict:
    """Rewrites a transformers-5 config (rope_parameters) into the rope_theta + rope_scaling form."""
    # Older configs leave head_dim out when it is hidden_size / num_attention_heads.
    if cfg.get("head_dim") == cfg["hidden_size"] // cfg["num_attention_heads"]:
        cfg.pop("head_dim")
    rp = cfg.pop("rope_parameters", None)
    if rp is None:
        return cfg
    rp = dict(rp)
    cfg["rope_theta"] = rp.pop("rope_theta")
    rope_type = rp.get("rope_type", "default")
    if rope_type != "default":
        rp["type"] = rope_type  # some old files carry both spellings
        cfg["rope_scaling"] = rp
    else:
        cfg["rope_scaling"] = None
    return cfg


def new_config(cfg: dict) -> dict:
    cfg.pop("rope_theta", None)
    cfg.pop("rope_scaling", None)
    assert "rope_parameters" in cfg, "transformers did not write rope_parameters"
    return cfg


def build(name, spec, out_root, seed):
    cfg_cls, model_cls, overrides, wdtype, style, extra = spec
    kw = dict(BASE)
    kw.update(overrides)
    config = getattr(transformers, cfg_cls)(**kw)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = getattr(transformers, model_cls)(config).eval()
    init_weights(model, gen)
    # Round the weights to their stored dtype, then compute in fp32 from exactly those values.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(wdtype).to(torch.float32))
    model = model.to(torch.float32)

    out = os.path.join(out_root, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    # Weights: plain safetensors (or shards) in the stored dtype; tied lm_head is left out.
    state = {k: v.detach().to(wdtype).contiguous() for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    state = {k: v for k, v in state.items() if "rotary_emb" not in k}
    nshards = extra.get("shards", 1)
    if nshards == 1:
        save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    else:
        names = sorted(state)
        weight_map = {}
        for i in range(nshards):
            fname = f"model-{i + 1:05d}-of-{nshards:05d}.safetensors"
            part = {k: state[k] for k in names[i::nshards]}
            save_file(part, os.path.join(out, fname), metadata={"format": "pt"})
            weight_map.update({k: fname for k in part})
        total = sum(v.numel() * v.element_size() for v in state.values())
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    cfg = config.to_dict()
    cfg["architectures"] = [model_cls]
    cfg["torch_dtype"] = str(wdtype).replace("torch.", "")
    cfg.pop("_attn_implementation", None)
    cfg = legacy_config(cfg) if style == "legacy" else new_config(cfg)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    if extra.get("generation_config"):
        with open(os.path.join(out, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": False}, f, indent=2)

    # Reload through from_pretrained, as a user would, and check it matches what we built.
    reloaded = getattr(transformers, model_cls).from_pretrained(out, dtype=torch.float32,
                                                                attn_implementation="eager").eval()

    prompt = torch.randint(4, kw["vocab_size"], (1, PROMPT_LEN), generator=gen)
    with torch.no_grad():
        logits = reloaded(prompt).logits[0].float()
        ref = model(prompt).logits[0].float()
        assert torch.allclose(logits, ref, atol=1e-5), f"{name}: reload changed the logits"
        # Greedy continuation with the KV cache, one token a step (no eos stop).
        ids = prompt
        gen_ids, gen_logits = [], []
        past = None
        step_in = prompt
        for _ in range(GEN_LEN):
            o = reloaded(step_in, past_key_values=past, use_cache=True)
            past = o.past_key_values
            lg = o.logits[0, -1].float()
            nxt = int(torch.argmax(lg))
            gen_ids.append(nxt)
            gen_logits.append(lg)
            step_in = torch.tensor([[nxt]])
            ids = torch.cat([ids, step_in], dim=1)
        gen_logits = torch.stack(gen_logits)
        # Cross-check the cached continuation against transformers' own generate().
        g = reloaded.generate(prompt, max_new_tokens=GEN_LEN, min_new_tokens=GEN_LEN, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
        assert g[0, PROMPT_LEN:].tolist() == gen_ids, f"{name}: generate() disagrees with the step loop"

    top2 = torch.topk(gen_logits, 2, dim=-1).values
    margins = (top2[:, 0] - top2[:, 1]).tolist()
    save_file({"prompt_ids": prompt[0].to(torch.int32).contiguous(),
               "prompt_logits": logits.contiguous(),
               "gen_ids": torch.tensor(gen_ids, dtype=torch.int32),
               "gen_logits": gen_logits.contiguous()},
              os.path.join(out, "golden.safetensors"))
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump({"architecture": model_cls, "weights_dtype": str(wdtype), "config_style": style,
                   "transformers": transformers.__version__, "torch": torch.__version__,
                   "prompt_len": PROMPT_LEN, "gen_len": GEN_LEN,
                   "min_top2_margin": min(margins), "top2_margins": margins}, f, indent=2)
    print(f"{name:24s} params={sum(p.numel() for p in model.parameters()):7d} "
          f"min top-2 margin={min(margins):.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "golden"))
    ap.add_argument("--only", action="append")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    for i, (name, spec) in enumerate(FIXTURES.items()):
        if args.only and name not in args.only:
            continue
        build(name, spec, args.out, seed=1000 + i)


if __name__ == "__main__":
    main()
