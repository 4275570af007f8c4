// The child process of a local sweep pool (see local.ts): runs each job it is sent and reports its
// steps (at most every 100 ms) and its result or error over IPC; exits when the pool disconnects.
import { runSweepJob } from './job.js';
import type { FromChild, ToChild } from './local.js';

function send(msg: FromChild): void {
  process.send?.(msg);
}

let busy: Promise<void> = Promise.resolve();

process.on('message', (raw) => {
  const msg = raw as ToChild;
  if (msg?.type !== 'run') return;
  const { job } = msg;
  busy = busy.then(async () => {
    let last = 0;
    try {
      const result = await runSweepJob(job, {
        onStep: (step, total) => {
          const now = Date.now();
          if (now - last > 100 || step === total) {
            last = now;
            send({ type: 'step', id: job.id, step, total });
          }
        },
      });
      send({ type: 'done', id: job.id, result });
    } catch (err) {
      send({ type: 'error', id: job.id, message: (err as Error)?.message ?? String(err) });
    }
  });
});

process.on('disconnect', () => {
  void busy.then(() => process.exit(0));
});
// Ctrl-C reaches the whole process group: the pool decides what happens; this child just stops.
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
