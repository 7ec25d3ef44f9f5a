"""The cache key's model fingerprint: a local checkpoint is keyed on the sha256 of every byte
(reasonmed.llm.cache.folder_digest), memoised by (path, size, mtime), so a big checkpoint is
hashed once. Writes a folder with a config and `--gib` GiB of random "weights" (in shards
of `--shard-gib`), then times the cold digest, the memoised one, and the digest after one
shard is touched (only that shard is hashed again). Prints the figures; asserts nothing.
The folder is deleted at the end.

    python benchmarks/fingerprint.py --gib 4
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reasonmed.llm.cache import folder_digest  # noqa: E402


def write_shards(folder: Path, gib: float, shard_gib: float) -> int:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}\n')
    block = os.urandom(1 << 24)  # 16 MiB, repeated: the digest reads every byte all the same
    left, i = int(gib * (1 << 30)), 0
    while left > 0:
        size = min(left, int(shard_gib * (1 << 30)))
        with open(folder / f"model-{i:05d}.safetensors", "wb") as f:
            for _ in range(size // len(block)):
                f.write(block)
            f.write(block[: size % len(block)])
        left, i = left - size, i + 1
    return i


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=4.0)
    ap.add_argument("--shard-gib", type=float, default=2.0)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reasonmed-fingerprint-"))
    try:
        folder, memo = tmp / "checkpoint", tmp / "memo"
        shards = write_shards(folder, a.gib, a.shard_gib)
        os.sync()
        t0 = time.perf_counter()
        cold = folder_digest(folder, memo)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = folder_digest(folder, memo)
        t_warm = time.perf_counter() - t0
        first = folder / "model-00000.safetensors"
        os.utime(first, ns=(time.time_ns(), time.time_ns()))  # same bytes, new mtime
        t0 = time.perf_counter()
        touched = folder_digest(folder, memo)
        t_touched = time.perf_counter() - t0
        print(f"checkpoint: {a.gib:g} GiB in {shards} shard(s)")
        print(f"cold digest:      {t_cold:8.2f} s  ({a.gib / t_cold:.2f} GiB/s)")
        print(f"memoised digest:  {t_warm * 1000:8.1f} ms (same digest: {warm == cold})")
        print(f"one shard touched:{t_touched:8.2f} s  (same digest: {touched == cold})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
