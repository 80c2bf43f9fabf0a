#!/usr/bin/env python3
"""Side-by-side benchmark: seqnn (Google Benchmark programs) vs PyTorch on the same work.

Usage (from the repository root, after building):
    /usr/bin/python3 bench/compare.py [--build build] [--reps 5] [--only ops|gemm|rnn|attention|modules|seq2seq|pipeline]

Every figure is a median over --reps repetitions. PyTorch is measured in both sane thread
setups (torch 1 thread with OpenBLAS 2; torch 2 threads with OPENBLAS_NUM_THREADS=1) and the
better one is compared; seqnn runs with its default (SEQNN_NUM_THREADS = cores). Where the
environment pins OPENBLAS_CORETYPE (this project's machine sets Haswell on an AVX-512 CPU,
which halves OpenBLAS's sgemm), PyTorch also runs with the pin removed and its better time is
compared (--torch-env-as-is: only as given).
--only rnn: seqnn (SEQNN_NUM_THREADS = cores, and = 1) and oneDNN's RNN primitives
(bench_rnn_onednn, when built; OMP_NUM_THREADS = cores, and = 1) are also each timed in two
thread setups and the better is compared. The default run (no --only) leaves rnn out (it
takes minutes). --only rnn --paired K replaces those tables by K back-to-back pairs per case
(seqnn, then oneDNN, or the other way round; each its own process, warmed up) and each pair's
ratio, pairs the LSTM variants with plain LSTM and step() with its read floor the same way
(~14 min for K = 5, --reps 1).
--only attention: seqnn's fused scaled_dot_product_attention (bench_attention, each case in its
own process so that its peak RSS is its own) against PyTorch's core of multi-head attention on
(B*N, L, D) tensors: softmax(q @ k^T * scale + mask) @ v, with the DENSE additive mask PyTorch
needs for causal / window, and a (B*N, 1, L) one for key padding (as F.multi_head_attention_forward
builds it); forward (no_grad) and forward + backward. PyTorch's peak RSS is measured in a
subprocess per case; cases estimated above 12 GB are not run ("OOM-skip").
--only seq2seq: issue 6's char GRU encoder-decoder with additive attention (bench_seq2seq) against
the same model in PyTorch (bench/seq2seq_torch.py, on tests/parity/seq2seq_twin.py): train step
tokens/s, greedy and beam-4 decoding sentences/s; seqnn at SEQNN_NUM_THREADS = cores and = 1,
the better compared. --rounds R repeats the whole comparison R times in turn and reports the
median of the rounds' own ratios and the lowest one.
--only pipeline: issue 5's whole training pipeline on Fashion-MNIST, both models
(configs/fashion_rows_lstm.json, configs/fashion_patches_vit.json): `seqnn train --epochs E`
(SEQNN_NUM_THREADS = 1 and = 2) against its PyTorch twin bench/pipeline_torch.py (torch 1 thread
with OpenBLAS 2; torch 2 threads with OpenBLAS 1; optimizer lr, batch size and pre-/post-norm
read from the config). Per setup: the median of the train-only epoch seconds (seqnn's
metrics.jsonl "train_seconds", the twin's "epoch_seconds": evaluation excluded) over --reps runs
of --epochs epochs (default 1; --max-train N: only the first N training images, both sides),
the ratio best torch / best seqnn, test accuracy and parameter counts of each side as a sanity
check. The setups' order rotates from one repetition to the next. Slow: 15-25 min per
repetition at load 4-5 on 2 cores, most of it PyTorch's 2-thread epochs (3-7 min each there).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

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

# One timer for every PyTorch case: name -> (setup code, statement). After one warm-up call it
# calibrates on >= 0.05 s of calls, then each of `reps` repetitions runs >= min_seconds of calls;
# the median per-call time is reported.
TORCH_TIMER = r"""
import json, math, sys, time, statistics, torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
N = 1 << 20
cases = json.loads(sys.argv[2]); reps = int(sys.argv[3]); min_seconds = float(sys.argv[4]); out = {}
for name, (setup, stmt) in cases.items():
    ns = {"torch": torch, "F": F, "N": N}
    exec(setup, ns)
    f = eval("lambda: " + stmt, ns)
    f()
    t0 = time.perf_counter(); k = 0
    while k == 0 or time.perf_counter() - t0 < 0.05: f(); k += 1
    iters = max(1, math.ceil(min_seconds / ((time.perf_counter() - t0) / k)))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters): f()
        times.append((time.perf_counter() - t0) / iters)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def seconds(b):
    """A Google Benchmark JSON entry's real time in seconds."""
    return b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]


def iteration_times(stdout):
    """Benchmark name (without /real_time) -> the seconds of each of its repetitions, from a
    program's JSON output (aggregates left out; with one repetition there are none)."""
    runs = {}
    for b in json.loads(stdout)["benchmarks"]:
        if b.get("run_type", "iteration") == "iteration":
            runs.setdefault(b["run_name"].replace("/real_time", ""), []).append(seconds(b))
    return runs


def run_seqnn(binary, reps):
    res = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_repetitions={reps}",
                          "--benchmark_report_aggregates_only=true"], capture_output=True, text=True, check=True)
    data = json.loads(res.stdout)
    out = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = b["run_name"].replace("/real_time", "")
            out[name] = seconds(b)
    return out


def torch_setups():
    """PyTorch's sane thread setups -> label: environment. Where the environment pins OpenBLAS's
    kernels (OPENBLAS_CORETYPE, e.g. Haswell on an AVX-512 machine), each setup also runs with
    the pin removed ("/auto": OpenBLAS picks by CPU), so PyTorch is compared at its best; pass
    --torch-env-as-is to keep only the environment as given."""
    out = {}
    for label, (tt, bt) in {"torch1+blas2": ("1", "2"), "torch2+blas1": ("2", "1")}.items():
        env = dict(os.environ, OPENBLAS_NUM_THREADS=bt, OMP_NUM_THREADS=tt)
        out[label] = env
        if "OPENBLAS_CORETYPE" in env and not TORCH_ENV_AS_IS:
            auto = dict(env)
            del auto["OPENBLAS_CORETYPE"]
            out[label + "/auto"] = auto
    return out


