// Write a run's report into its folder: report.json (the data), figures/<name>.svg and .png (one
// pair per figure of reportFigures), report.md and index.html (the same document tree rendered
// twice). Everything is checked and rendered in memory first, so bad data or a rendering bug leaves
// the previous report as it was; then each file is written atomically. figures/ belongs to the
// report: it is rebuilt whole under a temporary name and swapped in, so figures a previous report
// drew and this one does not (a section that is gone) do not linger beside the new ones.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic, writeFileAtomic } from '../io/atomic.js';
import { buildReportDocument } from './build-document.js';
import { svgToPng } from './chart.js';
import { checkReportData } from './check-report-data.js';
import { reportFigures } from './figures.js';
import { renderHtml } from './render-html.js';
import { renderMarkdown } from './render-markdown.js';
import type { ReportData } from './report-data.js';

/** File names in the run folder, written once. */
export const REPORT_FILES = Object.freeze({
  json: 'report.json',
  markdown: 'report.md',
  html: 'index.html',
  figures: 'figures',
});

export interface WrittenReport {
  /** Absolute paths of what was written. */
  json: string;
  markdown: string;
  html: string;
  /** figures/<name>.svg and .png of each figure, in report order. */
  figures: string[];
}

/** Check `data`, then write report.json, figures/, report.md and index.html into `runDir`. */
export async function writeReport(runDir: string, data: ReportData): Promise<WrittenReport> {
  checkReportData(data);
  const figures = reportFigures(data);
  const doc = buildReportDocument(data, figures);
  const json = JSON.stringify(data, null, 2) + '\n';
  const markdown = renderMarkdown(doc);
  const html = renderHtml(doc, figures);
  const pngs = figures.map((f) => svgToPng(f.svg));

  const out: WrittenReport = {
    json: join(runDir, REPORT_FILES.json),
    markdown: join(runDir, REPORT_FILES.markdown),
    html: join(runDir, REPORT_FILES.html),
    figures: figures.flatMap((f) => [`${f.name}.svg`, `${f.name}.png`].map((file) => join(runDir, REPORT_FILES.figures, file))),
  };
  await writeDirAtomic(join(runDir, REPORT_FILES.figures), (tmp) => {
    figures.forEach((f, i) => {
      writeFileSync(join(tmp, `${f.name}.svg`), f.svg);
      writeFileSync(join(tmp, `${f.name}.png`), pngs[i]);
    });
  });
  writeFileAtomic(out.json, json);
  writeFileAtomic(out.markdown, markdown);
  // last, so that once index.html is there everything it links to is too
  writeFileAtomic(out.html, html);
  return out;
}
