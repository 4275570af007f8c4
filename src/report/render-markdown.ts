// The report document as GitHub-flavoured Markdown (report.md). All text from the data is escaped
// (escapeMarkdown: no HTML tag, no Markdown syntax, no cell-ending `|` survives); activating tokens of
// a record are shown in bold with their activation in superscript: "the **great**⁽⁹⁾ film".
import type { TokenActivation } from '../interpret/records.js';
import type { Block, Inline, ReportDocument, Section } from './document.js';
import { escapeMarkdown, superscript } from './format.js';

/** A code span that holds any text: a fence longer than any backtick run inside, padded when needed. */
function codeSpan(text: string, inTable: boolean): string {
  let t = text.replace(/[\r\n\t]+/g, ' ');
  if (inTable) t = t.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') || t.length === 0 ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

/** Wrap the non-blank core of `text` in `mark` (emphasis cannot start or end on a space). */
function delimit(text: string, mark: string): string {
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(text)!;
  if (!m[2]) return escapeMarkdown(text);
  return `${m[1] ? ' ' : ''}${mark}${escapeMarkdown(m[2])}${mark}${m[3] ? ' ' : ''}`;
}

function linkTarget(href: string): string {
  return encodeURI(href).replace(/\(/g, '%28').replace(/\)/g, '%29');
}

function inline(parts: Inline[], inTable = false): string {
  return parts.map((p) => {
    if (typeof p === 'string') return escapeMarkdown(p);
    if (p.href !== undefined) return `[${escapeMarkdown(p.text)}](${linkTarget(p.href)})`;
    if (p.code) return codeSpan(p.text, inTable);
    if (p.strong) return delimit(p.text, '**');
    if (p.em) return delimit(p.text, '*');
    return escapeMarkdown(p.text);
  }).join('');
}

/** One record's tokens in reading order, activating ones in bold with a superscript activation. */
export function markdownRecord(tokens: TokenActivation[]): string {
  return tokens.map((t) => {
    if (!(t.activation > 0)) return escapeMarkdown(t.token);
    const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(t.token)!;
    const core = m[2] ? escapeMarkdown(m[2]) : '␣';
    return `${m[1] ? ' ' : ''}**${core}**${superscript(t.activation)}${m[3] ? ' ' : ''}`;
  }).join('');
}

function block(b: Block, depth: number, out: string[]): void {
  switch (b.kind) {
    case 'paragraph':
      out.push(inline(b.content), '');
      return;
    case 'list':
      b.items.forEach((item, i) => out.push(`${b.ordered ? `${i + 1}.` : '-'} ${inline(item)}`));
      out.push('');
      return;
    case 'table': {
      const numeric = b.numeric ?? [];
      out.push(`| ${b.header.map((h) => escapeMarkdown(h)).join(' | ')} |`);
      out.push(`|${b.header.map((_, i) => (numeric[i] ? '---:' : '---')).join('|')}|`);
      for (const row of b.rows) out.push(`| ${row.map((c) => inline(c, true)).join(' | ')} |`);
      out.push('');
      return;
    }
    case 'records':
      b.records.forEach((r, i) => out.push(`${i + 1}. ${inline(r.label)}: ${markdownRecord(r.tokens)}`));
      out.push('');
      return;
    case 'figure':
      out.push(`![${escapeMarkdown(b.caption)}](figures/${b.name}.svg)`, '', `*${escapeMarkdown(b.caption)}* ([PNG](figures/${b.name}.png))`, '');
      return;
    case 'section':
      section(b, depth + 1, out);
      return;
  }
}

function section(s: Section, depth: number, out: string[]): void {
  out.push(`<a id="${s.id}"></a>`, '', `${'#'.repeat(Math.min(6, depth + 1))} ${escapeMarkdown(s.title)}`, '');
  for (const b of s.blocks) block(b, depth, out);
}

export function renderMarkdown(doc: ReportDocument): string {
  const out: string[] = [`# ${escapeMarkdown(doc.title)}`, ''];
  for (const line of doc.subtitle) out.push(`${inline(line)}  `);
  out.push('', '**Contents:** ' + doc.sections.map((s) => `[${escapeMarkdown(s.title)}](#${s.id})`).join(' · '), '');
  for (const s of doc.sections) section(s, 1, out);
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}