TORCH_ENV_AS_IS = False


def run_torch(cases, reps, min_seconds=0.2):
    """cases: name -> (setup, stmt). Times them in PyTorch's two sane thread setups and keeps the
    better one per case -> name: (seconds per call, setup label)."""
    best = {}
    for label, env in torch_setups().items():
        tt = env["OMP_NUM_THREADS"]
        res = subprocess.run(["/usr/bin/python3", "-c", TORCH_TIMER, tt, json.dumps(cases), str(reps),
                              str(min_seconds)], capture_output=True, text=True, env=env, check=True)
        for name, t in json.loads(res.stdout).items():
            if name not in best or t < best[name][0]:
                best[name] = (t, label)
    return best


def torch_cases(cases):
    """OPS / GEMM entries (setup, stmt, work) -> the timer's (setup, stmt)."""
    return {name: (setup, stmt) for name, (setup, stmt, _) in cases.items()}


def table(title, cases, seqnn, torch_best, unit):
    print(f"\n{title}")
    print(f"{'benchmark':<24} {'seqnn ' + unit:>12} {'torch ' + unit:>12} {'torch setup':>13} {'seqnn/torch':>12}")
    for name, (_, _, work) in cases.items():
        if name not in seqnn or name not in torch_best:
            continue
        s = work / seqnn[name] / 1e9
        t = work / torch_best[name][0] / 1e9
        print(f"{name:<24} {s:>12.2f} {t:>12.2f} {torch_best[name][1]:>13} {s / t:>11.2f}x")


# ---------------------------------------------------------------------------------------------
# Recurrent layers: seqnn (bench_rnn), oneDNN (bench_rnn_onednn), torch.nn.LSTM/GRU/LSTMCell
# ---------------------------------------------------------------------------------------------
RNN_SHAPES = [(100, 32, 256, 256), (100, 64, 512, 512), (50, 16, 128, 128), (100, 1, 128, 128)]
GATES = {"lstm": 4, "gru": 3}


def rnn_flops(cell, T, B, I, H, layers=1, dirs=1):
    """Forward FLOPs: 2*T*B*(I+H)*G*H per layer per direction (layer l>0 reads dirs*H)."""
    g = GATES["lstm" if cell in ("bilstm2", "lstm_peephole", "lstm_proj", "lstm_linear") else cell]
    return sum(2.0 * T * B * ((I if l == 0 else dirs * H) + H) * g * H * dirs for l in range(layers))


def rnn_torch_code(cell, mode, T, B, I, H):
    """(setup, statement) timing torch.nn.LSTM/GRU; x and the weights require grad for fwdbwd."""
    mod = {"lstm": f"torch.nn.LSTM({I},{H})", "gru": f"torch.nn.GRU({I},{H})",
           "bilstm2": f"torch.nn.LSTM({I},{H},num_layers=2,bidirectional=True)",
           "lstm_proj": f"torch.nn.LSTM({I},{H},proj_size={H // 2})"}[cell]
    dirs = 2 if cell == "bilstm2" else 1
    out = H // 2 if cell == "lstm_proj" else H
    setup = f"m={mod}\nx=torch.randn({T},{B},{I})\ngy=torch.randn({T},{B},{dirs * out})\n"
    if mode == "fwd":
        setup += "def f():\n    with torch.no_grad():\n        return m(x)\n"
    else:
        setup += "x.requires_grad_()\ndef f():\n    m(x)[0].backward(gy)\n"
    return setup, "f()"


def rnn_cases():
    """mode -> [(row label, benchmark name, fwd FLOPs x mode factor, torch (setup, stmt) or None)]."""
    cases = {"fwd": [], "fwdbwd": []}
    for mode, factor in (("fwd", 1), ("fwdbwd", 3)):
        rows = [(cell, shape, rnn_flops(cell, *shape)) for cell in ("lstm", "gru") for shape in RNN_SHAPES]
        rows.append(("bilstm2", RNN_SHAPES[0], rnn_flops("bilstm2", *RNN_SHAPES[0], layers=2, dirs=2)))
        for cell, (T, B, I, H), fl in rows:
            name = f"BM_{cell}_{mode}/{T}/{B}/{I}/{H}"
            cases[mode].append((f"{cell} {T}x{B}x{I}x{H}", name, fl * factor, rnn_torch_code(cell, mode, T, B, I, H)))
        # seqnn-only variants (target: within 10% of plain LSTM)
        T, B, I, H = RNN_SHAPES[0]
        cases[mode].append((f"lstm_peephole {T}x{B}x{I}x{H}", f"BM_lstm_peephole_{mode}/{T}/{B}/{I}/{H}",
                            factor * rnn_flops("lstm", T, B, I, H), None))
        # activation Identity (the notes' linear memory; PyTorch's LSTM is tanh only)
        cases[mode].append((f"lstm_linear {T}x{B}x{I}x{H}", f"BM_lstm_linear_{mode}/{T}/{B}/{I}/{H}",
                            factor * rnn_flops("lstm", T, B, I, H), None))
        P = H // 2  # proj_size: W_ih, W_hh (4H, P) and W_hr (P, H); PyTorch has it, oneDNN's bench not
        proj = 2.0 * T * B * ((I + P) * 4 * H + H * P)
        cases[mode].append((f"lstm_proj P={P} {T}x{B}x{I}x{H}", f"BM_lstm_proj_{mode}/{T}/{B}/{I}/{H}", factor * proj,
                            rnn_torch_code("lstm_proj", mode, T, B, I, H)))
        jordan = 2.0 * T * B * ((I + H) * H + H * H)  # G=1, O=H: W_ih, W_hh and W_ho
        cases[mode].append((f"jordan {T}x{B}x{I}x{H}", f"BM_jordan_{mode}/{T}/{B}/{I}/{H}", factor * jordan, None))
    # streaming: one step of a B=1 LSTM (I = H), no gradients
    cases["step"] = []
    for H in (256, 512):
        setup = (f"m=torch.nn.LSTMCell({H},{H})\nx=torch.randn(1,{H})\nst=(torch.zeros(1,{H}),torch.zeros(1,{H}))\n"
                 "def f():\n    global st\n    with torch.no_grad():\n        st = m(x, st)\n")
        cases["step"].append((f"lstm step B=1 H={H}", f"BM_lstm_step/{H}", 2.0 * 2 * H * 4 * H, (setup, "f()")))
    return cases


