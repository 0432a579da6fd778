"""numpy-backed stand-ins for torch tensors, enough for Triton's interpreter.

The interpreter (TRITON_INTERPRET=1) reads and writes kernel arguments through their
data_ptr(); normally those are torch tensors, but the CPU test machines have no torch, so
Buf wraps a numpy array (bf16 is stored as uint16 bit patterns, as the interpreter does).
"""
import numpy as np

_TORCH_NAME = {np.dtype(np.float32): "torch.float32", np.dtype(np.float16): "torch.float16",
               np.dtype(np.int32): "torch.int32", np.dtype(np.int64): "torch.int64",
               np.dtype(np.float64): "torch.float64", np.dtype(np.uint8): "torch.uint8"}


class _Storage:
    def __init__(self, arr):
        self.arr = arr

    def data_ptr(self):
        return self.arr.ctypes.data

    def cpu(self):
        return self

    def copy_(self, other):
        pass


class Buf:
    """A numpy array posing as a torch tensor. `bf16=True` marks a uint16 array as bfloat16,
    `fp8=True` a uint8 array as fp8 e4m3 (float8_e4m3fn)."""

    def __init__(self, arr, bf16=False, fp8=False):
        assert arr.flags.c_contiguous
        self.arr = arr
        self.bf16 = bf16
        self.fp8 = fp8

    def data_ptr(self):
        return self.arr.ctypes.data

    def untyped_storage(self):
        return _Storage(self.arr)

    def storage_offset(self):
        return 0

    def size(self):
        return self.arr.shape

    def stride(self):
        return tuple(s // self.arr.itemsize for s in self.arr.strides)

    def new_empty(self, *args, **kwargs):
        return Buf(self.arr, self.bf16, self.fp8)

    def set_(self, *args):
        return self

    def copy_(self, other):
        pass

    @property
    def dtype(self):
        if self.fp8:
            return "torch.float8_e4m3fn"
        return "torch.bfloat16" if self.bf16 else _TORCH_NAME[self.arr.dtype]

    def numpy(self):
        """Values as float32 (bf16 / fp8 decoded)."""
        if self.bf16:
            return (self.arr.astype(np.uint32) << 16).view(np.float32)
        if self.fp8:
            return FP8_VALUES[self.arr]
        return self.arr.astype(np.float32) if self.arr.dtype.kind == "f" else self.arr


def to_bf16_bits(x):
    """float array -> bf16 bit patterns (round to nearest even)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def _fp8_values():
    """float32 value of each fp8 e4m3fn code (bias 7, no infinities; 0x7f, 0xff are NaN)."""
    c = np.arange(256)
    e, m = (c >> 3) & 0xF, c & 7
    mag = np.where(e == 0, m / 8.0 * 2.0 ** -6, (1 + m / 8.0) * 2.0 ** (e - 7.0))
    v = np.where(c & 0x80, -mag, mag).astype(np.float32)
    v[[0x7F, 0xFF]] = np.nan
    return v


FP8_VALUES = _fp8_values()
_FP8_POS = FP8_VALUES[:0x7F].astype(np.float64)  # codes 0..0x7e, increasing, 0 .. 448


def to_fp8_bits(x):
    """float array -> fp8 e4m3fn codes: round to nearest, ties to the even code, saturating at
    +-448 (NaN stays NaN)."""
    x = np.asarray(x, np.float64)
    a = np.minimum(np.abs(x), 448.0)
    hi = np.clip(np.searchsorted(_FP8_POS, a), 1, 0x7E)  # first code >= a
    lo = hi - 1
    dlo, dhi = a - _FP8_POS[lo], _FP8_POS[hi] - a
    code = np.where((dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0)), hi, lo)
    code = np.where(a <= 0, 0, code)
    code = np.where(np.signbit(x), code | 0x80, code)
    return np.where(np.isnan(x), 0x7F, code).astype(np.uint8)


def make(x, dtype):
    """Host array in the kernel dtype: 'bf16', 'fp16', 'fp8' (e4m3fn), 'fp32', 'i32', 'i64'."""
    if dtype == "bf16":
        return Buf(to_bf16_bits(x), bf16=True)
    if dtype == "fp8":
        return Buf(np.ascontiguousarray(to_fp8_bits(x)), fp8=True)
    np_dt = {"fp16": np.float16, "fp32": np.float32, "i32": np.int32, "i64": np.int64}[dtype]
    return Buf(np.ascontiguousarray(np.asarray(x).astype(np_dt)))


def poisoned(shape, dtype):
    """An output buffer filled with NaN, so any element the kernel does not write fails."""
    return make(np.full(shape, np.nan, np.float32), dtype)


def rounded(x, dtype):
    """x as the kernel sees it after storing in `dtype` (float32 values)."""
    return make(x, dtype).numpy().astype(np.float32)


def rel_err(out, ref):
    out = np.asarray(out, np.float64)
    ref = np.asarray(ref, np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))


TOL = {"bf16": 1e-2, "fp16": 2e-3, "fp32": 1e-5}
