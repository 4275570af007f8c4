// A seeded generator of movie-review-like texts with a sentiment label: the embedded default corpus,
// small enough to pretrain a GPT-NeoX on a laptop CPU in minutes, rich enough that the model has
// grammar, topic and sentiment to learn and PPO has room to shift sentiment.
//
// What a review is made of:
// - sentiment words: only from the lists below, every one a VADER word (alphabetic, |valence| >= 1)
//   of the sign its list says (checked against the lexicon when the vocabulary is first used);
// - everything else (movie vocabulary, plot, names, fillers) has |valence| < 1 or is not in VADER,
//   so a review's VADER utility comes from its sentiment words alone (test/synthetic-reviews.test.ts
//   checks this on generated text);
// - an opening sentence, 1–8 body sentences from about forty templates in all (judgements of an
//   aspect, contrasts "…, but …", negations "not good", reactions, plot summaries, cast, ratings)
//   and a closing sentence: 3–10 sentences, 40–200 words;
// - the label (exactly balanced in pairs) sets a tone p drawn uniformly from [0.65, 0.95]: each
//   sentiment slot expresses the label's sentiment with probability p and the other with 1 − p;
//   a negated slot ("was not good") expresses one sentiment with a word of the other sign. So both
//   signs occur under both labels, about 7:3 in the label's favour;
// - a rating ("7 out of 10") in some closings: 6–10 for positive reviews, 1–5 for negative ones.
//
// Determinism: split `s` of seed `k` is one mulberry32 stream seeded by a hash of (k, s); review i
// depends only on (k, s, i) and the reviews before it, so the first n reviews of a split are the same
// for any requested size, and the test split does not depend on the train size.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { mulberry32 } from '../random.js';
import { checkInt } from '../validate.js';
import { corpusFiles, writeJsonl, type CorpusSplit, type ReviewRecord } from './corpus.js';

/** Every default of the generator, written once. */
export const SYNTHETIC_DEFAULTS = Object.freeze({ seed: 0, train: 20000, test: 5000 });

/** Bump when the generator's output for a seed changes (recorded beside the default corpus). */
export const SYNTHETIC_GENERATOR_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// The VADER lexicon

let vaderCache: Map<string, number> | null = null;

/** The path of vader-sentiment's vader_lexicon.txt. */
export function vaderLexiconPath(): string {
  return createRequire(import.meta.url).resolve('vader-sentiment/vader_lexicon.txt');
}

/** VADER's lexicon: token → mean valence (−4 … 4). Read once. */
export function readVaderLexicon(): ReadonlyMap<string, number> {
  if (vaderCache) return vaderCache;
  const map = new Map<string, number>();
  for (const line of readFileSync(vaderLexiconPath(), 'utf8').split('\n')) {
    const [word, value] = line.split('\t');
    if (!word || value === undefined) continue;
    const v = Number(value);
    if (Number.isFinite(v) && !map.has(word)) map.set(word, v);
  }
  vaderCache = map;
  return map;
}

// ---------------------------------------------------------------------------------------------
// Sentiment vocabulary: [positive, negative] lists per part of speech. Every word must be a VADER
// word of that sign with |valence| >= 1.

