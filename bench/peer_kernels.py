#!/usr/bin/env python3
"""PyTorch peer for `rewardlens bench kernels`: the same math as each rewardlens kernel case, in
plain PyTorch at its best CPU settings (threads = cores, OMP_WAIT_POLICY=PASSIVE and the glibc
malloc tunables are set by the caller; warm-up, then the median of repeats).

Usage: peer_kernels.py CASES_JSON   (a JSON list of {"case", "shape", "repeats"})
Prints one JSON line per case: {"case", "shape", "peer": "torch", "peer_ms", "torch_version", "threads"}.
"""
import json
import statistics
import sys
import time

import torch


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def sae_step(shape, repeats):
    d, n, batch = shape["d"], shape["n"], shape["batch"]
    g = torch.Generator().manual_seed(0)
    W = torch.nn.Parameter(torch.nn.init.orthogonal_(torch.empty(n, d)))
    b_enc = torch.nn.Parameter(torch.zeros(n))
    b_dec = torch.nn.Parameter(torch.zeros(d))
    opt = torch.optim.Adam([W, b_enc, b_dec], lr=1e-3, foreach=True)
    x = torch.randn(batch, d, generator=g)
    l1 = 1e-3

    def step():
        Wn = W / W.norm(dim=1, keepdim=True)  # unit-norm dictionary rows, inside the forward pass
        c = torch.relu(x @ Wn.t() + b_enc)
        x_hat = c @ Wn + b_dec
        loss = (x_hat - x).pow(2).mean() + l1 * c.abs().sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return median_ms(step, repeats)


def mmcs(shape, repeats):
    n1, n2, d = shape["n1"], shape["n2"], shape["d"]
    g = torch.Generator().manual_seed(0)
    A = torch.randn(n1, d, generator=g)
    B = torch.randn(n2, d, generator=g)
    k = shape.get("topk", 10)

    @torch.no_grad()
    def run():
        An = A / A.norm(dim=1, keepdim=True)
        Bn = B / B.norm(dim=1, keepdim=True)
        cos = An @ Bn.t()
        row_max, row_arg = cos.max(dim=1)
        col_max, col_arg = cos.max(dim=0)
        top = cos.flatten().topk(k)
        return row_max.mean().item(), top

    return median_ms(run, repeats)


def ppo_loss(shape, repeats):
    B, T, V = shape["B"], shape["T"], shape["V"]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, T, V, generator=g).requires_grad_(True)
    targets = torch.randint(0, V, (B, T), generator=g)
    mask = torch.ones(B, T)
    with torch.no_grad():  # old log-probs near the current ones: ratios inside the clip range
        old_logp = torch.log_softmax(logits, -1).gather(2, targets.unsqueeze(-1)).squeeze(-1)
        old_logp += 0.01 * torch.sin(torch.arange(B * T, dtype=torch.float32)).view(B, T)
    values = torch.randn(B, T, generator=g).requires_grad_(True)
    old_values = values.detach() + 0.1 * torch.randn(B, T, generator=g)
    adv = torch.randn(B, T, generator=g)
    returns = torch.randn(B, T, generator=g)
    cr, crv, vf_coef = 0.2, 0.2, 0.1

    def masked_mean(v, m):
        return (v * m).sum() / m.sum()

    def step():
        logits.grad = None
        values.grad = None
        logp_all = torch.log_softmax(logits, dim=-1)
        logp = logp_all.gather(2, targets.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():  # TRL's entropy statistic (not part of the loss)
            entropy = masked_mean(-(logp_all.exp() * logp_all).sum(-1), mask)
        vclip = torch.max(torch.min(values, old_values + crv), old_values - crv)
        vf_loss = 0.5 * masked_mean(torch.max((values - returns) ** 2, (vclip - returns) ** 2), mask)
        ratio = torch.exp(logp - old_logp)
        pg_loss = masked_mean(torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - cr, 1 + cr)), mask)
        loss = pg_loss + vf_coef * vf_loss
        loss.backward()
        return entropy

    return median_ms(step, repeats, warmup=1)


CASES = {"sae_step": sae_step, "mmcs": mmcs, "ppo_loss": ppo_loss}


def main():
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads())
    cases = json.loads(sys.argv[1])
    for c in cases:
        ms = CASES[c["case"]](c["shape"], c.get("repeats", 10))
        print(json.dumps({"case": c["case"], "shape": c["shape"], "peer": "torch", "peer_ms": ms,
                          "torch_version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
