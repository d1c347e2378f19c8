"""The benchmark's reference model and harness, on tiny settings (structure, never timings)."""

import os
import pathlib
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from bench import ablation, choices, common, harness, reference
from bench.report import GREEDY_TARGETS, TRAINING_TARGETS, render
from nmt_keras.data.corpora import SentencePair
from nmt_keras.data.batching import encode_pairs

SPANISH = "el la un gato perro casa come bebe agua rojo grande pequeno".split()
ENGLISH = "the a cat dog house eats drinks water red big small".split()


def tiny_pairs(count, seed=0):
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        length = int(rng.integers(2, 7))
        source = " ".join(rng.choice(SPANISH, length))
        target = " ".join(rng.choice(ENGLISH, length))
        pairs.append(SentencePair(source=source, target=target))
    return pairs


@pytest.fixture
def tiny_tsv(tmp_path):
    path = tmp_path / "tiny.tsv"
    # Anki column order: English<TAB>Spanish.
    path.write_text("".join(f"{p.target}\t{p.source}\n" for p in tiny_pairs(120)), encoding="utf-8")
    return path


def tiny_settings(data):
    settings = harness.quick_settings()
    settings.update(
        data=str(data), vocabulary=40, units=8, embedding_dim=8, batch_size=8,
        validation_size=10, test_sentences=12, warmup_steps=1, train_steps=2,
        max_length=6, beam_width=2,
    )
    return settings


def test_reference_model_trains_and_translates_eagerly(seeded):
    pairs = tiny_pairs(32)
    model = reference.ReferenceTranslator(SPANISH, ENGLISH, embedding_dim=8, units=8)
    model.build_with_dummy_batch()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    dataset = reference.make_dataset(encode_pairs(model, pairs), batch_size=8, seed=0)
    (source, target_in), target_out = next(iter(dataset))
    logits = model((source, target_in))
    assert logits.shape == (source.shape[0], target_in.shape[1], len(model.target_vocabulary))
    before = [w.numpy().copy() for w in model.trainable_weights]
    one_batch = tf.data.Dataset.from_tensors(((source, target_in), target_out))
    history = model.fit(one_batch, epochs=1, shuffle=False, verbose=0)
    assert history.history["target_tokens"][0] == np.count_nonzero(target_out.numpy())
    after = model.trainable_weights
    assert any(not np.allclose(b, a.numpy()) for b, a in zip(before, after))

    texts = [p.source for p in pairs[:5]] + [""]
    translations = reference.translate_all(model, texts, batch_size=4, max_length=4)
    assert len(translations) == len(texts)
    assert all(isinstance(t, str) and len(t.split()) <= 4 for t in translations)
    assert all(word in ENGLISH or word == "[UNK]" for t in translations for word in t.split())


def test_reference_translation_stops_at_end():
    model = reference.ReferenceTranslator(SPANISH, ENGLISH, embedding_dim=8, units=8)
    ids = np.array([[5, 6, 3, 7], [3, 0, 0, 0], [8, 0, 9, 10]])
    vocabulary = model.target_vocabulary
    assert model.ids_to_text(ids) == [
        f"{vocabulary[5]} {vocabulary[6]}", "", f"{vocabulary[8]} {vocabulary[9]} {vocabulary[10]}"
    ]


@pytest.mark.parametrize("variant", harness.VARIANTS)
def test_run_variant_reports_every_measure(variant, tiny_tsv, seeded):
    settings = tiny_settings(tiny_tsv)
    result = harness.run_variant(variant, settings)
    assert result["variant"] == variant
    assert result["test_sentences"] == settings["test_sentences"]
    expected = {"greedy"} if variant == "reference" else {"greedy", "beam2"}
    assert set(result["translation"]) == expected
    for timing in result["translation"].values():
        assert timing["sentences"] == settings["test_sentences"]
        assert timing["seconds"] > 0 and timing["sentences_per_second"] > 0
        assert 0 <= timing["mean_output_words"] <= settings["max_length"]
    training = result["training"]
    assert training["steps"] == 2 and training["target_tokens"] > 0
    assert training["target_tokens_per_second"] > 0
    assert result["peak_memory_mb"] > 0 and result["parameters"] > 0


