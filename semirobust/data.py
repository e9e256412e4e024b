"""Data sets as float tensors in [0, 1] (normalization lives in the model).

CIFAR-10, CIFAR-100 and Imagenette load through torchvision's own data set classes (with
download where the machine has internet); ``digits`` is scikit-learn's bundled handwritten digits,
resized to 32x32 RGB, so CI and the offline book build need no download at all.

Fashion-MNIST loads through torchvision's own ``FashionMNIST`` class too. Offline, its files come from
Debian's package ``dataset-fashion-mnist`` (the standard gzipped IDX files under
``/usr/share/datasets/fashion-mnist``): they are decompressed once into the layout torchvision reads,
``<data root>/FashionMNIST/raw`` (a copy, since torchvision reads the uncompressed files), so no download is
needed; with internet and without the package, torchvision downloads the same files.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from semirobust.config import DATASET_SPECS, DATASETS, DatasetSpec, check_choice, check_int
from semirobust.utils import atomic_write_bytes, default_data_root

SPLITS = ("train", "test")


#: the facts :func:`dataset_info` returns (the record of :data:`semirobust.config.DATASET_SPECS`).
DatasetInfo = DatasetSpec


class TensorImageDataset(Dataset):
    """In-memory images ``(N, 3, H, W)`` in [0, 1] with integer ``targets``."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor):
        if images.shape[0] != targets.shape[0]:
            raise ValueError("images and targets must have the same length")
        self.images = images
        self.targets = targets

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index):
        return self.images[index], int(self.targets[index])


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """All 1,797 digits as (N, 3, 32, 32) in [0, 1], labels, and a fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    small = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # 8x8, 17 grey levels
    images = F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    images = images.repeat(1, 3, 1, 1).contiguous()
    labels = torch.tensor(bunch.target, dtype=torch.long)
    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(index, test_size=0.2, stratify=bunch.target, random_state=0)
    return images, labels, np.sort(train_idx), np.sort(test_idx)


def _load_digits(split: str) -> TensorImageDataset:
    images, labels, train_idx, test_idx = _digits_arrays()
    idx = torch.as_tensor(train_idx if split == "train" else test_idx)
    return TensorImageDataset(images[idx], labels[idx])


@functools.lru_cache(maxsize=1)
def _digits_stats() -> DatasetInfo:
    images, _, train_idx, _ = _digits_arrays()
    train = images[torch.as_tensor(train_idx)]
    mean = tuple(float(v) for v in train.mean(dim=(0, 2, 3)))
    std = tuple(float(v) for v in train.std(dim=(0, 2, 3)))
    return dataclasses.replace(DATASET_SPECS["digits"], mean=mean, std=std)


def dataset_info(name: str) -> DatasetInfo:
    """The record of data set ``name`` (classes, input size, split sizes, normalization statistics), with the
    statistics that are computed from the data (digits) filled in."""
    check_choice("dataset", name, DATASETS)
    return _digits_stats() if DATASET_SPECS[name].mean is None else DATASET_SPECS[name]


#: where Debian's ``dataset-fashion-mnist`` installs the gzipped IDX files.
FASHION_MNIST_SOURCE = Path("/usr/share/datasets/fashion-mnist")
#: the four IDX files torchvision's FashionMNIST reads (uncompressed, under ``<root>/FashionMNIST/raw``).
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_MNIST_HELP = ("install Debian's package with `apt-get install dataset-fashion-mnist` (`make book` and "
                      "`make test` do this), or, on a machine with internet, let torchvision download the files: "
                      "load_dataset('fashion-mnist', split, download=True)")


def prepare_fashion_mnist(root, source=None) -> Path:
    """Decompress the Debian package's IDX files once into ``root/FashionMNIST/raw``; returns that folder.

    Files already there are kept (a no-op on later calls); each is written atomically. Returns the folder
    even when the package is absent, so torchvision can look (and download, where allowed) on its own.
    """
    source = Path(source) if source is not None else FASHION_MNIST_SOURCE
    raw = Path(root) / "FashionMNIST" / "raw"
    for name in FASHION_MNIST_FILES:
        packed = source / f"{name}.gz"
        if not (raw / name).exists() and packed.exists():
            with gzip.open(packed, "rb") as fh:
                atomic_write_bytes(raw / name, fh.read())
    return raw


def fashion_mnist_images(raw_images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` -> float ``(N, 3, 32, 32)`` in [0, 1]: zero-padded by 2 pixels on each side
    (the background is 0, so the padding adds nothing; a resize would blur the 28x28 pixels) and one channel
    repeated three times (a view, not three copies), the input shape every network of the paper takes."""
    padded = F.pad(raw_images.to(torch.float32).div_(255.0), (2, 2, 2, 2)).unsqueeze(1)
    return padded.expand(-1, 3, -1, -1)


