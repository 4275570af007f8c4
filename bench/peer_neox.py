#!/usr/bin/env python3
"""PyTorch peer for `rewardlens bench model`: a plain PyTorch GPT-NeoX (the math of transformers'
GPTNeoXForCausalLM: interleaved qkv, partial rotary in rotate_half form, parallel residual, erf GELU,
untied output) with random weights, run eagerly at its best CPU settings (threads = cores; the caller
sets OMP_WAIT_POLICY=PASSIVE and the glibc malloc tunables; warm-up, then the median).

Usage: peer_neox.py CASES_JSON THREADS
Cases: {"case": "train_step", "shape": {vocab, hidden, layers, heads, intermediate, batch, seq}, "repeats"}
       {"case": "sample", "shape": {vocab, hidden, layers, heads, intermediate, prompts, prompt_len, new_tokens}, "repeats"}
Prints one JSON line per case with peer_ms and tokens_per_s.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Rotary:
    def __init__(self, dims, base=10000, max_pos=4096):
        inv = 1.0 / (base ** (torch.arange(0, dims, 2).float() / dims))
        t = torch.arange(max_pos).float()
        freqs = torch.outer(t, inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.dims = dims

    def apply(self, x, pos):  # x [B,H,T,D], pos [B,T]
        r = self.dims
        cos = self.cos[pos].unsqueeze(1)
        sin = self.sin[pos].unsqueeze(1)
        xr, xp = x[..., :r], x[..., r:]
        x1, x2 = xr[..., : r // 2], xr[..., r // 2:]
        rot = torch.cat([-x2, x1], dim=-1)
        return torch.cat([xr * cos + rot * sin, xp], dim=-1)


class Layer(nn.Module):
    def __init__(self, h, heads, inter, rotary):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.qkv, self.dense = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.up, self.down = nn.Linear(h, inter), nn.Linear(inter, h)
        self.heads, self.hd, self.rotary = heads, h // heads, rotary

    def attn(self, x, pos, cache=None):
        B, T, h = x.shape
        qkv = self.qkv(x).view(B, T, self.heads, 3 * self.hd).permute(0, 2, 1, 3)
        q, k, v = qkv.split(self.hd, dim=-1)
        q, k = self.rotary.apply(q, pos), self.rotary.apply(k, pos)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        causal = T > 1
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal) if hasattr(F, "scaled_dot_product_attention") else \
            self._sdpa(q, k, v, causal)
        return self.dense(o.permute(0, 2, 1, 3).reshape(B, T, h))

    @staticmethod
    def _sdpa(q, k, v, causal):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if causal:
            T, S = q.shape[2], k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            s = s.masked_fill(~mask, float("-inf"))
        return s.softmax(-1) @ v

    def forward(self, x, pos, cache=None):
        return x + self.attn(self.ln1(x), pos, cache) + self.down(F.gelu(self.up(self.ln2(x))))


class NeoX(nn.Module):
    def __init__(self, vocab, h, layers, heads, inter, rotary_pct=0.25):
        super().__init__()
        rot = Rotary(int(h // heads * rotary_pct))
        self.embed = nn.Embedding(vocab, h)
        self.layers = nn.ModuleList([Layer(h, heads, inter, rot) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(h)
        self.out = nn.Linear(h, vocab, bias=False)
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)

    def forward(self, ids, pos, caches=None):
        x = self.embed(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, pos, None if caches is None else caches[i])
        return self.out(self.ln_f(x))


def median_ms(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def build(s):
    torch.manual_seed(0)
    return NeoX(s["vocab"], s["hidden"], s["layers"], s["heads"], s["intermediate"])


def train_step(s, repeats):
    model = build(s)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    B, T = s["batch"], s["seq"]
    ids = torch.randint(0, s["vocab"], (B, T))
    pos = torch.arange(T).expand(B, T)

    def step():
        logits = model(ids, pos)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, s["vocab"]), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ms = median_ms(step, repeats)
    return ms, B * T / (ms / 1000.0)


@torch.no_grad()
def sample(s, repeats):
    model = build(s)
    P, L, N = s["prompts"], s["prompt_len"], s["new_tokens"]
    ids = torch.randint(0, s["vocab"], (P, L))
    g = torch.Generator().manual_seed(0)

    def run():
        caches = [dict() for _ in model.layers]
        pos = torch.arange(L).expand(P, L)
        logits = model(ids, pos, caches)[:, -1]
        for t in range(N):
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
            if t == N - 1:
                break
            logits = model(nxt, torch.full((P, 1), L + t), caches)[:, -1]

    ms = median_ms(run, repeats)
    return ms, P * N / (ms / 1000.0)


CASES = {"train_step": train_step, "sample": sample}


def main():
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads())
    for c in json.loads(sys.argv[1]):
        ms, tps = CASES[c["case"]](c["shape"], c.get("repeats", 5))
        print(json.dumps({"case": c["case"], "shape": c["shape"], "peer": "torch", "peer_ms": ms, "tokens_per_s": tps,
                          "torch_version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