def test_benchmark_in_subprocesses_writes_a_report(tiny_tsv, tmp_path):
    settings = tiny_settings(tiny_tsv)
    report = harness.run_benchmark(
        settings, variants=("reference",), workdir=tmp_path / "work", log=lambda m: None
    )
    assert set(report["results"]) == {"reference"}
    assert report["results"]["reference"]["training"]["target_tokens"] > 0
    # The other variants' results, as run_variant measured them, complete the report.
    for variant in ("bahdanau", "luong"):
        report["results"][variant] = fake_result(variant, report["results"]["reference"])
    report["ratios"] = harness.ratios(report["results"])
    assert report["ratios"]["luong"]["greedy_sentences_per_second"] == pytest.approx(2.0)
    assert report["ratios"]["bahdanau"]["training_tokens_per_second"] == pytest.approx(2.0)
    report["command"] = "python -m bench --quick"
    text = render(report)
    assert "(a) reference" in text and "(c) nmt_keras --decoder luong" in text
    # Twice the reference meets bahdanau's training target, not its greedy one.
    assert TRAINING_TARGETS["bahdanau"] <= 2.0 < GREEDY_TARGETS["bahdanau"]
    greedy_target = f"{GREEDY_TARGETS['bahdanau']:g}"
    assert f"| b/a bahdanau | float32 | 2.00x | >= 1x met | 2.00x | >= {greedy_target}x NOT met |" in text
    assert "python -m bench --quick" in text
    assert str(tmp_path) not in text and "tiny.tsv`" in text  # the data, by its file name


def fake_result(variant, reference_result):
    """A result twice as fast as the reference's, with a beam timing."""
    result = {**reference_result, "variant": variant}
    result["training"] = dict(
        reference_result["training"],
        target_tokens_per_second=2 * reference_result["training"]["target_tokens_per_second"],
    )
    greedy = reference_result["translation"]["greedy"]
    faster = dict(greedy, sentences_per_second=2 * greedy["sentences_per_second"])
    result["translation"] = {"greedy": faster, "beam2": faster}
    return result


def test_bfloat16_runs_train_and_translate_in_bfloat16(tiny_tsv, seeded):
    settings = dict(tiny_settings(tiny_tsv), precision="bfloat16", beam_width=1)
    result = harness.run_variant("luong", settings)
    assert (result["precision"], result["dtype_policy"]) == ("bfloat16", "mixed_bfloat16")
    assert result["training"]["target_tokens"] > 0 and result["training"]["last_loss"] > 0
    assert result["translation"]["greedy"]["sentences"] == settings["test_sentences"]
    with pytest.raises(ValueError, match="the reference runs in float32"):
        harness.run_variant("reference", settings)
    with pytest.raises(ValueError, match="precision 'float16'"):
        harness.run_variant("luong", dict(settings, precision="float16"))


@pytest.mark.parametrize("cpuinfo, says", [
    ("flags\t\t: fpu avx2 fma\n",
     ["- CPU flags (AVX-512, AMX): none",
      "- **this CPU has no bfloat16 units (no amx_bf16/avx512_bf16): the bfloat16 rows are "
      "emulated and do not show the hardware's speed**"]),
    ("flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n",
     ["- CPU flags (AVX-512, AMX): amx_bf16, amx_tile, avx512_bf16, avx512f",
      "- bfloat16 units: amx_bf16, avx512_bf16: the bfloat16 rows use them"]),
    (None, ["- CPU flags: unknown (no /proc/cpuinfo on this OS): whether the bfloat16 rows "
            "ran on bfloat16 units is not known"]),
])
def test_the_report_has_a_precision_column_and_names_the_cpu_flags(monkeypatch, cpuinfo, says):
    from nmt_keras.training import distribute

    monkeypatch.setattr(distribute, "read_cpuinfo", lambda: cpuinfo)
    machine = harness.machine()
    results = {
        "reference": fake_timings(100),
        "bahdanau": fake_timings(150, "bahdanau"),
        "bahdanau/bfloat16": fake_timings(300, "bahdanau", "bfloat16"),
        "luong": fake_timings(200, "luong"),
        "luong/bfloat16": fake_timings(500, "luong", "bfloat16"),
    }
    report = {
        "machine": machine, "settings": tiny_settings("x.tsv"), "results": results,
        "wall_seconds": 1.0, "ratios": harness.ratios(results), "command": "python -m bench",
    }
    assert set(report["ratios"]) == set(results) - {"reference"}
    assert report["ratios"]["luong/bfloat16"]["training_tokens_per_second"] == pytest.approx(5.0)
    lines = render(report).splitlines()
    for line in says:
        assert line in lines
    assert "| b/a bahdanau | bfloat16 | 3.00x | >= 1x met |" in "\n".join(lines)
    assert "| c/a luong | float32 | 2.00x | >= 2x met |" in "\n".join(lines)
    rows = [line for line in lines if line.startswith("| (")]
    assert [row.split(" | ")[1] for row in rows] == ["float32", "float32", "bfloat16", "float32", "bfloat16"]


