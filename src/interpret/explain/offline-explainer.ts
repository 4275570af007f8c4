// The offline explainer: deterministic and free. It names the tokens and bigrams that most
// distinguish a feature's shown top records from its random records, scored by the smoothed
// log-ratio of their activation-weighted frequency in the shown records to their frequency in the
// random records, and phrases them as one sentence: "Fires on tokens like 'great', 'wonderful', 'best'."
import type { FeatureRecord } from '../records.js';
import { isWordToken, normaliseToken } from './words.js';

export const OFFLINE_EXPLAINER_DEFAULTS = Object.freeze({
  /** Terms named in the sentence. */
  terms: 3,
  /** Additive smoothing of both frequency estimates. */
  smoothing: 0.5,
  /** Consider bigrams of adjacent activating tokens. */
  bigrams: true,
});

/** How much (in log-ratio) a bigram must beat each of its words to be named instead of them. */
const BIGRAM_MARGIN = Math.log(2);

export interface TermScore { term: string; score: number; weight: number; randomCount: number }

function termsOf(records: FeatureRecord[], bigrams: boolean): { weight: Map<string, number>; count: Map<string, number>; total: number } {
  const weight = new Map<string, number>();
  const count = new Map<string, number>();
  let total = 0;
  for (const r of records) {
    const toks = r.tokens.map((t) => ({ t: normaliseToken(t.token), a: t.activation / 10 }));
    for (let i = 0; i < toks.length; i++) {
      const { t, a } = toks[i];
      if (!t) continue;
      total++;
      weight.set(t, (weight.get(t) ?? 0) + a);
      count.set(t, (count.get(t) ?? 0) + 1);
      if (bigrams && i + 1 < toks.length && toks[i + 1].t) {
        const b = `${t} ${toks[i + 1].t}`;
        // a bigram fires as strongly as its weaker token
        weight.set(b, (weight.get(b) ?? 0) + Math.min(a, toks[i + 1].a));
        count.set(b, (count.get(b) ?? 0) + 1);
      }
    }
  }
  return { weight, count, total };
}

/**
 * Candidate terms ranked by log[(w_top(t) + α) / (T_top + α·V)] − log[(n_rand(t) + α) / (T_rand + α·V)],
 * where w_top is the activation-weighted count (activation/10 per occurrence) in the shown records,
 * n_rand the plain count in the random records, T the token totals and V the number of distinct
 * terms. Only terms with w_top > 0 that contain a letter or digit are ranked; a bigram only when
 * its two words differ and it scores more than log 2 above each of them; ties break by term.
 */
export function rankTerms(shown: FeatureRecord[], random: FeatureRecord[], opts: { smoothing?: number; bigrams?: boolean } = {}): TermScore[] {
  const alpha = opts.smoothing ?? OFFLINE_EXPLAINER_DEFAULTS.smoothing;
  const bigrams = opts.bigrams ?? OFFLINE_EXPLAINER_DEFAULTS.bigrams;
  const top = termsOf(shown, bigrams);
  const rnd = termsOf(random, bigrams);
  const vocab = new Set([...top.count.keys(), ...rnd.count.keys()]).size;
  const out: TermScore[] = [];
  for (const [term, w] of top.weight) {
    if (w <= 0 || !isWordToken(term)) continue;
    const n = rnd.count.get(term) ?? 0;
    const score = Math.log((w + alpha) / (top.total + alpha * vocab)) - Math.log((n + alpha) / (rnd.total + alpha * vocab));
    out.push({ term, score, weight: w, randomCount: n });
  }
  // A bigram is kept only when it says more than its words: two different words, and a score
  // above each word's own by more than BIGRAM_MARGIN (else 'awful awful' would beat 'awful' merely
  // for being rarer among the random records).
  const unigram = new Map(out.filter((t) => !t.term.includes(' ')).map((t) => [t.term, t.score]));
  const kept = out.filter((t) => {
    if (!t.term.includes(' ')) return true;
    const [a, b] = t.term.split(' ');
    return a !== b && t.score > Math.max(unigram.get(a) ?? -Infinity, unigram.get(b) ?? -Infinity) + BIGRAM_MARGIN;
  });
  return kept.sort((a, b) => b.score - a.score || (a.term < b.term ? -1 : a.term > b.term ? 1 : 0));
}

/** The best `count` terms, skipping a bigram that contains a chosen unigram and a unigram inside a chosen bigram. */
export function chooseTerms(ranked: TermScore[], count: number): string[] {
  const chosen: string[] = [];
  for (const { term } of ranked) {
    if (chosen.length >= count) break;
    const words = term.split(' ');
    const overlaps = chosen.some((c) => {
      const cw = c.split(' ');
      return words.some((w) => cw.includes(w));
    });
    if (!overlaps) chosen.push(term);
  }
  return chosen;
}

/** The one-sentence explanation naming `terms`. */
export function phraseTerms(terms: string[]): string {
  if (terms.length === 0) return 'Fires on no particular token in its top records.';
  const quoted = terms.map((t) => `'${t}'`);
  const what = terms.some((t) => t.includes(' ')) ? 'tokens and phrases' : 'tokens';
  return `Fires on ${what} like ${quoted.join(', ')}.`;
}

export function offlineExplanation(shown: FeatureRecord[], random: FeatureRecord[], opts: { terms?: number; smoothing?: number; bigrams?: boolean } = {}): string {
  return phraseTerms(chooseTerms(rankTerms(shown, random, opts), opts.terms ?? OFFLINE_EXPLAINER_DEFAULTS.terms));
}
