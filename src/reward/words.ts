// The word tokens a utility-table reward looks up: Unicode word segmentation, lower-cased.
import { invalidType } from '../errors.js';

const segmenter = new Intl.Segmenter('en', { granularity: 'word' });

/** Typographic apostrophes folded to the ASCII one, so "don’t" finds the lexicon's "don't". */
const APOSTROPHES = /[\u2019\u02bc\uff07]/g;

/**
 * The lower-cased word tokens of `text`, in order, duplicates kept.
 *
 * The rule: `Intl.Segmenter` with `'word'` granularity (Unicode UAX #29 word boundaries, as ICU
 * implements them in Node) splits the text; only segments it marks `isWordLike` are kept (letters
 * or digits: spaces, punctuation, symbols and emoji are dropped); each is lower-cased with
 * `String.prototype.toLowerCase` (locale-independent). Apostrophes inside a word stay part of it
 * ("don't", "rock'n'roll"), apostrophes and quotes at its edges do not ("'good'" → "good");
 * typographic apostrophes (U+2019, U+02BC, U+FF07) are first folded to "'". Hyphens and slashes
 * split ("well-known" → "well", "known"); decimal numbers stay whole ("3.5").
 *
 * The paper's code used spaCy tokens; UAX #29 agrees with them on ordinary English words, and
 * differs on contractions (spaCy splits "don't" into "do" + "n't"; the VADER lexicon lists
 * whole forms such as "can't stand" only as phrases, so either way the contraction itself scores 0).
 */
export function rewardWords(text: string): string[] {
  if (typeof text !== 'string') throw invalidType('string', 'text', text);
  const out: string[] = [];
  for (const seg of segmenter.segment(text.replace(APOSTROPHES, "'"))) {
    if (seg.isWordLike) out.push(seg.segment.toLowerCase());
  }
  return out;
}
