"""Fingerprints of a model folder and of input lines: what they see, and what they ignore."""

from __future__ import annotations

import hashlib
import shutil

from textebm.data.fingerprint import file_digest, lines_fingerprint, model_fingerprint
from textebm.models.tiny import build_tiny_cmlm


def test_file_digest_is_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 9000)  # 2.3 MB: three 1 MiB blocks, the last short
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_lines_fingerprint_sees_order_and_boundaries():
    base = lines_fingerprint(["a b", "c"])
    assert base == hashlib.sha256(b"a b\nc\n").hexdigest()
    assert base != lines_fingerprint(["a", "b c"])  # same characters, other lines
    assert base != lines_fingerprint(["c", "a b"])
    assert base != lines_fingerprint(["a b", "c", ""])


def test_model_fingerprint_reads_the_model_files_not_their_neighbours(tmp_path):
    folder = build_tiny_cmlm(tmp_path / "m")
    found = model_fingerprint(str(folder))
    assert "config.json" in found and "model.safetensors" in found
    assert any(name.startswith("tokenizer") for name in found)
    assert found["model.safetensors"] == file_digest(folder / "model.safetensors")
    # a training run's logs and checkpoints beside the model do not count
    (folder / "metrics.jsonl").write_text('{"loss": 1}\n')
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "model.safetensors").write_bytes(b"other")
    assert model_fingerprint(str(folder)) == found
    # a copy elsewhere is the same model; other weights are not
    copy = shutil.copytree(folder, tmp_path / "copy")
    assert model_fingerprint(str(copy)) == found
    other = build_tiny_cmlm(tmp_path / "other", seed=1)
    assert model_fingerprint(str(other))["model.safetensors"] != found["model.safetensors"]


def test_a_hub_id_is_its_own_fingerprint(tmp_path):
    assert model_fingerprint("someone/some-model") == {"hub id": "someone/some-model"}
