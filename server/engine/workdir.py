"""The layout of an EditSession's workdir, in one place (the engine writes it; jobs only ask here).

    workdir/
      session.json          params, plan, phase, step (atomic writes)
      dataset/              the prepared dataset: its images/NNNN.png are this edit's originals
      edited/NNNN.png       the newest edit of each view (written atomically as it is made)
      edited/NNNN.alpha_free.png  its pixels of undecided opacity (RGBA shape edits only)
      checkpoints/latest.pt model, optimizers, schedulers, IDU state, current images

Standard library only: the job service reads the layout without importing torch.
"""

from __future__ import annotations

from pathlib import Path

SESSION_FILE = "session.json"
CHECKPOINT = Path("checkpoints") / "latest.pt"


def session_file(workdir: Path) -> Path:
    """The session's record; it exists once a session has been created in `workdir`."""
    return Path(workdir) / SESSION_FILE


def has_session(workdir: Path) -> bool:
    return session_file(workdir).is_file()


def checkpoint_path(workdir: Path) -> Path:
    """The latest checkpoint (it exists after the first save)."""
    return Path(workdir) / CHECKPOINT


def dataset_dir(workdir: Path) -> Path:
    """The session's own prepared copy of the dataset."""
    return Path(workdir) / "dataset"


def image_name(index: int) -> str:
    """The file name of view `index`, in the prepared dataset's images/ and in edited/."""
    return f"{index:04d}.png"


def images_dir(workdir: Path) -> Path:
    """The originals of this edit (the prepared dataset's images)."""
    return dataset_dir(workdir) / "images"


def edited_dir(workdir: Path) -> Path:
    return Path(workdir) / "edited"


def edited_image_path(workdir: Path, index: int) -> Path:
    """Where the newest edit of view `index` is (or will be) written."""
    return edited_dir(workdir) / image_name(index)


def alpha_free_path(workdir: Path, index: int) -> Path:
    """Where the alpha-free pixels of view `index`'s newest edit are kept (engine/edit_alpha.py; a 1-bit PNG,
    written before the edit itself)."""
    return edited_dir(workdir) / f"{index:04d}.alpha_free.png"


def edited_images(workdir: Path) -> list[Path]:
    """The edited views written so far, in view order."""
    return sorted(edited_dir(workdir).glob("[0-9][0-9][0-9][0-9].png"))


def image_count(workdir: Path) -> int | None:
    """How many views the session's dataset has; None before the dataset is prepared."""
    images = images_dir(workdir)
    return len(list(images.glob("*.png"))) if images.is_dir() else None


def current_image_path(workdir: Path, index: int) -> Path | None:
    """View `index` as training sees it now: its newest edit, else its original; None if neither exists."""
    for candidate in (edited_image_path(workdir, index), images_dir(workdir) / image_name(index)):
        if candidate.is_file():
            return candidate
    return None
