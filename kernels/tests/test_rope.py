import numpy as np
import pytest

import rope
from hostbuf import TOL, make, poisoned, rel_err, rounded


def _cos_sin(max_pos, rot, base=10000.0):
    inv = 1.0 / base ** (np.arange(0, rot, 2) / rot)
    f = np.arange(max_pos)[:, None] * inv[None, :]
    return np.concatenate([np.cos(f), np.sin(f)], axis=1).astype(np.float32)


def _rope_ref(x, cs, rot, neox):
    # x [T, H, D] float64, cs [T, rot] (already gathered by position)
    x = x.copy()
    c, s = cs[:, None, :rot // 2], cs[:, None, rot // 2:]
    if neox:
        a, b = x[..., :rot // 2].copy(), x[..., rot // 2:rot].copy()
        x[..., :rot // 2], x[..., rot // 2:rot] = a * c - b * s, b * c + a * s
    else:
        a, b = x[..., 0:rot:2].copy(), x[..., 1:rot:2].copy()
        x[..., 0:rot:2], x[..., 1:rot:2] = a * c - b * s, b * c + a * s
    return x


@pytest.mark.parametrize("dt", ["bf16", "fp32"])
@pytest.mark.parametrize("neox", [True, False])
@pytest.mark.parametrize("nh,nkv,hd,rot,in_place", [(4, 1, 64, 64, True), (8, 2, 128, 64, False),
                                                     (12, 12, 80, 80, True), (10, 5, 64, 32, False)])
def test_rope_kv_write(dt, neox, nh, nkv, hd, rot, in_place):
    rng = np.random.default_rng(nh * hd + rot)
    T, bs, nblocks, max_pos = 7, 16, 6, 200
    width = (nh + 2 * nkv) * hd + 16  # padded row stride
    qkv = rounded(rng.standard_normal((T, width)), dt)
    pos = rng.integers(0, max_pos, T)
    cs = _cos_sin(max_pos, rot)
    slots = rng.permutation(nblocks * bs)[:T]
    slots[2] = -1  # padding token: no cache write
    qkv_b = make(qkv, dt)
    q_out = qkv_b if in_place else poisoned((T, nh * hd), dt)
    kc = poisoned((nblocks, bs, nkv, hd), dt)
    vc = poisoned((nblocks, bs, nkv, hd), dt)
    rope.rope_kv_write_kernel[(T,)](qkv_b, q_out, make(pos, "i32"), make(cs, "fp32"), make(slots, "i32"), kc, vc,
                                    width, width if in_place else nh * hd, nh, nkv,
                                    **rope.rope_constexprs(hd, rot, neox, block_h=4))
    x = qkv.astype(np.float64)
    q_ref = _rope_ref(x[:, :nh * hd].reshape(T, nh, hd), cs[pos], rot, neox)
    k_ref = _rope_ref(x[:, nh * hd:(nh + nkv) * hd].reshape(T, nkv, hd), cs[pos], rot, neox)
    v_ref = x[:, (nh + nkv) * hd:(nh + 2 * nkv) * hd].reshape(T, nkv, hd)
    q_got = (qkv_b.numpy()[:, :nh * hd] if in_place else q_out.numpy()).reshape(T, nh, hd)
    assert rel_err(q_got, q_ref) <= TOL[dt]
    if in_place:
        assert np.array_equal(qkv_b.numpy()[:, nh * hd:], qkv[:, nh * hd:])
    k_flat = kc.numpy().reshape(-1, nkv, hd)
    v_flat = vc.numpy().reshape(-1, nkv, hd)
    ok = slots >= 0
    assert rel_err(k_flat[slots[ok]], k_ref[ok]) <= TOL[dt]
    assert np.array_equal(v_flat[slots[ok]], v_ref[ok].astype(np.float32))
    untouched = np.setdiff1d(np.arange(nblocks * bs), slots[ok])
    assert np.isnan(k_flat[untouched]).all() and np.isnan(v_flat[untouched]).all()
