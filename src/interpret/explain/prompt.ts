// Prompts built from the templates in prompt-template.ts.
import type { FeatureRecord } from '../records.js';
import { recordLines } from '../records.js';
import type { ChatMessage } from './chat-client.js';
import { EXPLAIN_PROMPT, SIMULATE_PROMPT } from './prompt-template.js';

function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}

/** A token as it appears in a prompt line: tabs and newlines would break the format, so they are escaped. */
export function promptToken(token: string): string {
  return token.replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/**
 * The explanation prompt for `feature` from its shown records: system message, format message,
 * one message per record ("Feature i / Top Activation Example j" and its lines), final request.
 */
export function explainMessages(feature: number, shown: FeatureRecord[]): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: EXPLAIN_PROMPT.system },
    { role: 'user', content: EXPLAIN_PROMPT.format },
  ];
  shown.forEach((r, j) => {
    const safe = { ...r, tokens: r.tokens.map((t) => ({ token: promptToken(t.token), activation: t.activation })) };
    messages.push({ role: 'user', content: fill(EXPLAIN_PROMPT.record, { feature, example: j + 1, lines: recordLines(safe).join('\n') }) });
  });
  messages.push({ role: 'user', content: fill(EXPLAIN_PROMPT.request, { feature, count: shown.length }) });
  return messages;
}

/** The simulation prompt: predict 0–10 for each token of `tokens` given `explanation`. */
export function simulateMessages(feature: number, explanation: string, tokens: string[]): ChatMessage[] {
  return [
    { role: 'system', content: SIMULATE_PROMPT.system },
    { role: 'user', content: fill(SIMULATE_PROMPT.request, { feature, explanation, tokens: tokens.map(promptToken).join('\n') }) },
  ];
}

/** The explanation from a reply: its first non-empty line, trimmed, without quotes or a leading label. */
export function cleanExplanation(reply: string): string {
  const line = reply.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.replace(/^(explanation|answer)\s*:\s*/i, '').replace(/^["“](.*)["”]$/, '$1').trim();
}
