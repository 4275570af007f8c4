// Check that a value is a ReportData (src/report/report-data.ts) before it is rendered: every field
// the renderers read is checked, and a bad one is named by its path ("features[3].top[0].tokens[2]
// .activation"), so a hand-edited or foreign report.json fails with one clear message instead of a
// crash half-way through the output.
import { describe, FileFormatError, invalidRange, invalidType } from '../errors.js';
import { REPORT_VERSION, type ReportData } from './report-data.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw invalidType('an object', path, v);
  return v;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw invalidType('an array', path, v);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalidType('a string', path, v);
  return v;
}

/** A number; NaN is allowed where the producer writes it for "no value" (JSON writes it as null). */
function num(v: unknown, path: string): number {
  if (typeof v !== 'number') throw invalidType('a number', path, v);
  return v;
}

function numOrNull(v: unknown, path: string): void {
  if (v !== null) num(v, path);
}

function int(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidType('an integer', path, v);
  return v;
}

function numArray(v: unknown, path: string): void {
  arr(v, path).forEach((x, i) => num(x, `${path}[${i}]`));
}

function optionalChart(v: unknown, path: string): void {
  if (v === undefined) return;
  const c = obj(v, path);
  str(c.svg, `${path}.svg`);
  str(c.png, `${path}.png`);
}

const STATUSES = ['done', 'skipped', 'cached', 'failed'];

function checkRecord(v: unknown, path: string): void {
  const r = obj(v, path);
  int(r.record, `${path}.record`);
  num(r.maxActivation, `${path}.maxActivation`);
  arr(r.tokens, `${path}.tokens`).forEach((t, k) => {
    const tp = `${path}.tokens[${k}]`;
    const tok = obj(t, tp);
    str(tok.token, `${tp}.token`);
    const a = num(tok.activation, `${tp}.activation`);
    if (!(a >= 0 && a <= 10)) throw invalidRange('a number between 0 and 10', `${tp}.activation`, String(a));
  });
}

