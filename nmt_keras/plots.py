"""Attention heatmaps (matplotlib, saved as PNG or shown). The training curves are
`nmt_keras.training.train.plot_history`."""

import pathlib

import matplotlib.pyplot as plt
import numpy as np

# Figure size grows with the sentence: inches per token, within these bounds.
_INCHES_PER_TOKEN = 0.45
_MIN_INCHES = 3.0
_MAX_INCHES = 16.0


def _trim(tokens):
    """Drops "" padding from a token row."""
    return [t for t in tokens if t != ""]


def plot_attention(source_tokens, output_tokens, weights, title=None, ax=None, gold_links=None):
    """Draws one attention matrix: source tokens on x, output tokens on y.

    Args:
        source_tokens: sequence of str, the encoder's tokens (`[START]` ... `[END]`);
            "" padding is dropped.
        output_tokens: sequence of str, the decoder's outputs; "" padding is dropped.
            Pass the `[END]` step as "[END]" to show where attention went when stopping.
        weights: `(target_len, source_len)` array; trimmed to the tokens given.
        title: optional str.
        ax: optional matplotlib Axes to draw into; a new figure otherwise.
        gold_links: optional iterable of `(source_position, output_position)` in the
            plotted token positions (so `[START]` is source position 0); each is
            outlined with a red square, to compare attention with the true alignment.

    Returns:
        The matplotlib Figure.
    """
    source_tokens = _trim(source_tokens)
    output_tokens = _trim(output_tokens)
    weights = np.asarray(weights)[: len(output_tokens), : len(source_tokens)]
    if ax is None:
        width = np.clip(_INCHES_PER_TOKEN * len(source_tokens) + 1.5, _MIN_INCHES, _MAX_INCHES)
        height = np.clip(_INCHES_PER_TOKEN * len(output_tokens) + 1.0, _MIN_INCHES, _MAX_INCHES)
        ax = plt.subplots(figsize=(width, height))[1]
    fig = ax.figure
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=90)
    ax.set_yticks(range(len(output_tokens)), output_tokens)
    for source_position, output_position in gold_links or ():
        ax.add_patch(
            plt.Rectangle(
                (source_position - 0.5, output_position - 0.5), 1, 1,
                fill=False, edgecolor="red", linewidth=1.5,
            )
        )
    ax.set_xlabel("source tokens")
    ax.set_ylabel("output tokens")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    fig.tight_layout()
    return fig


def translation_heatmap(result, index=0, title=None, gold_links=None):
    """Heatmap of sentence `index` of a `Translator.translate` result, [END] included."""
    tokens = _trim(result["tokens"][index])
    if len(tokens) < result["attention"].shape[1]:
        tokens.append("[END]")  # the step that chose to stop
    # plot_attention keeps the attention rows of the tokens given.
    return plot_attention(
        result["source_tokens"][index], tokens, result["attention"][index], title=title, gold_links=gold_links
    )


def save(fig, path):
    """Writes a figure as PNG and closes it."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def write_heatmaps(sentences, results, directory, first=1):
    """Writes `attention_<n>.png` into `directory` for the n-th sentence (from `first`),
    source tokens on x and output tokens on y; empty or blank sentences get none.

    Args:
        sentences: list of str.
        results: one `Translator.translate` result dict per sentence (as
            `translate_batches` returns them).
        first: int. The number of the first sentence (a later chunk of a stream).

    Returns:
        how many files were written.
    """
    written = 0
    for number, (sentence, result) in enumerate(zip(sentences, results), start=first):
        if not sentence.strip():
            continue
        one = {key: np.asarray(result[key])[None] for key in ("tokens", "source_tokens", "attention")}
        figure = translation_heatmap(one, title=f"{sentence}\n-> {result['text']}")
        save(figure, pathlib.Path(directory) / f"attention_{number}.png")
        written += 1
    return written
