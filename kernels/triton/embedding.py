"""Embedding lookup: out[t, :] = table[ids[t], :]   (ids i32, table [V, H])."""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait


@triton.jit
def embedding_kernel(ids_ptr, table_ptr, out_ptr, H, table_stride, out_stride, BLOCK: tl.constexpr,
                     USE_PDL: tl.constexpr = False):
    # grid = (T, cdiv(H, BLOCK))
    tok = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < H
    pdl_wait(USE_PDL)
    idx = tl.load(ids_ptr + tok).to(tl.int64)
    row = tl.load(table_ptr + idx * table_stride + cols, mask=mask)
    pdl_launch_dependents(USE_PDL)
    tl.store(out_ptr + tok * out_stride + cols, row, mask=mask)


SPECS = []
for _dt, _p in (("bf16", "*bf16"), ("fp16", "*fp16"), ("fp32", "*fp32")):
    SPECS.append({
        "name": f"embedding_{_dt}", "fn": embedding_kernel,
        "signature": {"ids_ptr": "*i32", "table_ptr": _p, "out_ptr": _p, "H": "i32", "table_stride": "i32",
                      "out_stride": "i32", "BLOCK": "constexpr"},
        "constexprs": {"BLOCK": 1024}, "num_warps": 4, "num_stages": 1,
        "div16": ["H", "table_stride", "out_stride"], "pdl": True,
    })
