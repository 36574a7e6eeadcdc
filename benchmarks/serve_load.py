"""Load on `rung serve`: N concurrent clients x M requests of real photos on 127.0.0.1, with
bad requests mixed in, against one server that batches (--max-batch 32) and one that predicts
one request at a time (--max-batch 1), started the same way in the same run.

Reports per server: p50/p99 latency of the good requests, throughput, forward passes and the
mean batch, and errors: any answer other than 200 for a good request or the expected 4xx for a
bad one (zero expected). Each server runs in its own process (as `rung serve` would), the
clients in this one.

    .venv/bin/python benchmarks/serve_load.py [--clients 16] [--requests 20] [--size 224]
        [--model model.rung] [--photos ../shared/data/cats_dogs/val] [--bad-every 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RUNG_SHARED_DATA", ROOT.parent / "shared" / "data"))
SERVER = """
import sys
from rung.serve.limits import Limits
from rung.serve.server import serve
serve(sys.argv[1], port=int(sys.argv[2]), limits=Limits(max_batch=int(sys.argv[3]),
      max_in_flight=256), log_level="warning")
"""


def make_model(path: Path, size: int) -> Path:
    """A resnet18 image model file (random weights: speed doesn't depend on them)."""
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


def bad_requests() -> list[tuple[dict, int]]:
    """(httpx.post kwargs, the status it must get)"""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    )
    return [
        ({"files": {"image": ("notes.txt", b"not a photo")}}, 422),
        ({"files": {"image": ("bomb.png", bomb + chunk(b"IEND", b""))}}, 413),
        ({"json": {"picture": "..."}}, 400),
        ({"content": b"{", "headers": {"content-type": "application/json"}}, 400),
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, max_batch: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(model), str(port), str(max_batch)], env=env, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            httpx.get(url + "/api/health", timeout=2)
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server didn't start in 180 s") from None
            time.sleep(0.3)


async def client(http: httpx.AsyncClient, url: str, photos: list[tuple[str, bytes]], k: int,
                 n: int, bad_every: int, out: dict) -> None:  # fmt: skip
    bad = bad_requests()
    for i in range(n):
        if bad_every and (i + k) % bad_every == bad_every - 1:
            kwargs, status = bad[(i + k) % len(bad)]
            good = False
        else:
            name, data = photos[(k * n + i) % len(photos)]
            kwargs, status, good = {"files": {"image": (name, data, "image/jpeg")}}, 200, True
        started = time.perf_counter()
        try:
            response = await http.post(url + "/api/predict", **kwargs)
            got = response.status_code
        except httpx.HTTPError as e:
            got = f"{type(e).__name__}"
        elapsed = time.perf_counter() - started
        if got != status:
            out["errors"].append(f"expected {status}, got {got}")
        elif good:
            out["latencies"].append(elapsed)
        else:
            out["bad_answered"] += 1


async def load(url: str, photos: list[tuple[str, bytes]], clients: int, requests: int,
               bad_every: int) -> dict:  # fmt: skip
    out: dict = {"latencies": [], "errors": [], "bad_answered": 0}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await http.post(url + "/api/predict", files={"image": photos[0]})  # warm up
        before = (await http.get(url + "/api/health")).json()["stats"]
        started = time.perf_counter()
        await asyncio.gather(
            *(client(http, url, photos, k, requests, bad_every, out) for k in range(clients))
        )
        wall = time.perf_counter() - started
        after = (await http.get(url + "/api/health")).json()["stats"]
    lat = sorted(out["latencies"])
    passes = after["passes"] - before["passes"]
    items = after["items"] - before["items"]
    return {
        "good_requests": len(lat), "bad_requests_answered_4xx": out["bad_answered"],
        "errors": len(out["errors"]), "error_examples": out["errors"][:5],
        "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1) if lat else None,
        "throughput_rps": round(len(lat) / wall, 1), "wall_s": round(wall, 2),
        "forward_passes": passes, "mean_batch": round(items / passes, 2) if passes else None,
        "largest_batch": after["largest"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--size", type=int, default=224, help="the model's input size")
    parser.add_argument("--model", type=Path, help="a .rung image model (default: resnet18)")
    parser.add_argument("--photos", type=Path, default=DATA / "cats_dogs" / "val")
    parser.add_argument("--bad-every", type=int, default=5, help="every k-th request is bad")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the server (1: on a shared machine more threads spin-wait)",
    )
    args = parser.parse_args()
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 1000):
        parser.error("--clients must be 1-256 and --requests 1-1000")
    photos = [(p.name, p.read_bytes()) for p in sorted(args.photos.rglob("*.jpg"))[:200]]
    if not photos:
        parser.error(f"no .jpg photos under {args.photos}")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or make_model(Path(tmp) / "resnet18.rung", args.size)
        results = {}
        for name, max_batch in (("batched (max batch 32)", 32), ("one at a time (max batch 1)", 1)):
            proc, url = start_server(model, max_batch, args.threads)
            try:
                results[name] = asyncio.run(
                    load(url, photos, args.clients, args.requests, args.bad_every)
                )
            finally:
                proc.terminate()
                proc.wait(30)
    report = {
        "clients": args.clients, "requests_per_client": args.requests, "size": args.size,
        "photos": len(photos), "bad_every": args.bad_every, "server_threads": args.threads,
        "cpus": os.cpu_count(), **results,
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
