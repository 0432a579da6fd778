# The kernel tests run Triton's interpreter (TRITON_INTERPRET=1) on the CPU; set it before
# any kernel module is imported so plain `pytest kernels/tests` works too.
import os
import sys

os.environ.setdefault("TRITON_INTERPRET", "1")
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, "..", "triton"))
sys.path.insert(0, _here)

# numpy >= 2.4 no longer converts 1-element 1-d arrays to Python ints, which Triton 3.6's
# interpreter relies on for `range(0, n, B)` with a runtime n (scalars are held as shape-(1,)
# arrays). Give tensors an __index__ that takes the single element explicitly.
import triton.runtime.interpreter as _interp  # noqa: E402

_orig_patch = _interp._patch_lang_tensor


def _patch_lang_tensor(tensor, scope):
    _orig_patch(tensor, scope)
    scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))


_interp._patch_lang_tensor = _patch_lang_tensor


# Triton 3.6's interpreter multiplies bf16 (and fp8) operands of tl.dot as their raw bit
# patterns. Decode them to float32 first (exact), then run the original.
import numpy as _np  # noqa: E402
import triton.language as _tl  # noqa: E402

_orig_dot = _interp.InterpreterBuilder.create_dot


def _bf16_as_f32(h):
    if h.dtype.scalar == _tl.bfloat16:
        return _interp.TensorHandle((h.data.astype(_np.uint32) << 16).view(_np.float32), _tl.float32)
    if h.dtype.scalar == _tl.float8e4nv:  # held as uint8 codes too
        from hostbuf import FP8_VALUES
        return _interp.TensorHandle(FP8_VALUES[h.data.view(_np.uint8)], _tl.float32)
    return h


def _create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
    return _orig_dot(self, _bf16_as_f32(a), _bf16_as_f32(b), d, input_precision, max_num_imprecise_acc)


_interp.InterpreterBuilder.create_dot = _create_dot


# Triton 3.6's interpreter rounds to fp8 e4m3 wrongly (ties away from even, subnormals flushed,
# and a mantissa carry lost: bf16 7.90625 -> 4.0). The GPU converts with cvt.rn.satfinite
# (nearest even, saturating); encode casts to float8e4nv that way (hostbuf.to_fp8_bits).
from hostbuf import to_fp8_bits  # noqa: E402

_orig_fp_to_fp = _interp.InterpreterBuilder.create_fp_to_fp


def _create_fp_to_fp(self, src, dst_type, rounding_mode):
    if dst_type.scalar == _tl.float8e4nv and src.dtype.scalar != _tl.float8e4nv:
        f32 = _orig_fp_to_fp(self, src, _tl.float32, None) if src.dtype.scalar != _tl.float32 else src
        return _interp.TensorHandle(to_fp8_bits(f32.data.astype(_np.float32)), _tl.float8e4nv)
    return _orig_fp_to_fp(self, src, dst_type, rounding_mode)


_interp.InterpreterBuilder.create_fp_to_fp = _create_fp_to_fp
