"""The official MNIST-format (IDX) files: reading them with numpy and verifying their checksums.

MNIST and Fashion-MNIST are distributed as four gzip-compressed IDX files each; their md5
checksums below are the ones their providers publish. `data.load` looks for them in the
folders `data.candidate_dirs` lists.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

# Official file names and md5 checksums, as published by the datasets' providers.
IDX_FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


class DataFileError(FileNotFoundError):
    """A dataset file is missing, truncated or has the wrong checksum."""


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: str | Path) -> np.ndarray:
    """Read a (gzip-compressed or raw) IDX file of unsigned bytes into a numpy array.

    Raises:
        DataFileError: the file is not IDX of unsigned bytes, or is shorter than its header says.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip raises EOFError on a truncated stream
        raise DataFileError(f"cannot read IDX file {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataFileError(
            f"{path} is truncated or padded: its header promises shape {shape} "
            f"({expected} bytes) but {len(raw) - header} bytes follow"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_files(name: str, folders) -> dict[str, Path] | None:
    """Locate and verify the four IDX files of `name` in `folders` (in order), or None.

    A folder counts when it holds the files directly or in a `<name>/` subfolder. A file that
    is present but corrupt is never skipped in favour of a later folder: it raises.
    """
    expected = IDX_FILES[name]
    for base in folders:
        for folder in (base / name, base):
            if not any((folder / fname).exists() for fname in expected):
                continue
            paths = {}
            for fname, md5 in expected.items():
                path = folder / fname
                if not path.exists():
                    raise DataFileError(
                        f"{name}: {fname} is missing from {folder} (the other {name} files are "
                        f"there); expected a file with md5 {md5}"
                    )
                actual = md5sum(path)
                if actual != md5:
                    raise DataFileError(
                        f"{name}: {path} has md5 {actual}, expected {md5} (the official file); "
                        "it is corrupt or truncated: download it again"
                    )
                paths[fname] = path
            return paths
    return None
