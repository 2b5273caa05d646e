"""Reads a tessera .tsr package (docs/FORMAT.md) into (metadata dict, {name: torch tensor}).

For tools that must run PyTorch on exactly the weights a package holds (the generation
benchmark). Checks the magic, version and sizes; the C++ loader is the strict reader.
"""
import json
import struct

import numpy as np
import torch

MAGIC = b"\x89TSR\r\n\x1a\n"


def read_tsr(path):
    data = open(path, "rb").read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: not a .tsr package")
    version, header_size, file_size, count = struct.unpack_from("<IIQI", data, 8)
    if version != 1 or file_size != len(data) or count != 3:
        raise ValueError(f"{path}: unsupported or truncated package")
    table = struct.unpack_from("<Q", data, 32)[0]
    sections = {}
    for i in range(3):
        kind, _, off, size = struct.unpack_from("<IIQQ", data, table + 32 * i)
        sections[kind] = (off, size)
    moff, msize = sections[1]
    meta = json.loads(data[moff:moff + msize].decode("utf-8"))
    ioff, _ = sections[2]
    doff, _ = sections[3]
    n, _, names_size = struct.unpack_from("<IIQ", data, ioff)
    names_at = ioff + 16 + 48 * n
    tensors = {}
    for i in range(n):
        e = ioff + 16 + 48 * i
        name_off, name_len, dtype, rank = struct.unpack_from("<IHBB", data, e)
        dims = struct.unpack_from("<4I", data, e + 8)[:rank]
        off, nbytes = struct.unpack_from("<QQ", data, e + 24)
        name = data[names_at + name_off:names_at + name_off + name_len].decode("ascii")
        np_dtype = np.float32 if dtype == 1 else np.float16
        a = np.frombuffer(data, dtype=np_dtype, count=nbytes // np.dtype(np_dtype).itemsize, offset=doff + off)
        tensors[name] = torch.from_numpy(a.astype(np.float32).reshape(dims))
    return meta, tensors
