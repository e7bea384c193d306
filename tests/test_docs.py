"""The docs stay in step with the code: the generated configuration and model pages, the README's
links to them, and its test command; every relative link in the README and docs/ leads somewhere, and
the README stays a front door (at most 200 lines)."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gru4recf.experiment import schema
from gru4recf.models.registry import models
from gru4recf.reference import configuration_page, models_page

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "regenerate with `python -m gru4recf.reference`"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]  # docs/models/ too
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(heading):
    """GitHub's anchor for a heading: lowercase, punctuation dropped except '-' and '_', spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page):
    """The anchors of a Markdown page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    seen, found = {}, set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def prose_lines(text):
    """The lines outside fenced code blocks, where a heading is a heading and a link a link."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield line


def prose(text):
    """The text outside fenced code blocks and inline code."""
    return re.sub(r"`[^`]*`", "", "\n".join(prose_lines(text)))


def test_configuration_page_is_the_generated_one_and_lists_every_global_key():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == configuration_page(), REGENERATE
    assert all(f"| `{key}` |" in page for key in schema().global_keys())


def test_models_page_is_the_generated_one_and_lists_every_model_and_key():
    page = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert page == models_page(), REGENERATE
    for name, settings in schema().models.items():
        section = page.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert all(f"| `{key}` |" in section for key in settings.keys()), name


def test_readme_links_the_reference_pages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/configuration.md)" in readme and "(docs/models.md)" in readme


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command.split("&&", 1)[0].strip().startswith("pip install")
    assert ci_command in readme


def test_slug_follows_githubs_rules():
    assert slug("Checked against RecBole itself") == "checked-against-recbole-itself"
    assert slug("Architectures (`architecture:`)") == "architectures-architecture"
    assert slug("Measured results (MovieLens-100k, GRU4RecF defaults, 2-core machine)") == \
        "measured-results-movielens-100k-gru4recf-defaults-2-core-machine"
    assert slug("Where gru4recf differs from RecBole, on purpose") == "where-gru4recf-differs-from-recbole-on-purpose"


def test_every_relative_link_in_the_readme_and_docs_leads_to_a_file_and_heading():
    broken = []
    for page in PAGES:
        for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
            if SCHEME.match(target):
                continue  # http:, https:, mailto: ...: not checked offline
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: ({target})"
            if not linked.exists():
                broken.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{where}: no heading with anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert PAGES[1:], "docs/ has no pages"
    assert not broken, "\n".join(broken)


