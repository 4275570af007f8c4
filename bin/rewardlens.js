#!/usr/bin/env node
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('rewardlens: the TypeScript build is missing; run `npm run build` first.');
  } else {
    console.error(err && err.stack ? err.stack : String(err));
  }
  process.exit(1);
});
