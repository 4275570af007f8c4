// The report document as one self-contained HTML page (index.html): inline CSS, the figures' SVG
// inlined, no external resource, readable without JavaScript (a few lines of inline script only make
// the tables sortable). All text from the data is escaped (escapeHtml), links are kept only when they
// are relative or http(s), and a Content-Security-Policy lets no script run but the page's own (by
// its hash), so text that escaped escaping still could not run. The hooks tests and tools read:
// each section is `<section id>` with the document's id, class and data-* attributes; each table is
// `<table class="data-table" data-table="<name>">`; each figure is `<figure class="figure"
// data-figure="<name>">`; each record token is `<span class="tok" data-activation="a" title=…>`.
import { createHash } from 'node:crypto';
import type { TokenActivation } from '../interpret/records.js';
import type { Block, Inline, ReportDocument, Section, TableBlock } from './document.js';
import type { ReportFigure } from './figures.js';
import { escapeHtml as esc } from './format.js';

/** Looks of the page, written once. */
export const HTML_STYLE = Object.freeze({
  /** Colour of a token's shading; its alpha is activation / 10 (activations are 0–10). */
  shade: [230, 120, 0] as const,
  /** Deepest section level listed in the contents (1: top-level sections only). */
  contentsDepth: 2,
});

const CSS = `
:root { color-scheme: light; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1f2328; background: #fff; }
header, main, nav.contents, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.35em; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.15em; margin: 24px 0 8px; }
h4, h5, h6 { font-size: 1em; margin: 18px 0 6px; }
.subtitle { margin: 0; color: #57606a; }
nav.contents { margin-top: 12px; }
nav.contents h2 { font-size: 1em; border: 0; margin: 8px 0 0; }
nav.contents ol { margin: 4px 0; padding-left: 22px; }
nav.contents ol ol { columns: 2; }
a { color: #0969da; }
code { font: 0.9em ui-monospace, "DejaVu Sans Mono", monospace; background: #f3f4f6; padding: 0 3px; border-radius: 3px; }
p.how-to { background: #f6f8fa; border-left: 3px solid #8c959f; padding: 6px 10px; margin: 8px 0; }
.table-wrap { overflow-x: auto; margin: 8px 0 12px; }
table.data-table { border-collapse: collapse; font-size: 0.92em; }
table.data-table th, table.data-table td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
table.data-table th { background: #f6f8fa; white-space: nowrap; }
table.data-table tbody tr:nth-child(even) { background: #fafbfc; }
table.data-table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data-table.sortable th { cursor: pointer; }
table.data-table th[aria-sort=ascending]::after { content: " ▲"; }
table.data-table th[aria-sort=descending]::after { content: " ▼"; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
figure.figure { margin: 0; flex: 1 1 480px; max-width: 660px; }
figure.figure svg { display: block; width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: 0.88em; color: #57606a; }
section.feature { border-top: 1px dashed #d0d7de; }
ol.records { padding-left: 24px; }
ol.records li { margin: 6px 0; }
.record-label { font-size: 0.85em; color: #57606a; }
.record-text { white-space: pre-wrap; overflow-wrap: anywhere; font: 0.9em/1.7 ui-monospace, "DejaVu Sans Mono", monospace; }
.tok[data-activation] { border-radius: 2px; }
footer { color: #57606a; font-size: 0.88em; margin-top: 32px; padding-bottom: 24px; border-top: 1px solid #d0d7de; }
`;

/** Click a header to sort its table (numbers as numbers, missing values last); a second click reverses. */
const SCRIPT = `
document.querySelectorAll('table.data-table').forEach(function (table) {
  table.classList.add('sortable');
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener('click', function () {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      var numeric = th.classList.contains('num');
      var key = function (row) {
        var text = row.cells[col] ? row.cells[col].textContent : '';
        return numeric ? parseFloat(text.replace(/\\u2212/g, '-')) : text;
      };
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (numeric) {
          if (isNaN(x) || isNaN(y)) return isNaN(x) === isNaN(y) ? 0 : isNaN(x) ? 1 : -1;
          return dir * (x - y);
        }
        return dir * x.localeCompare(y);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT).digest('base64');
const CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${SCRIPT_HASH}'; base-uri 'none'; form-action 'none'`;

/** A link target kept only when relative (to the run folder) or http(s); anything else is dropped. */
function safeHref(href: string): boolean {
  const h = href.replace(/[\u0000-\u0020]/g, '');
  if (h.startsWith('//') || h.startsWith('\\')) return false;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(h);
  return scheme === null || /^https?$/i.test(scheme[1]);
}

function inline(parts: Inline[]): string {
  return parts.map((p) => {
    if (typeof p === 'string') return esc(p);
    let s = esc(p.text);
    if (p.code) s = `<code>${s}</code>`;
    if (p.em) s = `<em>${s}</em>`;
    if (p.strong) s = `<strong>${s}</strong>`;
    if (p.href !== undefined && safeHref(p.href)) s = `<a href="${esc(p.href)}">${s}</a>`;
    return s;
  }).join('');
}

