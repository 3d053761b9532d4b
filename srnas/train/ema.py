"""Exponential moving average of the weights (BasicSR ``BaseModel.model_ema``; its ``params_ema``)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEma:
    """A frozen copy of a model whose parameters follow ``ema = decay * ema + (1 - decay) * w`` after every step.

    deviation: BasicSR averages parameters only and leaves the copy's buffers at their initial values; srnas copies
    the buffers (BatchNorm running statistics of the ``*_bn`` candidates), as timm's ``ModelEmaV3``, so the EMA model
    evaluates with the statistics of the weights it averages.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()  # keeps model.srnas_config
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step towards ``model``'s current weights (BasicSR: ``mul_(decay).add_(w, alpha=1 - decay)``)."""
        for e, w in zip(self.module.parameters(), model.parameters()):
            e.mul_(self.decay).add_(w.detach(), alpha=1 - self.decay)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
