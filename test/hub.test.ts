// The hub download layer against a loopback imitation of the hub (test/helpers/hub-server.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HubError, parseModelSpec, resolveModel, type HubProgress } from '../src/model/hub.js';
import { gitOid, sha256, startHubServer, type FakeHub, type HubFileSpec } from './helpers/hub-server.js';

const REPO = 'org/tiny';
const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';
const INDEX = 'model.safetensors.index.json';

function repoFiles(seed = 1): HubFileSpec[] {
  const index = { metadata: { total_size: 1 }, weight_map: { 'gpt_neox.embed_in.weight': SHARD1, 'gpt_neox.layers.0.x': SHARD1, 'embed_out.weight': SHARD2 } };
  return [
    { path: '.gitattributes', content: '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' },
    { path: 'README.md', content: '# tiny\n' },
    { path: 'config.json', content: JSON.stringify({ model_type: 'gpt_neox', hidden_size: 8, seed }) },
    { path: INDEX, content: JSON.stringify(index) },
    { path: SHARD1, content: randomBytes(300_000), lfs: true },
    { path: SHARD2, content: randomBytes(200_000), lfs: true },
    { path: 'tokenizer.json', content: JSON.stringify({ version: '1.0', model: { type: 'BPE' } }) },
    { path: 'tokenizer_config.json', content: '{"eos_token":"<|endoftext|>"}' },
    { path: 'pytorch_model.bin', content: randomBytes(100_000), lfs: true },
  ];
}

const NEEDED = ['config.json', INDEX, SHARD1, SHARD2, 'tokenizer.json', 'tokenizer_config.json'];

const ENV_KEYS = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME'];
let savedEnv: Record<string, string | undefined>;
let tmp: string;
let hub: FakeHub | undefined;

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  tmp = mkdtempSync(join(tmpdir(), 'rl-hub-'));
  process.env['HF_TOKEN_PATH'] = join(tmp, 'no-token-file'); // never read the developer's own token
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

async function serve(files = repoFiles(), o: Parameters<FakeHub['addCommit']>[2] = {}): Promise<{ hub: FakeHub; commit: string; files: HubFileSpec[] }> {
  hub = await startHubServer();
  const commit = hub.addCommit(REPO, files, o);
  return { hub, commit, files };
}

function content(files: HubFileSpec[], path: string): Buffer {
  const f = files.find((x) => x.path === path)!;
  return Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content);
}

function blobName(files: HubFileSpec[], path: string): string {
  const f = files.find((x) => x.path === path)!;
  return f.lfs ? sha256(content(files, path)) : gitOid(content(files, path));
}

const repoDir = (cache: string): string => join(cache, 'models--org--tiny');

