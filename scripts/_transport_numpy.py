"""A plain NumPy/Python, particle-by-particle version of hepjax.sim.transport's physics.

The baseline of ``scripts/bench_transport.py``: one particle at a time from a
stack, scalar Python arithmetic, ``numpy.random.Generator`` draws; the same
cross-section tables (``world.tables``) and the same models and step logic as
``hepjax/sim/transport/_engine.py`` (rejection loops run until acceptance
here). Returns the deposits per cell, the exiting particles and counters.
"""

from __future__ import annotations

import math

import numpy as np

from hepjax.sim.transport import _xsec

ME = _xsec.ME
NA = _xsec.NA
PDG = (22, 11, -11)


def _rotate(u, cos_t, sin_t, phi):
    vx, vy, vz = sin_t * math.cos(phi), sin_t * math.sin(phi), cos_t
    ux, uy, uz = u
    up2 = ux * ux + uy * uy
    if up2 > 1e-14:
        up = math.sqrt(up2)
        r = (
            (ux * uz * vx - uy * vy) / up + ux * vz,
            (uy * uz * vx + ux * vy) / up + uy * vz,
            -up * vx + uz * vz,
        )
    else:
        s = 1.0 if uz >= 0 else -1.0
        r = (s * vx, vy, s * vz)
    n = math.sqrt(r[0] ** 2 + r[1] ** 2 + r[2] ** 2)
    return (r[0] / n, r[1] / n, r[2] / n)


def _heitler(t):
    """Heitler two-photon annihilation per electron (cm^2), as in _xsec."""
    g = 1.0 + max(t, 1e-4) / ME
    s = math.sqrt(g * g - 1.0)
    return (
        math.pi
        * _xsec.RE**2
        / (g + 1.0)
        * ((g * g + 4 * g + 1) / (g * g - 1) * math.log(g + s) - (g + 3) / s)
    )


def _urban(rng, e_tot):
    t = -math.log(max(rng.random() * rng.random(), 1e-30))
    u = t / 0.625 if rng.random() < 9.0 / 36.0 else t / 1.875
    return min(u * ME / e_tot, math.pi)


def _sf1(d):
    return 42.24 - 8.368 * math.log(d + 0.952) if d > 1 else 42.392 - d * (7.796 - 1.961 * d)


def _sf2(d):
    return 42.24 - 8.368 * math.log(d + 0.952) if d > 1 else 41.405 - d * (5.828 - 0.8945 * d)


