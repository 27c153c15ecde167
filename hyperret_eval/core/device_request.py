"""``--device`` checked without torch, so that a mistyped device or a CUDA device on a
machine without a GPU driver is refused in a second, before torch is imported.

What this cannot decide (a driver present but no device torch can use) is left to
:func:`hyperret_eval.core.distributed.resolve_device`, which asks torch.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from hyperret_eval.core.errors import UserError

# The device types torch names in ``torch.device`` (c10's DeviceType), lower case.
TORCH_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "hpu", "mtia", "meta", "ipu", "lazy", "vulkan", "ve",
                      "hip", "maia", "privateuseone")
_DEVICE = re.compile(r"(?P<type>[a-z_]+)(:\d+)?")
# What a Linux machine with a GPU that CUDA (or ROCm's HIP, also "cuda" to torch) can
# reach exposes: NVIDIA's driver, AMD's kernel driver, WSL's GPU bridge.
GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def check_device_request(requested: str) -> None:
    """Refuse a ``--device`` torch would refuse, or a CUDA device this machine cannot have."""
    if requested == "auto":
        return
    match = _DEVICE.fullmatch(requested)
    if match is None or match["type"] not in TORCH_DEVICE_TYPES:
        raise UserError(f"--device {requested!r}: expected auto, cpu, cuda or cuda:N")
    why = _why_no_cuda() if match["type"] == "cuda" else None
    if why:
        raise UserError(f"--device {requested}: this machine has no CUDA device visible to torch ({why}); "
                        "use --device cpu.")


def _why_no_cuda() -> str | None:
    """Why no CUDA device can be there (macOS, devices hidden by ``CUDA_VISIBLE_DEVICES``,
    Linux without a GPU driver), or None when there may be one."""
    if sys.platform == "darwin":
        return "macOS has no CUDA"
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in {"", "-1"}:
        return f"CUDA_VISIBLE_DEVICES={hidden!r} hides every device"
    if sys.platform.startswith("linux") and not any(Path(name).exists() for name in GPU_DRIVER_FILES):
        return f"no GPU driver: none of {', '.join(GPU_DRIVER_FILES)} exists"
    return None
