"""The README's library example runs as written: a custom Flax model and a custom explainer
through `cfjax.compare` (verification beside placebo and noise floor), without touching cfjax's
code."""

import pathlib
import re

from cfjax.explain import base

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def example_code() -> str:
  """The python block that follows the `<!-- example: custom model and explainer -->` marker."""
  text = README.read_text(encoding="utf-8")
  match = re.search(r"<!-- example: custom model and explainer -->\s*```python\n(.*?)```", text,
                    re.S)
  assert match, "README lost its custom model and explainer example"
  return match.group(1)


def test_the_custom_model_and_explainer_example_runs(capsys):
  code = example_code()
  assert len(code.strip().splitlines()) <= 40
  try:
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
  finally:
    base.EXPLAINERS.unregister("most_rated")
  printed = capsys.readouterr().out
  rows = {line.split("|")[1].strip().lstrip("* ") for line in printed.splitlines()
          if line.startswith("| ")}
  assert "most_rated" in rows and "placebo net %" in printed and "noise floor %" in printed