def _load_fashion_mnist(split: str, root: Path, download: bool) -> TensorImageDataset:
    import torchvision

    raw = prepare_fashion_mnist(root)
    try:
        dataset = torchvision.datasets.FashionMNIST(str(root), train=split == "train", download=download)
    except Exception as exc:  # RuntimeError (files missing, download=False) or a network error
        fetch = "could not be downloaded" if download else "download=False was given"
        raise FileNotFoundError(
            f"Data set 'fashion-mnist' was not found under {raw}, Debian's files are not in {FASHION_MNIST_SOURCE}, "
            f"and it {fetch} ({type(exc).__name__}: {exc}). To provide it: {FASHION_MNIST_HELP}. "
            "Offline alternative: dataset='digits' (bundled with scikit-learn, no download).") from exc
    return TensorImageDataset(fashion_mnist_images(dataset.data), dataset.targets.clone())


def _missing_dataset_error(name: str, root: Path, cause: Exception, download: bool) -> FileNotFoundError:
    how = {
        "cifar10": "python -c \"import torchvision; torchvision.datasets.CIFAR10('{root}', download=True)\" "
        "(or unpack cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/ into {root})",
        "cifar100": "python -c \"import torchvision; torchvision.datasets.CIFAR100('{root}', download=True)\" "
        "(or unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/ into {root})",
        "imagenette": "download https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz and unpack it "
        "into {root} (giving {root}/imagenette2-320/train and .../val)",
    }[name].format(root=root)
    fetch = "could not be downloaded" if download else "download=False was given"
    return FileNotFoundError(
        f"Data set {name!r} was not found under {root} and {fetch} ({type(cause).__name__}: {cause}). "
        f"To provide it: {how}; then pass root={str(root)!r} to load_dataset (data_root in a RunConfig "
        "or notebook) or set SEMIROBUST_DATA. "
        "Offline alternative: dataset='digits' (bundled with scikit-learn, no download)."
    )


def _load_torchvision(name: str, split: str, root: Path, download: bool, imagenette_size: str) -> Dataset:
    import torchvision
    from torchvision import transforms

    train = split == "train"
    try:
        if name in ("cifar10", "cifar100"):
            cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
            return cls(str(root), train=train, download=download, transform=transforms.ToTensor())
        transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
        dataset = torchvision.datasets.Imagenette(
            str(root), split="train" if train else "val", size=imagenette_size, download=download, transform=transform
        )
        dataset.targets = [label for _, label in dataset._samples]
        return dataset
    except (RuntimeError, OSError, ValueError) as exc:  # torchvision raises RuntimeError when files are missing
        raise _missing_dataset_error(name, root, exc, download) from exc
    except Exception as exc:  # network errors (URLError, HTTPError, socket errors) when downloading
        if "url" in type(exc).__name__.lower() or "http" in type(exc).__name__.lower() or "connect" in str(exc).lower():
            raise _missing_dataset_error(name, root, exc, download) from exc
        raise


def stratified_indices(targets, subset: int, seed: int = 0) -> np.ndarray:
    """``subset`` indices drawn with a fixed seed, stratified so every class keeps its share."""
    from sklearn.model_selection import train_test_split

    targets = np.asarray(targets)
    n_classes = len(np.unique(targets))
    if subset < n_classes:
        raise ValueError(f"subset={subset} is smaller than the number of classes ({n_classes}); every class must be present.")
    if subset > len(targets):
        raise ValueError(f"subset={subset} is larger than the data set ({len(targets)} items).")
    index = np.arange(len(targets))
    left_out = len(targets) - subset
    if left_out < n_classes:
        # sklearn's stratified split needs every class in the left-out part too; with so few left
        # out, drop one random member (fixed seed) from each of the largest classes instead.
        rng = np.random.default_rng(seed)
        classes, counts = np.unique(targets, return_counts=True)
        largest_first = np.lexsort((rng.random(len(classes)), -counts))
        drop = [rng.choice(index[targets == c]) for c in classes[largest_first[:left_out]]]
        return np.setdiff1d(index, drop)
    chosen, _ = train_test_split(index, train_size=subset, stratify=targets, random_state=seed)
    return np.sort(chosen)


