// One-to-one matching of two dictionaries: the linear assignment problem on a rectangular matrix,
// solved exactly by shortest augmenting paths with dual potentials (Kuhn–Munkres in the form of
// Jonker & Volgenant): O(r²·c) time for r ≤ c, O(r + c) memory beside the matrix. The paper's code
// matched the small dictionary one-to-one to the large one and averaged the matched cosines
// (`--match hungarian`); the paper's text uses the max cosine instead (Eq. 2, `--match max`).
import { invalidRange, invalidType } from '../errors.js';
import { checkInt } from '../validate.js';

export interface Assignment {
  /** For each row, its column (−1 for rows left unmatched when rows > cols). */
  rowToCol: Int32Array;
  /** For each column, its row (−1 for columns left unmatched when cols > rows). */
  colToRow: Int32Array;
  /** Sum of the matched entries. */
  total: number;
}

/**
 * The assignment of min(rows, cols) rows to distinct columns that minimises (or, with maximize,
 * maximises) the sum of the chosen entries of `matrix` [rows, cols] (row-major). Entries must be
 * finite. Ties are broken deterministically (the first optimum the search reaches).
 */
export function linearAssignment(
  matrix: Float32Array | Float64Array,
  rows: number,
  cols: number,
  opts: { maximize?: boolean } = {},
): Assignment {
  checkInt(rows, 'rows', 0);
  checkInt(cols, 'cols', 0);
  if (!(matrix instanceof Float32Array || matrix instanceof Float64Array)) {
    throw invalidType(`Float32Array or Float64Array of shape [${rows},${cols}]`, 'matrix', matrix);
  }
  if (matrix.length !== rows * cols) {
    throw invalidRange(`length ${rows * cols} (shape [${rows},${cols}])`, 'matrix', `length ${matrix.length}`);
  }
  for (let i = 0; i < matrix.length; i++) {
    if (!Number.isFinite(matrix[i])) {
      throw invalidRange('finite entries', 'matrix', `${matrix[i]} at row ${Math.floor(i / cols)}, column ${i % cols}`);
    }
  }
  const sign = opts.maximize ? -1 : 1;
  const transposed = rows > cols;
  const n = transposed ? cols : rows; // the side that is fully matched
  const m = transposed ? rows : cols;
  const cost = (i: number, j: number): number => sign * (transposed ? matrix[j * cols + i] : matrix[i * cols + j]);

  // 1-based arrays; column 0 is a virtual column that holds the row being inserted.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const owner = new Int32Array(m + 1); // owner[j] = row matched to column j (0: none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    owner[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    // Dijkstra over columns with reduced costs until a free column is reached.
    do {
      used[j0] = 1;
      const i0 = owner[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[owner[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (owner[j0] !== 0);
    // Flip the augmenting path back to the virtual column.
    do {
      const j1 = way[j0];
      owner[j0] = owner[j1];
      j0 = j1;
    } while (j0 !== 0);
  }

  const rowToCol = new Int32Array(rows).fill(-1);
  const colToRow = new Int32Array(cols).fill(-1);
  let total = 0;
  for (let j = 1; j <= m; j++) {
    if (owner[j] === 0) continue;
    const a = owner[j] - 1; // index on the matched side
    const b = j - 1;
    const r = transposed ? b : a;
    const c = transposed ? a : b;
    rowToCol[r] = c;
    colToRow[c] = r;
    total += matrix[r * cols + c];
  }
  return { rowToCol, colToRow, total };
}
