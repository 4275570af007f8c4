// The explainer's and the simulator's prompts, in one place: edit the strings here to change what
// the language model is asked (placeholders in {braces} are filled in by prompt.ts). The
// explanation prompt follows the paper's notebook (method notes, "Explanations and scores"); the
// simulation prompt follows Bills et al. (2023).
export const EXPLAIN_PROMPT = {
  /** The system message. */
  system:
    'We are studying features of a sparse autoencoder trained on the activations of a language model. ' +
    'Each feature looks for some particular thing in a short document. Look at the parts of the document ' +
    'the feature activates for and summarise in a single sentence what the feature is looking for. ' +
    'Do not mention examples of documents or list activation values.',
  /** The user message that describes the record format. */
  format:
    'The activation format is token<tab>activation. Activation values range from 0 to 10. ' +
    'A feature finding what it is looking for is represented by a non-zero activation value; ' +
    'the higher the value, the stronger the match. Records with few non-zero activations list ' +
    'their non-zero token<tab>activation pairs again after the record.',
  /** One user message per shown record: a header line, then the record's token<TAB>activation lines. */
  record: 'Feature {feature}\nTop Activation Example {example}:\n<start>\n{lines}\n<end>',
  /** The final request. */
  request: 'Explain what feature {feature} is looking for, based on its top {count} activation examples above. Reply with one sentence.',
} as const;

export const SIMULATE_PROMPT = {
  system:
    'We are studying features of a sparse autoencoder trained on the activations of a language model. ' +
    'Given an explanation of what a feature looks for, predict how strongly the feature activates on each ' +
    'token of a document, as an integer from 0 (not at all) to 10 (the strongest).',
  /** The document: one token per line, in order. */
  request:
    'Explanation of feature {feature}: {explanation}\n\n' +
    'Document, one token per line:\n<start>\n{tokens}\n<end>\n\n' +
    'Reply with exactly one line per token, in the same order, each as token<tab>activation, and nothing else.',
} as const;
