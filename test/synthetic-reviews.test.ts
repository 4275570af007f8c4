// The synthetic review generator: determinism per seed (byte-identical files), prefix stability,
// label balance, lengths, and sentiment words of both signs under both labels, every VADER word of
// |valence| >= 1 coming from the generator's sentiment lists; the JSONL reader/writer; the CLI.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectRecords, corpusFiles, readJsonlAll, recordLine, writeJsonl } from '../src/data/corpus.js';
import { corpusFileInfo, defaultCorpusManifest, defaultCorpusReviews, ensureDefaultCorpus } from '../src/data/defaults.js';
import { readVaderLexicon, sentimentVocabulary, syntheticReviews, words, writeSyntheticCorpus } from '../src/data/synthetic-reviews.js';
import { FileFormatError } from '../src/errors.js';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'rl-synth-'));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const sample = [...syntheticReviews('train', 2000, 3)];

describe('synthetic reviews', () => {
  it('writes byte-identical files for the same seed and different ones for another seed', async () => {
    const a = await writeSyntheticCorpus(join(tmp, 'a'), { seed: 11, train: 300, test: 100 });
    const b = await writeSyntheticCorpus(join(tmp, 'b'), { seed: 11, train: 300, test: 100 });
    const c = await writeSyntheticCorpus(join(tmp, 'c'), { seed: 12, train: 300, test: 100 });
    expect(sha(a.train)).toBe(sha(b.train));
    expect(sha(a.test)).toBe(sha(b.test));
    expect(sha(a.train)).not.toBe(sha(c.train));
    expect(sha(a.test)).not.toBe(sha(c.test));
    expect(sha(a.train)).not.toBe(sha(a.test));
    const recs = await readJsonlAll(a.train);
    expect(recs).toHaveLength(300);
    expect(recs).toEqual([...syntheticReviews('train', 300, 11)]);
  });

  it('is prefix-stable: the first n reviews do not depend on the size asked for, nor test on train', () => {
    const small = [...syntheticReviews('test', 50, 5)];
    const large = [...syntheticReviews('test', 500, 5)];
    expect(large.slice(0, 50)).toEqual(small);
    const train = [...syntheticReviews('train', 50, 5)];
    expect(train).not.toEqual(small);
  });

  it('balances labels exactly in pairs', () => {
    const pos = sample.filter((r) => r.label === 1).length;
    expect(pos).toBe(1000);
    for (let i = 0; i < sample.length; i += 2) expect(sample[i].label + sample[i + 1].label).toBe(1);
    // Not a fixed alternation.
    const firstOfPair = sample.filter((_, i) => i % 2 === 0).map((r) => r.label);
    expect(firstOfPair.filter((l) => l === 1).length).toBeGreaterThan(400);
    expect(firstOfPair.filter((l) => l === 1).length).toBeLessThan(600);
  });

  it('makes reviews of 3–10 sentences and 40–200 words, most longer than 200 characters', () => {
    const counts = sample.map((r) => r.text.split(/\s+/).filter((w) => /\w/.test(w)).length);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(40);
    expect(Math.max(...counts)).toBeLessThanOrEqual(200);
    const sentences = sample.map((r) => (r.text.match(/[.!?](\s|$)/g) ?? []).length);
    expect(Math.min(...sentences)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...sentences)).toBeLessThanOrEqual(10);
    expect(sample.filter((r) => r.text.length > 200).length / sample.length).toBeGreaterThan(0.95);
    // Variety: few exact repeats of whole sentences across the sample beyond the short formulaic ones.
    const distinct = new Set(sample.map((r) => r.text));
    expect(distinct.size).toBe(sample.length);
  });

  it('uses sentiment words of both signs in both labels, skewed toward the label', () => {
    const { positive, negative, valence } = sentimentVocabulary();
    expect(positive.length + negative.length).toBeGreaterThan(250);
    for (const w of positive) expect(valence.get(w)).toBeGreaterThanOrEqual(1);
    for (const w of negative) expect(valence.get(w)).toBeLessThanOrEqual(-1);
    const pos = new Set(positive);
    const neg = new Set(negative);
    const tally = [[0, 0], [0, 0]]; // [label][0: positive words, 1: negative words]
    let bothInPositive = 0;
    let bothInNegative = 0;
    for (const r of sample) {
      const ws = words(r.text);
      const p = ws.filter((w) => pos.has(w)).length;
      const n = ws.filter((w) => neg.has(w)).length;
      tally[r.label][0] += p;
      tally[r.label][1] += n;
      if (p > 0 && n > 0) r.label === 1 ? bothInPositive++ : bothInNegative++;
    }
    const posShare = tally[1][0] / (tally[1][0] + tally[1][1]);
    const negShare = tally[0][1] / (tally[0][0] + tally[0][1]);
    expect(posShare).toBeGreaterThan(0.6);
    expect(posShare).toBeLessThan(0.85);
    expect(negShare).toBeGreaterThan(0.6);
    expect(negShare).toBeLessThan(0.85);
    expect(bothInPositive).toBeGreaterThan(500);
    expect(bothInNegative).toBeGreaterThan(500);
    // Many distinct sentiment words are in use.
    const used = new Set(sample.flatMap((r) => words(r.text)).filter((w) => pos.has(w) || neg.has(w)));
    expect(used.size).toBeGreaterThan(200);
  });

  it('writes no VADER word of |valence| >= 1 outside its sentiment lists', () => {
    const lex = readVaderLexicon();
    const { positive, negative } = sentimentVocabulary();
    const listed = new Set([...positive, ...negative]);
    const stray = new Set<string>();
    for (const r of sample) {
      for (const w of words(r.text)) {
        const v = lex.get(w);
        if (v !== undefined && Math.abs(v) >= 1 && !listed.has(w)) stray.add(w);
      }
    }
    expect([...stray]).toEqual([]);
  });

  it('rates positive reviews 6–10 and negative ones 1–5', () => {
    let seen = 0;
    for (const r of sample) {
      const m = /(?:I give it (\d+) out of 10\.|(\d+)\/10\.)/.exec(r.text);
      if (!m) continue;
      const score = Number(m[1] ?? m[2]);
      seen++;
      if (r.label === 1) expect(score).toBeGreaterThanOrEqual(6);
      else expect(score).toBeLessThanOrEqual(5);
    }
    expect(seen).toBeGreaterThan(200);
  });

  it('rejects bad arguments', () => {
    expect(() => [...syntheticReviews('dev' as 'train', 3)]).toThrow(/"train" or "test"/);
    expect(() => [...syntheticReviews('train', -1)]).toThrow(/count/);
    expect(() => [...syntheticReviews('train', 2, 1.5)]).toThrow(/seed/);
  });
});

