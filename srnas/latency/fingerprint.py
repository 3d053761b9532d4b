"""What a latency table's numbers depend on: the machine (CPU model, ISA, cores), the runtime (ONNX Runtime version,
execution provider, threads) and the deployment input. A table is only valid where its fingerprint matches."""
from __future__ import annotations

import os
import platform
from typing import Any

from srnas.errors import SrnasError

ISA = ("avx512_vnni", "avx512f", "avx2", "fma", "avx", "neon", "asimd")  # the extensions ORT's CPU kernels pick from
MACHINE_KEYS = ("cpu", "isa", "cores", "arch", "runtime", "provider")
SETTING_KEYS = ("threads", "input_hw", "opset")


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "Hardware") and model in ("unknown", platform.processor()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = value.split()
    except OSError:
        pass
    return model, flags


def fingerprint(provider: str, threads: int, input_hw: tuple[int, int], opset: int) -> dict[str, Any]:
    """This machine's fingerprint for a measurement with these settings (JSON-able)."""
    import onnxruntime as ort

    from srnas.latency.runtime import provider_name

    model, flags = _cpuinfo()
    return {"cpu": model, "isa": [f for f in ISA if f in flags], "cores": os.cpu_count(), "arch": platform.machine(),
            "runtime": f"onnxruntime {ort.__version__}", "provider": provider_name(provider), "threads": int(threads),
            "input_hw": [int(input_hw[0]), int(input_hw[1])], "opset": int(opset)}


def mismatches(table_fp: dict[str, Any], here: dict[str, Any]) -> list[str]:
    """``key: table value vs here`` for every fingerprint field that differs."""
    out = []
    for key in MACHINE_KEYS + SETTING_KEYS:
        a, b = table_fp.get(key), here.get(key)
        if a != b:
            out.append(f"{key} {a!r} in the table, {b!r} here")
    return out


def check_fingerprint(table_fp: dict[str, Any], here: dict[str, Any], source: str) -> None:
    """SrnasError (one line) when a table was measured on another machine or with other settings."""
    diff = mismatches(table_fp, here)
    if diff:
        raise SrnasError(f"{source}: latency table measured on another machine or settings ({'; '.join(diff)}); "
                         "build one here with `srnas latency build`")
