"""PyTorch 1.13 twins of seqnn's encoder-decoder models (include/seqnn/models/seq2seq.h).

Written from the header's equations, with seqnn's parameter names and registration order, so
`twin.load_state_dict(seqnn_model.state_dict())` loads strictly. Used by
tests/test_parity_seq2seq.cpp (logits and the gradients of the loss) and by the benchmark (the
same model timed in PyTorch). Dropout is not modelled (seqnn's dropout 0).

RnnSeq2SeqTwin: "rnn" architecture, source "tokens", an encoder of type gru/lstm/rnn without
self-attention (encoder.rnn.*), decoder cell gru or rnn, attention none / bahdanau / luong with
the additive, dot, scaled_dot, general or concat score.
TransformerSeq2SeqTwin: "transformer" architecture, source "tokens", tied or untied output.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


# ==================================================================== encoder
class RecurrentEncoderTwin(nn.Module):
    """seqnn's gru/lstm/rnn encoder (attention_heads 0): packed over the lengths, zero pads."""

    def __init__(self, E, H, cell='gru', bidirectional=False):
        super().__init__()
        cls = {'gru': nn.GRU, 'lstm': nn.LSTM, 'rnn': nn.RNN}[cell]
        self.rnn = cls(E, H, batch_first=True, bidirectional=bidirectional)
        self.H, self.bi = H, bidirectional

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out

    def last(self, out, lengths):
        fwd = out[torch.arange(out.shape[0]), lengths - 1]
        if not self.bi:
            return fwd
        return torch.cat([fwd[:, :self.H], out[:, 0, self.H:]], 1)


# ==================================================================== scores
# keys(k): the keys' part, once per batch; score(q, keys): (B,Lq,S).
class AdditiveScore(nn.Module):  # S_ij = v . tanh(W_q q_i + b + W_k k_j)
    def __init__(self, Dq, Dk):
        super().__init__()
        self.W_q = nn.Parameter(torch.empty(Dk, Dq))
        self.W_k = nn.Parameter(torch.empty(Dk, Dk))
        self.bias = nn.Parameter(torch.empty(Dk))
        self.v = nn.Parameter(torch.empty(Dk))

    def keys(self, k):
        return k @ self.W_k.t()

    def score(self, q, keys):
        return torch.tanh((q @ self.W_q.t() + self.bias).unsqueeze(2) + keys.unsqueeze(1)) @ self.v


class DotScore(nn.Module):  # S_ij = q_i . k_j (* 1/sqrt(Dk) scaled)
    def __init__(self, Dq, Dk, scaled=False):
        super().__init__()
        self.scale = 1.0 / math.sqrt(Dk) if scaled else 1.0

    def keys(self, k):
        return k.transpose(1, 2)

    def score(self, q, keys):
        s = torch.bmm(q, keys)
        return s * self.scale if self.scale != 1.0 else s


class GeneralScore(nn.Module):  # S_ij = q_i^T W k_j
    def __init__(self, Dq, Dk):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(Dq, Dk))

    def keys(self, k):
        return (k @ self.weight.t()).transpose(1, 2)

    def score(self, q, keys):
        return torch.bmm(q, keys)


class ConcatScore(nn.Module):  # S_ij = w_q . q_i + c + w_k . k_j
    def __init__(self, Dq, Dk):
        super().__init__()
        self.Dq = Dq
        self.weight = nn.Parameter(torch.empty(1, Dq + Dk))
        self.bias = nn.Parameter(torch.empty(1))

    def keys(self, k):
        return (k @ self.weight[:, self.Dq:].t()).transpose(1, 2)

    def score(self, q, keys):
        return q @ self.weight[:, :self.Dq].t() + self.bias + keys


def make_score(kind, Dq, Dk):
    if kind == 'additive':
        return AdditiveScore(Dq, Dk)
    if kind in ('dot', 'scaled_dot'):
        return DotScore(Dq, Dk, kind == 'scaled_dot')
    if kind == 'general':
        return GeneralScore(Dq, Dk)
    return ConcatScore(Dq, Dk)


class AttnTwin(nn.Module):
    """attn.score.* (and attn.attn_combine.* for luong: tanh(W_c [s_t; a_t] + b_c))."""

    def __init__(self, kind, H, D, combine):
        super().__init__()
        self.score = make_score(kind, H, D)
        if combine:
            self.attn_combine = nn.Linear(H + D, H)


