"""Resume from the newest checkpoint that reads back whole.

A training process killed while TensorFlow writes or syncs a checkpoint can leave the newest one unreadable
(a checksum mismatch, a missing shard). Resuming must then fall back to the previous checkpoint, not crash the
restarted run: losing a few hundred steps is the price, losing the run is not.
"""

import logging

import tensorflow as tf

_LOG = logging.getLogger(__name__)

# Reading errors (checksum, missing or short shard). A shape mismatch (another config) is a ValueError and
# still fails loudly.
_UNREADABLE = tf.errors.OpError


def restore_latest_intact(checkpoint: tf.train.Checkpoint, manager: tf.train.CheckpointManager):
  """Restores the newest readable checkpoint of `manager`, newest first; returns its path, or None if none is."""
  for path in reversed(manager.checkpoints):
    try:
      checkpoint.restore(path)
    except _UNREADABLE as error:
      _LOG.warning('Checkpoint %s does not read back (%s); trying the one before it',
                   path, str(error).splitlines()[0][:200])
      print(f'checkpoint {path} is unreadable ({type(error).__name__}); resuming from the one before it', flush=True)
      continue
    return path
  return None
