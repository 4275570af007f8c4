// Word-utility rewards: the word rule, the VADER table, table files, utilityScore and absMeanUtility,
// checked against values read from vader_lexicon.txt here and summed by hand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '../src/errors.js';
import {
  UTILITY_REWARD_DEFAULTS, UtilityReward, UtilityTable, absMeanUtility, createReward, parseRewardSpec, rewardWords, utilityScore,
} from '../src/reward/index.js';

// An independent reading of the lexicon: every "word<TAB>mean<TAB>…" line, the later line winning
// (as VADER's own dict does), and each word's line numbers.
const LEXICON_PATH = createRequire(import.meta.url).resolve('vader-sentiment/vader_lexicon.txt');
const lexicon = new Map<string, number>();
const linesOf = new Map<string, number[]>();
readFileSync(LEXICON_PATH, 'utf8').split('\n').forEach((line, i) => {
  if (line === '') return;
  const [word, mean] = line.split('\t');
  lexicon.set(word, parseFloat(mean));
  linesOf.set(word, [...(linesOf.get(word) ?? []), i + 1]);
});
const u = (w: string): number => {
  const v = lexicon.get(w);
  if (v === undefined) throw new Error(`test setup: "${w}" is not in the lexicon`);
  return v;
};
const absent = (...words: string[]): void => {
  for (const w of words) expect(lexicon.has(w), `"${w}" should not be in the lexicon for this hand sum`).toBe(false);
};

