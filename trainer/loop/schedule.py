"""What changes over a training run: the learning rate, the frozen-encoder phase, and the numeric precision.

Progress is a fraction of the run: steps / total steps, or elapsed / budget for time-budgeted runs (benchmarks),
whichever is further, so the same schedule serves both.
"""

from __future__ import annotations

import math

import tensorflow as tf

from configs import definitions


def learning_rate(training: definitions.TrainingConfig, progress: float) -> float:
  """Linear warm-up over `warmup_fraction` of the run, then constant or cosine decay to 0 at progress 1.

  With a weight-averaging rate (`weight_averaging_learning_rate` > 0 and a `weight_averaging_fraction`), SWA's
  schedule (torch's SWALR): the decay ends at that rate where the averaging window starts, and the rate holds
  there through the window, so the snapshots that are averaged spread over the region the run has reached
  instead of all sitting where a decay to 0 stops."""
  progress = min(max(progress, 0.0), 1.0)
  warmup = training.schedule.warmup_fraction
  if warmup > 0 and progress < warmup:
    return training.optimizer.learning_rate * progress / warmup
  floor, end = 0.0, 1.0
  if training.averaging.learning_rate > 0 and training.averaging.fraction > 0:
    floor, end = training.averaging.learning_rate, max(1.0 - training.averaging.fraction, warmup)
    if progress >= end:
      return floor
  if training.schedule.decay == 'constant':
    return training.optimizer.learning_rate
  span = max(end - warmup, 1e-9)
  return floor + (training.optimizer.learning_rate - floor) * 0.5 * (1.0 + math.cos(math.pi * (progress - warmup) / span))


def encoder_frozen(training: definitions.TrainingConfig, progress: float) -> bool:
  """True during the first phase, when only the decoder of the pretrained-encoder model learns."""
  return progress < training.schedule.frozen_encoder_fraction


def cpu_has_native_bf16() -> bool:
  """AVX512_BF16 or AMX on this CPU (Linux)."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      flags = next((line for line in f if line.startswith('flags')), '')
  except OSError:
    return False
  return any(flag in flags.split() for flag in ('avx512_bf16', 'amx_bf16'))


def decoder_conv_policy(training: definitions.TrainingConfig) -> str | None:
  """The dtype policy of the unet decoder's 3x3 convolutions: `mixed_bfloat16` under
  `training.precision=bfloat16_decoder`, else None (the global policy). On CPUs with AVX512_BF16, TensorFlow's
  dense convolutions run faster in bfloat16 while its depthwise convolutions and batch norm run slower
  (`benchmarks/bench_training_speed.py`), so only the decoder's dense convolutions change precision."""
  return 'mixed_bfloat16' if training.precision == 'bfloat16_decoder' else None


def resolve_precision(training: definitions.TrainingConfig) -> str:
  """The Keras mixed-precision policy name for `training.precision`; `auto` follows the measurements.

  `auto`: on GPUs, mixed_bfloat16 from compute capability 8.0 (Ampere: bf16 tensor cores, no loss scaling),
  mixed_float16 on 7.x (Volta/Turing tensor cores, with loss scaling), float32 before. On CPUs float32, even
  with AVX512_BF16: TensorFlow's CPU kernels for this model's depthwise convolutions and resizes have no fast
  bf16 path, so a bf16 unet step is slower than float32 there (docs/benchmarks.md, training throughput).
  """
  if training.precision == 'bfloat16_decoder':
    return 'float32'  # only the unet decoder's convolutions compute in bfloat16: `decoder_conv_policy`
  if training.precision != 'auto':
    return training.precision
  gpus = tf.config.list_physical_devices('GPU')
  if not gpus:
    return 'float32'
  capability = min(tuple(tf.config.experimental.get_device_details(g).get('compute_capability', (0, 0)))
                   for g in gpus)
  if capability >= (8, 0):
    return 'mixed_bfloat16'
  return 'mixed_float16' if capability >= (7, 0) else 'float32'
