"""Train the example's sentiment classifier: a tiny BERT on short generated reviews.

Deterministic: the sentences come from fixed word lists, the split and the weights from fixed
seeds, and training runs on one CPU thread with torch's deterministic algorithms. Same versions
(requirements.txt), same files in model/. Run from this directory: `python train.py`.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

SEED = 13
LABELS = ("negative", "positive")
MAX_LENGTH = 32
OUT = Path(__file__).resolve().parent / "model"

SUBJECTS = (
    "the movie",
    "this film",
    "the plot",
    "the acting",
    "the soundtrack",
    "this product",
    "the service",
    "the food",
    "the hotel",
    "this book",
    "the battery",
    "the screen",
)
POSITIVE = (
    "great",
    "wonderful",
    "excellent",
    "amazing",
    "delightful",
    "brilliant",
    "superb",
    "fantastic",
    "lovely",
    "enjoyable",
)
NEGATIVE = (
    "terrible",
    "awful",
    "boring",
    "dreadful",
    "horrible",
    "disappointing",
    "poor",
    "bad",
    "annoying",
    "useless",
)
TEMPLATES = (
    "{subject} was {word}",
    "{subject} is {word}",
    "i found {subject} {word}",
    "honestly {subject} was really {word}",
    "{subject} felt {word} to me",
)
SPECIAL = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]"}


def dataset() -> list[tuple[str, int]]:
    rows = []
    for label, words in enumerate((NEGATIVE, POSITIVE)):
        for subject, word, template in itertools.product(SUBJECTS, words, TEMPLATES):
            rows.append((template.format(subject=subject, word=word), label))
    random.Random(SEED).shuffle(rows)
    return rows


def tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer built from the training text: no vocabulary from any hub."""
    words = sorted({word for text in texts for word in text.split()})
    vocab = {token: index for index, token in enumerate([*SPECIAL.values(), *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL["unk"]))
    backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("removed")]
    )
    backend.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL['cls']} $A {SPECIAL['sep']}",
        special_tokens=[
            (SPECIAL["cls"], vocab[SPECIAL["cls"]]),
            (SPECIAL["sep"], vocab[SPECIAL["sep"]]),
        ],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=MAX_LENGTH,
        pad_token=SPECIAL["pad"],
        unk_token=SPECIAL["unk"],
        cls_token=SPECIAL["cls"],
        sep_token=SPECIAL["sep"],
    )


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rows = dataset()
    held_out = len(rows) // 4
    test, train = rows[:held_out], rows[held_out:]
    tok = tokenizer([text for text, _ in train])
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
        pad_token_id=tok.pad_token_id,
    )
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    order = random.Random(SEED)
    for _ in range(8):
        model.train()
        order.shuffle(train)
        for start in range(0, len(train), 32):
            chunk = train[start : start + 32]
            batch = tok([t for t, _ in chunk], padding=True, return_tensors="pt")
            loss = model(**batch, labels=torch.tensor([label for _, label in chunk])).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.inference_mode():
        batch = tok([t for t, _ in test], padding=True, return_tensors="pt")
        predicted = model(**batch).logits.argmax(-1).tolist()
    accuracy = sum(p == label for p, (_, label) in zip(predicted, test, strict=True)) / len(test)
    print(f"{len(train)} training sentences, {len(test)} held out: accuracy {accuracy:.3f}")

    OUT.mkdir(exist_ok=True)
    model.save_pretrained(OUT)
    tok.save_pretrained(OUT)
    metadata = {
        "format_version": 1,
        "name": "sentiment",
        "version": "1.0.0",
        "framework": "transformers",
        "artifact": "config.json",
        "features": [{"name": "text", "type": "str"}],
        "labels": list(LABELS),
        "metrics": {"held_out_accuracy": round(accuracy, 4)},
        "training": {"sentences": len(train), "seed": SEED, "torch": torch.__version__},
    }
    (OUT / "model.json").write_text(json.dumps(metadata, indent=2) + "\n")


if __name__ == "__main__":
    main()
