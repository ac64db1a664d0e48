"""Multi-process stages: the runner starts `torchrun` or `accelerate launch` on `ponder.recipes.child`.

DeepSpeed is then the real engine (HF Trainer builds it from the JSON). On CPU, torchrun + gloo is
the path that works: `accelerate launch --cpu --num_processes 2` starts ONE process (accelerate treats
--cpu as a single-process run unless multi-CPU settings are given), which is also why ZeRO-3 there
asserted on a world size of 1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from ponder import CONFIGS_DIR
from ponder.trainers.launch_configs import NAMED, deepspeed_config_path


def accelerate_config_path(name_or_path: str) -> Path:
    path = CONFIGS_DIR / "accelerate" / f"{name_or_path}.yaml" if name_or_path in NAMED else Path(name_or_path)
    if not path.exists():
        raise FileNotFoundError(f"accelerate config {name_or_path!r} not found (named: {NAMED}, or a YAML path)")
    return path


def resolved_accelerate_config(name_or_path: str, workdir: Path) -> Path:
    """Copy the accelerate YAML with its DeepSpeed JSON path made absolute (it is shipped relative)."""
    import yaml

    config = yaml.safe_load(accelerate_config_path(name_or_path).read_text())
    ds = config.get("deepspeed_config", {})
    if "deepspeed_config_file" in ds and not Path(ds["deepspeed_config_file"]).is_absolute():
        ds["deepspeed_config_file"] = str(deepspeed_config_path(Path(ds["deepspeed_config_file"]).stem))
    out = workdir / "accelerate.yaml"
    out.write_text(yaml.safe_dump(config))
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_command(launcher, spec_file: Path) -> list[str]:
    """The launcher's command line. Without `extra_args` (one machine) the rendezvous takes a free port: both
    launchers default to 29500, so two multi-process stages on one machine collided (seen on the GPU check: the
    second failed with EADDRINUSE). With `extra_args` (several nodes) the ports are the user's to give."""
    child = ["-m", "ponder.recipes.child", str(spec_file)]
    extra = [os.path.expandvars(arg) for arg in launcher.extra_args]  # $SLURM_NODEID etc. per node
    if launcher.type == "torchrun":
        port = [] if extra else [f"--master_port={free_port()}"]
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={launcher.num_processes}",
            *port,
            *extra,
            *child,
        ]
    config = resolved_accelerate_config(launcher.accelerate_config or "ddp", spec_file.parent)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "--num_processes",
        str(launcher.num_processes),
        *([] if extra else ["--main_process_port", str(free_port())]),
        *extra,
        *child,
    ]


def run_multiprocess(
    stage, recipe_path: str, overrides: list[str], workdir: Path, run_dir: Path, resume: bool
) -> dict:
    """Run one stage in child processes; rank 0 leaves `outcome.json` in the stage folder."""
    spec_file = workdir / "launch_spec.json"
    spec = {
        "recipe": recipe_path,
        "overrides": overrides,
        "stage": stage.name,
        "workdir": str(workdir),
        "run_dir": str(run_dir),
        "resume": resume,
    }
    spec_file.write_text(json.dumps(spec))
    outcome_file = workdir / "outcome.json"
    outcome_file.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = launch_command(stage.launcher, spec_file)
    print("launch:", " ".join(command), flush=True)
    code = subprocess.run(command, env=env).returncode
    if code != 0 or not outcome_file.exists():
        raise RuntimeError(f"stage {stage.name!r}: launcher exited with {code}; see the output above")
    return json.loads(outcome_file.read_text())