def run_optional(binary, reps, env=None):
    """name -> median seconds over reps (also for reps = 1, where Google Benchmark writes no
    aggregates), or {} (with a note) where the program was not built."""
    if not os.path.exists(binary):
        print(f"note: {binary} not built; its columns show '-'")
        return {}
    res = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_repetitions={reps}"],
                         capture_output=True, text=True, check=True, env=env)
    return {name: statistics.median(ts) for name, ts in iteration_times(res.stdout).items()}


def run_best(binary, reps, setups):
    """binary in each thread setup (label -> environment overrides), the better per case ->
    (name -> (seconds, label), label -> {name: seconds})."""
    best, every = {}, {}
    for label, env in setups.items():
        times = run_optional(binary, reps, dict(os.environ, **env))
        every[label] = times
        for name, t in times.items():
            if name not in best or t < best[name][0]:
                best[name] = (t, label)
        if not times:
            break
    return best, every


def rnn_table(title, rows, seqnn_best, onednn, torch_best):
    def ms(t):  # 4 decimals below 0.1 ms: the streaming step's microseconds in full
        if not t:
            return f"{'-':>10}"
        return f"{t * 1e3:10.4f}" if t < 1e-4 else f"{t * 1e3:10.3f}"

    def gf(t, work):
        return f"{work / t / 1e9:8.2f}" if t else f"{'-':>8}"

    def ratio(other, t):
        return f"{other / t:9.2f}x" if other and t else f"{'-':>10}"

    print(f"\n{title}")
    print(f"{'shape (T x B x I x H)':<30} {'seqnn ms':>10} {'seqnn thr':>9} {'oneDNN ms':>10} {'oneDNN thr':>10} "
          f"{'torch ms':>10} {'torch setup':>13} {'seqnn GF/s':>10} {'oneDNN':>8} {'torch':>8} {'vs oneDNN':>10} "
          f"{'vs torch':>10}")
    for label, name, work, _ in rows:
        s, ssetup = seqnn_best.get(name, (None, "-"))
        o, osetup = onednn.get(name, (None, "-"))
        t, setup = torch_best.get(name, (None, "-"))
        print(f"{label:<30} {ms(s)} {ssetup:>9} {ms(o)} {osetup:>10} {ms(t)} {setup:>13} {gf(s, work):>10} "
              f"{gf(o, work)} {gf(t, work)} {ratio(o, s)} {ratio(t, s)}")


def run_rnn(build, reps, rounds=1):
    """rounds > 1: seqnn's and oneDNN's programs run `rounds` times in turn (which goes first
    alternates), each round's ratio is its own oneDNN time over its own seqnn time, and the tables
    show the medians over the rounds; a last block prints every round's seqnn-vs-oneDNN ratio per
    case. On this machine timings drift 20-30% within an hour, both sides alike: measured minutes
    apart, a slow spell on one side decides the ratio. PyTorch (far behind) runs once."""
    cases = rnn_cases()
    cores = str(os.cpu_count() or 1)
    seqnn_setups = {"seqnn" + cores: {"SEQNN_NUM_THREADS": cores}, "seqnn1": {"SEQNN_NUM_THREADS": "1"}}
    onednn_setups = {"omp" + cores: {"OMP_NUM_THREADS": cores}, "omp1": {"OMP_NUM_THREADS": "1"}}
    per_round = []
    for r in range(rounds):
        sides = [("seqnn", "bench_rnn", seqnn_setups), ("onednn", "bench_rnn_onednn", onednn_setups)]
        got = {}
        for side, program, setups in (sides if r % 2 == 0 else sides[::-1]):
            got[side] = run_best(os.path.join(build, "bench", program), reps, setups)
        per_round.append(got)
        if rounds > 1:
            sb, ob = got["seqnn"][0], got["onednn"][0]
            print(f"round {r + 1}/{rounds} ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f}) "
                  "oneDNN/seqnn: " + ", ".join(f"{'/'.join(n[3:].split('/')[:3])} {ob[n][0] / sb[n][0]:.2f}"
                                               for n in sb if n in ob), flush=True)

    def median_best(side):
        out = {}
        for name in per_round[-1][side][0]:
            ts = [g[side][0][name] for g in per_round if name in g[side][0]]
            out[name] = (statistics.median(t for t, _ in ts), ts[-1][1])
        return out

    seqnn_best, onednn = median_best("seqnn"), median_best("onednn")
    seqnn_every = per_round[-1]["seqnn"][1]
    seqnn = {name: t for name, (t, _) in seqnn_best.items()}
    torch_rnn = {name: code for rows in cases.values() for _, name, _, code in rows if code}
    torch_best = run_torch(torch_rnn, reps, min_seconds=0.3)
    print(f"\nrecurrent layers, float32, median of {reps}" + (f", then the median of {rounds} rounds" if rounds > 1 else "")
          + "; ratios are speedups (> 1 = seqnn faster)")
    rnn_table("forward (inference: NoGradGuard / oneDNN forward_inference / torch.no_grad)", cases["fwd"],
              seqnn_best, onednn, torch_best)
    rnn_table("forward + backward (x and weights require grad; backward from a random output gradient)",
              cases["fwdbwd"], seqnn_best, onednn, torch_best)
    rnn_table("streaming step, LSTM B=1 (seqnn LSTM::step vs torch.nn.LSTMCell)", cases["step"], seqnn_best, onednn,
              torch_best)
    if rounds > 1:
        print(f"\nseqnn vs oneDNN in each round (oneDNN time / seqnn time, > 1 = seqnn faster):")
        for mode, rows in cases.items():
            for label, name, _, _ in rows:
                rs = [g["onednn"][0][name][0] / g["seqnn"][0][name][0] for g in per_round
                      if name in g["seqnn"][0] and name in g["onednn"][0]]
                if rs:
                    print(f"  {mode:<6} {label:<30} " + " ".join(f"{x:5.2f}" for x in rs) + f"   median {statistics.median(rs):.2f}, "
                          f"lowest {min(rs):.2f}, seqnn ahead in {sum(x > 1 for x in rs)}/{len(rs)}")
    if seqnn_every:
        labels = list(seqnn_every)
        print(f"\nseqnn in each thread setup" + (" (last round)" if rounds > 1 else "") + ", ms: " + "  ".join(labels))
        for rows in cases.values():
            for label, name, _, _ in rows:
                if all(name in seqnn_every[lb] for lb in labels):
                    print(f"  {label:<30} " + "  ".join(f"{seqnn_every[lb][name] * 1e3:10.4f}" for lb in labels))
    for mode in ("fwd", "fwdbwd"):
        base = seqnn.get(f"BM_lstm_{mode}/100/32/256/256")
        for variant, label in (("lstm_peephole", "peephole LSTM"), ("lstm_proj", "projection LSTM"),
                               ("lstm_linear", "linear-memory LSTM"), ("jordan", "Jordan")):
            v = seqnn.get(f"BM_{variant}_{mode}/100/32/256/256")
            if base and v:
                work = next(w for _, n, w, _ in cases[mode] if n.startswith(f"BM_{variant}_"))
                lstm_work = next(w for _, n, w, _ in cases[mode] if n == f"BM_lstm_{mode}/100/32/256/256")
                print(f"  {mode}: {label} at 100x32x256x256 runs at {100 * (work / v) / (lstm_work / base):.0f}% of "
                      f"plain LSTM's GFLOP/s ({v * 1e3:.1f} ms vs {base * 1e3:.1f} ms)")


