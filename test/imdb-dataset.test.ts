// openReviews: dispatch on the spec, the common options, JSONL, and hub datasets against the loopback hub.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterReviews, openReviews } from '../src/data/dataset.js';
import { collectRecords, writeJsonl } from '../src/data/corpus.js';
import { HubError, resolveDataset } from '../src/model/hub.js';
import { FileFormatError } from '../src/errors.js';
import { imdbParquet } from './helpers/imdb-parquet-writer.js';
import { kaggleCsv, sampleReviews, writeAclImdb } from './helpers/imdb-fixtures.js';
import { sha256, startHubServer, type FakeHub, type HubFileSpec } from './helpers/hub-server.js';

const ENV_KEYS = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME'];
let savedEnv: Record<string, string | undefined>;
let tmp: string;
let hub: FakeHub | undefined;

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  tmp = mkdtempSync(join(tmpdir(), 'rl-imdb-ds-'));
  process.env['HF_TOKEN_PATH'] = join(tmp, 'no-token-file');
  process.env['HF_HUB_CACHE'] = join(tmp, 'default-cache'); // never the developer's own cache
});

afterEach(async () => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  await hub?.close();
  hub = undefined;
  rmSync(tmp, { recursive: true, force: true });
});

async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('openReviews: what the spec is', () => {
  it('reads a JSONL file and a corpus folder (train.jsonl, test.jsonl)', async () => {
    const train = sampleReviews(6, 'a');
    const test = sampleReviews(3, 'b');
    await writeJsonl(join(tmp, 'corpus', 'train.jsonl'), train);
    await writeJsonl(join(tmp, 'corpus', 'test.jsonl'), test);
    const folder = await openReviews(join(tmp, 'corpus'), 'test');
    expect(folder.format).toBe('jsonl');
    expect(await collectRecords(folder)).toEqual(test);
    expect(await collectRecords(await openReviews(join(tmp, 'corpus'), 'all'))).toEqual([...train, ...test]);
    const file = await openReviews(join(tmp, 'corpus', 'train.jsonl'), 'train');
    expect(file.files).toEqual([join(tmp, 'corpus', 'train.jsonl')]);
    expect(await collectRecords(file)).toEqual(train);
    await expect(openReviews(join(tmp, 'corpus', 'train.jsonl'), 'test')).rejects.toThrow(/Expected a file of the test split/);
    rmSync(join(tmp, 'corpus', 'test.jsonl'));
    await expect(openReviews(join(tmp, 'corpus'), 'test')).rejects.toThrow(/corpus: Expected test\.jsonl in this corpus folder/);
  });

  it('names the line of bad JSON and of a missing field in a JSONL file', async () => {
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, '{"text":"ok","label":1}\n\n{"text": "broken",\n');
    const seen: unknown[] = [];
    const err = await failure(async () => {
      for await (const r of await openReviews(bad, 'all')) seen.push(r);
    });
    expect(seen).toEqual([{ text: 'ok', label: 1 }]);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/bad\.jsonl: line 3: not valid JSON/);
    const missing = join(tmp, 'missing-field.ndjson');
    writeFileSync(missing, '{"text":"ok","label":0}\n{"label":1}\n');
    expect((await failure(async () => collectRecords(await openReviews(missing, 'all')))).message).toMatch(
      /missing-field\.ndjson: line 2: field "text": expected a string but found nothing \(the field is missing\)/,
    );
  });

  it('dispatches every kind of spec, and each source can be iterated again', async () => {
    const reviews = sampleReviews(4);
    writeFileSync(join(tmp, 'r.csv'), kaggleCsv(reviews));
    writeFileSync(join(tmp, 'r.parquet'), imdbParquet(reviews));
    await writeJsonl(join(tmp, 'r.jsonl'), reviews);
    mkdirSync(join(tmp, 'pq', 'plain_text'), { recursive: true });
    writeFileSync(join(tmp, 'pq', 'plain_text', 'train-00000-of-00001.parquet'), imdbParquet(reviews));
    writeAclImdb(join(tmp, 'acl', 'aclImdb'), [
      { split: 'train', label: 'neg', id: 1, rating: 2, text: reviews[0].text },
      { split: 'train', label: 'pos', id: 1, rating: 9, text: reviews[1].text },
    ]);
    const cases: Array<[string, string, number]> = [
      [join(tmp, 'r.csv'), 'csv', 4],
      [join(tmp, 'r.parquet'), 'parquet', 4],
      [join(tmp, 'r.jsonl'), 'jsonl', 4],
      [join(tmp, 'pq'), 'parquet', 4],
      [join(tmp, 'acl'), 'aclimdb', 2],
    ];
    for (const [spec, format, n] of cases) {
      const src = await openReviews(spec, 'train');
      expect(src.format, spec).toBe(format);
      expect(src.split).toBe('train');
      const once = await collectRecords(src);
      expect(once, spec).toEqual(reviews.slice(0, n));
      expect(await collectRecords(src), spec).toEqual(once); // a second pass reads again from the start
    }
  });

  it('explains a spec that is nothing it knows', async () => {
    await expect(openReviews(join(tmp, 'nope'), 'train')).rejects.toThrow(/nope: no such file or folder/);
    await expect(openReviews('data/imdb.csv', 'train')).rejects.toThrow(/imdb\.csv: no such file or folder/);
    const err = await failure(() => openReviews('not-a-spec', 'train'));
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toMatch(/Expected a file, a folder or a hub dataset id org\/name\[@revision\] for the reviews but received "not-a-spec"/);
    mkdirSync(join(tmp, 'empty'));
    await expect(openReviews(join(tmp, 'empty'), 'train')).rejects.toThrow(/empty: Expected a folder of IMDb reviews/);
    writeFileSync(join(tmp, 'notes.txt'), 'hello');
    await expect(openReviews(join(tmp, 'notes.txt'), 'train')).rejects.toThrow(/notes\.txt: Expected a \.parquet, \.csv or \.jsonl file/);
    await expect(openReviews(join(tmp, 'notes.txt'), 'validation' as 'train')).rejects.toThrow(/Expected one of train, test, all for split but received "validation"/);
    await expect(openReviews(join(tmp, 'notes.txt'), 'train', { limit: -1 })).rejects.toThrow(/Expected a non-negative integer for limit/);
  });
});

