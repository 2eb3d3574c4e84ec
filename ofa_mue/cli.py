"""``ofa-mue``: one command for the project's command lines.

    ofa-mue predict --path caption.pt --image photo.jpg
    ofa-mue evaluate DATA --path snli_ve.pt --task snli_ve ...

``ofa-mue NAME ARGS`` runs exactly what ``python -m MODULE ARGS`` runs, for the NAME and
MODULE of :data:`COMMANDS`. A new command is one line in that table.
"""
from __future__ import annotations

import runpy
import sys
from typing import Dict, Optional, Sequence, Tuple

COMMANDS: Dict[str, Tuple[str, str]] = {
    "predict": ("ofa_mue.predict", "caption pictures, or judge a hypothesis about them (SNLI-VE)"),
    "evaluate": ("ofa_mue.evaluate", "score a whole split: metrics, layers used, expected and measured time"),
    "calibrate": ("ofa_mue.calibrate", "exit thresholds that keep a share of the full model's quality"),
    "sweep": ("ofa_mue.sweep", "quality-vs-speed curves of MuE and the baselines (CSV, markdown, PNG)"),
    "reproduce": ("ofa_mue.reproduce", "the paper's tables 1-4 and figures for a checkpoint (markdown, CSV, PNG)"),
    "merge": ("ofa_mue.merge", "join the shards of an evaluation run on several machines"),
    "report": ("ofa_mue.report", "the full-model vs MuE table of finished evaluations"),
    "convert": ("ofa_mue.convert", "OFA's Hugging Face port checkpoints to fairseq's, and back"),
    "user-dir": ("ofa_mue.user_dir", "print the folder to pass as fairseq's --user-dir"),
    "demo-data": ("ofa_mue.demo.generate", "generate the synthetic demo data set"),
}
"""Command name -> (module run as ``python -m``, one-line description)."""


def usage() -> str:
    """The one-screen help of ``ofa-mue``."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: ofa-mue COMMAND [ARGS...]",
        "",
        "MuE early exit for OFA (a fairseq plugin). Commands (each also runs as python -m MODULE):",
        "",
    ]
    lines += [f"  {name:<{width}}  {description}  [{module}]" for name, (module, description) in COMMANDS.items()]
    lines += [
        "",
        "'ofa-mue COMMAND --help' lists a command's options. Training and generation are fairseq's own:",
        '  fairseq-train DATA --user-dir "$(ofa-mue user-dir)" --task snli_ve --arch ofa_base ...',
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console entry point: run the command that ``argv`` (default: ``sys.argv[1:]``) names."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        if not args:
            sys.exit(2)
        return
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        sys.exit(f"error: unknown command {name!r}; commands: {', '.join(COMMANDS)} (ofa-mue --help)")
    module = COMMANDS[name][0]
    sys.argv = [f"ofa-mue {name}", *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=False)


if __name__ == "__main__":
    main()
