"""`gru4recf plot`: learning curves of a real run's results folder and the trials of a search results
file, as PNG and SVG beside them; what cannot be plotted is one error line."""
import json
import subprocess
import sys

import pytest

from gru4recf import run_gru4recf
from gru4recf.cli import main
from helpers import small_config, write_pattern_dataset

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def svg_text(path) -> str:
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    return text


def test_a_run_folder_gets_its_learning_curves_with_the_best_epoch_marked(tmp_path, capsys):
    data = write_pattern_dataset(tmp_path / "data")
    config = small_config(data, epochs=4, log_dir=str(tmp_path / "log"), checkpoint_dir=str(tmp_path / "saved"),
                          results_dir=str(tmp_path / "results"))
    folder = tmp_path / "results" / run_gru4recf("GRU4RecF", "toy", config)["results_dir"].split("/")[-1]
    final = json.loads((folder / "results.json").read_text())
    capsys.readouterr()
    assert main(["plot", str(folder)]) == 0
    assert capsys.readouterr().out.split() == [str(folder / "learning_curves.png"), str(folder / "learning_curves.svg")]
    assert (folder / "learning_curves.png").read_bytes().startswith(PNG)
    text = svg_text(folder / "learning_curves.svg")
    score = final["best_valid_result"]["mrr@10"]
    assert f"best: epoch {final['best_epoch']}, {score:.4f}" in text
    assert f"test (best model): {final['test_result']['mrr@10']:.4f}" in text


def test_a_search_results_file_gets_each_parameter_against_the_validation_score(tmp_path, capsys):
    rows = [{"trial": 0, "learning_rate": 0.01, "num_layers": 1, "status": "ok", "valid_score": 0.2,
             "valid_metric": "MRR@10"},
            {"trial": 1, "learning_rate": 0.001, "num_layers": 2, "status": "ok", "valid_score": 0.3,
             "valid_metric": "MRR@10"},
            {"trial": 2, "learning_rate": 0.0001, "num_layers": 1, "status": "ok", "valid_score": 0.1,
             "valid_metric": "MRR@10"},
            {"trial": 3, "learning_rate": 1.0, "num_layers": 2, "status": "failed", "valid_score": None,
             "valid_metric": "MRR@10"}]
    results = tmp_path / "hyper.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["plot", str(results)]) == 0
    assert (tmp_path / "hyper.png").read_bytes().startswith(PNG)
    text = svg_text(tmp_path / "hyper.svg")
    assert "hyper.jsonl: 3 trials, 1 failed (not drawn)" in text and text.count("best: 0.3000") == 2
    assert "learning_rate" in text and "num_layers" in text and "validation MRR@10" in text


@pytest.mark.parametrize("content, message", [
    (None, "nothing to plot at {path}: give a run's results folder or a search results file"),
    ("not json\n", "{path}, line 1: not a trial row written by run_hyper"),
    ("", "search results file {path} has no trials"),
])
def test_what_cannot_be_plotted_is_one_error_line(tmp_path, capsys, content, message):
    path = tmp_path / "thing.jsonl"
    if content is not None:
        path.write_text(content)
    assert main(["plot", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gru4recf: error: " + message.format(path=path))


def test_without_matplotlib_the_error_names_the_extra(tmp_path):
    (tmp_path / "r.jsonl").write_text(json.dumps({"trial": 0, "x": 1, "status": "ok", "valid_score": 0.1}) + "\n")
    script = ("import sys\nsys.modules['matplotlib'] = None\nfrom gru4recf.cli import main\n"
              f"sys.exit(main(['plot', {str(tmp_path / 'r.jsonl')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "gru4recf: error: plotting needs matplotlib: pip install 'gru4recf[plot]'"
