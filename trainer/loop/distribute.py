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
import subprocess
import sys
from typing import Any

import tensorflow as tf

from configs import definitions

_LOG = logging.getLogger(__name__)


_WATCHDOG = """
import os, select, signal, sys
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], timeout)[0]:
  sys.stderr.write(message + '\\n')
  sys.stderr.flush()
  os.kill(parent, signal.SIGKILL)
"""


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


def worker_count(tf_config: dict[str, Any] | None) -> int:
  """Workers (chief included) that TF_CONFIG's cluster lists; 0 without a cluster."""
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


def _create_multi_worker_strategy(timeout_seconds: float) -> tf.distribute.Strategy:
  """MultiWorkerMirroredStrategy, or the process ends with a clear error if the cluster does not assemble in time.

  Creating the strategy blocks until every worker has started, inside TensorFlow's C++ runtime and holding the
  GIL, and the collective timeout does not cover that wait: a worker whose peer never starts would hang forever,
  and no Python thread or signal handler could interrupt it. A tiny watchdog process does: unless this process
  tells it the cluster is up within `timeout_seconds`, it prints the reason and kills this process (SIGKILL).
  """
  cluster = json.loads(os.environ['TF_CONFIG'])['cluster']
  message = (f'ERROR: multi-worker training gave up: the cluster {cluster} did not come up within '
             f'{timeout_seconds:.0f} s (training.worker_start_timeout_seconds); a peer never started or is '
             'unreachable.')
  watchdog = subprocess.Popen([sys.executable, '-c', _WATCHDOG, str(os.getpid()), str(timeout_seconds), message],
                              stdin=subprocess.PIPE)
  try:
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
  finally:
    watchdog.stdin.close()  # the cluster is up (or creation failed with an exception): stand the watchdog down
    watchdog.wait()


def choose_strategy(training: definitions.TrainingConfig) -> tf.distribute.Strategy:
  """The strategy for this process; call before any other TensorFlow op."""
  tf_config = cluster_from_environment()
  wanted = training.strategy
  if wanted in ('auto', 'multi_worker') and worker_count(tf_config) > 1:
    strategy = _create_multi_worker_strategy(training.worker_start_timeout_seconds)
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