const ADJECTIVES: [string[], string[]] = [
  ('good great excellent wonderful amazing brilliant superb fantastic beautiful lovely perfect charming ' +
    'delightful enjoyable entertaining fun funny hilarious clever smart intelligent inspiring inspired ' +
    'impressive stunning gorgeous elegant graceful powerful remarkable outstanding terrific marvelous ' +
    'magnificent splendid fabulous awesome fresh original creative honest sincere sweet heartwarming ' +
    'exciting thrilling engaging fascinating interesting satisfying pleasant nice strong rich playful ' +
    'joyful cheerful happy lively energetic vibrant bold brave confident talented flawless superior ' +
    'ideal adorable friendly generous gentle peaceful romantic passionate breathtaking admirable worthy ' +
    'valuable rewarding wise thoughtful heartfelt hopeful fearless triumphant glorious').split(' '),
  ('bad terrible awful horrible dreadful poor weak boring dull stupid dumb foolish ridiculous useless ' +
    'worthless lame tired confused annoying irritating frustrating disappointing depressing sad miserable ' +
    'painful unpleasant ugly gross disgusting nasty offensive insulting pathetic pitiful embarrassing ' +
    'shameful dishonest fake arrogant cruel harsh bitter hateful hostile brutal grim inferior horrendous ' +
    'dismal lousy crappy rotten forced incompetent careless lazy sluggish exhausting ludicrous dreary ' +
    'insipid messy disastrous tragic hopeless inadequate unfortunate clueless idiotic mindless ' +
    'meaningless obnoxious unacceptable unimpressive vile wrong horrid sickening uncomfortable').split(' '),
];
/** Nouns that fit "a …" / "What a …!". */
const NOUNS: [string[], string[]] = [
  'masterpiece joy delight pleasure triumph success winner treat beauty miracle'.split(' '),
  'disaster mess failure waste disappointment flop mistake insult embarrassment tragedy'.split(' '),
];
/** Nouns that fit "the … of the film". */
const QUALITY_NOUNS: [string[], string[]] = [
  'charm humour warmth excitement talent brilliance perfection excellence beauty'.split(' '),
  'boredom stupidity nonsense failure shame pain'.split(' '),
];
/** "I … it." (past tense, with an object after). */
const VERBS_PAST: [string[], string[]] = [
  'loved enjoyed admired liked appreciated adored cherished treasured praised'.split(' '),
  'hated disliked despised loathed regretted'.split(' '),
];
/** Words of fixed phrases: "I would (not) recommend it", "Do not waste your time". */
const PHRASE_WORDS: [string[], string[]] = [['recommend'], ['waste']];
/** "The music … the viewer." [third person singular, plural]. */
const VERBS_3: [[string, string][], [string, string][]] = [
  [['delights', 'delight'], ['inspires', 'inspire'], ['charms', 'charm'], ['entertains', 'entertain'],
    ['impresses', 'impress'], ['amuses', 'amuse']],
  [['bores', 'bore'], ['annoys', 'annoy'], ['irritates', 'irritate'], ['frustrates', 'frustrate'],
    ['disappoints', 'disappoint'], ['insults', 'insult']],
];
/** "I was … by the end." */
const FEELINGS: [string[], string[]] = [
  'impressed delighted thrilled amused entertained inspired charmed happy glad'.split(' '),
  'bored annoyed irritated frustrated disappointed upset unhappy dissatisfied ashamed'.split(' '),
];
/** "… written", "… acted". */
const ADVERBS: [string[], string[]] = [
  'beautifully brilliantly perfectly wonderfully nicely gracefully cleverly'.split(' '),
  'badly terribly horribly painfully stupidly miserably dreadfully pathetically'.split(' '),
];

// ---------------------------------------------------------------------------------------------
// Neutral vocabulary (|valence| < 1 or not in VADER).

const FILM = ['film', 'movie', 'picture'];
const GENRES = ['drama', 'thriller', 'western', 'musical', 'mystery', 'documentary', 'biopic', 'fantasy',
  'sequel', 'remake', 'noir', 'action movie', 'period piece', 'science fiction film', 'family film',
  'road movie', 'satire', 'spy film', 'heist movie', 'courtroom drama', 'sports film'];
/** [text, plural]. */
const ASPECTS: [string, boolean][] = [
  ['plot', false], ['story', false], ['script', false], ['dialogue', false], ['acting', false],
  ['cast', false], ['direction', false], ['pacing', false], ['ending', false], ['soundtrack', false],
  ['score', false], ['music', false], ['cinematography', false], ['editing', false], ['photography', false],
  ['effects', true], ['costumes', true], ['set design', false], ['lead performance', false],
  ['screenplay', false], ['first half', false], ['second half', false], ['final act', false],
  ['opening scene', false], ['climax', false], ['characters', true], ['camera work', false],
  ['lighting', false], ['writing', false], ['rest of the cast', false], ['main character', false],
  ['subplot', false], ['twist', false], ['action scenes', true], ['songs', true], ['gags', true],
  ['story line', false], ['visuals', true], ['sound design', false], ['narration', false],
  ['flashbacks', true], ['chase sequence', false], ['dance numbers', true], ['makeup', false],
  ['locations', true], ['accents', true], ['final scene', false], ['performances', true], ['ensemble', false],
  ['opening titles', true], ['middle section', false], ['courtroom scenes', true], ['running time', false],
];
const CRAFT = ['written', 'acted', 'directed', 'shot', 'edited', 'paced', 'cast', 'scored', 'made', 'filmed'];
const ROLES = ['detective', 'teacher', 'farmer', 'doctor', 'lawyer', 'young woman', 'old man', 'journalist',
  'scientist', 'police officer', 'nurse', 'painter', 'musician', 'student', 'pilot', 'sailor', 'priest',
  'widow', 'boxer', 'chef', 'writer', 'photographer', 'mechanic', 'waitress', 'librarian', 'sheriff',
  'mayor', 'captain', 'professor', 'stranger', 'taxi driver', 'banker', 'singer', 'dancer', 'soldier',
  'fisherman', 'teenager', 'single mother', 'retired judge', 'young couple'];
