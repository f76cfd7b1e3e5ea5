"""A slow plain-Python reference of :func:`hepjax.calo.topoclusters`.

It follows COCOA's sequential code (``Topo_clust_func.cc``): a queue of cells
processed generation by generation in descending significance, labels merged
by global relabelling, clusters of net E <= 0 dropped, local maxima found cell
by cell in (layer, eta, phi) order; its neighbours come from explicit loops over
(layer, ieta, iphi), not from the neighbour table. Splitting is the lockstep
growth described in :mod:`hepjax.calo._topo`. Everything is Python lists,
dicts and ``math``; use it to check the JAX version, never in production.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..sim.calo import CaloGeometry, CellEnergies

__all__ = ["reference_topoclusters"]


@functools.lru_cache(maxsize=4)
def _neighbours(geo: CaloGeometry) -> tuple[tuple[int, ...], ...]:
    """Neighbour lists by explicit loops (COCOA's three rules); cached per geometry."""
    lay_n = [(layer.n_eta, layer.n_phi) for layer in geo.layers]
    off = geo.offsets

    def cid(k, i, j):
        return off[k] + i * lay_n[k][1] + j

    out = []
    for lay, (ne, nph) in enumerate(lay_n):
        for i in range(ne):
            for j in range(nph):
                nbs = []
                for di in (-1, 0, 1):
                    for dj in (-1, 0, 1):
                        if (di or dj) and 0 <= i + di < ne:
                            nbs.append(cid(lay, i + di, (j + dj) % nph))
                if lay + 1 < len(lay_n):
                    re, rp = ne // lay_n[lay + 1][0], nph // lay_n[lay + 1][1]
                    nbs.append(cid(lay + 1, i // re, j // rp))
                if lay > 0:
                    re, rp = lay_n[lay - 1][0] // ne, lay_n[lay - 1][1] // nph
                    for a in range(re):
                        for b in range(rp):
                            nbs.append(cid(lay - 1, i * re + a, j * rp + b))
                out.append(tuple(nbs))
    return tuple(out)


def reference_topoclusters(
    geo: CaloGeometry,
    cells: CellEnergies,
    seed: float | int = 4.6,
    grow: float | int = 2.0,
    last: float | int = 0.0,
    *,
    local_max_energy: float | int = 0.4,
    absolute: bool = False,
    split: bool = True,
) -> dict[str, np.ndarray]:
    """The same clustering as :func:`~hepjax.calo.topoclusters`, in plain Python.

    Returns a dict of numpy arrays: ``cell_cluster``, ``cell_cluster2``,
    ``cell_weight``, ``local_max`` per cell and ``energy``, ``eta``, ``phi``,
    ``rho``, ``sigma_eta``, ``sigma_phi``, ``n_cells`` per cluster.

    Args:
        geo, cells: the detector and the event's cell energies.
        seed, grow, last: significance thresholds $t_\\text{seed} \\ge
            t_\\text{grow} \\ge t_\\text{last}$ (COCOA: 4.6, 2, 0).
        local_max_energy: minimum energy of a local maximum, GeV (COCOA: 400 MeV).
        absolute: cluster on $|E|/\\sigma$ (negative cells too) instead of $E/\\sigma$.
        split: split clusters at their local maxima.
    """
    e32 = np.asarray(cells.energy, np.float32)
    E = [float(v) for v in e32]
    t = geo.cells()
    n = geo.n_cells
    # significances rounded to float32 as in the JAX version, so that orders agree
    inv_sigma = np.float32(1.0) / t.noise.astype(np.float32)
    sig32 = (np.abs(e32) if absolute else e32) * inv_sigma
    s = [float(v) for v in sig32]
    nbs = _neighbours(geo)

    # -- growth: COCOA's queue, one generation at a time --
    label = [0] * n
    seeds = sorted((c for c in range(n) if s[c] > seed), key=lambda c: (-s[c], c))
    for r, c in enumerate(seeds):
        label[c] = r + 1
    members: dict[int, set[int]] = {r + 1: {c} for r, c in enumerate(seeds)}
    current = seeds
    while current:
        nxt = []
        for c in current:
            for j in nbs[c]:
                if s[j] > grow:
                    if label[j] == 0:
                        label[j] = label[c]
                        members[label[c]].add(j)
                        nxt.append(j)
                    elif label[j] != label[c]:
                        a, b = sorted((label[j], label[c]))
                        for m in members.pop(b):  # global relabel b -> a
                            label[m] = a
                            members[a].add(m)
                elif s[j] > last and label[j] == 0:
                    label[j] = label[c]
                    members[label[c]].add(j)
        current = sorted(nxt, key=lambda c: (-s[c], c))
    # -- drop net E <= 0; number by the surviving labels' order (seed rank) --
    parents = []
    for lab in sorted(members):
        cl = sorted(members[lab])
        if sum(E[c] for c in cl) > 0:
            parents.append(cl)
    parent = [-1] * n
    for k, cl in enumerate(parents):
        for c in cl:
            parent[c] = k

    # -- local maxima, in (layer, eta, phi) order with the hadronic rule --
    accepted: list[int] = []
    is_lm = [False] * n
    for c in range(n):
        if parent[c] < 0 or not E[c] > local_max_energy:
            continue
        if not all(E[j] < E[c] for j in nbs[c]):
            continue
        if sum(parent[j] >= 0 for j in nbs[c]) < 4:
            continue
        if not geo.layers[int(t.layer[c])].electromagnetic:
            inside = any(
                t.eta_lo[c] <= t.eta[m] <= t.eta_hi[c]
                and t.phi_lo[c] <= t.phi[m] % (2 * math.pi) <= t.phi_hi[c]
                for m in accepted
            )
            if inside:
                continue
        accepted.append(c)
        is_lm[c] = True

    # -- splitting: lockstep growth from the maxima of each cluster --
    c1 = [-1] * n
    c2 = [-1] * n
    shared_pair: dict[int, tuple[int, int]] = {}
    next_id = 0
    sub_parts: list[list[int]] = []  # unshared cells of each final cluster
    for cl in parents:
        maxima = sorted((c for c in cl if is_lm[c]), key=lambda c: (-E[c], c))
        if not split or len(maxima) < 2:
            for c in cl:
                c1[c] = next_id
            sub_parts.append(list(cl))
            next_id += 1
            continue
        in_cl = set(cl)
        prio = {m: p for p, m in enumerate(maxima)}  # 0 = most energetic
        owner = {m: m for m in maxima}
        shared: dict[int, tuple[int, int]] = {}
        order_shared: list[int] = []
        frontier = list(maxima)
        while frontier:
            claims: dict[int, set[int]] = {}
            for c in frontier:
                for j in nbs[c]:
                    if j in in_cl and j not in owner and j not in shared:
                        claims.setdefault(j, set()).add(owner[c])
            frontier = []
            for j in sorted(claims):
                got = sorted(claims[j], key=lambda m: prio[m])
                if len(got) == 1:
                    owner[j] = got[0]
                    frontier.append(j)
            for j in sorted(claims):
                got = sorted(claims[j], key=lambda m: prio[m])
                if len(got) >= 2:
                    shared[j] = (got[0], got[1])
                    order_shared.append(j)
        # cells cut off by shared cells: the pair of the earliest shared neighbour
        while True:
            added = []
            rank_of = {c: r for r, c in enumerate(order_shared)}
            for j in cl:
                if j in owner or j in shared:
                    continue
                src = [m for m in nbs[j] if m in shared]
                if src:
                    added.append((j, shared[min(src, key=lambda m: rank_of[m])]))
            if not added:
                break
            for j, pair in added:
                shared[j] = pair
                order_shared.append(j)
        ids = {m: next_id + p for m, p in prio.items()}
        parts = {m: [] for m in maxima}
        for c, m in owner.items():
            c1[c] = ids[m]
            parts[m].append(c)
        for c, (m1, m2) in shared.items():
            c1[c], c2[c] = ids[m1], ids[m2]
            shared_pair[c] = (ids[m1], ids[m2])
        sub_parts.extend(sorted(parts[m]) for m in maxima)
        next_id += len(maxima)

    # -- weights of shared cells (COCOA: E1 / (E1 + exp(d1 - d2) E2), d in mm) --
    def bary(part):
        a = [abs(E[c]) for c in part]
        A = sum(a)
        if A == 0:
            return 0.0, 0.0, 0.0, 0.0
        eta = sum(w * float(t.eta[c]) for w, c in zip(a, part, strict=True)) / A
        sn = sum(w * math.sin(float(t.phi[c])) for w, c in zip(a, part, strict=True))
        cs = sum(w * math.cos(float(t.phi[c])) for w, c in zip(a, part, strict=True))
        rho = sum(w * float(t.layer_rho[c]) for w, c in zip(a, part, strict=True)) / A
        return eta, math.atan2(sn, cs), rho, sum(E[c] for c in part)

    info = [bary(p) for p in sub_parts]
    w1 = [1.0 if c1[c] >= 0 else 0.0 for c in range(n)]
    for c, (k1, k2) in shared_pair.items():
        pos = (float(t.x[c]), float(t.y[c]), float(t.z[c]))

        def dist(k, pos=pos):
            eta, phi, rho, _ = info[k]
            b = (rho * math.cos(phi), rho * math.sin(phi), rho * math.sinh(eta))
            return math.dist(pos, b)

        e1, e2 = info[k1][3], info[k2][3]
        if e1 > 0 and e2 > 0:
            x = math.log(e1) - math.log(e2) - (dist(k1) - dist(k2))
            w1[c] = 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0
        else:
            w1[c] = 0.0 if e2 > 0 else (1.0 if e1 > 0 else 0.5)

    # -- moments --
    K = next_id
    acc = [[0.0] * 8 for _ in range(K)]  # E, A, A eta, A sin, A cos, A rho, n
    contrib = [[] for _ in range(K)]
    for c in range(n):
        for k, w in ((c1[c], w1[c]), (c2[c], 1.0 - w1[c])):
            if k < 0:
                continue
            a = w * abs(E[c])
            acc[k][0] += w * E[c]
            acc[k][1] += a
            acc[k][2] += a * float(t.eta[c])
            acc[k][3] += a * math.sin(float(t.phi[c]))
            acc[k][4] += a * math.cos(float(t.phi[c]))
            acc[k][5] += a * float(t.layer_rho[c])
            acc[k][6] += 1
            contrib[k].append((c, a))
    out = {k: np.zeros(K) for k in ("energy", "eta", "phi", "rho", "sigma_eta", "sigma_phi")}
    out["n_cells"] = np.zeros(K, int)
    for k in range(K):
        e, A, ae, asn, acs, arho, cnt, _ = acc[k]
        A1 = A if A > 0 else 1.0
        eta, phi = ae / A1, math.atan2(asn, acs)
        se = sum(a * (float(t.eta[c]) - eta) ** 2 for c, a in contrib[k]) / A1
        sp = 0.0
        for c, a in contrib[k]:
            d = (float(t.phi[c]) - phi + math.pi) % (2 * math.pi) - math.pi
            sp += a * d * d
        out["energy"][k], out["eta"][k], out["phi"][k] = e, eta, phi
        out["rho"][k], out["n_cells"][k] = arho / A1, cnt
        out["sigma_eta"][k], out["sigma_phi"][k] = math.sqrt(se), math.sqrt(sp / A1)
    out["cell_cluster"] = np.array(c1)
    out["cell_cluster2"] = np.array(c2)
    out["cell_weight"] = np.array(w1)
    out["local_max"] = np.array(is_lm)
    return out
