"""The training input: Lab TFRecords to tf.data batches (augmentation, repeat-factor sampling by hue)."""
