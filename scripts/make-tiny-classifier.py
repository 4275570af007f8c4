"""Make test/fixtures/tiny-distilbert-imdb/: a tiny DistilBERT sequence classifier in the layout
lvwerra/distilbert-imdb has once converted for transformers.js (config.json, tokenizer.json,
tokenizer_config.json, special_tokens_map.json, vocab.txt, onnx/model.onnx), plus reference.json
with the token ids and logits PyTorch computed for a few sentences.

Run once from the repository root (Debian's python3-torch 1.13; transformers is not needed):

    /usr/bin/python3 scripts/make-tiny-classifier.py

The model below is written here in the shape of transformers' DistilBertForSequenceClassification
(parameter names and forward pass): embeddings (word + learned position, LayerNorm), n_layers
blocks of multi-head self-attention (q_lin, k_lin, v_lin, out_lin; post-norm sa_layer_norm) and an
erf-GELU feed-forward (lin1, lin2; output_layer_norm), then pre_classifier + ReLU + classifier on
the first ([CLS]) position. Weights are seeded random draws, scaled so the two logits differ clearly
from text to text. torch.onnx.export in 1.13 serialises the graph itself: the `onnx` Python package
is not needed (it is absent here) because the exported file is not checked with it.

The tokenizer is BERT's uncased WordPiece over a small vocabulary (special tokens, single letters
and digits with their ## continuations so every ASCII word can be spelled, punctuation, and a few
hundred common review words); the same normalisation, pre-tokenisation and greedy longest-match
WordPiece are implemented below to produce the ids PyTorch is fed.
"""
import json
import math
import os
import unicodedata

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'tiny-distilbert-imdb')

DIM, N_HEADS, HIDDEN, N_LAYERS, MAX_POS = 32, 4, 64, 2, 512
SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
WORDS = """
the a an and or but not no nor so too very really quite just only also even still yet
i me my we our you your he him his she her it its they them their this that these those there here
is are was were be been being am do does did done have has had having will would can could should may might must
of to in on at by for with from about as into over after before under between through during without again
movie movies film films story plot acting actor actors actress cast director script scene scenes ending
character characters music score effects camera time times year years people man woman life world
good great best better excellent amazing wonderful brilliant superb fantastic perfect beautiful lovely fun funny
enjoy enjoyed love loved like liked favorite masterpiece charming touching moving fresh clever smart strong
bad worst worse terrible awful horrible boring dull poor weak stupid waste wasted mess hate hated disappointing
disappointed annoying ugly sad slow predictable pointless lame cheap fake
watch watched watching see saw seen look looked make made makes making think thought feel felt know knew
one two three ten first last long short new old whole every all some many much more most less least
well never ever always nothing something anything everything plenty enough lot lots bit
""".split()
PUNCT = list('.,!?;:\'"()-/&*')
LETTERS = list('abcdefghijklmnopqrstuvwxyz0123456789')


def build_vocab():
    vocab = []
    for tok in SPECIALS + PUNCT + LETTERS + ['##' + c for c in LETTERS] + WORDS + ['##s', '##ed', '##ing', '##ly', "##n't"]:
        if tok not in vocab:
            vocab.append(tok)
    return {tok: i for i, tok in enumerate(vocab)}


VOCAB = build_vocab()


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith('P')


def bert_tokenize(text):
    """BertNormalizer(lowercase, strip accents) + BertPreTokenizer + WordPiece, as tokenizers does."""
    cleaned = []
    for ch in text:
        if ch.isspace():
            cleaned.append(' ')
        elif ord(ch) not in (0, 0xFFFD) and unicodedata.category(ch) not in ('Cc', 'Cf'):
            cleaned.append(ch)
    text = ''.join(cleaned)
    text = unicodedata.normalize('NFD', text.lower())
    text = ''.join(ch for ch in text if unicodedata.category(ch) != 'Mn')
    words = []
    for chunk in text.split():
        cur = ''
        for ch in chunk:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                    cur = ''
                words.append(ch)
            else:
                cur += ch
        if cur:
            words.append(cur)
    pieces = []
    for w in words:
        if len(w) > 100:
            pieces.append('[UNK]')
            continue
        start, sub = 0, []
        while start < len(w):
            end, found = len(w), None
            while start < end:
                cand = w[start:end] if start == 0 else '##' + w[start:end]
                if cand in VOCAB:
                    found = cand
                    break
                end -= 1
            if found is None:
                sub = ['[UNK]']
                break
            sub.append(found)
            start = end
        pieces.extend(sub)
    return pieces


