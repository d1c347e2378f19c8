"""Named constants shared by every module: special tokens, numeric sentinels, corpus
size limits, the sha256 format, and the names each option accepts. Pure Python:
importing it loads no TensorFlow.

The vocabulary of every vectorizer built by `nmt_keras.data.tokenizers` starts with the
four special tokens below, in this order, so their ids are the same for every model:

    id 0  ""         padding (Keras' mask token; `Embedding(mask_zero=True)` masks it)
    id 1  "[UNK]"    any word not in the vocabulary
    id 2  "[START]"  first decoder input, and prepended to every source sentence
    id 3  "[END]"    last decoder target, and appended to every source sentence
"""

import re

PAD_TOKEN = ""
UNK_TOKEN = "[UNK]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, START_TOKEN, END_TOKEN)

PAD_ID = 0
UNK_ID = 1
START_ID = 2
END_ID = 3
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)

# Added to attention scores at padded source positions before the softmax. Large enough
# that exp(NEG_INF - max) underflows to exactly 0.0 in float32 and float16.
NEG_INF = -1e9

# Sentences translated at once unless told otherwise. Larger batches give each search
# step's matrix products more rows to work on (measured in docs/performance.md,
# "Translation speed"); memory grows with batch size x beam width x source length.
TRANSLATE_BATCH_SIZE = 256

# Corpus size limits are given in MB of 2^20 bytes; `MAX_CORPUS_MB` is the default limit
# of a corpus file, archive member (uncompressed) or download (``--max-corpus-mb``).
BYTES_PER_MB = 1 << 20
MAX_CORPUS_MB = 256

# A sha256 digest as accepted from users: 64 hexadecimal digits, either case.
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")

# --- the names each option accepts (`nmt_keras.config.Config` checks them) ------------

# Attention scores: Bahdanau's additive score, Luong's dot, general and concat scores.
ATTENTION_TYPES = ("bahdanau", "luong-dot", "luong-general", "luong-concat")
# Decoders: Bahdanau's order (attend with s_{t-1}, then update) or Luong's (update, then
# attend with h_t).
DECODERS = ("bahdanau", "luong")
CELLS = ("gru", "lstm")
# How word embeddings start: Keras' uniform in [-0.05, 0.05], or unit-variance normal.
EMBEDDING_INITS = ("uniform", "normal")
# Which implementation runs the GRU, the cross-entropy and Adam (`nmt_keras.fast`):
# Keras' own, the fused CPU kernels, or "auto" (fused when no GPU is visible).
KERNELS = ("auto", "keras", "fused")
TOKENIZERS = ("word", "wordpiece", "char")
# What the tokens keep of the text: everything ("cased": case, accents, how punctuation
# attaches; outputs are text as a person writes it), or the TensorFlow tutorial's
# standardized form ("lower": lower case, no Latin accents, punctuation spaced off).
CASINGS = ("cased", "lower")
SCHEDULES = ("none", "linear", "exponential", "inverse-sigmoid")  # scheduled sampling
LEARNING_RATE_SCHEDULES = ("constant", "linear")
STRATEGIES = ("auto", "tpu", "mirrored", "multi-worker", "default")
PRECISIONS = ("auto", "float32", "mixed")
# CPU flags (Linux /proc/cpuinfo) of bfloat16 matrix units: Intel AMX tiles (Sapphire
# Rapids and later) and AVX512-BF16 (Cooper Lake, Sapphire Rapids, AMD Zen 4).
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
DIRECTIONS = ("to-english", "from-english")
DECODING_METHODS = ("greedy", "sample", "beam")
# Weight quantization of a translator loaded to translate or export (Keras'
# `Model.quantize`): int8 embeddings and Dense kernels; None keeps every weight float.
QUANTIZATION_MODES = ("int8",)