def bench_alone(binary, name, env, reps):
    """Median seconds of one benchmark `name` run alone in its own process, or None where the
    program lacks it. 0.3 s of warm-up first: a fresh process's first iterations pay for page
    faults, packing and thread start-up (without it, one 0.2 s repetition of LSTM 100x64x512
    fwd+bwd, i.e. its first iteration, took 423 ms where warm iterations took 215-256)."""
    res = subprocess.run([binary, f"--benchmark_filter=^{name}/real_time$", "--benchmark_format=json",
                          f"--benchmark_repetitions={reps}", "--benchmark_min_time=0.3",
                          "--benchmark_min_warmup_time=0.3"],
                         capture_output=True, text=True, check=True, env=env)
    ts = iteration_times(res.stdout).get(name)
    return statistics.median(ts) if ts else None


def run_rnn_paired(build, reps, pairs):
    """--paired K: per case, seqnn and oneDNN run back to back K times (the order alternates), each
    run its own process in both thread setups, the better kept; each pair's ratio is oneDNN's time
    over seqnn's from the same minute. The suite-level rounds of run_rnn measure a case's two sides
    minutes apart, so a slow spell of this shared machine (20-30% within an hour) lands on one side;
    here it lands on both. The variants are paired the same way with plain LSTM (seqnn at `cores`
    threads), as GFLOP/s ratios (the target: within 10%), and step() with its read floor."""
    cores = str(os.cpu_count() or 1)
    sides = [("seqnn", os.path.join(build, "bench", "bench_rnn"),
              {"seqnn" + cores: {"SEQNN_NUM_THREADS": cores}, "seqnn1": {"SEQNN_NUM_THREADS": "1"}}),
             ("oneDNN", os.path.join(build, "bench", "bench_rnn_onednn"),
              {"omp" + cores: {"OMP_NUM_THREADS": cores}, "omp1": {"OMP_NUM_THREADS": "1"}})]
    for _, binary, _ in sides:
        if not os.path.exists(binary):
            print(f"note: {binary} not built; --paired compares seqnn with oneDNN and has nothing to do")
            return
    listed = subprocess.run([sides[1][1], "--benchmark_list_tests"], capture_output=True, text=True, check=True)
    onednn_names = {n.replace("/real_time", "") for n in listed.stdout.split()}
    cases = rnn_cases()
    print(f"\nseqnn vs oneDNN, paired: per case {pairs} back-to-back pairs (order alternating), each side the "
          f"better of its two thread setups, each time the median of {reps} repetitions; ratio = oneDNN time / "
          "seqnn time (> 1 = seqnn faster)", flush=True)
    print(f"{'mode':<7} {'case':<22} {'seqnn ms':>10} {'oneDNN ms':>10}  ratios per pair")
    for mode, rows in cases.items():
        for label, name, _, _ in rows:
            if name not in onednn_names:
                continue
            ratios, times = [], {"seqnn": [], "oneDNN": []}
            for k in range(pairs):
                got = {}
                for side, binary, setups in (sides if k % 2 == 0 else sides[::-1]):
                    ts = [bench_alone(binary, name, dict(os.environ, **env), reps) for env in setups.values()]
                    got[side] = min(t for t in ts if t)
                    times[side].append(got[side])
                ratios.append(got["oneDNN"] / got["seqnn"])
            print(f"{mode:<7} {label:<22} {statistics.median(times['seqnn']) * 1e3:10.4f} "
                  f"{statistics.median(times['oneDNN']) * 1e3:10.4f}  " + " ".join(f"{r:.2f}" for r in ratios) +
                  f"  median {statistics.median(ratios):.2f}, lowest {min(ratios):.2f}, "
                  f"seqnn ahead in {sum(r > 1 for r in ratios)}/{len(ratios)}", flush=True)
    print(f"\nvariants vs plain LSTM 100x32x256x256, paired the same way (seqnn{cores}), GFLOP/s ratio variant / LSTM:")
    env = dict(os.environ, SEQNN_NUM_THREADS=cores)
    binary = sides[0][1]
    for mode in ("fwd", "fwdbwd"):
        base_name = f"BM_lstm_{mode}/100/32/256/256"
        base_work = next(w for _, n, w, _ in cases[mode] if n == base_name)
        for variant in ("lstm_peephole", "lstm_proj", "lstm_linear", "jordan"):
            name, work = next((n, w) for _, n, w, _ in cases[mode] if n.startswith(f"BM_{variant}_"))
            pcts = []
            for k in range(pairs):
                order = [(base_name, base_work), (name, work)]
                got = {n: bench_alone(binary, n, env, reps) for n, _ in (order if k % 2 == 0 else order[::-1])}
                pcts.append(100 * (work / got[name]) / (base_work / got[base_name]))
            print(f"  {mode:<7} {variant:<14} " + " ".join(f"{p:4.0f}%" for p in pcts) +
                  f"  median {statistics.median(pcts):.0f}%, lowest {min(pcts):.0f}%", flush=True)
    print(f"\nstep() vs its read floor (BM_step_read_floor: the same team only reading the step's weights, "
          f"alternating directions), paired the same way (seqnn{cores}), us:")
    for H in (256, 512):
        step, floor = f"BM_lstm_step/{H}", f"BM_step_read_floor/{H}/oneway:0"
        ts = {step: [], floor: []}
        for k in range(pairs):
            for n in ((step, floor) if k % 2 == 0 else (floor, step)):
                ts[n].append(bench_alone(binary, n, env, reps))
        ratios = [a / b for a, b in zip(ts[step], ts[floor])]
        print(f"  H={H}: step " + " ".join(f"{t * 1e6:.1f}" for t in ts[step]) + ", floor " +
              " ".join(f"{t * 1e6:.1f}" for t in ts[floor]) + f"; step / floor median {statistics.median(ratios):.2f}",
              flush=True)


