// One PPO batch laid out for the engine: each row is its left-padded query followed by its response
// and right padding, [B, T] with T = queryWidth + maxResponse. Position ids count from each row's
// first real token, so a left-padded row sees the same positions as an unpadded one (TRL 0.7 feeds
// left-padded rows at shifted positions: a defect not copied). Per-token quantities are aligned as
// TRL aligns them after its shift: position t holds log p(ids[t+1] | ids[≤t]) and the value of the
// hidden state at t, and the mask is 1 exactly where ids[t+1] is a response token.

export interface RolloutBatch {
  B: number;
  T: number;
  /** [B,T] query (left-padded) then response (right-padded). */
  inputIds: Int32Array;
  /** [B,T] 1 on real tokens. */
  attentionMask: Uint8Array;
  /** [B,T] counted from each row's first real token; 0 on padding. */
  positionIds: Int32Array;
  /** [B,T] ids[t+1] where it is a response token, else −1. */
  targets: Int32Array;
  /** [B,T] 1 where targets ≥ 0: the response tokens' positions. */
  mask: Uint8Array;
  /** Width of the query block (the longest query). */
  queryWidth: number;
  /** [B] query lengths and response lengths (tokens). */
  queryLengths: Int32Array;
  responseLengths: Int32Array;
}

/**
 * Lay out queries and responses. `responses[b]` holds row b's new tokens (the first
 * responseLengths[b] of a [B, S] generate output, EOS included when drawn); every response needs at
 * least one token.
 */
export function buildRollout(queries: readonly (readonly number[])[], responses: Int32Array, responseLengths: Int32Array, S: number, padId: number): RolloutBatch {
  const B = queries.length;
  if (responses.length !== B * S || responseLengths.length !== B) {
    throw new RangeError(`Expected responses of length ${B}·${S} and ${B} response lengths but received ${responses.length} and ${responseLengths.length}`);
  }
  const queryWidth = queries.reduce((m, q) => Math.max(m, q.length), 0);
  let maxResp = 0;
  for (let b = 0; b < B; b++) {
    const L = responseLengths[b];
    if (!(L >= 1 && L <= S)) throw new RangeError(`Expected a response length in [1, ${S}] for responseLengths[${b}] but received ${L}`);
    if (queries[b].length === 0) throw new RangeError(`Expected a non-empty query for queries[${b}] but received an empty one`);
    maxResp = Math.max(maxResp, L);
  }
  const T = queryWidth + maxResp;
  const inputIds = new Int32Array(B * T).fill(padId);
  const attentionMask = new Uint8Array(B * T);
  const positionIds = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-1);
  const mask = new Uint8Array(B * T);
  const queryLengths = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const q = queries[b];
    const L = responseLengths[b];
    const row = b * T;
    const start = queryWidth - q.length;
    queryLengths[b] = q.length;
    for (let i = 0; i < q.length; i++) inputIds[row + start + i] = q[i];
    for (let s = 0; s < L; s++) inputIds[row + queryWidth + s] = responses[b * S + s];
    for (let t = start; t < queryWidth + L; t++) {
      attentionMask[row + t] = 1;
      positionIds[row + t] = t - start;
    }
    // log p of response token s sits at position queryWidth − 1 + s.
    for (let s = 0; s < L; s++) {
      const t = queryWidth - 1 + s;
      targets[row + t] = inputIds[row + t + 1];
      mask[row + t] = 1;
    }
  }
  return { B, T, inputIds, attentionMask, positionIds, targets, mask, queryWidth, queryLengths, responseLengths: Int32Array.from(responseLengths) };
}

/**
 * The rows `rows` of a [B,T] rollout as a [rows.length, T'] batch, dropping columns that are
 * padding in every chosen row at both ends (a minibatch of short rows runs on a narrower batch).
 * Returns the batch and the column offset, so per-token arrays can be gathered the same way.
 */
export function gatherRows(r: RolloutBatch, rows: readonly number[]): { batch: RolloutBatch; col0: number } {
  const { T } = r;
  let lo = T, hi = 0;
  for (const b of rows) {
    for (let t = 0; t < T; t++) if (r.attentionMask[b * T + t]) { lo = Math.min(lo, t); break; }
    for (let t = T - 1; t >= 0; t--) if (r.attentionMask[b * T + t]) { hi = Math.max(hi, t + 1); break; }
  }
  const W = hi - lo;
  const n = rows.length;
  const take = <A extends Int32Array | Uint8Array>(src: A, make: (len: number) => A): A => {
    const out = make(n * W);
    rows.forEach((b, i) => out.set(src.subarray(b * T + lo, b * T + hi), i * W));
    return out;
  };
  const batch: RolloutBatch = {
    B: n,
    T: W,
    inputIds: take(r.inputIds, (l) => new Int32Array(l)),
    attentionMask: take(r.attentionMask, (l) => new Uint8Array(l)),
    positionIds: take(r.positionIds, (l) => new Int32Array(l)),
    targets: take(r.targets, (l) => new Int32Array(l)),
    mask: take(r.mask, (l) => new Uint8Array(l)),
    queryWidth: r.queryWidth - lo,
    queryLengths: Int32Array.from(rows, (b) => r.queryLengths[b]),
    responseLengths: Int32Array.from(rows, (b) => r.responseLengths[b]),
  };
  return { batch, col0: lo };
}

/** Gather a [B,T] per-token array for `rows` and the columns [col0, col0 + W). */
export function gatherTokens(src: Float32Array, T: number, rows: readonly number[], col0: number, W: number): Float32Array {
  const out = new Float32Array(rows.length * W);
  rows.forEach((b, i) => out.set(src.subarray(b * T + col0, b * T + col0 + W), i * W));
  return out;
}
