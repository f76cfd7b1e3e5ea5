r"""Pythia 8 set-ups of the JetNet-, JetClass-, LHCO- and HH->4b-style samples.

Every process is a list of Pythia ``readString`` settings plus what a jet must
be matched to. All use 13 TeV pp collisions with Pythia's default tune
(Monash), multiparton interactions and hadronisation on; no detector.

**JetNet** (Kansal et al., arXiv:2106.11535; the jets of Pierini et al.'s
hls4ml LHC jet set): jets at $p_T \approx 1$ TeV. Gluon and light-quark
($u, d, s$) jets
recoil against $Z \to \nu\bar\nu$ ($q\bar q \to Z g$ and $qg \to Z q$), top
jets come from $gg, q\bar q \to t\bar t$ with hadronic $W$ decays, and $W$
and $Z$ jets from a 2 TeV $W' \to WZ$ whose other boson decays to neutrinos
(for $w$) or to $e\nu$, $\mu\nu$ (for $z$), so that its $p_T$ sits at the
Jacobian peak near 1 TeV. The 2-to-2 processes use
$\hat p_T \in [950, 1250]$ GeV.

**JetClass** (Qu, Li & Qian, arXiv:2202.03772): jets with
$p_T \in [500, 1000]$ GeV, $|\eta| < 2$. QCD jets recoil against
$Z \to \nu\bar\nu$; $H$ jets come from $H$ + jet ($gg \to Hg$, $qg \to Hq$,
$q\bar q \to Hg$ with the top loop) with $H \to b\bar b, c\bar c, gg,
WW^* \to 4q$ or $WW^* \to \ell\nu qq$ ($W^+ \to \ell\nu$, $W^- \to qq$);
$W$ and $Z$ jets from $W/Z$ + jet; $t \to bqq'$ and $t \to b\ell\nu$ from
$t\bar t$ with both $W$ hadronic or both leptonic. 2-to-2 processes use
$\hat p_T \in [450, 1100]$ GeV.

**LHCO R&D** (Kasieczka et al., arXiv:2101.08320): QCD dijets
(``HardQCD:all``, $\hat p_T > 1100$ GeV) and the signal
$W'(3.5\,{\rm TeV}) \to X(500\,{\rm GeV})\,Y(100\,{\rm GeV})$, $X \to q\bar q$,
$Y \to q\bar q'$, with $X$ (PDG id 9000001) and $Y^\pm$ (9000002) defined
through Pythia particle settings as narrow scalar resonances.

**HH -> 4b**: Pythia has no non-resonant $gg \to HH$, so the signal is the
resonant $gg \to H_2 \to hh \to b\bar b b\bar b$ with $m_{H_2} = 500$ GeV
(``HiggsBSM:gg2H2``); the background is QCD multijet production
(``HardQCD:all``, $\hat p_T > 100$ GeV).

**HH -> 4b with large-radius jets** (``hh4b_constituents``; the event-level
task of Vigl, Hartman & Heinrich, arXiv:2401.13536): the same resonant
signal with a heavier $m_{H_2} = 1.5$ TeV, so that each Higgs boson has
$p_T$ up to 730 GeV, in the range of the JetClass jets a tagger is
pre-trained on, and its $b\bar b$ pair ($\Delta R \approx 2 m_h / p_T$)
falls inside one anti-$k_T$ $R = 1.0$ jet; the background is QCD multijet
production with $\hat p_T > 400$ GeV. Rows are events of 2-5 large-radius
jets with their constituents.
"""

import dataclasses

#: The data sets and their process (class) names, in label order.
DATASETS = {
    "jetnet": ("g", "q", "t", "w", "z"),
    "jetclass": ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"),
    "lhco": ("background", "signal"),
    "hh4b": ("qcd", "hh4b"),
    "hh4b_constituents": ("qcd", "hh4b"),
}

#: JetClass file stems of the published set, per class.
JETCLASS_FILE_STEMS = {
    "QCD": "ZJetsToNuNu",
    "Hbb": "HToBB",
    "Hcc": "HToCC",
    "Hgg": "HToGG",
    "H4q": "HToWW4Q",
    "Hqql": "HToWW2Q1L",
    "Zqq": "ZToQQ",
    "Wqq": "WToQQ",
    "Tbqq": "TTBar",
    "Tbl": "TTBarLep",
}

