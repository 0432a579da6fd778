"""Gated activations: x [T, 2I] = gate | up  ->  out [T, I] = act(gate) * up.

ACT = 0: SiLU (llama, qwen, mistral)     silu(g) = g * sigmoid(g)
ACT = 1: GELU, tanh approximation (gemma) gelu(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
"""
import triton
import triton.language as tl


@triton.jit
def act_and_mul_kernel(x_ptr, out_ptr, x_stride, out_stride, I, ACT: tl.constexpr, BLOCK: tl.constexpr):
    # grid = (T, cdiv(I, BLOCK))
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < I
    g = tl.load(x_ptr + row * x_stride + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(x_ptr + row * x_stride + I + cols, mask=mask, other=0.0).to(tl.float32)
    if ACT == 0:
        a = g / (1.0 + tl.exp(-g))
    else:
        z = 0.7978845608028654 * (g + 0.044715 * g * g * g)
        # tanh(z) = 2 sigmoid(2z) - 1, written so it stays finite for large |z|
        t = 2.0 / (1.0 + tl.exp(-2.0 * z)) - 1.0
        a = 0.5 * g * (1.0 + t)
    tl.store(out_ptr + row * out_stride + cols, (a * u).to(out_ptr.dtype.element_ty), mask=mask)


SPECS = []
for _dt, _p in (("bf16", "*bf16"), ("fp16", "*fp16")):
    for _act, _an in ((0, "silu"), (1, "gelu_tanh")):
        SPECS.append({
            "name": f"{_an}_and_mul_{_dt}", "fn": act_and_mul_kernel,
            "signature": {"x_ptr": _p, "out_ptr": _p, "x_stride": "i32", "out_stride": "i32", "I": "i32",
                          "ACT": "constexpr", "BLOCK": "constexpr"},
            "constexprs": {"ACT": _act, "BLOCK": 1024}, "num_warps": 4, "num_stages": 1,
            "div16": ["x_stride", "out_stride", "I"],
        })
