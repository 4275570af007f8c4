// `rewardlens run --config FILE` and `rewardlens demo`: every stage of the method into one run folder.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { resolve } from 'node:path';
import { loadPipelineConfig, type PipelineConfig } from '../pipeline/config.js';
import { demoConfig } from '../pipeline/demo.js';
import { runPipeline } from '../pipeline/run.js';
import { checkInt } from '../validate.js';
import { progressBar, type Progress } from './progress.js';

export interface RunArgs { config: string; out?: string; force: boolean; quiet: boolean }
export interface DemoArgs { out: string; seed: number; quick: boolean; force: boolean; quiet: boolean }

export function runBuilder(y: Argv): Argv<RunArgs> {
  return y
    .option('config', { type: 'string', demandOption: true, describe: 'run config, YAML or JSON (see configs/ and docs/pipeline.md)' })
    .option('out', { type: 'string', describe: 'run folder (default: runs/<config file name>)' })
    .option('force', { type: 'boolean', default: false, describe: 'redo every stage, even those already done' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' }) as unknown as Argv<RunArgs>;
}

export function demoBuilder(y: Argv): Argv<DemoArgs> {
  return y
    .option('out', { type: 'string', default: 'rewardlens-demo', describe: 'run folder' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of every stage' })
    .option('quick', { type: 'boolean', default: false, describe: 'a reduced run on little data (about a minute)' })
    .option('force', { type: 'boolean', default: false, describe: 'redo every stage' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' }) as unknown as Argv<DemoArgs>;
}

async function execute(config: PipelineConfig, runDir: string, force: boolean, quiet: boolean): Promise<void> {
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\nrewardlens: stopping after the current step (what is done is kept; rerun to resume; Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  let bar: { stage: string; p: Progress } | null = null;
  const t0 = Date.now();
  try {
    const res = await runPipeline({
      config, runDir, force, signal: ac.signal,
      onMessage: (m) => {
        if (quiet) return;
        bar?.p.stop();
        bar = null;
        process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}\n`);
      },
      onProgress: (stage, done, total) => {
        if (quiet || total <= 0) return;
        if (!bar || bar.stage !== stage) {
          bar?.p.stop();
          bar = { stage, p: progressBar(total, stage) };
        }
        bar.p.update(Math.min(done, total));
      },
    });
    (bar as { p: Progress } | null)?.p.stop();
    const summary = {
      run: res.runDir, report: res.report, seconds: Math.round((Date.now() - t0) / 100) / 10,
      stages: res.stages.map((s) => `${s.name}:${s.status}`), ...(res.error ? { failed: res.error.stage, error: res.error.message } : {}),
    };
    process.stdout.write(JSON.stringify(summary) + '\n');
    if (res.error) {
      process.stderr.write(`rewardlens: ${res.error.message}\n`);
      process.exitCode = ac.signal.aborted ? 130 : 1;
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export async function runCommand(args: ArgumentsCamelCase<RunArgs>): Promise<void> {
  const config = loadPipelineConfig(args.config);
  const name = args.config.replace(/\\/g, '/').split('/').pop()!.replace(/\.(ya?ml|json)$/i, '');
  await execute(config, resolve(args.out ?? `runs/${name}`), args.force, args.quiet);
}

export async function demoCommand(args: ArgumentsCamelCase<DemoArgs>): Promise<void> {
  const config = demoConfig({ quick: args.quick, seed: checkInt(args.seed, '--seed', 0, 2 ** 31 - 1) });
  await execute(config, resolve(args.out), args.force, args.quiet);
}