def encode(text, max_length=MAX_POS):
    pieces = bert_tokenize(text)[: max_length - 2]
    return [VOCAB['[CLS]']] + [VOCAB[p] for p in pieces] + [VOCAB['[SEP]']]


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(DIM, DIM) for _ in range(4))

    def forward(self, x, mask):
        b, t, _ = x.shape
        hd = DIM // N_HEADS
        split = lambda y: y.view(b, t, N_HEADS, hd).transpose(1, 2)
        q = split(self.q_lin(x)) / math.sqrt(hd)
        k, v = split(self.k_lin(x)), split(self.v_lin(x))
        scores = q @ k.transpose(2, 3)
        keep = (mask != 0).view(b, 1, 1, t)
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.out_lin(ctx.transpose(1, 2).reshape(b, t, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.sa_layer_norm = nn.LayerNorm(DIM, eps=1e-12)
        self.ffn = nn.Module()
        self.ffn.lin1, self.ffn.lin2 = nn.Linear(DIM, HIDDEN), nn.Linear(HIDDEN, DIM)
        self.output_layer_norm = nn.LayerNorm(DIM, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        ff = self.ffn.lin2(nn.functional.gelu(self.ffn.lin1(sa)))
        return self.output_layer_norm(ff + sa)


class TinyDistilBertForSequenceClassification(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab_size, DIM, padding_idx=0)
        self.embeddings.position_embeddings = nn.Embedding(MAX_POS, DIM)
        self.embeddings.LayerNorm = nn.LayerNorm(DIM, eps=1e-12)
        self.layers = nn.ModuleList(Block() for _ in range(N_LAYERS))
        self.pre_classifier = nn.Linear(DIM, DIM)
        self.classifier = nn.Linear(DIM, 2)

    def forward(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        pos = torch.arange(t, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        emb = self.embeddings
        x = emb.LayerNorm(emb.word_embeddings(input_ids) + emb.position_embeddings(pos))
        for layer in self.layers:
            x = layer(x, attention_mask)
        pooled = torch.relu(self.pre_classifier(x[:, 0]))
        return self.classifier(pooled)


SENTENCES = [
    'This movie was great!',
    'A terrible, boring film. I hated every minute of it.',
    "I don't think the plot made any sense, but the music was lovely and the acting superb.",
    'Wonderful',
    'MEH... zyzzyva qwerty the ending was predictable & the effects were cheap.',
    'The cast is strong, the script is smart, and the director knew exactly what to do with both.',
]
# One text longer than 512 tokens, to check truncation at max_length.
LONG = ' '.join(['good movie'] * 300) + ' but the ending was awful'


def main():
    torch.manual_seed(20240611)
    model = TinyDistilBertForSequenceClassification(len(VOCAB))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layer_norm' in name or 'LayerNorm' in name:
                continue
            p.normal_(0.0, 0.35 if p.dim() > 1 else 0.1)
    model.eval()
    os.makedirs(os.path.join(OUT, 'onnx'), exist_ok=True)

    refs = []
    with torch.no_grad():
        for text in SENTENCES + [LONG]:
            ids = encode(text)
            logits = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
            refs.append({'text': text, 'input_ids': ids, 'logits': [float(v) for v in logits]})
        # The same texts as one right-padded batch must give the same logits (padding is masked).
        width = max(len(r['input_ids']) for r in refs)
        ids = torch.tensor([r['input_ids'] + [0] * (width - len(r['input_ids'])) for r in refs])
        mask = torch.tensor([[1] * len(r['input_ids']) + [0] * (width - len(r['input_ids'])) for r in refs])
        batched = model(ids, mask)
        single = torch.tensor([r['logits'] for r in refs])
        assert torch.allclose(batched, single, atol=1e-5), (batched, single)

    example = torch.tensor([refs[1]['input_ids']])
    torch.onnx.export(
        model,
        (example, torch.ones_like(example)),
        os.path.join(OUT, 'onnx', 'model.onnx'),
        input_names=['input_ids', 'attention_mask'],
        output_names=['logits'],
        dynamic_axes={'input_ids': {0: 'batch', 1: 'sequence'}, 'attention_mask': {0: 'batch', 1: 'sequence'}, 'logits': {0: 'batch'}},
        opset_version=14,
        do_constant_folding=True,
    )

    inv = sorted(VOCAB.items(), key=lambda kv: kv[1])
    config = {
        'architectures': ['DistilBertForSequenceClassification'],
        'model_type': 'distilbert',
        'activation': 'gelu',
        'dim': DIM,
        'hidden_dim': HIDDEN,
        'n_heads': N_HEADS,
        'n_layers': N_LAYERS,
        'vocab_size': len(VOCAB),
        'max_position_embeddings': MAX_POS,
        'sinusoidal_pos_embds': False,
        'pad_token_id': 0,
        'dropout': 0.1,
        'attention_dropout': 0.1,
        'seq_classif_dropout': 0.2,
        'initializer_range': 0.02,
        'id2label': {'0': 'NEGATIVE', '1': 'POSITIVE'},
        'label2id': {'NEGATIVE': 0, 'POSITIVE': 1},
        'problem_type': 'single_label_classification',
        'torch_dtype': 'float32',
    }
    special = lambda tok: {'content': tok, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False, 'special': True}
    tokenizer = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [{'id': VOCAB[t], **special(t)} for t in SPECIALS],
        'normalizer': {'type': 'BertNormalizer', 'clean_text': True, 'handle_chinese_chars': True, 'strip_accents': None, 'lowercase': True},
        'pre_tokenizer': {'type': 'BertPreTokenizer'},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': '[CLS]', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}, {'SpecialToken': {'id': '[SEP]', 'type_id': 0}}],
            'pair': [
                {'SpecialToken': {'id': '[CLS]', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}, {'SpecialToken': {'id': '[SEP]', 'type_id': 0}},
                {'Sequence': {'id': 'B', 'type_id': 1}}, {'SpecialToken': {'id': '[SEP]', 'type_id': 1}},
            ],
            'special_tokens': {t: {'id': t, 'ids': [VOCAB[t]], 'tokens': [t]} for t in ('[CLS]', '[SEP]')},
        },
        'decoder': {'type': 'WordPiece', 'prefix': '##', 'cleanup': True},
        'model': {'type': 'WordPiece', 'unk_token': '[UNK]', 'continuing_subword_prefix': '##', 'max_input_chars_per_word': 100, 'vocab': VOCAB},
    }
    tokenizer_config = {
        'tokenizer_class': 'DistilBertTokenizer',
        'do_lower_case': True,
        'model_max_length': MAX_POS,
        'clean_up_tokenization_spaces': True,
        'strip_accents': None,
        'tokenize_chinese_chars': True,
        'unk_token': '[UNK]', 'sep_token': '[SEP]', 'pad_token': '[PAD]', 'cls_token': '[CLS]', 'mask_token': '[MASK]',
    }
    special_tokens_map = {'unk_token': '[UNK]', 'sep_token': '[SEP]', 'pad_token': '[PAD]', 'cls_token': '[CLS]', 'mask_token': '[MASK]'}

    def dump(name, obj):
        with open(os.path.join(OUT, name), 'w') as f:
            json.dump(obj, f, indent=1 if name != 'tokenizer.json' else None, ensure_ascii=False)
            f.write('\n')

    dump('config.json', config)
    dump('tokenizer.json', tokenizer)
    dump('tokenizer_config.json', tokenizer_config)
    dump('special_tokens_map.json', special_tokens_map)
    with open(os.path.join(OUT, 'vocab.txt'), 'w') as f:
        f.write(''.join(tok + '\n' for tok, _ in inv))
    dump('reference.json', {
        'note': 'logits computed by PyTorch (scripts/make-tiny-classifier.py) for each text alone; input_ids as PyTorch was fed them',
        'max_length': MAX_POS,
        'labels': ['NEGATIVE', 'POSITIVE'],
        'cases': refs,
    })
    print('vocab', len(VOCAB), 'written to', os.path.normpath(OUT))
    for r in refs:
        print(len(r['input_ids']), r['logits'], r['text'][:60])


if __name__ == '__main__':
    main()
