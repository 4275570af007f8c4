// Build Hugging Face model folders for tests: copies of the tiny-neox-a fixture, sharded and
// half-precision variants, and safetensors files edited at the byte level (independent of the writer).
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromF32, toF32 } from '../../src/io/safetensors.js';

const REPO = join(__dirname, '..', '..');
/** The shared fixtures: $REWARDLENS_SHARED, else shared/ in the checkout, else ../shared beside it. */
const SHARED = [process.env.REWARDLENS_SHARED, join(REPO, 'shared'), join(REPO, '..', 'shared')]
  .find((d): d is string => !!d && existsSync(join(d, 'fixtures'))) ?? join(REPO, '..', 'shared');
export const FIXTURE_DIR = join(SHARED, 'fixtures', 'tiny-neox-a');
export const FIXTURE_MODEL = join(FIXTURE_DIR, 'model.safetensors');
export const FIXTURE_CONFIG = join(FIXTURE_DIR, 'config.json');

export interface RawEntry { dtype: string; shape: number[]; data_offsets: [number, number] }
export interface RawFile {
  header: Record<string, RawEntry>;
  metadata?: Record<string, string>;
  data: Buffer;
}

/** Split a safetensors file into header entries and the data section. */
export function readRaw(path: string): RawFile {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const json = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const metadata = json.__metadata__ as Record<string, string> | undefined;
  delete json.__metadata__;
  return { header: json as unknown as Record<string, RawEntry>, metadata, data: buf.subarray(8 + n) };
}

/** Write a header (as given, not checked) and a data section. */
export function writeRaw(path: string, file: RawFile): void {
  const h: Record<string, unknown> = { ...file.header };
  if (file.metadata) h.__metadata__ = file.metadata;
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, file.data]));
}

/** The bytes of one tensor of a raw file. */
export function tensorBytes(file: RawFile, name: string): Buffer {
  const [a, b] = file.header[name].data_offsets;
  return file.data.subarray(a, b);
}

/** Re-pack tensors (name → {dtype, shape, bytes}) into a RawFile with contiguous offsets. */
export function pack(tensors: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[], metadata?: Record<string, string>): RawFile {
  const header: Record<string, RawEntry> = {};
  const parts: Buffer[] = [];
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    parts.push(Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength));
    off += t.bytes.byteLength;
  }
  return { header, metadata, data: Buffer.concat(parts) };
}

/** All tensors of a raw file as pack() entries. */
export function entries(file: RawFile): { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[] {
  return Object.entries(file.header).map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, bytes: tensorBytes(file, name) }));
}

/** A copy of the fixture folder (config.json + model.safetensors) at `dir`. */
export function copyFixture(dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(FIXTURE_CONFIG, join(dir, 'config.json'));
  copyFileSync(FIXTURE_MODEL, join(dir, 'model.safetensors'));
  return dir;
}

/** The fixture with its model.safetensors replaced by `file`. */
export function fixtureWith(dir: string, file: RawFile): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(FIXTURE_CONFIG, join(dir, 'config.json'));
  writeRaw(join(dir, 'model.safetensors'), file);
  return dir;
}

/** The fixture split into `n` shards (round-robin by tensor) + model.safetensors.index.json. */
export function shardedFixture(dir: string, n = 2): { dir: string; shards: string[]; weightMap: Record<string, string> } {
  mkdirSync(dir, { recursive: true });
  copyFileSync(FIXTURE_CONFIG, join(dir, 'config.json'));
  const raw = readRaw(FIXTURE_MODEL);
  const all = entries(raw);
  const shards: string[] = [];
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < n; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
    const mine = all.filter((_, i) => i % n === s);
    for (const t of mine) {
      weightMap[t.name] = name;
      total += t.bytes.byteLength;
    }
    writeRaw(join(dir, name), pack(mine, { format: 'pt' }));
    shards.push(name);
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return { dir, shards, weightMap };
}

/** The fixture with every tensor stored as F16 or BF16 (round to nearest even). */
export function halfFixture(dir: string, dtype: 'F16' | 'BF16'): string {
  const raw = readRaw(FIXTURE_MODEL);
  const converted = entries(raw).map((t) => {
    const bits = fromF32(dtype, toF32('F32', new Uint8Array(t.bytes)));
    return { name: t.name, dtype, shape: t.shape, bytes: new Uint8Array(bits.buffer) };
  });
  return fixtureWith(dir, pack(converted, { format: 'pt' }));
}
