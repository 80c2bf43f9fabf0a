"""safetensors and .npy helpers for tests/test_parity_io.cpp, written with only struct, json and
numpy (Debian has no safetensors package), so they are an independent reading of the format.

st_write(path, tensors, metadata): tensors is {name: torch tensor} (any of F32, F64, F16, BF16,
I64, I32, U8, BOOL); entries are laid out in the dict's order (not sorted, unlike seqnn's writer).
st_read(path) -> (tensors, metadata, header_length).
"""
import json
import struct

import numpy as np
import torch

ST_NAME = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}
NP_OF = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
         "U8": np.uint8, "BOOL": np.bool_}


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def st_write(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        b = raw_bytes(t)
        header[name] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def st_read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            arr = np.frombuffer(body[b:end], dtype=np.int16).copy()
            t = torch.from_numpy(arr).view(torch.bfloat16)
        else:
            arr = np.frombuffer(body[b:end], dtype=np.dtype(NP_OF[e["dtype"]]).newbyteorder("<")).copy()
            t = torch.from_numpy(arr)
        out[name] = t.reshape(e["shape"])
    return out, meta, n


def widened(t):
    """What the oracle should return for comparison: float64 for floats, int64 for ints."""
    if t.dtype.is_floating_point:
        return t.double()
    if t.dtype == torch.bool:
        return t
    return t.to(torch.int64)
