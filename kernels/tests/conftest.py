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


# Triton 3.6's interpreter multiplies bf16 operands of tl.dot as their raw uint16 bit patterns.
# Decode them to float32 first (exact), then run the original.
import numpy as _np  # noqa: E402
import triton.language as _tl  # noqa: E402

_orig_dot = _interp.InterpreterBuilder.create_dot


def _bf16_as_f32(h):
    if h.dtype.scalar == _tl.bfloat16:
        return _interp.TensorHandle((h.data.astype(_np.uint32) << 16).view(_np.float32), _tl.float32)
    return h


def _create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
    return _orig_dot(self, _bf16_as_f32(a), _bf16_as_f32(b), d, input_precision, max_num_imprecise_acc)


_interp.InterpreterBuilder.create_dot = _create_dot
