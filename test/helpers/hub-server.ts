// A loopback imitation of the Hugging Face hub endpoints that src/model/hub.ts calls:
//   GET  /api/models/{org}/{name}/revision/{rev}[?blobs=true]  → { id, sha, siblings: [{ rfilename, blobId, size, lfs }] }
//   HEAD/GET /{org}/{name}/resolve/{rev}/{path}               → small files: 200 + ETag "git oid";
//                                                               LFS files: 302 to the "CDN" (a second server on
//                                                               another port) with X-Linked-Etag / X-Linked-Size
//   GET  {cdn}/blobs/{sha256}                                  → the LFS content, with Range support
//   (dataset repos, added with addCommit(..., { type: 'dataset' }): the same under /api/datasets/… and
//   /datasets/{org}/{name}/resolve/…; models and datasets are separate namespaces, as on the hub)
// Errors carry X-Error-Code as the hub's do (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo).
// Faults can be injected per file (a dropped connection, wrong bytes, a wrong size); every request is logged.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface HubFileSpec {
  path: string;
  content: Buffer | string;
  /** Stored with git LFS (served through the CDN redirect, with a sha256). */
  lfs?: boolean;
}

interface StoredFile {
  path: string;
  content: Buffer;
  lfs: boolean;
  sha256: string;
  gitOid: string;
}

interface Repo {
  commits: Map<string, Map<string, StoredFile>>;
  refs: Map<string, string>;
  /** Needs `Authorization: Bearer <token>`: 401 without it. */
  private: boolean;
  /** Answers 403 GatedRepo to a request without the token. */
  gated: boolean;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  /** The repo path of the file a resolve or CDN request is for. */
  file?: string;
  range?: string;
  authorization?: string;
}

export interface Faults {
  /** file → bytes to send before cutting the connection, on the first full GET of that file only. */
  dropOnce: Map<string, number>;
  /** Files served with one byte changed (same size; the metadata keeps the true hash). */
  corrupt: Set<string>;
  /** file → size to serve instead (the metadata keeps the true size). */
  resize: Map<string, number>;
  /** The revision API leaves out blobId, size and lfs (so the client must HEAD each file). */
  noBlobs: boolean;
  /** When set, the revision API answers with this status (e.g. 503 for an outage). */
  apiStatus?: number;
}

export interface FakeHub {
  endpoint: string;
  cdn: string;
  token: string;
  requests: LoggedRequest[];
  faults: Faults;
  /** Add a commit; moves `branch` (default "main") to it and points each of `tags` at it. */
  addCommit(repo: string, files: HubFileSpec[], opts?: { branch?: string; tags?: string[]; private?: boolean; gated?: boolean; type?: 'model' | 'dataset' }): string;
  /** Requests for one file (resolve and CDN). */
  requestsFor(file: string): LoggedRequest[];
  close(): Promise<void>;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function gitOid(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'bad' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header);
  if (!m) return 'bad';
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (start >= size || start > end) return 'bad';
  return { start, end };
}

