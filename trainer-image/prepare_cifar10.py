"""Prepare the CIFAR-10 data volume that train.py reads (dataset=cifar10).

Fetches the python version of CIFAR-10 (`cifar-10-python.tar.gz`, 163 MB, from the
dataset's home page) or takes an archive already on disk, checks its MD5, and writes the
six python-pickle batches (data_batch_1..5, test_batch, plus batches.meta) straight into
OUT, where a TuningJob's trials mount it (`/opt/ml/input/data/training` in the examples).
Then it reads every batch back with train.py's own reader, so a volume that this script
finished is one the trainer can train on.

    python3 prepare_cifar10.py --out /data                      # download
    python3 prepare_cifar10.py --out /data --archive cifar-10-python.tar.gz

Only the expected archive members are extracted (never a path outside OUT). Exit status
0 done (also when OUT already holds valid batches: nothing is fetched), 2 with one line
on stderr naming the problem.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

# train.py lies beside this script (/opt/kubetune/ in the image); PYTHONSAFEPATH=1 would
# keep the script's directory off the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # the trainer's reader is the judge of the format

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the dataset's page
FOLDER = "cifar-10-batches-py"
BATCHES = (*train.CIFAR_TRAIN_BATCHES, train.CIFAR_TEST_BATCH)
MEMBERS = (*BATCHES, "batches.meta")
EXIT_ERROR = 2


class PrepareError(Exception):
    """Reported as one line on stderr, exit status 2."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract(archive: Path, out: Path) -> None:
    """The batches of `archive` (members FOLDER/NAME) written as out/NAME."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in BATCHES if f"{FOLDER}/{n}" not in members]
            if missing:
                raise PrepareError(
                    f"{archive} has no {FOLDER}/{missing[0]}: not the python version of "
                    "CIFAR-10 (cifar-10-python.tar.gz)"
                )
            for name in MEMBERS:
                member = members.get(f"{FOLDER}/{name}")
                source = None if member is None else tar.extractfile(member)
                if source is None:
                    continue
                with source, (out / name).open("wb") as target:
                    shutil.copyfileobj(source, target)
    except (OSError, tarfile.TarError) as error:
        raise PrepareError(f"{archive}: not a readable .tar.gz ({error})") from None


def check(out: Path) -> str:
    """Reads the batches as the trainer does; what it found."""
    try:
        data = train.load_cifar10(str(out))
    except train.InputError as error:
        raise PrepareError(str(error)) from None
    return f"{len(data.train_y)} training and {len(data.valid_y)} test images in {out}"


def prepare(out: Path, archive: Path | None, url: str, md5: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    if all((out / name).is_file() for name in BATCHES):  # the trainer accepts fewer; we don't
        try:
            return "already there: " + check(out)
        except PrepareError:
            pass  # damaged: written again
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        if archive is None:
            archive = Path(scratch) / "cifar-10-python.tar.gz"
            print(f"downloading {url}", flush=True)
            try:
                urllib.request.urlretrieve(url, archive)
            except OSError as error:
                raise PrepareError(
                    f"cannot download {url} ({error}); download it elsewhere and pass "
                    "--archive FILE"
                ) from None
        if md5 and md5_of(archive) != md5:
            raise PrepareError(
                f"{archive}: MD5 {md5_of(archive)} is not the published {md5}: a damaged "
                "or different file; download it again"
            )
        extract(archive, out)
    return check(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the data volume's mount path")
    parser.add_argument("--archive", type=Path, help="cifar-10-python.tar.gz already on disk")
    parser.add_argument("--url", default=URL, help=f"where to download it (default {URL})")
    parser.add_argument("--md5", default=MD5, help="expected MD5 of the archive ('' skips)")
    args = parser.parse_args(argv)
    try:
        print(prepare(args.out, args.archive, args.url, args.md5), flush=True)
    except PrepareError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
