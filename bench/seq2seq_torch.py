"""The PyTorch 1.13 side of bench_seq2seq.cpp (issue 6's speed benchmark): the same character GRU
encoder-decoder with additive attention, the same batch, the same three cases. The model is
tests/parity/seq2seq_twin.py's RnnSeq2SeqTwin (the twin the parity tests check against seqnn):
nn.GRU over pack_padded_sequence for the encoder, W_k h computed once per batch, a GRU-cell loop
(torch.gru_cell on the nn.GRU's weights, what nn.GRUCell calls) for the decoder,
F.cross_entropy(ignore_index=0), torch.optim.Adam.

bench/compare.py --only seq2seq times make_case(name)() with its TORCH_TIMER; alone:
    /usr/bin/python3 bench/seq2seq_torch.py     (one timing per case, torch's default threads)
"""
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
from seq2seq_twin import RnnSeq2SeqTwin, seq2seq_loss  # noqa: E402

B, V, E, H = 64, 100, 64, 128
BOS, EOS = 2, 3
STEPS, BEAM = 40, 4


def make_batch():
    """bench_seq2seq.cpp's batch: ragged sources of 20..40 chars and targets of 19..39 chars
    (+ BOS / EOS), pads 0 -> (src, lengths, tgt_in, tgt_out, non-pad target tokens)."""
    S = [20 + (7 * b + 3) % 21 for b in range(B)]
    M = [19 + (11 * b + 5) % 21 for b in range(B)]
    Smax, T = max(S), max(M) + 1
    src = torch.zeros(B, Smax, dtype=torch.long)
    tgt_in = torch.zeros(B, T, dtype=torch.long)
    tgt_out = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        for s in range(S[b]):
            src[b, s] = 4 + (31 * b + 17 * s + 5) % 96
        tgt_in[b, 0] = BOS
        for t in range(M[b]):
            y = 4 + (13 * b + 29 * t + 7) % 96
            tgt_in[b, t + 1] = y
            tgt_out[b, t] = y
        tgt_out[b, M[b]] = EOS
    return src, torch.tensor(S), tgt_in, tgt_out, sum(M) + B


def make_model():
    """Encoder GRU(64 -> 128) unidirectional, decoder GRU 128, bahdanau/additive, vocab 100."""
    torch.manual_seed(1)
    m = RnnSeq2SeqTwin(V, V, E, H, H, 1, 'bahdanau', 'additive', 'gru')
    k = 1.0 / math.sqrt(H)
    for p in m.attn.score.parameters():  # the twin leaves them for load_state_dict; seqnn's bounds
        torch.nn.init.uniform_(p, -k, k)
    return m


def greedy(m, src, lengths, steps):
    """Greedy decoding for exactly `steps` steps (no EOS check: the EOS logit is suppressed)."""
    mem, h = m.encode(src, lengths)
    h = list(h.unbind(0))
    tok = torch.full((src.shape[0],), BOS, dtype=torch.long)
    out, lp = [], torch.zeros(src.shape[0])
    for _ in range(steps):
        o, h, _ = m.step(m.tgt_embed(tok), h, mem)
        best, tok = torch.log_softmax(m.out(o), -1).max(-1)
        lp += best
        out.append(tok)
    return torch.stack(out, 1), lp


def beam(m, src, lengths, steps, K):
    """Batched beam search (beam K, every hypothesis exactly `steps` tokens): the first step from
    the B fresh rows, then B*K rows; each step the K best of the K*V continuations per source
    survive; back-pointers, and the best hypothesis per source is rebuilt at the end."""
    n = src.shape[0]
    mem, h = m.encode(src, lengths)
    h = list(h.unbind(0))
    o, h, _ = m.step(m.tgt_embed(torch.full((n,), BOS, dtype=torch.long)), h, mem)
    scores, tok = torch.log_softmax(m.out(o), -1).topk(K, -1)  # (n,K)
    rows = torch.arange(n).repeat_interleave(K)
    mem = tuple(x.index_select(0, rows) for x in mem)
    h = [x.index_select(0, rows) for x in h]
    tok, scores = tok.reshape(-1), scores.reshape(-1)
    base = (torch.arange(n) * K)[:, None]
    toks, parents = [tok], []
    for _ in range(1, steps):
        o, h, _ = m.step(m.tgt_embed(tok), h, mem)
        logp = torch.log_softmax(m.out(o), -1)  # (n*K,V)
        Vt = logp.shape[1]
        scores, flat = (scores[:, None] + logp).view(n, K * Vt).topk(K, -1)
        parent = (base + torch.div(flat, Vt, rounding_mode='floor')).view(-1)
        tok, scores = (flat % Vt).view(-1), scores.view(-1)
        h = [x.index_select(0, parent) for x in h]
        toks.append(tok)
        parents.append(parent)
    row = base.view(-1)  # topk is sorted: beam 0 of each source is its best
    out = [toks[-1][row]]
    for t in range(steps - 2, -1, -1):
        row = parents[t][row]
        out.append(toks[t][row])
    return torch.stack(out[::-1], 1), scores.view(n, K)[:, 0]


def make_case(name):
    """'train' | 'greedy' | 'beam4' -> a callable doing one iteration of bench_seq2seq's case."""
    src, lengths, tgt_in, tgt_out, _ = make_batch()
    m = make_model()
    if name == 'train':
        m.train()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)

        def f():
            loss = seq2seq_loss(m(src, lengths, tgt_in), tgt_out)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return f
    m.eval()
    with torch.no_grad():
        m.out.bias[EOS] = -1e4  # as bench_seq2seq.cpp: every row decodes exactly STEPS steps

    def g():
        with torch.no_grad():
            if name == 'greedy':
                out, _ = greedy(m, src, lengths, STEPS)
            else:
                out, _ = beam(m, src, lengths, STEPS, BEAM)
        assert out.shape == (B, STEPS)
    return g


if __name__ == '__main__':
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; tokens per train step: {make_batch()[4]}")
    for case in ('train', 'greedy', 'beam4'):
        f = make_case(case)
        f()
        t0 = time.perf_counter()
        for _ in range(5):
            f()
        dt = (time.perf_counter() - t0) / 5
        print(f"{case:<8} {dt * 1e3:9.2f} ms")
