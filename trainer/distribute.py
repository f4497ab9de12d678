"""Choosing the tf.distribute strategy from the environment, and multi-worker plumbing.

- TF_CONFIG (or Vertex AI's CLUSTER_SPEC, whose pools are named `workerpool0..3`) with several workers ->
  MultiWorkerMirroredStrategy (RING collectives on CPU), after waiting a bounded time for every peer.
- Otherwise MirroredStrategy over all local GPUs, or over N logical CPU devices when asked.
- Otherwise the default strategy.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any

import tensorflow as tf

from configs import definitions

_LOG = logging.getLogger(__name__)


class PeersUnavailableError(TimeoutError):
  """A multi-worker peer never came up within `training.worker_start_timeout_seconds`."""


def cluster_from_environment() -> dict[str, Any] | None:
  """TF_CONFIG as a dict, translating Vertex AI's CLUSTER_SPEC (`workerpool0` = chief, `workerpool1` = workers)."""
  if os.environ.get('TF_CONFIG'):
    return json.loads(os.environ['TF_CONFIG'])
  if os.environ.get('CLUSTER_SPEC'):
    spec = json.loads(os.environ['CLUSTER_SPEC'])
    cluster = spec.get('cluster', {})
    translated = {}
    if cluster.get('workerpool0'):
      translated['chief'] = cluster['workerpool0']
    if cluster.get('workerpool1'):
      translated['worker'] = cluster['workerpool1']
    task = spec.get('task', {})
    task_type = {'workerpool0': 'chief', 'workerpool1': 'worker'}.get(task.get('type'), task.get('type'))
    tf_config = {'cluster': translated, 'task': {'type': task_type, 'index': task.get('index', 0)}}
    os.environ['TF_CONFIG'] = json.dumps(tf_config)  # what MultiWorkerMirroredStrategy reads
    return tf_config
  return None


def _worker_count(tf_config: dict[str, Any] | None) -> int:
  if not tf_config:
    return 0
  return sum(len(v) for k, v in tf_config.get('cluster', {}).items() if k in ('chief', 'worker', 'master'))


def is_chief(tf_config: dict[str, Any] | None) -> bool:
  """The chief (or, with no chief, worker 0) writes the final model and the summaries."""
  if not tf_config:
    return True
  task = tf_config.get('task', {})
  has_chief = bool(tf_config.get('cluster', {}).get('chief') or tf_config.get('cluster', {}).get('master'))
  if task.get('type') in ('chief', 'master'):
    return True
  return not has_chief and task.get('type') == 'worker' and int(task.get('index', 0)) == 0


def wait_for_peers(tf_config: dict[str, Any], timeout_seconds: float) -> None:
  """Blocks until every other task's address accepts TCP connections, or raises PeersUnavailableError.

  TensorFlow waits forever for a missing peer at the first collective (its collective timeout does not cover
  cluster start-up), so we check reachability ourselves first.
  """
  task = tf_config.get('task', {})
  own = tf_config['cluster'].get(task.get('type'), [])[int(task.get('index', 0))]
  peers = [address for addresses in tf_config['cluster'].values() for address in addresses if address != own]
  deadline = time.monotonic() + timeout_seconds
  pending = list(peers)
  while pending:
    address = pending[0]
    host, port = address.rsplit(':', 1)
    try:
      with socket.create_connection((host, int(port)), timeout=2):
        pending.pop(0)
    except OSError:
      if time.monotonic() > deadline:
        raise PeersUnavailableError(
            f'workers {pending} did not come up within {timeout_seconds:.0f} s '
            f'(training.worker_start_timeout_seconds); giving up instead of waiting forever') from None
      time.sleep(0.5)


def choose_strategy(training: definitions.TrainingConfig) -> tf.distribute.Strategy:
  """The strategy for this process; call before any other TensorFlow op."""
  tf_config = cluster_from_environment()
  wanted = training.strategy
  if wanted in ('auto', 'multi_worker') and _worker_count(tf_config) > 1:
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    wait_for_peers(tf_config, training.worker_start_timeout_seconds)
    _LOG.info('MultiWorkerMirroredStrategy: %d replicas', strategy.num_replicas_in_sync)
    return strategy
  if wanted == 'multi_worker':
    raise ValueError('training.strategy=multi_worker but TF_CONFIG/CLUSTER_SPEC lists fewer than 2 workers')
  if training.cpu_devices > 1 and not tf.config.list_physical_devices('GPU'):
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * training.cpu_devices)
    devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)
  gpus = tf.config.list_physical_devices('GPU')
  if wanted == 'mirrored' or (wanted == 'auto' and len(gpus) > 1):
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()
