"""The fields every benchmark report starts with: which benchmark, the command that wrote
it, the machine it ran on and the package versions, so a number in a JSON file can always
be traced to the run that produced it."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import version
from typing import Any

import torch

from hyperret_eval.core.provenance import package_versions


def report_header(benchmark: str, device: str = "cpu", packages: tuple[str, ...] = (),
                  **machine: Any) -> dict[str, Any]:
    """``packages``: distributions the benchmark uses beyond the project's own (their
    versions are reported too); ``machine``: more facts its figures depend on."""
    if device.startswith("cuda") and torch.cuda.is_available():
        machine = {"gpu": torch.cuda.get_device_name(device), **machine}
    return {
        "benchmark": benchmark,
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "device": device,
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "memory_bytes": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
            **machine,
        },
        "packages": {**package_versions(), **{name: version(name) for name in packages}},
    }
