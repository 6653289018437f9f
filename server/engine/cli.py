"""`in2n-edit`: run an edit headless, with a progress bar.

in2n-edit DATA --instruction "make it autumn" [--tier in2n] [--load-dir CKPT] [--out DIR]
in2n-edit --resume DIR
in2n-edit --demo            # the offline demo: sample scene + bundled demo editor, on a CPU
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from in2n_protocol import edit_params


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="in2n-edit",
        description="Edit a 3D scene with a text instruction (Instruct-NeRF2NeRF), without the server.",
    )
    parser.add_argument(
        "data", nargs="?", type=Path, help="nerfstudio dataset directory (transforms.json + images)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/in2n-edit"), help="session folder (state, checkpoints)"
    )
    parser.add_argument(
        "--load-dir", type=Path, help="start from this reconstruction (session dir or checkpoint)"
    )
    parser.add_argument(
        "--continue-edit", action="store_true", help="with --load-dir: edit its edited images further"
    )
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue an interrupted session folder")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument(
        "--demo", action="store_true", help="run the offline CPU demo and write before/after images"
    )
    edit = parser.add_argument_group("edit parameters (the same as the server's JobCreate)")
    edit_params.add_arguments(edit, aliases={"instruction": ("-i",)})
    edit.add_argument(
        "--freeze-cameras",
        dest="optimize_cameras",
        action="store_false",
        default=None,
        help="do not refine poses (exact cameras); the same as --no-optimize-cameras",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.demo:
        from ..samples.demo import run_demo

        run_demo(
            args.out if args.out != Path("outputs/in2n-edit") else Path("outputs/demo"),
            device=args.device,
            model=args.model or "demo",
        )
        return 0

    from ..editor.loading import EditorUnavailableError
    from .session import EditSession

    try:
        if args.resume:
            session = EditSession.resume(args.resume, device=args.device)
        else:
            if args.data is None or not args.instruction:
                print(
                    "in2n-edit: DATA and --instruction are required (or use --resume / --demo)",
                    file=sys.stderr,
                )
                return 2
            params = edit_params.params_from_args(args)
            session = EditSession.create(
                args.data,
                args.out,
                params,
                device=args.device,
                base_checkpoint=args.load_dir,
                continue_from_edit=args.continue_edit,
            )
        session.run(checkpoint_every=args.checkpoint_every, progress_bar=True)
    except EditorUnavailableError as error:
        print(f"in2n-edit: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(
            f"in2n-edit: interrupted; continue with: in2n-edit --resume {args.resume or args.out}",
            file=sys.stderr,
        )
        return 130
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"in2n-edit: {error}", file=sys.stderr)
        return 2
    print(f"done: {session.workdir} (edited images in {session.workdir / 'edited'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
