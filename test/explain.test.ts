// Explainers: the prompt's structure, retries (429, 5xx, malformed bodies, timeouts), bounded
// concurrency and the reply cache against a loopback OpenAI-compatible server; the offline
// explainer on a feature with planted tokens.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExplainer, explainFeatures, type Explanation } from '../src/interpret/explain/explainer.js';
import { drawShown, makeRecord, recordLines, type FeatureRecords } from '../src/interpret/records.js';
import { chatError, chatReply, startChatServer, type ChatServer } from './helpers/chat-server.js';
import { syntheticFeature } from './helpers/synthetic-feature.js';

const dir = mkdtempSync(join(tmpdir(), 'rewardlens-explain-'));
let server: ChatServer;
beforeAll(async () => {
  server = await startChatServer((_req, _call, res) => chatReply(res, 'ok'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const feat = syntheticFeature({ feature: 7, planted: ['great', 'wonderful', 'best'] });
const fast = { retryBaseMs: 5, retryMaxMs: 50 };

describe('openai explainer', () => {
  it('sends the paper prompt: system, format, one message per shown record, final request', async () => {
    server.reset((_req, _call, res) => chatReply(res, 'Explanation: "Positive words of praise."\n'));
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, model: 'test-model', ...fast });
    const e = await ex.explain(feat, { sample: 1, seed: 10 });
    expect(e.text).toBe('Positive words of praise.');
    expect(e.explainer).toBe('openai:test-model');
    expect(server.calls).toBe(1);
    const req = server.requests[0];
    expect(req.model).toBe('test-model');
    expect(req.temperature).toBeUndefined(); // the server's default, as the paper
    const shown = drawShown(feat.top, 11);
    expect(e.shown).toEqual(shown.map((r) => r.record));
    expect(req.messages).toHaveLength(2 + 5 + 1);
    expect(req.messages[0].role).toBe('system');
    expect(req.messages[0].content).toMatch(/sparse autoencoder/);
    expect(req.messages[1].content).toMatch(/token<tab>activation/i);
    expect(req.messages[1].content).toMatch(/0 to 10/);
    shown.forEach((r, j) => {
      const m = req.messages[2 + j].content;
      expect(m).toContain(`Feature 7\nTop Activation Example ${j + 1}`);
      for (const line of recordLines(r)) expect(m).toContain(line);
    });
    expect(req.messages[7].content).toMatch(/feature 7.*top 5/i);
  });

  it('retries a 429 (respecting Retry-After) and then succeeds', async () => {
    server.reset((_req, call, res) => (call === 0 ? chatError(res, 429, { 'retry-after': '0.2' }) : chatReply(res, 'Praise.')));
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, ...fast });
    const t0 = Date.now();
    const e = await ex.explain(feat, { sample: 0, seed: 0 });
    expect(e.text).toBe('Praise.');
    expect(server.calls).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190); // waited what the server asked, not the 5 ms backoff
    expect(ex.stats.retries).toBe(1);
  });

  it('500s beyond the retry budget give a reported failure, not a throw', async () => {
    server.reset((_req, _call, res) => chatError(res, 500));
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, maxRetries: 2, ...fast });
    const e = await ex.explain(feat, { sample: 0, seed: 0 });
    expect(e.text).toBeNull();
    expect(e.error).toMatch(/HTTP 500.*after 3 attempts/);
    expect(server.calls).toBe(3);
  });

  it('a client error (401) is not retried', async () => {
    server.reset((_req, _call, res) => chatError(res, 401));
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, maxRetries: 3, ...fast });
    const e = await ex.explain(feat, { sample: 0, seed: 0 });
    expect(e.text).toBeNull();
    expect(e.error).toMatch(/HTTP 401/);
    expect(server.calls).toBe(1);
  });

  it('malformed JSON and empty replies are retried, then reported', async () => {
    server.reset((_req, call, res) => {
      if (call === 0) res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [');
      else if (call === 1) void chatReply(res, '   ');
      else void chatReply(res, 'Words of praise.');
    });
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, ...fast });
    const e = await ex.explain(feat, { sample: 0, seed: 0 });
    expect(e.text).toBe('Words of praise.');
    expect(server.calls).toBe(3);

    server.reset((_req, _call, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('not json'));
    const ex2 = createExplainer({ kind: 'openai', baseURL: server.url, maxRetries: 1, ...fast });
    const bad = await ex2.explain(feat, { sample: 0, seed: 0 });
    expect(bad.text).toBeNull();
    expect(bad.error).toMatch(/malformed reply/);
    expect(server.calls).toBe(2);
  });

  it('a request past the timeout is retried, and reported when every attempt times out', async () => {
    server.reset((_req, call, res) => (call === 0 ? chatReply(res, 'late', 1000) : chatReply(res, 'In time.')));
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, timeoutMs: 150, ...fast });
    const e = await ex.explain(feat, { sample: 0, seed: 0 });
    expect(e.text).toBe('In time.');
    expect(server.calls).toBe(2);

    server.reset((_req, _call, res) => chatReply(res, 'late', 1000));
    const ex2 = createExplainer({ kind: 'openai', baseURL: server.url, timeoutMs: 100, maxRetries: 1, ...fast });
    const bad = await ex2.explain(feat, { sample: 0, seed: 0 });
    expect(bad.text).toBeNull();
    expect(bad.error).toMatch(/timed out/);
  });

  it('explainFeatures: 3 samples per feature, concurrency bounded, failures reported per explanation', async () => {
    const features = [0, 1, 2, 3].map((i) => syntheticFeature({ feature: i, planted: ['good'] }));
    server.reset(async (req, _call, res) => {
      // feature 2 always fails; the rest answer after a short delay so requests overlap
      if (req.messages[2].content.startsWith('Feature 2\n')) return chatError(res, 503);
      await chatReply(res, `Explains ${req.messages[2].content.split('\n')[0]}.`, 40);
    });
    const ex = createExplainer({ kind: 'openai', baseURL: server.url, concurrency: 2, maxRetries: 1, ...fast });
    const seen: number[] = [];
    const out = await explainFeatures(features, ex, { samples: 3, seed: 5, concurrency: 8, onProgress: (d) => seen.push(d) });
    expect(out).toHaveLength(12);
    expect(out.map((e) => [e.feature, e.sample])).toEqual(features.flatMap((f) => [0, 1, 2].map((s) => [f.feature, s])));
    for (const e of out) {
      if (e.feature === 2) {
        expect(e.text).toBeNull();
        expect(e.error).toMatch(/HTTP 503/);
      } else {
        expect(e.text).toBe(`Explains Feature ${e.feature}.`);
      }
      expect(e.shown).toEqual(drawShown(features[e.feature].top, 5 + e.sample).map((r) => r.record));
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(server.maxInFlight).toBe(2); // bounded by the client, and the bound was reached
  });

  it('caches replies: a second run makes zero requests and counts cache hits', async () => {
    const cacheDir = join(dir, 'cache');
    const features = [syntheticFeature({ feature: 1, planted: ['bad'] }), syntheticFeature({ feature: 2, planted: ['good'] })];
    server.reset((req, _call, res) => chatReply(res, `About ${req.messages[2].content.split('\n')[0]}.`));
    const first = await explainFeatures(features, createExplainer({ kind: 'openai', baseURL: server.url, cacheDir, ...fast }), { samples: 3 });
    expect(server.calls).toBe(6);
    expect(first.every((e) => !e.cached)).toBe(true);
    expect(readdirSync(cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f))).toHaveLength(6);
    server.reset((_req, _call, res) => chatError(res, 500));
    const ex2 = createExplainer({ kind: 'openai', baseURL: server.url, cacheDir, ...fast });
    const second = await explainFeatures(features, ex2, { samples: 3 });
    expect(server.calls).toBe(0);
    expect(ex2.stats.cacheHits).toBe(6);
    expect(second.map((e) => e.text)).toEqual(first.map((e) => e.text));
    expect(second.every((e) => e.cached)).toBe(true);
    // another model name is another cache key
    server.reset((_req, _call, res) => chatReply(res, 'Other.'));
    await createExplainer({ kind: 'openai', baseURL: server.url, cacheDir, model: 'other', ...fast }).explain(features[0], { sample: 0, seed: 0 });
    expect(server.calls).toBe(1);
  });

  it('bad options are clear errors', () => {
    const saved = { key: process.env.OPENAI_API_KEY, url: process.env.OPENAI_BASE_URL };
    delete process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_BASE_URL;
    try {
      expect(() => createExplainer({ kind: 'openai' })).toThrow(/API key.*OPENAI_API_KEY/);
      process.env.OPENAI_BASE_URL = 'localhost:1234';
      expect(() => createExplainer({ kind: 'openai' })).toThrow(/http\(s\) URL for OPENAI_BASE_URL/);
    } finally {
      if (saved.key !== undefined) process.env.OPENAI_API_KEY = saved.key;
      if (saved.url !== undefined) process.env.OPENAI_BASE_URL = saved.url;
      else delete process.env.OPENAI_BASE_URL;
    }
    expect(() => createExplainer({ kind: 'gpt' as 'openai' })).toThrow(/"openai", "offline" for kind/);
    expect(() => createExplainer({ kind: 'openai', baseURL: server.url, concurrency: 0 })).toThrow(/concurrency/);
    expect(() => createExplainer({ kind: 'openai', baseURL: 'ftp://x' })).toThrow(/http\(s\) URL for baseURL/);
  });
});

