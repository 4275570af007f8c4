// Reading features files (features/<model>.<hook>.<layer>.json) and explanation files, checked
// field by field so a bad file is named with the field at fault.
import { readFileSync } from 'node:fs';
import { FileFormatError } from '../../errors.js';
import { writeJsonAtomic } from '../../io/atomic.js';
import type { FeatureRecord, FeatureRecords, FeaturesFile } from '../records.js';
import type { Explanation } from './explainer.js';

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FileFormatError(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(path, `is not JSON (${(err as Error).message})`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function need(file: string, cond: boolean, field: string, expected: string, got: unknown): void {
  if (!cond) {
    const shown = got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 60);
    throw new FileFormatError(file, `${field}: expected ${expected} but found ${shown}`);
  }
}

function checkRecord(file: string, r: unknown, at: string): FeatureRecord {
  need(file, isObj(r), at, 'a record object', r);
  const o = r as Record<string, unknown>;
  need(file, Number.isInteger(o.record), `${at}.record`, 'an integer', o.record);
  need(file, typeof o.maxActivation === 'number', `${at}.maxActivation`, 'a number', o.maxActivation);
  need(file, Array.isArray(o.tokens), `${at}.tokens`, 'an array of {token, activation}', o.tokens);
  (o.tokens as unknown[]).forEach((t, i) => {
    const ok = isObj(t) && typeof t.token === 'string' && typeof t.activation === 'number' && t.activation >= 0 && t.activation <= 10;
    need(file, ok, `${at}.tokens[${i}]`, '{token: string, activation: number 0–10}', t);
  });
  return o as unknown as FeatureRecord;
}

/** A features file, each feature's records checked. */
export function readFeaturesFile(path: string): FeaturesFile {
  const j = readJson(path);
  need(path, isObj(j), '(top level)', 'an object with "features"', j);
  const o = j as Record<string, unknown>;
  need(path, Array.isArray(o.features), 'features', 'an array of feature records', o.features);
  (o.features as unknown[]).forEach((f, i) => {
    const at = `features[${i}]`;
    need(path, isObj(f), at, 'an object', f);
    const g = f as Record<string, unknown>;
    need(path, typeof g.model === 'string', `${at}.model`, 'a string', g.model);
    need(path, Number.isInteger(g.layer), `${at}.layer`, 'an integer', g.layer);
    need(path, typeof g.hook === 'string', `${at}.hook`, 'a string', g.hook);
    need(path, Number.isInteger(g.feature) && (g.feature as number) >= 0, `${at}.feature`, 'a non-negative integer', g.feature);
    need(path, Array.isArray(g.top), `${at}.top`, 'an array of records', g.top);
    need(path, Array.isArray(g.random), `${at}.random`, 'an array of records', g.random);
    (g.top as unknown[]).forEach((r, k) => checkRecord(path, r, `${at}.top[${k}]`));
    (g.random as unknown[]).forEach((r, k) => checkRecord(path, r, `${at}.random[${k}]`));
  });
  return o as unknown as FeaturesFile;
}

/** Every feature of several features files, in order. */
export function readFeatures(paths: string[]): FeatureRecords[] {
  return paths.flatMap((p) => readFeaturesFile(p).features);
}

/** explanations.json: the explanations and how they were made. */
export interface ExplanationsFile {
  format: 'rewardlens-explanations';
  version: 1;
  explainer: string;
  samples: number;
  seed: number;
  features: string[];
  stats: { explanations: number; failures: number; requests: number; retries: number; cacheHits: number };
  explanations: Explanation[];
}

export function writeExplanationsFile(path: string, file: ExplanationsFile): void {
  writeJsonAtomic(path, file);
}

export function readExplanationsFile(path: string): ExplanationsFile {
  const j = readJson(path);
  need(path, isObj(j) && (j as Record<string, unknown>).format === 'rewardlens-explanations', 'format', '"rewardlens-explanations"', isObj(j) ? j.format : j);
  const o = j as Record<string, unknown>;
  need(path, Number.isInteger(o.seed), 'seed', 'an integer', o.seed);
  need(path, Array.isArray(o.explanations), 'explanations', 'an array', o.explanations);
  (o.explanations as unknown[]).forEach((e, i) => {
    const at = `explanations[${i}]`;
    need(path, isObj(e), at, 'an object', e);
    const x = e as Record<string, unknown>;
    need(path, typeof x.model === 'string', `${at}.model`, 'a string', x.model);
    need(path, Number.isInteger(x.feature), `${at}.feature`, 'an integer', x.feature);
    need(path, Number.isInteger(x.layer), `${at}.layer`, 'an integer', x.layer);
    need(path, Number.isInteger(x.sample) && (x.sample as number) >= 0, `${at}.sample`, 'a non-negative integer', x.sample);
    need(path, x.text === null || typeof x.text === 'string', `${at}.text`, 'a string or null', x.text);
  });
  return o as unknown as ExplanationsFile;
}
