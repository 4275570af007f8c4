// Progress bars on stderr (cli-progress); silent when stderr is not a terminal or --quiet is given.
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(total: number, label: string, opts: { quiet?: boolean; format?: string } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: opts.format ?? `${label} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted} {info}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  return {
    update(value, payload) {
      bar.update(value, payload);
    },
    stop() {
      bar.stop();
    },
  };
}

/** An onProgress callback for hub downloads: one bar per file, in bytes, on stderr. */
export function downloadProgress(opts: { quiet?: boolean } = {}): { onProgress: (p: { file: string; bytes: number; total: number | undefined }) => void; stop(): void } {
  let current: { file: string; bar: Progress } | null = null;
  return {
    onProgress(p) {
      if (!current || current.file !== p.file) {
        current?.bar.stop();
        current = { file: p.file, bar: progressBar(p.total ?? 0, `download ${p.file}`, { quiet: opts.quiet }) };
      }
      current.bar.update(p.bytes);
    },
    stop() {
      current?.bar.stop();
      current = null;
    },
  };
}
