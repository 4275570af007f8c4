// `rewardlens reward` end to end through the CLI: JSON lines of scores for each spec form.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'rl-cli-reward-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FIXTURE = join(__dirname, 'fixtures', 'tiny-distilbert-imdb');

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('rewardlens reward', () => {
  it('scores texts with a table file, hand-summed, and lists the words with --words', () => {
    const table = join(tmp, 't.csv');
    writeFileSync(table, 'word,utility\nsuperb,4\nmeh,-1.5\n');
    const r = runCli(['reward', '--reward', `table:${table}`, '--words', 'Superb, superb... meh', 'nothing here']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines).toEqual([
      { text: 'Superb, superb... meh', score: (4 + 4 - 1.5) / 5, words: [['superb', 4], ['superb', 4], ['meh', -1.5]] },
      { text: 'nothing here', score: 0, words: [['nothing', null], ['here', null]] },
    ]);
    const wide = jsonLines(runCli(['reward', '--reward', `table:${table}`, '--divisor', '1', 'superb superb superb', '--clamp', '10']).stdout);
    expect(wide[0].score).toBe(10); // 12 clamped to 10
  });

  it('reads texts from stdin when none are given, and scores with the classifier folder', () => {
    const ref = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { cases: { text: string; logits: number[] }[] };
    const texts = ref.cases.slice(0, 3).map((c) => c.text);
    const bin = join(__dirname, '..', 'bin', 'rewardlens.js');
    const r = spawnSync(process.execPath, [bin, 'reward', '--reward', `classifier:${FIXTURE}`, '--label', 'NEGATIVE'], { input: texts.join('\n') + '\n', encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.map((l) => l.text)).toEqual(texts);
    lines.forEach((l, i) => expect(Math.abs((l.score as number) - ref.cases[i].logits[0])).toBeLessThan(1e-4));
  });

  it('exits 1 with one line naming the problem for a bad spec or a bad table', () => {
    const bad = runCli(['reward', '--reward', 'sentiment', 'good']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^rewardlens: Expected a reward spec of the form vader, table:FILE .*classifier:MODEL/);
    const file = join(tmp, 'bad.tsv');
    writeFileSync(file, 'good\t1\nbad\tx\n');
    const r = runCli(['reward', '--reward', `table:${file}`, 'good']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: line 2: Expected a finite decimal number`);
    expect(r.stdout).toBe('');
  });
});
