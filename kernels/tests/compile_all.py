#!/usr/bin/env python3
"""Compile every SPEC in kernels/triton/*.py for sm80 and sm90 without a GPU and report
registers / local (spill) bytes / shared memory per cubin, so build problems show up before
GPU time is spent.

    python3 kernels/tests/compile_all.py [--arch 80,90] [--only SUBSTRING] [-j 2]

Spec conventions (see docs/KERNELS.md): every pointer argument is compiled as 16-byte
aligned and every int named in the spec's optional "div16" list as a multiple of 16
(tt.divisibility = 16), which is what lets loads vectorize; kernels/build.py must pass the
same attributes and the C++ launcher must honour them.
"""
import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "triton")


def load_specs():
    specs = []
    for path in sorted(glob.glob(os.path.join(SRC, "*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(f"tritium_kernels_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for i, s in enumerate(getattr(mod, "SPECS", [])):
            specs.append((path, i, s))
    return specs


def compile_attrs(spec):
    """tt.divisibility=16 for every pointer and for the ints listed in spec['div16']."""
    names = spec["fn"].arg_names
    div16 = set(spec.get("div16", []))
    attrs = {}
    for n, ty in spec["signature"].items():
        if ty.startswith("*") or n in div16:
            attrs[(names.index(n),)] = [["tt.divisibility", 16]]
    return attrs


def _cuobjdump():
    import triton
    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")


def compile_one(job):
    path, idx, arch = job
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    name = os.path.splitext(os.path.basename(path))[0]
    spec_obj = importlib.util.spec_from_file_location(f"tritium_kernels_{name}", path)
    mod = importlib.util.module_from_spec(spec_obj)
    spec_obj.loader.exec_module(mod)
    spec = mod.SPECS[idx]
    t0 = time.time()
    try:
        sig, cx = dict(spec["signature"]), dict(spec.get("constexprs", {}))
        options = {"num_warps": spec["num_warps"], "num_stages": spec["num_stages"]}
        if spec.get("pdl"):  # as kernels/build.py: USE_PDL, compiled in for sm90+
            sig["USE_PDL"] = "constexpr"
            cx["USE_PDL"] = arch >= 90
            if arch >= 90:
                options["launch_pdl"] = True
        src = ASTSource(fn=spec["fn"], signature=sig, constexprs=cx, attrs=compile_attrs(spec))
        ck = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
    except Exception as e:  # noqa: BLE001
        msg = str(e).strip().splitlines()
        return {"name": spec["name"], "arch": arch, "error": (msg[-1] if msg else repr(e))[:300]}
    md = ck.metadata
    regs = local = None
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(ck.asm["cubin"])
        f.flush()
        try:
            out = subprocess.run([_cuobjdump(), "-res-usage", f.name], capture_output=True, text=True).stdout
            m = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", out)
            if m:
                regs, local = int(m.group(1)), int(m.group(2)) + int(m.group(4))
        except OSError:
            pass
    ptx = ck.asm.get("ptx", "")
    return {"name": spec["name"], "arch": arch, "regs": regs, "local": local, "shared": md.shared,
            "scratch": getattr(md, "global_scratch_size", 0), "wgmma": "wgmma" in ptx,
            "v4": len(re.findall(r"ld\.global(?:\.[\w:]+)*\.v4", ptx)) + len(re.findall(r"cp\.async\.c[ag]\.shared\.global.*0x10", ptx)), "secs": time.time() - t0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="80,90")
    ap.add_argument("--only", default="")
    ap.add_argument("-j", type=int, default=2)
    args = ap.parse_args()
    os.environ.pop("TRITON_INTERPRET", None)
    archs = [int(a) for a in args.arch.split(",")]
    specs = load_specs()
    names = [s["name"] for _, _, s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        print(f"duplicate spec names: {sorted(dup)}")
        return 1
    jobs = [(p, i, a) for p, i, s in specs if args.only in s["name"] for a in archs
            if a in s.get("archs", archs)]
    with ProcessPoolExecutor(max_workers=args.j) as ex:
        results = list(ex.map(compile_one, jobs))
    fails = [r for r in results if "error" in r]
    print(f"{'spec':52} {'arch':>4} {'regs':>5} {'spill':>6} {'shared':>7} {'ld16B':>5} {'wgmma':>5} {'s':>5}")
    for r in results:
        if "error" in r:
            print(f"{r['name']:52} {r['arch']:>4} FAILED: {r['error']}")
        else:
            print(f"{r['name']:52} {r['arch']:>4} {r['regs']!s:>5} {r['local']!s:>6} {r['shared']:>7} {r['v4']:>5} "
                  f"{'yes' if r['wgmma'] else '':>5} {r['secs']:5.1f}")
    spills = [r for r in results if "error" not in r and r["local"]]
    print(f"\n{len(results) - len(fails)}/{len(results)} compiled, {len(fails)} failed, {len(spills)} with local "
          f"memory (spills)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
