// Token text as the offline explainer and the keyword simulator compare it.

/**
 * A token's comparable form: byte-level BPE and SentencePiece space marks ("Ġ", "▁") and
 * surrounding whitespace removed, lower-cased. Empty for whitespace-only tokens.
 */
export function normaliseToken(token: string): string {
  return token.replace(/^[\sĠ▁]+/u, '').replace(/\s+$/u, '').toLowerCase();
}

/** Whether a normalised token carries a word (a letter or digit), not only punctuation. */
export function isWordToken(t: string): boolean {
  return /[\p{L}\p{N}]/u.test(t);
}
