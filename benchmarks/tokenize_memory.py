"""Peak memory of chunking one long document with `token_chunker`, per character.

Why `file_loader`'s `max_document_chars` defaults to 2,000,000: the fast tokenizer's encoding
of one text (ids, offsets, word ids, then Python tuples for the window spans) costs a few
hundred bytes per character, so one huge file could take the whole run down. Each size runs in
a fresh process (seeded synthetic ASCII words plus one accented word, so the tokenizer, not
the plain-ASCII counting shortcut, does the work); peak RSS is that process's own.

Run:  .venv/bin/python benchmarks/tokenize_memory.py --chars 500000 1000000 2000000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import string
import subprocess
import sys


def measure(chars: int) -> dict[str, float]:
    from ragloom.chunking.token_window import TokenWindowChunker
    from ragloom.types import Document

    chunker = TokenWindowChunker(chunk_size=512, overlap=0)
    chunker.warm_up()
    rng = random.Random(0)
    words = (
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(chars // 4)
    )
    text = (" ".join(words)[: chars - 2]) + " é"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chunks = chunker.run([Document(text=text, id="big")])["chunks"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"chars": chars, "chunks": len(chunks), "before_mb": before, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, nargs="+", default=[500_000, 1_000_000, 2_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    print("| characters | chunks | RSS before MB | peak RSS MB | bytes per character |")
    print("|---|---|---|---|---|")
    for chars in args.chars:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(chars)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        per = (row["peak_mb"] - row["before_mb"]) * 2**20 / chars
        print(
            f"| {chars:,} | {row['chunks']:,} | {row['before_mb']:.0f} | {row['peak_mb']:.0f} "
            f"| {per:.0f} |"
        )


if __name__ == "__main__":
    main()
