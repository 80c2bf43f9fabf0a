#!/usr/bin/env python3
"""Side-by-side benchmark: seqnn (Google Benchmark programs) vs PyTorch on the same work.

Usage (from the repository root, after building):
    /usr/bin/python3 bench/compare.py [--build build] [--reps 5] [--only ops|gemm]

Every figure is a median over --reps repetitions. PyTorch is measured in both sane thread
setups (torch 1 thread with OpenBLAS 2; torch 2 threads with OPENBLAS_NUM_THREADS=1) and the
better one is compared; seqnn runs with its default (SEQNN_NUM_THREADS = cores).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

N = 1 << 20

# name -> (torch setup code, torch statement, bytes per call) for bench_ops; matches bench_ops.cpp.
OPS = {
    "BM_add/1048576": ("a=torch.randn(N);b=torch.randn(N)", "torch.add(a,b)", 12 * N),
    "BM_mul/1048576": ("a=torch.randn(N);b=torch.randn(N)", "torch.mul(a,b)", 12 * N),
    "BM_add_rowbias/1048576": ("a=torch.randn(4096,256);b=torch.randn(256)", "torch.add(a,b)", 8 * N),
    "BM_tanh/1048576": ("a=torch.randn(N)", "torch.tanh(a)", 8 * N),
    "BM_sigmoid/1048576": ("a=torch.randn(N)", "torch.sigmoid(a)", 8 * N),
    "BM_relu/1048576": ("a=torch.randn(N)", "torch.relu(a)", 8 * N),
    "BM_gelu/1048576": ("a=torch.randn(N)", "F.gelu(a)", 8 * N),
    "BM_exp/1048576": ("a=torch.randn(N)", "torch.exp(a)", 8 * N),
    "BM_softmax/64": ("a=torch.randn(N//64,64)", "torch.softmax(a,-1)", 8 * N),
    "BM_softmax/1024": ("a=torch.randn(N//1024,1024)", "torch.softmax(a,-1)", 8 * N),
    "BM_log_softmax/1024": ("a=torch.randn(N//1024,1024)", "torch.log_softmax(a,-1)", 8 * N),
    "BM_layer_norm/256": ("a=torch.randn(N//256,256);w=torch.randn(256);b=torch.randn(256)",
                          "F.layer_norm(a,(256,),w,b)", 8 * N),
    "BM_layer_norm/1024": ("a=torch.randn(N//1024,1024);w=torch.randn(1024);b=torch.randn(1024)",
                           "F.layer_norm(a,(1024,),w,b)", 8 * N),
    "BM_sum_lastdim/1024": ("a=torch.randn(N//1024,1024)", "a.sum(-1)", 4 * N),
}
GEMM = {f"BM_gemm_wrapper/{n}": (f"a=torch.randn({n},{n});b=torch.randn({n},{n})", "torch.mm(a,b.t())",
                                  2 * n ** 3) for n in (64, 256, 512)}

TORCH_TIMER = r"""
import json, sys, time, statistics, torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
N = 1 << 20
cases = json.loads(sys.argv[2]); reps = int(sys.argv[3]); out = {}
for name, (setup, stmt, work) in cases.items():
    ns = {"torch": torch, "F": F, "N": N}
    exec(setup, ns)
    f = eval("lambda: " + stmt, ns)
    for _ in range(3): f()
    t0 = time.perf_counter(); k = 0
    while time.perf_counter() - t0 < 0.05: f(); k += 1
    iters = max(1, k * 4)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters): f()
        times.append((time.perf_counter() - t0) / iters)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def run_seqnn(binary, reps):
    res = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_repetitions={reps}",
                          "--benchmark_report_aggregates_only=true"], capture_output=True, text=True, check=True)
    data = json.loads(res.stdout)
    out = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = b["run_name"].replace("/real_time", "")
            out[name] = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return out


def run_torch(cases, reps):
    configs = {"torch1+blas2": ("1", "2"), "torch2+blas1": ("2", "1")}
    best = {}
    for label, (tt, bt) in configs.items():
        env = dict(os.environ, OPENBLAS_NUM_THREADS=bt, OMP_NUM_THREADS=tt)
        res = subprocess.run(["/usr/bin/python3", "-c", TORCH_TIMER, tt, json.dumps(cases), str(reps)],
                             capture_output=True, text=True, env=env, check=True)
        for name, t in json.loads(res.stdout).items():
            if name not in best or t < best[name][0]:
                best[name] = (t, label)
    return best


def table(title, cases, seqnn, torch_best, unit):
    print(f"\n{title}")
    print(f"{'benchmark':<24} {'seqnn ' + unit:>12} {'torch ' + unit:>12} {'torch setup':>13} {'seqnn/torch':>12}")
    for name, (_, _, work) in cases.items():
        if name not in seqnn or name not in torch_best:
            continue
        s = work / seqnn[name] / 1e9
        t = work / torch_best[name][0] / 1e9
        print(f"{name:<24} {s:>12.2f} {t:>12.2f} {torch_best[name][1]:>13} {s / t:>11.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", choices=["ops", "gemm"])
    a = ap.parse_args()
    if a.only in (None, "gemm"):
        s = run_seqnn(os.path.join(a.build, "bench", "bench_gemm"), a.reps)
        print("\ngemm wrapper overhead vs a direct cblas_sgemm call (median of %d)" % a.reps)
        for n in (64, 256, 512):
            w, d = s[f"BM_gemm_wrapper/{n}"], s[f"BM_cblas_direct/{n}"]
            print(f"  {n}^3: wrapper {w * 1e6:9.1f} us  direct {d * 1e6:9.1f} us  overhead {100 * (w / d - 1):+6.2f}%")
        table("gemm (x @ w^T), float32, GFLOP/s", GEMM, s, run_torch(GEMM, a.reps), "GFLOP/s")
    if a.only in (None, "ops"):
        s = run_seqnn(os.path.join(a.build, "bench", "bench_ops"), a.reps)
        table("elementwise / softmax / layer_norm forward, float32, GB/s (bytes read+written)", OPS, s,
              run_torch(OPS, a.reps), "GB/s")


if __name__ == "__main__":
    sys.exit(main())