def test_readme_is_at_most_200_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_official_parity_table_of_gru4recs_page_is_generated_from_the_benchmark_json():
    table = subprocess.run([sys.executable, "benchmarks/official_parity.py", "--markdown",
                            "benchmarks/results/official_parity.json"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert table.count("\n") >= 4 and table in (ROOT / "docs" / "models" / "GRU4Rec.md").read_text(encoding="utf-8")


RECIPE_TABLES = [["benchmarks/results/recipe_candidates.json", "benchmarks/results/recipe_warmup_segments.json"],
                 ["benchmarks/results/recipe_threads.json", "--per_run"]]


@pytest.mark.parametrize("args", RECIPE_TABLES, ids=["candidates", "threads"])
def test_the_recipe_tables_of_the_results_page_are_generated_from_the_benchmark_json(args):
    """docs/results.md shows what `bench_recipe.py --markdown` makes of the committed measurements."""
    table = subprocess.run([sys.executable, "benchmarks/bench_recipe.py", "--markdown", *args], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert table.count("\n") >= 4 and table in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


def test_the_search_benchmark_table_is_generated_from_the_benchmark_json():
    """docs/search.md shows what `bench_search.py --markdown` makes of the committed measurement."""
    table = subprocess.run([sys.executable, "benchmarks/bench_search.py", "--markdown",
                            "benchmarks/results/search_ml100k.json"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert table.count("\n") >= 4 and table in (ROOT / "docs" / "search.md").read_text(encoding="utf-8")


# ---- every command in the README and docs -------------------------------------------------------------------

PROGRAMS = ("python run.py", "python run_hyper.py", "python benchmarks/", "gru4recf ", "torchrun ", "python -m gru4recf ")


def commands(page):
    """The shell commands of a page's fenced blocks (continuation lines joined, comments dropped),
    leaving out lines with placeholders (`<run>`) or optional parts (`[--key=value]`)."""
    fenced, lines = False, []
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif fenced:
            lines.append(line)
    for command in re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines():
        command = command.split(" #", 1)[0].strip()
        for part in command.split("&&"):
            part = part.strip()
            if part.startswith(PROGRAMS) and "<" not in part and " [--" not in part:
                yield part


def run_py_args(command: str) -> list:
    words = shlex.split(command)
    if words[0] == "torchrun":  # torchrun's own flags, then run.py and its flags
        words = words[words.index("run.py"):]
    return words[2:] if words[0] == "python" and words[1] != "-m" else words[1:] if words[0] != "python" else words[3:]


def test_every_training_and_search_command_in_the_docs_has_a_valid_configuration():
    """Each `python run.py` / `gru4recf` / `torchrun run.py` / `run_hyper.py` command in the README and
    docs/ parses, names existing files and gives a configuration the loader accepts (nothing is trained)."""
    from gru4recf.cli import build_parser
    from gru4recf.config import parse_cli_args
    from gru4recf.experiment import load_config
    from gru4recf.search.cli import build_parser as hyper_parser

    checked, problems = 0, []
    for page in PAGES:
        for command in commands(page):
            words = run_py_args(command)
            if words[:1] in (["recommend"], ["models"], ["datasets"], ["plot"], ["convert"], ["--version"]) or \
                    command.startswith("python benchmarks/"):
                continue
            is_search = "run_hyper.py" in command
            try:
                args, rest = (hyper_parser() if is_search else build_parser()).parse_known_args(words)
                files = args.config_files.split() if args.config_files else None
                for name in (files or []) + ([args.params_file] if is_search else []):
                    if not (ROOT / name).is_file():
                        raise FileNotFoundError(f"no file {name}")
                load_config(args.model, args.dataset, [str(ROOT / f) for f in files] if files else None, None,
                            parse_cli_args(rest))
                checked += 1
            except (Exception, SystemExit) as error:  # noqa: BLE001 - every failure is reported with its page
                problems.append(f"{page.relative_to(ROOT)}: {command}: {error}")
    assert checked >= 10 and not problems, "\n".join(problems)


def test_every_convert_command_in_the_docs_parses():
    """`gru4recf convert NAME --raw=... --data_path=...` in the docs: a dataset the command knows and
    flags it declares (nothing is converted)."""
    from gru4recf.cli import build_convert_parser

    found = [command for page in PAGES for command in commands(page) if run_py_args(command)[:1] == ["convert"]]
    for command in found:
        build_convert_parser().parse_args(run_py_args(command)[1:])  # exits (SystemExit 2) on a bad one
    assert len(found) >= 2


def test_every_benchmark_command_in_the_docs_names_a_script_and_its_flags():
    """`python benchmarks/X.py --flag ...` in the docs: X exists and declares each --flag (or it is
    a config key the script passes on)."""
    from gru4recf.experiment import schema

    keys, problems = set(schema().known_keys()), []
    for page in PAGES + [ROOT / "benchmarks" / "README.md"]:
        for command in commands(page):
            if not command.startswith("python benchmarks/"):
                continue
            words = shlex.split(command)
            script = ROOT / words[1]
            if not script.is_file():
                problems.append(f"{page.relative_to(ROOT)}: no script {words[1]}")
                continue
            source = script.read_text(encoding="utf-8")
            for word in words[2:]:
                flag = word.split("=", 1)[0]
                if flag.startswith("--") and f'"{flag}"' not in source and flag[2:] not in keys:
                    problems.append(f"{page.relative_to(ROOT)}: {words[1]} has no flag {flag}")
    assert not problems, "\n".join(problems)


def test_the_key_index_the_command_lines_check_early_is_the_generated_one():
    from gru4recf.reference import key_index

    shipped = ROOT / "gru4recf" / "config" / "keys.json"
    assert shipped.read_text(encoding="utf-8") == key_index(), REGENERATE


def test_the_protocol_table_of_the_sessions_page_is_generated_from_the_benchmark_json():
    measured = [f"benchmarks/results/protocols_{name}.json" for name in ("ml100k", "sessynth", "sessynth_official")]
    table = subprocess.run([sys.executable, "benchmarks/protocols.py", "--markdown", *measured], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert table.count("\n") >= 10 and table in (ROOT / "docs" / "sessions.md").read_text(encoding="utf-8")


ZOO_ML100K = ["zoo_ml100k.json", "zoo_ml100k_gru.json", "zoo_ml100k_fdsa.json", "zoo_sasrec_8epochs.json",
              "zoo_sasrec_augment_8epochs.json", "zoo_sasrec_augment_8epochs_2023.json",
              "zoo_sasrec_seg10_8epochs.json", "zoo_sasrec_seg5_8epochs.json",
              "zoo_sasrec_seg1_8epochs.json", "zoo_narm_8epochs.json", "zoo_narm_augment_8epochs.json",
              "zoo_sasrecf_8epochs.json", "zoo_sasrecf_augment_8epochs.json",
              "zoo_fdsa_4epochs.json", "zoo_fdsa_augment_4epochs.json",
              "zoo_caser_20epochs.json", "zoo_caser_1epoch.json", "zoo_bert4rec_1epoch.json", "zoo_bert4rec.json",
              "zoo_bert4rec_overlap.json", "zoo_stamp.json", "recbole_zoo.json", "recbole_zoo_stamp_2021.json",
              "recbole_zoo_stamp_2022.json",
              "recbole_zoo_sasrec.json", "recbole_zoo_sasrec_2021.json", "recbole_zoo_narm_to_stopping.json",
              "recbole_zoo_narm.json", "recbole_zoo_narm_2021.json", "recbole_zoo_sasrecf.json",
              "recbole_zoo_fdsa_4epochs.json", "recbole_zoo_1epoch.json", "recbole_zoo_caser_1epoch.json",
              "recbole_zoo_bert4rec_1epoch.json"]  # docs/results.md#the-zoo


def zoo_markdown(files, *options) -> str:
    return subprocess.run([sys.executable, "benchmarks/zoo.py", "--markdown",
                           *(f"benchmarks/results/{name}" for name in files), *options],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("measured", [ZOO_ML100K, ["zoo_sessynth_seed2020.json"]])
def test_the_zoo_tables_of_the_results_page_are_generated_from_the_benchmark_json(measured):
    table = zoo_markdown(measured)
    assert table.count("\n") >= 4 and table in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    if measured == ZOO_ML100K:  # the commands above the table name the same files
        assert 'F="' + " ".join(f"benchmarks/results/{name}" for name in measured) + '"' \
            in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("model", sorted(models()))
def test_each_model_page_shows_its_rows_of_the_zoo_table(model):
    table = zoo_markdown(ZOO_ML100K, f"--models={model}")
    assert table.count("\n") >= 2 and table in (ROOT / "docs" / "models" / f"{model}.md").read_text(encoding="utf-8")


def test_the_baselines_scale_table_of_the_zoo_page_is_generated_from_the_benchmark_json():
    table = subprocess.run([sys.executable, "benchmarks/bench_baselines.py", "--markdown",
                            "benchmarks/results/baselines_synth-1m.json", "benchmarks/results/baselines_synth-10m.json"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert table.count("\n") >= 4 and table in (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