# ---------------------------------------------------------------------------------------------
# Fused attention: seqnn (bench_attention) vs PyTorch's q k^T softmax v core
# ---------------------------------------------------------------------------------------------
ATTN_N, ATTN_D = 8, 32
ATTN_MASKS = ("none", "causal", "window", "keypad")
TORCH_RSS_LIMIT = 12e9


def attn_cases():
    """-> [(name, mode, mask, L, B)] in bench_attention.cpp's order."""
    cases = []
    for mode in ("fwd", "fwdbwd"):
        for mask in ATTN_MASKS:
            shapes = [(L, 4) for L in (256, 1024, 2048, 4096)]
            if mask == "window":
                shapes.append((8192, 4))
            if mode == "fwdbwd" and mask == "none":
                shapes.append((16384, 1))
            cases += [(f"BM_attn_{mode}_{mask}/{L}/{B}", mode, mask, L, B) for L, B in shapes]
    return cases


def attn_torch_code(mode, mask, L, B):
    """(setup, stmt) of the same work in PyTorch: window = the 64 previous keys and itself."""
    H = B * ATTN_N
    setup = (f"import math\nq=torch.randn({H},{L},{ATTN_D});k=torch.randn({H},{L},{ATTN_D});v=torch.randn({H},{L},{ATTN_D})\n"
             f"scale=1/math.sqrt({ATTN_D})\nm=None\n")
    if mask == "causal":
        setup += f"m=torch.triu(torch.full(({L},{L}),float('-inf')),1)\n"
    elif mask == "window":
        setup += (f"i=torch.arange({L})\nd=i[None,:]-i[:,None]\n"
                  f"m=torch.zeros({L},{L}).masked_fill((d>0)|(d<-64),float('-inf'))\n")
    elif mask == "keypad":
        setup += (f"m=torch.zeros({H},1,{L})\nm[:,:,{3 * L // 4}:]=float('-inf')\n")
    setup += ("def core():\n    s=torch.matmul(q,k.transpose(1,2))*scale\n    if m is not None: s=s+m\n"
              "    return torch.matmul(torch.softmax(s,-1),v)\n")
    if mode == "fwd":
        setup += "def f():\n    with torch.no_grad():\n        return core()\n"
    else:
        setup += ("q.requires_grad_();k.requires_grad_();v.requires_grad_()\ngo=torch.randn_like(q)\n"
                  "def f():\n    core().backward(go)\n    q.grad=None;k.grad=None;v.grad=None\n")
    return setup, "f()"


def attn_torch_bytes(mode, L, B):
    """PyTorch's score-sized tensors: S, S+mask, P forward; dP, dS more in backward."""
    score = B * ATTN_N * L * L * 4
    return score * (3 if mode == "fwd" else 5)


TORCH_RSS = r"""
import json, math, resource, sys, torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
setup, stmt = json.loads(sys.argv[2])
ns = {"torch": torch, "F": F, "math": math}
exec(setup, ns)
eval(stmt, ns)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
"""


def run_attention(build, reps):
    binary = os.path.join(build, "bench", "bench_attention")
    cases = attn_cases()
    seqnn, rss = {}, {}
    for name, *_ in cases:
        res = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_repetitions={reps}",
                              f"--benchmark_filter=^{name}/real_time$"], capture_output=True, text=True, check=True)
        times = []
        for b in json.loads(res.stdout)["benchmarks"]:
            if b.get("run_type", "iteration") == "iteration":
                times.append(seconds(b))
                rss[name] = max(rss.get(name, 0.0), b["peak_rss_mb"])
        seqnn[name] = statistics.median(times)
    torch_code, skipped = {}, {}
    for name, mode, mask, L, B in cases:
        est = attn_torch_bytes(mode, L, B)
        if est > TORCH_RSS_LIMIT:
            skipped[name] = est
        else:
            torch_code[name] = attn_torch_code(mode, mask, L, B)
    torch_best = run_torch(torch_code, reps, min_seconds=0.0)
    torch_rss = {}
    for name, code in torch_code.items():
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2")
        res = subprocess.run(["/usr/bin/python3", "-c", TORCH_RSS, "2", json.dumps(code)], capture_output=True,
                             text=True, env=env, check=True)
        torch_rss[name] = float(res.stdout.strip().splitlines()[-1])
    print(f"\nfused attention, float32, B x 8 heads x D=32 (E=256), median of {reps}; "
          "window = 64 previous keys + itself; keypad = key_lengths 3L/4")
    print(f"{'case':<32} {'seqnn ms':>10} {'seqnn MB':>9} {'torch ms':>10} {'torch MB':>9} {'torch setup':>13} "
          f"{'speedup':>8}")
    for name, *_ in cases:
        s = seqnn[name]
        if name in skipped:
            print(f"{name:<32} {s * 1e3:10.1f} {rss[name]:9.0f} {'OOM-skip':>10} {skipped[name] / 1e9:7.1f}GB "
                  f"{'-':>13} {'-':>8}")
            continue
        t, label = torch_best[name]
        print(f"{name:<32} {s * 1e3:10.1f} {rss[name]:9.0f} {t * 1e3:10.1f} {torch_rss[name]:9.0f} {label:>13} "
              f"{t / s:7.2f}x")
    for mode in ("fwd", "fwdbwd"):
        for L in (1024, 2048, 4096):
            n, c = seqnn.get(f"BM_attn_{mode}_none/{L}/4"), seqnn.get(f"BM_attn_{mode}_causal/{L}/4")
            if n and c:
                print(f"  {mode} L={L}: causal runs {n / c:.2f}x faster than unmasked")


