// The report as a small document tree, built once from a ReportData (build-document.ts) and written
// out twice: as GitHub Markdown (render-markdown.ts) and as one self-contained HTML page
// (render-html.ts), so both show the same content. Text in the tree is plain, unescaped text: each
// renderer escapes it for its own format.
import type { TokenActivation } from '../interpret/records.js';

/** A run of text: plain, or marked up. */
export type Inline = string | { text: string; strong?: boolean; em?: boolean; code?: boolean; href?: string };

/** A table cell: a run of inlines. Numbers are formatted before they get here (format.ts). */
export type Cell = Inline[];

export interface TableBlock {
  kind: 'table';
  /** Names the table in HTML (class "data-table", data-table="<name>"). */
  name: string;
  header: string[];
  rows: Cell[][];
  /** Columns holding numbers (right-aligned, sorted as numbers). */
  numeric?: boolean[];
}

export interface RecordsBlock {
  kind: 'records';
  records: { label: Inline[]; tokens: TokenActivation[] }[];
}

export interface FigureBlock {
  kind: 'figure';
  /** File name in figures/ without extension. */
  name: string;
  caption: string;
}

export type Block =
  | { kind: 'paragraph'; content: Inline[]; howTo?: boolean }
  | { kind: 'list'; ordered?: boolean; items: Inline[][] }
  | TableBlock
  | RecordsBlock
  | FigureBlock
  | Section;

export interface Section {
  kind: 'section';
  /** Unique in the document: the HTML id and the Markdown anchor target. */
  id: string;
  title: string;
  /** HTML class of the section (e.g. "feature"), and data-* attributes. */
  className?: string;
  data?: Record<string, string>;
  blocks: Block[];
}

export interface ReportDocument {
  title: string;
  /** Lines under the title (models, date). */
  subtitle: Inline[][];
  sections: Section[];
}