def dataset_targets(dataset: Dataset) -> np.ndarray:
    """Labels of a data set or of a (nested) Subset of one, without loading the images."""
    if isinstance(dataset, Subset):
        return np.asarray(dataset_targets(dataset.dataset))[np.asarray(dataset.indices, dtype=int)]
    return np.asarray(dataset.targets)


def train_val_split(dataset: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """A stratified (train, validation) split of a training set; ``fraction`` of it is validation.

    Validation images are never trained on: Algorithm 1 stops and selects on them, so the test
    accuracy of the selected network is unbiased. ``fraction`` 0 returns (dataset, empty subset).
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"val_fraction={fraction!r} must be a number in [0, 1).")
    n = len(dataset)
    if fraction == 0:
        return dataset, Subset(dataset, [])
    targets = np.asarray(dataset_targets(dataset))
    val_idx = np.sort(stratified_indices(targets, max(1, int(round(fraction * n))), seed + 10_007))
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    return Subset(dataset, train_idx.tolist()), Subset(dataset, val_idx.tolist())


def load_dataset(name: str, split: str, root=None, subset: int | None = None, seed: int = 0,
                 download: bool = True, imagenette_size: str = "320px") -> Dataset:
    """Load ``split`` ("train" | "test") of data set ``name`` as images in [0, 1].

    ``subset`` keeps that many images, stratified by class with a fixed ``seed``. The returned
    data set has a ``targets`` attribute. A missing data set that cannot be downloaded raises
    ``FileNotFoundError`` naming the path looked at, how to provide the files and the offline
    ``digits`` option (for ``fashion-mnist``: the Debian package to install).
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    check_int("subset", subset, allow_none=True)
    root_path = Path(root) if root is not None else default_data_root()
    if name == "digits":
        dataset = _load_digits(split)
    elif name == "fashion-mnist":
        dataset = _load_fashion_mnist(split, root_path, download)
    else:
        dataset = _load_torchvision(name, split, root_path, download, imagenette_size)
    if subset is None or subset >= len(dataset):
        return dataset
    keep = stratified_indices(dataset.targets, subset, seed)
    sub = Subset(dataset, keep.tolist())
    sub.targets = [int(np.asarray(dataset.targets)[i]) for i in keep]
    return sub


def base_dataset(dataset: Dataset) -> Dataset:
    """The data set under any number of ``Subset`` wrappers (a subset of the training split, then its
    train/validation split)."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def default_num_workers(dataset: Dataset) -> int:
    """No worker processes for in-memory tensors; up to 4 for data sets decoded from files."""
    if isinstance(base_dataset(dataset), TensorImageDataset):
        return 0
    return min(4, os.cpu_count() or 1)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                num_workers: int | None = None, drop_last: bool = False) -> DataLoader:
    """A DataLoader with a seeded shuffle and sensible worker/pin-memory settings."""
    workers = default_num_workers(dataset) if num_workers is None else num_workers
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=workers, pin_memory=torch.cuda.is_available(), drop_last=drop_last,
                      persistent_workers=workers > 0)


def dataset_tensors(dataset: Dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (the first ``limit`` items of) a data set into ``(X, y)`` tensors."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    if isinstance(base, TensorImageDataset):
        idx = torch.as_tensor(dataset.indices[:n] if isinstance(dataset, Subset) else range(n))
        return base.images[idx], base.targets[idx]
    xs, ys = zip(*(dataset[i] for i in range(n)))
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


def iterate_batches(data, batch_size: int):
    """(number of samples, iterator of (x, y) batches) for a Dataset, DataLoader or (X, y) tuple."""
    check_int("batch_size", batch_size)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        X, y = data
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
        return X.shape[0], ((X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size))
    if isinstance(data, DataLoader):
        return len(data.dataset), ((x, y) for x, y in data)
    if isinstance(data, Dataset):
        return len(data), ((x, y) for x, y in make_loader(data, batch_size))
    raise ValueError(f"data must be a Dataset, a DataLoader or an (X, y) tuple of tensors, got {type(data).__name__}.")


__all__ = ["SPLITS", "DatasetInfo", "TensorImageDataset", "base_dataset", "dataset_info", "FASHION_MNIST_SOURCE", "FASHION_MNIST_FILES",
           "prepare_fashion_mnist", "fashion_mnist_images", "stratified_indices",
           "dataset_targets", "train_val_split", "load_dataset", "default_num_workers", "make_loader",
           "dataset_tensors", "iterate_batches"]
