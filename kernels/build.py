#!/usr/bin/env python3
"""Ahead-of-time build of the Triton kernel pack: kernels/triton/*.py -> kernels/pack/.

Every kernels/triton/<op>.py defines a module-level list SPECS; each entry is a dict
    {"name": unique variant name, "fn": the @triton.jit function,
     "signature": {param: "*bf16" | "*fp32" | "*i32" | "i32" | "i64" | "fp32" | ... | "constexpr"},
     "constexprs": {param: value}, "num_warps": int, "num_stages": int,
     "archs": [80, 90, ...]             (optional: restrict to these archs)
     "divisibility": {param: 16 or 1}   (optional: see below)
     "div16": [param, ...]              (optional: same as {"param": 16} for each)}
Each (spec, arch) is compiled with triton.compile(ASTSource(...), target=GPUTarget("cuda", arch, 32))
into kernels/pack/sm<arch>/<name>.cubin, and kernels/pack/manifest.json describes every cubin
(signature in launch order, shared memory, scratch sizes, source hash ...) for the C++ KernelRunner.

Divisibility: like Triton's JIT does for 16-byte aligned tensors, pointer parameters are compiled
assuming 16-byte alignment (vectorized loads) unless the spec says {"param": 1}. Integer parameters
get the hint only when the spec asks for it ({"stride": 16}). The manifest records the hints and
the KernelRunner refuses a launch whose arguments break them (KernelRunner::fits() lets a caller
check first and pick a less specialized variant).

Programmatic dependent launch: a spec with "pdl": True names a kernel whose last parameter is
USE_PDL: tl.constexpr (the _pdl.py helpers: wait for the previous kernel before the first load,
let the next one launch after the main loop). For sm90+ it is built with USE_PDL = True and
marked launch_pdl, and the runner launches it with programmatic stream serialization; for older
archs USE_PDL = False.

No GPU is needed: Triton and its bundled ptxas compile for any arch.

Usage:
    python3 kernels/build.py                  # build what changed, all archs, 2 jobs
    python3 kernels/build.py --arch 90 --jobs 4 --only smoke
    python3 kernels/build.py --force          # rebuild everything
    python3 kernels/build.py --check          # exit 1 if the pack is stale (compiles nothing)
"""
import argparse
import concurrent.futures as cf
import hashlib
import importlib.util
import json
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
from pathlib import Path

KERNELS_DIR = Path(__file__).resolve().parent
ROOT = KERNELS_DIR.parent
SOURCES_DIR = KERNELS_DIR / "triton"
DEFAULT_PACK = KERNELS_DIR / "pack"
ALL_ARCHS = [80, 86, 89, 90, 100, 120]
# Bump when the manifest layout or the compile recipe changes: forces a rebuild.
BUILD_RECIPE_VERSION = 2
# Hidden parameters Triton (>= 3.3) appends after the kernel's own parameters.
HIDDEN_PARAMS = ["global_scratch", "profile_scratch"]

SCALAR_TYPES = {"i1", "i8", "i16", "i32", "i64", "u1", "u8", "u16", "u32", "u64", "fp16", "bf16", "fp32", "f32",
                "fp64"}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(p):
    return sha256_bytes(Path(p).read_bytes())


def rel(p):
    p = Path(p).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:  # a source outside the repo (tests of this script)
        return p.as_posix()


def source_files():
    """Kernel sources: kernels/triton/*.py, minus private helpers (_*.py)."""
    return sorted(p for p in SOURCES_DIR.glob("*.py") if not p.name.startswith("_"))


