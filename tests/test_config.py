"""`Config` is the one source of truth for options: the CLI flags, their help and
defaults are generated from its fields, and `validate` checks every value once."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from nmt_keras.cli import build_parser, flag_name, options_from_args
from nmt_keras.config import Config, ConfigError, TranslateOptions, demo_config
from nmt_keras.data.corpora import CorpusError, load_corpus


def _help(*argv):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])


def test_every_field_has_help_and_belongs_to_a_command():
    for options in (Config, TranslateOptions):
        for field in dataclasses.fields(options):
            assert field.metadata["help"], field.name
            assert field.metadata["commands"], field.name


@pytest.mark.parametrize("command", ["train", "demo", "evaluate"])
def test_each_command_has_a_flag_for_each_of_its_fields(command, capsys):
    _help(command) if command != "evaluate" else _help(command, "model_dir")
    text = capsys.readouterr().out
    for field in dataclasses.fields(Config):
        assert (flag_name(field) in text) == (command in field.metadata["commands"]), field.name


def test_help_shows_the_defaults_config_uses(capsys):
    _help("train")
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines

    def described(text, flag):  # the help after the flag's last mention (not the usage)
        return text.rsplit(flag, 1)[1][:300]

    assert f"(default: {Config().max_vocab_size})" in described(text, "--max-vocab-size MAX_VOCAB_SIZE")
    assert f"(default: {Config().units})" in described(text, "--units UNITS")
    _help("demo")
    demo_text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {demo_config().units})" in described(demo_text, "--units UNITS")
    assert "(default: every training token (wordpiece: 8,000 pieces))" in described(demo_text, "--max-vocab-size MAX_VOCAB_SIZE")


def test_flags_set_the_fields_of_the_same_name():
    args = build_parser().parse_args([
        "train", "--output", "x", "--units", "32", "--no-bidirectional", "--attention",
        "luong-general", "--max-vocab-size", "none", "--time-budget", "2.5", "--kernels", "keras",
    ])
    config = options_from_args(args, Config())
    assert (config.units, config.bidirectional, config.attention) == (32, False, "luong-general")
    assert config.max_vocab_size is None and config.time_budget == 2.5 and config.kernels == "keras"
    assert config.embedding_dim == Config().embedding_dim  # not given: the default


def test_help_loads_no_tensorflow():
    script = (
        "import sys\n"
        "from nmt_keras.cli import main\n"
        "for command in ('train', 'demo', 'translate', 'evaluate', 'export'):\n"
        "    try:\n"
        "        main([command, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "False False"
    assert "--units" in done.stdout


@pytest.mark.parametrize("change, problem", [
    (dict(units=0), "units must be >= 1"),
    (dict(units=10**9), "units must be <= "),
    (dict(units=3.5), "units must be int"),
    (dict(bidirectional="yes"), "bidirectional must be bool"),
    (dict(learning_rate=math.nan), "learning_rate must be a finite number"),
    (dict(learning_rate=0.0), "learning_rate must be > 0"),
    (dict(dropout=1.0), "dropout must be < 1.0"),
    (dict(max_vocab_size=0), "max_vocab_size must be >= 5"),
    (dict(attention="dot"), "attention must be one of"),
    (dict(decoder="bahdanau", input_feeding=True), "input_feeding applies to decoder 'luong'"),
    (dict(attention="luong-dot"), "luong-dot' needs the decoder state"),
    (dict(scheduled_sampling="exponential", sampling_decay=2.0), "needs a sampling_decay in (0, 1)"),
    (dict(sha256="0" * 64), "embedded corpus"),
    (dict(data="x.tsv", data_url="file:///spa-eng.zip"), "data_url says where to get 'spa-eng'"),
    (dict(time_budget=-1.0), "time_budget must be > 0"),
])
def test_settings_that_cannot_work_are_named(change, problem):
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        dataclasses.replace(Config(), **change).validate()


@pytest.mark.parametrize("sha256, well_formed", [
    ("ab" * 32, True),
    ("AB" * 32, True),
    ("0" * 63, False),
    ("0" * 65, False),
    ("g" * 64, False),
    ("0" * 64 + "\n", False),
])
def test_config_and_corpora_accept_the_same_sha256(tmp_path, sha256, well_formed):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hi.\tHola.\n", encoding="utf-8")
    if well_formed:
        assert Config(data=str(path), sha256=sha256).sha256 == sha256
        with pytest.raises(CorpusError, match="checksum mismatch"):
            load_corpus(path, sha256=sha256)
    else:
        with pytest.raises(ConfigError, match="sha256 must be 64 hexadecimal digits"):
            Config(data=str(path), sha256=sha256)
        with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits"):
            load_corpus(path, sha256=sha256)


def test_none_only_where_a_field_allows_it():
    assert dataclasses.replace(Config(), max_vocab_size=None).validate().max_vocab_size is None
    with pytest.raises(ConfigError, match="units must be set"):
        dataclasses.replace(Config(), units=None).validate()


def test_from_dict_takes_known_keys_only_and_checks_values():
    assert Config.from_dict({"units": 8}).units == 8
    with pytest.raises(ConfigError, match="config.json: unknown settings"):
        Config.from_dict({"units": 8, "run_this": "rm -rf /"}, source="config.json")
    with pytest.raises(ConfigError, match="config.json: embedding_dim must be int"):
        Config.from_dict({"embedding_dim": "256"}, source="config.json")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        Config.from_dict([1, 2], source="config.json")


def test_a_saved_config_reads_back_equal():
    config = dataclasses.replace(demo_config(), units=48, attention="luong-concat")
    assert Config.from_dict(json.loads(config.to_json())) == config


def test_the_settings_saved_with_a_model_are_the_fields_marked_so():
    config = Config()
    assert "units" in config.model_settings() and "kernels" in config.model_settings()
    assert "epochs" not in config.model_settings() and "data" not in config.model_settings()
    saved = set(config.saved_settings())
    assert saved == set(config.model_settings()) | {"tokenizer", "casing", "max_output_length"} | set(config.decoding_settings())
    assert set(config.decoding_settings()) == {"beam_width", "length_penalty", "unk_replace", "block_repeats"}


def test_saved_settings_without_a_decoding_get_what_translate_did_with_them():
    settings = {k: v for k, v in Config(beam_width=4, unk_replace=False).saved_settings().items()
                if k not in Config().decoding_settings()}
    assert Config.from_saved(settings).decoding_settings() == {
        "beam_width": 1, "length_penalty": 0.0, "unk_replace": True, "block_repeats": False}
    assert Config.from_saved(Config(beam_width=4).saved_settings()).beam_width == 4


def test_a_config_is_checked_when_it_is_made():
    with pytest.raises(ConfigError, match="units must be >= 1"):
        Config(units=0)
    with pytest.raises(ConfigError, match="units must be >= 1"):
        dataclasses.replace(Config(), units=0)


MODEL = Config(beam_width=4, length_penalty=0.6)  # a model saved with beam search


@pytest.mark.parametrize("change, given, problem", [
    (dict(temperature=0.5, n_best=2), {}, "either --temperature"),
    (dict(temperature=0.5), {"beam_width": 2}, "either --temperature"),
    (dict(n_best=3), {"beam_width": 2}, "needs --beam-width >= 3"),
    (dict(), {"beam_width": 1, "length_penalty": 0.6}, "applies to beam search"),
    (dict(temperature=0.0), {}, "temperature must be > 0"),
    (dict(max_length=-1), {}, "max_length must be >= 1"),
])
def test_translate_options_that_would_be_ignored_or_cannot_work(change, given, problem):
    with pytest.raises(ConfigError, match=problem):
        dataclasses.replace(TranslateOptions(), **change).decoding(dataclasses.replace(MODEL, **given), given)


def test_translate_decodes_as_the_model_says_unless_flags_are_given():
    assert TranslateOptions().decoding(MODEL) == {
        "method": "beam", "max_length": None, "beam_width": 4, "n_best": 1, "length_penalty": 0.6,
        "unk_replace": True, "block_repeats": True,
    }
    assert TranslateOptions().decoding(Config())["method"] == "greedy"
    assert TranslateOptions(n_best=3).decoding(Config()) == {
        "method": "beam", "max_length": None, "beam_width": 3, "n_best": 3, "length_penalty": 0.0,
        "unk_replace": True, "block_repeats": True,
    }
    sampling = TranslateOptions(temperature=0.7, sample_seed=4).decoding(MODEL)
    assert (sampling["method"], sampling["seed"]) == ("sample", 4)


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["train", "--output", "x", "--units", "many"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--units" in err and "many" in err


def test_docs_cli_md_is_the_parser_s_reference():
    """docs/cli.md's flag tables are generated from the parser (tools/cli_reference.py):
    regenerate them with `python tools/cli_reference.py --write docs/cli.md`."""
    done = subprocess.run(
        [sys.executable, "tools/cli_reference.py", "--check", "docs/cli.md"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
