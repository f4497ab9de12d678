"""Resuming skips a checkpoint that does not read back (a kill during its write) and restores the one before."""

import glob

import tensorflow as tf

from trainer.loop import checkpoints


def _manager(tmp_path, value):
  variable = tf.Variable(value)
  checkpoint = tf.train.Checkpoint(v=variable)
  return variable, checkpoint, tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=3)


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
  variable, _, manager = _manager(tmp_path, 1.0)
  manager.save()
  variable.assign(2.0)
  newest = manager.save()
  (data,) = glob.glob(newest + '.data-*')
  with open(data, 'r+b') as f:  # flip the stored bytes: the checksum no longer matches
    raw = bytearray(f.read())
    f.seek(0)
    f.write(bytes(b ^ 0xFF for b in raw))

  restored, checkpoint, manager = _manager(tmp_path, 0.0)
  path = checkpoints.restore_latest_intact(checkpoint, manager)
  assert path == manager.checkpoints[0] and path != newest
  assert restored.numpy() == 1.0


def test_the_newest_readable_checkpoint_is_restored(tmp_path):
  variable, _, manager = _manager(tmp_path, 1.0)
  manager.save()
  variable.assign(3.0)
  newest = manager.save()
  restored, checkpoint, manager = _manager(tmp_path, 0.0)
  assert checkpoints.restore_latest_intact(checkpoint, manager) == newest and restored.numpy() == 3.0
  empty = tmp_path / 'none'
  _, checkpoint, manager = _manager(empty, 0.0)
  assert checkpoints.restore_latest_intact(checkpoint, manager) is None
