// File locks and the atomic exchange (src/io/native-fs.ts): a lock excludes another process, dies
// with its process (SIGKILL), and is the flock(2) lock huggingface_hub's filelock takes; the
// exchange swaps two folders in one step.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exchangePaths, tryLockFile, withFileLock } from '../src/io/native-fs.js';

const root = mkdtempSync(join(tmpdir(), 'rl-native-fs-'));
const dist = join(__dirname, '..', 'dist', 'io', 'native-fs.js');
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });

/** A child process that takes the lock, prints "locked", and holds it until killed. */
async function holdInChild(path: string): Promise<ReturnType<typeof spawn>> {
  const src = `import(${JSON.stringify(dist)}).then(({ tryLockFile }) => { const l = tryLockFile(${JSON.stringify(path)}); console.log(l ? 'locked' : 'busy'); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d).trim())));
  expect(line).toBe('locked');
  return child;
}

describe('file locks', () => {
  it('exclude a second process until the holder dies, even by SIGKILL', async () => {
    const path = join(root, '.locks', 'models--a--b', 'blob.lock');
    const child = await holdInChild(path);
    expect(tryLockFile(path)).toBeNull();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lock = tryLockFile(path);
    expect(lock).not.toBeNull();
    lock!.release();
    lock!.release(); // a second release does nothing
  });

  it('exclude a second holder in the same process, and withFileLock waits for the first', async () => {
    const path = join(root, 'same.lock');
    const first = tryLockFile(path)!;
    expect(first).not.toBeNull();
    expect(tryLockFile(path)).toBeNull();
    const order: string[] = [];
    let waited = false;
    const waiting = withFileLock(path, () => { order.push('second'); }, { pollMs: 20, onWait: () => { waited = true; } });
    await new Promise((r) => setTimeout(r, 100));
    order.push('first released');
    first.release();
    await waiting;
    expect(waited).toBe(true);
    expect(order).toEqual(['first released', 'second']);
  });

  it('time out with the lock path named', async () => {
    const path = join(root, 'held.lock');
    const held = tryLockFile(path)!;
    await expect(withFileLock(path, () => 1, { timeoutMs: 150, pollMs: 20 })).rejects.toThrow(/held\.lock.*held this lock/);
    held.release();
  });

  it('are the flock(2) locks Python (huggingface_hub filelock) takes', () => {
    const py = spawnSync('python3', ['--version']);
    if (py.error) return expect(process.env.CI).toBeFalsy(); // python3 is on every CI machine
    const path = join(root, 'py.lock');
    const lock = tryLockFile(path)!;
    const probe = `import fcntl,sys\nf=open(sys.argv[1],'w')\ntry:\n  fcntl.flock(f, fcntl.LOCK_EX|fcntl.LOCK_NB); print('got')\nexcept BlockingIOError:\n  print('busy')`;
    expect(spawnSync('python3', ['-c', probe, path], { encoding: 'utf8' }).stdout.trim()).toBe('busy');
    lock.release();
    expect(spawnSync('python3', ['-c', probe, path], { encoding: 'utf8' }).stdout.trim()).toBe('got');
  });

  it('refuse bad arguments with errors naming them', () => {
    expect(() => tryLockFile(join(root, 'nul\0.lock'))).toThrow(/path/);
    writeFileSync(join(root, 'a-file'), '');
    expect(() => tryLockFile(join(root, 'a-file', 'x.lock'))).toThrow(/a-file/);
  });
});

describe('exchangePaths', () => {
  it('swaps two folders in one step', () => {
    const a = join(root, 'ex-a');
    const b = join(root, 'ex-b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, 'f'), 'A');
    writeFileSync(join(b, 'f'), 'B');
    expect(exchangePaths(a, b)).toBe(true); // Linux with a local file system
    expect(readFileSync(join(a, 'f'), 'utf8')).toBe('B');
    expect(readFileSync(join(b, 'f'), 'utf8')).toBe('A');
  });

  it('fails naming the path when one side is missing', () => {
    expect(() => exchangePaths(join(root, 'missing-1'), join(root, 'ex-a'))).toThrow(/missing-1/);
  });
});
