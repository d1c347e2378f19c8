"""The command line and the whole training run, on tiny data and tiny models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmt_keras import cli
from nmt_keras.cli import EXIT_BAD_INPUT, main
from nmt_keras.config import Config
from nmt_keras.constants import EMBEDDING_INITS

ROOT = Path(__file__).resolve().parents[1]
TINY_SIZES = [
    "--units", "8", "--embedding-dim", "8", "--epochs", "2", "--batch-size", "8",
    "--validation-size", "4", "--test-size", "4", "--seed", "3",
]

ENGLISH = ["the cat", "the dog", "a black cat", "a white dog", "the house", "a big house"]
SPANISH = ["el gato", "el perro", "un gato negro", "un perro blanco", "la casa", "una casa grande"]


@pytest.fixture(scope="module")
def tiny_tsv(tmp_path_factory):
    """48 English<TAB>Spanish lines (the Anki column order), with repeats of 6 pairs."""
    path = tmp_path_factory.mktemp("data") / "tiny.tsv"
    lines = [f"{e} {i}\t{s} {i}" for i in range(8) for e, s in zip(ENGLISH, SPANISH)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(tiny_tsv, tmp_path_factory):
    output = tmp_path_factory.mktemp("model")
    assert main(["train", "--data", str(tiny_tsv), "--output", str(output), *TINY_SIZES]) == 0
    return output


def test_train_writes_a_model_dir_and_a_report(model_dir):
    for name in (
        "config.json", "translator.json", "source_vocab.txt", "target_vocab.txt",
        "model.weights.h5", "report.json", "history.json", "history.png",
        "test_translations.tsv",
    ):
        assert (model_dir / name).is_file(), name
    report = json.loads((model_dir / "report.json").read_text())
    assert report["pairs"]["test"] >= 4 and report["pairs"]["train"] > 0
    assert 0.0 <= report["bleu"] <= 100.0
    assert report["epochs"] == 2 and report["training_steps"] > 0
    assert report["target_tokens_per_second"] > 0
    assert report["direction"] == "column 2 -> English"
    assert not (model_dir / "backup").exists()  # removed once training finished


def test_vocabulary_comes_from_the_training_split_only(model_dir, tiny_tsv):
    from nmt_keras.config import Config
    from nmt_keras.training.train import prepare_data

    config = Config.from_dict(json.loads((model_dir / "config.json").read_text()))
    data = prepare_data(config)
    source_vocab = set((model_dir / "source_vocab.txt").read_text().split())
    train_words = {w for p in data.train for w in p.source.split()}
    test_only = {w for p in data.test for w in p.source.split()} - train_words
    assert source_vocab <= train_words | {"[UNK]"}
    assert not (test_only & source_vocab)


def test_translate_from_arguments(model_dir, capsys):
    assert main(["translate", str(model_dir), "el gato 1", "", "una casa grande 2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1] == ""


def test_translate_takes_flags_between_its_sentences():
    """On every supported Python (3.11's argparse gives a `nargs="*"` positional nothing
    once a flag follows the first positional, unless the parser intermixes)."""
    from nmt_keras.cli import build_parser

    args = build_parser().parse_args(["translate", "m", "--no-unk-replace", "el gato", "1", "--n-best", "2"])
    assert (args.model_dir, args.sentences, args.unk_replace, args.n_best) == ("m", ["el gato", "1"], False, 2)


def test_translate_writes_a_heatmap_per_nonempty_sentence(model_dir, tmp_path, capsys):
    heatmaps = tmp_path / "plots"
    assert main(["translate", str(model_dir), "el gato 1", "", "una casa grande 2", "--heatmaps", str(heatmaps)]) == 0
    assert sorted(p.name for p in heatmaps.iterdir()) == ["attention_1.png", "attention_3.png"]
    for path in heatmaps.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 attention heatmap(s) written" in capsys.readouterr().err


def test_translate_heatmaps_into_an_unusable_directory_is_a_clear_error(model_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(["translate", str(model_dir), "el gato 1", "--heatmaps", str(blocker / "plots")]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith("error: --heatmaps") and "a-file" in error


def test_evaluate_writes_report_json(model_dir, tiny_tsv, tmp_path, capsys):
    # The corpus location comes from evaluate's own flags; the split (seed and sizes)
    # from the model's config.json, so this is the training run's test split.
    assert main(["evaluate", str(model_dir), "--data", str(tiny_tsv), "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    training_report = json.loads((model_dir / "report.json").read_text())
    assert report["split"] == "test" and report["pairs"] == training_report["pairs"]["test"]
    assert report["data"] == training_report["data"]
    assert report["bleu"] == pytest.approx(training_report["bleu"])
    assert "note:" not in capsys.readouterr().err  # the corpus it was trained on


def test_evaluate_says_when_it_scores_another_corpus_than_the_model_was_trained_on(model_dir, tmp_path, capsys):
    assert main(["evaluate", str(model_dir), "--output", str(tmp_path)]) == 0
    note = capsys.readouterr().err
    assert note.startswith("note: the model was trained on ") and "tiny.tsv" in note
    assert "scoring 'synthetic' (--data names the corpus)" in note and note.count("\n") == 1


def test_evaluate_never_takes_the_corpus_location_from_the_model_dir(model_dir, tmp_path):
    """Without --data, evaluate scores the embedded corpus (the default), not the file
    named in config.json; the split sizes are still the model's."""
    assert json.loads((model_dir / "config.json").read_text())["data"].endswith("tiny.tsv")
    assert main(["evaluate", str(model_dir), "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["data"] == "synthetic" and report["pairs"] == 4


def run_module(*args, stdin=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "nmt_keras", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )


def test_translate_reads_stdin_in_a_real_process(model_dir):
    result = run_module("translate", str(model_dir), stdin="el gato 1\nla casa 3\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_bad_data_is_one_clear_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("the cat\tel gato\nno tab on this line\n", encoding="utf-8")
    result = run_module("train", "--data", str(bad), "--output", str(tmp_path / "out"))
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert "bad.tsv" in result.stderr and "line 2" in result.stderr


def test_missing_model_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["translate", str(tmp_path / "nothing"), "hola"]) == EXIT_BAD_INPUT
    assert "model directory not found" in capsys.readouterr().err


def test_bad_settings_are_a_clear_error(tiny_tsv, tmp_path, capsys):
    code = main(["train", "--data", str(tiny_tsv), "--output", str(tmp_path), "--units", "0"])
    assert code == EXIT_BAD_INPUT
    assert "units must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--maxout", "8"], "unrecognized arguments: --maxout 8"),  # now --maxout-units (no abbreviations)
        (["--mixed-precision"], "unrecognized arguments: --mixed-precision"),  # now --precision mixed
        (["--units", "many"], "argument --units: expected int, got 'many'"),
        (["--cell", "rnn"], "argument --cell: invalid choice: 'rnn'"),
        (["--time-budget-s", "60"], "unrecognized arguments: --time-budget-s"),  # now --time-budget (minutes)
    ],
)
def test_argument_errors_are_one_line_with_status_2(args, problem, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--output", str(tmp_path), *args])
    assert exit_info.value.code == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and problem in error, error


NON_DEFAULT_INIT = next(init for init in EMBEDDING_INITS if init != Config().embedding_init)
TOOLKIT_OPTIONS = [
    "--attention", "luong-general", "--decoder", "luong", "--input-feeding", "--cell", "lstm",
    "--encoder-layers", "2", "--reverse-source", "--maxout-units", "8", "--source-prior", "--dropout", "0.1",
    "--label-smoothing", "0.1", "--clipnorm", "1.0", "--scheduled-sampling", "linear",
    "--sampling-decay", "0.01", "--beam-width", "2", "--length-penalty", "0.6",
    "--embedding-init", NON_DEFAULT_INIT,
]


@pytest.fixture(scope="module")
def toolkit_model_dir(tiny_tsv, tmp_path_factory):
    output = tmp_path_factory.mktemp("toolkit")
    code = main(["train", "--data", str(tiny_tsv), "--output", str(output), *TINY_SIZES, *TOOLKIT_OPTIONS])
    assert code == 0
    return output


def test_train_records_every_model_option(toolkit_model_dir):
    settings = json.loads((toolkit_model_dir / "translator.json").read_text())["settings"]
    assert settings["attention"] == "luong-general" and settings["decoder"] == "luong"
    assert settings["input_feeding"] and settings["cell_type"] == "lstm"
    assert settings["encoder_layers"] == 2 and settings["reverse_source"]
    assert settings["maxout_units"] == 8
    assert settings["source_prior"] and settings["scheduled_sampling"] == "linear"
    assert settings["embedding_init"] == NON_DEFAULT_INIT
    report = json.loads((toolkit_model_dir / "report.json").read_text())
    assert report["decoding"] == {"method": "beam", "beam_width": 2, "length_penalty": 0.6, "unk_replace": True, "block_repeats": True}
    assert "sampling_probability" in json.loads((toolkit_model_dir / "history.json").read_text())


def test_translate_decodes_as_evaluated_and_like_the_api(toolkit_model_dir, capsys):
    """The toolkit model was evaluated with beam search (width 2, length penalty 0.6):
    the saved settings make that the default of `translate`, on the command line and
    through `Translator.translate`, which give the same translations."""
    from nmt_keras.inference.translator import translate_all
    from nmt_keras.saving import load_translator

    sentences = [f"{s} {i}" for i, s in enumerate(SPANISH)]
    assert main(["translate", str(toolkit_model_dir), *sentences]) == 0
    by_cli = capsys.readouterr().out.splitlines()
    translator = load_translator(toolkit_model_dir)
    assert translator.config.decoding_settings() == {"beam_width": 2, "length_penalty": 0.6, "unk_replace": True, "block_repeats": True}
    assert translate_all(translator, sentences) == by_cli
    assert translate_all(translator, sentences, method="beam", beam_width=2, length_penalty=0.6,
                         unk_replace=True) == by_cli


def test_translate_prints_by_default_what_the_report_scored(toolkit_model_dir, capsys):
    """test_translations.tsv holds the outputs that report.json scored (beam search,
    `[UNK]` replaced, repeats blocked): `translate` with no decoding flag prints them."""
    rows = [line.split("\t") for line in (toolkit_model_dir / "test_translations.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert rows
    assert main(["translate", str(toolkit_model_dir), *(source for source, _, _ in rows)]) == 0
    assert capsys.readouterr().out.splitlines() == [hypothesis for _, _, hypothesis in rows]


def test_translate_with_beam_n_best_and_sampling(toolkit_model_dir, capsys):
    assert main(["translate", str(toolkit_model_dir), "el gato 1", "--beam-width", "3", "--n-best", "2"]) == 0
    block = capsys.readouterr().out.splitlines()
    assert len(block) == 3 and block[2] == ""  # two "score<TAB>text" lines, then a blank line
    scores = [float(line.split("\t")[0]) for line in block[:2]]
    assert scores[0] >= scores[1]
    assert main(["translate", str(toolkit_model_dir), "el gato 1", "--temperature", "0.7"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    code = main(["translate", str(toolkit_model_dir), "x", "--temperature", "0.7", "--beam-width", "2"])
    assert code == EXIT_BAD_INPUT


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--temperature", "0.7", "--n-best", "2"], "choose either --temperature"),
        (["--length-penalty", "0.6"], "--length-penalty applies to beam search"),
        (["--n-best", "3", "--beam-width", "2"], "--n-best 3 needs --beam-width >= 3"),
    ],
)
def test_translate_option_conflicts_are_one_line_errors(model_dir, args, problem, capsys):
    assert main(["translate", str(model_dir), "el gato 1", *args]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and problem in captured.err, captured.err


def test_evaluate_with_beam_search(toolkit_model_dir, tiny_tsv, tmp_path):
    args = ["evaluate", str(toolkit_model_dir), "--data", str(tiny_tsv), "--beam-width", "3"]
    assert main([*args, "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["decoding"]["method"] == "beam" and report["decoding"]["beam_width"] == 3


def test_impossible_option_combinations_are_clear_errors(tiny_tsv, tmp_path, capsys):
    args = ["train", "--data", str(tiny_tsv), "--output", str(tmp_path)]
    assert main([*args, "--attention", "luong-dot"]) == EXIT_BAD_INPUT
    assert "--no-bidirectional" in capsys.readouterr().err
    assert main([*args, "--input-feeding"]) == EXIT_BAD_INPUT
    assert "input_feeding applies to decoder 'luong' only" in capsys.readouterr().err
    assert main([*args, "--scheduled-sampling", "exponential", "--sampling-decay", "2"]) == EXIT_BAD_INPUT
    assert "needs a sampling_decay in (0, 1), got 2.0" in capsys.readouterr().err
    # --jit-compile alone is fine now: it implies fixed shapes.
    assert Config(jit_compile=True).validate().uses_fixed_shapes


# ----------------------------------------------- TensorFlow's noise and progress lines


@pytest.mark.parametrize(
    "line, noise",
    [
        ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
        ("I0000 00:00:1795756347.235266   12509 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.", True),
        ("E0000 00:00:1795756351.152604   12509 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error", True),
        ("I0000 00:00:1796037035.569653   22413 port.cc:153] oneDNN custom operations are on.", True),
        ("E0000 00:00:1796037802.467758   27613 util.cc:131] oneDNN supports DT_INT64 only on platforms with AVX-512.", True),
        ("To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.", True),
        ("E0000 00:00:1796037802.467758   27613 op_kernel.cc:1840] OP_REQUIRES failed: Out of memory", False),
        ("Traceback (most recent call last):", False),
        ("WARNING: a warning of your own", False),
    ],
)
def test_only_tensorflows_start_up_lines_count_as_noise(line, noise):
    assert cli.is_tensorflow_noise(line) is noise


def test_the_noise_filter_drops_start_up_lines_and_keeps_the_rest():
    program = (
        "import os, time\n"
        "from nmt_keras import cli\n"
        "cli.filter_tensorflow_noise()\n"
        "cli.filter_tensorflow_noise()  # a second call changes nothing\n"
        "os.write(2, b'I0000 00:00:1.2   7 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "os.write(2, b'a real error\\n')\n"
        "time.sleep(0.5)\n"
    )
    process = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert process.returncode == 0
    assert process.stderr == "a real error\n"


def test_commands_filter_tensorflows_noise_unless_verbose(model_dir, monkeypatch, capsys):
    started = []
    real = cli.filter_tensorflow_noise
    monkeypatch.setattr(cli, "filter_tensorflow_noise", lambda: started.append(1) or real())
    assert main(["translate", str(model_dir), "el gato 1"]) == 0
    assert main(["translate", "--verbose", str(model_dir), "el gato 1"]) == 0
    assert started == [1]
    assert cli._stop_noise_filter is None  # stopped when the command ended


def test_a_command_in_a_fresh_process_prints_no_start_up_lines(model_dir):
    process = subprocess.run(
        [sys.executable, "-m", "nmt_keras", "translate", str(model_dir), "el gato 1"],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert process.returncode == 0, process.stderr
    assert len(process.stdout.splitlines()) == 1
    assert not [line for line in process.stderr.splitlines() if cli.is_tensorflow_noise(line)], process.stderr


def test_training_into_a_pipe_prints_progress_lines(tiny_tsv, tmp_path):
    """Not a terminal: no progress bar, but `ProgressLog` lines (here every batch) with
    the step, loss, speed and the time left of the budget, and one line per epoch."""
    from nmt_keras.training.callbacks import ProgressLog
    from nmt_keras.training.train import train_and_evaluate

    lines = []
    config = Config(data=str(tiny_tsv), units=8, embedding_dim=8, epochs=2, batch_size=8,
                    validation_size=4, test_size=4, time_budget=5.0)
    progress = ProgressLog(config.epochs, every_seconds=0.0, budget_seconds=300.0, print_fn=lines.append)
    train_and_evaluate(config, tmp_path / "run", verbose=0, callbacks=[progress])
    steps = [line for line in lines if ", step " in line]
    assert steps and all("target tokens/s" in line and "of 5.0 min left" in line for line in steps)
    assert steps[0].startswith("epoch 1/2, step 1 (1/")
    epochs = [line for line in lines if " done in " in line]
    assert [line.split(" done")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert all("val_loss" in line for line in epochs)
