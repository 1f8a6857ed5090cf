"""Sequence-level distillation: translate a whole source file with beam search, resumably.

Non-autoregressive models (the CMLM) are usually trained on an autoregressive model's
translations of the training sources rather than on the references (Kim and Rush 2016; Mask-
Predict does so). `distill_file` writes those translations, one line per source line (a blank
source gives a blank line), so that the result is line-aligned with the source file.

Decoding 29,000 sentences takes a while on a CPU, so the work is done in chunks of `chunk_lines`
lines appended to `OUTPUT.partial` (each chunk flushed to disk), beside a fingerprint
`OUTPUT.partial.json` of the source file, the model's weights and the decoding settings. A run
that finds both continues after the last complete chunk; one whose fingerprint differs stops with
a one-line error rather than mix two jobs. When every line is done the partial file is renamed to
OUTPUT in one step, so OUTPUT is complete or absent. Chunks always start at multiples of
`chunk_lines` and `translate_beam` batches within a chunk, so a resumed run writes what an
uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.files import check_output, cut_back, read_lines, whole_lines, write_json
from textebm.data.fingerprint import file_digest
from textebm.errors import UsageError
from textebm.samplers.beam import translate_beam


@dataclass(frozen=True)
class BeamSettings:
    """The settings of `translate_beam` that decide its output (batch_size does not)."""

    beam: int = 5
    max_length_ratio: float = 2.0
    max_length_extra: int = 10
    length_penalty: float = 1.0


@dataclass
class DistillReport:
    """What one `distill_file` call did: lines in the file, lines it translated (the rest were
    resumed), its wall time, model passes and translated lines per second."""

    lines: int
    translated: int
    resumed: int
    seconds: float
    passes: int

    @property
    def sentences_per_second(self) -> float:
        return self.translated / self.seconds if self.seconds else 0.0


def weights_digest(model: PreTrainedModel) -> str:
    """SHA-256 of the model's parameters and buffers in name order (a fingerprint of weights)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def distill_file(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    source: str | Path,
    output: str | Path,
    settings: BeamSettings = BeamSettings(),
    batch_size: int = 64,
    chunk_lines: int = 1000,
    stop_after: int | None = None,
    progress: bool = True,
) -> DistillReport:
    """Translate every line of `source` (.gz transparently) into `output`, resumably.

    settings: beam search settings (part of the fingerprint); batch_size: sentences per generate
    call; chunk_lines: lines per chunk written to `output`.partial; stop_after: stop once at
    least this many lines are done, leaving the partial file (as an interrupted run would; for
    tests and time-boxed sessions). Returns a DistillReport; `output` exists only when every line
    is done.
    """
    if chunk_lines < 1:
        raise UsageError(f"chunk_lines must be at least 1, not {chunk_lines}")
    source, output = Path(source), Path(output)
    lines = read_lines(source)
    if not lines:
        raise UsageError(f"{source} holds no lines to translate")
    check_output(output, inputs=(source,))
    partial = output.with_name(output.name + ".partial")
    fingerprint_path = output.with_name(output.name + ".partial.json")
    fingerprint = {
        "source": file_digest(source),
        "lines": len(lines),
        "weights": weights_digest(model),
        "settings": asdict(settings),
        "chunk_lines": chunk_lines,
    }
    done = 0
    if partial.exists():
        found = json.loads(fingerprint_path.read_text()) if fingerprint_path.exists() else None
        if found != fingerprint:
            raise UsageError(
                f"{partial} holds translations of another source, model or settings; delete it "
                "(and its .json) to start afresh"
            )
        _, ends = whole_lines(partial)  # a torn last line is dropped
        done = min(len(ends) // chunk_lines * chunk_lines, len(lines))
        cut_back(partial, ends[done - 1] if done else 0)  # to the last complete chunk
    else:
        write_json(fingerprint_path, fingerprint)
        partial.write_bytes(b"")
    report = DistillReport(len(lines), 0, done, 0.0, 0)
    started = time.perf_counter()
    bar = None
    if progress and not os.environ.get("CI"):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(lines), initial=done, unit="line", desc="distill", dynamic_ncols=True)
    with partial.open("ab") as handle:
        while done < len(lines) and (stop_after is None or done < stop_after):
            chunk = lines[done : done + chunk_lines]
            result = translate_beam(
                model, tokenizer, chunk, batch_size=batch_size, **asdict(settings)
            )
            # One line per source line, whatever a decoded token holds.
            texts = (" ".join(text.splitlines()) + "\n" for text in result.texts)
            handle.write("".join(texts).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
            done += len(chunk)
            report.translated += len(chunk)
            report.passes += result.passes
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    report.seconds = time.perf_counter() - started
    if done == len(lines):
        os.replace(partial, output)
        fingerprint_path.unlink()
    return report