const PLOTS = ['moves to a small town', 'returns home after many years', 'tries to find her younger brother',
  'takes a job at an old hotel', 'travels across the country', 'inherits a house by the sea',
  'starts over in a new city', 'looks for the father he never knew', 'meets a stranger on a train',
  'opens a restaurant', 'joins a traveling band', 'investigates a series of thefts', 'plans a wedding',
  'builds a boat', 'spends a summer on an island', 'runs for mayor', 'trains for a big race',
  'writes a book about the family', 'hides a secret from everyone', 'learns to fly a plane',
  'works the night shift at a hospital', 'crosses the desert on foot', 'buys an old farm',
  'teaches music at a village school', 'follows a map to a hidden cave', 'tracks a gang of robbers',
  'answers a letter from an old flame', 'looks after a stray dog', 'goes back to school at forty',
  'sails around the world', 'reopens an old cinema', 'moves in with a distant aunt', 'becomes a radio host',
  'joins a circus', 'opens a bakery with his sister', 'finds an old diary in the attic', 'starts a band',
  'drives a truck across the border', 'climbs the highest mountain in the country', 'buys a lottery ticket',
  'makes a bet with a neighbor', 'moves back in with her parents', 'searches for a famous painting'];
const PLACES = ['a small town', 'New York', 'Paris', 'London', 'the desert', 'a quiet village', 'an island',
  'the mountains', 'a big city', 'a farm', 'the suburbs', 'a hotel', 'a train', 'the coast', 'Chicago',
  'Rome', 'Tokyo', 'a ship', 'a lighthouse', 'the south', 'a boarding school', 'Berlin', 'Texas', 'Alaska', 'Madrid', 'Vienna', 'a fishing village', 'a mining town', 'Scotland', 'the jungle',
  'a space station', 'a small apartment', 'Montreal', 'Cairo', 'Mexico City', 'Dublin', 'a ranch'];
const FIRST_NAMES = ['John', 'Mary', 'James', 'Anna', 'Robert', 'Linda', 'Michael', 'Susan', 'David', 'Karen',
  'Thomas', 'Laura', 'Peter', 'Helen', 'Paul', 'Greta', 'Mark', 'Emma', 'George', 'Alice', 'Frank', 'Julia',
  'Henry', 'Claire', 'Daniel', 'Nora', 'Sam', 'Ruth', 'Victor', 'Irene', 'Oscar', 'Vera', 'Edward', 'Rosa',
  'Walter', 'Ella', 'Leo', 'Martha', 'Hugo', 'Sofia', 'Arthur', 'Lena', 'Simon', 'Ada', 'Felix', 'Ivy',
  'Martin', 'Elsa', 'Ray', 'Dora', 'Ben', 'Joan'];
const LAST_NAMES = ['Miller', 'Baker', 'Carter', 'Hughes', 'Foster', 'Turner', 'Walsh', 'Reed', 'Porter',
  'Hayes', 'Brooks', 'Warren', 'Ford', 'Hart', 'Lane', 'Marsh', 'Stone', 'Webb', 'Fischer', 'Moreau',
  'Costa', 'Novak', 'Berg', 'Kato', 'Ruiz', 'Olsen', 'Doyle', 'Shaw', 'Blake', 'Quinn', 'Harper', 'Price',
  'Lambert', 'Santos', 'Keller', 'Murphy', 'Sato', 'Rossi', 'Ward', 'Fleming', 'Bishop', 'Walker', 'Hale',
  'Russo', 'Larsen'];
