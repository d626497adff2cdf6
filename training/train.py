"""Train a Korean recognizer (horizontal or vertical) with CTC on synthetic lines.

    python -m training.train --orientation horizontal --out runs/ko_h [--steps N] [--batch 64]

Batches are rendered by :class:`training.synth_lines.SyntheticLines` with the training fonts only (see
:func:`training.evaluate.split_fonts`) and go through :func:`ocrstack.pipeline.preprocess.recognition_batch`,
the serving preprocessing, padded to the config's width buckets as served (``--pad tight``: the widest
crop rounded up to 8, cheaper). Samples are rendered in groups of ``--width-group`` batches and each group
is cut into batches of crops of similar width (:func:`width_sorted_batches`). Batch ``s`` is a pure function
of ``(seed, s)``, as each sample is of ``(seed, index)``, so the data position of a run is its step alone.

Resuming: ``--out`` holds ``train_state.pt`` (model, optimizer, scheduler, step, torch RNG state, curves),
written atomically every ``--ckpt-every`` steps and at the end; a run started on a folder that has one
continues from it. On CPU a resumed run reproduces an uninterrupted one exactly; CUDA's CTC loss is not
deterministic, so on a GPU it only comes close.

Continuing from shipped weights: ``--init CKPT`` starts a new run (fresh optimizer, its own warmup and
cosine schedule) from the weights of an export-ready checkpoint of the same model, the way the shipped
Korean recognizers were trained in several runs on the CPU, each with its own ``--seed`` so that it sees
lines the earlier ones did not. The checkpoint may be of the model at another sequence stride (the same
weights; the lines model moved from stride 8 to 4 that way). It applies only to a folder without
``train_state.pt``; afterwards the run resumes from its own state like any other.

Outputs in ``--out``: ``model.pt`` (the export-ready :class:`ocrstack.weights.checkpoint.Checkpoint`, with
``SHA256SUMS``), ``curves.json`` and ``curves.png`` (loss, validation line accuracy and CER).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from ocrstack.config import KOREAN_RECOGNIZERS, RecognizerConfig
from ocrstack.models import build_model
from ocrstack.models.korean_ppocr_rec import HEAD_PREFIXES, KoreanPPOCRRecognizer, init_from_ppocr
from ocrstack.models.korean_rec import KoreanRecognizer
from ocrstack.pipeline.preprocess import recognition_batch
from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint, read_checksums, save_checkpoint
from training.charset import load_charset, out_of_charset
from training.evaluate import batch_width, evaluate, heldout_set, split_fonts, training_bitmap_fonts
from training.frozen_body import FrozenPrefix, PrefixedRecognizer
from training.synth_lines import SyntheticLines

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.pt"
CURVES_JSON = "curves.json"
CURVES_PNG = "curves.png"


class LineDataset(Dataset[tuple[np.ndarray, str]]):
    """Index -> ``(crop, text)`` from a :class:`SyntheticLines`; a map-style view for the DataLoader."""

    def __init__(self, lines: SyntheticLines) -> None:
        self.lines = lines

    def __len__(self) -> int:
        return 2**62  # endless; the sampler says which indices are drawn

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        return self.lines[index]


Sample = tuple[np.ndarray, str]


class GroupSamples(Sampler[list[int]]):
    """The sample indices of groups ``first .. stop - 1``, a group at a time; group ``g`` is samples
    ``g * size`` up to ``(g + 1) * size - 1``."""

    def __init__(self, first: int, stop: int, size: int) -> None:
        self.first, self.stop, self.size = first, stop, size

    def __iter__(self) -> Iterator[list[int]]:
        for group in range(self.first, self.stop):
            yield list(range(group * self.size, (group + 1) * self.size))

    def __len__(self) -> int:
        return max(0, self.stop - self.first)


def width_sorted_batches(samples: list[Sample], size: int, seed: int, group: int) -> list[list[Sample]]:
    """A group's samples sorted by crop width, cut into batches of ``size``, in an order shuffled by
    ``(seed, group)``. Every batch is padded to its widest crop, so a batch of random widths pays for its
    widest line; sorted, the synthetic lines cost about half as many columns."""
    order = sorted(range(len(samples)), key=lambda i: (samples[i][0].shape[1], i))
    batches = [[samples[i] for i in order[k * size : (k + 1) * size]] for k in range(len(samples) // size)]
    return [batches[k] for k in np.random.default_rng([seed, group]).permutation(len(batches))]


def encode(text: str, index: dict[str, int]) -> list[int]:
    """Text -> class indices (charset position + 1; 0 is the blank). Fails on characters outside it."""
    missing = out_of_charset(text, set(index))
    if missing:
        raise ValueError(f"{text!r}: characters outside the charset: {missing}")
    return [index[char] for char in text]


class Collate:
    """Samples -> (images [N,3,48,W], targets [sum L], target lengths [N], texts), in the worker."""

    def __init__(self, cfg: RecognizerConfig, charset: Sequence[str], buckets: bool) -> None:
        self.cfg, self.buckets = cfg, buckets
        self.index = {char: position + 1 for position, char in enumerate(charset)}

    def __call__(self, samples: list[tuple[np.ndarray, str]]):
        crops = [crop for crop, _ in samples]
        texts = [text for _, text in samples]
        images = recognition_batch(crops, self.cfg, batch_width(crops, self.cfg, self.buckets))
        labels = [encode(text, self.index) for text in texts]
        targets = torch.tensor([c for label in labels for c in label], dtype=torch.long)
        lengths = torch.tensor([len(label) for label in labels], dtype=torch.long)
        return torch.from_numpy(images), targets, lengths, texts


def lr_factor(step: int, total: int, warmup: int, floor: float = 0.02) -> float:
    """Linear warmup over ``warmup`` steps, then a cosine decay to ``floor`` of the peak at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written state."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_curves(history: dict[str, list[dict[str, float]]], out: Path) -> None:
    """``curves.json`` and ``curves.png`` (training loss; validation line accuracy and CER)."""
    tmp = out / (CURVES_JSON + ".tmp")
    tmp.write_text(json.dumps(history, indent=1))
    os.replace(tmp, out / CURVES_JSON)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    train, val = history["train"], history["val"]
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8)
    ax_loss.set(xlabel="step", ylabel="CTC loss", title="training loss", yscale="log")
    ax_val.plot([r["step"] for r in val], [r["line_accuracy"] for r in val], "o-", label="line accuracy")
    ax_val.plot([r["step"] for r in val], [r["cer"] for r in val], "s-", label="CER")
    ax_val.set(xlabel="step", title="held-out fonts", ylim=(0, 1))
    ax_val.legend()
    fig.tight_layout()
    fig.savefig(out / CURVES_PNG, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a Korean CTC recognizer on synthetic lines")
    parser.add_argument("--orientation", choices=("horizontal", "vertical"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=100_000, help="total steps (the schedule's length)")
    parser.add_argument("--stop-after", type=int, default=None, help="stop at this step (resume later)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=None, help="default: 2%% of the steps, at most 1000")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--clip", type=float, default=5.0, help="gradient norm clipping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--val-count", type=int, default=256, help="held-out lines per validation")
    parser.add_argument("--ckpt-every", type=int, default=None, help="default: --val-every")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--pad", choices=("buckets", "tight"), default="buckets")
    parser.add_argument("--max-chars", type=int, default=None, help="longest text (default: generator's)")
    parser.add_argument(
        "--width-group", type=int, default=16, help="batches rendered together and cut by width (1: none)"
    )
    parser.add_argument(
        "--init", type=Path, default=None, help="export-ready checkpoint to start a new run from"
    )
    parser.add_argument("--architecture", default=None, help="model to train (default: the config record's)")
    parser.add_argument(
        "--init-ppocr",
        type=Path,
        default=None,
        help="PP-OCR recognizer checkpoint whose body (and shared characters) start a korean_ppocrv4_rec run",
    )
    parser.add_argument(
        "--frozen-stages",
        type=int,
        default=0,
        help="backbone stages of a korean_ppocrv4_rec kept frozen (run in ONNX Runtime on CPU)",
    )
    parser.add_argument(
        "--body-lr-scale", type=float, default=1.0, help="learning-rate factor of the trainable body"
    )
    parser.add_argument(
        "--photo", type=float, default=0.0, help="share of the lines composed as photographs show them"
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Run (or continue) training as the arguments say; returns the curves."""
    vertical = args.orientation == "vertical"
    cfg = KOREAN_RECOGNIZERS[args.orientation]
    if args.architecture is not None:
        cfg = replace(cfg, architecture=args.architecture)
    charset = load_charset("korean")
    device = pick_device(args.device)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    buckets = args.pad == "buckets"
    warmup = args.warmup if args.warmup is not None else max(1, min(1000, args.steps // 50))
    stop = min(args.steps, args.stop_after if args.stop_after is not None else args.steps)
    ckpt_every = args.ckpt_every or args.val_every

    torch.manual_seed(args.seed)
    # Channels-last: oneDNN's depthwise convolutions, most of this model, run its backward pass about
    # 1.3-1.5x faster in that layout on CPU. Set before the optimizer and the resumed state are loaded.
    model = build_model(cfg.architecture, len(charset) + 1)
    assert isinstance(model, KoreanRecognizer | KoreanPPOCRRecognizer), cfg.architecture
    model.set_charset(charset)
    # Module.to moves the model in place (and returns it). torch's overloads for it leave out the
    # keyword-only memory_format that its docstring documents and its implementation reads.
    model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    if args.frozen_stages:
        if not isinstance(model, KoreanPPOCRRecognizer):
            raise ValueError("--frozen-stages applies to korean_ppocrv4_rec only")
        for parameter in model.frozen_prefix(args.frozen_stages).parameters():
            parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        param_groups(model, args.lr, args.body_lr_scale), weight_decay=args.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, args.steps, warmup))
    history: dict[str, list[dict[str, float]]] = {"train": [], "val": []}
    step = 0
    init_digest: str | None = None
    state_path = out / STATE_FILE
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step, history = state["step"], state["history"]
        print(f"resuming {out} at step {step}")
    elif args.init is not None:
        init_digest = load_initial_weights(model, args.init, cfg, charset)
        print(f"starting {out} from {args.init}")
    elif args.init_ppocr is not None:
        if not isinstance(model, KoreanPPOCRRecognizer):
            raise ValueError("--init-ppocr starts a korean_ppocrv4_rec model")
        ppocr = load_checkpoint(args.init_ppocr)
        if ppocr.charset is None:
            raise ValueError(f"{args.init_ppocr} has no charset to carry the head's rows over with")
        shared = init_from_ppocr(model, ppocr.state_dict, ppocr.charset, charset)
        init_digest = read_checksums(args.init_ppocr.parent)[args.init_ppocr.name]
        print(f"starting {out} from the body of {args.init_ppocr} ({shared} characters carried over)")
    frozen = None
    if args.frozen_stages:
        assert isinstance(model, KoreanPPOCRRecognizer)
        frozen = FrozenPrefix(model, args.frozen_stages, out, device, threads=torch.get_num_threads())

    def save_state() -> None:
        atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "step": step,
                "history": history,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            state_path,
        )
        write_curves(history, out)

    train_faces, heldout_faces = split_fonts()
    lines = SyntheticLines(
        args.seed,
        fonts=train_faces,
        vertical=vertical,
        max_chars=args.max_chars,
        photo=args.photo,
        bitmap_fonts=training_bitmap_fonts(heldout_faces),
    )
    # Batch s is batch s % G of group s // G (G = --width-group): a pure function of s, so a resumed
    # run sees what an uninterrupted one would have; resuming re-renders the group it stopped in.
    per_group, start = args.width_group, step
    loader = DataLoader(
        LineDataset(lines),
        batch_sampler=GroupSamples(start // per_group, -(-stop // per_group), args.batch * per_group),
        collate_fn=list,  # workers render whole groups; batches are cut by width below
        num_workers=args.workers,
        # Its own generator: the loader draws a seed from it per epoch, which must not shift the global
        # RNG (dropout) between an uninterrupted and a resumed run.
        generator=torch.Generator().manual_seed(args.seed),
    )
    collate = Collate(cfg, charset, buckets)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]]:
        for group, samples in enumerate(loader, start=start // per_group):
            for position, batch in enumerate(width_sorted_batches(samples, args.batch, args.seed, group)):
                if start <= group * per_group + position < stop:
                    yield collate(batch)

    val_samples = heldout_set(vertical, args.val_count, max_chars=args.max_chars) if stop > step else []
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    bar = tqdm(total=stop, initial=step, disable=args.no_progress, desc=cfg.name, unit="step")
    last = time.perf_counter()
    for images, targets, lengths, _ in batches():
        if frozen is not None:
            assert isinstance(model, KoreanPPOCRRecognizer)  # as --frozen-stages required above
            features = frozen(images).to(device, non_blocking=True, memory_format=torch.channels_last)
            log_probs = model.log_probs_from(features, args.frozen_stages).transpose(0, 1)
        else:
            images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
            log_probs = model.log_probs(images).transpose(0, 1)  # [T, N, C] for CTCLoss
        input_lengths = torch.full((images.shape[0],), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, targets, input_lengths, lengths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], args.clip)
        optimizer.step()
        scheduler.step()
        step += 1
        now = time.perf_counter()
        rate = images.shape[0] / max(now - last, 1e-9)
        last = now
        record = {
            "step": step,
            "loss": float(loss.item()),
            "lr": float(scheduler.get_last_lr()[0]),  # a float already: the optimizer's lr is args.lr
            "samples_per_s": rate,
        }
        history["train"].append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.2e}", samples_s=f"{rate:.1f}")
        if step % args.val_every == 0 or step == stop:
            reader: nn.Module = model
            if frozen is not None:
                assert isinstance(model, KoreanPPOCRRecognizer)
                reader = PrefixedRecognizer(model, frozen)
            metrics = evaluate(reader, val_samples, cfg, args.batch, charset, device, buckets)
            history["val"].append(
                {"step": step, "line_accuracy": metrics["line_accuracy"], "cer": metrics["cer"]}
            )
            bar.write(
                f"step {step}: val line accuracy {metrics['line_accuracy']:.3f}, CER {metrics['cer']:.3f}"
            )
            last = time.perf_counter()  # validation out of the samples/s
        if step % ckpt_every == 0 or step == stop:
            save_state()
            last = time.perf_counter()
    bar.close()
    if step >= args.steps:
        source = f"training.train seed {args.seed}, {step} steps"
        if init_digest is not None:
            source += f", from sha256:{init_digest}"
        export(model, cfg, charset, out / MODEL_FILE, source)
    return history


def param_groups(model: nn.Module, lr: float, body_lr_scale: float) -> list[dict[str, Any]]:
    """The trainable parameters, the imported body of a korean_ppocrv4_rec at ``lr * body_lr_scale``
    (fine-tuning moves real-data features more slowly than the new head), the rest at ``lr``."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not isinstance(model, KoreanPPOCRRecognizer) or body_lr_scale == 1.0:
        return [{"params": [p for _, p in trainable], "lr": lr}]
    head = [p for name, p in trainable if name.startswith(HEAD_PREFIXES)]
    body = [p for name, p in trainable if not name.startswith(HEAD_PREFIXES)]
    return [{"params": head, "lr": lr}, {"params": body, "lr": lr * body_lr_scale}]


def load_initial_weights(
    model: KoreanRecognizer | KoreanPPOCRRecognizer, path: Path, cfg: RecognizerConfig, charset: list[str]
) -> str:
    """Load the weights of a checksum-verified checkpoint of ``cfg``'s model with the same charset;
    returns its SHA-256. A checkpoint from before the head had jamo scores keeps them at zero (the
    function it was trained as) and the jamo table the caller set from the charset. The checkpoint's
    architecture may differ from ``cfg``'s where every weight fits: a sequence stride is a convolution's
    stride, not a weight, so a model trained at stride 8 starts one at stride 4."""
    checkpoint = load_checkpoint(path)
    if checkpoint.config_name != cfg.name:
        raise ValueError(f"{path} holds {checkpoint.config_name} ({checkpoint.architecture}), not {cfg.name}")
    if checkpoint.charset != charset:
        raise ValueError(f"{path} was trained with another charset")
    missing, unexpected = model.load_state_dict(checkpoint.state_dict, strict=False)
    if unexpected or any(not key.startswith("jamo.") for key in missing):
        raise ValueError(f"{path} does not fit the model: missing {missing}, unexpected {unexpected}")
    return read_checksums(path.parent)[path.name]  # the digest load_checkpoint just verified


def export(model: nn.Module, cfg: RecognizerConfig, charset: list[str], path: Path, source: str) -> str:
    """The export-ready checkpoint ``convert/`` reads; returns its SHA-256."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint(Checkpoint(cfg.name, cfg.architecture, state, charset, source), path)


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
