r"""Jet observables of JetNet-format jets: relative mass, EFPs, N-subjettiness ratios, D2.

Particles are massless with relative coordinates $(\eta_i, \phi_i, p_{T,i})$
(JetNet's ``etarel``, ``phirel``, ``ptrel``); padded particles (mask false)
contribute nothing.
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...physics import nsubjettiness
from ._inputs import check_not_empty, jets_and_mask

_CHUNK = 4096


def jet_mass(jets: Any, mask: Any = None) -> np.ndarray:
    r"""Relative jet mass $m/p_T^{\rm jet}$ of each jet, shape ``(N,)``.

    With $E_i = p_{T,i}\cosh\eta_i$, $\vec p_i = p_{T,i}(\cos\phi_i, \sin\phi_i,
    \sinh\eta_i)$ (massless constituents, relative $p_T$),
    $m = \sqrt{\max(0, (\sum_i E_i)^2 - |\sum_i \vec p_i|^2)}$ — the
    ``mass`` of ``jetnet.utils.jet_features`` on ``(etarel, phirel, ptrel)``.

    Args:
        jets: ``(N, n, 4)`` JetNet-format jets.
        mask: optional ``(N, n)`` mask (needed if ``jets`` has 3 features).
    """
    return masses("jets", jets, mask)


def _mass(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Masses from features ``(N, n, >=3)`` (float64 arithmetic); ``mask`` zeroes padding."""
    if mask is None:
        eta, phi, pt = (x[..., i].astype(np.float64) for i in range(3))
    else:
        eta, phi, pt = (np.where(mask, x[..., i], 0).astype(np.float64) for i in range(3))
    ex = np.exp(eta)
    inv = 1 / ex
    half = 0.5 * pt
    e = np.einsum("ij,ij->i", half, ex + inv)  # sum of pt cosh(eta)
    pz = np.einsum("ij,ij->i", half, ex - inv)  # sum of pt sinh(eta)
    px = np.einsum("ij,ij->i", pt, np.cos(phi))
    py = np.einsum("ij,ij->i", pt, np.sin(phi))
    return np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0))


def masses(name: str, jets: Any, mask: Any = None) -> np.ndarray:
    """Jet masses with the checks of ``jets_and_mask``; JetNet arrays skip its float64 copy."""
    x = np.asarray(jets)
    fast = (
        mask is None
        and x.ndim == 3
        and x.shape[-1] == 4
        and min(x.shape) > 0
        and x.dtype in (np.float32, np.float64)
    )
    if not fast:
        feats, _ = jets_and_mask(name, jets, mask)
        return _mass(feats)
    m = x[..., 3] > 0.5
    check_not_empty(name, m)
    mass = _mass(x, m)
    if not np.isfinite(mass).all():
        raise ValueError(f"{name} has non-finite features on real particles")
    return mass


