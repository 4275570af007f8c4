// Float64 reference for the cosine kernels: the whole n1×n2 matrix, then every statistic from it.
// Independent of the native code: plain loops, zero rows have cosine 0, ties to the smaller index.

export interface RefPair { a: number; b: number; cos: number }

export interface CosineReference {
  full: Float64Array; // [n1,n2]
  rowMax: Float64Array;
  rowArgmax: Int32Array;
  /** Best minus second-best value of each row (Infinity when n2 = 1): how safe its argmax is. */
  rowGap: Float64Array;
  colMax: Float64Array;
  colArgmax: Int32Array;
  colGap: Float64Array;
  /** All pairs when topK = n1·n2, else the topK largest; cos descending, then a, then b. */
  top: RefPair[];
  mmcs: number;
}

function rowNorms(X: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += X[i * d + k] * X[i * d + k];
    out[i] = Math.sqrt(s);
  }
  return out;
}

export function rankBefore(x: RefPair, y: RefPair): number {
  return y.cos - x.cos || x.a - y.a || x.b - y.b;
}

export function cosineReference(A: Float32Array, B: Float32Array, d: number, topK: number): CosineReference {
  const n1 = A.length / d;
  const n2 = B.length / d;
  const na = rowNorms(A, n1, d);
  const nb = rowNorms(B, n2, d);
  const full = new Float64Array(n1 * n2);
  for (let i = 0; i < n1; i++) {
    for (let j = 0; j < n2; j++) {
      if (na[i] === 0 || nb[j] === 0) continue; // cosine with a zero row is 0
      let s = 0;
      for (let k = 0; k < d; k++) s += A[i * d + k] * B[j * d + k];
      full[i * n2 + j] = s / (na[i] * nb[j]);
    }
  }

  const rowMax = new Float64Array(n1).fill(-Infinity);
  const rowSecond = new Float64Array(n1).fill(-Infinity);
  const rowArgmax = new Int32Array(n1);
  const colMax = new Float64Array(n2).fill(-Infinity);
  const colSecond = new Float64Array(n2).fill(-Infinity);
  const colArgmax = new Int32Array(n2);
  for (let i = 0; i < n1; i++) {
    for (let j = 0; j < n2; j++) {
      const v = full[i * n2 + j];
      if (v > rowMax[i]) {
        rowSecond[i] = rowMax[i];
        rowMax[i] = v;
        rowArgmax[i] = j;
      } else if (v > rowSecond[i]) {
        rowSecond[i] = v;
      }
      if (v > colMax[j]) {
        colSecond[j] = colMax[j];
        colMax[j] = v;
        colArgmax[j] = i;
      } else if (v > colSecond[j]) {
        colSecond[j] = v;
      }
    }
  }
  const rowGap = rowMax.map((m, i) => m - rowSecond[i]);
  const colGap = colMax.map((m, j) => m - colSecond[j]);

  // Top-k: a sorted list of at most topK + 1 entries (insertion), or a full sort when k is large.
  let top: RefPair[] = [];
  const keep = Math.min(topK + 1, n1 * n2); // one extra, so callers can see the gap after the k-th
  if (keep > 256) {
    for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) top.push({ a: i, b: j, cos: full[i * n2 + j] });
    top.sort(rankBefore);
    top = top.slice(0, keep);
  } else if (keep > 0) {
    for (let i = 0; i < n1; i++) {
      for (let j = 0; j < n2; j++) {
        const p = { a: i, b: j, cos: full[i * n2 + j] };
        if (top.length === keep && rankBefore(p, top[keep - 1]) >= 0) continue;
        let at = top.length;
        while (at > 0 && rankBefore(p, top[at - 1]) < 0) at--;
        top.splice(at, 0, p);
        if (top.length > keep) top.pop();
      }
    }
  }

  let sum = 0;
  for (let i = 0; i < n1; i++) sum += rowMax[i];
  return { full, rowMax, rowArgmax, rowGap, colMax, colArgmax, colGap, top, mmcs: sum / n1 };
}
