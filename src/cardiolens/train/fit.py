"""One Lightning fit with early stopping that keeps the weights of the best validation epoch.

Every system trains through :func:`fit_keep_best`: a LightningModule that logs
its validation monitor (``self.log(monitor, ...)`` in ``validation_step`` or
``on_validation_epoch_end``), CPU by default, CSV logs in the model directory.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch


@dataclass
class FitResult:
    """The best validation epoch: its index, monitor value and network weights."""

    best_epoch: int
    best_value: float
    state_dict: dict[str, torch.Tensor] | None
    epochs_run: int


def _keep_best_callback(network_attr: str, monitor: str, mode: str, result: FitResult) -> Any:
    import lightning as L

    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)

    class KeepBest(L.Callback):
        def on_validation_end(self, trainer: Any, module: Any) -> None:  # after epoch metrics are reduced
            if trainer.sanity_checking:
                return
            value = float(trainer.callback_metrics.get(monitor, float("nan")))
            if math.isfinite(value) and (result.state_dict is None or better(value, result.best_value)):
                result.best_value, result.best_epoch = value, trainer.current_epoch
                result.state_dict = copy.deepcopy(getattr(module, network_attr).state_dict())

    return KeepBest()


def fit_keep_best(
    module: Any,
    train_loader: Any,
    val_loader: Any,
    *,
    max_epochs: int,
    monitor: str,
    mode: Literal["min", "max"] = "min",
    patience: int = 10,
    log_dir: str | Path | None = None,
    network_attr: str = "network",
    seed: int = 0,
    accelerator: str = "cpu",
) -> FitResult:
    """Fit ``module`` and load the best validation epoch's weights back into ``module.<network_attr>``.

    Args:
        module: a LightningModule holding the network as attribute ``network_attr``.
        monitor, mode: the logged validation quantity and whether lower or higher is better.
        patience: epochs without improvement before stopping.
        log_dir: folder for Lightning's CSV logs (``logs/metrics.csv``); None = no logs.
        accelerator: "cpu" (default) or "auto" to use a GPU when one is present.
    """
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    L.seed_everything(seed, workers=True, verbose=False)
    result = FitResult(best_epoch=-1, best_value=float("inf") if mode == "min" else float("-inf"), state_dict=None, epochs_run=0)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        accelerator=accelerator,
        devices=1,
        deterministic="warn",
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=CSVLogger(str(log_dir), name="logs", version="") if log_dir is not None else False,
        callbacks=[EarlyStopping(monitor, patience=patience, mode=mode), _keep_best_callback(network_attr, monitor, mode, result)],
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*number of training batches.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")  # Lightning 2.6 on torch 2.13, harmless
        warnings.filterwarnings("ignore", ".*deterministic.*")
        trainer.fit(module, train_loader, val_loader)
    result.epochs_run = trainer.current_epoch
    network = getattr(module, network_attr).cpu().eval()
    if result.state_dict is not None:
        network.load_state_dict(result.state_dict)
    return result