# Energy flow polynomials (Komiske, Metodiev & Thaler, arXiv:1712.07124), as edge
# lists in the order of energyflow.EFPSet. ``_EFP_D4`` is EFPSet(("d<=", 4)), the 36
# features of jetnet.evaluation.get_fpd_kpd_jet_features; ``_EFP_N4D4P`` is
# EFPSet(("n==", 4), ("d==", 4), ("p==", 1)), the default set of jetnet's w1efp.
_EFP_D4 = (
    (),
    ((0, 1),),
    ((0, 1), (0, 1)),
    ((0, 1), (0, 1), (0, 1)),
    ((0, 1), (0, 1), (0, 1), (0, 1)),
    ((0, 1), (0, 2)),
    ((0, 1), (0, 2), (0, 2)),
    ((0, 1), (0, 2), (0, 2), (0, 2)),
    ((0, 1), (0, 1), (0, 2), (0, 2)),
    ((0, 1), (0, 2), (1, 2)),
    ((0, 1), (0, 2), (0, 2), (1, 2)),
    ((0, 1), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3)),
    ((0, 1), (0, 2), (0, 2), (1, 3)),
    ((0, 1), (0, 1), (0, 2), (1, 3)),
    ((0, 1), (0, 2), (1, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3), (2, 3)),
    ((0, 1), (0, 2), (0, 3), (0, 4)),
    ((0, 1), (0, 2), (0, 3), (1, 4)),
    ((0, 1), (0, 2), (1, 3), (2, 4)),
    ((0, 1), (2, 3)),
    ((0, 1), (2, 3), (2, 3)),
    ((0, 1), (2, 3), (2, 3), (2, 3)),
    ((0, 1), (0, 1), (2, 3), (2, 3)),
    ((0, 1), (2, 3), (2, 4)),
    ((0, 1), (0, 1), (2, 3), (2, 4)),
    ((0, 1), (2, 3), (2, 4), (2, 4)),
    ((0, 1), (2, 3), (2, 4), (3, 4)),
    ((0, 1), (2, 3), (4, 5)),
    ((0, 1), (2, 3), (2, 4), (2, 5)),
    ((0, 1), (2, 3), (2, 4), (3, 5)),
    ((0, 1), (0, 2), (3, 4), (3, 5)),
    ((0, 1), (2, 3), (4, 5), (4, 5)),
    ((0, 1), (2, 3), (4, 5), (4, 6)),
    ((0, 1), (2, 3), (4, 5), (6, 7)),
)
_EFP_N4D4P = (
    ((0, 1), (0, 2), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (0, 2), (1, 3)),
    ((0, 1), (0, 1), (0, 2), (1, 3)),
    ((0, 1), (0, 2), (1, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3), (2, 3)),
)
EFP_SETS = {"fpd": _EFP_D4, "w1efp": _EFP_N4D4P}


def _components(edges: tuple) -> list[tuple]:
    """Connected components of a multigraph, each relabelled to vertices 0..k-1."""
    if not edges:
        return [()]
    parent: dict[int, int] = {}

    def find(a):
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, list] = {}
    for a, b in edges:
        groups.setdefault(find(a), []).append((a, b))
    out = []
    for comp in groups.values():
        verts = sorted({v for e in comp for v in e})
        rel = {v: i for i, v in enumerate(verts)}
        out.append(tuple(sorted((rel[a], rel[b]) for a, b in comp)))
    return out


def _efp_connected(edges: tuple, z, thetas, pmat) -> jax.Array:
    r"""$\sum_{i_1..i_V} \prod_v z_{i_v} \prod_{(k,l)} \theta_{i_k i_l}$ for a batch of jets.

    Cycles are removed first: a vertex $c$ with exactly two single edges to
    distinct vertices $a, b$ is summed out into the matrix
    $P_{ab} = \sum_c \theta_{ac} z_c \theta_{cb}$ (``pmat``, one batched matrix
    product per jet). For $d \le 4$ every remaining graph is a tree, which is
    contracted leaves-first by matrix-vector products ($O(n^2)$ per edge).
    """
    if not edges:
        return jnp.sum(z, axis=-1)
    # Edge weights: {(a, b): [("t", multiplicity) or ("p", 1), ...]}.
    weights: dict[tuple, list] = {}
    for a, b in edges:
        key = (min(a, b), max(a, b))
        weights.setdefault(key, [("t", 0)])
        kind, m = weights[key][0]
        weights[key][0] = (kind, m + 1)
    verts = {v for e in weights for v in e}
    while len(weights) >= len(verts):  # not a tree yet: eliminate a degree-2 vertex
        for c in sorted(verts):
            inc = [e for e in weights if c in e]
            if len(inc) == 2 and all(weights[e] == [("t", 1)] for e in inc):
                a, b = (e[0] if e[1] == c else e[1] for e in inc)
                if a != b:
                    break
        else:
            raise ValueError(f"EFP graph {edges} has a cycle that series reduction cannot remove")
        for e in inc:
            del weights[e]
        verts.discard(c)
        weights.setdefault((min(a, b), max(a, b)), []).append(("p", 1))

    def matrix(factors):
        out = None
        for kind, m in factors:
            w = thetas[m - 1] if kind == "t" else pmat
            out = w if out is None else out * w
        return out

    def message(v, parent):
        f = z
        for (a, b), factors in weights.items():
            if v not in (a, b):
                continue
            child = b if a == v else a
            if child == parent:
                continue
            f = f * jnp.sum(matrix(factors) * message(child, v)[:, None, :], axis=-1)
        return f

    return jnp.sum(message(min(verts), None), axis=-1)