const TITLE_FIRST = ['Silent', 'Northern', 'Last', 'Narrow', 'Red', 'Long', 'Hidden', 'Distant', 'Empty',
  'Golden', 'Winter', 'Summer', 'Midnight', 'Paper', 'Iron', 'Glass', 'Blue', 'Second', 'Quiet', 'Wild'];
const TITLE_SECOND = ['River', 'Road', 'House', 'Harbor', 'Garden', 'Mountain', 'Station', 'Letter', 'Storm',
  'Bridge', 'Island', 'Window', 'Horizon', 'Valley', 'Crossing', 'Shadow', 'Machine', 'Season', 'Field',
  'Lighthouse'];
const TIMES = ['last night', 'last week', 'on a Sunday afternoon', 'yesterday', 'over the weekend',
  'on television', 'at the cinema', 'on a long flight', 'at a screening', 'on a rainy evening', 'this morning'];
const COMPANY = ['my wife', 'my husband', 'my brother', 'my sister', 'my parents', 'my kids', 'my roommate',
  'my father', 'my mother', 'a coworker', 'my cousin', 'my grandmother', 'my uncle', 'my girlfriend',
  'my boyfriend', 'a few classmates'];
const AUDIENCES = ['anyone', 'fans of the genre', 'families', 'older viewers', 'teenagers',
  'fans of the director', 'people who grew up in the eighties', 'students of film', 'my colleagues at work',
  'anyone who reads the book', 'first time viewers'];
const INTENSIFIERS = ['very ', 'really ', 'quite ', 'rather ', 'so ', 'simply ', 'absolutely ', 'totally ',
  'fairly ', 'somewhat ', 'incredibly ', 'extremely '];
const OPINION = ['I think', 'In my opinion,', 'To me,', 'I have to say', 'I must say', 'Frankly,', 'For me,',
  'As far as I am concerned,', 'To be honest,'];
const WHEN = ['from start to finish', 'the whole time', 'after the first ten minutes', 'by the end',
  'throughout', 'almost at once', 'in the second half', 'more than once'];
const VIEWERS = ['the viewer', 'me', 'the audience', 'everyone', 'us', 'the whole family'];

// ---------------------------------------------------------------------------------------------
// The sentiment vocabulary, checked against VADER

export interface SentimentVocabulary {
  /** Every positive word the generator can write, sorted. */
  positive: string[];
  /** Every negative word the generator can write, sorted. */
  negative: string[];
  /** Their VADER valences. */
  valence: ReadonlyMap<string, number>;
}

let vocabCache: SentimentVocabulary | null = null;

/** The sentiment words of the generator, each checked to be a VADER word of its sign, |valence| >= 1. */
export function sentimentVocabulary(): SentimentVocabulary {
  if (vocabCache) return vocabCache;
  const lex = readVaderLexicon();
  const lists: [string[], string[]][] = [ADJECTIVES, NOUNS, QUALITY_NOUNS, VERBS_PAST, FEELINGS, ADVERBS, PHRASE_WORDS,
    [VERBS_3[0].flat(), VERBS_3[1].flat()]];
  const pos = new Set<string>();
  const neg = new Set<string>();
  const valence = new Map<string, number>();
  for (const [p, n] of lists) {
    for (const [words, sign, set] of [[p, 1, pos], [n, -1, neg]] as const) {
      for (const w of words) {
        const v = lex.get(w);
        if (v === undefined || v * sign < 1 || !/^[a-z]+$/.test(w)) {
          throw new Error(`rewardlens: synthetic-reviews vocabulary: "${w}" should be an alphabetic VADER word with valence ${sign > 0 ? '>= 1' : '<= -1'} but ${v === undefined ? 'is not in the lexicon' : `has ${v}`}`);
        }
        set.add(w);
        valence.set(w, v);
      }
    }
  }
  vocabCache = { positive: [...pos].sort(), negative: [...neg].sort(), valence };
  return vocabCache;
}

