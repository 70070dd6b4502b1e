#!/usr/bin/env python3
"""Converts float32 tensors of a safetensors file into a PyTorch `torch.save` file (.pth),
without PyTorch: the zip archive of a pickled OrderedDict of tensors that `torch.load` reads.

usage: safetensors-to-pth.py IN.safetensors OUT.pth [PREFIX]

Only tensors whose names start with PREFIX are written (all by default). Used to make the .pth
fixture of the import test (tests/fixtures/torch/); standard library only.
"""
import collections
import json
import pickle
import struct
import sys
import types
import zipfile

# Stand-ins with torch's qualified names, so that the pickle refers to torch's real functions.
_torch = types.ModuleType("torch")
_utils = types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*args):  # never called here; only its name is pickled
    raise NotImplementedError


_rebuild_tensor_v2.__module__ = "torch._utils"
_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"
_torch.FloatStorage = FloatStorage
_torch._utils = _utils
sys.modules.setdefault("torch", _torch)
sys.modules.setdefault("torch._utils", _utils)


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, key, shape):
        self.key, self.shape = key, shape

    def __reduce__(self):
        numel = 1
        for d in self.shape:
            numel *= d
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return (_rebuild_tensor_v2, (Storage(self.key, numel), 0, tuple(self.shape), tuple(stride),
                                     False, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"{name}: only F32 tensors are converted, not {info['dtype']}")
        start, end = info["data_offsets"]
        yield name, info["shape"], body[start:end]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) == 4 else ""
    state = collections.OrderedDict()
    blobs = []
    for name, shape, data in read_safetensors(src):
        if name.startswith(prefix):
            key = str(len(blobs))
            state[name] = Tensor(key, shape)
            blobs.append((key, data))
    buf = __import__("io").BytesIO()
    Pickler(buf, protocol=2).dump(state)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/version", "3\n")
        for key, data in blobs:
            z.writestr(f"archive/data/{key}", data)
    print(f"wrote {len(blobs)} tensors to {out}")


if __name__ == "__main__":
    main()