_COMMON = (
    "Beams:eCM = 13000.",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Print:quiet = on",
)
_QUARKS = "1 2 3 4 5"
_LEPTONS = "11 13 15"
_PARTONS = (1, 2, 3, 4, 5, 21)


def _pthat(lo: float, hi: float) -> tuple[str, ...]:
    return (f"PhaseSpace:pTHatMin = {lo:g}", f"PhaseSpace:pTHatMax = {hi:g}")


def _z_plus_jet(z_decay: str) -> tuple[str, ...]:
    return (
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        "WeakZ0:gmZmode = 2",
        "23:onMode = off",
        f"23:onIfAny = {z_decay}",
    )


_TTBAR = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off")
_H_PLUS_JET = (
    "HiggsSM:gg2Hg(l:t) = on",
    "HiggsSM:qg2Hq(l:t) = on",
    "HiggsSM:qqbar2Hg(l:t) = on",
    "25:onMode = off",
)
_WPRIME_WZ = (
    "NewGaugeBoson:ffbar2Wprime = on",
    "Wprime:coup2WZ = 1.",
    "34:m0 = 2000.",
    "34:mMin = 1800.",
    "34:mMax = 2200.",
    "34:onMode = off",
    "34:onIfMatch = 23 24",
    "23:onMode = off",
    "24:onMode = off",
)


@dataclasses.dataclass(frozen=True)
class Process:
    """One sample: Pythia settings and the object its jets are matched to.

    Attributes:
        dataset: ``"jetnet"``, ``"jetclass"``, ``"lhco"``, ``"hh4b"`` or
            ``"hh4b_constituents"``.
        name: the class name within the data set.
        settings: Pythia ``readString`` lines (without the seed).
        match: ``"parton"`` (a hard-process outgoing parton with ``abs(id)`` in
            ``ids``), ``"resonance"`` (the last copy of a particle with
            ``abs(id)`` in ``ids``, all its visible decay products inside the
            jet) or ``"event"`` (event-level samples: LHCO and the HH->4b ones).
        ids: PDG ids (absolute values) for the matching.
        label: the class index within the data set.
    """

    dataset: str
    name: str
    settings: tuple[str, ...]
    match: str
    ids: tuple[int, ...]
    label: int


def _jetnet() -> dict[str, tuple]:
    hard = _pthat(950.0, 1250.0)
    nunu = "12 14 16"
    return {
        "g": ("parton", (21,), (*hard, *_z_plus_jet(nunu), "WeakBosonAndParton:qg2gmZq = off")),
        "q": (
            "parton",
            (1, 2, 3),  # light quarks: u, d, s (and antiquarks)
            (*hard, *_z_plus_jet(nunu), "WeakBosonAndParton:qqbar2gmZg = off"),
        ),
        "t": ("resonance", (6,), (*hard, *_TTBAR, f"24:onIfAny = {_QUARKS}")),
        "w": (
            "resonance",
            (24,),
            (*_WPRIME_WZ, f"24:onIfAny = {_QUARKS}", f"23:onIfAny = {nunu}"),
        ),
        "z": ("resonance", (23,), (*_WPRIME_WZ, f"23:onIfAny = {_QUARKS}", "24:onIfAny = 11 13")),
    }


def _jetclass() -> dict[str, tuple]:
    hard = _pthat(450.0, 1100.0)
    return {
        "QCD": ("parton", _PARTONS, (*hard, *_z_plus_jet("12 14 16"))),
        "Hbb": ("resonance", (25,), (*hard, *_H_PLUS_JET, "25:onIfMatch = 5 -5")),
        "Hcc": ("resonance", (25,), (*hard, *_H_PLUS_JET, "25:onIfMatch = 4 -4")),
        "Hgg": ("resonance", (25,), (*hard, *_H_PLUS_JET, "25:onIfMatch = 21 21")),
        "H4q": (
            "resonance",
            (25,),
            (
                *hard,
                *_H_PLUS_JET,
                "25:onIfMatch = 24 -24",
                "24:onMode = off",
                "24:onIfAny = 1 2 3 4 5",
            ),
        ),
        "Hqql": (
            "resonance",
            (25,),
            (
                *hard,
                *_H_PLUS_JET,
                "25:onIfMatch = 24 -24",
                "24:onMode = off",
                f"24:onPosIfAny = {_LEPTONS}",
                f"24:onNegIfAny = {_QUARKS}",
            ),
        ),
        "Zqq": ("resonance", (23,), (*hard, *_z_plus_jet(_QUARKS))),
        "Wqq": (
            "resonance",
            (24,),
            (
                *hard,
                "WeakBosonAndParton:qqbar2Wg = on",
                "WeakBosonAndParton:qg2Wq = on",
                "24:onMode = off",
                f"24:onIfAny = {_QUARKS}",
            ),
        ),
        "Tbqq": ("resonance", (6,), (*hard, *_TTBAR, f"24:onIfAny = {_QUARKS}")),
        "Tbl": ("resonance", (6,), (*hard, *_TTBAR, f"24:onIfAny = {_LEPTONS}")),
    }


