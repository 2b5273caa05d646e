#!/usr/bin/env python3
"""Minimal safetensors reader/writer (the `safetensors` package is not available here).

Format: 8-byte little-endian header length N, then N bytes of UTF-8 JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
padded with spaces to a multiple of 8, then the raw little-endian tensor bytes;
offsets are relative to the start of the data section.  Tensors are written in
sorted name order, contiguous, without gaps, as the reference implementation does.

    /usr/bin/python3 tools/train/safetensors_io.py --selftest
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
_TORCH = {v: k for k, v in _DTYPES.items()}
_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _to_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    if sys.byteorder != "little":
        arr = arr.byteswap()
    return arr.tobytes()


def save_file(tensors, path, metadata=None):
    """Write {name: tensor} to `path` atomically (tmp file + rename)."""
    header, offset, names = {}, 0, sorted(tensors)
    for name in names:
        t = tensors[name]
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        n = t.numel() * _SIZE[_DTYPES[t.dtype]]
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # align the data section to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in names:
            f.write(_to_bytes(tensors[name]))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_file(path):
    """Return ({name: tensor}, metadata dict); validates offsets and sizes."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    base, tensors, end_max = 8 + n, {}, 0
    for name, info in header.items():
        dtype = info["dtype"]
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if end - begin != count * _SIZE[dtype] or base + end > len(data):
            raise ValueError(f"{name}: bad data_offsets {info['data_offsets']}")
        raw = data[base + begin:base + end]
        if dtype == "BF16":
            arr = np.frombuffer(raw, dtype="<i2").copy()
            t = torch.from_numpy(arr).view(torch.bfloat16)
        else:
            np_dtype = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                        "I8": "i1", "U8": "u1", "BOOL": "?"}[dtype]
            t = torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).copy())
        tensors[name] = t.reshape(info["shape"])
        end_max = max(end_max, end)
    if base + end_max != len(data):
        raise ValueError("trailing bytes after the last tensor")
    return tensors, metadata


def selftest():
    import tempfile
    torch.manual_seed(0)
    tensors = {
        "b.weight": torch.randn(3, 4, 5),
        "a.bias": torch.randn(7).half(),
        "c.bf": torch.randn(2, 3).bfloat16(),
        "d.int": torch.arange(10, dtype=torch.int64).reshape(2, 5),
        "e.u8": torch.randint(0, 255, (9,), dtype=torch.uint8),
        "f.scalar": torch.tensor(3.5),
    }
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.safetensors")
        save_file(tensors, p, {"format": "pt", "note": "tessera"})
        back, meta = load_file(p)
        with open(p, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            hdr = json.loads(f.read(n))
    assert meta == {"format": "pt", "note": "tessera"}, meta
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k
    assert n % 8 == 0
    order = sorted(k for k in hdr if k != "__metadata__")
    assert [hdr[k]["data_offsets"][0] for k in order] == sorted(hdr[k]["data_offsets"][0] for k in order)
    assert hdr["a.bias"]["data_offsets"] == [0, 14] and hdr["a.bias"]["dtype"] == "F16"
    print(f"safetensors round trip OK ({len(tensors)} tensors, header {n} bytes)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--dump", metavar="FILE", help="print the tensors and metadata of a .safetensors file")
    args = ap.parse_args()
    if args.selftest:
        selftest()
    elif args.dump:
        ts, md = load_file(args.dump)
        print(json.dumps(md, indent=1))
        for k, v in ts.items():
            print(f"{k:60s} {str(v.dtype):15s} {tuple(v.shape)}")
    else:
        ap.print_help()
