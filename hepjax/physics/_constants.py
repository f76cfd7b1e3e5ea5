"""Particle masses in GeV (PDG Review of Particle Physics 2024, the particle listings)."""

#: Electron mass, GeV.
ELECTRON_MASS = 0.51099895e-3
#: Muon mass, GeV.
MUON_MASS = 0.1056583755
#: Charged pion mass, GeV.
PION_MASS = 0.13957039
#: Charged kaon mass, GeV.
KAON_MASS = 0.493677
#: Proton mass, GeV.
PROTON_MASS = 0.93827208816
