#!/usr/bin/env python3
"""PyTorch peer for `rewardlens bench model --arch gpt-neo`: a plain PyTorch GPT-Neo (the math of
transformers' GPTNeoForCausalLM: wte + learned wpe, pre-LN sequential blocks, q/k/v without bias,
out_proj with bias, scores q·kᵀ NOT scaled, global or local (windowed) attention per layer, tanh GELU,
lm_head tied to wte) with random weights, run eagerly at its best CPU settings (threads = cores; the
caller sets OMP_WAIT_POLICY=PASSIVE and the glibc malloc tunables; warm-up, then the median).
Attention uses F.scaled_dot_product_attention (scale=1, a boolean window mask) where torch has it
(2.1+), else the explicit softmax(q·kᵀ + mask)·v.

Usage: peer_gptneo.py CASES_JSON THREADS
Cases: {"case": "train_step", "shape": {vocab, hidden, layers, heads, intermediate, positions, window, batch, seq}, "repeats"}
       {"case": "sample", "shape": {vocab, hidden, layers, heads, intermediate, positions, window, prompts, prompt_len, new_tokens}, "repeats"}
Layers alternate global, local, global, ... (GPT-Neo-125m's attention_types). Prints one JSON line
per case with peer_ms and tokens_per_s.
"""
import inspect
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SDPA = getattr(F, "scaled_dot_product_attention", None)
SDPA_HAS_SCALE = SDPA is not None and "scale" in inspect.signature(SDPA).parameters


def visible(q_pos, k_len, window):
    """[Tq, k_len] bool: query at column q_pos[i] sees key j when j <= q and (global or q − window < j)."""
    j = torch.arange(k_len).unsqueeze(0)
    q = q_pos.unsqueeze(1)
    ok = j <= q
    if window > 0:
        ok = ok & (j > q - window)
    return ok


class Block(nn.Module):
    def __init__(self, h, heads, inter, window):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.q_proj = nn.Linear(h, h, bias=False)
        self.k_proj = nn.Linear(h, h, bias=False)
        self.v_proj = nn.Linear(h, h, bias=False)
        self.out_proj = nn.Linear(h, h)
        self.c_fc, self.c_proj = nn.Linear(h, inter), nn.Linear(inter, h)
        self.heads, self.hd, self.window = heads, h // heads, window

    def attn(self, x, cache=None):
        B, T, h = x.shape
        split = lambda t: t.view(B, T, self.heads, self.hd).transpose(1, 2)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        start = 0
        if cache is not None:
            if "k" in cache:
                start = cache["k"].shape[2]
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        mask = visible(torch.arange(start, start + T), k.shape[2], self.window)
        if SDPA_HAS_SCALE:
            o = SDPA(q, k, v, attn_mask=mask, scale=1.0)
        else:
            s = (q @ k.transpose(-1, -2)).masked_fill(~mask, torch.finfo(q.dtype).min)
            o = s.softmax(-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(B, T, h))

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPTNeo(nn.Module):
    def __init__(self, vocab, h, layers, heads, inter, positions, window):
        super().__init__()
        self.wte = nn.Embedding(vocab, h)
        self.wpe = nn.Embedding(positions, h)
        self.h = nn.ModuleList([Block(h, heads, inter, 0 if i % 2 == 0 else window) for i in range(layers)])
        self.ln_f = nn.LayerNorm(h)
        self.lm_head = nn.Linear(h, vocab, bias=False)
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)
        self.lm_head.weight = self.wte.weight  # tied: one tensor, gradients summed

    def forward(self, ids, pos, caches=None):
        x = self.wte(ids) + self.wpe(pos)
        for i, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[i])
        return self.lm_head(self.ln_f(x))


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
    return GPTNeo(s["vocab"], s["hidden"], s["layers"], s["heads"], s["intermediate"], s["positions"], s["window"])


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
        caches = [dict() for _ in model.h]
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