def helper_digest():
    """Hash of the shared helper modules (kernels/triton/_*.py) that sources may import."""
    h = hashlib.sha256()
    for p in sorted(SOURCES_DIR.glob("_*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


_module_cache = {}


def load_module(path):
    path = Path(path).resolve()
    if path in _module_cache:
        return _module_cache[path]
    if str(SOURCES_DIR) not in sys.path:
        sys.path.insert(0, str(SOURCES_DIR))  # lets sources import their helpers
    name = "tritium_kernels_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    _module_cache[path] = mod
    return mod


def jsonable(v):
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return str(v)  # e.g. a tl.dtype given as a constexpr


class SpecError(Exception):
    pass


def check_spec(spec, where):
    """Validates one SPECS entry; returns a normalized, JSON-able description of it."""
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: SPECS entries must be dicts")
    for k in ("name", "fn", "signature", "num_warps", "num_stages"):
        if k not in spec:
            raise SpecError(f"{where}: missing key '{k}'")
    name = spec["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{where}: bad name {name!r} (use letters, digits and _)")
    where = f"{where} ({name})"
    known = {"name", "fn", "signature", "constexprs", "num_warps", "num_stages", "archs", "divisibility", "div16",
             "pdl"}
    unknown = sorted(set(spec) - known)
    fn = spec["fn"]
    arg_names = getattr(fn, "arg_names", None)
    if arg_names is None:
        raise SpecError(f"{where}: 'fn' is not a @triton.jit function")
    sig = dict(spec["signature"])
    constexprs = dict(spec.get("constexprs") or {})
    pdl = bool(spec.get("pdl", False))
    if pdl:
        # Programmatic dependent launch: the kernel's last parameter is the constexpr USE_PDL
        # (False unless built for sm90+, where it is compiled in and launched with PDL).
        if not arg_names or arg_names[-1] != "USE_PDL":
            raise SpecError(f"{where}: 'pdl' needs {fn.__name__}'s last parameter to be USE_PDL: tl.constexpr")
        sig.setdefault("USE_PDL", "constexpr")
        constexprs.setdefault("USE_PDL", False)
    if list(sig.keys()) != list(arg_names):
        raise SpecError(f"{where}: signature keys {list(sig.keys())} must list the parameters of "
                        f"{fn.__name__} in order: {list(arg_names)}")
    for p, ty in sig.items():
        if not isinstance(ty, str):
            raise SpecError(f"{where}: parameter {p}: type must be a string, got {ty!r}")
        if ty == "constexpr":
            if p not in constexprs:
                raise SpecError(f"{where}: constexpr parameter {p} has no value in 'constexprs'")
        elif ty.startswith("*"):
            if ty[1:] not in SCALAR_TYPES and ty[1:] not in ("fp8e4nv", "fp8e5", "fp8e4b15", "fp8e4b8", "fp8e5b16"):
                raise SpecError(f"{where}: parameter {p}: unknown pointer type {ty}")
        elif ty not in SCALAR_TYPES:
            raise SpecError(f"{where}: parameter {p}: type {ty} is not supported by the C++ runner "
                            f"(supported: pointers, {sorted(SCALAR_TYPES)}, constexpr)")
    for p in constexprs:
        if sig.get(p) != "constexpr":
            raise SpecError(f"{where}: constexprs names {p}, which is not a constexpr parameter")
    div = {}
    for p, ty in sig.items():
        if ty.startswith("*"):
            div[p] = 16
    hints = dict(spec.get("divisibility") or {})
    for p in spec.get("div16") or []:
        hints[p] = 16
    for p, v in hints.items():
        if p not in sig or sig[p] == "constexpr" or not (sig[p].startswith("*") or sig[p][0] in "iu"):
            raise SpecError(f"{where}: divisibility names {p}, which is not a pointer or integer parameter")
        if v not in (1, 16):
            raise SpecError(f"{where}: divisibility of {p} must be 1 or 16")
        div[p] = v
    div = {p: v for p, v in div.items() if v == 16}
    archs = spec.get("archs")
    if archs is not None:
        archs = sorted(int(a) for a in archs)
        bad = [a for a in archs if a not in ALL_ARCHS]
        if bad:
            raise SpecError(f"{where}: archs {bad} not in {ALL_ARCHS}")
    for k in ("num_warps", "num_stages"):
        if not isinstance(spec[k], int) or spec[k] < 1:
            raise SpecError(f"{where}: {k} must be a positive int")
    return {
        "name": name,
        "kernel": fn.__name__,
        "signature_full": [[p, t] for p, t in sig.items()],
        "constexprs": {k: jsonable(v) for k, v in constexprs.items()},
        "num_warps": spec["num_warps"],
        "num_stages": spec["num_stages"],
        "archs": archs,
        "divisibility": div,
        "unknown_keys": unknown,
        **({"pdl": True} if pdl else {}),  # (absent otherwise: the build keys of other specs stay)
    }


def build_key(norm, source_sha, helpers_sha, triton_version, arch):
    blob = json.dumps({"recipe": BUILD_RECIPE_VERSION, "source_sha256": source_sha, "helpers": helpers_sha,
                       "triton": triton_version, "arch": arch, "spec": norm}, sort_keys=True)
    return sha256_bytes(blob.encode())


PTX_ENTRY_RE = re.compile(r"\.entry\s+([A-Za-z0-9_$]+)\s*\(([^)]*)\)", re.S)


def ptx_params(ptx):
    m = PTX_ENTRY_RE.search(ptx)
    if not m:
        return None, []
    params = [ln.strip() for ln in m.group(2).split(",") if ln.strip()]
    return m.group(1), params


def compile_one(source_path, spec_index, arch, pack_dir):
    """Runs in a worker process. Returns (entry dict, None) or (None, reason)."""
    try:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.backends.nvidia.compiler import sm_arch_from_capability
        mod = load_module(source_path)
        spec = mod.SPECS[spec_index]
        norm = check_spec(spec, rel(source_path))
        sig = dict(norm["signature_full"])
        arg_names = list(sig.keys())
        attrs = {(arg_names.index(p),): [["tt.divisibility", 16]] for p in norm["divisibility"]}
        constexprs = dict(norm["constexprs"])
        options = {"num_warps": spec["num_warps"], "num_stages": spec["num_stages"]}
        if norm.get("pdl") and arch >= 90:  # griddepcontrol is sm90+
            constexprs["USE_PDL"] = True
            options["launch_pdl"] = True
        src = triton.compiler.ASTSource(fn=spec["fn"], signature=sig, constexprs=constexprs, attrs=attrs)
        k = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
        md = k.metadata._asdict()
        cubin = k.asm["cubin"]
        launch_sig = [[p, t] for p, t in sig.items() if t != "constexpr"]
        entry_name, params = ptx_params(k.asm.get("ptx", ""))
        if entry_name is not None:
            if entry_name != md["name"]:
                return None, f"PTX entry {entry_name} != metadata name {md['name']}"
            want = len(launch_sig) + len(HIDDEN_PARAMS)
            if len(params) != want:
                return None, (f"PTX entry has {len(params)} parameters, expected {want} "
                              f"({len(launch_sig)} + hidden {HIDDEN_PARAMS}); the runner would mislaunch it")
        out = Path(pack_dir) / f"sm{arch}" / f"{norm['name']}.cubin"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".cubin.tmp{os.getpid()}")
        tmp.write_bytes(cubin)
        os.replace(tmp, out)
        entry = {
            "name": norm["name"],
            "kernel": norm["kernel"],
            "source": rel(source_path),
            "source_sha256": sha256_file(source_path),
            "arch": arch,
            "ptx_arch": sm_arch_from_capability(arch),  # "sm_90a": runs on exactly 9.0
            "cubin": f"sm{arch}/{norm['name']}.cubin",
            "function": md["name"],
            "signature": launch_sig,
            "hidden_params": HIDDEN_PARAMS,
            "divisibility": norm["divisibility"],
            "constexprs": {k2: jsonable(v) for k2, v in constexprs.items()},
            "num_warps": md["num_warps"],
            "num_stages": md["num_stages"],
            "num_ctas": md.get("num_ctas", 1),
            "shared": md["shared"],
            "global_scratch_size": md.get("global_scratch_size", 0),
            "global_scratch_align": md.get("global_scratch_align", 1),
            "profile_scratch_size": md.get("profile_scratch_size", 0),
            "profile_scratch_align": md.get("profile_scratch_align", 1),
            "launch_cooperative_grid": bool(md.get("launch_cooperative_grid", False)),
            "launch_pdl": bool(md.get("launch_pdl", False)),
            "tmem_size": md.get("tmem_size", 0) or 0,
            "cubin_sha256": sha256_bytes(cubin),
        }
        if "cluster_dims" in md:
            entry["cluster_dims"] = list(md["cluster_dims"])
        return entry, None
    except SpecError as e:
        return None, str(e)
    except Exception as e:  # an arch that cannot compile this spec, or a kernel bug
        msg = f"{type(e).__name__}: {e}".strip()
        if os.environ.get("TRITIUM_BUILD_VERBOSE"):
            msg += "\n" + traceback.format_exc()
        return None, msg


def load_manifest(pack):
    p = pack / "manifest.json"
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        print(f"build.py: ignoring unreadable {p}: {e}", file=sys.stderr)
        return {}


def write_manifest(pack, manifest):
    p = pack / "manifest.json"
    tmp = p.with_suffix(".json.tmp")
    # One kernel per line: readable diffs when the pack is committed.
    parts = ["{"]
    keys = list(manifest.keys())
    for i, k in enumerate(keys):
        comma = "," if i + 1 < len(keys) else ""
        v = manifest[k]
        if isinstance(v, list) and v and isinstance(v[0], dict):
            parts.append(f" {json.dumps(k)}: [")
            parts.extend("  " + json.dumps(e) + ("," if j + 1 < len(v) else "") for j, e in enumerate(v))
            parts.append(" ]" + comma)
        else:
            parts.append(f" {json.dumps(k)}: {json.dumps(v)}{comma}")
    parts.append("}")
    text = "\n".join(parts) + "\n"
    json.loads(text)  # never write a manifest the runner cannot parse
    tmp.write_text(text)
    os.replace(tmp, p)


def short_reason(s, limit=300):
    s = s.strip().splitlines()
    line = s[-1] if s else ""
    # Triton's CompilationError puts the useful part last; keep it short.
    return line if len(line) <= limit else line[:limit] + "..."


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", type=int, action="append", help=f"arch to build (repeatable; default {ALL_ARCHS})")
    ap.add_argument("--only", help="build only specs whose name contains this string")
    ap.add_argument("--jobs", "-j", type=int, default=2, help="parallel compile processes (default 2)")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--check", action="store_true", help="only report whether the pack is up to date")
    ap.add_argument("--lineinfo", action="store_true",
                    help="keep source line info in cubins (for profilers; embeds absolute paths: don't commit)")
    ap.add_argument("--pack", default=str(DEFAULT_PACK), help="output directory (default kernels/pack)")
    args = ap.parse_args(argv)

    # Line info embeds this machine's absolute source paths in the cubin: off unless asked.
    os.environ["TRITON_DISABLE_LINE_INFO"] = "0" if args.lineinfo else "1"
    import triton
    tv = triton.__version__ + ("+lineinfo" if args.lineinfo else "")
    pack = Path(args.pack).resolve()
    archs = sorted(set(args.arch)) if args.arch else ALL_ARCHS
    for a in archs:
        if a not in ALL_ARCHS:
            ap.error(f"arch {a} not in {ALL_ARCHS}")

    # One build per pack at a time (two engineers running build.py would race on the manifest).
    import fcntl
    import tempfile
    lock_path = Path(tempfile.gettempdir()) / f"tritium-build-{sha256_bytes(str(pack).encode())[:16]}.lock"
    lock = open(lock_path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"build.py: another build of {pack} is running; waiting for it ...")
        fcntl.flock(lock, fcntl.LOCK_EX)

    old = load_manifest(pack)
    old_entries = {(e["name"], e["arch"]): e for e in old.get("kernels", [])}
    old_skipped = {(s["name"], s["arch"]): s for s in old.get("skipped", [])}
    helpers = helper_digest()

    # Collect specs.
    todo, keep, skipped, errors = [], {}, {}, []
    seen_names = {}
    sources = source_files()
    for path in sources:
        try:
            mod = load_module(path)
        except Exception as e:
            errors.append(f"{rel(path)}: import failed: {type(e).__name__}: {e} (its kernels in the pack are kept)")
            for k, prev in old_entries.items():
                if prev.get("source") == rel(path):
                    keep[k] = prev
            continue
        specs = getattr(mod, "SPECS", None)
        if not isinstance(specs, list):
            errors.append(f"{rel(path)}: no module-level list SPECS")
            continue
        src_sha = sha256_file(path)
        for i, spec in enumerate(specs):
            try:
                norm = check_spec(spec, f"{rel(path)}: SPECS[{i}]")
            except SpecError as e:
                errors.append(str(e))
                continue
            if norm["unknown_keys"]:
                print(f"warning: {rel(path)}: {norm['name']}: ignoring unknown keys {norm['unknown_keys']}")
            if norm["name"] in seen_names:
                errors.append(f"{rel(path)}: SPECS[{i}]: name {norm['name']} already used in {seen_names[norm['name']]}")
                continue
            seen_names[norm["name"]] = rel(path)
            for arch in ALL_ARCHS:
                if norm["archs"] is not None and arch not in norm["archs"]:
                    continue
                key = build_key(norm, src_sha, helpers, tv, arch)
                prev = old_entries.get((norm["name"], arch))
                selected = arch in archs and (not args.only or args.only in norm["name"])
                up_to_date = (prev is not None and prev.get("build_key") == key and (pack / prev["cubin"]).exists()
                              and sha256_file(pack / prev["cubin"]) == prev.get("cubin_sha256"))
                prev_skip = old_skipped.get((norm["name"], arch))
                if prev_skip is not None and prev_skip.get("build_key") == key and not args.force:
                    skipped[(norm["name"], arch)] = prev_skip  # known not to compile for this arch
                elif up_to_date and not args.force:
                    keep[(norm["name"], arch)] = prev
                elif selected:
                    todo.append((path, i, arch, key, norm["name"]))
                elif prev is not None:
                    keep[(norm["name"], arch)] = prev  # stale but not selected: leave as is

    if args.check:
        stale = [f"{n} sm{a}" for (_, _, a, _, n) in todo]
        for e in errors:
            print("error:", e)
        if stale:
            print(f"pack is stale: {len(stale)} kernel(s) need a rebuild: " + ", ".join(stale[:20]) +
                  (" ..." if len(stale) > 20 else ""))
        else:
            print("pack is up to date")
        return 1 if (stale or errors) else 0

    t0 = time.time()
    built = {}
    details = {}  # full compile errors, for the report
    if todo:
        print(f"build.py: compiling {len(todo)} kernel(s) with Triton {tv}, {args.jobs} job(s) -> {pack}")
        jobs = max(1, args.jobs)
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as ex:
            futs = {ex.submit(compile_one, str(p), i, a, str(pack)): (p, i, a, key, n) for (p, i, a, key, n) in todo}
            for f in cf.as_completed(futs):
                p, i, a, key, n = futs[f]
                try:
                    entry, reason = f.result()
                except Exception as e:  # the worker died: not the kernel's fault, never recorded
                    errors.append(f"{n} sm{a}: compile worker failed: {type(e).__name__}: {e}")
                    print(f"  fail  {n:40s} sm{a:<4d} compile worker failed: {type(e).__name__}: {e}")
                    continue
                if entry is not None:
                    entry["build_key"] = key
                    built[(n, a)] = entry
                    print(f"  ok    {n:40s} sm{a:<4d} shared={entry['shared']}")
                else:
                    skipped[(n, a)] = {"name": n, "arch": a, "source": rel(p), "build_key": key,
                                       "reason": short_reason(reason)}
                    details[(n, a)] = reason
                    print(f"  skip  {n:40s} sm{a:<4d} {short_reason(reason)}")
    else:
        print("build.py: pack is up to date")

    entries = {**keep, **built}
    for k in built:
        skipped.pop(k, None)
    # A spec that compiled for none of its archs is an error (a kernel bug, not an arch limit):
    # report it, and do not record its failures, so the next run tries again.
    compiled_names = {n for (n, _) in entries}
    for (n, a), s in sorted(skipped.items()):
        if n not in compiled_names:
            errors.append(f"{n}: compiled for no arch; sm{a}: {details.get((n, a), s['reason'])}")
    skipped = {k: s for k, s in skipped.items() if k[0] in compiled_names}
    manifest = {
        "triton_version": triton.__version__,
        "lineinfo": bool(args.lineinfo),
        "recipe_version": BUILD_RECIPE_VERSION,
        "archs": ALL_ARCHS,
        "kernels": [entries[k] for k in sorted(entries, key=lambda k: (k[0], k[1]))],
        "skipped": [skipped[k] for k in sorted(skipped, key=lambda k: (k[0], k[1]))],
    }
    pack.mkdir(parents=True, exist_ok=True)
    write_manifest(pack, manifest)

    # Remove cubins no manifest entry refers to (renamed or deleted specs).
    wanted = {(pack / e["cubin"]).resolve() for e in manifest["kernels"]}
    for f in pack.glob("sm*/*.cubin"):
        if f.resolve() not in wanted:
            f.unlink()
            print(f"  removed stale {f.relative_to(pack)}")
    for d in pack.glob("sm*"):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()

    for e in sorted(set(errors)):
        print("error:", e, file=sys.stderr)
    print(f"build.py: {len(manifest['kernels'])} cubin(s) in the pack, {len(built)} built, "
          f"{len(manifest['skipped'])} skipped, {time.time() - t0:.1f}s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