describe('offline explainer', () => {
  it('names the planted tokens, deterministically', async () => {
    const planted = ['great', 'wonderful', 'best'];
    const f = syntheticFeature({ feature: 3, planted, seed: 42 });
    const ex = createExplainer({ kind: 'offline' });
    const out: Explanation[] = await explainFeatures([f], ex, { samples: 3, seed: 0 });
    for (const e of out) {
      const quoted = [...e.text!.matchAll(/'([^']+)'/g)].map((m) => m[1]);
      expect(e.text).toMatch(/^Fires on tokens like /);
      // every named term is made of planted tokens, and each planted token shown is named
      for (const q of quoted) for (const w of q.split(' ')) expect(planted).toContain(w);
      const shownTokens = new Set(drawShown(f.top, e.sample).flatMap((r) => r.tokens.filter((t) => t.activation > 0).map((t) => t.token.trim())));
      for (const p of shownTokens) expect(quoted.join(' ')).toContain(p);
    }
    const again = await explainFeatures([f], ex, { samples: 3, seed: 0 });
    expect(again.map((e) => e.text)).toEqual(out.map((e) => e.text));
  });

  it('names a bigram when the pair, not its words, is what distinguishes the top records', async () => {
    // top records: "... not good ..." with both tokens firing; random records use "not" and "good" apart, often
    const filler = ['the', 'movie', 'was', 'a', 'plot', 'and'];
    const top = Array.from({ length: 20 }, (_, i) => {
      const toks = [0, 1, 2, 3, 4, 5].map((k) => ' ' + filler[(i + k) % filler.length]);
      toks.splice(2, 0, ' not', ' good');
      return makeRecord(100 + i, toks, toks.map((t) => (t === ' not' || t === ' good' ? 1 : 0)));
    });
    const random = Array.from({ length: 20 }, (_, i) => {
      const toks = [0, 1, 2, 3, 4, 5].map((k) => ' ' + filler[(i + 2 * k) % filler.length]);
      toks.splice(1, 0, ' good');
      toks.splice(5, 0, ' not');
      return makeRecord(i, toks, toks.map(() => 0));
    });
    const f: FeatureRecords = { model: 'base', layer: 1, hook: 'mlp_out', feature: 0, matchedSmall: 0, matchCos: 1, top, random };
    const e = await createExplainer({ kind: 'offline' }).explain(f, { sample: 0, seed: 0 });
    expect(e.text).toBe("Fires on tokens and phrases like 'not good'.");
  });
});
