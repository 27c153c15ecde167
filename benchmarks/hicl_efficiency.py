"""HiCL efficiency: training step time and peak memory, segment encoding vs whole-sequence
encoding, at input lengths 64, 128, 256 and 512 tokens, same batch.

Each (mode, length) runs in a fresh process so that its peak resident memory (CPU) or
peak allocated memory (CUDA) is its own. Texts are real SciFact abstracts cut to exactly
the length. Writes benchmarks/results/hicl_efficiency.json.

    python benchmarks/hicl_efficiency.py --data-root ../shared/data [--batch-size 16] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path

LENGTHS = (64, 128, 256, 512)  # tokens per input, special tokens included
SEGMENT_LENGTH = 32


def _texts_of_length(tokenizer, data_root: Path, content_tokens: int, count: int) -> list[str]:
    from hyperret_eval.data.beir import read_corpus

    stream: list[int] = []
    for doc in read_corpus(data_root / "beir" / "scifact" / "corpus.jsonl").values():
        stream.extend(tokenizer(doc["text"], add_special_tokens=False)["input_ids"])
        if len(stream) >= content_tokens * count * 2:
            break
    # Decoding and re-tokenizing can merge word pieces, so cut generously and let the
    # slicer's truncation (max_tokens) fix the exact length.
    return [tokenizer.decode(stream[i * content_tokens * 2 : (i + 1) * content_tokens * 2]) for i in range(count)]


def _measure(mode: str, length: int, batch_size: int, steps: int, data_root: str, device: str, queue) -> None:
    import torch

    from hyperret_eval.models.backbones import backbone_path
    from hyperret_eval.models.hicl.losses import hicl_loss
    from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder

    torch.manual_seed(0)
    content = length - 2  # [CLS] and [SEP]
    segment = SEGMENT_LENGTH if mode == "hicl" else content
    encoder = HiCLEncoder(str(backbone_path("minilm")), segment_length=segment, max_tokens=content).to(device)
    encoder.train()
    texts = _texts_of_length(encoder.tokenizer, Path(data_root), content, batch_size)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-5)
    features = {k: v.to(device) for k, v in encoder.preprocess(texts).items()}
    assert int(features["segment_tokens"].sum()) == content * batch_size, "texts must fill the length exactly"

    def step() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        v1, v2 = encoder(dict(features)), encoder(dict(features))
        alpha = 0.2 if mode == "hicl" else 0.0
        loss = hicl_loss(v1["sentence_embedding"], v2["sentence_embedding"], v1["segment_embeddings"],
                         v2["segment_embeddings"], features["segment_text"], alpha=alpha)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - started

    step()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = [step() for _ in range(steps)]
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    queue.put({
        "mode": mode, "length": length, "segments": int(features["input_ids"].shape[0]),
        "segment_width": int(features["input_ids"].shape[1]), "step_seconds": times,
        "mean_step_seconds": sum(times) / len(times), "peak_memory_mb": round(peak_mb, 1),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "hicl_efficiency.json"))
    args = parser.parse_args()

    import torch

    from hyperret_eval.core import atomic
    from report_header import report_header

    context = mp.get_context("spawn")
    rows = []
    for length in LENGTHS:
        for mode in ("whole-sequence", "hicl"):
            queue = context.Queue()
            proc = context.Process(target=_measure, args=(mode, length, args.batch_size, args.steps, args.data_root, args.device, queue))
            proc.start()
            row = queue.get()
            proc.join()
            rows.append(row)
            print(f"{mode:>15} L={length:<4} {row['mean_step_seconds']:.3f} s/step  peak {row['peak_memory_mb']:.0f} MB", flush=True)
    ratios = []
    for length in LENGTHS:
        whole = next(r for r in rows if r["length"] == length and r["mode"] == "whole-sequence")
        hicl = next(r for r in rows if r["length"] == length and r["mode"] == "hicl")
        ratios.append({
            "length": length,
            "time_ratio_whole_over_hicl": round(whole["mean_step_seconds"] / hicl["mean_step_seconds"], 3),
            "memory_ratio_whole_over_hicl": round(whole["peak_memory_mb"] / hicl["peak_memory_mb"], 3),
        })
    report = {
        **report_header("hicl_efficiency", device=args.device),
        "settings": {"batch_size": args.batch_size, "measured_steps": args.steps, "segment_length": SEGMENT_LENGTH,
                     "backbone": "sentence-transformers/all-MiniLM-L6-v2",
                     "step": "two dropout views forward, loss, backward, AdamW step",
                     "memory": "peak RSS of the process (CPU) or peak CUDA allocation"},
        "rows": rows,
        "ratios": ratios,
    }
    atomic.write_json(Path(args.output), report)
    print(json.dumps(ratios, indent=1))


if __name__ == "__main__":
    main()