def test_the_benchmark_runs_each_nmt_keras_variant_in_each_precision(monkeypatch, tmp_path):
    runs = []

    def fake_run(variant, settings, workdir, timeout=None, name=None):
        runs.append((variant, settings["precision"], name))
        return fake_timings(100, variant, settings["precision"])

    monkeypatch.setattr(harness, "run_in_subprocess", fake_run)
    report = harness.run_benchmark({"beam_width": 2}, workdir=tmp_path, log=lambda m: None)
    assert runs == [
        ("reference", "float32", "reference"),
        ("bahdanau", "float32", "bahdanau"), ("bahdanau", "bfloat16", "bahdanau-bfloat16"),
        ("luong", "float32", "luong"), ("luong", "bfloat16", "luong-bfloat16"),
    ]
    assert list(report["results"]) == [
        "reference", "bahdanau", "bahdanau/bfloat16", "luong", "luong/bfloat16"
    ]


def test_a_failing_variant_names_itself(tmp_path):
    settings = tiny_settings(tmp_path / "missing.tsv")
    with pytest.raises(RuntimeError, match="variant 'reference' failed"):
        harness.run_in_subprocess("reference", settings, tmp_path / "work")


def test_ablation_switches_name_what_they_undo():
    assert choices.switches("all") == set()
    # keras-kernels undoes the fused GRU, cross-entropy and Adam at once (--kernels keras).
    assert choices.switches("keras-kernels") == {"keras-kernels"}
    assert choices.switches("none") == {"keras-kernels", "all-positions", "wide-buckets"}
    with pytest.raises(ValueError, match="unknown ablation 'fast'"):
        choices.switches("fast")


def test_ablation_runs_with_every_choice_undone_and_reports(tiny_tsv, tmp_path):
    settings = tiny_settings(tiny_tsv)
    # A subprocess: the ablation patches nmt_keras' modules in the process it runs in.
    report = ablation.run(
        settings, decoders=("luong",), ablations=("all", "none"), workdir=tmp_path / "work",
        log=lambda m: None,
    )
    assert set(report["results"]) == {"reference/all", "luong/all", "luong/none"}
    for result in report["results"].values():
        assert result["translation"] == {}  # training speed only
        assert result["training"]["target_tokens"] > 0
        assert 0.0 <= result["training"]["padding_fraction"] < 1.0
    assert report["results"]["luong/none"]["ablation"] == "none"
    assert report["results"]["luong/none"]["optimizer"] == "Adam"
    assert report["results"]["luong/all"]["optimizer"] == "FusedAdam"
    text = ablation.render(report, "python -m bench.ablation --test")
    assert "| luong | nothing (as shipped) |" in text and "| luong | all three |" in text
    assert "`python -m bench.ablation --test`" in text


def test_portable_path_names_no_folder_of_this_machine(tmp_path, monkeypatch):
    root = tmp_path.resolve()
    monkeypatch.setattr(common, "REPO", root / "work" / "nmt_keras")
    monkeypatch.setenv("HOME", str(root / "home"))
    assert common.portable_path(root / "work" / "nmt_keras" / "bench" / "results.md") == "bench/results.md"
    # A folder beside the repository, as the default data are.
    assert common.portable_path(root / "work" / "shared" / "corpora" / "spa-eng.zip") == (
        "../shared/corpora/spa-eng.zip"
    )
    assert common.portable_path(root / "home" / ".keras" / "datasets" / "spa-eng.zip") == (
        "~/.keras/datasets/spa-eng.zip"
    )
    assert common.portable_path(root / "q" / "quality.json") == "quality.json"
    assert common.portable_path(f"file://{root}/work/shared/spa-eng.zip") == "file://../shared/spa-eng.zip"
    for kept in ("outputs/bench_quick.md", "https://example.org/spa-eng.zip", "spa-eng"):
        assert common.portable_path(kept) == kept
    command = (
        f"python -m bench --data {root}/work/shared/corpora/spa-eng.zip --output={root}/q/bench.md "
        f"--json {root}/q/bench.json --variants luong"
    )
    assert common.portable_command(command) == (
        "python -m bench --data ../shared/corpora/spa-eng.zip --output=bench.md --json bench.json "
        "--variants luong"
    )


def fake_timings(rate, variant="reference", precision="float32"):
    """A `run_variant` result with every figure the reports read, `rate` tokens/s."""
    greedy = {"sentences": 12, "seconds": 1.0, "sentences_per_second": 12.0, "mean_output_words": 3.0}
    return {
        "variant": variant, "precision": precision,
        "parameters": 1000, "train_pairs": 100, "peak_memory_mb": 900.0, "wall_seconds": 10.0,
        "translation": {"greedy": greedy, "beam2": greedy},
        "training": {
            "steps": 2, "seconds": 1.0, "target_tokens": rate, "target_tokens_per_second": rate,
            "last_loss": 4.0, "padding_fraction": 0.1,
        },
    }


