// A minimal parquet writer, for tests only (hyparquet reads but does not write, and hyparquet-writer is
// not a dependency): flat schemas of BYTE_ARRAY (UTF8-annotated or not), INT32 and INT64 columns,
// required or optional, PLAIN encoding, UNCOMPRESSED, one v1 data page per column chunk, any number of
// row groups. The footer is FileMetaData in the Thrift compact protocol.
//
// File: "PAR1" | for each row group, for each column: PageHeader + page | FileMetaData | u32 LE length | "PAR1".
// A v1 data page of an optional column starts with its definition levels (RLE/bit-packed hybrid, bit
// width 1, behind a u32 LE byte length); null values are left out of the values that follow.

export type ParquetColumn =
  | { name: string; type: 'BYTE_ARRAY'; utf8?: boolean; optional?: boolean; values: (string | Uint8Array | null)[] }
  | { name: string; type: 'INT32' | 'INT64'; optional?: boolean; values: (number | bigint | null)[] };

export interface WriteParquetOptions {
  /** Rows per row group (the last may be shorter); default: all rows in one group. */
  rowGroupSize?: number;
}

// Parquet enums (parquet.thrift).
const TYPE = { INT32: 1, INT64: 2, BYTE_ARRAY: 6 } as const;
const REPETITION = { REQUIRED: 0, OPTIONAL: 1 } as const;
const CONVERTED_UTF8 = 0;
const ENCODING_PLAIN = 0;
const ENCODING_RLE = 3;
const CODEC_UNCOMPRESSED = 0;
const PAGE_DATA = 0;

// Thrift compact protocol: values as a tree, serialized by `encodeStruct`.
type TValue =
  | { t: 'i32'; v: number }
  | { t: 'i64'; v: number | bigint }
  | { t: 'bin'; v: string | Uint8Array }
  | { t: 'struct'; f: Array<[number, TValue]> }
  | { t: 'list'; elem: 'i32' | 'bin' | 'struct'; items: TValue[] };

const CT = { i32: 5, i64: 6, bin: 8, list: 9, struct: 12 } as const;

const i32 = (v: number): TValue => ({ t: 'i32', v });
const i64 = (v: number | bigint): TValue => ({ t: 'i64', v });
const bin = (v: string | Uint8Array): TValue => ({ t: 'bin', v });
const struct = (...f: Array<[number, TValue] | undefined>): TValue => ({ t: 'struct', f: f.filter((x): x is [number, TValue] => x !== undefined) });
const list = (elem: 'i32' | 'bin' | 'struct', items: TValue[]): TValue => ({ t: 'list', elem, items });

class Bytes {
  private chunks: number[] = [];
  byte(b: number): void {
    this.chunks.push(b & 0xff);
  }
  raw(data: Uint8Array): void {
    for (const b of data) this.chunks.push(b);
  }
  varint(n: bigint): void {
    let x = BigInt.asUintN(64, n);
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
  }
  zigzag(n: number | bigint): void {
    const x = BigInt(n);
    this.varint(x >= 0n ? x << 1n : ((-x) << 1n) - 1n);
  }
  toBuffer(): Buffer {
    return Buffer.from(this.chunks);
  }
}

function encodeValue(out: Bytes, v: TValue): void {
  switch (v.t) {
    case 'i32':
    case 'i64':
      out.zigzag(v.v);
      return;
    case 'bin': {
      const data = typeof v.v === 'string' ? Buffer.from(v.v, 'utf8') : v.v;
      out.varint(BigInt(data.length));
      out.raw(data);
      return;
    }
    case 'list': {
      const n = v.items.length;
      if (n < 15) out.byte((n << 4) | CT[v.elem]);
      else {
        out.byte(0xf0 | CT[v.elem]);
        out.varint(BigInt(n));
      }
      for (const item of v.items) encodeValue(out, item);
      return;
    }
    case 'struct': {
      let last = 0;
      for (const [id, field] of [...v.f].sort((a, b) => a[0] - b[0])) {
        const delta = id - last;
        if (delta > 0 && delta <= 15) out.byte((delta << 4) | CT[field.t]);
        else {
          out.byte(CT[field.t]);
          out.zigzag(id);
        }
        encodeValue(out, field);
        last = id;
      }
      out.byte(0); // stop
      return;
    }
  }
}

function thrift(v: TValue): Buffer {
  const out = new Bytes();
  encodeValue(out, v);
  return out.toBuffer();
}

