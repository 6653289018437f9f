"""`in2n-server`: parse flags into Settings, check them, and serve the app with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from blender_in2n.wire import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV

from .config import Settings, default_workspace


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="in2n-server",
        description=(
            "Serve Instruct-NeRF2NeRF edits over HTTP for the Blender extension "
            "(and curl, scripts, other tools). "
            "Jobs run one at a time on the chosen device (or several at once on a Ray cluster, --ray); "
            "everything lives in the workspace folder, so a "
            "restarted server resumes unfinished jobs from their last checkpoint."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind; anything but loopback needs --token"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port")
    parser.add_argument(
        "--workspace",
        type=Path,
        default=default_workspace(),
        help="folder for scenes, jobs, checkpoints and event logs",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cuda", "cpu"),
        default="auto",
        help="where jobs train: auto picks CUDA when available",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="editor weights for every job: a Hugging Face id, a local diffusers pipeline folder, "
        "or 'demo' (the small bundled editor); default: the tier's default "
        "(timbrooks/instruct-pix2pix)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"require 'Authorization: Bearer TOKEN' on every request (or set {TOKEN_ENV})",
    )
    parser.add_argument(
        "--allow-root",
        dest="allow_roots",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="a folder whose datasets POST /v1/scenes/from-path may read (repeatable)",
    )
    parser.add_argument("--max-images", type=int, default=500, help="most images per scene")
    parser.add_argument("--max-upload-mb", type=float, default=2048, help="largest upload body, in MiB")
    parser.add_argument(
        "--max-image-side", type=int, default=8192, help="largest image side accepted, in pixels"
    )
    parser.add_argument(
        "--max-image-size",
        type=int,
        default=512,
        help="images are downscaled so their longer side is at most this (IP2P slows above 512)",
    )
    parser.add_argument(
        "--ray",
        default=None,
        metavar="auto|ADDRESS",
        help="run jobs on a Ray cluster, one per GPU, several at once: 'auto' starts a local Ray on this "
        "machine, an address (HOST:6379) joins a running cluster; needs `pip install .[ray]` and a "
        "workspace every node sees at the same path (docs/server.md)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=200, help="NeRF steps between checkpoints")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def settings_from_args(argv: list[str] | None = None) -> Settings:
    args = build_parser().parse_args(argv)
    return Settings(
        host=args.host,
        port=args.port,
        workspace=args.workspace,
        device=args.device,
        model=args.model,
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        allow_roots=args.allow_roots,
        max_images=args.max_images,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_image_side=args.max_image_side,
        max_image_size=args.max_image_size,
        checkpoint_every=args.checkpoint_every,
        ray=args.ray,
        log_level=args.log_level,
    )


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_args(argv)
    try:
        settings.check()
    except ValueError as error:
        print(f"in2n-server: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvicorn

    from .app import create_app, resolve_device

    try:
        resolve_device(settings.device)
        app = create_app(settings)
    except ValueError as error:
        print(f"in2n-server: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, timeout_graceful_shutdown=5
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
