"""`in2n-edit`: run an edit headless, with a progress bar.

in2n-edit DATA --instruction "make it autumn" [--tier in2n] [--load-dir CKPT] [--out DIR]
in2n-edit --resume DIR
in2n-edit --demo            # the offline demo: sample scene + bundled demo editor, on a CPU
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .method_configs import TIERS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="in2n-edit",
        description="Edit a 3D scene with a text instruction (Instruct-NeRF2NeRF), without the server.",
    )
    parser.add_argument(
        "data", nargs="?", type=Path, help="nerfstudio dataset directory (transforms.json + images)"
    )
    parser.add_argument("--instruction", "-i", help='what to do, e.g. "make it look like autumn"')
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/in2n-edit"), help="session folder (state, checkpoints)"
    )
    parser.add_argument(
        "--tier", choices=TIERS, default="in2n", help="quality/memory preset (in2n-cpu for CPUs)"
    )
    parser.add_argument("--model", help='InstructPix2Pix hub id, local pipeline dir, or "demo"')
    parser.add_argument(
        "--load-dir", type=Path, help="start from this reconstruction (session dir or checkpoint)"
    )
    parser.add_argument(
        "--continue-edit", action="store_true", help="with --load-dir: edit its edited images further"
    )
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue an interrupted session folder")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--base-iterations", type=int, default=3000)
    parser.add_argument("--edit-iterations", type=int, default=15000)
    parser.add_argument("--guidance-scale", type=float, default=7.5)
    parser.add_argument("--image-guidance-scale", type=float, default=1.5)
    parser.add_argument("--diffusion-steps", type=int, default=20)
    parser.add_argument("--lower-bound", type=float, default=0.02)
    parser.add_argument("--upper-bound", type=float, default=0.98)
    parser.add_argument("--edit-rate", type=int, default=10)
    parser.add_argument("--edit-count", type=int, default=1)
    parser.add_argument("--schedule", choices=("rolling", "sweep", "once"), default="rolling")
    parser.add_argument("--max-image-size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--freeze-cameras", action="store_true", help="do not refine poses (exact cameras)")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument(
        "--demo", action="store_true", help="run the offline CPU demo and write before/after images"
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
    from .types import EditParams

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
            params = EditParams(
                instruction=args.instruction,
                tier=args.tier,
                guidance_scale=args.guidance_scale,
                image_guidance_scale=args.image_guidance_scale,
                diffusion_steps=args.diffusion_steps,
                lower_bound=args.lower_bound,
                upper_bound=args.upper_bound,
                seed=args.seed,
                base_iterations=args.base_iterations,
                edit_iterations=args.edit_iterations,
                edit_rate=args.edit_rate,
                edit_count=args.edit_count,
                schedule=args.schedule,
                max_image_size=args.max_image_size,
                optimize_cameras=not args.freeze_cameras,
                model=args.model,
            )
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
