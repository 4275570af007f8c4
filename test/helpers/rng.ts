// A small seeded RNG for tests (mulberry32 + Box-Muller): repeatable inputs without dependencies.
export interface TestRng {
  next(): number; // uniform in [0, 1)
  normal(): number;
  normalArray(n: number, scale?: number): Float32Array;
  uniformArray(n: number, lo: number, hi: number): Float32Array;
  int(n: number): number; // uniform integer in [0, n)
}

export function makeRng(seed: number): TestRng {
  let s = seed >>> 0 || 0x9e3779b9;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u = Math.max(next(), 1e-12);
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  return {
    next,
    normal,
    normalArray(n, scale = 1) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = normal() * scale;
      return a;
    },
    uniformArray(n, lo, hi) {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * next();
      return a;
    },
    int(n) {
      return Math.floor(next() * n);
    },
  };
}