class NumpyTransport:
    """Particle-by-particle transport through a hepjax ``Slabs`` or ``Voxels`` world."""

    def __init__(self, world):
        px, py, pz, mat, rho = world.grid()
        self.planes = [
            np.asarray(px, np.float64),
            np.asarray(py, np.float64),
            np.asarray(pz, np.float64),
        ]
        self.mat = np.asarray(mat)
        self.rho = np.asarray(rho, np.float64)
        self.dims = tuple(len(p) - 1 for p in self.planes)
        t = world.tables
        self.table = np.asarray(t.table, np.float64)
        self.x0 = np.asarray(t.x0, np.float64)
        self.zoa = np.asarray(t.zoa, np.float64)
        self.zpair = np.asarray(t.zpair, np.float64)
        self.fcoul = np.asarray(t.fcoul, np.float64)
        self.shape = world.deposit_shape()

    def _row(self, m, e):
        g = self.table.shape[1]
        x = (math.log(max(e, _xsec.GRID_MIN)) - _xsec.GRID_LOG_MIN) / _xsec.GRID_DLOG
        x = min(max(x, 0.0), g - 1.001)
        i = int(x)
        f = x - i
        lo, hi = self.table[m, i], self.table[m, i + 1]
        return lo + f * (hi - lo)

    def _loss(self, m, e, ptype, cut):
        r = self._row(m, e)
        s_ion = r[_xsec.COL_ION_P] if ptype == 2 else r[_xsec.COL_ION_E]
        ee = e + ME
        k = min(cut, e)
        return s_ion + (4 / 3 * k - 2 / 3 * k * k / ee + k**3 / (3 * ee * ee)) / self.x0[m], r

    def run(self, rng, pdg, energy, position, direction, cut, step_fraction=0.2):
        nx, ny, nz = self.dims
        dep = np.zeros(nx * ny * nz)
        exiting = []
        n_int = n_steps = 0
        ptype = PDG.index(pdg)
        pos = tuple(float(v) for v in position)
        d = tuple(float(v) for v in direction)
        cell = []
        for a in range(3):
            pl = self.planes[a]
            i = int(np.searchsorted(pl, pos[a], side="right")) - 1
            if 0 <= i <= len(pl) - 1 and pl[min(i, len(pl) - 1)] == pos[a] and d[a] < 0:
                i -= 1
            cell.append(i)
        stack = [(ptype, float(energy), pos, d, tuple(cell))]
        while stack:
            ptype, e, pos, d, cell = stack.pop()
            while True:
                if not all(0 <= cell[a] < self.dims[a] for a in range(3)):
                    exiting.append((PDG[ptype], e, pos, d))
                    break
                flat = (cell[0] * ny + cell[1]) * nz + cell[2]
                if e < cut:
                    dep[flat] += e
                    if ptype == 2:
                        n_int += 1
                        c = 2 * rng.random() - 1
                        phi = 2 * math.pi * rng.random()
                        iso = _rotate((0.0, 0.0, 1.0), c, math.sqrt(max(1 - c * c, 0)), phi)
                        stack.append((0, ME, pos, iso, cell))
                        stack.append((0, ME, pos, (-iso[0], -iso[1], -iso[2]), cell))
                    break
                n_steps += 1
                m = int(self.mat[flat])
                rho = self.rho[flat]
                x0 = self.x0[m]
                if ptype == 0:
                    r = self._row(m, e)
                    mu = r[0] + r[1] + r[2]
                    s_loss = math.inf
                else:
                    s_tot, r = self._loss(m, e, ptype, cut)
                    mu_b = 4 / 3 * math.log(e / cut) / x0 if e > cut else 0.0
                    mu_a = NA * self.zoa[m] * _heitler(e) if ptype == 2 else 0.0
                    mu = mu_b + mu_a
                    s_loss = max(step_fraction * e, cut) / (rho * s_tot)
                s_int = -math.log(1 - rng.random()) / (rho * mu) if mu > 0 else math.inf
                s_geom, axis = math.inf, 0
                for a in range(3):
                    if abs(d[a]) > 1e-12:
                        pl = self.planes[a][cell[a] + (1 if d[a] > 0 else 0)]
                        t = max((pl - pos[a]) / d[a], 0.0)
                        if t < s_geom:
                            s_geom, axis = t, a
                s = min(s_int, s_geom, s_loss)
                interacts = s_int <= s_geom and s_int <= s_loss
                crosses = not interacts and s_geom <= s_loss
                newpos = [pos[a] + s * d[a] for a in range(3)]
                newcell = list(cell)
                if crosses:
                    newpos[axis] = self.planes[axis][cell[axis] + (1 if d[axis] > 0 else 0)]
                    newcell[axis] += 1 if d[axis] > 0 else -1
                if ptype != 0:
                    s_tot, _ = self._loss(m, e, ptype, cut)
                    tm = max(e - 0.5 * rho * s_tot * s, 1e-3)
                    s_mid, _ = self._loss(m, tm, ptype, cut)
                    de = min(rho * s_mid * s, e)
                    dep[flat] += de
                    e_before, e = e, e - de
                    # multiple scattering (Highland)
                    p2 = tm * (tm + 2 * ME)
                    x = max(rho * s / x0, 1e-20)
                    th0 = (
                        13.6
                        / (p2 / (tm + ME))
                        * math.sqrt(x)
                        * max(1 + 0.038 * math.log(x / (p2 / (tm + ME) ** 2)), 0)
                    )
                    rr = math.sqrt(-2 * math.log(1 - rng.random()))
                    ang = 2 * math.pi * rng.random()
                    thx, thy = th0 * rr * math.cos(ang), th0 * rr * math.sin(ang)
                    th = min(math.hypot(thx, thy), math.pi)
                    if s > 0:
                        d = _rotate(d, math.cos(th), math.sin(th), math.atan2(thy, thx))
                else:
                    e_before = e
                pos, cell = tuple(newpos), tuple(newcell)
                if not interacts:
                    continue
                phi = 2 * math.pi * rng.random()
                u1 = rng.random()
                if ptype == 0:
                    if u1 < r[0] / mu:  # Compton
                        n_int += 1
                        k = e / ME
                        eps0 = 1 / (1 + 2 * k)
                        a1, a2 = -math.log(eps0), 0.5 * (1 - eps0 * eps0)
                        while True:
                            if a1 / (a1 + a2) > rng.random():
                                eps = math.exp(-a1 * rng.random())
                            else:
                                eps = math.sqrt(eps0 * eps0 + (1 - eps0 * eps0) * rng.random())
                            oc = (1 - eps) / (eps * k)
                            if 1 - eps * oc * (2 - oc) / (1 + eps * eps) >= rng.random():
                                break
                        cost = min(max(1 - oc, -1.0), 1.0)
                        nd = _rotate(d, cost, math.sqrt(max(1 - cost * cost, 0)), phi)
                        esc = eps * e
                        pe = [e * d[a] - esc * nd[a] for a in range(3)]
                        n = math.sqrt(sum(v * v for v in pe))
                        te = e - esc
                        if te >= cut:
                            stack.append((1, te, pos, tuple(v / n for v in pe), cell))
                        else:
                            dep[(cell[0] * ny + cell[1]) * nz + cell[2]] += te
                        e, d = esc, nd
                    elif u1 < (r[0] + r[1]) / mu and e > 2 * ME:  # pair
                        n_int += 1
                        eps0 = ME / e
                        if e < 2.0:
                            eps = eps0 + (0.5 - eps0) * rng.random()
                        else:
                            z = self.zpair[m]
                            lz3 = math.log(z) / 3
                            fz = 8 * lz3 + (8 * self.fcoul[m] if e > 50 else 0)
                            sf = 136 * eps0 / math.exp(lz3)
                            smax = math.exp((42.24 - fz) / 8.368) - 0.952
                            smin = min(4 * sf, smax)
                            eps1 = 0.5 - 0.5 * math.sqrt(max(1 - smin / smax, 0))
                            emin = max(eps0, eps1)
                            rng_ = 0.5 - emin
                            f10, f20 = _sf1(smin) - fz, _sf2(smin) - fz
                            n1, n2 = max(f10 * rng_ * rng_, 0), max(1.5 * f20, 0)
                            while True:
                                if n1 / (n1 + n2) > rng.random():
                                    eps = 0.5 - rng_ * rng.random() ** (1 / 3)
                                    g = (_sf1(sf / (eps * (1 - eps))) - fz) / f10
                                else:
                                    eps = emin + rng_ * rng.random()
                                    g = (_sf2(sf / (eps * (1 - eps))) - fz) / f20
                                if g >= rng.random():
                                    break
                        em = (eps if rng.random() < 0.5 else 1 - eps) * e
                        ep = e - em
                        thm, thp = _urban(rng, max(em, ME)), _urban(rng, max(ep, ME))
                        dm = _rotate(d, math.cos(thm), math.sin(thm), phi)
                        dp = _rotate(d, math.cos(thp), math.sin(thp), phi + math.pi)
                        tp = max(ep - ME, 0.0)
                        stack.append((2, tp, pos, dp, cell))
                        ptype, e, d = 1, max(em - ME, 0.0), dm
                    else:  # photoelectric
                        n_int += 1
                        ptype = 1
                    continue
                # e+-: bremsstrahlung (null collision) or annihilation in flight
                if u1 < mu_b / mu:
                    if e <= cut:
                        continue
                    ratio = math.log(e / cut) / math.log(e_before / cut)
                    k = cut * math.exp(rng.random() * math.log(e / cut))
                    y = k / (e + ME)
                    if rng.random() >= (1 - y + 0.75 * y * y) * ratio:
                        continue
                    n_int += 1
                    th = _urban(rng, e + ME)
                    stack.append((0, k, pos, _rotate(d, math.cos(th), math.sin(th), phi), cell))
                    e -= k
                elif e >= cut:
                    n_int += 1
                    tau = max(e, 1e-6) / ME
                    gam, tau2 = tau + 1, tau + 2
                    sq = 0.5 * math.sqrt(tau / tau2)
                    emin, emax = 0.5 - sq, 0.5 + sq
                    while True:
                        eps = emin * math.exp(math.log(emax / emin) * rng.random())
                        if 1 - eps + (2 * gam * eps - 1) / (eps * tau2 * tau2) >= rng.random():
                            break
                    avail = e + 2 * ME
                    k1 = eps * avail
                    cost = min(max((eps * tau2 - 1) / (eps * math.sqrt(tau * tau2)), -1), 1)
                    d1 = _rotate(d, cost, math.sqrt(max(1 - cost * cost, 0)), phi)
                    pp = math.sqrt(e * (e + 2 * ME))
                    p2 = [pp * d[a] - k1 * d1[a] for a in range(3)]
                    n = math.sqrt(sum(v * v for v in p2))
                    stack.append((0, avail - k1, pos, tuple(v / n for v in p2), cell))
                    ptype, e, d = 0, k1, d1
        return dep.reshape(self.shape), exiting, n_int, n_steps
