"""Progress of a training run: loss and throughput per logging window, memory, ETA."""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tasks.train.config import FinetuneConfig

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MetricsCallback = Callable[[dict[str, float]], None]


class StepSchedule(Protocol):
    """What progress needs of the batch schedule."""

    total_steps: int

    def epoch_of(self, step: int) -> float: ...


def peak_memory_mb(device: str) -> float:
    """GPU: peak memory allocated by torch. CPU: peak resident set size of this process."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


class Progress:
    """Collects loss and throughput between logging steps; logs a line and calls `on_metrics` at each.

    Losses stay on the device until a logging step, so there is no host sync per step.
    """

    def __init__(
        self, config: FinetuneConfig, schedule: StepSchedule, step: int, device: str, on_metrics: MetricsCallback | None
    ) -> None:
        self.every, self.schedule, self.device, self.on_metrics = config.log_every_steps, schedule, device, on_metrics
        self.tokens_total, self.step = 0, step
        self._reset(step)
        self.last_loss: float | None = None

    def _reset(self, step: int) -> None:
        self.window_start, self.window_step = time.perf_counter(), step
        self.window_tokens, self.loss_sum, self.grad_norm = 0, None, None
        self.lr = 0.0

    def exclude(self, seconds: float) -> None:
        """Leave time spent outside training (evaluation) out of the throughput."""
        self.window_start += seconds

    def add_loss(self, loss: torch.Tensor) -> None:
        self.loss_sum = loss.float() if self.loss_sum is None else self.loss_sum + loss.float()

    def step_done(self, step: int, tokens: int, lr: float, grad_norm: torch.Tensor | None) -> None:
        self.tokens_total += tokens
        self.window_tokens += tokens
        self.lr, self.grad_norm, self.step = lr, grad_norm, step
        if step % self.every == 0 or step == self.schedule.total_steps:
            self._report(step)

    def flush(self) -> float | None:
        """Report a partial window (a stopped run) and return the last reported mean loss."""
        if self.loss_sum is not None:
            self._report(self.step)
        return self.last_loss

    def _report(self, step: int) -> None:
        steps = step - self.window_step
        elapsed = time.perf_counter() - self.window_start
        # Each step's micro-batch losses add up to that step's mean loss per label token.
        loss = float(self.loss_sum) / max(steps, 1)
        metrics = {
            "step": step,
            "loss": loss,
            "learning_rate": self.lr,
            "tokens_per_s": self.window_tokens / elapsed if elapsed > 0 else 0.0,
            "memory_mb": _current_memory_mb(self.device),
            "epoch": self.schedule.epoch_of(step),
            "tokens_seen": self.tokens_total,
        }
        if self.grad_norm is not None:
            metrics["grad_norm"] = float(self.grad_norm)
        eta_s = (self.schedule.total_steps - step) * elapsed / max(steps, 1)
        metrics["total_steps"], metrics["eta_s"] = self.schedule.total_steps, eta_s
        log.info(
            "step %d/%d | loss %.4f | lr %.2e | %.0f tokens/s | %.0f MB | eta %s",
            step,
            self.schedule.total_steps,
            loss,
            self.lr,
            metrics["tokens_per_s"],
            metrics["memory_mb"],
            _duration(eta_s),
        )
        self.last_loss = loss
        if self.on_metrics is not None:
            self.on_metrics(metrics)
        self._reset(step)


def _current_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.memory_allocated() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"