_X, _Y = 9000001, 9000002


def _lhco() -> dict[str, tuple]:
    signal = (
        "NewGaugeBoson:ffbar2Wprime = on",
        "34:m0 = 3500.",
        "34:mMin = 3000.",
        "34:mMax = 4000.",
        # X (neutral) and Y (charged) narrow scalars; W'+ -> X Y+.
        f"{_X}:all = X void 1 0 0 500. 0.01 490. 510. 0.",
        f"{_X}:isResonance = on",
        f"{_X}:addChannel = 1 0.25 100 1 -1",
        f"{_X}:addChannel = 1 0.25 100 2 -2",
        f"{_X}:addChannel = 1 0.25 100 3 -3",
        f"{_X}:addChannel = 1 0.25 100 4 -4",
        f"{_Y}:all = Y Ybar 1 3 0 100. 0.01 95. 105. 0.",
        f"{_Y}:isResonance = on",
        f"{_Y}:addChannel = 1 0.5 100 2 -1",
        f"{_Y}:addChannel = 1 0.5 100 4 -3",
        "34:onMode = off",
        f"34:addChannel = 1 1.0 100 {_X} {_Y}",
    )
    return {
        "background": ("event", (), ("HardQCD:all = on", "PhaseSpace:pTHatMin = 1100.")),
        "signal": ("event", (), signal),
    }


def _hh4b(mass: float = 500.0, pthat_min: float = 100.0) -> dict[str, tuple]:
    signal = (
        "Higgs:useBSM = on",
        "HiggsBSM:gg2H2 = on",
        f"35:m0 = {mass:g}.",
        "35:onMode = off",
        "35:onIfMatch = 25 25",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
    )
    return {
        "qcd": ("event", (), ("HardQCD:all = on", f"PhaseSpace:pTHatMin = {pthat_min:g}.")),
        "hh4b": ("event", (), signal),
    }


def _build() -> dict[str, dict[str, Process]]:
    table = {
        "jetnet": _jetnet(),
        "jetclass": _jetclass(),
        "lhco": _lhco(),
        "hh4b": _hh4b(),
        "hh4b_constituents": _hh4b(mass=1500.0, pthat_min=400.0),
    }
    out = {}
    for dataset, procs in table.items():
        names = DATASETS[dataset]
        out[dataset] = {
            name: Process(dataset, name, (*_COMMON, *s), match, ids, names.index(name))
            for name, (match, ids, s) in procs.items()
        }
    return out


PROCESSES = _build()


def check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")


def get_process(dataset: str, name: str) -> Process:
    """The [`Process`][hepjax.data.collider.Process] ``name`` of ``dataset``."""
    check_dataset(dataset)
    if name not in PROCESSES[dataset]:
        raise ValueError(
            f"unknown {dataset} process {name!r}; expected one of {', '.join(DATASETS[dataset])}"
        )
    return PROCESSES[dataset][name]


def pythia_settings(dataset: str, process: str, *, seed: int = 0) -> list[str]:
    r"""The Pythia ``readString`` lines of one process, with the random seed.

    Args:
        dataset: a key of ``DATASETS``.
        process: one of ``DATASETS[dataset]``.
        seed: Pythia's seed, in $[0, 900\,000\,000]$.
    """
    proc = get_process(dataset, process)
    return [*proc.settings, "Random:setSeed = on", f"Random:seed = {int(seed)}"]
