// SAE pair presets per model family: the paper's Table 2 (dictionary sizes) and Section 5.2 (L1
// coefficient), and one for the shipped default model. Large = 2·d, small = d (Algorithm 1).
// Table 2 prints GPT-Neo-125m's sizes as "768 | 1536" under "Large | Small", the other rows as
// large | small; with d = 768 and Algorithm 1's large = 2·d, we read it as large 1536, small 768.
import { invalidRange, invalidType } from '../errors.js';
import type { SaeConfig } from './config.js';

export interface SaePreset {
  name: string;
  /** Activation width d the sizes are for. */
  d: number;
  large: number;
  small: number;
  /** L1 coefficient λ (the paper's text). */
  l1: number;
  /** The paper's code's λ where it differs from the text. */
  l1Code?: number;
  /** Where the numbers come from. */
  source: string;
}

export const SAE_PRESETS: Readonly<Record<string, SaePreset>> = Object.freeze({
  'pythia-70m': { name: 'pythia-70m', d: 512, large: 1024, small: 512, l1: 1e-3, source: 'paper Table 2, Section 5.2' },
  'pythia-160m': { name: 'pythia-160m', d: 768, large: 1536, small: 768, l1: 1e-3, source: 'paper Table 2, Section 5.2' },
  'pythia-410m': { name: 'pythia-410m', d: 1024, large: 2048, small: 1024, l1: 1e-3, source: 'paper Table 2, Section 5.2' },
  'gpt-neo-125m': { name: 'gpt-neo-125m', d: 768, large: 1536, small: 768, l1: 1.5e-3, l1Code: 1.5e-2, source: 'paper Table 2 (columns read as 2·d, d), Section 5.2 (L1 0.0015; the code used 0.015)' },
  default: { name: 'default', d: 128, large: 256, small: 128, l1: 1e-3, source: 'the shipped default model (hidden 128), sizes 2·d and d' },
});

/** Shared training settings of every preset (the paper's Section 5.2). */
export const SAE_PAIR_TRAINING = Object.freeze({ lr: 1e-3, batchSize: 32, epochs: 3, tied: true } as const);

/**
 * The preset for a model: a preset name, a hub id or folder whose last part names one
 * ("EleutherAI/pythia-70m@main", "models/default"), or a width `{ d }` / model config
 * `{ hiddenSize }` (a preset of that width, else the generic 2·d / d pair with λ 1e-3).
 */
export function saePresetFor(nameOrConfig: string | { d?: number; hiddenSize?: number; modelType?: string }): SaePreset {
  if (typeof nameOrConfig === 'string') {
    const key = nameOrConfig.replace(/@.*$/, '').replace(/[\\/]+$/, '').split(/[\\/]/).pop()!.toLowerCase().replace(/-deduped$/, '');
    const hit = SAE_PRESETS[key];
    if (hit) return hit;
    throw invalidRange(`a preset name (${Object.keys(SAE_PRESETS).join(', ')}) or a model id ending in one`, 'preset', JSON.stringify(nameOrConfig));
  }
  if (nameOrConfig === null || typeof nameOrConfig !== 'object') throw invalidType('a preset name or { d } / { hiddenSize }', 'preset', nameOrConfig);
  const d = nameOrConfig.d ?? nameOrConfig.hiddenSize;
  if (!Number.isInteger(d) || (d as number) < 1) throw invalidRange('a positive integer width', 'd', String(d));
  if (nameOrConfig.modelType === 'gpt_neo' && d === 768) return SAE_PRESETS['gpt-neo-125m'];
  const byWidth = Object.values(SAE_PRESETS).find((p) => p.d === d && !p.name.startsWith('gpt-neo'));
  return byWidth ?? { name: `generic-${d}`, d: d as number, large: 2 * (d as number), small: d as number, l1: 1e-3, source: 'Algorithm 1: sizes 2·d and d; λ 1e-3 (Section 5.2)' };
}

/** The SaeConfig fields a preset sets, for one of its sizes. */
export function presetSaeConfig(p: SaePreset, size: number, d: number): Partial<SaeConfig> & { dIn: number; dSae: number } {
  return { dIn: d, dSae: size, l1Coefficient: p.l1, lr: SAE_PAIR_TRAINING.lr, tied: SAE_PAIR_TRAINING.tied };
}