export async function startHubServer(opts: { token?: string } = {}): Promise<FakeHub> {
  const repos = new Map<string, Repo>();
  const blobs = new Map<string, StoredFile>();
  const requests: LoggedRequest[] = [];
  const faults: Faults = { dropOnce: new Map(), corrupt: new Set(), resize: new Map(), noBlobs: false };
  const token = opts.token ?? 'hf_test_token_123';
  const sockets = new Set<import('node:net').Socket>();

  function body(file: StoredFile): Buffer {
    let content = file.content;
    if (faults.corrupt.has(file.path)) {
      content = Buffer.from(content);
      content[content.length >> 1] ^= 0xff;
    }
    const size = faults.resize.get(file.path);
    if (size !== undefined) content = size <= content.length ? content.subarray(0, size) : Buffer.concat([content, Buffer.alloc(size - content.length, 7)]);
    return content;
  }

  /** Send `file`'s content honouring Range, or cut the connection when a drop fault is armed. */
  function serveContent(req: IncomingMessage, res: ServerResponse, file: StoredFile, headers: Record<string, string>): void {
    const content = body(file);
    const range = parseRange(req.headers.range, content.length);
    if (range === 'bad') {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${content.length}` });
      res.end();
      return;
    }
    const slice = range ? content.subarray(range.start, range.end + 1) : content;
    const h: Record<string, string> = { ...headers, 'accept-ranges': 'bytes', 'content-length': String(slice.length), 'content-type': 'application/octet-stream' };
    if (range) h['content-range'] = `bytes ${range.start}-${range.end}/${content.length}`;
    res.writeHead(range ? 206 : 200, h);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const drop = faults.dropOnce.get(file.path);
    if (drop !== undefined && !range) {
      faults.dropOnce.delete(file.path);
      res.write(slice.subarray(0, drop), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  }

  function error(res: ServerResponse, status: number, code: string, message: string): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
    res.end(JSON.stringify({ error: message }));
  }

  function authorized(req: IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${token}`;
  }

  function findRepo(res: ServerResponse, req: IncomingMessage, name: string): Repo | undefined {
    const repo = repos.get(name);
    if (!repo) {
      error(res, 404, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (repo.private && !authorized(req)) {
      error(res, 401, 'RepoNotFound', 'Invalid username or password.');
      return undefined;
    }
    if (repo.gated && !authorized(req)) {
      error(res, 403, 'GatedRepo', `Access to model ${name} is restricted. You must have access to it and be authenticated to access it.`);
      return undefined;
    }
    return repo;
  }

  function commitOf(repo: Repo, rev: string): string | undefined {
    return repo.commits.has(rev) ? rev : repo.refs.get(rev);
  }

  const hub = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const apiMatch = /^\/api\/(models|datasets)\/([^/]+)\/([^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolveMatch = /^(?:\/(datasets))?\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    // Dataset repos live under the key "datasets/{org}/{name}"; the groups are shifted to the old shape.
    const datasetPrefix = (kind: string | undefined): string => (kind === 'datasets' ? 'datasets/' : '');
    const api = apiMatch ? ([apiMatch[0], apiMatch[2], apiMatch[3], apiMatch[4]] as const) : null;
    const apiKind = datasetPrefix(apiMatch?.[1]);
    const resolve = resolveMatch ? ([resolveMatch[0], resolveMatch[2], resolveMatch[3], resolveMatch[4], resolveMatch[5]] as const) : null;
    const resolveKind = datasetPrefix(resolveMatch?.[1]);
    const entry: LoggedRequest = { server: 'hub', method: req.method ?? 'GET', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization };
    requests.push(entry);
    if (api && faults.apiStatus !== undefined) return error(res, faults.apiStatus, 'Unavailable', 'Service unavailable');
    if (api) {
      const name = `${decodeURIComponent(api[1])}/${decodeURIComponent(api[2])}`;
      const rev = decodeURIComponent(api[3]);
      const repo = findRepo(res, req, apiKind + name);
      if (!repo) return;
      const sha = commitOf(repo, rev);
      if (!sha) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const blobsWanted = url.searchParams.get('blobs') === 'true' && !faults.noBlobs;
      const siblings = [...repo.commits.get(sha)!.values()].map((f) =>
        blobsWanted
          ? {
              rfilename: f.path,
              blobId: f.lfs ? sha1Hex(`pointer ${f.sha256}`) : f.gitOid,
              size: f.content.length,
              ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
            }
          : { rfilename: f.path },
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ _id: 'x', id: name, modelId: name, sha, private: repo.private, siblings }));
      return;
    }
    if (resolve) {
      const name = `${decodeURIComponent(resolve[1])}/${decodeURIComponent(resolve[2])}`;
      const rev = decodeURIComponent(resolve[3]);
      const path = resolve[4].split('/').map(decodeURIComponent).join('/');
      entry.file = path;
      const repo = findRepo(res, req, resolveKind + name);
      if (!repo) return;
      const sha = commitOf(repo, rev);
      if (!sha) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const file = repo.commits.get(sha)!.get(path);
      if (!file) return error(res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`);
      const common = { 'x-repo-commit': sha };
      if (file.lfs) {
        res.writeHead(302, {
          ...common,
          location: `${cdnUrl}/blobs/${file.sha256}?expires=1&sig=${randomBytes(4).toString('hex')}`,
          etag: `"${sha1Hex(`pointer ${file.sha256}`)}"`,
          'x-linked-etag': `"${file.sha256}"`,
          'x-linked-size': String(file.content.length),
        });
        res.end();
        return;
      }
      serveContent(req, res, file, { ...common, etag: `"${file.gitOid}"` });
      return;
    }
    error(res, 404, 'NotFound', `no route ${url.pathname}`);
  });

  const cdn = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname);
    const file = m ? blobs.get(m[1]) : undefined;
    requests.push({ server: 'cdn', method: req.method ?? 'GET', url: req.url ?? '', file: file?.path, range: req.headers.range, authorization: req.headers.authorization });
    if (!file) {
      res.writeHead(404);
      res.end('NoSuchKey');
      return;
    }
    serveContent(req, res, file, { etag: `"${file.sha256}"` });
  });

  for (const s of [hub, cdn]) {
    s.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
  }
  const endpoint = await listen(hub);
  const cdnUrl = await listen(cdn);

  return {
    endpoint,
    cdn: cdnUrl,
    token,
    requests,
    faults,
    addCommit(name, files, o = {}) {
      const key = o.type === 'dataset' ? `datasets/${name}` : name;
      let repo = repos.get(key);
      if (!repo) {
        repo = { commits: new Map(), refs: new Map(), private: false, gated: false };
        repos.set(key, repo);
      }
      if (o.private !== undefined) repo.private = o.private;
      if (o.gated !== undefined) repo.gated = o.gated;
      const stored = new Map<string, StoredFile>();
      for (const f of files) {
        const content = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content);
        const file: StoredFile = { path: f.path, content, lfs: !!f.lfs, sha256: sha256(content), gitOid: gitOid(content) };
        stored.set(f.path, file);
        if (file.lfs) blobs.set(file.sha256, file);
      }
      const sha = randomBytes(20).toString('hex');
      repo.commits.set(sha, stored);
      repo.refs.set(o.branch ?? 'main', sha);
      for (const t of o.tags ?? []) repo.refs.set(t, sha);
      return sha;
    },
    requestsFor(file) {
      return requests.filter((r) => r.file === file);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([hub, cdn].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

function sha1Hex(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}