let vader: UtilityTable;
let tmp: string;
beforeAll(async () => {
  vader = await UtilityTable.vader();
  tmp = mkdtempSync(join(tmpdir(), 'rl-reward-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

async function loadError(path: string): Promise<Error> {
  try {
    await UtilityTable.load(path);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`expected ${path} to fail to load`);
}

describe('rewardWords', () => {
  it('keeps lower-cased word-like segments, in-word apostrophes and numbers; drops punctuation and symbols', () => {
    expect(rewardWords("I DON'T like it... 'Good' movie, 3.5/10 :) well-known")).toEqual(
      ['i', "don't", 'like', 'it', 'good', 'movie', '3.5', '10', 'well', 'known'],
    );
    expect(rewardWords('Don\u2019t stop')).toEqual(["don't", 'stop']);
    expect(rewardWords("rock'n'roll Café")).toEqual(["rock'n'roll", 'café']);
    expect(rewardWords('  ...!!  ')).toEqual([]);
    expect(() => rewardWords(42 as unknown as string)).toThrow(/Expected string for text but received 42/);
  });
});

describe('the VADER table', () => {
  it('has 7,503 words, each with the value of its last line in vader_lexicon.txt', () => {
    expect(vader.size).toBe(7503);
    expect(lexicon.size).toBe(7503);
    for (const [w, v] of lexicon) expect(vader.get(w), w).toBe(v);
    expect(vader.get('good')).toBe(u('good'));
    // "lol" is listed twice; the later line wins, as in VADER.
    expect(linesOf.get('lol')!.length).toBe(2);
    expect(vader.get('lol')).toBe(u('lol'));
    expect(vader.source).toBe(LEXICON_PATH);
  });

  it('is read once and cached', async () => {
    expect(await UtilityTable.vader()).toBe(vader);
  });
});

describe('utilityScore', () => {
  it('sums the utilities of the known words, divides by 5', () => {
    absent('the', 'movie', 'was', 'and', 'acting');
    const text = 'The movie was good and the acting great';
    const expected = (u('good') + u('great')) / 5; // 1.9 + 3.1 = 5.0 → 1.0
    expect(utilityScore(text, vader)).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(1.0, 12);
  });

  it('adds negative words without negation handling, counts repeats', () => {
    absent('not', 'a', 'film', 'i', 'this');
    const text = 'Not a good film: bad, bad, terrible. I hate this';
    const expected = (u('good') + 2 * u('bad') + u('terrible') + u('hate')) / 5; // (1.9 − 5.0 − 2.1 − 2.7) / 5 = −1.58
    expect(utilityScore(text, vader)).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(-1.58, 12);
  });

  it('counts unknown words as 0', () => {
    absent('zyzzyva', 'qwertyuiop', 'movie');
    expect(utilityScore('zyzzyva qwertyuiop movie', vader)).toBe(0);
    expect(utilityScore('', vader)).toBe(0);
  });

  it('is case-insensitive and ignores punctuation around words', () => {
    const base = utilityScore('good great', vader);
    expect(utilityScore('GOOD Great', vader)).toBe(base);
    expect(utilityScore('"Good!!!" (great...)', vader)).toBe(base);
    expect(base).toBeCloseTo((u('good') + u('great')) / 5, 12);
  });

  it('clamps a very positive or negative long text to ±10, and follows the options', () => {
    const loveText = Array(40).fill('love').join(' ');
    const raw = (40 * u('love')) / 5; // 40 · 3.2 / 5 = 25.6
    expect(raw).toBeCloseTo(25.6, 12);
    expect(utilityScore(loveText, vader)).toBe(10);
    expect(utilityScore(Array(40).fill('hate').join(' '), vader)).toBe(-10);
    expect(utilityScore(loveText, vader, { clamp: 100 })).toBeCloseTo(raw, 10);
    expect(utilityScore(loveText, vader, { clamp: Infinity, divisor: 1 })).toBeCloseTo(40 * u('love'), 10);
    expect(utilityScore('good', vader, { divisor: 2 })).toBeCloseTo(u('good') / 2, 12);
    expect(UTILITY_REWARD_DEFAULTS).toEqual({ divisor: 5, clamp: 10 });
  });

  it('rejects bad options and a bad table', () => {
    expect(() => utilityScore('good', vader, { divisor: 0 })).toThrow(/Expected a finite number > 0 for divisor but received 0/);
    expect(() => utilityScore('good', vader, { clamp: -1 })).toThrow(/for clamp but received -1/);
    expect(() => utilityScore('good', {} as UtilityTable)).toThrow(/Expected a UtilityTable for table/);
  });
});

describe('absMeanUtility (the paper\'s Table 3/4 score)', () => {
  it('is |mean utility| over the whitespace words found, punctuation stripped at the edges', () => {
    absent('movie', 'movie.', 'the');
    // words: the, movie., good, good, bad. → found: good, good, bad
    const text = 'The movie. Good good bad.';
    const mean = (2 * u('good') + u('bad')) / 3; // (3.8 − 2.5) / 3
    expect(absMeanUtility(text, vader)).toBeCloseTo(Math.abs(mean), 12);
  });

  it('takes the absolute value of a negative mean and gives 0 when no word is known', () => {
    const mean = (u('bad') + u('awful')) / 2;
    expect(mean).toBeLessThan(0);
    expect(absMeanUtility('BAD, awful', vader)).toBeCloseTo(-mean, 12);
    expect(absMeanUtility('zyzzyva movie', vader)).toBe(0);
    expect(absMeanUtility('', vader)).toBe(0);
  });

  it('splits on whitespace only (a hyphenated word is one word) and finds emoticons as written', () => {
    absent('well-known');
    expect(absMeanUtility('well-known', vader)).toBe(0); // utilityScore's words would find "well"
    expect(utilityScore('well-known', vader)).toBeCloseTo(u('well') / 5, 12);
    expect(absMeanUtility('fun :)', vader)).toBeCloseTo((u('fun') + u(':)')) / 2, 12);
  });
});

describe('UtilityTable files', () => {
  it('reads TSV in VADER\'s layout (extra columns ignored, CRLF and blank lines allowed)', async () => {
    const t = await UtilityTable.load(file('a.tsv', 'good\t1.5\t0.3\t[1, 2]\r\n\r\nbad\t-2\n"odd"\t.5e1\n'));
    expect([...t.entries()]).toEqual([['good', 1.5], ['bad', -2], ['"odd"', 5]]);
    expect(t.size).toBe(3);
    expect(utilityScore('Good bad good', t)).toBeCloseTo((1.5 - 2 + 1.5) / 5, 12);
  });

  it('reads CSV with or without a header, quoted words included', async () => {
    const withHeader = await UtilityTable.load(file('h.csv', 'word,utility\ngood,2\n"can\'t stand, really",-3\n'));
    expect([...withHeader.entries()]).toEqual([['good', 2], ["can't stand, really", -3]]);
    const plain = await UtilityTable.load(file('p.csv', 'good,2,extra\n\nbad,-1\n'));
    expect([...plain.entries()]).toEqual([['good', 2], ['bad', -1]]);
  });

  it('reads JSON objects and pair arrays', async () => {
    const obj = await UtilityTable.load(file('o.json', '{"good": 2, "bad": -1.25}'));
    expect([...obj.entries()]).toEqual([['good', 2], ['bad', -1.25]]);
    const arr = await UtilityTable.load(file('a.json', '[["good", 2], ["bad", -1.25]]'));
    expect([...arr.entries()]).toEqual([['good', 2], ['bad', -1.25]]);
  });

  it('names the file and line of a bad TSV entry', async () => {
    const p = file('bad.tsv', 'good\t1\nbad\t-1\nugly\tabc\n');
    const err = await loadError(p);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toContain(p);
    expect(err.message).toMatch(/line 3: Expected a finite decimal number for the utility of "ugly" \(column 2\) but received "abc"/);
    expect((await loadError(file('notab.tsv', 'good\t1\n\ngood 2\n'))).message).toMatch(/line 3: Expected "word<TAB>utility"/);
    expect((await loadError(file('inf.tsv', 'good\tInfinity\n'))).message).toMatch(/line 1: .*received "Infinity"/);
  });

  it('names both lines of a duplicate word', async () => {
    const err = await loadError(file('dup.tsv', 'good\t1\nbad\t-1\n\ngood\t2\n'));
    expect(err.message).toMatch(/line 4: the word "good" is listed twice \(line 1 and line 4\)/);
    const csv = await loadError(file('dup.csv', 'word,utility\nfine,1\nfine,2\n'));
    expect(csv.message).toMatch(/line 3: the word "fine" is listed twice \(line 2 and line 3\)/);
    const json = await loadError(file('dup.json', '[["a", 1], ["b", 2], ["a", 3]]'));
    expect(json.message).toMatch(/index 2: the word "a" is listed twice \(index 0 and index 2\)/);
  });

  it('names the line of a bad CSV row and the key or index of a bad JSON entry', async () => {
    const p = file('bad.csv', 'word,utility\ngood,1\nbad,oops\n');
    const err = await loadError(p);
    expect(err.message).toContain(p);
    expect(err.message).toMatch(/line 3: Expected a finite decimal number for the utility of "bad" \(column 2\) but received "oops"/);
    expect((await loadError(file('short.csv', 'good,1\nbad\n'))).message).toMatch(/line 2: Expected "word,utility" but received "bad"/);
    expect((await loadError(file('quote.csv', 'good,1\n"bad,2\n'))).message).toMatch(/line 2: Expected CSV rows/);
    expect((await loadError(file('k.json', '{"good": 1, "bad": "x"}'))).message).toMatch(/key "bad": Expected a finite number for the utility of "bad" but received string "x"/);
    expect((await loadError(file('i.json', '[["good", 1], ["bad"]]'))).message).toMatch(/index 1: Expected a \["word", utility\] pair/);
    expect((await loadError(file('n.json', '42'))).message).toMatch(/Expected \{"word": utility, …\} or \[\["word", utility\], …\] but received 42/);
    expect((await loadError(file('broken.json', '{"good": 1,'))).message).toMatch(/not valid JSON/);
  });

  it('rejects an unknown extension, a missing file and an empty table', async () => {
    expect((await loadError(file('t.xlsx', 'good,1'))).message).toMatch(/ending in \.tsv or \.txt .* received the extension "\.xlsx"/);
    expect((await loadError(join(tmp, 'missing.csv'))).message).toMatch(/missing\.csv: no such file/);
    expect((await loadError(file('empty.tsv', '\n\n'))).message).toMatch(/empty\.tsv: Expected at least one word/);
  });

  it('fromEntries checks words, values and duplicates', () => {
    const t = UtilityTable.fromEntries([['nice', 1], ['mean', -1]], 'mine');
    expect(t.source).toBe('mine');
    expect(t.get('nice')).toBe(1);
    expect(t.get('absent')).toBeUndefined();
    expect(() => UtilityTable.fromEntries([['a', 1], ['a', 2]])).toThrow(/each word once for entries\[1\] but received "a" again \(first at entries\[0\]\)/);
    expect(() => UtilityTable.fromEntries([['a', Number.NaN]])).toThrow(/finite number for entries\[0\]\[1\]/);
    expect(() => UtilityTable.fromEntries([['', 1]])).toThrow(/non-empty string for entries\[0\]\[0\]/);
  });
});

describe('createReward for tables', () => {
  it('vader: scores texts as utilityScore does, with the options', async () => {
    const texts = ['good great', Array(40).fill('love').join(' '), 'zyzzyva', 'bad'];
    const r = await createReward('vader');
    expect(r.name).toBe('vader');
    const scores = await r.score(texts);
    expect(scores).toBeInstanceOf(Float32Array);
    expect(Array.from(scores)).toEqual(texts.map((t) => Math.fround(utilityScore(t, vader))));
    expect(scores[0]).toBeCloseTo((u('good') + u('great')) / 5, 6);
    const wide = await createReward('vader', { divisor: 1, clamp: 1000 });
    expect((await wide.score([texts[1]]))[0]).toBeCloseTo(40 * u('love'), 4);
    await r.dispose();
    await expect(createReward('vader', { divisor: -5 })).rejects.toThrow(/for divisor but received -5/);
  });

  it('table:FILE loads the file', async () => {
    const p = file('mine.csv', 'superb,4\nmeh,-1\n');
    const r = await createReward(`table:${p}`);
    expect(r).toBeInstanceOf(UtilityReward);
    expect(r.name).toBe(`table:${p}`);
    expect(Array.from(await r.score(['Superb, superb... meh', '']))).toEqual([Math.fround((4 + 4 - 1) / 5), 0]);
    await expect(createReward(`table:${join(tmp, 'nope.tsv')}`)).rejects.toThrow(/nope\.tsv: no such file/);
  });

  it('parses each spec form and rejects others, listing the three forms', async () => {
    expect(parseRewardSpec('vader')).toEqual({ kind: 'vader' });
    expect(parseRewardSpec('table:a/b.tsv')).toEqual({ kind: 'table', path: 'a/b.tsv' });
    expect(parseRewardSpec('table:C:\\x.csv')).toEqual({ kind: 'table', path: 'C:\\x.csv' });
    expect(parseRewardSpec('classifier:lvwerra/distilbert-imdb@main')).toEqual({ kind: 'classifier', model: 'lvwerra/distilbert-imdb@main' });
    for (const bad of ['', 'vadr', 'table:', 'classifier:', 'sentiment:x', 'VADER']) {
      expect(() => parseRewardSpec(bad), bad).toThrow(/Expected a reward spec of the form vader, table:FILE .* or classifier:MODEL .* but received/);
    }
    await expect(createReward('nope')).rejects.toThrow(/vader, table:FILE/);
  });
});
