"""The eval split during training: its mean loss at each epoch end, and a fixed batch of samples to picture."""

from __future__ import annotations

from trainer.input import data as data_lib
from trainer.loop import plan as plan_lib


class Validation:
  """The eval split's batches, loss and sample batch (all None-safe for a dataset without an eval split)."""

  def __init__(self, plan: plan_lib.RunPlan, eval_loss):
    self._plan, self._eval_loss = plan, eval_loss
    self.available = plan.has_eval
    self.sample_batch = next(iter(self.batches(4))) if self.available else None

  def batches(self, batch_size: int | None = None):
    """The eval split, in order, unaugmented."""
    info = self._plan.info
    return data_lib.make_dataset(self._plan.eval_files, info.image_size, batch_size or self._plan.global_batch,
                                 training=False, embedding_size=info.embedding_size)

  def loss(self) -> float | None:
    """The mean loss over the eval split (None without one)."""
    if not self.available:
      return None
    total, count = 0.0, 0.0
    for features, targets in self.batches():
      batch_total, batch_count = self._eval_loss(features, targets)
      total, count = total + float(batch_total), count + float(batch_count)
    return total / max(count, 1.0)