/** Definition levels (1 = present, 0 = null) as RLE runs, behind their u32 LE byte length. */
function definitionLevels(present: boolean[]): Buffer {
  const runs = new Bytes();
  for (let i = 0; i < present.length; ) {
    let j = i;
    while (j < present.length && present[j] === present[i]) j++;
    runs.varint(BigInt(j - i) << 1n); // RLE run header: count << 1 (low bit 0)
    runs.byte(present[i] ? 1 : 0); // the value, in ceil(bitWidth / 8) = 1 byte
    i = j;
  }
  const body = runs.toBuffer();
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

function plainValues(col: ParquetColumn, values: unknown[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    if (v === null) continue;
    if (col.type === 'BYTE_ARRAY') {
      const data = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v as Uint8Array);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(data.length);
      parts.push(len, data);
    } else if (col.type === 'INT64') {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v as number | bigint));
      parts.push(b);
    } else {
      const b = Buffer.alloc(4);
      b.writeInt32LE(Number(v));
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

/** The bytes of a parquet file holding `columns` (all of the same length). */
export function writeParquet(columns: ParquetColumn[], opts: WriteParquetOptions = {}): Buffer {
  if (columns.length === 0) throw new Error('writeParquet: no columns');
  const numRows = columns[0].values.length;
  for (const c of columns) {
    if (c.values.length !== numRows) throw new Error(`writeParquet: column ${c.name} has ${c.values.length} values, expected ${numRows}`);
    if (!c.optional && c.values.some((v) => v === null)) throw new Error(`writeParquet: required column ${c.name} has a null`);
  }
  const groupSize = Math.max(1, opts.rowGroupSize ?? numRows);
  const parts: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const rowGroups: TValue[] = [];
  for (let start = 0; start < numRows || (numRows === 0 && start === 0); start += groupSize) {
    const end = Math.min(numRows, start + groupSize);
    const chunks: TValue[] = [];
    let groupBytes = 0;
    for (const col of columns) {
      const values = col.values.slice(start, end) as unknown[];
      const page = Buffer.concat([
        col.optional ? definitionLevels(values.map((v) => v !== null)) : Buffer.alloc(0),
        plainValues(col, values),
      ]);
      const header = thrift(
        struct(
          [1, i32(PAGE_DATA)],
          [2, i32(page.length)],
          [3, i32(page.length)],
          [5, struct([1, i32(values.length)], [2, i32(ENCODING_PLAIN)], [3, i32(ENCODING_RLE)], [4, i32(ENCODING_RLE)])],
        ),
      );
      const chunkOffset = offset;
      const chunkSize = header.length + page.length;
      parts.push(header, page);
      offset += chunkSize;
      groupBytes += chunkSize;
      chunks.push(
        struct(
          [2, i64(chunkOffset)],
          [
            3,
            struct(
              [1, i32(TYPE[col.type])],
              [2, list('i32', [i32(ENCODING_PLAIN), i32(ENCODING_RLE)])],
              [3, list('bin', [bin(col.name)])],
              [4, i32(CODEC_UNCOMPRESSED)],
              [5, i64(values.length)],
              [6, i64(chunkSize)],
              [7, i64(chunkSize)],
              [9, i64(chunkOffset)],
            ),
          ],
        ),
      );
    }
    rowGroups.push(struct([1, list('struct', chunks)], [2, i64(groupBytes)], [3, i64(end - start)]));
    if (numRows === 0) break;
  }
  const schema: TValue[] = [
    struct([4, bin('schema')], [5, i32(columns.length)]),
    ...columns.map((c) =>
      struct(
        [1, i32(TYPE[c.type])],
        [3, i32(c.optional ? REPETITION.OPTIONAL : REPETITION.REQUIRED)],
        [4, bin(c.name)],
        c.type === 'BYTE_ARRAY' && c.utf8 !== false ? [6, i32(CONVERTED_UTF8)] : undefined,
      ),
    ),
  ];
  const footer = thrift(
    struct([1, i32(1)], [2, list('struct', schema)], [3, i64(numRows)], [4, list('struct', rowGroups)], [6, bin('rewardlens test writer')]),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  parts.push(footer, len, Buffer.from('PAR1'));
  return Buffer.concat(parts);
}

/** An IMDb-shaped file (columns text: string, label: int64), as stanfordnlp/imdb's parquet files are. */
export function imdbParquet(records: Array<{ text: string; label: number }>, opts: WriteParquetOptions & { optional?: boolean } = {}): Buffer {
  return writeParquet(
    [
      { name: 'text', type: 'BYTE_ARRAY', optional: opts.optional, values: records.map((r) => r.text) },
      { name: 'label', type: 'INT64', optional: opts.optional, values: records.map((r) => BigInt(r.label)) },
    ],
    opts,
  );
}
