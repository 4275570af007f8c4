// `rewardlens verify-model --model DIR --reference FILE`: run the engine on a reference file's inputs
// and report the error of every tensor against what transformers computed; non-zero exit past tolerance.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { loadModel } from '../model/load.js';
import { downloadProgress } from './progress.js';
import { VERIFY_TOLERANCE, formatComparisons, verifyAgainstReference } from '../model/verify.js';

export interface VerifyArgs { model: string; reference: string; json: boolean; rtol: number; atol: number }

export function verifyBuilder(y: Argv): Argv<VerifyArgs> {
  return y
    .option('model', { type: 'string', demandOption: true, describe: 'model folder (Hugging Face layout) or hub id' })
    .option('reference', { type: 'string', demandOption: true, describe: 'reference.safetensors: inputs and transformers outputs (see ../shared/README.md)' })
    .option('rtol', { type: 'number', default: VERIFY_TOLERANCE.rel, describe: 'max |diff| / max |ref| per tensor' })
    .option('atol', { type: 'number', default: VERIFY_TOLERANCE.abs, describe: 'absolute error accepted near zero' })
    .option('json', { type: 'boolean', default: false }) as unknown as Argv<VerifyArgs>;
}

export async function verifyCommand(args: ArgumentsCamelCase<VerifyArgs>): Promise<void> {
  const dl = downloadProgress();
  const { engine } = await loadModel(args.model, { onProgress: dl.onProgress }).finally(() => dl.stop());
  try {
    const rows = await verifyAgainstReference(engine, args.reference, { rel: args.rtol, abs: args.atol });
    const failed = rows.filter((r) => !r.ok);
    if (args.json) process.stdout.write(JSON.stringify({ ok: failed.length === 0, tensors: rows }) + '\n');
    else process.stdout.write(`${formatComparisons(rows)}\n\n${rows.length - failed.length} of ${rows.length} tensors within tolerance (rel ${args.rtol}, abs ${args.atol})\n`);
    if (failed.length) {
      process.stderr.write(`rewardlens: ${failed.length} tensor(s) past tolerance: ${failed.map((r) => r.name).join(', ')}\n`);
      process.exitCode = 1;
    }
  } finally {
    engine.dispose();
  }
}
