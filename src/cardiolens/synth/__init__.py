"""Simulated, always-labelled-simulated cohorts with ground truth (cine, LGE, maps, ECG, echo)."""
