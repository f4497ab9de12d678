"""What a training run will do, fixed before any variable exists: the dataset, the batch, the number of steps."""

from __future__ import annotations

import dataclasses
import logging

from trainer.input import data as data_lib
from trainer.input import hue_sampling
from trainer.loop import distribute

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class RunPlan:
  """The run's dataset and its budget in steps and seconds."""
  info: data_lib.DatasetInfo
  global_batch: int
  replicas: int
  steps_per_epoch: int
  total_steps: int
  time_budget_seconds: float | None
  repeat_plan: hue_sampling.Plan | None
  chief: bool
  tf_config: dict | None

  @property
  def eval_files(self) -> list[str]:
    return self.info.files.get('eval') or []

  @property
  def has_eval(self) -> bool:
    return bool(self.eval_files and self.info.examples.get('eval'))


def plan_run(config, strategy, dataset_path: str, max_steps: int | None,
             time_budget_seconds: float | None) -> RunPlan:
  """Reads the dataset's manifest and the config into a `RunPlan`; rejects a time budget across workers."""
  tf_config = distribute.cluster_from_environment()
  training, model_config = config.training, config.model
  time_budget_seconds = time_budget_seconds or training.time_budget_seconds or None
  if time_budget_seconds and distribute.worker_count(tf_config) > 1:
    raise ValueError(f'training.time_budget_seconds={time_budget_seconds}: a time budget is for single-worker '
                     'runs (each worker would stop at a different step); set 0 and use training.epochs')
  info = data_lib.dataset_info(dataset_path)
  if info.embedding_size and (model_config.network.variant != 'fusion' or info.embedding_name != model_config.network.embedder):
    _LOG.warning('Ignoring the records\' precomputed %s embeddings (model: %s/%s)', info.embedding_name,
                 model_config.network.variant, model_config.network.embedder)
    info = dataclasses.replace(info, embedding_size=0)
  replicas = strategy.num_replicas_in_sync
  global_batch = training.batch_size_per_replica * replicas
  repeat_plan = None if training.synthetic_input else data_lib.training_repeat_plan(info, training)
  passes = repeat_plan.mean_factor if repeat_plan else 1.0  # an epoch is a pass over the resampled photos
  steps_per_epoch = max(1, int(info.examples.get('train', 0) * passes) // global_batch)
  total_steps = training.epochs * steps_per_epoch if max_steps is None else max_steps
  return RunPlan(info, global_batch, replicas, steps_per_epoch, total_steps, time_budget_seconds, repeat_plan,
                 distribute.is_chief(tf_config), tf_config)