function blobsLeft(cache: string): string[] {
  const dir = join(repoDir(cache), 'blobs');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('resolveModel from the hub', () => {
  it('downloads only the needed files into a cache laid out as Python lays it out', async () => {
    const { hub, commit, files } = await serve();
    const cache = join(tmp, 'cache');
    const progress: HubProgress[] = [];
    const r = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, onProgress: (p) => progress.push(p) });

    expect(r).toEqual({ dir: join(repoDir(cache), 'snapshots', commit), repo: REPO, revision: 'main', commit, downloaded: NEEDED });
    // refs/main holds the bare commit hash, as Python writes it
    expect(readFileSync(join(repoDir(cache), 'refs', 'main'), 'utf8')).toBe(commit);
    for (const path of NEEDED) {
      const pointer = join(r.dir, path);
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
      expect(readlinkSync(pointer)).toBe(`../../blobs/${blobName(files, path)}`);
      expect(readFileSync(pointer).equals(content(files, path))).toBe(true);
    }
    expect(blobsLeft(cache).sort()).toEqual(NEEDED.map((p) => blobName(files, p)).sort());
    expect(readdirSync(join(repoDir(cache), 'snapshots'))).toEqual([commit]);
    expect(readdirSync(r.dir).sort()).toEqual([...NEEDED].sort());
    // Python's "no such file in the repo" markers for the optional files the repo lacks
    expect(readdirSync(join(repoDir(cache), '.no_exist', commit)).sort()).toEqual(['generation_config.json', 'special_tokens_map.json']);

    // exactly one revision request, one GET per needed file, nothing else (no pytorch_model.bin)
    const api = hub.requests.filter((q) => q.url.startsWith('/api/'));
    expect(api.map((q) => q.url)).toEqual([`/api/models/org/tiny/revision/main?blobs=true`]);
    const resolves = hub.requests.filter((q) => q.server === 'hub' && q.file);
    expect(resolves.map((q) => q.file).sort()).toEqual([...NEEDED].sort());
    expect(resolves.every((q) => q.method === 'GET' && q.url.includes(`/resolve/${commit}/`))).toBe(true);
    expect(hub.requests.filter((q) => q.server === 'cdn').map((q) => q.file).sort()).toEqual([SHARD1, SHARD2]);
    expect(hub.requests.some((q) => q.url.includes('pytorch_model') || q.file === 'pytorch_model.bin')).toBe(false);
    expect(hub.requests.length).toBe(1 + NEEDED.length + 2);

    const last = (f: string): HubProgress => progress.filter((p) => p.file === f).at(-1)!;
    expect(last(SHARD1)).toEqual({ file: SHARD1, bytes: 300_000, total: 300_000 });
    expect(last('config.json').bytes).toBe(content(files, 'config.json').length);

    // second call: a cache hit, only the revision request
    hub.requests.length = 0;
    const again = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint });
    expect(again).toEqual({ ...r, downloaded: [] });
    expect(hub.requests.map((q) => q.url)).toEqual([`/api/models/org/tiny/revision/main?blobs=true`]);
  });

  it('resolves offline through refs/main and lists exactly the missing files', async () => {
    const { hub, commit } = await serve();
    const cache = join(tmp, 'cache');
    const online = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint });
    await hub.close();

    expect(await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, offline: true })).toEqual({ ...online, downloaded: [] });
    process.env['HF_HUB_OFFLINE'] = '1';
    expect((await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint })).commit).toBe(commit);
    delete process.env['HF_HUB_OFFLINE'];
    // online but the hub is down: the cache serves, as huggingface_hub does
    expect((await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint })).dir).toBe(online.dir);

    rmSync(join(online.dir, SHARD2));
    rmSync(join(online.dir, 'tokenizer.json'));
    const err = await resolveModel(REPO, { cacheDir: cache, offline: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).code).toBe('offline-missing');
    expect((err as HubError).missing).toEqual([SHARD2, 'tokenizer.json']);
    const msg = (err as HubError).message;
    expect(msg).toContain(`${SHARD2}, tokenizer.json`);
    expect(msg).toContain(online.dir);
    expect(msg).toMatch(/run the same command once online/);
    expect(msg).toMatch(/huggingface-cli download org\/tiny/);

    // never downloaded at all: names refs/main and the cache root
    const never = await resolveModel('org/other@v2', { cacheDir: cache, offline: true }).catch((e: unknown) => e as HubError);
    expect(never.code).toBe('offline-missing');
    expect(never.message).toContain(join(cache, 'models--org--other', 'refs', 'v2'));
    expect(never.message).toContain('config.json');
  });

  it('finds a model that Python downloaded (hand-made cache) without the network', async () => {
    const cache = join(tmp, 'pycache');
    const commit = 'a'.repeat(40);
    const rd = join(cache, 'models--EleutherAI--pythia-14m');
    mkdirSync(join(rd, 'blobs'), { recursive: true });
    mkdirSync(join(rd, 'snapshots', commit), { recursive: true });
    mkdirSync(join(rd, 'refs'), { recursive: true });
    writeFileSync(join(rd, 'refs', 'main'), commit);
    for (const [name, body] of [['config.json', '{}'], ['model.safetensors', 'weights'], ['tokenizer.json', '{}']]) {
      const id = sha256(body);
      writeFileSync(join(rd, 'blobs', id), body);
      symlinkSync(`../../blobs/${id}`, join(rd, 'snapshots', commit, name));
    }
    process.env['HF_HUB_CACHE'] = cache;
    hub = await startHubServer(); // holds no repo: any request would show in its log
    process.env['HF_ENDPOINT'] = hub.endpoint;
    const r = await resolveModel('EleutherAI/pythia-14m', { offline: true });
    expect(r.dir).toBe(join(rd, 'snapshots', commit));
    // a pinned commit whose snapshot is complete needs no request even online (strict: markers for the optional files)
    mkdirSync(join(rd, '.no_exist', commit), { recursive: true });
    for (const f of ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) writeFileSync(join(rd, '.no_exist', commit, f), '');
    expect((await resolveModel(`EleutherAI/pythia-14m@${commit}`)).dir).toBe(r.dir);
    expect(hub.requests).toEqual([]);
  });

  it('resumes a dropped download with a Range request and verifies the result', async () => {
    const { hub, files } = await serve();
    hub.faults.dropOnce.set(SHARD1, 120_000);
    const cache = join(tmp, 'cache');
    const r = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint });
    const gets = hub.requestsFor(SHARD1).filter((q) => q.server === 'cdn');
    expect(gets.length).toBe(2);
    expect(gets[0].range).toBeUndefined();
    const m = /^bytes=(\d+)-$/.exec(gets[1].range ?? '');
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThanOrEqual(120_000);
    expect(sha256(readFileSync(join(r.dir, SHARD1)))).toBe(sha256(content(files, SHARD1)));
    expect(blobsLeft(cache).some((b) => b.endsWith('.incomplete'))).toBe(false);
  });

  it('continues a partial blob left by an earlier run (blobs/{sha256}.incomplete)', async () => {
    const { hub, files } = await serve();
    const cache = join(tmp, 'cache');
    const id = sha256(content(files, SHARD2));
    mkdirSync(join(repoDir(cache), 'blobs'), { recursive: true });
    writeFileSync(join(repoDir(cache), 'blobs', `${id}.incomplete`), content(files, SHARD2).subarray(0, 50_000));
    const progress: HubProgress[] = [];
    const r = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, onProgress: (p) => progress.push(p) });
    const gets = hub.requestsFor(SHARD2).filter((q) => q.server === 'cdn');
    expect(gets.map((q) => q.range)).toEqual(['bytes=50000-']);
    expect(progress.find((p) => p.file === SHARD2)).toEqual({ file: SHARD2, bytes: 50_000, total: 200_000 });
    expect(readFileSync(join(r.dir, SHARD2)).equals(content(files, SHARD2))).toBe(true);

    // a damaged partial file fails the sha256 check and is deleted; the next run starts afresh
    const cache2 = join(tmp, 'cache2');
    mkdirSync(join(repoDir(cache2), 'blobs'), { recursive: true });
    writeFileSync(join(repoDir(cache2), 'blobs', `${id}.incomplete`), randomBytes(50_000));
    const err = await resolveModel(REPO, { cacheDir: cache2, endpoint: hub.endpoint }).catch((e: unknown) => e as HubError);
    expect(err.code).toBe('integrity');
    expect(blobsLeft(cache2).filter((b) => b.startsWith(id))).toEqual([]);
    const ok = await resolveModel(REPO, { cacheDir: cache2, endpoint: hub.endpoint });
    expect(ok.downloaded).toEqual([SHARD2, 'tokenizer.json', 'tokenizer_config.json']); // the first run stopped at SHARD2
  });

  it('rejects wrong content (sha256) and a wrong size, leaving no blob behind', async () => {
    const { hub, commit, files } = await serve();
    hub.faults.corrupt.add(SHARD1);
    const cache = join(tmp, 'cache');
    const err = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint }).catch((e: unknown) => e as HubError);
    expect(err).toBeInstanceOf(HubError);
    expect(err.code).toBe('integrity');
    expect(err.file).toBe(SHARD1);
    const want = sha256(content(files, SHARD1));
    const bad = Buffer.from(content(files, SHARD1));
    bad[bad.length >> 1] ^= 0xff;
    expect(err.message).toContain(SHARD1);
    expect(err.message).toContain(`Expected sha256 ${want}`);
    expect(err.message).toContain(`received ${sha256(bad)}`);
    expect(blobsLeft(cache).filter((b) => b.startsWith(want))).toEqual([]);
    expect(existsSync(join(repoDir(cache), 'snapshots', commit, SHARD1))).toBe(false);
    expect(existsSync(join(repoDir(cache), 'refs', 'main'))).toBe(false);

    hub.faults.corrupt.clear();
    hub.faults.resize.set(SHARD2, 199_990);
    const err2 = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint }).catch((e: unknown) => e as HubError);
    expect(err2.code).toBe('integrity');
    expect(err2.message).toContain(SHARD2);
    expect(err2.message).toMatch(/Expected a size of 200000 bytes .* but received 199990 bytes/);
    expect(blobsLeft(cache).filter((b) => b.startsWith(sha256(content(files, SHARD2))))).toEqual([]);

    // small (non-LFS) files are checked against their git blob id
    hub.faults.resize.clear();
    hub.faults.corrupt.add('tokenizer.json');
    const err3 = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint }).catch((e: unknown) => e as HubError);
    expect(err3.code).toBe('integrity');
    expect(err3.message).toContain(`Expected git blob sha1 ${gitOid(content(files, 'tokenizer.json'))} for tokenizer.json`);
  });

  it('takes a revision as a commit hash or a tag', async () => {
    hub = await startHubServer();
    const v1Files = repoFiles(1);
    const c1 = hub.addCommit(REPO, v1Files, { tags: ['v1'] });
    const c2 = hub.addCommit(REPO, repoFiles(2));
    const cache = join(tmp, 'cache');

    const byHash = await resolveModel(`${REPO}@${c1}`, { cacheDir: cache, endpoint: hub.endpoint });
    expect(byHash).toMatchObject({ commit: c1, revision: c1, dir: join(repoDir(cache), 'snapshots', c1) });
    expect(JSON.parse(readFileSync(join(byHash.dir, 'config.json'), 'utf8')).seed).toBe(1);
    expect(existsSync(join(repoDir(cache), 'refs'))).toBe(false); // no ref for a commit, as Python
    expect(hub.requests.filter((q) => q.url.startsWith('/api/')).map((q) => q.url)).toEqual([`/api/models/org/tiny/revision/${c1}?blobs=true`]);

    hub.requests.length = 0;
    const byTag = await resolveModel(`${REPO}@v1`, { cacheDir: cache, endpoint: hub.endpoint });
    expect(byTag).toMatchObject({ commit: c1, revision: 'v1', dir: byHash.dir, downloaded: [] });
    expect(readFileSync(join(repoDir(cache), 'refs', 'v1'), 'utf8')).toBe(c1);
    expect(hub.requests.length).toBe(1);

    // the pinned commit is complete: no request at all
    hub.requests.length = 0;
    expect((await resolveModel(`${REPO}@${c1}`, { cacheDir: cache, endpoint: hub.endpoint })).downloaded).toEqual([]);
    expect(hub.requests).toEqual([]);

    const main = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint });
    expect(main.commit).toBe(c2);
    expect(JSON.parse(readFileSync(join(main.dir, 'config.json'), 'utf8')).seed).toBe(2);
    // the shards differ between commits; the unchanged files share their blobs
    expect(readlinkSync(join(main.dir, 'tokenizer.json'))).toBe(readlinkSync(join(byHash.dir, 'tokenizer.json')));
  });

  it('explains 404, 401 and 403, and sends the token to the hub only', async () => {
    const { hub } = await serve(repoFiles(), { private: true });
    hub.addCommit('org/gated', repoFiles(), { gated: true });
    const cache = join(tmp, 'cache');
    const opts = { cacheDir: cache, endpoint: hub.endpoint };

    const e404 = await resolveModel('org/nope', opts).catch((e: unknown) => e as HubError);
    expect(e404.code).toBe('not-found');
    expect(e404.status).toBe(404);
    expect(e404.message).toMatch(/org\/nope/);
    expect(e404.message).toMatch(/"main"/);
    const rev404 = await resolveModel('org/nope@dev', opts).catch((e: unknown) => e as HubError);
    expect(rev404.message).toContain('"dev"');

    const e401 = await resolveModel(REPO, opts).catch((e: unknown) => e as HubError);
    expect(e401.code).toBe('unauthorized');
    expect(e401.message).toContain('org/tiny@main');
    expect(e401.message).toContain('HF_TOKEN');
    const wrongToken = await resolveModel(REPO, { ...opts, token: 'hf_wrong' }).catch((e: unknown) => e as HubError);
    expect(wrongToken.message).toMatch(/rejected the token.*HF_TOKEN/);

    const e403 = await resolveModel('org/gated', opts).catch((e: unknown) => e as HubError);
    expect(e403.code).toBe('forbidden');
    expect(e403.message).toMatch(/gated/);
    expect(e403.message).toContain('HF_TOKEN');

    hub.requests.length = 0;
    const r = await resolveModel(`${REPO}@nonexistent-branch`, { ...opts, token: hub.token }).catch((e: unknown) => e as HubError);
    expect((r as HubError).message).toMatch(/Revision "nonexistent-branch" not found in org\/tiny/);

    hub.requests.length = 0;
    const ok = await resolveModel(REPO, { ...opts, token: hub.token });
    expect(ok.downloaded.length).toBe(NEEDED.length);
    const hubReqs = hub.requests.filter((q) => q.server === 'hub');
    const cdnReqs = hub.requests.filter((q) => q.server === 'cdn');
    expect(hubReqs.length).toBe(1 + NEEDED.length);
    expect(hubReqs.every((q) => q.authorization === `Bearer ${hub.token}`)).toBe(true);
    expect(cdnReqs.length).toBe(2);
    expect(cdnReqs.every((q) => q.authorization === undefined)).toBe(true);
  });

  it('honours HF_ENDPOINT, HF_HUB_CACHE, HF_HOME, HF_TOKEN and HF_TOKEN_PATH read at call time', async () => {
    const { hub, commit } = await serve(repoFiles(), { private: true });
    process.env['HF_ENDPOINT'] = `${hub.endpoint}/`;
    process.env['HF_HUB_CACHE'] = join(tmp, 'env-cache');
    process.env['HF_TOKEN'] = hub.token;
    const r = await resolveModel(REPO);
    expect(r.dir).toBe(join(tmp, 'env-cache', 'models--org--tiny', 'snapshots', commit));

    delete process.env['HF_HUB_CACHE'];
    delete process.env['HF_TOKEN'];
    process.env['HF_HOME'] = join(tmp, 'hf-home');
    writeFileSync(join(tmp, 'token-file'), `${hub.token}\n`);
    process.env['HF_TOKEN_PATH'] = join(tmp, 'token-file');
    const r2 = await resolveModel(REPO);
    expect(r2.dir).toBe(join(tmp, 'hf-home', 'hub', 'models--org--tiny', 'snapshots', commit));

    process.env['HF_ENDPOINT'] = 'huggingface.co';
    await expect(resolveModel(REPO)).rejects.toThrow('Expected an http(s) URL for HF_ENDPOINT but received "huggingface.co"');
    process.env['HF_ENDPOINT'] = hub.endpoint;

    // the token file in $HF_HOME (where `hf auth login` puts it)
    delete process.env['HF_TOKEN_PATH'];
    writeFileSync(join(tmp, 'hf-home', 'token'), hub.token);
    rmSync(join(tmp, 'hf-home', 'hub'), { recursive: true });
    expect((await resolveModel(REPO)).downloaded.length).toBe(NEEDED.length);
  });

  it('refuses pickle-only repos and says how to convert', async () => {
    const files = repoFiles().filter((f) => !f.path.includes('safetensors'));
    const { hub } = await serve(files);
    const err = await resolveModel(REPO, { cacheDir: join(tmp, 'cache'), endpoint: hub.endpoint }).catch((e: unknown) => e as HubError);
    expect(err.code).toBe('no-safetensors');
    expect(err.message).toContain('pytorch_model.bin');
    expect(err.message).toContain('safe_serialization=True');
    expect(hub.requests.filter((q) => q.file).length).toBe(0);
  });

  it('works from HEAD metadata when the revision API gives no blob ids, and fetches explicit file lists', async () => {
    const { hub, commit, files } = await serve();
    hub.faults.noBlobs = true;
    const cache = join(tmp, 'cache');
    const r = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, files: ['config.json', SHARD1] });
    expect(r.downloaded).toEqual(['config.json', SHARD1]);
    expect(readlinkSync(join(r.dir, SHARD1))).toBe(`../../blobs/${sha256(content(files, SHARD1))}`);
    expect(readlinkSync(join(r.dir, 'config.json'))).toBe(`../../blobs/${gitOid(content(files, 'config.json'))}`);
    const heads = hub.requests.filter((q) => q.method === 'HEAD');
    expect(heads.map((q) => q.file)).toEqual(['config.json', SHARD1]);
    expect(hub.requests.filter((q) => q.server === 'cdn').map((q) => q.method)).toEqual(['GET']);
    // the size and sha256 from the HEAD's x-linked-* headers are still checked
    hub.faults.corrupt.add(SHARD2);
    const err = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, files: [SHARD2] }).catch((e: unknown) => e as HubError);
    expect(err.code).toBe('integrity');
    const missing = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, files: ['nope.json'] }).catch((e: unknown) => e as HubError);
    expect(missing.code).toBe('not-found');
    expect(missing.missing).toEqual(['nope.json']);
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
  });

  it('stops on an aborted signal, keeping the partial file for the next run', async () => {
    const { hub, files } = await serve();
    const cache = join(tmp, 'cache');
    const ac = new AbortController();
    ac.abort(new Error('user cancelled'));
    await expect(resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, signal: ac.signal })).rejects.toThrow('user cancelled');
    expect(hub.requests).toEqual([]);

    const mid = new AbortController();
    const onProgress = (p: HubProgress): void => {
      if (p.file === SHARD1 && p.bytes > 0) mid.abort(new Error('stop mid-file'));
    };
    await expect(resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, signal: mid.signal, onProgress })).rejects.toThrow('stop mid-file');
    const partial = blobsLeft(cache).find((b) => b.endsWith('.incomplete'));
    expect(partial).toBe(`${sha256(content(files, SHARD1))}.incomplete`);
    const kept = lstatSync(join(repoDir(cache), 'blobs', partial!)).size;
    expect(kept).toBeGreaterThan(0);
    expect(existsSync(join(repoDir(cache), 'refs', 'main'))).toBe(false);

    hub.requests.length = 0;
    const r = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint });
    expect(hub.requestsFor(SHARD1).filter((q) => q.server === 'cdn').map((q) => q.range)).toEqual([`bytes=${kept}-`]);
    expect(r.downloaded).toEqual([SHARD1, SHARD2, 'tokenizer.json', 'tokenizer_config.json']);
    expect(readFileSync(join(r.dir, SHARD1)).equals(content(files, SHARD1))).toBe(true);
  });

  it('serves the cache when the hub fails with 5xx, and lets a failing progress callback through unretried', async () => {
    const { hub } = await serve();
    const cache = join(tmp, 'cache');
    const boom = (): void => {
      throw new Error('progress bar broke');
    };
    await expect(resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint, onProgress: boom })).rejects.toThrow('progress bar broke');
    expect(hub.requests.filter((q) => q.file === 'config.json').length).toBe(1);
    const r = await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint });
    hub.faults.apiStatus = 503;
    hub.requests.length = 0;
    expect(await resolveModel(REPO, { cacheDir: cache, endpoint: hub.endpoint })).toEqual({ ...r, downloaded: [] });
    expect(hub.requests.length).toBe(3); // the revision request, retried twice
    const err = await resolveModel('org/other', { cacheDir: cache, endpoint: hub.endpoint }).catch((e: unknown) => e as HubError);
    expect(err.code).toBe('offline-missing');
    expect(err.message).toMatch(/HTTP 503/);
  });
});

