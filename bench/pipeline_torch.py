#!/usr/bin/env python3
"""PyTorch 1.13 twins of `seqnn train --config configs/fashion_rows_lstm.json` (--model rows) and
configs/fashion_patches_vit.json (--model vit), for the per-epoch time ratio (bench/README.md,
"Training pipeline").

The same model as seqnn's SequenceClassifier with that config: each image is 28 rows of 28
pixels / 255; Linear(28, 64) projection, a 1-layer unidirectional LSTM(64, 128), the last state,
Linear(128, 10); Adam(lr 1e-3), batch 128, no clipping, no dropout, no schedule; train = the
first 55000 images of the training file (the last 5000 are validation), test = t10k.
PyTorch runs with its default threads (--threads N: torch.set_num_threads(N)). Prints one line
per epoch and a JSON summary (parameters, epoch_seconds, test.accuracy). epoch_seconds times the
training loop alone (batches, forward, loss, backward, Adam step, loss.item()), as seqnn's
metrics.jsonl "train_seconds": the shuffle before it and the validation pass after it are not
counted.

--model vit: 49 patches of 4x4 pixels; Linear(16, 64), a learned position table (N(0,1), as
seqnn's), nn.TransformerEncoder(2 layers, d 64, 4 heads, FF 128, gelu, no dropout, post-norm;
--norm-first for pre-norm with a final LayerNorm), the mean over patches, Linear(64, 10).
configs/fashion_patches_vit.json is pre-norm with Adam 2e-3: its twin is --norm-first --lr 0.002.

  /usr/bin/python3 bench/pipeline_torch.py --epochs 3
  /usr/bin/python3 bench/pipeline_torch.py --model vit --norm-first --lr 0.002 --epochs 3
"""
import argparse
import gzip
import json
import time

import numpy as np
import torch
import torch.nn as nn

DIR = "/usr/share/datasets/fashion-mnist"


def load(prefix):
    with gzip.open(f"{DIR}/{prefix}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(f"{DIR}/{prefix}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


class RowLSTM(nn.Module):
    def __init__(self, embedding_dim=64, hidden=128, classes=10):
        super().__init__()
        self.projection = nn.Linear(28, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):  # (B, 28, 28)
        out, _ = self.lstm(self.projection(x))
        return self.head(out[:, -1])


class PatchViT(nn.Module):
    def __init__(self, d=64, heads=4, layers=2, ff=128, norm_first=False, classes=10):
        super().__init__()
        self.projection = nn.Linear(16, d)
        self.pos = nn.Parameter(torch.randn(512, d))
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d) if norm_first else None)
        self.head = nn.Linear(d, classes)

    def forward(self, x):  # (B, 28, 28) -> (B, 49, 16): patch (pr, pc), pixel (i, j) at [pr*7+pc, i*4+j]
        b = x.shape[0]
        p = x.reshape(b, 7, 4, 7, 4).permute(0, 1, 3, 2, 4).reshape(b, 49, 16)
        h = self.projection(p) + self.pos[:49]
        return self.head(self.encoder(h).mean(1))


def accuracy(model, x, y, batch=128):
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            right += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return right / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["rows", "vit"], default="rows")
    ap.add_argument("--norm-first", action="store_true", help="vit: pre-norm layers")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-train", type=int, default=0, help="> 0: only the first N training images")
    ap.add_argument("--threads", type=int, default=0, help="> 0: torch.set_num_threads(N) (intra-op threads)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    xva, yva = xtr[55000:], ytr[55000:]
    xtr, ytr = xtr[:55000], ytr[:55000]
    if a.max_train > 0:
        xtr, ytr = xtr[:a.max_train], ytr[:a.max_train]
    model = RowLSTM() if a.model == "rows" else PatchViT(norm_first=a.norm_first)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    epoch_seconds = []
    for epoch in range(a.epochs):
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, len(xtr), a.batch_size):
            idx = perm[i:i + a.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        dt = time.perf_counter() - t0
        epoch_seconds.append(dt)
        print(f"epoch {epoch + 1}/{a.epochs}  train_loss {total / len(xtr):.4f}  "
              f"valid_accuracy {accuracy(model, xva, yva):.4f}  {len(xtr) / dt:.0f} seq/s  {dt:.1f}s", flush=True)
    print(json.dumps({"model": a.model, "torch": torch.__version__, "threads": torch.get_num_threads(), "epochs": a.epochs,
                      "parameters": sum(p.numel() for p in model.parameters()), "norm_first": a.norm_first,
                      "lr": a.lr, "epoch_seconds": epoch_seconds, "test.accuracy": accuracy(model, xte, yte)}))


if __name__ == "__main__":
    main()
