#!/usr/bin/env node
// Builds the native addon: cmake-js (CMakeLists.txt: OpenMP, OpenBLAS when found, CUDA when
// available), falling back to node-gyp (binding.gyp: CPU only, fallback GEMM) when cmake is missing
// or fails. Environment:
//   REWARDLENS_BLAS=off      build without OpenBLAS (rewardlens's own GEMM)
//   REWARDLENS_BUILD_DIR=dir build into dir instead of build/ (cmake-js only)
//   REWARDLENS_NATIVE_ARCH=off  portable code instead of -march=native
//   REWARDLENS_BUILDER=node-gyp  skip cmake-js and build with node-gyp (CPU only, fallback GEMM)
//   REWARDLENS_SKIP_BUILD=1  do nothing (use a prebuilt addon)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const env = process.env;
if (env.REWARDLENS_SKIP_BUILD === '1') process.exit(0);

const off = (v) => v !== undefined && /^(0|off|false|no)$/i.test(v);
const failures = [];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : `${cmd} exited with code ${r.status}`;
}

function cmakeJs() {
  let bin;
  try {
    bin = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    return 'cmake-js is not installed';
  }
  const args = [bin, 'compile'];
  if (env.REWARDLENS_BUILD_DIR) args.push('--out', env.REWARDLENS_BUILD_DIR);
  args.push(`--CDRL_USE_OPENBLAS=${off(env.REWARDLENS_BLAS) ? 'OFF' : 'ON'}`);
  args.push(`--CDRL_NATIVE_ARCH=${off(env.REWARDLENS_NATIVE_ARCH) ? 'OFF' : 'ON'}`);
  return run(process.execPath, args);
}

function nodeGyp() {
  let bin;
  try {
    bin = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // npm ships node-gyp beside itself
    const guess = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (!existsSync(guess)) return 'node-gyp not found';
    bin = guess;
  }
  // Build against the running Node's own headers (offline: no header download).
  const args = [bin, 'rebuild'];
  const prefix = join(dirname(process.execPath), '..');
  const nodedir = env.npm_config_nodedir || (existsSync(join(prefix, 'include', 'node', 'node.h')) ? prefix : '');
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  return run(process.execPath, args);
}

let err;
if (env.REWARDLENS_BUILDER !== 'node-gyp') {
  err = cmakeJs();
  if (err === null) process.exit(0);
  failures.push(`cmake-js: ${err}`);
  console.error('rewardlens: cmake-js build failed, trying node-gyp (CPU only, fallback GEMM)');
}
err = nodeGyp();
if (err === null) process.exit(0);
failures.push(`node-gyp: ${err}`);
console.error(`rewardlens: could not build the native addon:\n  ${failures.join('\n  ')}\n` +
  'Install cmake (>= 3.15) and a C++17 compiler, then run `npm run build:native`.');
process.exit(1);