def test_written_reports_name_no_folder_of_this_machine():
    """bench/results.md and bench/ablation.md are committed: the data and the paths of
    the command that wrote them are named the same on every machine."""
    folders = {os.getcwd(), str(pathlib.Path.home()), tempfile.gettempdir(), str(common.REPO)} - {os.sep}
    output = pathlib.Path(tempfile.gettempdir()) / "q" / "bench.md"
    settings = dict(tiny_settings(common.DEFAULT_DATA), beam_width=2)
    machine = {
        "platform": "Linux", "processor": "x86_64", "cpu_count": 2, "python": "3.11",
        "tensorflow": "2", "keras": "3", "load_average_at_start": [0.1, 0.1, 0.1],
    }
    results = {
        "reference": fake_timings(100), "bahdanau": fake_timings(200, "bahdanau"),
        "luong": fake_timings(300, "luong"),
    }
    report = {
        "machine": machine, "settings": settings, "results": results, "wall_seconds": 30.0,
        "ratios": harness.ratios(results),
        "command": f"python -m bench --data {common.DEFAULT_DATA} --output {output} "
        f"--json {pathlib.Path.home() / 'bench.json'} --max-length={pathlib.Path.cwd() / 'x'}",
    }
    text = render(report)
    assert "- data: `../shared/corpora/spa-eng.zip`" in text
    assert "--data ../shared/corpora/spa-eng.zip --output bench.md" in text
    ablation_report = {
        "machine": machine, "settings": settings, "wall_seconds": 30.0,
        "results": {"reference/all": fake_timings(100), "luong/all": fake_timings(300)},
    }
    ablation_text = ablation.render(ablation_report, report["command"].replace("bench", "bench.ablation", 1))
    assert "| luong | nothing (as shipped) | 300 |" in ablation_text
    for folder in folders:
        assert folder not in text and folder not in ablation_text


def test_quality_benchmark_quick_run_reports_both_recipes(tiny_tsv, tmp_path):
    """`python -m bench.quality --quick` end to end on a tiny corpus: both variants
    train (each in its own process), translate the same test pairs and are scored."""
    import json
    import subprocess
    import sys

    report = tmp_path / "quality.md"
    raw = tmp_path / "quality.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.quality", "--quick", "--minutes", "0.05", "--data",
         str(tiny_tsv), "--output", str(report), "--json", str(raw), "--side-by-side",
         "--direction", "from-english", "--precision", "float32"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(raw.read_text())["results"]
    for core, variant in enumerate(("reference", "nmt_keras")):
        result = results[variant]
        assert 0.0 <= result["bleu"] <= 100.0 and 0.0 <= result["unk_share"] <= 1.0
        assert 0.0 <= result["bleu_standardized"] <= 100.0 and 0.0 <= result["loop_share"] <= 1.0
        assert result["cpu_affinity"] == [core]  # side by side: one core each
        assert result["steps"] >= 1 and result["sentences_per_second"] > 0
        assert result["stopped_by"] == "time budget"
    assert results["reference"]["recipe"]["steps_per_epoch"] == 10  # the quick version of the tutorial's 100
    text = report.read_text()
    assert "(a) reference, the tutorial's recipe" in text and "(b) nmt_keras" in text
    assert "--quick" in text and "from-english" in text  # the command is in the report
    assert "side by side, each on one core" in text
    precision = results["nmt_keras"]["precision"]  # as `--precision float32` asked, and why
    assert precision == "float32: precision 'float32' asked for"
    assert f"trained in {precision}; (a)'s" in text and "trained in float32." in text
    assert str(tmp_path) not in text  # ... with its paths named the same on every machine


def test_quality_report_replaces_only_its_section(tmp_path):
    from bench.quality import BEGIN, END, write_report

    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\nintro\n\n{BEGIN}\nold numbers\n{END}\n\nafter\n")
    write_report("new numbers\n", page, quick=False)
    assert page.read_text() == f"# Performance\n\nintro\n\n{BEGIN}\nnew numbers\n{END}\n\nafter\n"


def test_recipe_runs_never_share_a_directory_or_a_result_file():
    """Each run of a candidate has its own model directory and result file, named by the
    budget (fractional too) and a digest of its changes: two candidates run at once, and
    the same candidate run twice, never share one."""
    from bench.recipes import run_paths

    first = run_paths(6.5, {"batch_size": 64, "direction": "from-english"})
    second = run_paths(6.5, {"batch_size": 32, "direction": "from-english"})
    again = run_paths(6.5, {"direction": "from-english", "batch_size": 64})
    assert len({*first, *second, *again}) == 6
    assert first[0].name.split("-")[1] == again[0].name.split("-")[1] != second[0].name.split("-")[1]
    for workdir, out in (first, second, again):
        assert workdir.name.startswith("6.5min-")
        assert out.parent == workdir.parent and out.name == workdir.name + ".json"