describe('resolveModel with a local folder', () => {
  it('returns a folder holding config.json as is', async () => {
    const dir = join(tmp, 'my-model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{}');
    expect(await resolveModel(dir)).toEqual({ dir, downloaded: [] });
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      expect((await resolveModel('./my-model')).dir).toBe(dir);
    } finally {
      process.chdir(cwd);
    }
  });

  it('rejects a folder without config.json, or no folder, naming it', async () => {
    const dir = join(tmp, 'empty');
    mkdirSync(dir);
    const err = await resolveModel(dir).catch((e: unknown) => e as HubError);
    expect(err.code).toBe('not-a-model');
    expect(err.message).toContain(dir);
    expect(err.message).toContain('config.json');
    const none = await resolveModel(join(tmp, 'absent')).catch((e: unknown) => e as HubError);
    expect(none.message).toContain(join(tmp, 'absent'));
  });

  it('parses specs', () => {
    expect(parseModelSpec('EleutherAI/pythia-70m')).toEqual({ kind: 'hub', repo: 'EleutherAI/pythia-70m', revision: 'main' });
    expect(parseModelSpec('EleutherAI/pythia-70m@step1000')).toEqual({ kind: 'hub', repo: 'EleutherAI/pythia-70m', revision: 'step1000' });
    expect(parseModelSpec('a/b@refs/pr/1')).toEqual({ kind: 'hub', repo: 'a/b', revision: 'refs/pr/1' });
    expect(parseModelSpec('/abs/path')).toEqual({ kind: 'local', dir: '/abs/path' });
    expect(() => parseModelSpec('gpt2')).toThrow(/org\/name/);
    expect(() => parseModelSpec('a/b@../x')).toThrow(/\.\./);
  });
});
