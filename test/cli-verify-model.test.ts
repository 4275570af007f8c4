// `rewardlens verify-model` through the CLI: passes on the transformers fixture, fails (exit 1,
// naming the tensors) on a model with one weight changed, and names a missing model folder.
import { copyFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { FIXTURE_DIR, readRaw, writeRaw } from './helpers/hf-files.js';

const reference = join(FIXTURE_DIR, 'reference.safetensors');

describe('rewardlens verify-model', () => {
  it('passes on tiny-neox-a, with every tensor reported', () => {
    const r = runCli(['verify-model', '--model', FIXTURE_DIR, '--reference', reference, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    const names = out.tensors.map((t: { name: string }) => t.name);
    for (const n of ['logits', 'token_logprobs', 'loss', 'hidden.0', 'hidden.1', 'hidden.2', 'attn_out.1', 'mlp_post.0', 'mlp_out.1',
      'grad.lm_head.weight', 'grad.gpt_neox.embed_in.weight', 'grad.gpt_neox.layers.1.attention.query_key_value.weight']) {
      expect(names).toContain(n);
    }
    expect(names.filter((n: string) => n.startsWith('grad.')).length).toBe(28); // 12 per layer, embed_in, final norm (2), lm_head
    for (const t of out.tensors) expect(t.maxRel, t.name).toBeLessThan(1e-4);
  });

  it('fails on a model whose MLP bias in layer 1 was changed, naming what moved', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rl-verify-'));
    copyFileSync(join(FIXTURE_DIR, 'config.json'), join(dir, 'config.json'));
    const raw = readRaw(join(FIXTURE_DIR, 'model.safetensors'));
    const name = 'gpt_neox.layers.1.mlp.dense_h_to_4h.bias';
    const [a] = raw.header[name].data_offsets;
    const view = new DataView(raw.data.buffer, raw.data.byteOffset + a, 4);
    view.setFloat32(0, view.getFloat32(0, true) + 0.05, true);
    writeRaw(join(dir, 'model.safetensors'), raw);
    const r = runCli(['verify-model', '--model', dir, '--reference', reference]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/mlp_post\.1\s+\d+\s+\S+\s+\S+\s+FAIL/);
    expect(r.stdout).toMatch(/mlp_post\.0\s+\d+\s+\S+\s+\S+\s+ok/); // layer 0 is upstream of the change
    expect(r.stderr).toMatch(/tensor\(s\) past tolerance: .*logits/);
  });

  it('names a model folder without config.json', () => {
    const empty = mkdtempSync(join(tmpdir(), 'rl-verify-empty-'));
    mkdirSync(join(empty, 'sub'));
    const r = runCli(['verify-model', '--model', join(empty, 'sub'), '--reference', reference]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sub/);
    expect(r.stderr).toMatch(/config\.json/);
  });
});