describe('filterReviews: limit, minChars, brAsNewline', () => {
  const records = [
    { text: 'short', label: 0 as const },
    { text: 'a'.repeat(200), label: 1 as const },
    { text: 'b'.repeat(201), label: 0 as const },
    { text: '☕'.repeat(150) + '😀'.repeat(60), label: 1 as const }, // 210 code points, 270 UTF-16 units
    { text: '😀'.repeat(150), label: 1 as const }, // 150 code points, 300 UTF-16 units
    { text: `${'c'.repeat(198)}<br /><br />`, label: 0 as const }, // 210 characters; 200 with newlines
  ];
  async function* source() {
    yield* records;
  }

  it('keeps reviews of at least minChars code points (the paper: longer than 200 = minChars 201)', async () => {
    const kept = await collectRecords(filterReviews(source(), { minChars: 201 }));
    expect(kept.map((r) => records.indexOf(r))).toEqual([2, 3, 5]);
    const withNewlines = await collectRecords(filterReviews(source(), { minChars: 201, brAsNewline: true }));
    expect(withNewlines.map((r) => r.text.length)).toEqual([201, 270]); // measured on the text as yielded
  });

  it('stops at the limit and closes the source', async () => {
    let closed = false;
    async function* tracked() {
      try {
        yield* records;
      } finally {
        closed = true;
      }
    }
    expect(await collectRecords(filterReviews(tracked(), { limit: 2 }))).toEqual(records.slice(0, 2));
    expect(closed).toBe(true);
    expect(await collectRecords(filterReviews(source(), { limit: 0 }))).toEqual([]);
    expect((await collectRecords(filterReviews(source(), { brAsNewline: true })))[5].text).toBe(`${'c'.repeat(198)}\n\n`);
  });
});

