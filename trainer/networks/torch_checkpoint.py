"""A reader for PyTorch checkpoints in torch's legacy serialization, without torch.

The legacy format (torch < 1.6, or `torch.save(..., _use_new_zipfile_serialization=False)`): pickle(magic)
pickle(protocol) pickle(sys_info) pickle(object) pickle(storage keys), then per key an int64 element count and that
storage's raw bytes. Tensors reach their storages through persistent ids. A restricted unpickler maps torch's
objects onto local stand-ins and refuses every other global, so no code from the file runs.
"""

import io
import pickle
import zipfile

import numpy as np
import tensorflow as tf

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    'DoubleStorage': '<f8', 'FloatStorage': '<f4', 'HalfStorage': '<f2', 'LongStorage': '<i8',
    'IntStorage': '<i4', 'ShortStorage': '<i2', 'CharStorage': 'i1', 'ByteStorage': 'u1', 'BoolStorage': '?',
}


class CheckpointFormatError(ValueError):
  """The file is not a legacy torch state_dict of plain tensors."""


class _StorageType:
  """Stand-in for `torch.FloatStorage` etc.: only its numpy dtype matters."""

  def __init__(self, name):
    self.name = name
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
  """A (possibly offset) view on one serialized storage, resolved after the storage bytes are read."""

  def __init__(self, key, dtype, offset, numel):
    self.key, self.dtype, self.offset, self.numel = key, dtype, offset, numel


class _TensorRef:
  """What `_rebuild_tensor_v2` would have built, kept lazy until storages are read."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
  del requires_grad, backward_hooks, metadata  # Irrelevant to the values.
  return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  del requires_grad, backward_hooks
  return data


class _OrderedDict(dict):
  """Stand-in for collections.OrderedDict that also takes the `_metadata` attribute torch attaches."""


class _LegacyUnpickler(pickle.Unpickler):
  """Unpickles torch objects into local stand-ins; refuses every other global (no code runs from the file)."""

  def __init__(self, file, path):
    super().__init__(file)
    self._path = path
    self.storages = {}  # root key -> (dtype, numel)

  def find_class(self, module, name):
    if (module, name) == ('collections', 'OrderedDict'):
      return _OrderedDict
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return _rebuild_tensor_v2
    if (module, name) == ('torch._utils', '_rebuild_parameter'):
      return _rebuild_parameter
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise CheckpointFormatError(f'{self._path}: unsupported object {module}.{name} in the checkpoint pickle')

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == 'storage'):
      raise CheckpointFormatError(f'{self._path}: unsupported persistent id {pid!r:.80}')
    _, storage_type, key, _, numel, view = pid
    if not isinstance(storage_type, _StorageType):
      raise CheckpointFormatError(f'{self._path}: storage {key} has unknown type {storage_type!r:.80}')
    known = self.storages.setdefault(key, (storage_type.dtype, numel))
    if known != (storage_type.dtype, numel):
      raise CheckpointFormatError(f'{self._path}: storage {key} declared twice with different type or size')
    if view is None:
      return _StorageRef(key, storage_type.dtype, 0, numel)
    _, view_offset, view_numel = view
    return _StorageRef(key, storage_type.dtype, view_offset, view_numel)


def read_legacy_torch_state_dict(path):
  """Reads a legacy-format torch state_dict into {name: float/int numpy array}, without importing torch."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = f.read()
  if zipfile.is_zipfile(io.BytesIO(data)):
    raise CheckpointFormatError(
        f'{path}: zip-format torch checkpoint (torch>=1.6 default); only the legacy pickle format is supported. '
        'Re-save it with torch.save(state_dict, f, _use_new_zipfile_serialization=False).')
  f = io.BytesIO(data)
  try:
    magic = _LegacyUnpickler(f, path).load()  # Restricted unpickler throughout: no globals from the file run.
    if magic != _LEGACY_MAGIC:
      raise CheckpointFormatError(f'{path}: not a legacy torch checkpoint (bad magic number {magic!r:.40})')
    protocol = _LegacyUnpickler(f, path).load()
    if protocol != _LEGACY_PROTOCOL:
      raise CheckpointFormatError(f'{path}: unsupported legacy protocol version {protocol!r:.40}')
    sys_info = _LegacyUnpickler(f, path).load()
    if not sys_info.get('little_endian', False):
      raise CheckpointFormatError(f'{path}: big-endian checkpoint is not supported')
    unpickler = _LegacyUnpickler(f, path)
    state = unpickler.load()
    keys = _LegacyUnpickler(f, path).load()
  except CheckpointFormatError:
    raise
  except Exception as e:  # pickle raises many types on junk; name the file whatever it was.
    raise CheckpointFormatError(f'{path}: cannot parse as a legacy torch checkpoint: {e}') from e
  if not isinstance(state, dict):
    raise CheckpointFormatError(f'{path}: holds a {type(state).__name__}, not a state_dict')
  if not isinstance(keys, list) or sorted(keys) != sorted(unpickler.storages):
    raise CheckpointFormatError(f'{path}: storage key list does not match the storages the tensors use')

  buffers, pos = {}, f.tell()
  for key in keys:
    dtype, numel = unpickler.storages[key]
    if pos + 8 > len(data):
      raise CheckpointFormatError(f'{path}: truncated before storage {key}')
    count = int(np.frombuffer(data, '<i8', 1, pos)[0])
    nbytes = count * dtype.itemsize
    if count != numel or pos + 8 + nbytes > len(data):
      raise CheckpointFormatError(f'{path}: storage {key} has {count} elements, expected {numel} (or truncated)')
    buffers[key] = np.frombuffer(data, dtype, count, pos + 8)
    pos += 8 + nbytes
  if pos != len(data):
    raise CheckpointFormatError(f'{path}: {len(data) - pos} unexpected trailing bytes after the storages')

  arrays = {}
  for name, ref in state.items():
    if not isinstance(ref, _TensorRef):
      raise CheckpointFormatError(f'{path}: entry {name} is a {type(ref).__name__}, not a tensor')
    buf = buffers[ref.storage.key]
    itemsize = buf.dtype.itemsize
    try:
      view = np.ndarray(ref.size, buf.dtype, buf, (ref.storage.offset + ref.offset) * itemsize,
                        tuple(s * itemsize for s in ref.stride))
    except (TypeError, ValueError) as e:
      raise CheckpointFormatError(f'{path}: tensor {name} does not fit its storage: {e}') from e
    arrays[name] = np.array(view)  # Contiguous copy that owns its memory.
  return arrays
