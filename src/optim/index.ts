// Optimisers for any set of Float32Array parameters.
export { ADAMW_DEFAULTS, AdamW, clipGradNorm, gradNorm } from './adamw.js';
export type { AdamWConfig, AdamWState, ParamGroup } from './adamw.js';
