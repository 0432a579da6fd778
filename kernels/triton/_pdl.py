"""Programmatic dependent launch (sm90+) for the kernels of a decode step.

A kernel launched with PDL may start while the kernel before it in the stream still runs. It
calls pdl_wait before its first load or store (griddepcontrol.wait: returns once the previous
kernel has finished and its writes are visible; at once when there was no PDL dependency), so
everything it reads or writes is as if the two ran one after the other; and
pdl_launch_dependents once its main loop is done (griddepcontrol.launch_dependents), which
lets the next kernel's programs be launched and run their prologue while this one's finish.
Kernels take USE_PDL: tl.constexpr = False as their last parameter; build.py sets it for sm90+
("pdl": True in a spec). Measured on the H100 (kernels/bench/tune_pdl_layer.py, llama-1b at
M = 64): a decode layer's six kernels less its attention 64.5-65.0 -> 61.3-61.5 us.
"""
import triton
import triton.language as tl


@triton.jit
def pdl_wait(USE_PDL: tl.constexpr):
    if USE_PDL:
        tl.extra.cuda.gdc_wait()


@triton.jit
def pdl_launch_dependents(USE_PDL: tl.constexpr):
    if USE_PDL:
        tl.extra.cuda.gdc_launch_dependents()
