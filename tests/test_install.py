"""A plain (non-editable) install works as a fairseq plugin from any folder.

The project is built as a wheel and installed into a fresh virtual environment that reuses
the installed torch and fairseq (a ``.pth`` file pointing at this interpreter's
site-packages; ``.pth`` files inside that folder, such as an editable install's finder, are
not processed there, so ``ofa_mue`` can only come from the wheel). Every command then runs
from a folder outside the checkout, without ``PYTHONPATH``.
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ofa_mue.demo.generate import generate_demo_data

REPO = Path(__file__).resolve().parents[1]
NOT_PACKAGED = (".git", ".venv", "demo_data", "results", "checkpoints", "build", "dist", "__pycache__",
                ".pytest_cache", "*.egg-info", ".whl", ".gl")


def run(*command: str, cwd: Path, env: dict) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(python, environment, work folder)`` of a venv holding only the wheel of this checkout."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_PACKAGED))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(root / "wheels"), str(source)],
                   check=True, capture_output=True, env=env, timeout=300)
    (wheel,) = (root / "wheels").glob("ofa_mue-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
                   check=True, capture_output=True, env=env, timeout=300)
    work = root / "elsewhere"
    work.mkdir()
    return python, env, work, Path(purelib)


def test_wheel_install_trains_predicts_and_evaluates_from_any_folder(installed):
    python, env, work, site_packages = installed
    folder = run(str(Path(python).parent / "ofa-mue"), "user-dir", cwd=work, env=env).strip().splitlines()[-1]
    assert Path(folder) == site_packages / "ofa_mue"
    assert (Path(folder) / "models" / "ofa.py").is_file() and (Path(folder) / "resources/ofa_bpe/dict.txt").is_file()

    data = work / "data"
    generate_demo_data(data, seed=2, train=8, valid=2, test=3, image_size=64)
    save_dir = work / "checkpoints"
    run(python, "-m", "fairseq_cli.train", str(data / "snli_ve"), "--user-dir", folder, "--task", "snli_ve",
        "--arch", "ofa_demo", "--bpe-dir", str(data / "bpe"), "--patch-image-size", "64", "--add-caption",
        "--criterion", "adjust_label_smoothed_cross_entropy", "--optimizer", "adam", "--lr", "1e-4",
        "--max-update", "1", "--batch-size", "4", "--save-dir", str(save_dir), "--num-workers", "0", "--cpu",
        "--no-epoch-checkpoints", cwd=work, env=env)
    checkpoint = str(save_dir / "checkpoint_last.pt")

    row = (data / "snli_ve" / "test.tsv").read_text().splitlines()[0].split("\t")
    picture = work / "picture.png"
    picture.write_bytes(base64.urlsafe_b64decode(row[2] + "=" * (-len(row[2]) % 4)))
    predicted = run(python, "-m", "ofa_mue.predict", "--path", checkpoint, "--image", str(picture), "--cpu",
                    "--hypothesis", row[3], "--premise", row[4], cwd=work, env=env)
    assert predicted.strip().splitlines()[-1].split(": ")[-1] in {"yes", "no", "maybe"}

    evaluated = run(python, "-m", "ofa_mue.evaluate", str(data / "snli_ve"), "--path", checkpoint, "--task",
                    "snli_ve", "--gen-subset", "test", "--batch-size", "2", "--cpu", cwd=work, env=env)
    assert '"examples": 3' in evaluated
