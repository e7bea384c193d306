"""The docs stay in step with the code: the generated configuration and model pages, the README's
links to them, and its test command."""
from pathlib import Path

from gru4recf.experiment import schema
from gru4recf.reference import configuration_page, models_page

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "regenerate with `python -m gru4recf.reference`"


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
