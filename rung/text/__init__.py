"""rung/text: a CSV of texts and a label or score -> a fine-tuned transformer (lesson 4).

fields (columns -> one input per row), tokenizer (Hugging Face ``tokenizers``, carried in the
model file), target (task, classes, range), data (clean, split, tokenize, max_len), loader
(length-bucketed, dynamically padded batches), models (``hf_text``), train (``train_text``),
predict (``TextPredictor``, no training code), interpret (top losses as text), cli.
"""