# ---------------------------------------------------------------------------------------------
# Whole modules: nn::MultiheadAttention / TransformerEncoderLayer vs torch.nn's (bench_modules)
# ---------------------------------------------------------------------------------------------
MOD_LENGTHS = (256, 1024, 2048)


def module_torch_code(kind, mode, L):
    """(setup, stmt) for torch.nn.MultiheadAttention / TransformerEncoderLayer on (L, 4, 256)."""
    if kind == "mha":
        setup = "m=torch.nn.MultiheadAttention(256,8)\ndef core(x):\n    return m(x,x,x,need_weights=False)[0]\n"
    else:
        setup = ("m=torch.nn.TransformerEncoderLayer(256,8,dim_feedforward=1024,dropout=0.0)\n"
                 "def core(x):\n    return m(x)\n")
    setup += f"x=torch.randn({L},4,256)\n"
    if mode == "fwd":  # eval + no_grad: PyTorch 1.13's fast path where it applies
        setup += "m.eval()\ndef f():\n    with torch.no_grad():\n        return core(x)\n"
    else:
        setup += ("m.train()\nx.requires_grad_()\ngo=torch.randn_like(x)\n"
                  "def f():\n    core(x).backward(go)\n    x.grad=None\n    m.zero_grad(set_to_none=True)\n")
    return setup, "f()"


def run_modules(build, reps):
    seqnn = run_seqnn(os.path.join(build, "bench", "bench_modules"), reps)
    names = [(f"BM_{k}_{m}/{L}", k, m, L) for k in ("mha", "encoder_layer") for m in ("fwd", "fwdbwd")
             for L in MOD_LENGTHS]
    torch_best = run_torch({n: module_torch_code(k, m, L) for n, k, m, L in names}, reps)
    print(f"\nattention modules, float32, (L, B=4, E=256), 8 heads, dropout 0, median of {reps}; "
          "encoder layer: post-norm, relu, FF 1024; fwd = eval + no_grad")
    print(f"{'case':<30} {'seqnn ms':>10} {'torch ms':>10} {'torch setup':>13} {'speedup':>8}")
    for n, *_ in names:
        if n in seqnn and n in torch_best:
            t, label = torch_best[n]
            print(f"{n:<30} {seqnn[n] * 1e3:10.2f} {t * 1e3:10.2f} {label:>13} {t / seqnn[n]:7.2f}x")


# ---------------------------------------------------------------------------------------------
# Sequence to sequence (issue 6): char GRU encoder-decoder + additive attention, seqnn
# (bench_seq2seq) vs the PyTorch twin (bench/seq2seq_torch.py on tests/parity/seq2seq_twin.py)
# ---------------------------------------------------------------------------------------------
S2S_BATCH, S2S_TOKENS = 64, 1915  # sentences per call; non-pad target tokens per train step
# (row label, seqnn benchmark, twin case, work per call, unit)
S2S_CASES = [("train step (fwd+loss+bwd+Adam)", "BM_s2s_train", "train", S2S_TOKENS, "tokens/s"),
             ("greedy decode, 40 steps", "BM_s2s_greedy/40", "greedy", S2S_BATCH, "sentences/s"),
             ("beam 4 decode, 40 steps", "BM_s2s_beam4/40", "beam4", S2S_BATCH, "sentences/s")]


def run_seq2seq(build, reps, rounds=1):
    """rounds > 1: the whole comparison (seqnn's setups, then PyTorch's) runs `rounds` times in
    turn, and each round's ratio is its own seqnn time against its own PyTorch time, measured
    within a minute of each other; the table shows the medians over the rounds and the lowest
    round's ratio. On a noisy machine a slow spell then costs one round, not one side."""
    cores = str(os.cpu_count() or 1)
    bench_dir = os.path.dirname(os.path.abspath(__file__))
    per_round = []
    for r in range(rounds):
        seqnn_best, seqnn_every = run_best(os.path.join(build, "bench", "bench_seq2seq"), reps,
                                           {"seqnn" + cores: {"SEQNN_NUM_THREADS": cores},
                                            "seqnn1": {"SEQNN_NUM_THREADS": "1"}})
        torch_best = run_torch({name: (f"import sys\nsys.path.insert(0, {bench_dir!r})\nfrom seq2seq_torch import make_case\n"
                                       f"f = make_case({case!r})\n", "f()") for _, name, case, _, _ in S2S_CASES},
                               reps, min_seconds=1.0)
        per_round.append((seqnn_best, seqnn_every, torch_best))
        if rounds > 1:
            print(f"round {r + 1}/{rounds} ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f}): " + ", ".join(
                f"{label.split()[0]} {torch_best[name][0] / seqnn_best[name][0]:.2f}x"
                for label, name, *_ in S2S_CASES if name in seqnn_best and name in torch_best), flush=True)
    print(f"\nseq2seq: char GRU encoder-decoder, additive attention, E 64, H 128, V 100, B 64 (sources 20..40, "
          f"targets 20..40), float32, median of {reps}" + (f", then the median of {rounds} rounds" if rounds > 1 else ""))
    print(f"{'case':<32} {'seqnn ms':>10} {'seqnn thr':>9} {'torch ms':>10} {'torch setup':>13} {'seqnn rate':>11} "
          f"{'torch rate':>11} {'unit':>12} {'seqnn/torch':>12}" + (f" {'lowest round':>13}" if rounds > 1 else ""))
    for label, name, _, work, unit in S2S_CASES:
        rs = [(sb[name], tb[name]) for sb, _, tb in per_round if name in sb and name in tb]
        if not rs:
            continue
        s = statistics.median(x[0][0] for x in rs)
        t = statistics.median(x[1][0] for x in rs)
        ratios = [x[1][0] / x[0][0] for x in rs]
        sthr, tsetup = rs[-1][0][1], rs[-1][1][1]
        line = (f"{label:<32} {s * 1e3:10.2f} {sthr:>9} {t * 1e3:10.2f} {tsetup:>13} {work / s:11.1f} {work / t:11.1f} "
                f"{unit:>12} {statistics.median(ratios):11.2f}x")
        if rounds > 1:
            line += f" {min(ratios):12.2f}x"
        print(line)
    seqnn_every = per_round[-1][1]
    if seqnn_every:
        labels = list(seqnn_every)
        print("\nseqnn in each thread setup (last round), ms: " + "  ".join(labels))
        for label, name, *_ in S2S_CASES:
            if all(name in seqnn_every[lb] for lb in labels):
                print(f"  {label:<32} " + "  ".join(f"{seqnn_every[lb][name] * 1e3:10.2f}" for lb in labels))