describe('openReviews from a hub dataset', () => {
  const REPO = 'stanfordnlp/imdb';
  const train = sampleReviews(30, 'train');
  const test = sampleReviews(10, 'test');

  function imdbRepo(): HubFileSpec[] {
    return [
      { path: '.gitattributes', content: '*.parquet filter=lfs diff=lfs merge=lfs -text\n' },
      { path: 'README.md', content: '---\ndataset_info:\n  config_name: plain_text\n---\n# IMDb\n' },
      { path: 'plain_text/train-00000-of-00001.parquet', content: imdbParquet(train, { rowGroupSize: 8 }), lfs: true },
      { path: 'plain_text/test-00000-of-00001.parquet', content: imdbParquet(test), lfs: true },
      { path: 'plain_text/unsupervised-00000-of-00001.parquet', content: imdbParquet([{ text: 'u', label: -1 }]), lfs: true },
    ];
  }

  it('downloads only the split into datasets--org--name (Python layout) and re-reads it offline', async () => {
    hub = await startHubServer();
    const files = imdbRepo();
    const commit = hub.addCommit(REPO, files, { type: 'dataset' });
    const cache = join(tmp, 'cache');
    const progress: string[] = [];
    const src = await openReviews(REPO, 'train', { cacheDir: cache, endpoint: hub.endpoint, onProgress: (p) => progress.push(p.file) });
    expect(src.format).toBe('parquet');
    expect(src.hub).toEqual({ repo: REPO, revision: 'main', commit, downloaded: ['plain_text/train-00000-of-00001.parquet'] });
    expect(await collectRecords(src)).toEqual(train);
    expect(progress).toContain('plain_text/train-00000-of-00001.parquet');

    // Requests: the dataset revision API, then the file under /datasets/ (redirected to the CDN).
    expect(hub.requests.filter((q) => q.url.startsWith('/api/')).map((q) => q.url)).toEqual([`/api/datasets/${REPO}/revision/main?blobs=true`]);
    expect(hub.requestsFor('plain_text/train-00000-of-00001.parquet')[0].url).toBe(`/datasets/${REPO}/resolve/${commit}/plain_text/train-00000-of-00001.parquet`);
    expect(hub.requestsFor('plain_text/test-00000-of-00001.parquet')).toEqual([]);
    expect(hub.requestsFor('plain_text/unsupervised-00000-of-00001.parquet')).toEqual([]);

    // The cache as huggingface_hub lays it out for repo_type="dataset".
    const repoDir = join(cache, 'datasets--stanfordnlp--imdb');
    expect(existsSync(join(cache, 'models--stanfordnlp--imdb'))).toBe(false);
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    const pointer = join(repoDir, 'snapshots', commit, 'plain_text', 'train-00000-of-00001.parquet');
    expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
    const blob = sha256(files[2].content);
    expect(readlinkSync(pointer)).toBe(join('..', '..', '..', 'blobs', blob));
    expect(readdirSync(join(repoDir, 'blobs'))).toEqual([blob]); // nothing half-written left behind

    // Offline (option and environment): no request, same records.
    const before = hub.requests.length;
    const offline = await openReviews(REPO, 'train', { cacheDir: cache, endpoint: hub.endpoint, offline: true });
    expect(offline.hub?.downloaded).toEqual([]);
    expect(await collectRecords(offline)).toEqual(train);
    process.env['HF_HUB_OFFLINE'] = '1';
    process.env['HF_HUB_CACHE'] = cache;
    expect(await collectRecords(await openReviews(`${REPO}@main`, 'train', { endpoint: hub.endpoint }))).toEqual(train);
    expect(hub.requests.length).toBe(before);

    // Offline, a split never downloaded is named, with how to get it.
    const err = await failure(() => openReviews(REPO, 'test', { endpoint: hub!.endpoint }));
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).code).toBe('offline-missing');
    expect(err.message).toMatch(/stanfordnlp\/imdb@main .*lacks the test split .*huggingface-cli download stanfordnlp\/imdb --repo-type dataset/);

    // Online again: the second read is a cache hit (one API call, no file download).
    delete process.env['HF_HUB_OFFLINE'];
    const again = await openReviews(REPO, 'all', { cacheDir: cache, endpoint: hub.endpoint });
    expect(again.hub?.downloaded).toEqual(['plain_text/test-00000-of-00001.parquet']);
    expect(await collectRecords(again)).toEqual([...train, ...test]);
    expect(hub.requestsFor('plain_text/train-00000-of-00001.parquet').filter((q) => q.server === 'cdn')).toHaveLength(1);
  });

  it('falls back to the cache when the hub is down, and names a dataset never downloaded', async () => {
    hub = await startHubServer();
    hub.addCommit(REPO, imdbRepo(), { type: 'dataset', tags: ['v1'] });
    const cache = join(tmp, 'cache');
    await collectRecords(await openReviews(`${REPO}@v1`, 'test', { cacheDir: cache, endpoint: hub.endpoint }));
    hub.faults.apiStatus = 503;
    const down = await openReviews(`${REPO}@v1`, 'test', { cacheDir: cache, endpoint: hub.endpoint });
    expect(await collectRecords(down)).toEqual(test);
    const err = await failure(() => openReviews('other/imdb', 'test', { cacheDir: cache, endpoint: hub!.endpoint }));
    expect((err as HubError).code).toBe('offline-missing');
    expect(err.message).toMatch(/other\/imdb@main .*never downloaded/);
  });

  it('errors on a repo without the split, a model repo of the same name, and missing shards offline', async () => {
    hub = await startHubServer();
    hub.addCommit('org/no-test', [{ path: 'plain_text/train-00000-of-00001.parquet', content: imdbParquet(train), lfs: true }], { type: 'dataset' });
    hub.addCommit('org/model-only', [{ path: 'config.json', content: '{}' }]); // a model repo, not a dataset
    hub.addCommit('org/sharded', [
      { path: 'data/train-00000-of-00002.parquet', content: imdbParquet(train.slice(0, 15)), lfs: true },
      { path: 'data/train-00001-of-00002.parquet', content: imdbParquet(train.slice(15)), lfs: true },
    ], { type: 'dataset' });
    const cache = join(tmp, 'cache');
    const opts = { cacheDir: cache, endpoint: hub.endpoint };
    const noTest = await failure(() => openReviews('org/no-test', 'test', opts));
    expect((noTest as HubError).code).toBe('not-found');
    expect(noTest.message).toMatch(/The dataset org\/no-test@main lacks the test split \(parquet files such as plain_text\/test-00000-of-00001\.parquet\) \(files in the repo: plain_text\/train-00000-of-00001\.parquet\)/);
    const model = await failure(() => openReviews('org/model-only', 'train', opts));
    expect((model as HubError).code).toBe('not-found');
    expect(model.message).toMatch(/Repository org\/model-only or revision "main" not found/);

    const sharded = await openReviews('org/sharded', 'train', opts);
    expect(await collectRecords(sharded)).toEqual(train);
    const res = await resolveDataset('org/sharded', { files: ['data/train-00000-of-00002.parquet'], ...opts, offline: true });
    expect(res.files).toEqual(['data/train-00000-of-00002.parquet']);
    // Lose one shard from the snapshot: offline, the split is refused rather than read in part.
    rmSync(join(res.dir, 'data', 'train-00001-of-00002.parquet'));
    await expect(openReviews('org/sharded', 'train', { ...opts, offline: true })).rejects.toThrow(
      /org\/sharded: Expected all 2 shards of the train split but train-00001-of-00002\.parquet is missing/,
    );
  });
});
