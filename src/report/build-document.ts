// ReportData → the report's document tree (document.ts): one section per stage that reported, each
// with a "How to read this" paragraph naming the paper's table or figure it reproduces. Means and
// standard deviations are computed here from the per-sample (per-seed) values the report lists, so
// the report agrees with itself even after report.json was edited by hand.
import type { TokenActivation } from '../interpret/records.js';
import { meanSd } from '../interpret/scores.js';
import type { Block, Cell, Inline, ReportDocument, Section } from './document.js';
import { mmcsFigureName, type ReportFigure } from './figures.js';
import { int, meanSdText, num, REPORT_FORMAT, slug } from './format.js';
import type { ReportData } from './report-data.js';

type Feature = ReportData['features'][number];

const cell = (...parts: Inline[]): Cell => parts;
const text = (v: string): Cell => [v];
const howTo = (content: string): Block => ({ kind: 'paragraph', howTo: true, content: [{ text: 'How to read this. ', strong: true }, content] });

/** Section ids, made unique by a counter when two would collide. */
class Ids {
  private seen = new Set<string>();
  take(id: string): string {
    let out = id;
    for (let k = 2; this.seen.has(out); k++) out = `${id}-${k}`;
    this.seen.add(out);
    return out;
  }
}

function runSection(d: ReportData, ids: Ids): Section {
  const statusCounts = d.stages.reduce<Record<string, number>>((a, s) => ((a[s.status] = (a[s.status] ?? 0) + 1), a), {});
  return {
    kind: 'section', id: ids.take('run'), title: 'Run',
    blocks: [
      {
        kind: 'list', items: [
          [{ text: 'Base model: ', strong: true }, { text: d.models.base, code: true }],
          [{ text: 'Tuned model: ', strong: true }, { text: d.models.tuned, code: true }, d.models.tunedByRlhf ? ' (tuned by RLHF in this run)' : ' (given)'],
          [{ text: 'Created: ', strong: true }, d.createdAt],
          [{ text: 'Stages: ', strong: true }, Object.entries(statusCounts).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'],
        ],
      },
      howTo('Each stage of the method writes its outputs into the run folder; a rerun skips a stage whose inputs did not change ("cached"). A failed stage names its error; the sections below show what the stages that finished produced.'),
      {
        kind: 'table', name: 'stages', header: ['stage', 'status', 'seconds', 'error'], numeric: [false, false, true, false],
        rows: d.stages.map((s) => [text(s.name), text(s.status), text(s.seconds === null ? REPORT_FORMAT.missing : s.seconds.toFixed(1)), s.error ? cell({ text: s.error, em: true }) : text('')]),
      },
    ],
  };
}

function rlhfSection(r: NonNullable<ReportData['rlhf']>, figures: Set<string>, ids: Ids): Section {
  const first = r.log[0];
  const last = r.log[r.log.length - 1];
  const items: Inline[][] = [
    [{ text: 'Reward: ', strong: true }, { text: r.reward, code: true }, `, ${r.steps} PPO steps, outputs in `, { text: r.dir, code: true }],
  ];
  if (first && last) {
    items.push([{ text: 'Mean reward: ', strong: true }, `${num(first.reward_mean)} at step ${first.step} → ${num(last.reward_mean)} at step ${last.step}`]);
    items.push([{ text: 'KL to the reference: ', strong: true }, `${num(first.kl)} → ${num(last.kl)}`, last.kl_coef !== undefined ? ` (β ${num(last.kl_coef)} at the last step)` : '']);
  }
  const links: Inline[] = [{ text: 'Curves: ', strong: true }];
  if (figures.has('rlhf-reward')) links.push({ text: 'reward', href: 'figures/rlhf-reward.svg' }, ' · ');
  if (figures.has('rlhf-kl')) links.push({ text: 'KL', href: 'figures/rlhf-kl.svg' }, ' · ');
  if (r.curves) links.push({ text: 'all training curves', href: r.curves.svg });
  else links.pop();
  if (links.length > 1) items.push(links);
  const blocks: Block[] = [
    { kind: 'list', items },
    howTo('The policy is tuned with PPO to raise the reward while a KL penalty keeps it near the base model: the reward should rise and the KL grow slowly. The samples are completions of the last step with their scores.'),
  ];
  for (const name of ['rlhf-reward', 'rlhf-kl']) if (figures.has(name)) blocks.push({ kind: 'figure', name, caption: name === 'rlhf-reward' ? 'Mean reward per PPO step' : 'KL to the reference model per PPO step' });
  if (r.samples.length) {
    blocks.push({ kind: 'table', name: 'rlhf-samples', header: ['step', 'score', 'text'], numeric: [true, true, false], rows: r.samples.map((s) => [text(int(s.step)), text(num(s.score)), text(s.text)]) });
  }
  return { kind: 'section', id: ids.take('rlhf'), title: 'RLHF', blocks };
}

function divergenceSection(v: NonNullable<ReportData['divergence']>, figures: Set<string>, ids: Ids): Section {
  const rank = new Map(v.top.map((l, i) => [l, i + 1]));
  const blocks: Block[] = [
    howTo("The paper's Figure 3: per layer, the sum over the layer's parameter tensors of the Frobenius norm of their change between the base and the tuned model. The most divergent layers (\"top\", ranked) are the ones studied below."),
    {
      kind: 'table', name: 'divergence', header: ['layer', 'divergence', 'top rank'], numeric: [true, true, true],
      rows: [...v.layers].sort((a, b) => a.layer - b.layer).map((l) => [text(int(l.layer)), text(num(l.divergence)), text(rank.has(l.layer) ? String(rank.get(l.layer)) : '')]),
    },
  ];
  if (figures.has('divergence')) blocks.push({ kind: 'figure', name: 'divergence', caption: 'Parameter divergence per layer (Figure 3)' });
  return { kind: 'section', id: ids.take('divergence'), title: 'Divergence per layer', blocks };
}

function layersSection(d: ReportData, ids: Ids): Section {
  return {
    kind: 'section', id: ids.take('layers'), title: 'Layers studied',
    blocks: [{ kind: 'paragraph', content: [d.layers.length ? `Layers ${d.layers.join(', ')} at the hook point ` : 'No layers were studied; hook point ', { text: d.hook, code: true }, '.'] }],
  };
}

function saeSection(d: ReportData, figures: Set<string>, ids: Ids): Section {
  const blocks: Block[] = [
    howTo("The paper's Tables 6–7: each dictionary's held-out normalised reconstruction error (nmse: ‖x̂ − x‖² / ‖x − mean‖²), its sparsity (L0: features active per token) and its dead features, per model × layer × size. Lower nmse at similar L0 is better; many dead features mean the L1 coefficient is too high."),
    {
      kind: 'table', name: 'saes', header: ['model', 'layer', 'size', 'nmse', 'mse', 'L0', 'dead', 'L1 coef.', 'train rows', 'seconds', 'folder'],
      numeric: [false, true, true, true, true, true, true, true, true, true, false],
      rows: d.saes.map((s) => [text(s.model), text(int(s.layer)), text(int(s.size)), text(num(s.nmse)), text(num(s.mse)), text(num(s.l0)), text(int(s.dead)), text(num(s.l1)), text(int(s.trainRows)), text(s.seconds === null ? REPORT_FORMAT.missing : s.seconds.toFixed(1)), cell({ text: s.dir, code: true })]),
    },
  ];
  if (figures.has('sae-metrics')) blocks.push({ kind: 'figure', name: 'sae-metrics', caption: 'L0 against nmse per dictionary' });
  return { kind: 'section', id: ids.take('dictionaries'), title: 'Dictionaries (Tables 6–7)', blocks };
}

function mmcsSection(d: ReportData, figures: Set<string>, ids: Ids): Section {
  const blocks: Block[] = [
    howTo("MMCS (the paper's Eq. 2) is the mean over the large dictionary's features of each one's best cosine to the small dictionary of the same model and layer (\"hungarian\": the mean cosine of a one-to-one matching). Features found by both dictionaries (cosine near 1) are taken as real features of the model; the histograms show how many there are."),
    {
      kind: 'table', name: 'mmcs', header: ['model', 'layer', 'match', 'MMCS', 'features', 'cos ≥ 0.9'], numeric: [false, true, false, true, true, true],
      rows: d.mmcs.map((m) => [text(m.model), text(int(m.layer)), text(m.match), text(num(m.mmcs)), text(int(m.maxCos.length)), text(int(m.maxCos.filter((c) => c >= 0.9).length))]),
    },
  ];
  for (const m of d.mmcs) {
    const name = mmcsFigureName(m.model, m.layer);
    if (figures.has(name)) blocks.push({ kind: 'figure', name, caption: `${m.model}, layer ${m.layer}` });
  }
  return { kind: 'section', id: ids.take('mmcs'), title: 'MMCS of the dictionary pairs', blocks };
}

function table3Section(d: ReportData, figures: Set<string>, ids: Ids): Section {
  const t = d.table3!;
  const blocks: Block[] = [
    howTo("The paper's Table 3: each explanation's absolute mean utility (the mean utility of its words found in the table, made absolute), summed over the explained features of a model for each sample of explanations, then the mean ± sample sd over the samples. A model whose features are explained in words the reward values scores higher."),
  ];
  if (d.explainer) {
    const x = d.explainer;
    blocks.push({ kind: 'paragraph', content: ['Explainer ', { text: x.name, code: true }, `, ${x.samples} sample${x.samples === 1 ? '' : 's'} per feature, ${x.requests} requests (${x.cacheHits} from the cache), ${x.failures} failed; utility table `, { text: t.table, code: true }, '.'] });
  }
  blocks.push({
    kind: 'table', name: 'table3', header: ['model', 'mean ± sd', 'samples', 'per sample: score (explained, failed)'], numeric: [false, true, true, false],
    rows: Object.entries(t.models).map(([model, m]) => [
      text(model), text(meanSdText(meanSd(m.perSample.map((p) => p.score)))), text(int(m.perSample.length)),
      text(m.perSample.map((p) => `#${p.sample}: ${num(p.score)} (${p.explained}, ${p.failed})`).join('; ')),
    ]),
  });
  if (figures.has('table3')) blocks.push({ kind: 'figure', name: 'table3', caption: 'Table 3: mean aggregate absolute utility of the explanations' });
  return { kind: 'section', id: ids.take('table3'), title: 'Utility of the explanations (Table 3)', blocks };
}

function simulationSection(d: ReportData, figures: Set<string>, ids: Ids): Section {
  const s = d.simulation!;
  const blocks: Block[] = [
    howTo(`A simulator (${s.simulator}) predicts each token's activation from the explanation alone; the score is the Pearson correlation with the true activations on held-out records. The baseline (${s.baseline}) scores a chance explanation on the same records: an explanation is informative to the extent it beats its baseline.`),
    {
      kind: 'table', name: 'simulation', header: ['model', 'correlation (mean ± sd)', 'baseline (mean ± sd)', 'scored', 'failed'], numeric: [false, true, true, true, true],
      rows: Object.entries(s.models).map(([model, m]) => [text(model), text(meanSdText(m.correlation)), text(meanSdText(m.baseline)), text(int(m.scored)), text(int(m.failed))]),
    },
  ];
  if (figures.has('simulation')) blocks.push({ kind: 'figure', name: 'simulation', caption: 'Simulation correlation beside the baseline' });
  return { kind: 'section', id: ids.take('simulation'), title: 'Simulation scores', blocks };
}

function table4Section(d: ReportData, figures: Set<string>, ids: Ids): Section {
  const t = d.table4!;
  const blocks: Block[] = [
    howTo(`The paper's Table 4: ${t.n} completions of ${t.prefixTokens}-token prefixes of test reviews, each scored by the absolute mean utility of its words, summed; mean ± sample sd over the sampling seeds. It checks Table 3 against what the models actually write: the tuned model should lean harder on the utility table.`),
    {
      kind: 'table', name: 'table4', header: ['model', 'mean ± sd', 'seeds', 'per seed'], numeric: [false, true, true, false],
      rows: t.models.map((m) => [text(m.label), text(meanSdText(meanSd(m.perSeed))), text(int(m.perSeed.length)), text(m.perSeed.map(num).join('; '))]),
    },
  ];
  if (figures.has('table4')) blocks.push({ kind: 'figure', name: 'table4', caption: 'Table 4: mean aggregate absolute utility of completions' });
  const examples = t.models.flatMap((m) => (m.examples ?? []).slice(0, 3).map((e) => [text(m.label), text(e.prefix), text(e.completion), text(num(e.score))]));
  if (examples.length) blocks.push({ kind: 'table', name: 'table4-examples', header: ['model', 'prefix', 'completion', 'score'], numeric: [false, false, false, true], rows: examples });
  return { kind: 'section', id: ids.take('table4'), title: 'Utility of completions (Table 4)', blocks };
}

/**
 * A record's tokens as they read. A BPE token carries its own leading space (" film"); a word-level
 * tokenizer's (the default world's) does not, and its decode joins tokens with single spaces. So when
 * no token of a record holds any whitespace, a space goes before every token but the first.
 */
export function readingTokens(tokens: TokenActivation[]): TokenActivation[] {
  if (tokens.length < 2 || tokens.some((t) => /\s/.test(t.token))) return tokens;
  return tokens.map((t, i) => (i ? { ...t, token: ` ${t.token}` } : t));
}

function explanationCell(e: Feature['explanations'][number]): Cell {
  return e.text === null ? cell({ text: `failed: ${e.error ?? 'no explanation'}`, em: true }) : text(e.text);
}

function featureSection(f: Feature, ids: Ids): Section {
  const shown = f.top.slice(0, REPORT_FORMAT.recordsShown);
  const blocks: Block[] = [
    { kind: 'paragraph', content: [`Large-dictionary feature ${f.feature}, matched to small-dictionary feature ${f.matchedSmall} with cosine ${num(f.matchCos)} (hook `, { text: f.hook, code: true }, ').'] },
  ];
  if (f.explanations.length) {
    blocks.push({
      kind: 'table', name: 'explanations', header: ['sample', 'explanation', 'utility', 'simulation'], numeric: [true, false, true, true],
      rows: f.explanations.map((e) => [text(int(e.sample)), explanationCell(e), text(num(e.utility)), text(num(e.simulation))]),
    });
  } else {
    blocks.push({ kind: 'paragraph', content: [{ text: 'Not explained.', em: true }] });
  }
  if (shown.length) {
    blocks.push({ kind: 'paragraph', content: [`Top ${shown.length} of ${f.top.length} records (tokens with a non-zero activation, 0–10, marked):`] });
    blocks.push({ kind: 'records', records: shown.map((r) => ({ label: [`record ${r.record}, max activation ${num(r.maxActivation)}`], tokens: readingTokens(r.tokens) })) });
  }
  return {
    kind: 'section', id: ids.take(`feature-${slug(f.model)}-${f.layer}-${f.feature}`), title: `${f.model} · layer ${f.layer} · feature ${f.feature}`,
    className: 'feature', data: { model: f.model, layer: String(f.layer), feature: String(f.feature) }, blocks,
  };
}

function featuresSection(d: ReportData, ids: Ids): Section {
  const groups = new Map<string, Feature[]>();
  for (const f of d.features) {
    const k = `${f.model}\u0000${f.layer}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(f);
  }
  const blocks: Block[] = [
    howTo("Like the paper's Appendix E: per model × layer, the selected large-dictionary features (those with the best cosine to the small dictionary), the small feature each matched, their explanations (one per sample, with the explanation's utility and simulation score; a failed explanation shows its error) and the records on which they fire most, with each token's activation on the 0–10 scale the explainer saw."),
  ];
  for (const feats of groups.values()) {
    const { model, layer } = feats[0];
    const samples = [...new Set(feats.flatMap((f) => f.explanations.map((e) => e.sample)))].sort((a, b) => a - b);
    const first = samples.length ? samples[0] : null;
    const summary: Block = {
      kind: 'table', name: 'features', header: ['feature', 'small', 'cosine', first === null ? 'explanation' : `explanation (sample ${first})`, 'utility', 'simulation'],
      numeric: [true, true, true, false, true, true],
      rows: feats.map((f) => {
        const e = f.explanations.find((x) => x.sample === first);
        return [text(int(f.feature)), text(int(f.matchedSmall)), text(num(f.matchCos)), e ? explanationCell(e) : text(''), text(num(e?.utility ?? null)), text(num(e?.simulation ?? null))];
      }),
    };
    blocks.push({
      kind: 'section', id: ids.take(`features-${slug(model)}-layer-${layer}`), title: `${model} · layer ${layer}`, className: 'feature-group',
      data: { model, layer: String(layer) }, blocks: [summary, ...feats.map((f) => featureSection(f, ids))],
    });
  }
  return { kind: 'section', id: ids.take('features'), title: 'Features (Appendix E)', blocks };
}

/** The whole report as a document tree; `figures` are those reportFigures drew for the same data. */
export function buildReportDocument(d: ReportData, figures: ReportFigure[]): ReportDocument {
  const have = new Set(figures.map((f) => f.name));
  const ids = new Ids();
  const sections: Section[] = [runSection(d, ids)];
  if (d.rlhf) sections.push(rlhfSection(d.rlhf, have, ids));
  if (d.divergence) sections.push(divergenceSection(d.divergence, have, ids));
  sections.push(layersSection(d, ids));
  if (d.saes.length) sections.push(saeSection(d, have, ids));
  if (d.mmcs.length) sections.push(mmcsSection(d, have, ids));
  if (d.table3) sections.push(table3Section(d, have, ids));
  if (d.simulation) sections.push(simulationSection(d, have, ids));
  if (d.table4) sections.push(table4Section(d, have, ids));
  if (d.features.length) sections.push(featuresSection(d, ids));
  return {
    title: `rewardlens report: ${d.name}`,
    subtitle: [
      [{ text: 'base ', strong: true }, { text: d.models.base, code: true }, ' → ', { text: 'tuned ', strong: true }, { text: d.models.tuned, code: true }, d.models.tunedByRlhf ? ' (RLHF in this run)' : ''],
      [`created ${d.createdAt}`],
    ],
    sections,
  };
}
