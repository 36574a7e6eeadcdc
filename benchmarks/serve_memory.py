"""Memory of `rung serve` over many requests: start `rung serve MODEL --host 127.0.0.1`, send N
real photos from cats_dogs to /api/predict (a bounded loop: it stops by itself), and sample the
server's resident memory (RSS) every few milliseconds from another thread.

Reports the RSS when the server answers its first health check (start), after the warm-up
requests (the allocator's pools, the first forward passes and the lazily imported modules are
in by then), at the end, and the largest sampled; plus the growth end - warm-up, overall and per
request. Memory that keeps growing after warm-up is a leak (a list of requests, an unbounded
cache); glibc keeping freed pages is not, and shows as a one-time step, not a slope.

    .venv/bin/python benchmarks/serve_memory.py [--requests 1000] [--warmup 100] [--clients 4]
        [--size 96] [--model model.rung] [--photos ../shared/data/cats_dogs/val] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RUNG_SHARED_DATA", ROOT.parent / "shared" / "data"))
MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The process's resident set size: psutil when installed, else /proc/PID/status VmRSS."""
    try:
        import psutil
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS line in /proc/{pid}/status") from None
    return psutil.Process(pid).memory_info().rss


class RSSSampler:
    """Samples ``rss_bytes(pid)`` every ``every`` seconds in a daemon thread; ``max`` so far."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every, self.max = pid, every, rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.max = max(self.max, rss_bytes(self.pid))
            except (OSError, RuntimeError):  # the process has gone
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.max


def make_model(path: Path, size: int) -> Path:
    """A resnet18 image model file (seeded random weights: memory doesn't depend on them)."""
    import torch

    from rung.modelfile import save_model_file
    from rung.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
    prep = {"size": size, "resize": "crop", "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225]}  # fmt: skip
    config = {"kind": "image", "task": "classification", "classes": ["cats", "dogs"],
              "preprocessing": prep, "arch": "resnet18"}  # fmt: skip
    return save_model_file(path, model, config)


def start_rung_serve(model: Path, threads: int = 1) -> tuple[subprocess.Popen, str]:
    """`rung serve MODEL --host 127.0.0.1 --port P` in its own process; waits for /api/health."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "rung.cli", "serve", str(model), "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"rung serve exited with {proc.returncode}")
        try:
            httpx.get(url + "/api/health", timeout=2)
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("rung serve didn't answer in 180 s") from None
            time.sleep(0.3)


async def send(url: str, photos: list[tuple[str, bytes]], first: int, count: int,
               clients: int) -> list[str]:  # fmt: skip
    """Requests ``first .. first+count-1`` from ``clients`` concurrent clients; the errors."""
    errors: list[str] = []
    todo = iter(range(first, first + count))

    async def one_client(http: httpx.AsyncClient) -> None:
        for i in todo:  # shared iterator: the clients take the next request number
            name, data = photos[i % len(photos)]
            try:
                r = await http.post(
                    url + "/api/predict", files={"image": (name, data, "image/jpeg")}
                )
                if r.status_code != 200:
                    errors.append(f"request {i}: {r.status_code} {r.text[:80]}")
            except httpx.HTTPError as e:
                errors.append(f"request {i}: {type(e).__name__}")

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as h:
        await asyncio.gather(*(one_client(h) for _ in range(clients)))
    return errors


def measure(model: Path, photos: list[tuple[str, bytes]], requests: int, warmup: int,
            clients: int, threads: int = 1) -> dict:  # fmt: skip
    """Start `rung serve`, send ``warmup`` then ``requests - warmup`` requests, report RSS."""
    if not 0 < warmup < requests:
        raise ValueError(f"warmup must be between 0 and requests ({requests}), got {warmup}.")
    proc, url = start_rung_serve(model, threads)
    try:
        start = rss_bytes(proc.pid)
        sampler = RSSSampler(proc.pid)
        began = time.perf_counter()
        errors = asyncio.run(send(url, photos, 0, warmup, clients))
        after_warmup = rss_bytes(proc.pid)
        errors += asyncio.run(send(url, photos, warmup, requests - warmup, clients))
        wall = time.perf_counter() - began
        end = rss_bytes(proc.pid)
        largest = max(sampler.stop(), end)
        stats = httpx.get(url + "/api/health", timeout=10).json().get("stats", {})
    finally:
        proc.terminate()
        proc.wait(30)
    measured = requests - warmup
    return {
        "requests": requests, "warmup": warmup, "clients": clients, "errors": len(errors),
        "error_examples": errors[:5], "items_predicted": stats.get("items"),
        "rss_start_mb": round(start / MB, 1), "rss_after_warmup_mb": round(after_warmup / MB, 1),
        "rss_end_mb": round(end / MB, 1), "rss_max_mb": round(largest / MB, 1),
        "growth_after_warmup_mb": round((end - after_warmup) / MB, 2),
        "growth_per_request_kb": round((end - after_warmup) / measured / 1024, 2),
        "wall_s": round(wall, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="in all (warm-up included)")
    parser.add_argument("--warmup", type=int, default=100, help="requests before the baseline")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--size", type=int, default=96, help="the default model's input size")
    parser.add_argument("--model", type=Path, help="a .rung image model (default: resnet18)")
    parser.add_argument("--photos", type=Path, default=DATA / "cats_dogs" / "val")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--json", action="store_true", help="one JSON object only")
    args = parser.parse_args(argv)
    if not (2 <= args.requests <= 100_000 and 1 <= args.clients <= 64):
        parser.error("--requests must be 2-100000 and --clients 1-64")
    photos = [(p.name, p.read_bytes()) for p in sorted(args.photos.rglob("*.jpg"))[:200]]
    if not photos:
        parser.error(f"no .jpg photos under {args.photos}")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or make_model(Path(tmp) / "resnet18.rung", args.size)
        report = measure(model, photos, args.requests, args.warmup, args.clients, args.threads)
    report.update(photos=len(photos), size=args.size, cpus=os.cpu_count(),
                  loadavg=Path("/proc/loadavg").read_text().split()[:3])  # fmt: skip
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