# ---------------------------------------------------------------------------------------------
# Training pipeline (issue 5): `seqnn train` vs bench/pipeline_torch.py, one epoch of Fashion-MNIST
# ---------------------------------------------------------------------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPE_MODELS = [("rows", "configs/fashion_rows_lstm.json"), ("vit", "configs/fashion_patches_vit.json")]
PIPE_TIMEOUT = 1800  # seconds per run; a run past it counts as failed ("-")


def read_config(path):
    """A seqnn config file: JSON with whole-line // comments."""
    with open(path) as f:
        return json.loads("".join(line for line in f if not line.lstrip().startswith("//")))


def pipe_seqnn(build, config, epochs, threads, max_train, tmp):
    """One `seqnn train` run -> (train-only seconds per epoch, test accuracy, parameters, model description)."""
    run_dir = tempfile.mkdtemp(prefix="run-", dir=tmp)
    os.rmdir(run_dir)  # seqnn refuses to write into an existing run directory
    if max_train > 0:
        cfg = read_config(config)
        cfg.setdefault("data", {})["max_train"] = max_train
        config = os.path.join(tmp, os.path.basename(config))
        with open(config, "w") as f:
            json.dump(cfg, f)
    env = dict(os.environ, SEQNN_NUM_THREADS=str(threads))
    subprocess.run([os.path.join(build, "apps", "seqnn"), "train", "--config", config, "--epochs", str(epochs),
                    "--run-dir", run_dir, "--no-progress"], capture_output=True, text=True, env=env, check=True,
                   timeout=PIPE_TIMEOUT)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        secs = [json.loads(line)["train_seconds"] for line in f if line.strip()]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    return secs, summary["test.accuracy"], summary["parameters"], summary["model"]


def pipe_torch(model, cfg, epochs, threads, blas, max_train, unpin=False):
    """One bench/pipeline_torch.py run -> (epoch seconds, test accuracy, parameters, description).
    unpin: without OPENBLAS_CORETYPE (see torch_setups)."""
    args = ["/usr/bin/python3", os.path.join(ROOT, "bench", "pipeline_torch.py"), "--model", model, "--epochs",
            str(epochs), "--threads", str(threads), "--lr", str(cfg["optimizer"]["lr"]),
            "--batch-size", str(cfg["train"]["batch_size"]), "--max-train", str(max_train)]
    if cfg["model"]["encoder"].get("norm_first"):
        args.append("--norm-first")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas), OMP_NUM_THREADS=str(threads))
    if unpin:
        env.pop("OPENBLAS_CORETYPE", None)
    res = subprocess.run(args, capture_output=True, text=True, env=env, check=True, timeout=PIPE_TIMEOUT)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    desc = f"torch {out['torch']}, lr {out['lr']}" + (", pre-norm" if out["norm_first"] else "")
    return out["epoch_seconds"], out["test.accuracy"], out["parameters"], desc


