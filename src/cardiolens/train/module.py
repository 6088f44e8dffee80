"""The shared Lightning module of the (inputs, targets) systems: a network, a loss, AdamW.

Subclasses set ``self.network`` through ``__init__`` and define :meth:`loss`;
``train_loss`` and ``val_loss`` are logged per epoch (the monitor of
:func:`~cardiolens.train.fit.fit_keep_best`). Only parameters that require
gradients are optimised, so a frozen backbone stays frozen.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class SupervisedModule(L.LightningModule):
    """Batches (inputs, targets); subclasses define ``loss(outputs, targets)``."""

    def __init__(self, network: nn.Module, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.network = network
        self.lr = lr
        self.weight_decay = weight_decay

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.network(inputs)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        inputs, targets = batch
        loss = self.loss(self(inputs), targets)
        self.log(f"{stage}_loss", loss, on_epoch=True, on_step=False, batch_size=inputs.shape[0], prog_bar=stage == "val")
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.network.parameters() if p.requires_grad]
        return torch.optim.AdamW(trainable, lr=self.lr, weight_decay=self.weight_decay)
