r"""COCOA's cell neighbours, precomputed once per geometry as a padded table.

The neighbours of cell $(l, i_\eta, i_\phi)$ (COCOA's ``Topo_clust_func``):

* the $3\times3$ block around it in the same layer, $\phi$ wrapping around
  ($i_\phi \pm 1 \bmod N^\phi_l$), $\eta$ not wrapping;
* the cell of the next layer $l+1$ that contains it,
  $(\lfloor i_\eta/r^\eta_l\rfloor, \lfloor i_\phi/r^\phi_l\rfloor)$ with
  $r_l = N_l/N_{l+1}$;
* all $r^\eta_{l-1} r^\phi_{l-1}$ cells of the previous layer inside it.

The relation is symmetric. The table is ``(n_cells, K)`` with $K$ the largest
neighbour count; missing entries hold the sentinel ``n_cells`` and are
``False`` in the mask, so gathers from an array padded by one element need no
branch.
"""

from __future__ import annotations

import functools

import numpy as np

from ..sim.calo import CaloGeometry

__all__ = ["containing_cell", "neighbour_table"]


@functools.lru_cache(maxsize=8)
def neighbour_table(geo: CaloGeometry) -> tuple[np.ndarray, np.ndarray]:
    """``(table, mask)``: ``(n_cells, K)`` neighbour ids (sentinel ``n_cells``) and validity."""
    if not isinstance(geo, CaloGeometry):
        raise TypeError(f"geo must be a CaloGeometry, got {type(geo).__name__}")
    n = geo.n_cells
    t = geo.cells()
    lay, ie, ip = t.layer.astype(np.int64), t.ieta.astype(np.int64), t.iphi.astype(np.int64)
    off = np.asarray(geo.offsets, np.int64)
    neta, nphi = np.asarray(geo.n_eta, np.int64), np.asarray(geo.n_phi, np.int64)
    cols = []
    for de in (-1, 0, 1):
        for dp in (-1, 0, 1):
            if de == 0 and dp == 0:
                continue
            e2 = ie + de
            ok = (e2 >= 0) & (e2 < neta[lay])
            p2 = np.mod(ip + dp, nphi[lay])
            cols.append(np.where(ok, off[lay] + e2 * nphi[lay] + p2, n))
    last = geo.n_layers - 1
    # next layer: the coarser cell containing this one
    nxt = np.minimum(lay + 1, last)
    re = neta[lay] // neta[nxt]
    rp = nphi[lay] // nphi[nxt]
    cols.append(np.where(lay < last, off[nxt] + (ie // re) * nphi[nxt] + ip // rp, n))
    # previous layer: every finer cell inside this one
    prv = np.maximum(lay - 1, 0)
    re_p = neta[prv] // neta[lay]
    rp_p = nphi[prv] // nphi[lay]
    kmax = int(max((re_p * rp_p)[lay > 0], default=0))
    for k in range(kmax):
        a, b = k // np.maximum(rp_p, 1), k % np.maximum(rp_p, 1)
        ok = (lay > 0) & (k < re_p * rp_p)
        cell = off[prv] + (ie * re_p + a) * nphi[prv] + ip * rp_p + b
        cols.append(np.where(ok, cell, n))
    table = np.stack(cols, axis=1).astype(np.int32)
    mask = table < n
    table.setflags(write=False)
    mask.setflags(write=False)
    return table, mask


@functools.lru_cache(maxsize=8)
def containing_cell(geo: CaloGeometry) -> np.ndarray:
    """``(n_cells, L)``: the cell of layer $m$ containing each cell (``n_cells`` if $m \\le l$)."""
    n = geo.n_cells
    t = geo.cells()
    lay, ie, ip = t.layer.astype(np.int64), t.ieta.astype(np.int64), t.iphi.astype(np.int64)
    off = np.asarray(geo.offsets, np.int64)
    neta, nphi = np.asarray(geo.n_eta, np.int64), np.asarray(geo.n_phi, np.int64)
    out = np.full((n, geo.n_layers), n, np.int64)
    for m in range(geo.n_layers):
        later = lay < m
        re = np.maximum(neta[lay] // neta[m], 1)
        rp = np.maximum(nphi[lay] // nphi[m], 1)
        out[:, m] = np.where(later, off[m] + (ie // re) * nphi[m] + ip // rp, n)
    out = out.astype(np.int32)
    out.setflags(write=False)
    return out