def run_pipeline(build, reps, epochs, max_train):
    setups = [("seqnn1", "seqnn", 1, None), ("seqnn2", "seqnn", 2, None),
              ("torch1+blas2", "torch", 1, 2), ("torch2+blas1", "torch", 2, 1)]
    if "OPENBLAS_CORETYPE" in os.environ and not TORCH_ENV_AS_IS:
        setups += [("torch1+blas2/auto", "torch", 1, 2), ("torch2+blas1/auto", "torch", 2, 1)]
    load0 = os.getloadavg()
    results = {}  # (model, setup) -> {"secs": [...], "acc": [...], "params": set, "desc": set, "failed": n}
    with tempfile.TemporaryDirectory(prefix="seqnn-pipeline-") as tmp:
        for r in range(reps):
            order = setups[r % len(setups):] + setups[:r % len(setups)]
            for model, config in PIPE_MODELS:
                config = os.path.join(ROOT, config)
                cfg = read_config(config)
                for label, side, threads, blas in order:
                    res = results.setdefault((model, label), {"secs": [], "acc": [], "params": set(), "desc": set(),
                                                              "failed": 0})
                    try:
                        if side == "seqnn":
                            secs, acc, params, desc = pipe_seqnn(build, config, epochs, threads, max_train, tmp)
                        else:
                            secs, acc, params, desc = pipe_torch(model, cfg, epochs, threads, blas, max_train,
                                                                 unpin=label.endswith("/auto"))
                    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                        print(f"note: {model} {label} repetition {r + 1} failed: {e}", file=sys.stderr)
                        res["failed"] += 1
                        continue
                    res["secs"] += secs
                    res["acc"].append(acc)
                    res["params"].add(params)
                    res["desc"].add(desc)
    load1 = os.getloadavg()
    images = f"the first {max_train} training images" if max_train > 0 else "55000 training images"
    print(f"\ntraining pipeline, Fashion-MNIST: {epochs} epoch(s) of {images}, batch 128; train-only seconds per "
          f"epoch (evaluation excluded), median over {reps} run(s); load average "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} before, {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} after")
    print(f"{'model':<6} {'setup':<17} {'epoch s':>8} {'min s':>7} {'max s':>7} {'epochs':>6} {'test acc':>9} "
          f"{'parameters':>10}")
    for model, _ in PIPE_MODELS:
        best = {}
        for label, side, _, _ in setups:
            res = results[(model, label)]
            if not res["secs"]:
                print(f"{model:<6} {label:<17} {'-':>8}")
                continue
            med = statistics.median(res["secs"])
            params = "/".join(str(p) for p in sorted(res["params"]))
            print(f"{model:<6} {label:<17} {med:8.2f} {min(res['secs']):7.2f} {max(res['secs']):7.2f} "
                  f"{len(res['secs']):6d} {statistics.median(res['acc']):9.4f} {params:>10}"
                  + (f"  ({res['failed']} failed)" if res["failed"] else ""))
            if side not in best or med < best[side][0]:
                best[side] = (med, label)
        if "seqnn" in best and "torch" in best:
            (s, sl), (t, tl) = best["seqnn"], best["torch"]
            print(f"  {model}: best torch {t:.2f} s ({tl}) / best seqnn {s:.2f} s ({sl}) = {t / s:.2f}x")
        for side in ("seqnn", "torch"):
            res = [results[(model, label)] for label, sd, _, _ in setups if sd == side]
            accs = [a for x in res for a in x["acc"]]
            params = sorted({p for x in res for p in x["params"]})
            descs = sorted({d for x in res for d in x["desc"]})
            if accs:
                print(f"  sanity {model} {side}: test accuracy {min(accs):.4f}..{max(accs):.4f}, parameters "
                      f"{'/'.join(map(str, params))}; {'; '.join(descs)}")
        p = [results[(model, label)]["params"] for label, *_ in setups]
        if len(set().union(*p)) > 1:
            print(f"  WARNING: {model}: seqnn and the PyTorch twin have different parameter counts")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", choices=["ops", "gemm", "rnn", "attention", "modules", "seq2seq", "pipeline"])
    ap.add_argument("--epochs", type=int, default=1, help="--only pipeline: epochs per run")
    ap.add_argument("--rounds", type=int, default=1,
                    help="--only seq2seq / rnn: run the whole comparison this many times in turn and report the "
                         "median of the rounds' own ratios and the lowest (robust to a slow spell on one side)")
    ap.add_argument("--paired", type=int, default=0, metavar="K",
                    help="--only rnn: instead of the tables, time seqnn and oneDNN per case K times back to back "
                         "and report each pair's ratio (robust to this machine's slow spells); PyTorch not run")
    ap.add_argument("--max-train", type=int, default=0,
                    help="--only pipeline: > 0 trains on the first N training images only (both sides)")
    ap.add_argument("--torch-env-as-is", action="store_true",
                    help="time PyTorch only with OPENBLAS_CORETYPE as the environment sets it (by default a "
                         "pinned core type is also tried unpinned and PyTorch's better time is compared)")
    ap.add_argument("--malloc-no-trim", action="store_true",
                    help="run every program (seqnn and PyTorch alike) with glibc's trim and mmap thresholds "
                         "at 256 MiB (GLIBC_TUNABLES), so freed memory is not handed back to the kernel")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error(f"--rounds must be >= 1, got {a.rounds}")
    if a.paired < 0:
        ap.error(f"--paired must be >= 0, got {a.paired}")
    if a.paired and a.only != "rnn":
        ap.error("--paired is for --only rnn")
    if a.reps < 1:
        ap.error(f"--reps must be >= 1, got {a.reps}")
    global TORCH_ENV_AS_IS
    TORCH_ENV_AS_IS = a.torch_env_as_is
    if "OPENBLAS_CORETYPE" in os.environ:
        print(f"note: the environment pins OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}; PyTorch is timed "
              + ("with it only" if a.torch_env_as_is else "with it and without it ('/auto'), the better compared")
              + "; seqnn's float GEMM is its own AVX-512 kernel where the CPU has it (SEQNN_GEMM=blas: OpenBLAS)")
    if a.malloc_no_trim:
        os.environ["GLIBC_TUNABLES"] = "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456"
    if a.only in (None, "gemm"):
        s = run_seqnn(os.path.join(a.build, "bench", "bench_gemm"), a.reps)
        print("\nseqnn's gemm (own AVX-512 kernel where available) vs a direct cblas_sgemm call (OpenBLAS, "
              f"core {os.environ.get('OPENBLAS_CORETYPE', 'auto')}), median of {a.reps}; > 1 = seqnn faster")
        for n in (64, 256, 512):
            w, d = s[f"BM_gemm_wrapper/{n}"], s[f"BM_cblas_direct/{n}"]
            print(f"  {n}^3 (A B^T): seqnn {w * 1e6:9.1f} us  OpenBLAS {d * 1e6:9.1f} us  {d / w:6.2f}x")
        for name in sorted(k for k in s if k.startswith("BM_wrapper_shape/")):
            d = s.get(name.replace("wrapper", "cblas"))
            M, N_, K, ta, tb = name.split("/")[1:6]
            if d:
                print(f"  M {M:>5} N {N_:>5} K {K:>5} {'T' if ta == '1' else 'N'}{'T' if tb == '1' else 'N'}: "
                      f"seqnn {s[name] * 1e6:9.1f} us  OpenBLAS {d * 1e6:9.1f} us  {d / s[name]:6.2f}x  "
                      f"({2 * int(M) * int(N_) * int(K) / s[name] / 1e9:.0f} GFLOP/s)")
        table("gemm (x @ w^T), float32, GFLOP/s", GEMM, s, run_torch(torch_cases(GEMM), a.reps), "GFLOP/s")
    if a.only in (None, "ops"):
        s = run_seqnn(os.path.join(a.build, "bench", "bench_ops"), a.reps)
        table("elementwise / softmax / layer_norm forward, float32, GB/s (bytes read+written)", OPS, s,
              run_torch(torch_cases(OPS), a.reps), "GB/s")
    if a.only == "rnn" and a.paired:
        run_rnn_paired(a.build, a.reps, a.paired)
    elif a.only == "rnn":
        run_rnn(a.build, a.reps, a.rounds)
    if a.only == "attention":
        run_attention(a.build, a.reps)
    if a.only == "modules":
        run_modules(a.build, a.reps)
    if a.only == "seq2seq":
        run_seq2seq(a.build, a.reps, a.rounds)
    if a.only == "pipeline":
        run_pipeline(a.build, a.reps, a.epochs, a.max_train)


if __name__ == "__main__":
    sys.exit(main())
