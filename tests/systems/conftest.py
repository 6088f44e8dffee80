"""Session fixtures for the cine systems: small simulated cohorts and a tiny trained ``cine-seg`` model."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardiolens.synth.cohort import write_simulated_cohort

#: A U-Net small enough to train in seconds; its segmentations are poor, which the pipeline must survive.
TINY_SEG = {"channels": (4, 8, 16), "patch_px": 32, "epochs": 1, "batch_size": 8, "num_threads": 1, "val_fraction": 0.25}


@pytest.fixture(scope="session")
def sim_train_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 simulated subjects (2 per cine group), SIM0001-SIM0010."""
    return write_simulated_cohort(tmp_path_factory.mktemp("sim_train") / "cohort", n=10, seed=1)


@pytest.fixture(scope="session")
def sim_test_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 other simulated subjects (SIM0011-SIM0015), one per group: an external cohort."""
    return write_simulated_cohort(tmp_path_factory.mktemp("sim_test") / "cohort", n=5, seed=1, first_index=10)


@pytest.fixture(scope="session")
def tiny_seg_model(sim_train_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch ``cine-seg`` model trained on the simulated training cohort."""
    import torch

    from cardiolens.systems.cine_seg.config import CineSegConfig
    from cardiolens.systems.cine_seg.training import train

    torch.set_num_threads(1)
    return train(sim_train_cohort, tmp_path_factory.mktemp("seg") / "model", CineSegConfig(**TINY_SEG))
