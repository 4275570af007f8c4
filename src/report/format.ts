// Number formats and escapes shared by the Markdown and HTML renderers of a report.
/** How numbers are written in a report, written once. */
export const REPORT_FORMAT = Object.freeze({
  /** Decimals of a real number (3: "0.123", "61.200"). */
  decimals: 3,
  /** Outside [small, large) in absolute value (and not 0), a real number is written as "1.23e-5". */
  small: 1e-3,
  large: 1e6,
  /** Digits after the point of the exponential form. */
  expDigits: 2,
  /** Shown for a missing value (null, NaN). */
  missing: '—',
  /** Top records shown per feature (of the `top` the features stage kept). */
  recordsShown: 5,
  /** Bins of each MMCS histogram. */
  histogramBins: 20,
});

/** A real number: 3 decimals, exponential when tiny or huge, "—" when missing. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return REPORT_FORMAT.missing;
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (v !== 0 && (a < REPORT_FORMAT.small || a >= REPORT_FORMAT.large)) return v.toExponential(REPORT_FORMAT.expDigits);
  return v.toFixed(REPORT_FORMAT.decimals);
}

/** A count or index as is; "—" when missing. */
export function int(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return REPORT_FORMAT.missing;
  return String(v);
}

/** "mean ± sd" of a MeanSd (sd left out when missing). */
export function meanSdText(m: { mean: number | null; sd: number | null }): string {
  if (m.sd === null || Number.isNaN(m.sd)) return num(m.mean);
  return `${num(m.mean)} ± ${num(m.sd)}`;
}

const SUPERSCRIPT = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

/** An integer in superscript digits, in superscript parentheses: 7 → "⁽⁷⁾". */
export function superscript(n: number): string {
  const digits = String(Math.round(Math.abs(n))).split('').map((c) => SUPERSCRIPT[Number(c)]).join('');
  return `⁽${digits}⁾`;
}

/**
 * Text safe as HTML element content or a quoted attribute value: the SVG charts' escaper (HTML5
 * reads the same five entities, and drops nothing XML keeps).
 */
export { escapeXml as escapeHtml } from './chart.js';

/**
 * Text safe inside a GitHub-flavoured Markdown paragraph or table cell: HTML special characters
 * become entities (so no tag survives), Markdown punctuation is backslash-escaped, `|` cannot end a
 * cell, and line breaks become spaces.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/\r\n|\r|\n|\t/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_{}[\]()#+!|~$-])/g, '\\$1');
}

/** A string usable in an HTML id, a URL fragment and a file name: [a-z0-9-] only. */
export function slug(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s.length ? s : 'x';
}