// ---------------------------------------------------------------------------------------------
// The generator

/** 32-bit FNV-1a of a string: the seed of one split's stream. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const article = (word: string) => (/^[aeiou]/i.test(word) ? 'an' : 'a');
const wordCount = (s: string) => s.split(/\s+/).filter((w) => /\w/.test(w)).length;

/** One review's drawing state: the stream, the label's sign and the tone. */
class Writer {
  /** 0 for the label's sentiment expressed with its own words, 1 for the other. */
  private readonly tone: number;

  constructor(private readonly rnd: () => number, readonly sign: 1 | -1) {
    this.tone = 0.65 + 0.3 * rnd();
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.rnd() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rnd() * list.length)];
  }

  /** The sentiment one slot expresses: the label's with probability tone. */
  s(): 1 | -1 {
    return this.rnd() < this.tone ? this.sign : (-this.sign as 1 | -1);
  }

  word<T>(lists: [T[], T[]], s: 1 | -1): T {
    return this.pick(lists[s > 0 ? 0 : 1]);
  }

  adj(s: 1 | -1): string {
    return this.word(ADJECTIVES, s);
  }

  intens(): string {
    return this.chance(0.35) ? this.pick(INTENSIFIERS) : '';
  }

  name(): string {
    return `${this.pick(FIRST_NAMES)} ${this.pick(LAST_NAMES)}`;
  }

  title(): string {
    return this.chance(0.7) ? `The ${this.pick(TITLE_FIRST)} ${this.pick(TITLE_SECOND)}` : `${this.pick(TITLE_FIRST)} ${this.pick(TITLE_SECOND)}`;
  }

  film(): string {
    return this.pick(FILM);
  }

  aspect(): [string, boolean] {
    return this.pick(ASPECTS);
  }

  /** A clause judging one aspect with sentiment s ("the acting was not good" for s = −1, at times). */
  judgement(s: 1 | -1): string {
    const [a, plural] = this.aspect();
    const was = plural ? 'were' : 'was';
    const is = plural ? 'are' : 'is';
    const r = this.rnd();
    if (r < 0.12) return `the ${a} ${was} not ${this.intens() === '' ? '' : 'very '}${this.adj(-s as 1 | -1)}`;
    if (r < 0.45) return `the ${a} ${was} ${this.intens()}${this.adj(s)}`;
    if (r < 0.6) return `the ${a} ${is} ${this.intens()}${this.adj(s)}`;
    if (r < 0.7) return `the ${a} felt ${this.adj(s)}`;
    if (r < 0.8) return `${this.name()} is ${this.adj(s)} as the ${this.pick(ROLES)}`;
    if (r < 0.9) {
      const adj = this.adj(s);
      return `${this.name()} gives ${article(adj)} ${adj} performance as the ${this.pick(ROLES)}`;
    }
    return `the ${this.film()} was ${this.pick(ADVERBS[s > 0 ? 0 : 1])} ${this.pick(CRAFT)}`;
  }

  opening(): string {
    switch (this.int(0, 9)) {
      case 0: return `I watched ${this.title()} ${this.pick(TIMES)}.`;
      case 1: return `${this.title()} is a ${this.int(1950, 2022)} ${this.pick(GENRES)} directed by ${this.name()}.`;
      case 2: return `I saw this ${this.film()} with ${this.pick(COMPANY)} ${this.pick(TIMES)}.`;
      case 3: return `I had heard a lot about this ${this.film()} before I finally saw it.`;
      case 4: return `This is the ${this.pick(['first', 'second', 'third', 'fourth'])} ${this.film()} by ${this.name()} that I have seen.`;
      case 5: return `${this.title()} came out in ${this.int(1950, 2022)}, and I saw it ${this.pick(TIMES)}.`;
      case 6: {
        const adj = this.adj(this.s());
        return `This ${this.film()} is ${this.intens()}${adj}.`;
      }
      case 7: {
        const n = this.word(NOUNS, this.s());
        return `What ${article(n)} ${n}!`;
      }
      case 8: return `${cap(this.judgement(this.s()))}.`;
      default: return `I rented ${this.title()} because ${this.pick(COMPANY)} asked me to.`;
    }
  }

  body(): string {
    switch (this.int(0, 21)) {
      case 0: case 1: case 2: return `${cap(this.judgement(this.s()))}.`;
      case 3: return `${cap(this.judgement(this.s()))}, and ${this.judgement(this.s())}.`;
      case 4: {
        const s = this.s();
        return `${cap(this.judgement(-s as 1 | -1))}, but ${this.judgement(s)}.`;
      }
      case 5: {
        const s = this.s();
        return `Although ${this.judgement(-s as 1 | -1)}, ${this.judgement(s)}.`;
      }
      case 6: {
        const a = this.adj(this.s());
        const [asp, plural] = this.aspect();
        const b = this.adj(this.s());
        return `It is ${article(a)} ${a} ${this.pick(GENRES)} with ${plural ? 'some' : article(b)} ${b} ${asp}.`;
      }
      case 7: {
        const n = this.word(NOUNS, this.s());
        return `${this.pick(OPINION)} this ${this.film()} is ${article(n)} ${n}.`;
      }
      case 8: {
        const v = this.word(VERBS_PAST, this.s());
        return `I ${v} ${this.pick(['every minute of it', 'the way it ends', 'this one', 'the whole thing', `the ${this.aspect()[0]}`, 'it'])}.`;
      }
      case 9: {
        const [a, plural] = this.aspect();
        const v = this.word(VERBS_3, this.s());
        return `The ${a} ${plural ? v[1] : v[0]} ${this.pick(VIEWERS)} ${this.pick(WHEN)}.`;
      }
      case 10: return `I was ${this.intens()}${this.word(FEELINGS, this.s())} ${this.pick(WHEN)}.`;
      case 11: return `It is ${this.pick(ADVERBS[this.s() > 0 ? 0 : 1])} ${this.pick(CRAFT)}${this.chance(0.5) ? ` and ${this.pick(ADVERBS[this.s() > 0 ? 0 : 1])} ${this.pick(CRAFT)}` : ''}.`;
      case 12: return `The ${this.word(QUALITY_NOUNS, this.s())} of the ${this.aspect()[0]} is what stays with me.`;
      case 13: return `The story follows ${this.roleA()} who ${this.pick(PLOTS)} in ${this.pick(PLACES)}.`;
      case 14: return `${this.name()} stars as ${this.roleA()} who ${this.pick(PLOTS)}.`;
      case 15: return `Most of the ${this.film()} takes place in ${this.pick(PLACES)}, around ${this.int(1920, 2020)}.`;
      case 16: return `Along the way, the ${this.pick(ROLES)} meets ${this.roleA()} and ${this.pick(PLOTS)}.`;
      case 17: return `It was directed by ${this.name()} and written by ${this.name()}.`;
      case 18: return `The cast includes ${this.name()}, ${this.name()} and ${this.name()}.`;
      case 19: return `The ${this.film()} runs about ${this.int(80, 180)} minutes${this.chance(0.5) ? `, and ${this.judgement(this.s())}` : ''}.`;
      case 20: {
        const s = this.s();
        return `${this.pick(OPINION)} the ${this.aspect()[0]} ${this.pick(['could have been', 'should have been', 'might have been'])} ${this.adj(-s as 1 | -1)}, but ${this.judgement(s)}.`;
      }
      default: {
        const a = this.adj(this.s());
        return `The ${this.pick(ROLES)} is portrayed by ${this.name()}, who is ${this.intens()}${a} in the part.`;
      }
    }
  }

  /** A body sentence, sometimes with a second judgement joined on. */
  bodyLong(): string {
    const s = this.body();
    if (!s.endsWith('.') || !this.chance(0.3)) return s;
    return `${s.slice(0, -1)}, ${this.pick(['and', 'while', 'and yet', 'although', 'because'])} ${this.judgement(this.s())}.`;
  }

  closing(): string {
    const s = this.s();
    switch (this.int(0, 8)) {
      case 0: case 1: return `I give it ${this.score()} out of 10.`;
      case 2: return `${this.score()}/10.`;
      case 3: return `Overall, it is ${this.aAdj(s)} ${this.film()}.`;
      case 4: return s > 0
        ? `I would recommend it to ${this.pick(AUDIENCES)}.`
        : `I would not recommend it to ${this.pick(AUDIENCES)}.`;
      case 5: return `In the end, ${this.judgement(s)}.`;
      case 6: return s > 0 ? `See it ${this.pick(['if you can', 'on a big screen', 'with someone you know', 'soon'])}!` : `Do not waste your time with this one.`;
      case 7: {
        const n = this.word(NOUNS, s);
        return `All in all, ${article(n)} ${n}.`;
      }
      default: return `${cap(this.aAdj(s))} ${this.film()}${this.chance(0.5) ? '!' : '.'}`;
    }
  }

  private aAdj(s: 1 | -1): string {
    const a = this.adj(s);
    return `${article(a)} ${a}`;
  }

  private roleA(): string {
    const r = this.pick(ROLES);
    return `${article(r)} ${r}`;
  }

  /** A rating that follows the label (not the tone): 6–10 positive, 1–5 negative. */
  private score(): number {
    return this.sign > 0 ? this.int(6, 10) : this.int(1, 5);
  }
}

