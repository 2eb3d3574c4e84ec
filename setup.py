"""Packaging for ofa-mue: every sub-package installs under the single import name ofa_mue."""
from setuptools import setup

SUBPACKAGES = ["models", "criterions", "tasks", "data", "demo"]

setup(
    name="ofa-mue",
    version="0.1.0",
    description="MuE (multiple exiting) early-exit inference and fine-tuning for OFA, as a fairseq plugin",
    python_requires=">=3.11",
    packages=["ofa_mue", "ofa_mue.core"] + [f"ofa_mue.{name}" for name in SUBPACKAGES],
    package_dir={"ofa_mue": "ofa_mue", "ofa_mue.core": "ofa_mue/core", **{f"ofa_mue.{name}": name for name in SUBPACKAGES}},
    package_data={"ofa_mue": ["resources/ofa_bpe/*"]},
    entry_points={"console_scripts": ["ofa-mue = ofa_mue.cli:main"]},
)
