"""The README stays in step with the code: its configuration table and its test command."""
from pathlib import Path

from gru4recf.config.options import options, reference_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_holds_the_generated_configuration_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference_table() in readme, "regenerate the README table with reference_table()"
    assert all(f"| `{name}` |" in readme for name in options())


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command.split("&&", 1)[0].strip().startswith("pip install")
    assert ci_command in readme
