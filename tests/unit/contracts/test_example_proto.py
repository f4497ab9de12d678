"""The TF-free Example serializer writes exactly TensorFlow's (deterministic) bytes."""

import numpy as np
import tensorflow as tf

from contracts import example_proto
from contracts import schema


def _tf_example(features):
  feature = {}
  for key, value in features.items():
    if isinstance(value, example_proto.BytesFeature):
      feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=list(value)))
    elif isinstance(value, example_proto.Int64Feature):
      feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=list(value)))
    else:
      feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=list(value)))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def test_bytes_equal_tensorflow_deterministic_serialization():
  rng = np.random.default_rng(0)
  features = {
      'lab': example_proto.bytes_feature([rng.bytes(200_000)]),
      'empty': example_proto.bytes_feature([b'']),
      'none': example_proto.bytes_feature([]),
      'several': example_proto.bytes_feature([b'a', b'', b'xyz' * 100]),
      'height': example_proto.int64_feature([256]),
      'ints': example_proto.int64_feature([0, 1, 127, 128, 300, 2 ** 40, -1, -(2 ** 63), 2 ** 63 - 1]),
      'no_ints': example_proto.int64_feature([]),
      'floats': example_proto.float_feature(rng.standard_normal(1280).astype(np.float32).tolist()),
      'no_floats': example_proto.float_feature([]),
      'uri/ünïcode': example_proto.bytes_feature(['gs://b/ü.jpg'.encode('utf-8')]),
  }
  ours = example_proto.serialize_example(features)
  assert ours == _tf_example(features).SerializeToString(deterministic=True)
  assert tf.train.Example.FromString(ours) == _tf_example(features)


def test_schema_records_parse_with_tensorflow():
  planes = np.random.default_rng(1).integers(0, 256, (3, 8, 8), dtype=np.uint8)
  serialized = schema.encode_example(planes, None, source_uri='a.jpg', content_hash='f' * 64, augmentation_id=2,
                                     augmentation_seed=-5, embedding=np.arange(4, dtype=np.float32))
  decoded = schema.decode_example_numpy(serialized)
  np.testing.assert_array_equal(decoded[schema.LAB], np.stack(schema.dequantize_lab(planes.astype(np.float32)), -1))
  assert decoded[schema.AUGMENTATION_SEED] == -5 and decoded[schema.AUGMENTATION_ID] == 2
  np.testing.assert_array_equal(decoded[schema.EMBEDDING], np.arange(4, dtype=np.float32))
