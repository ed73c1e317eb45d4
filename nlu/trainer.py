"""Training, scoring and loading NLU models from the app: the Rasa environment's programs, run as
child processes with deadlines, and the Rasa server's model API.

Nothing here knows the database: bot.nlu_training reads and writes the rows and calls these. The
Rasa environment is separate (Python 3.10, its own venv): ``rasa train nlu`` trains, nlu/evaluate.py
scores, and ``PUT /model`` makes a running NLU server load a model (it keeps answering meanwhile).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from nlu.examples import examples as read_examples

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
EVALUATE = ROOT / "nlu" / "evaluate.py"
OUTPUT_TAIL = 1500  # characters of a failed program's output written to the log, digits masked
_DIGITS = re.compile(r"\d{4,}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKUP = str.maketrans({"[": "(", "]": ")", "{": "(", "}": ")"})  # Rasa would read [x](y) as an entity


class TrainingError(RuntimeError):
    """Training, scoring or loading failed or ran out of time. ``code`` says why (the console shows it
    in Indonesian: handlers.labels.MODEL_ERRORS); the message is for the log, in English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Toolchain:
    """Where the Rasa environment and the repository's NLU files are."""

    rasa_bin: Path
    config: Path
    domain: Path
    data_dir: Path
    eval_sets: tuple[tuple[str, Path], ...]  # (name, Rasa NLU YAML)

    @property
    def python(self) -> Path:
        return self.rasa_bin.parent / "python"

    def check(self) -> list[str]:
        """What is missing for a retraining, in plain words (empty: all there)."""
        missing = [str(p) for p in (self.rasa_bin, self.python, self.config, self.domain, self.data_dir)
                   if not p.exists()]
        missing += [str(path) for _, path in self.eval_sets if not path.is_file()]
        return missing


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def eval_texts(tools: "Toolchain") -> set[str]:
    """The evaluation sets' texts (normalised): a labelled message that is one of them is not trained on."""
    return {normalised(text) for _, path in tools.eval_sets for text, _ in read_examples(path)}


def training_yaml(examples: list[tuple[str, str]]) -> str:
    """Labelled examples as Rasa NLU YAML (one block per intent), for the training data's new version.
    Control characters go, and brackets become parentheses (Rasa reads ``[x](y)`` as an entity)."""
    by_intent: dict[str, list[str]] = {}
    for text, intent in examples:
        line = " ".join(_UNPRINTABLE.sub(" ", text).translate(_MARKUP).split())
        if line and line not in by_intent.setdefault(intent, []):
            by_intent[intent].append(line)
    out = ['# Labelled by admins in the console (NLU review); personal numbers masked.', 'version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        out += [f"- intent: {intent}", "  examples: |"] + [f"    - {line}" for line in by_intent[intent]]
    return "\n".join(out) + "\n"


def data_digest(examples: list[tuple[str, str]]) -> str:
    """A short fingerprint of the labelled examples: the training data's version."""
    digest = hashlib.sha256()
    for text, intent in sorted(examples):
        digest.update(f"{intent}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def prepare_data(tools: Toolchain, workdir: Path, examples: list[tuple[str, str]]) -> Path:
    """The repository's training data plus the labelled examples, in ``workdir/data``."""
    data = workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    for path in sorted(tools.data_dir.glob("*.yml")):
        shutil.copy(path, data / path.name)
    if examples:
        (data / "labelled.yml").write_text(training_yaml(examples), encoding="utf-8")
    return data


def _run(command: list[str], deadline: float, tick: Callable[[float], None] | None, what: str) -> str:
    """Run a child process (its own process group, at low priority, one thread: the NLU server and the
    bot's workers share the machine) until ``deadline`` (time.monotonic), calling ``tick(elapsed)`` about
    every second; ``tick`` may raise to stop it. The whole group is killed on the way out."""
    started = time.monotonic()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1",
           "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    nice = [shutil.which("nice") or "nice", "-n", "10"] if shutil.which("nice") else []
    with subprocess.Popen(nice + command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                          text=True, start_new_session=True) as proc:
        try:
            while True:
                try:
                    output, _ = proc.communicate(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise TrainingError("timeout", f"{what} did not finish in time") from None
                    if tick is not None:
                        tick(time.monotonic() - started)
        finally:
            _kill_group(proc)
    if proc.returncode != 0:
        log.warning("%s failed (exit %s): %s", what, proc.returncode, _DIGITS.sub("####", (output or "")[-OUTPUT_TAIL:]))
        raise TrainingError(f"{what}_failed", f"{what} failed (exit {proc.returncode})")
    return output or ""


def _kill_group(proc: subprocess.Popen) -> None:
    """The program and whatever it started (Rasa's own workers), if still there."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def train(tools: Toolchain, data: Path, out_dir: Path, name: str, timeout: float,
          tick: Callable[[float], None] | None = None) -> Path:
    """``rasa train nlu`` on ``data``; returns the model's path (``out_dir/name.tar.gz``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [str(tools.rasa_bin), "train", "nlu", "--config", str(tools.config), "--nlu", str(data),
               "--domain", str(tools.domain), "--out", str(out_dir), "--fixed-model-name", name]
    _run(command, time.monotonic() + timeout, tick, "training")
    model = out_dir / f"{name}.tar.gz"
    if not model.is_file():
        raise TrainingError("training_failed", f"training wrote no model at {model}")
    return model


def evaluate(tools: Toolchain, models: list[Path], timeout: float,
             tick: Callable[[float], None] | None = None) -> list[dict]:
    """Each model's scores on every evaluation set (nlu/evaluate.py), in the order given."""
    command = [str(tools.python), str(EVALUATE)]
    for model in models:
        command += ["--model", str(model)]
    for name, path in tools.eval_sets:
        command += ["--set", f"{name}={path}"]
    output = _run(command, time.monotonic() + timeout, tick, "evaluation")
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)["models"]
            except (ValueError, KeyError) as exc:
                raise TrainingError("evaluation_failed", f"evaluation printed no result ({type(exc).__name__})") from exc
    raise TrainingError("evaluation_failed", "evaluation printed no result")


class Server:
    """The Rasa NLU server's model API (the same server and token the bot parses with)."""

    def __init__(self, url: str, token: str | None, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.params = {"token": token} if token else None
        self.session = session or requests.Session()

    def model_file(self, timeout: float = 3.0) -> str | None:
        """The model the server runs (its file name), or None when it runs none; raises when it does not answer."""
        try:
            response = self.session.get(f"{self.url}/status", params=self.params, timeout=timeout)
            response.raise_for_status()
            return (response.json() or {}).get("model_file") or None
        except (requests.RequestException, ValueError) as exc:
            raise TrainingError("server_down", f"the NLU server did not answer /status ({type(exc).__name__})") from exc

    def load(self, model: Path, timeout: float = 60.0) -> None:
        """Make the server load ``model``; it answers with the old one until the new one is ready."""
        started = time.monotonic()
        try:
            response = self.session.put(f"{self.url}/model", params=self.params, json={"model_file": str(model)},
                                        timeout=timeout)
        except requests.Timeout as exc:
            raise TrainingError("load_timeout", "the NLU server did not load the model in time") from exc
        except requests.RequestException as exc:
            raise TrainingError("server_down", f"the NLU server did not load the model ({type(exc).__name__})") from exc
        if response.status_code != 204:
            raise TrainingError("load_refused", f"the NLU server refused the model (HTTP {response.status_code})")
        log.info("nlu server loaded %s in %.1f s", model.name, time.monotonic() - started)


def same_model(served: str | None, wanted: Path) -> bool:
    return served is not None and Path(served).name == wanted.name
