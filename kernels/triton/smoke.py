"""Smoke kernels: the smallest possible kernels, used to test the Triton -> CUBIN -> C++
pipeline end to end (kernels/build.py, the embedded pack, KernelRunner, CUDA graphs).
They are not used by any model."""
import triton
import triton.language as tl


@triton.jit
def fill(out_ptr, value, n, BLOCK: tl.constexpr):
    """out[i] = value for i < n."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.full((BLOCK,), value, tl.float32), mask=mask)


@triton.jit
def add(x_ptr, y_ptr, out_ptr, alpha, n, BLOCK: tl.constexpr):
    """out[i] = x[i] + alpha * y[i] for i < n (fp32)."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x + alpha * y, mask=mask)


@triton.jit
def add_i64(x_ptr, out_ptr, delta, n, BLOCK: tl.constexpr):
    """out[i] = x[i] + delta for i < n (int64 data, int64 scalar): checks 64-bit scalar args."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + delta, mask=mask)


SPECS = [
    {
        "name": "smoke_fill_f32",
        "fn": fill,
        "signature": {"out_ptr": "*fp32", "value": "fp32", "n": "i32", "BLOCK": "constexpr"},
        "constexprs": {"BLOCK": 256},
        "num_warps": 4,
        "num_stages": 1,
    },
    {
        "name": "smoke_add_f32",
        "fn": add,
        "signature": {"x_ptr": "*fp32", "y_ptr": "*fp32", "out_ptr": "*fp32", "alpha": "fp32", "n": "i32",
                      "BLOCK": "constexpr"},
        "constexprs": {"BLOCK": 1024},
        "num_warps": 4,
        "num_stages": 1,
    },
    {
        "name": "smoke_add_i64",
        "fn": add_i64,
        "signature": {"x_ptr": "*i64", "out_ptr": "*i64", "delta": "i64", "n": "i32", "BLOCK": "constexpr"},
        "constexprs": {"BLOCK": 512},
        "num_warps": 2,
        "num_stages": 1,
    },
]
