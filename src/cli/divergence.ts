// `rewardlens divergence BASE TUNED`: per-layer parameter divergence between two checkpoints.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { computeDivergence, divergenceStage, DIVERGENCE_DEFAULTS, type DivergenceResult } from '../interpret/divergence.js';
import { checkInt } from '../validate.js';

export interface DivergenceArgs { base: string; tuned: string; top: number; json: boolean; out?: string; chart: boolean }

export function divergenceBuilder(y: Argv): Argv<DivergenceArgs> {
  return y
    .positional('base', { type: 'string', demandOption: true, describe: 'the base model: a Hugging Face folder or hub id org/name[@revision]' })
    .positional('tuned', { type: 'string', demandOption: true, describe: 'the tuned model (same architecture)' })
    .option('top', { type: 'number', default: DIVERGENCE_DEFAULTS.top, describe: 'how many of the most divergent layers to name' })
    .option('json', { type: 'boolean', default: false, describe: 'print {"layers":[{"layer","divergence"}…] sorted descending, "top":[…]}' })
    .option('out', { type: 'string', describe: 'also write this JSON file and a bar chart beside it (.svg, .png), as the paper\'s Figure 3' })
    .option('chart', { type: 'boolean', default: true, describe: 'with --out, write the chart (--no-chart to skip)' }) as unknown as Argv<DivergenceArgs>;
}

export async function divergenceCommand(args: ArgumentsCamelCase<DivergenceArgs>): Promise<void> {
  const top = checkInt(args.top, '--top', 1);
  const r: DivergenceResult = args.out
    ? await divergenceStage(args.base, args.tuned, args.out, { top, chart: args.chart })
    : await computeDivergence(args.base, args.tuned, { top });
  if (args.json) {
    process.stdout.write(JSON.stringify({ layers: r.layers, top: r.top }) + '\n');
    return;
  }
  const lines = ['rank  layer  divergence'];
  r.layers.forEach((l, k) => lines.push(`${String(k + 1).padStart(4)}  ${String(l.layer).padStart(5)}  ${l.divergence.toExponential(6)}${k < top ? '  *' : ''}`));
  lines.push('', `top ${Math.min(top, r.layers.length)}: ${r.top.join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
}
