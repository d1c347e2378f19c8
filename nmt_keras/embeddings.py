"""Word embeddings and the distribution they start from.

    "uniform"  uniform in [-0.05, 0.05], Keras' default (and the TensorFlow tutorial's)
    "normal"   normal with unit variance, like PyTorch's `nn.Embedding` and the
               Transformer's scaled embeddings

"uniform" is the default: on the spa-eng corpus with the tutorial's sizes, 30 minutes of
training reached BLEU 42.1 and 42.5 (two runs) with it against 41.5 with "normal",
whose large random vectors for rare words made the model overfit after three epochs. "normal" is for the
Luong decoder on short runs: with "uniform" the vectors are so short and so alike that
the encoder's annotations barely differ between positions, and the Luong decoder's
attention, whose query never sees where it looked before, can settle on one source
position and stay there; with "normal" it learns to align. `notes/embedding_init.md` has
the measurements behind both statements.
"""

EMBEDDING_INITS = ("uniform", "normal")
# What the encoder, the decoders and `Config` use unless told otherwise.
DEFAULT_EMBEDDING_INIT = "uniform"
# Standard deviation of the "normal" initialization.
NORMAL_STDDEV = 1.0


def check_embedding_init(init):
    if init not in EMBEDDING_INITS:
        raise ValueError(f"unknown embedding initialization {init!r}; choose one of {EMBEDDING_INITS}")
    return init


def make_embedding(vocab_size, embedding_dim, init, name, mask_zero=False):
    """A `keras.layers.Embedding` that starts from `init` (one of `EMBEDDING_INITS`)."""
    import keras  # here, so that `Config` can read the choices without loading TensorFlow

    initializer = {
        "uniform": "uniform",  # Keras' default: RandomUniform(-0.05, 0.05)
        "normal": keras.initializers.RandomNormal(stddev=NORMAL_STDDEV),
    }[check_embedding_init(init)]
    return keras.layers.Embedding(
        vocab_size, embedding_dim, mask_zero=mask_zero, embeddings_initializer=initializer, name=name
    )
