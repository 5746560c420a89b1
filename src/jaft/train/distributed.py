"""Multi-process training through ``accelerate launch`` (DDP by default; FSDP / DeepSpeed by preset)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from jaft.errors import JaftError

PRESETS = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")


def in_distributed_child() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def preset_path(name_or_path: str) -> Path:
    """An accelerate config: one of the shipped presets by name, or a YAML path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    repo = Path(__file__).resolve().parents[3] / "configs" / "accelerate" / f"{name_or_path}.yaml"
    if repo.is_file():
        return repo
    raise JaftError(f"accelerate config '{name_or_path}' not found; use one of {', '.join(PRESETS)} or a YAML path")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(argv: list[str], num_processes: int, accelerate_config: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes),
           "--num_machines", "1", "--main_process_port", str(_free_port())]
    if accelerate_config:
        cmd += ["--config_file", str(preset_path(accelerate_config))]
    else:
        # DDP. On a CPU-only machine this still spawns N processes and Trainer picks the gloo backend.
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return [*cmd, "-m", "jaft", *argv]


def relaunch(argv: list[str], num_processes: int, accelerate_config: str | None) -> int:
    """Run ``jaft <argv>`` under accelerate with ``num_processes`` ranks; returns the exit code."""
    cmd = launch_command(argv, num_processes, accelerate_config)
    env = {**os.environ, "JAFT_LAUNCHED": "1"}
    return subprocess.call(cmd, env=env)


def _strip(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``argv`` without the given options and their values."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif not a.startswith(tuple(f"{o}=" for o in options)):
            out.append(a)
    return out


def launch_ranks(cfg, argv: list[str], data: list[str] | None, accelerate_config: str | None) -> int:
    """Parent side of ``--num-processes N``: fix what ranks must share, then launch them.

    Raw data is prepared once here (ranks would race), and the output directory is fixed here (ranks
    starting a second apart would otherwise name different timestamped directories).
    """
    import datetime as dt

    from jaft.train.data import prepare_inputs

    child = _strip(argv, ("--num-processes", "--accelerate-config"))
    out = cfg.train.output_dir or f"runs/sft-ddp-{dt.datetime.now():%Y%m%d-%H%M%S}"
    child = [*_strip(child, ("--output", "-o")), "--output", out]
    if data:
        prepared = prepare_inputs(cfg, data, Path(out))
        child = [*_strip(child, ("--data",)), "--data", str(prepared)]
    return relaunch(child, cfg.train.num_processes, accelerate_config)