/** Bounds on a review's words. */
const MIN_WORDS = 40;
const MAX_WORDS = 200;

function writeReview(w: Writer): string {
  const sentences = w.int(3, 10);
  const out = [w.opening()];
  let words = wordCount(out[0]);
  const closing = w.closing();
  const closingWords = wordCount(closing);
  // Body sentences until the planned number (closing included) is reached and the review has at
  // least 40 words; never past 10 sentences or 200 words.
  while (out.length + 1 < 10 && (out.length + 1 < sentences || words + closingWords < MIN_WORDS)) {
    const s = w.bodyLong();
    const n = wordCount(s);
    if (words + n + closingWords > MAX_WORDS) break;
    out.push(s);
    words += n;
  }
  out.push(closing);
  return out.join(' ');
}

/**
 * The first `count` reviews of one split of the synthetic corpus for `seed` (a generator: the
 * reviews are made as they are taken). Labels come in pairs (one of each, in random order), so an
 * even count is exactly balanced.
 */
export function* syntheticReviews(split: CorpusSplit, count: number, seed: number = SYNTHETIC_DEFAULTS.seed): Generator<ReviewRecord> {
  if (split !== 'train' && split !== 'test') throw new TypeError(`Expected "train" or "test" for split but received ${JSON.stringify(split)}`);
  checkInt(count, 'count', 0);
  checkInt(seed, 'seed', 0);
  sentimentVocabulary(); // checks the word lists once
  const rnd = mulberry32(hash32(`rewardlens-synthetic-reviews:v${SYNTHETIC_GENERATOR_VERSION}:${seed}:${split}`));
  let pairFirst: 0 | 1 = 0;
  for (let i = 0; i < count; i++) {
    let label: 0 | 1;
    if (i % 2 === 0) {
      pairFirst = rnd() < 0.5 ? 0 : 1;
      label = pairFirst;
    } else {
      label = (1 - pairFirst) as 0 | 1;
    }
    yield { text: writeReview(new Writer(rnd, label === 1 ? 1 : -1)), label };
  }
}

export interface SyntheticCorpusOptions {
  seed?: number;
  train?: number;
  test?: number;
}

/** Write train.jsonl and test.jsonl of the synthetic corpus into `dir` (each file atomically). */
export async function writeSyntheticCorpus(dir: string, opts: SyntheticCorpusOptions = {}): Promise<{ train: string; test: string; counts: { train: number; test: number }; seed: number }> {
  const seed = checkInt(opts.seed ?? SYNTHETIC_DEFAULTS.seed, 'seed', 0);
  const train = checkInt(opts.train ?? SYNTHETIC_DEFAULTS.train, 'train', 0);
  const test = checkInt(opts.test ?? SYNTHETIC_DEFAULTS.test, 'test', 0);
  const files = corpusFiles(dir);
  await writeJsonl(files.train, syntheticReviews('train', train, seed));
  await writeJsonl(files.test, syntheticReviews('test', test, seed));
  return { ...files, counts: { train, test }, seed };
}

/** Lower-cased alphabetic words of a text (the words the VADER utility looks up). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+/g) ?? [];
}
