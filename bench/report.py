"""The benchmark report as markdown (`bench/results.md`), and writing reports out."""

import json
import pathlib
import time

from bench.common import portable_command, portable_path
from bench.harness import DESCRIPTIONS
from nmt_keras.constants import BFLOAT16_CPU_FLAGS, TRANSLATE_BATCH_SIZE

# Targets, as ratios over the reference (a): training target tokens/s and greedy
# translation sentences/s.
TRAINING_TARGETS = {"bahdanau": 1.0, "luong": 2.0}
GREEDY_TARGETS = {"bahdanau": 10.0, "luong": 15.0}


# A 1-minute load average at the start above this means other jobs were running.
BUSY_LOAD = 1.0


def _load_note(machine):
    load = machine.get("load_average_at_start")
    if load and load[0] > BUSY_LOAD:
        return " (other jobs were running: absolute numbers are lower, ratios noisier)"
    return ""


def cpu_lines(machine):
    """The Machine section's lines on bfloat16: the CPU's AVX-512/AMX flags, and on a
    CPU without bfloat16 units, that the bfloat16 rows are emulated."""
    relevant, units = machine.get("cpu_flags_relevant"), machine.get("bfloat16_units")
    if relevant is None:
        return [
            "- CPU flags: unknown (no /proc/cpuinfo on this OS): whether the bfloat16 rows "
            "ran on bfloat16 units is not known"
        ]
    lines = [f"- CPU flags (AVX-512, AMX): {', '.join(relevant) if relevant else 'none'}"]
    if units:
        lines.append(f"- bfloat16 units: {', '.join(units)}: the bfloat16 rows use them")
    else:
        lines.append(
            f"- **this CPU has no bfloat16 units (no {'/'.join(BFLOAT16_CPU_FLAGS)}): the "
            "bfloat16 rows are emulated and do not show the hardware's speed**"
        )
    return lines


def _fmt(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def _percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.0f} %"


def render(report):
    """Markdown text for a `harness.run_benchmark` report (plus its `command`); paths of
    this machine are named as `common.portable_path` does."""
    settings = report["settings"]
    machine = report["machine"]
    results = report["results"]
    beam_key = f"beam{settings['beam_width']}"
    lines = [
        "# Benchmark: tutorial-style reference vs nmt_keras",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{portable_command(report.get('command', 'python -m bench'))}` "
        f"in {report['wall_seconds']:.0f} s.",
        "",
        "## Machine",
        "",
        f"- {machine['platform']}, {machine['processor']}, {machine['cpu_count']} CPUs, no GPU used",
        f"- Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}",
        f"- load average (1, 5, 15 min) at start {machine.get('load_average_at_start')}, "
        f"at end {machine.get('load_average_at_end')}{_load_note(machine)}",
        *cpu_lines(machine),
        "",
        "## Settings (the same for every variant)",
        "",
        f"- data: `{portable_path(settings['data'])}`, {settings['direction']}, the project's seeded split "
        f"(seed {settings['seed']}); {settings['test_sentences']} test sentences",
        f"- vocabulary {settings['vocabulary']} per language, units {settings['units']}, "
        f"embedding {settings['embedding_dim']}, batch {settings['batch_size']}",
        f"- training: {settings['warmup_steps']} warm-up steps (untimed), then "
        f"{settings['train_steps']} timed steps; tokens/s counts real target tokens (no padding)",
        f"- translation: untrained (freshly initialized) weights, output capped at "
        f"{settings['max_length']} tokens, every variant stops a batch when all its sentences "
        f"have produced [END]; the reference in batches of {settings['batch_size']}, nmt_keras in "
        f"batches of its default {TRANSLATE_BATCH_SIZE} (sorted by length); one warm-up batch untimed",
        "- peak memory: ru_maxrss of each variant's own subprocess (whole process: Python, "
        "TensorFlow runtime, corpus, model)",
        "",
        "## Results",
        "",
        "| variant | precision | params | train target tokens/s | padding in training batches | "
        f"greedy sent/s | {beam_key} sent/s | mean output words (greedy) | peak memory MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results.values():
        translation = result["translation"]
        beam = translation.get(beam_key)
        lines.append(
            f"| {DESCRIPTIONS[result['variant']]} | {result.get('precision', 'float32')} "
            f"| {result['parameters']:,} "
            f"| {_fmt(result['training']['target_tokens_per_second'], 0)} "
            f"| {_percent(result['training'].get('padding_fraction'))} "
            f"| {_fmt(translation['greedy']['sentences_per_second'])} "
            f"| {_fmt(beam['sentences_per_second']) if beam else '-'} "
            f"| {_fmt(translation['greedy']['mean_output_words'])} "
            f"| {_fmt(result['peak_memory_mb'], 0)} |"
        )
    if report.get("ratios"):
        lines += [
            "",
            "## Ratios over the reference (a)",
            "",
            "| run | precision | training tokens/s | target | greedy sentences/s | target |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for name, ratio in report["ratios"].items():
            variant, precision = results[name]["variant"], results[name].get("precision", "float32")
            train_target = TRAINING_TARGETS[variant]
            train_ok = "met" if ratio["training_tokens_per_second"] >= train_target else "NOT met"
            greedy_target = GREEDY_TARGETS[variant]
            greedy_ok = "met" if ratio["greedy_sentences_per_second"] >= greedy_target else "NOT met"
            lines.append(
                f"| {'b/a' if variant == 'bahdanau' else 'c/a'} {variant} | {precision} "
                f"| {ratio['training_tokens_per_second']:.2f}x | >= {train_target:g}x {train_ok} "
                f"| {ratio['greedy_sentences_per_second']:.2f}x | >= {greedy_target:g}x {greedy_ok} |"
            )
    lines += ["", "## Details", ""]
    for result in results.values():
        training = result["training"]
        lines.append(
            f"- {DESCRIPTIONS[result['variant']]}, {result.get('precision', 'float32')}: "
            f"{result['train_pairs']:,} training pairs; timed "
            f"{training['steps']} steps, {training['target_tokens']:,} target tokens in "
            f"{training['seconds']:.1f} s (last loss {_fmt(training['last_loss'], 3)}); "
            + "; ".join(
                f"{name} {t['sentences']} sentences in {t['seconds']:.1f} s"
                for name, t in result["translation"].items()
            )
            + f"; subprocess wall time {result['wall_seconds']:.0f} s"
        )
    lines.append("")
    return "\n".join(lines)


def write(text, report, output, json_path=None, tag="bench"):
    """Writes the markdown `text` to `output` (and the raw `report` as JSON to
    `json_path`), prints it, and says where it went."""
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    if json_path:
        pathlib.Path(json_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(text)
    print(f"[{tag}] wrote {output}")
