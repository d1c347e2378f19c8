"""From a trained model to text: the `Translator`, its searches and the SavedModel export.

    translator.py    Translator: vectorizers + Seq2Seq + detokenizer; translate()
    search.py        greedy search and sampling (token ids in, token ids out)
    beam_search.py   batched beam search with the GNMT length penalty
    export.py        a SavedModel serving text in, text out
"""