@functools.partial(jax.jit, static_argnames="graphs")
def _efps_chunk(x, graphs):
    eta, phi, z = x[..., 0], x[..., 1], x[..., 2]
    deta = eta[:, :, None] - eta[:, None, :]
    dphi = jnp.pi - jnp.abs(jnp.abs(phi[:, :, None] - phi[:, None, :]) - jnp.pi)
    theta = jnp.sqrt(deta * deta + dphi * dphi)
    thetas = [theta]
    for _ in range(3):
        thetas.append(thetas[-1] * theta)
    pmat = jnp.matmul(theta * z[:, None, :], theta)
    cache: dict[tuple, jax.Array] = {}
    cols = []
    for g in graphs:
        val = None
        for comp in _components(g):
            if comp not in cache:
                cache[comp] = _efp_connected(comp, z, thetas, pmat)
            val = cache[comp] if val is None else val * cache[comp]
        cols.append(val)
    return jnp.stack(cols, axis=-1)


def _chunk(slots: int) -> int:
    """Jets per batch so that one ``(jets, slots, slots)`` float64 matrix stays <= 32 MB."""
    return max(8, min(_CHUNK, 1 << ((_CHUNK * 1024) // (slots * slots)).bit_length() - 1))


def _padded_size(n: int, slots: int) -> int:
    """Jets per compiled batch: a power of two (>= 256 if it fits) up to ``_chunk(slots)``."""
    return min(_chunk(slots), max(256, 1 << (n - 1).bit_length()))


def _efps(x: np.ndarray, which: str) -> np.ndarray:
    graphs = EFP_SETS[which]
    n = x.shape[0]
    size = _padded_size(n, x.shape[1])
    out = np.empty((n, len(graphs)), np.float64)
    with jax.enable_x64(True):
        for start in range(0, n, size):
            chunk = x[start : start + size]
            pad = size - chunk.shape[0]
            if pad:
                chunk = np.pad(chunk, ((0, pad), (0, 0), (0, 0)))
            res = np.asarray(_efps_chunk(jnp.asarray(chunk, jnp.float64), graphs))
            out[start : start + size] = res[: size - pad]
    return out


def efps(jets: Any, mask: Any = None, *, which: str = "fpd") -> np.ndarray:
    r"""Energy flow polynomials of each jet (hadronic measure, $\beta = 1$, $\kappa = 1$).

    For a multigraph $G$ with vertices $V$ and edges $E$ (Komiske, Metodiev &
    Thaler, arXiv:1712.07124),

    $$
    \mathrm{EFP}_G = \sum_{i_1, \dots, i_{|V|}} \prod_{v \in V} z_{i_v}
        \prod_{(k, l) \in E} \theta_{i_k i_l},
    \qquad z_i = p_{T,i},\quad
    \theta_{ij} = \sqrt{\Delta\eta_{ij}^2 + \Delta\phi_{ij}^2},
    $$

    with unnormalised $z$ and $\Delta\phi$ wrapped into $[0, \pi]$, exactly as
    ``energyflow.EFPSet(..., measure="hadr", beta=1, normed=None,
    coords="ptyphim")`` that jetnet uses. Disconnected graphs are products of
    their connected parts. Each EFP needs at most
    one batched matrix product per jet for the cycles and
    matrix-vector products otherwise ($O(n^3)$ per jet), in float64.

    Args:
        jets: ``(N, n, 4)`` JetNet-format jets.
        mask: optional ``(N, n)`` mask (needed if ``jets`` has 3 features).
        which: ``"fpd"``: the 36 EFPs of degree $d \le 4$ (jetnet's
            ``get_fpd_kpd_jet_features``); ``"w1efp"``: the 5 prime EFPs with
            $n = 4$ vertices and $d = 4$ edges (jetnet's ``w1efp`` default).

    Returns:
        ``(N, 36)`` or ``(N, 5)`` in energyflow's graph order.
    """
    if which not in EFP_SETS:
        raise ValueError(f"which must be one of {sorted(EFP_SETS)}, got {which!r}")
    x, _ = jets_and_mask("jets", jets, mask)
    return _efps(x, which)


@jax.jit
def _d2_chunk(x):
    eta, phi, pt = x[..., 0], x[..., 1], x[..., 2]
    z = pt / jnp.maximum(jnp.sum(pt, axis=-1, keepdims=True), 1e-300)
    deta = eta[:, :, None] - eta[:, None, :]
    dphi = jnp.pi - jnp.abs(jnp.abs(phi[:, :, None] - phi[:, None, :]) - jnp.pi)
    theta = jnp.sqrt(deta * deta + dphi * dphi)
    zt = theta * z[:, None, :]  # theta_ij z_j
    e2 = 0.5 * jnp.einsum("bi,bij->b", z, zt)
    # sum_{ijk} z_i z_j z_k t_ij t_jk t_ki = tr((theta Z)^3); repeated indices vanish (t_ii = 0)
    e3 = jnp.einsum("bij,bjk,bki->b", zt, zt, zt) / 6.0
    return jnp.where(e2 > 0, e3 / jnp.where(e2 > 0, e2, 1.0) ** 3, 0.0)


def d2(jets: Any, mask: Any = None) -> np.ndarray:
    r"""Energy-correlation ratio $D_2^{(\beta=1)}$ of each jet, shape ``(N,)``.

    Larkoski, Moult & Neill, arXiv:1409.6298:
    $D_2 = e_3 / e_2^3$ with $z_i = p_{T,i} / \sum_j p_{T,j}$,
    $e_2 = \sum_{i<j} z_i z_j \theta_{ij}$ and
    $e_3 = \sum_{i<j<k} z_i z_j z_k \theta_{ij}\theta_{ik}\theta_{jk}$,
    $\theta_{ij} = \Delta R_{ij}$ in $(\eta, \phi)$. A jet with one particle has
    $e_2 = 0$ and gets $D_2 = 0$.
    """
    x, _ = jets_and_mask("jets", jets, mask)
    step = _chunk(x.shape[1])
    with jax.enable_x64(True):
        out = [np.asarray(_d2_chunk(jnp.asarray(x[s : s + step]))) for s in range(0, len(x), step)]
    return np.concatenate(out)


@jax.jit
def _taus_chunk(x, mask):
    eta, phi, pt = x[..., 0], x[..., 1], x[..., 2]
    p4 = jnp.stack(
        [pt * jnp.cosh(eta), pt * jnp.cos(phi), pt * jnp.sin(phi), pt * jnp.sinh(eta)], axis=-1
    )
    return jax.vmap(lambda p, m: nsubjettiness(p, m, 3))(p4, mask)


def substructure(jets: Any, mask: Any = None) -> dict[str, np.ndarray]:
    r"""$\tau_{21}$, $\tau_{32}$ and $D_2$ of each jet: ``{"tau21", "tau32", "d2"}``, each ``(N,)``.

    $\tau_{21} = \tau_2/\tau_1$ and $\tau_{32} = \tau_3/\tau_2$ with
    [`hepjax.physics.nsubjettiness`][hepjax.physics.nsubjettiness]
    ($\beta = 1$, $R_0 = 1$, exclusive-$k_T$ axes) on massless constituents
    built from $(\eta, \phi, p_T)$; a ratio with a zero denominator is 0.
    $D_2$ as in [`d2`][hepjax.metrics.jets.d2].
    """
    x, m = jets_and_mask("jets", jets, mask)
    taus = []
    step = _chunk(x.shape[1])
    for s in range(0, len(x), step):
        taus.append(
            np.asarray(
                _taus_chunk(jnp.asarray(x[s : s + step], jnp.float32), jnp.asarray(m[s : s + step]))
            )
        )
    t = np.concatenate(taus).astype(np.float64)

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)

    return {"tau21": ratio(t[:, 1], t[:, 0]), "tau32": ratio(t[:, 2], t[:, 1]), "d2": d2(x, m)}


def tau21(jets: Any, mask: Any = None) -> np.ndarray:
    r"""$\tau_2/\tau_1$ of each jet (see [`substructure`][hepjax.metrics.jets.substructure])."""
    return substructure(jets, mask)["tau21"]


def tau32(jets: Any, mask: Any = None) -> np.ndarray:
    r"""$\tau_3/\tau_2$ of each jet (see [`substructure`][hepjax.metrics.jets.substructure])."""
    return substructure(jets, mask)["tau32"]
