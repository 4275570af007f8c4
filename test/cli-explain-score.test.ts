// The explain and score commands end to end (real CLI in a child process): offline and through a
// loopback OpenAI-compatible server, the cache on a rerun, Table 3 recomputed here from VADER's
// file, and bad input named by file and field with no output written.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatReply, startChatServer, type ChatServer } from './helpers/chat-server.js';
import { syntheticFeature } from './helpers/synthetic-feature.js';

const bin = join(__dirname, '..', 'bin', 'rewardlens.js');
/** Run the CLI without blocking this process's event loop (the loopback server lives here). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'rewardlens-cli-explain-'));
let server: ChatServer;
beforeAll(async () => {
  server = await startChatServer((_r, _c, res) => chatReply(res, 'x'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const vader = (() => {
  const m = new Map<string, number>();
  const path = createRequire(import.meta.url).resolve('vader-sentiment/vader_lexicon.txt');
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [w, v] = line.split('\t');
    if (w && v !== undefined) m.set(w, Number(v));
  }
  return m;
})();
/** absMeanUtility by hand: whitespace words, lower-cased, looked up as-is, else with edge punctuation stripped. */
function absMean(text: string): number {
  const found: number[] = [];
  for (const raw of text.toLowerCase().split(/\s+/).filter(Boolean)) {
    const v = vader.get(raw) ?? vader.get(raw.replace(/^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu, ''));
    if (v !== undefined) found.push(v);
  }
  return found.length ? Math.abs(found.reduce((a, b) => a + b, 0) / found.length) : 0;
}

function writeFeatures(name: string, model: string, specs: { feature: number; planted: string[] }[]): string {
  const path = join(dir, name);
  const features = specs.map((s) => syntheticFeature({ ...s, model, constant: true, seed: s.feature + 11 }));
  writeFileSync(path, JSON.stringify({ mmcs: 0.8, match: 'max', topK: specs.length, features }));
  return path;
}

describe('rewardlens explain / score', () => {
  it('offline: explanations name the planted tokens; scores give Table 3 per model and simulation above baseline', async () => {
    const base = writeFeatures('base.mlp_out.2.json', 'base', [{ feature: 1, planted: ['great', 'best'] }, { feature: 2, planted: ['awful'] }]);
    const tuned = writeFeatures('tuned.mlp_out.2.json', 'tuned', [{ feature: 3, planted: ['wonderful'] }, { feature: 4, planted: ['boring', 'dull'] }]);
    const out = join(dir, 'offline');
    const r = await cli(['explain', base, tuned, '--out', out, '--seed', '3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ex = JSON.parse(readFileSync(join(out, 'explanations.json'), 'utf8'));
    expect(ex).toMatchObject({ format: 'rewardlens-explanations', explainer: 'offline', samples: 3, seed: 3, features: [base, tuned] });
    expect(ex.explanations).toHaveLength(12);
    expect(existsSync(join(out, 'cache'))).toBe(false); // the offline explainer needs no cache
    const planted: Record<number, string[]> = { 1: ['great', 'best'], 2: ['awful'], 3: ['wonderful'], 4: ['boring', 'dull'] };
    for (const e of ex.explanations) {
      const named = [...e.text.matchAll(/'([^']+)'/g)].flatMap((m: RegExpMatchArray) => m[1].split(' '));
      expect(named.length).toBeGreaterThan(0);
      for (const w of named) expect(planted[e.feature]).toContain(w);
    }

    const scoresPath = join(out, 'scores.json');
    const s = await cli(['score', join(out, 'explanations.json'), '--out', scoresPath]);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/Table 3/);
    const sc = JSON.parse(readFileSync(scoresPath, 'utf8'));
    for (const model of ['base', 'tuned']) {
      const perSample = [0, 1, 2].map((k) => ex.explanations.filter((e: { model: string; sample: number }) => e.model === model && e.sample === k)
        .reduce((a: number, e: { text: string }) => a + absMean(e.text), 0));
      const mean = perSample.reduce((a, b) => a + b, 0) / 3;
      expect(sc.table3.models[model].perSample.map((p: { score: number }) => p.score)).toEqual(perSample.map((v) => expect.closeTo(v, 12)));
      expect(sc.table3.models[model].mean).toBeCloseTo(mean, 12);
      expect(sc.simulation.models[model].scored).toBe(6);
      expect(sc.simulation.models[model].correlation.mean).toBeGreaterThan(sc.simulation.models[model].baseline.mean);
    }
    expect(sc.table3.models.base.mean).toBeGreaterThan(0);
    expect(sc.figures).toEqual(['table3.svg', 'table3.png', 'simulation.svg', 'simulation.png'].map((f) => join(out, `scores.${f}`)));
    for (const f of sc.figures) expect(readFileSync(f).length).toBeGreaterThan(100);
  });

  it('openai through a loopback server: requests bounded, a rerun is served from the cache', async () => {
    const feats = writeFeatures('llm.json', 'base', [{ feature: 5, planted: ['superb'] }, { feature: 6, planted: ['awful'] }]);
    server.reset((req, _c, res) => chatReply(res, `Feature about ${req.messages[2].content.split('\n')[0]}.`, 30));
    const out = join(dir, 'llm');
    const args = ['explain', feats, '--explainer', 'openai', '--base-url', server.url, '--model', 'local', '--concurrency', '2', '--out', out];
    const r1 = await cli(args, { OPENAI_API_KEY: '' });
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(server.calls).toBe(6);
    expect(server.maxInFlight).toBeLessThanOrEqual(2);
    expect(JSON.parse(r1.stdout)).toMatchObject({ explanations: 6, failures: 0, requests: 6, cacheHits: 0 });
    const r2 = await cli(args, { OPENAI_API_KEY: '' });
    expect(r2.code).toBe(0);
    expect(server.calls).toBe(6);
    expect(JSON.parse(r2.stdout)).toMatchObject({ explanations: 6, requests: 0, cacheHits: 6 });
    const ex = JSON.parse(readFileSync(join(out, 'explanations.json'), 'utf8'));
    expect(ex.explainer).toBe('openai:local');
    expect(ex.explanations.map((e: { text: string }) => e.text)).toEqual([5, 5, 5, 6, 6, 6].map((f) => `Feature about Feature ${f}.`));
  });

  it('bad input: the file and field are named, nothing is written', async () => {
    const bad = join(dir, 'bad.json');
    const f = syntheticFeature({ feature: 1, planted: ['good'] });
    (f.top[3].tokens[2] as { activation: unknown }).activation = 'high';
    writeFileSync(bad, JSON.stringify({ features: [f] }));
    const out = join(dir, 'bad-out');
    const r = await cli(['explain', bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}: features[0].top[3].tokens[2]: expected {token: string, activation: number 0–10}`);
    expect(existsSync(out)).toBe(false);
    const s = await cli(['score', bad, '--out', join(dir, 's.json')]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/bad\.json: format: expected "rewardlens-explanations"/);
    const m = await cli(['explain', join(dir, 'missing.json'), '--out', out]);
    expect(m.stderr).toMatch(/missing\.json: cannot be read \(ENOENT\)/);
  });
});