describe('JSONL corpus files', () => {
  it('round-trips records and writes the canonical form', async () => {
    const path = join(tmp, 'rt.jsonl');
    const recs = [{ text: 'a "quoted" line\nwith a newline', label: 1 as const }, { text: 'ünïcødé ✓', label: 0 as const }];
    expect(await writeJsonl(path, recs)).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe(recs.map(recordLine).join(''));
    expect(await readJsonlAll(path)).toEqual(recs);
    async function* gen() {
      yield* recs;
    }
    expect(await writeJsonl(join(tmp, 'rt2.jsonl'), gen())).toBe(2);
    expect(readFileSync(join(tmp, 'rt2.jsonl'), 'utf8')).toBe(readFileSync(path, 'utf8'));
    expect(await collectRecords(gen())).toEqual(recs);
  });

  it('reads CRLF, blank lines and extra keys; names the file and line of a bad record', async () => {
    const ok = join(tmp, 'ok.jsonl');
    writeFileSync(ok, '{"text":"x","label":0,"id":7}\r\n\r\n{"label":1,"text":"y"}\n');
    expect(await readJsonlAll(ok)).toEqual([{ text: 'x', label: 0 }, { text: 'y', label: 1 }]);
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, '{"text":"x","label":0}\n{"text":"y","label":2}\n');
    await expect(readJsonlAll(bad)).rejects.toThrow(FileFormatError);
    await expect(readJsonlAll(bad)).rejects.toThrow(/bad\.jsonl: line 2: field "label": expected 0 or 1 but found 2/);
    writeFileSync(bad, '{"text":"x","label":0}\nnot json\n');
    await expect(readJsonlAll(bad)).rejects.toThrow(/line 2: not valid JSON/);
    writeFileSync(bad, '{"label":1}\n');
    await expect(readJsonlAll(bad)).rejects.toThrow(/line 1: field "text": expected a string but found nothing/);
    await expect(readJsonlAll(join(tmp, 'missing.jsonl'))).rejects.toThrow(/missing\.jsonl: file not found/);
  });

  it('leaves no file behind when a record is bad', async () => {
    const path = join(tmp, 'never.jsonl');
    await expect(writeJsonl(path, [{ text: 'x', label: 3 } as never])).rejects.toThrow(/records\[0\]/);
    expect(() => readFileSync(path)).toThrow();
  });
});

describe('the default corpus', () => {
  it('regenerates byte for byte as data/default/corpus.json records', async () => {
    const m = defaultCorpusManifest();
    const dir = await ensureDefaultCorpus({ dir: join(tmp, 'default') });
    const files = corpusFiles(dir);
    expect(corpusFileInfo(files.train)).toEqual(m.files.train);
    expect(corpusFileInfo(files.test)).toEqual(m.files.test);
    const first = [...defaultCorpusReviews('test', 3)];
    expect((await readJsonlAll(files.test)).slice(0, 3)).toEqual(first);
    // A second call finds the files and keeps them.
    expect(await ensureDefaultCorpus({ dir })).toBe(dir);
  });
});

describe('rewardlens corpus', () => {
  it('writes train.jsonl and test.jsonl and reports their hashes', () => {
    const out = join(tmp, 'cli');
    const r = runCli(['corpus', '--out', out, '--train', '40', '--test', '10', '--seed', '4']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.files.train.records).toBe(40);
    expect(info.files.test.records).toBe(10);
    expect(info.files.train.sha256).toBe(sha(join(out, 'train.jsonl')));
    const again = runCli(['corpus', '--out', join(tmp, 'cli2'), '--train', '40', '--test', '10', '--seed', '4']);
    expect(JSON.parse(again.stdout).files).toEqual(info.files);
  });

  it('refuses a bad size', () => {
    const r = runCli(['corpus', '--out', join(tmp, 'x'), '--train', '-3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--train/);
  });
});
