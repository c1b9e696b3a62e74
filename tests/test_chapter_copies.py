"""Values a chapter writes out because it sorts before the module that defines them must stay equal to it."""

import ast
import json
from pathlib import Path

from mmlearn.apps import assistant

NBS = Path(__file__).resolve().parents[1] / "nbs"


def assigned_literal(notebook: str, name: str):
    "The literal value assigned to `name` at the top level of a code cell of the notebook."
    for cell in json.loads((NBS / notebook).read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if f"{name} = " not in source:
            continue
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
                return ast.literal_eval(node.value)
    raise AssertionError(f"{notebook} assigns no {name}")


def test_lora_chapter_trains_on_the_assistants_mixture():
    mixture = assigned_literal("04h_llm.lora.ipynb", "MIXTURE")
    assert mixture == {task: n for task, n in assistant.MIXTURE.items() if n}
