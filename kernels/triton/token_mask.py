"""Structured output's token masks on the logits, before sampling.

apply_token_bitmask_kernel   logits [R, V] (fp32, bf16 or fp16) in place: for each listed row
                             rows[m] (i32 [M], distinct), logits[rows[m], v] = -inf where bit
                             v % 32 of mask[m, v // 32] is 0 (mask i32 [M, mask_stride] words,
                             one bit per token, as llguidance writes them). Rows not listed
                             (sequences without a grammar) are left alone; only masked-out
                             entries are written.
"""
import triton
import triton.language as tl


@triton.jit
def apply_token_bitmask_kernel(logits_ptr, logits_stride, V, mask_ptr, mask_stride, rows_ptr, BLOCK: tl.constexpr):
    # grid = (M, cdiv(V, BLOCK)); BLOCK is a multiple of 32
    m = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < V
    row = tl.load(rows_ptr + m).to(tl.int64)
    words = tl.load(mask_ptr + m * mask_stride + offs // 32, mask=inside, other=-1)
    allowed = ((words >> (offs % 32)) & 1) != 0
    tl.store(logits_ptr + row * logits_stride + offs, tl.full([BLOCK], float("-inf"), tl.float32),
             mask=inside & (~allowed))


SPECS = []
for _dt in ("fp32", "bf16", "fp16"):
    SPECS.append({
        "name": f"apply_token_bitmask_{_dt}", "fn": apply_token_bitmask_kernel,
        "signature": {"logits_ptr": "*" + _dt, "logits_stride": "i32", "V": "i32", "mask_ptr": "*i32",
                      "mask_stride": "i32", "rows_ptr": "*i32", "BLOCK": "constexpr"},
        "constexprs": {"BLOCK": 4096}, "num_warps": 4, "num_stages": 1,
    })