/** One record's tokens, each shaded by its activation (0–10) with the activation in its title. */
export function htmlRecord(tokens: TokenActivation[]): string {
  const [r, g, b] = HTML_STYLE.shade;
  return tokens.map((t) => {
    const a = Number.isFinite(t.activation) ? Math.min(10, Math.max(0, t.activation)) : 0;
    const title = `activation ${a}`;
    if (!(a > 0)) return `<span class="tok" title="${title}">${esc(t.token)}</span>`;
    // a leading space stays outside the shading (unless the token is nothing but space)
    const [, space, core] = /^(\s*)([\s\S]*)$/.exec(t.token)!;
    const [lead, body] = core ? [space, core] : ['', t.token];
    return `${esc(lead)}<span class="tok" data-activation="${a}" title="${title}" style="background-color:rgba(${r},${g},${b},${(a / 10).toFixed(2)})">${esc(body)}</span>`;
  }).join('');
}

function table(b: TableBlock): string {
  const numeric = b.numeric ?? [];
  const cls = (i: number) => (numeric[i] ? ' class="num"' : '');
  const head = b.header.map((h, i) => `<th${cls(i)} scope="col">${esc(h)}</th>`).join('');
  const rows = b.rows.map((row) => `<tr>${row.map((c, i) => `<td${cls(i)}>${inline(c)}</td>`).join('')}</tr>`);
  return `<div class="table-wrap"><table class="data-table" data-table="${esc(b.name)}">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

/**
 * The SVG of a figure, ready to inline: no XML declaration, labelled for screen readers. The markup
 * is used as given: figures are drawn by chart.ts, which escapes every text it writes.
 */
function inlineSvg(svg: string, label: string): string {
  return svg.replace(/^\s*<\?xml[^>]*\?>\s*/, '').replace(/<svg\b/, `<svg role="img" aria-label="${esc(label)}"`).trim();
}

function figure(name: string, caption: string, figures: Map<string, ReportFigure>): string {
  const f = figures.get(name);
  const links = `<a href="figures/${esc(name)}.svg">SVG</a> · <a href="figures/${esc(name)}.png">PNG</a>`;
  const body = f ? inlineSvg(f.svg, caption) : '<p><em>(figure not drawn)</em></p>';
  return `<figure class="figure" data-figure="${esc(name)}">\n${body}\n<figcaption>${esc(caption)} (${links})</figcaption></figure>`;
}

function blocks(list: Block[], depth: number, figures: Map<string, ReportFigure>, out: string[]): void {
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    switch (b.kind) {
      case 'paragraph':
        out.push(`<p${b.howTo ? ' class="how-to"' : ''}>${inline(b.content)}</p>`);
        break;
      case 'list': {
        const tag = b.ordered ? 'ol' : 'ul';
        out.push(`<${tag}>${b.items.map((item) => `<li>${inline(item)}</li>`).join('')}</${tag}>`);
        break;
      }
      case 'table':
        out.push(table(b));
        break;
      case 'records':
        out.push('<ol class="records">');
        for (const r of b.records) out.push(`<li><div class="record-label">${inline(r.label)}</div><div class="record-text">${htmlRecord(r.tokens)}</div></li>`);
        out.push('</ol>');
        break;
      case 'figure': {
        // consecutive figures share one row that wraps
        out.push('<div class="figures">');
        for (; i < list.length && list[i].kind === 'figure'; i++) {
          const f = list[i] as Extract<Block, { kind: 'figure' }>;
          out.push(figure(f.name, f.caption, figures));
        }
        i--;
        out.push('</div>');
        break;
      }
      case 'section':
        section(b, depth + 1, figures, out);
        break;
    }
  }
}

function section(s: Section, depth: number, figures: Map<string, ReportFigure>, out: string[]): void {
  const attrs = [`id="${esc(s.id)}"`];
  if (s.className) attrs.push(`class="${esc(s.className)}"`);
  for (const [k, v] of Object.entries(s.data ?? {})) {
    const key = k.toLowerCase().replace(/[^a-z0-9-]/g, '-');
    attrs.push(`data-${key}="${esc(v)}"`);
  }
  const h = `h${Math.min(6, depth + 1)}`;
  out.push(`<section ${attrs.join(' ')}>`, `<${h}>${esc(s.title)}</${h}>`);
  blocks(s.blocks, depth, figures, out);
  out.push('</section>');
}

function contents(sections: Section[], depth: number): string {
  if (!sections.length || depth > HTML_STYLE.contentsDepth) return '';
  const items = sections.map((s) => {
    const children = s.blocks.filter((b): b is Section => b.kind === 'section');
    return `<li><a href="#${esc(s.id)}">${esc(s.title)}</a>${contents(children, depth + 1)}</li>`;
  });
  return `<ol>${items.join('')}</ol>`;
}

/** The whole report as one HTML page; `figures` are the drawn figures the document's figure blocks name. */
export function renderHtml(doc: ReportDocument, figures: ReportFigure[]): string {
  const byName = new Map(figures.map((f) => [f.name, f]));
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="rewardlens">',
    `<title>${esc(doc.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${esc(doc.title)}</h1>`,
    ...doc.subtitle.map((line) => `<p class="subtitle">${inline(line)}</p>`),
    '</header>',
    `<nav class="contents" aria-label="Contents"><h2>Contents</h2>${contents(doc.sections, 1)}</nav>`,
    '<main>',
  ];
  for (const s of doc.sections) section(s, 1, byName, out);
  out.push(
    '</main>',
    '<footer><p>Written by rewardlens. The same report as <a href="report.md">report.md</a>; its data in <a href="report.json">report.json</a>; every figure as SVG and PNG in <a href="figures/">figures/</a>.</p></footer>',
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
  );
  return out.join('\n') + '\n';
}