function checkSections(d: Obj, p: string): void {
  if (d.rlhf !== undefined) {
    const r = obj(d.rlhf, `${p}rlhf`);
    str(r.dir, `${p}rlhf.dir`);
    int(r.steps, `${p}rlhf.steps`);
    str(r.reward, `${p}rlhf.reward`);
    arr(r.log, `${p}rlhf.log`).forEach((s, i) => {
      const e = obj(s, `${p}rlhf.log[${i}]`);
      num(e.step, `${p}rlhf.log[${i}].step`);
      num(e.reward_mean, `${p}rlhf.log[${i}].reward_mean`);
      num(e.kl, `${p}rlhf.log[${i}].kl`);
      if (e.kl_coef !== undefined) num(e.kl_coef, `${p}rlhf.log[${i}].kl_coef`);
    });
    arr(r.samples, `${p}rlhf.samples`).forEach((s, i) => {
      const e = obj(s, `${p}rlhf.samples[${i}]`);
      num(e.step, `${p}rlhf.samples[${i}].step`);
      str(e.text, `${p}rlhf.samples[${i}].text`);
      num(e.score, `${p}rlhf.samples[${i}].score`);
    });
    optionalChart(r.curves, `${p}rlhf.curves`);
  }
  if (d.divergence !== undefined) {
    const v = obj(d.divergence, `${p}divergence`);
    arr(v.layers, `${p}divergence.layers`).forEach((l, i) => {
      const e = obj(l, `${p}divergence.layers[${i}]`);
      int(e.layer, `${p}divergence.layers[${i}].layer`);
      num(e.divergence, `${p}divergence.layers[${i}].divergence`);
    });
    arr(v.top, `${p}divergence.top`).forEach((x, i) => int(x, `${p}divergence.top[${i}]`));
    optionalChart(v.chart, `${p}divergence.chart`);
  }
  arr(d.saes, `${p}saes`).forEach((s, i) => {
    const q = `${p}saes[${i}]`;
    const e = obj(s, q);
    str(e.model, `${q}.model`);
    int(e.layer, `${q}.layer`);
    int(e.size, `${q}.size`);
    str(e.dir, `${q}.dir`);
    for (const k of ['nmse', 'mse', 'l0', 'dead', 'l1', 'trainRows', 'seconds']) numOrNull(e[k], `${q}.${k}`);
  });
  arr(d.mmcs, `${p}mmcs`).forEach((m, i) => {
    const q = `${p}mmcs[${i}]`;
    const e = obj(m, q);
    str(e.model, `${q}.model`);
    int(e.layer, `${q}.layer`);
    str(e.match, `${q}.match`);
    numOrNull(e.mmcs, `${q}.mmcs`);
    numArray(e.maxCos, `${q}.maxCos`);
    optionalChart(e.histogram, `${q}.histogram`);
  });
  arr(d.features, `${p}features`).forEach((f, i) => {
    const q = `${p}features[${i}]`;
    const e = obj(f, q);
    str(e.model, `${q}.model`);
    int(e.layer, `${q}.layer`);
    str(e.hook, `${q}.hook`);
    int(e.feature, `${q}.feature`);
    int(e.matchedSmall, `${q}.matchedSmall`);
    numOrNull(e.matchCos, `${q}.matchCos`);
    arr(e.top, `${q}.top`).forEach((r, k) => checkRecord(r, `${q}.top[${k}]`));
    arr(e.explanations, `${q}.explanations`).forEach((x, k) => {
      const xp = `${q}.explanations[${k}]`;
      const ex = obj(x, xp);
      int(ex.sample, `${xp}.sample`);
      if (ex.text !== null) str(ex.text, `${xp}.text`);
      if (ex.error !== undefined) str(ex.error, `${xp}.error`);
      numOrNull(ex.utility, `${xp}.utility`);
      numOrNull(ex.simulation, `${xp}.simulation`);
    });
  });
  if (d.explainer !== null) {
    const x = obj(d.explainer, `${p}explainer`);
    str(x.name, `${p}explainer.name`);
    for (const k of ['samples', 'requests', 'cacheHits', 'failures']) num(x[k], `${p}explainer.${k}`);
  }
  if (d.table3 !== undefined) {
    const t = obj(d.table3, `${p}table3`);
    str(t.table, `${p}table3.table`);
    for (const [model, m] of Object.entries(obj(t.models, `${p}table3.models`))) {
      const q = `${p}table3.models.${model}`;
      arr(obj(m, q).perSample, `${q}.perSample`).forEach((s, i) => {
        const e = obj(s, `${q}.perSample[${i}]`);
        int(e.sample, `${q}.perSample[${i}].sample`);
        num(e.score, `${q}.perSample[${i}].score`);
        int(e.explained, `${q}.perSample[${i}].explained`);
        int(e.failed, `${q}.perSample[${i}].failed`);
      });
    }
  }
  if (d.simulation !== undefined) {
    const s = obj(d.simulation, `${p}simulation`);
    str(s.simulator, `${p}simulation.simulator`);
    str(s.baseline, `${p}simulation.baseline`);
    for (const [model, m] of Object.entries(obj(s.models, `${p}simulation.models`))) {
      const q = `${p}simulation.models.${model}`;
      const e = obj(m, q);
      for (const k of ['correlation', 'baseline']) {
        const ms = obj(e[k], `${q}.${k}`);
        numOrNull(ms.mean, `${q}.${k}.mean`);
        numOrNull(ms.sd, `${q}.${k}.sd`);
        int(ms.n, `${q}.${k}.n`);
      }
      int(e.scored, `${q}.scored`);
      int(e.failed, `${q}.failed`);
    }
  }
  if (d.table4 !== undefined) {
    const t = obj(d.table4, `${p}table4`);
    int(t.n, `${p}table4.n`);
    int(t.prefixTokens, `${p}table4.prefixTokens`);
    str(t.table, `${p}table4.table`);
    arr(t.models, `${p}table4.models`).forEach((m, i) => {
      const q = `${p}table4.models[${i}]`;
      const e = obj(m, q);
      str(e.label, `${q}.label`);
      numArray(e.perSeed, `${q}.perSeed`);
      arr(e.examples ?? [], `${q}.examples`).forEach((x, k) => {
        const ex = obj(x, `${q}.examples[${k}]`);
        str(ex.prefix, `${q}.examples[${k}].prefix`);
        str(ex.completion, `${q}.examples[${k}].completion`);
        num(ex.score, `${q}.examples[${k}].score`);
      });
    });
  }
}

/**
 * Throw unless `value` is a ReportData of this version. With `file`, the error is a FileFormatError
 * naming it; the field is named by its path either way.
 */
export function checkReportData(value: unknown, file?: string): asserts value is ReportData {
  try {
    const d = obj(value, 'report');
    if (d.version !== REPORT_VERSION) {
      throw invalidRange(`report version ${REPORT_VERSION} (a rewardlens ReportData)`, 'version', d.version === undefined ? 'no version' : describe(d.version));
    }
    str(d.name, 'name');
    str(d.createdAt, 'createdAt');
    obj(d.config, 'config');
    const m = obj(d.models, 'models');
    str(m.base, 'models.base');
    str(m.tuned, 'models.tuned');
    if (typeof m.tunedByRlhf !== 'boolean') throw invalidType('a boolean', 'models.tunedByRlhf', m.tunedByRlhf);
    arr(d.stages, 'stages').forEach((s, i) => {
      const e = obj(s, `stages[${i}]`);
      str(e.name, `stages[${i}].name`);
      if (!STATUSES.includes(e.status as string)) throw invalidType(`one of ${STATUSES.map((x) => `"${x}"`).join(', ')}`, `stages[${i}].status`, e.status);
      numOrNull(e.seconds, `stages[${i}].seconds`);
      if (e.error !== undefined) str(e.error, `stages[${i}].error`);
    });
    arr(d.layers, 'layers').forEach((l, i) => int(l, `layers[${i}]`));
    str(d.hook, 'hook');
    checkSections(d, '');
  } catch (err) {
    if (file !== undefined && err instanceof Error && !(err instanceof FileFormatError)) throw new FileFormatError(file, err.message);
    throw err;
  }
}
