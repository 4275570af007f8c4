// The ONNX classifier reward against logits PyTorch computed for the tiny DistilBERT fixture
// (scripts/make-tiny-classifier.py), and its hub-id path through the loopback hub.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ClassifierReward, createReward, resolveClassifier } from '../src/reward/index.js';
import { startHubServer, type FakeHub, type HubFileSpec } from './helpers/hub-server.js';

const FIXTURE = join(__dirname, 'fixtures', 'tiny-distilbert-imdb');
interface RefCase { text: string; input_ids: number[]; logits: [number, number] }
const ref = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { labels: string[]; max_length: number; cases: RefCase[] };
const TEXTS = ref.cases.map((c) => c.text);
const TOL = 1e-4;

function expectClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(TOL);
  }
}

let clf: ClassifierReward;
beforeAll(async () => {
  clf = await ClassifierReward.load(FIXTURE);
});
afterAll(async () => {
  await clf?.dispose();
});

describe('ClassifierReward on the tiny DistilBERT fixture', () => {
  it('the fixture covers different lengths and one text past 512 tokens', () => {
    const lengths = ref.cases.map((c) => c.input_ids.length);
    expect(new Set(lengths).size).toBe(lengths.length);
    expect(Math.max(...lengths)).toBe(512);
    expect(ref.labels).toEqual(['NEGATIVE', 'POSITIVE']);
  });

  it('tokenises as PyTorch was fed, truncating long texts to 512 tokens with [SEP] kept', () => {
    for (const c of ref.cases) expect(clf.encode(c.text), c.text.slice(0, 40)).toEqual(c.input_ids);
  });

  it('gives the POSITIVE logit of each text alone (≤1e-4 from PyTorch)', async () => {
    expect(clf.label).toBe('POSITIVE');
    expect(clf.labels).toEqual(['NEGATIVE', 'POSITIVE']);
    for (const c of ref.cases) {
      const s = await clf.score([c.text]);
      expect(s).toBeInstanceOf(Float32Array);
      expectClose(s, [c.logits[1]], c.text.slice(0, 40));
    }
  });

  it('gives the same logits for a padded batch of texts of different lengths, in one batch or several', async () => {
    const all = await clf.logits(TEXTS);
    expectClose(all, ref.cases.flatMap((c) => c.logits), 'batched logits');
    const expected = ref.cases.map((c) => c.logits[1]);
    expectClose(await clf.score(TEXTS), expected, 'score, one batch');
    const small = await ClassifierReward.load(FIXTURE, { batchSize: 3 });
    try {
      expectClose(await small.score(TEXTS), expected, 'score, batches of 3');
      // a reversed order pads differently; each text keeps its own score
      expectClose(await small.score([...TEXTS].reverse()), [...expected].reverse(), 'score, reversed');
    } finally {
      await small.dispose();
    }
    expect(await clf.score([])).toEqual(new Float32Array(0));
  });

  it('the label option selects the other logit', async () => {
    const neg = await ClassifierReward.load(FIXTURE, { label: 'NEGATIVE' });
    try {
      expect(neg.labelIndex).toBe(0);
      expectClose(await neg.score(TEXTS), ref.cases.map((c) => c.logits[0]), 'NEGATIVE logits');
    } finally {
      await neg.dispose();
    }
  });

  it('a shorter maxLength truncates the content and keeps [CLS] … [SEP]', async () => {
    const short = await ClassifierReward.load(FIXTURE, { maxLength: 8 });
    try {
      const long = ref.cases[1];
      expect(long.input_ids.length).toBeGreaterThan(8);
      const cut = [...long.input_ids.slice(0, 7), long.input_ids[long.input_ids.length - 1]];
      expect(short.encode(long.text)).toEqual(cut);
      // a text that already fits is untouched, and equals the reference
      expectClose(await short.score([ref.cases[0].text]), [ref.cases[0].logits[1]], 'short text under maxLength 8');
    } finally {
      await short.dispose();
    }
  });

  it('rejects a bad label, listing the labels present, and other bad options', async () => {
    await expect(ClassifierReward.load(FIXTURE, { label: 'positive' })).rejects.toThrow(
      /Expected one of the labels in .*config\.json \("NEGATIVE", "POSITIVE"\) for label but received "positive"/,
    );
    await expect(ClassifierReward.load(FIXTURE, { batchSize: 0 })).rejects.toThrow(/integer >= 1 for batchSize but received 0/);
    await expect(ClassifierReward.load(FIXTURE, { maxLength: 600 })).rejects.toThrow(/integer <= 512 \(max_position_embeddings .*\) for maxLength but received 600/);
    await expect(clf.score(['ok', 3 as unknown as string])).rejects.toThrow(/Expected a string for texts\[1\] but received 3/);
  });

  it('names the missing files of an incomplete folder', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'rl-clf-'));
    try {
      cpSync(FIXTURE, tmp, { recursive: true });
      rmSync(join(tmp, 'onnx'), { recursive: true });
      rmSync(join(tmp, 'tokenizer.json'));
      await expect(ClassifierReward.load(tmp)).rejects.toThrow(/lacks tokenizer\.json, onnx\/model\.onnx/);
      await expect(ClassifierReward.load(join(tmp, 'nope'))).rejects.toThrow(/nope: no such folder/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses to score after dispose', async () => {
    const r = await ClassifierReward.load(FIXTURE);
    await r.dispose();
    await expect(r.score(['good'])).rejects.toThrow(/was disposed/);
  });

  it('createReward("classifier:DIR") loads the folder with the options', async () => {
    const r = await createReward(`classifier:${FIXTURE}`, { label: 'NEGATIVE', batchSize: 2 });
    try {
      expect(r.name).toBe(`classifier:${FIXTURE}`);
      expectClose(await r.score(TEXTS.slice(0, 3)), ref.cases.slice(0, 3).map((c) => c.logits[0]), 'createReward NEGATIVE');
    } finally {
      await r.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------------

const ENV_KEYS = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME'];

function fixtureFiles(): HubFileSpec[] {
  const out: HubFileSpec[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push({ path: relative(FIXTURE, full).split('\\').join('/'), content: readFileSync(full), lfs: name.endsWith('.onnx') });
    }
  };
  walk(FIXTURE);
  return out;
}

describe('classifier:ORG/NAME through the hub', () => {
  let saved: Record<string, string | undefined>;
  let tmp: string;
  let hub: FakeHub | undefined;
  beforeEach(() => {
    saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
    for (const k of ENV_KEYS) delete process.env[k];
    tmp = mkdtempSync(join(tmpdir(), 'rl-clf-hub-'));
    process.env['HF_TOKEN_PATH'] = join(tmp, 'no-token-file');
  });
  afterEach(async () => {
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await hub?.close();
    hub = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it('downloads the classifier files into the hub cache, scores as the folder does, then works offline', async () => {
    hub = await startHubServer();
    const files = [...fixtureFiles(), { path: 'pytorch_model.bin', content: Buffer.alloc(1000, 1), lfs: true }, { path: 'README.md', content: '# tiny' }];
    const commit = hub.addCommit('lvwerra/tiny-distilbert-imdb', files);
    const cache = join(tmp, 'cache');
    const r = await createReward('classifier:lvwerra/tiny-distilbert-imdb', { cacheDir: cache, endpoint: hub.endpoint });
    try {
      expect(r.name).toBe('classifier:lvwerra/tiny-distilbert-imdb');
      expectClose(await r.score(TEXTS), ref.cases.map((c) => c.logits[1]), 'hub classifier');
    } finally {
      await r.dispose();
    }
    const snap = join(cache, 'models--lvwerra--tiny-distilbert-imdb', 'snapshots', commit);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'special_tokens_map.json', 'vocab.txt']) {
      expect(existsSync(join(snap, f)), f).toBe(true);
    }
    expect(existsSync(join(snap, 'pytorch_model.bin'))).toBe(false);
    expect(existsSync(join(snap, 'README.md'))).toBe(false);
    expect(hub.requestsFor('pytorch_model.bin')).toEqual([]);
    expect(readFileSync(join(cache, 'models--lvwerra--tiny-distilbert-imdb', 'refs', 'main'), 'utf8').trim()).toBe(commit);

    // Offline, from the cache alone: no request reaches the hub.
    const before = hub.requests.length;
    const dir = await resolveClassifier('lvwerra/tiny-distilbert-imdb', { cacheDir: cache, offline: true });
    expect(dir).toBe(snap);
    const offline = await createReward('classifier:lvwerra/tiny-distilbert-imdb', { cacheDir: cache, offline: true, label: 'NEGATIVE' });
    try {
      expectClose(await offline.score([TEXTS[0]]), [ref.cases[0].logits[0]], 'offline classifier');
    } finally {
      await offline.dispose();
    }
    expect(hub.requests.length).toBe(before);
  });

  it('works without the optional files, and names onnx/model.onnx when the repo lacks it', async () => {
    hub = await startHubServer();
    const base = fixtureFiles().filter((f) => f.path !== 'vocab.txt' && f.path !== 'special_tokens_map.json');
    hub.addCommit('org/no-extras', base);
    hub.addCommit('org/no-onnx', base.filter((f) => f.path !== 'onnx/model.onnx'));
    const cache = join(tmp, 'cache');
    const r = await createReward('classifier:org/no-extras', { cacheDir: cache, endpoint: hub.endpoint });
    try {
      expectClose(await r.score([TEXTS[2]]), [ref.cases[2].logits[1]], 'classifier without extras');
    } finally {
      await r.dispose();
    }
    await expect(createReward('classifier:org/no-onnx', { cacheDir: cache, endpoint: hub.endpoint })).rejects.toThrow(
      /org\/no-onnx@main has no onnx\/model\.onnx.*ONNX form/,
    );
    await expect(createReward('classifier:org/never-downloaded', { cacheDir: cache, offline: true })).rejects.toThrow(/org\/never-downloaded@main .*never downloaded/);
  });
});
