#!/usr/bin/env python3
"""PyTorch peer for `rewardlens bench ppo`: one PPO step as TRL 0.7's PPOTrainer computes it, in plain
PyTorch (TRL itself is not installable here), on the GPT-NeoX of peer_neox.py with TRL's value head
(Dropout(0.1) then Linear on the last hidden state): sample B responses of N tokens with a KV cache
(top-k 0, top-p 1), log-probs and values of the policy and the reference, per-token KL rewards with the
score at the last token, GAE (γ 1, λ 0.95), whitened advantages, then ppo_epochs passes of shuffled
minibatches: clipped policy and value losses, backward, grad-norm clip, AdamW. Scores are random (the
reward model is not part of the measured step on either side). Best CPU settings as peer_neox.py.

Usage: peer_ppo.py CASES_JSON THREADS
Case: {"case": "ppo_step", "shape": {vocab, hidden, layers, heads, intermediate, batch, mini_batch, epochs, prompt_len, new_tokens}, "repeats"}
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_neox import NeoX, median_ms  # noqa: E402


class PolicyWithValueHead(nn.Module):
    def __init__(self, s):
        super().__init__()
        torch.manual_seed(0)
        self.lm = NeoX(s["vocab"], s["hidden"], s["layers"], s["heads"], s["intermediate"])
        self.dropout = nn.Dropout(0.1)
        self.v_head = nn.Linear(s["hidden"], 1)

    def forward(self, ids, pos, caches=None, values=True):
        x = self.lm.embed(ids)
        for i, layer in enumerate(self.lm.layers):
            x = layer(x, pos, None if caches is None else caches[i])
        h = self.lm.ln_f(x)
        logits = self.lm.out(h)
        return logits, (self.v_head(self.dropout(h)).squeeze(-1) if values else None)


def logprobs_from_logits(logits, labels):
    return torch.gather(F.log_softmax(logits, dim=-1), 2, labels.unsqueeze(-1)).squeeze(-1)


def masked_mean(x, m):
    return (x * m).sum() / m.sum()


def masked_whiten(x, m):
    mean = masked_mean(x, m)
    var = masked_mean((x - mean) ** 2, m) * m.sum() / (m.sum() - 1)
    return (x - mean) * torch.rsqrt(var + 1e-8)


def ppo_step(s, repeats):
    policy = PolicyWithValueHead(s)
    ref = PolicyWithValueHead(s)
    ref.load_state_dict(policy.state_dict())
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-6, foreach=True)
    B, mb, P, N = s["batch"], s["mini_batch"], s["prompt_len"], s["new_tokens"]
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, s["vocab"], (B, P), generator=g)

    def step():
        policy.train()  # TRL leaves the value head's dropout on throughout
        with torch.no_grad():
            caches = [dict() for _ in policy.lm.layers]
            logits, _ = policy(prompts, torch.arange(P).expand(B, P), caches, values=False)
            nxt_logits = logits[:, -1]
            out = []
            for t in range(N):
                nxt = torch.multinomial(torch.softmax(nxt_logits, -1), 1, generator=g)
                out.append(nxt)
                if t == N - 1:
                    break
                nxt_logits = policy(nxt, torch.full((B, 1), P + t), caches, values=False)[0][:, -1]
            seq = torch.cat([prompts] + out, dim=1)
            T = seq.shape[1]
            pos = torch.arange(T).expand(B, T)
            logits, values = policy(seq, pos)
            old_logp = logprobs_from_logits(logits[:, :-1], seq[:, 1:])
            values = values[:, :-1]
            ref_logits, _ = ref(seq, pos, values=False)
            ref_logp = logprobs_from_logits(ref_logits[:, :-1], seq[:, 1:])
            mask = torch.zeros(B, T - 1)
            mask[:, P - 1:] = 1
            scores = torch.randn(B, generator=g)
            rewards = -0.5 * (old_logp - ref_logp)
            rewards[:, -1] += scores
            rewards, values = rewards * mask, values * mask
            lastgaelam, adv_rev = 0, []
            for t in reversed(range(T - 1)):
                nextv = values[:, t + 1] if t < T - 2 else 0.0
                delta = rewards[:, t] + nextv - values[:, t]
                lastgaelam = delta + 0.95 * lastgaelam
                adv_rev.append(lastgaelam)
            adv = torch.stack(adv_rev[::-1]).transpose(0, 1)
            returns = adv + values
            adv = masked_whiten(adv, mask)
        for _ in range(s["epochs"]):
            perm = torch.randperm(B, generator=g)
            for i in range(0, B, mb):
                idx = perm[i:i + mb]
                logits, vpred = policy(seq[idx], pos[idx])
                logp = logprobs_from_logits(logits[:, :-1], seq[idx][:, 1:])
                vpred = vpred[:, :-1]
                m, a, r, ov = mask[idx], adv[idx], returns[idx], values[idx]
                vclip = torch.clamp(vpred, ov - 0.2, ov + 0.2)
                vf = 0.5 * masked_mean(torch.max((vpred - r) ** 2, (vclip - r) ** 2), m)
                ratio = torch.exp(logp - old_logp[idx])
                pg = masked_mean(torch.max(-a * ratio, -a * torch.clamp(ratio, 0.8, 1.2)), m)
                loss = pg + 0.1 * vf
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
                opt.step()

    ms = median_ms(step, repeats)
    return ms, B * N / (ms / 1000.0)


def main():
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads())
    for c in json.loads(sys.argv[1]):
        ms, tps = ppo_step(c["shape"], c.get("repeats", 3))
        print(json.dumps({"case": c["case"], "shape": c["shape"], "peer": "torch", "peer_ms": ms, "tokens_per_s": tps,
                          "torch_version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
