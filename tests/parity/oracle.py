"""PyTorch oracle for seqnn's parity tests (see tests/common/torch_oracle.h).

Usage: /usr/bin/python3 oracle.py request.json response.json
Each case: {"code": str, "args": obj, "inputs": {name: tensor}, "grad_outs": [tensor]}.
The code runs with the inputs bound to their names and must set `out` (a tensor or a
tuple/list of tensors); it may fill the dict `extra`. When grad_outs are given (or `out` is a
scalar), backward runs and the gradients of inputs that require grad come back.
"""
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
DT = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "bool": torch.bool}
NAME = {v: k for k, v in DT.items()}


def num(v):
    if isinstance(v, str):
        return float(v)
    return v


def to_tensor(j):
    dt = DT[j["dtype"]]
    data = [num(v) for v in j["data"]]
    t = torch.tensor(data, dtype=torch.float64 if dt.is_floating_point else dt)
    t = t.to(dt).reshape(j["shape"])
    if j.get("requires_grad"):
        t.requires_grad_(True)
    return t


def enc(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def from_tensor(t):
    t = t.detach()
    if t.dtype.is_floating_point:
        data = [enc(float(v)) for v in t.double().reshape(-1).tolist()]
    else:
        data = t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": NAME.get(t.dtype, "float64"), "data": data}


def run_case(case):
    inputs = {k: to_tensor(v) for k, v in case["inputs"].items()}
    ns = {"torch": torch, "F": F, "nn": nn, "math": math, "args": case.get("args", {}), "extra": {}}
    ns.update(inputs)
    state = [(k, to_tensor(v)) for k, v in case.get("state", [])]

    def load_state(m):
        """Loads the case's state into torch module m strictly; the key order must match too."""
        m.load_state_dict(dict(state), strict=True)
        keys = [k for k, _ in state]
        assert list(m.state_dict().keys()) == keys, (list(m.state_dict().keys()), keys)
        return m

    ns["load_state"] = load_state
    exec(case["code"], ns)
    out = ns["out"]
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    grads = {}
    want = [k for k, t in inputs.items() if t.requires_grad]
    gouts = [to_tensor(g) for g in case.get("grad_outs", [])]
    if want and (gouts or (len(outs) == 1 and outs[0].numel() == 1 and outs[0].requires_grad)):
        pairs = [(o, g) for o, g in zip(outs, gouts) if o.requires_grad] if gouts else [(outs[0], None)]
        torch.autograd.backward([p[0] for p in pairs], [p[1] for p in pairs] if gouts else None)
        grads = {k: (from_tensor(inputs[k].grad) if inputs[k].grad is not None else None) for k in want}
    return {
        "outs": [from_tensor(o) for o in outs],
        "grads": grads,
        "extra": {k: from_tensor(v) for k, v in ns["extra"].items()},
    }


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    res = [run_case(c) for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