# ==================================================================== rnn seq2seq
class RnnSeq2SeqTwin(nn.Module):
    def __init__(self, Vs, Vt, E, H, He, L=1, attention='bahdanau', score='additive', cell='gru',
                 encoder_cell='gru', bidirectional=False):
        super().__init__()
        D = He * (2 if bidirectional else 1)
        self.H, self.L, self.attention = H, L, attention
        self.src_embed = nn.Embedding(Vs, E, padding_idx=0)
        self.encoder = RecurrentEncoderTwin(E, He, encoder_cell, bidirectional)
        self.bridge = nn.Linear(D, L * H)
        self.tgt_embed = nn.Embedding(Vt, E, padding_idx=0)
        I = E + D if attention in ('none', 'bahdanau') else E
        self.decoder = {'gru': nn.GRU, 'rnn': nn.RNN}[cell](I, H, num_layers=L, batch_first=True)
        if attention != 'none':
            self.attn = AttnTwin(score, H, D, attention == 'luong')
        self.out = nn.Linear(H, Vt)

    # ---------------------------------------------------------------- pieces (also the benchmark's)
    def encode(self, src, lengths):
        """-> (mem, h0): mem = (enc (B,S,D), c (B,D), keys, pad (B,1,S) bool); h0 (L,B,H)."""
        B, S = src.shape
        enc = self.encoder(self.src_embed(src), lengths)                   # (B,S,D)
        c = self.encoder.last(enc, lengths)                                # (B,D)
        h = torch.tanh(self.bridge(c)).view(B, self.L, self.H).transpose(0, 1).contiguous()  # (L,B,H)
        if self.attention == 'none':
            return (enc, c, None, None), h
        pad = (torch.arange(S)[None, :] >= lengths[:, None]).unsqueeze(1)  # (B,1,S)
        return (enc, c, self.attn.score.keys(enc), pad), h                 # keys: once per batch

    def attend(self, q, mem):
        """softmax over the valid source positions, then the weighted sum: q (B,Lq,H) -> w, a."""
        enc, _, keys, pad = mem
        w = torch.softmax(self.attn.score.score(q, keys).masked_fill(pad, float('-inf')), -1)
        return w, torch.bmm(w, enc)

    def step(self, e, h, mem):
        """bahdanau, one step: a_t from s_{t-1}; s_t = RNN([e(y_{t-1}); a_t], s_{t-1}), layer by
        layer with the cell function (what nn.GRUCell/RNNCell call) on the decoder's weights.
        e (B,E), h (L,B,H) or a list of L (B,H) -> (s_t^L (B,H), new states (list of L), w (B,1,S))."""
        w, a = self.attend(h[-1].unsqueeze(1), mem)
        x = torch.cat([e, a.squeeze(1)], 1)
        cell = torch.gru_cell if isinstance(self.decoder, nn.GRU) else torch.rnn_tanh_cell
        d, new = self.decoder, []
        for l in range(self.L):
            x = cell(x, h[l], getattr(d, f'weight_ih_l{l}'), getattr(d, f'weight_hh_l{l}'),
                     getattr(d, f'bias_ih_l{l}'), getattr(d, f'bias_hh_l{l}'))
            new.append(x)
        return x, new, w

    def forward(self, src, lengths, tgt_in):
        B, T = tgt_in.shape
        mem, h = self.encode(src, lengths)
        enc, c = mem[0], mem[1]
        e = self.tgt_embed(tgt_in)                                         # (B,T,E)
        self.weights = None
        if self.attention == 'none':  # s_t = RNN([e(y_{t-1}); c], s_{t-1})
            o, _ = self.decoder(torch.cat([e, c.unsqueeze(1).expand(B, T, c.shape[1])], 2), h)
            return self.out(o)
        if self.attention == 'bahdanau':  # a_t from s_{t-1}; s_t = RNN([e(y_{t-1}); a_t], s_{t-1})
            outs, ws = [], []
            h = list(h.unbind(0))
            for t in range(T):
                o, h, w = self.step(e[:, t], h, mem)
                outs.append(o)
                ws.append(w)
            o = torch.stack(outs, 1)
            self.weights = torch.cat(ws, 1)
        else:  # luong: s_t first, then tanh(W_c [s_t; a_t] + b_c)
            o, _ = self.decoder(e, h)
            w, a = self.attend(o, mem)
            o = torch.tanh(self.attn.attn_combine(torch.cat([o, a], 2)))
            self.weights = w
        return self.out(o)


# ==================================================================== transformer seq2seq
def sinusoid(n, d, dtype):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...), in float64."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i2 = torch.arange(d, dtype=torch.float64)
    i2 = i2 - i2 % 2
    ang = pos * torch.pow(torch.tensor(10000.0, dtype=torch.float64), -i2 / d)[None, :]
    pe = torch.where(torch.arange(d)[None, :] % 2 == 0, torch.sin(ang), torch.cos(ang))
    return pe.to(dtype)


class TransformerSeq2SeqTwin(nn.Module):
    def __init__(self, Vs, Vt, d, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, tie=False):
        super().__init__()
        self.d, self.tie = d, tie
        if tie:
            self.out_bias = nn.Parameter(torch.zeros(Vt))
        self.src_embed = nn.Embedding(Vs, d, padding_idx=0)
        self.tgt_embed = nn.Embedding(Vt, d, padding_idx=0)
        self.transformer = nn.Transformer(d, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                          dropout=0.0, batch_first=True)
        if not tie:
            self.out = nn.Linear(d, Vt)

    def forward(self, src, lengths, tgt_in):
        S, T = src.shape[1], tgt_in.shape[1]
        dt = self.tgt_embed.weight.dtype
        pe = sinusoid(max(S, T), self.d, dt)
        x = self.src_embed(src) * math.sqrt(self.d) + pe[:S]
        y = self.tgt_embed(tgt_in) * math.sqrt(self.d) + pe[:T]
        pad = torch.arange(S)[None, :] >= lengths[:, None]
        causal = torch.triu(torch.full((T, T), float('-inf'), dtype=dt), diagonal=1)
        h = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=pad, memory_key_padding_mask=pad)
        return F.linear(h, self.tgt_embed.weight, self.out_bias) if self.tie else self.out(h)


def seq2seq_loss(logits, tgt_out, label_smoothing=0.0):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=0,
                           label_smoothing=label_smoothing)
