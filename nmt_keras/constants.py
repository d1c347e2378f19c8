"""Named constants shared by every module: special tokens, their ids, numeric sentinels.

The vocabulary of every `TextVectorization` built by `nmt_keras.data.text` starts with the
four special tokens below, in this order, so their ids are the same for every model:

    id 0  ""         padding (Keras' mask token; `Embedding(mask_zero=True)` masks it)
    id 1  "[UNK]"    any word not in the vocabulary
    id 2  "[START]"  first decoder input, and prepended to every source sentence
    id 3  "[END]"    last decoder target, and appended to every source sentence
"""

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
