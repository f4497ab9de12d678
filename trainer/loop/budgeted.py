"""The loop: run steps until the planned count or the time budget, with the learning-rate schedule, the frozen
encoder phase, weight-averaging snapshots, checkpoints, and an epoch-end report (validation loss, summaries).

Fault tolerance: a checkpoint every `training.checkpoint_every_steps` steps and at each epoch end; a process
started again with the same arguments resumes from the newest readable one (`trainer.loop.state`).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from trainer.loop import plan as plan_lib
from trainer.loop import schedule
from trainer.loop import state as state_lib
from trainer.loop import steps as steps_lib
from trainer.loop import validation as validation_lib
from trainer import scaling

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class LoopResult:
  history: dict[str, list[float]]  # per epoch end: step, mean training loss, validation loss
  examples_per_second: float       # training steps only, after the first two (tracing)


class _Clock:
  """The run's progress in [0, 1]: the larger of steps done and time budget spent."""

  def __init__(self, plan: plan_lib.RunPlan):
    self.total_steps, self.budget = plan.total_steps, plan.time_budget_seconds
    self.start = time.perf_counter()

  def elapsed(self) -> float:
    return time.perf_counter() - self.start

  def progress(self, step: float) -> float:
    return max(step / self.total_steps, self.elapsed() / self.budget if self.budget else 0.0)

  def stop_if_over_budget(self, step: int) -> None:
    if self.budget and self.elapsed() > self.budget:
      self.total_steps = step + 1  # one more step, then the end-of-training evaluation and export


def _set_rates(config, state: state_lib.TrainState, progress: float) -> tuple[float, bool]:
  """Applies the schedule's learning rates; returns the rate and whether the encoder trains in this step."""
  training = config.training
  rate = schedule.learning_rate(training, progress)
  state.optimizer.learning_rate = rate
  if state.encoder_optimizer is not None:
    state.encoder_optimizer.learning_rate = rate * training.optimizer.encoder_learning_rate_multiplier
  return rate, bool(state.net.encoder_variables) and not schedule.encoder_frozen(training, progress)


def _report_epoch(state, objective, steps, validation, writer, history, current: int, total_steps: int,
                  mean_loss: float, rate: float, train_encoder: bool) -> None:
  """Validation loss, summaries and sample colorizations, the progress line."""
  val = validation.loss()
  history['step'].append(current)
  history['loss'].append(mean_loss)
  history['val_loss'].append(val if val is not None else float('nan'))
  writer.scalars(current, loss=mean_loss, val_loss=val, learning_rate=rate)
  if validation.sample_batch is not None:
    features, targets = validation.sample_batch
    predicted = objective.output_to_ab(state.net.colorizer(steps.embed(features), training=False))
    writer.colorizations(current, features['l'], scaling.scale_ab(predicted), targets['ab'])
  frozen = state.net.encoder_variables and not train_encoder
  message = (f'step {current}/{total_steps}  loss {mean_loss:.5f}  val_loss '
             f'{"n/a" if val is None else f"{val:.5f}"}  lr {rate:.2e}{"  (encoder frozen)" if frozen else ""}')
  _LOG.info(message)
  print(message, flush=True)


def run_loop(config, plan: plan_lib.RunPlan, state: state_lib.TrainState, objective,
             steps: steps_lib.StepFunctions, validation: validation_lib.Validation, writer) -> LoopResult:
  """Trains from `state.step` to the plan's end (or its time budget)."""
  clock = _Clock(plan)
  history: dict[str, list[float]] = {'step': [], 'loss': [], 'val_loss': []}
  running, count, step_seconds = 0.0, 0, []
  while int(state.step.numpy()) < clock.total_steps:
    clock.stop_if_over_budget(int(state.step.numpy()))
    # The step about to run sits at the middle of its slice of the run (a 1-step run still learns).
    rate, train_encoder = _set_rates(config, state, clock.progress(int(state.step.numpy()) + 0.5))
    started = time.perf_counter()
    loss = float(steps.train_step[train_encoder]())
    step_seconds.append(time.perf_counter() - started)
    running, count = running + loss, count + 1
    current = int(state.step.numpy())
    epoch_end = current % plan.steps_per_epoch == 0
    last = current == clock.total_steps
    if state.averaging.is_due(current, clock.progress(current), epoch_end=epoch_end, last_step=last):
      state.averaging.add_snapshot(current)
    if current % config.training.checkpoint_every_steps == 0:
      state.manager.save(checkpoint_number=current)
    if epoch_end or last:
      _report_epoch(state, objective, steps, validation, writer, history, current, clock.total_steps,
                    running / count, rate, train_encoder)
      state.manager.save(checkpoint_number=current)
      running, count = 0.0, 0
  steady = step_seconds[2:] or step_seconds  # the first steps trace and compile the step function
  return LoopResult(history, len(steady) * plan.global_batch / max(sum(steady), 1e-9))
