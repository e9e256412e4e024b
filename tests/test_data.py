"""Data loading: digits offline, tiny CIFAR-10/100 and Imagenette files in their real on-disk formats.

The CIFAR and Imagenette tests write small files in the formats the real archives unpack to and
load them through ``load_dataset`` (torchvision's own classes underneath), with no download.
"""
from __future__ import annotations

import hashlib
import pickle
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset
from torchvision.datasets import CIFAR10, CIFAR100, Imagenette

from semirobust import data
from semirobust.config import DATASETS
from semirobust.data import dataset_info, dataset_tensors, load_dataset, make_loader


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _random_cifar_rows(rng, labels):
    """CIFAR rows: uint8 (N, 3072), each row the red, green and blue 32x32 planes in turn."""
    return rng.integers(0, 256, size=(len(labels), 3 * 32 * 32), dtype=np.uint8)


def _write_pickle(path, obj):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def _record_checksums(monkeypatch, cls, folder, train_files, test_files, meta_file):
    """Point ``cls``'s checksum lists at the tiny files (for this test only).

    torchvision's CIFAR classes verify every batch file with ``check_integrity(path, md5)``
    against the md5 of the files in the official archive (``train_list``, ``test_list`` and
    ``meta`` class attributes). Tiny test files cannot have those checksums, so the test records
    the checksums of the files it wrote on the class (monkeypatch restores the originals). The
    real integrity check still runs: a file changed after this call is reported as corrupt.
    """
    monkeypatch.setattr(cls, "train_list", [[f, _md5(folder / f)] for f in train_files])
    monkeypatch.setattr(cls, "test_list", [[f, _md5(folder / f)] for f in test_files])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / meta_file)})


@pytest.fixture
def tiny_cifar10(tmp_path, monkeypatch):
    """cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta (4 per class per batch)."""
    root = tmp_path / "data"
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"class{i}" for i in range(10)]
    rows = {}
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    for name in train_files + ["test_batch"]:
        labels = rng.permutation(np.repeat(np.arange(10), 4 if name != "test_batch" else 2)).tolist()
        rows[name] = (_random_cifar_rows(rng, labels), labels)
        _write_pickle(folder / name, {"batch_label": name, "labels": labels, "data": rows[name][0],
                                      "filenames": [f"img_{name}_{i}.png" for i in range(len(labels))]})
    _write_pickle(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": 40, "num_vis": 3072})
    _record_checksums(monkeypatch, CIFAR10, folder, train_files, ["test_batch"], "batches.meta")
    train = (np.concatenate([rows[f][0] for f in train_files]), sum((rows[f][1] for f in train_files), []))
    return root, train, rows["test_batch"]


@pytest.fixture
def tiny_cifar100(tmp_path, monkeypatch):
    """cifar-100-python/ with train, test and meta (3 training and 1 test image per fine class)."""
    root = tmp_path / "data"
    folder = root / CIFAR100.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    split_rows = {}
    for name, per_class in (("train", 3), ("test", 1)):
        fine = rng.permutation(np.repeat(np.arange(100), per_class)).tolist()
        rows = _random_cifar_rows(rng, fine)
        split_rows[name] = (rows, fine)
        _write_pickle(folder / name, {"filenames": [f"{name}_{i}.png" for i in range(len(fine))],
                                      "batch_label": name, "fine_labels": fine,
                                      "coarse_labels": [f // 5 for f in fine], "data": rows})
    _write_pickle(folder / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                                    "coarse_label_names": [f"coarse{i}" for i in range(20)]})
    _record_checksums(monkeypatch, CIFAR100, folder, ["train"], ["test"], "meta")
    return root, split_rows["train"], split_rows["test"]


# Three real Imagenette classes, each drawn in one flat colour (RGB) so pixel values can be checked.
IMAGENETTE_COLOURS = {"n01440764": (200, 30, 40), "n02102040": (20, 180, 60), "n02979186": (50, 70, 230)}


@pytest.fixture
def tiny_imagenette(tmp_path):
    """imagenette2-320/{train,val}/<wnid>/*.JPEG written with PIL, in landscape and portrait sizes."""
    root = tmp_path / "data"
    for split, count in (("train", 4), ("val", 2)):
        for wnid, colour in IMAGENETTE_COLOURS.items():
            folder = root / "imagenette2-320" / split / wnid
            folder.mkdir(parents=True)
            for i in range(count):
                size = (320, 240) if i % 2 == 0 else (240, 320)
                Image.new("RGB", size, colour).save(folder / f"{wnid}_{i}.JPEG", quality=95)
    return root


def _assert_images(dataset, channels=3, size=32):
    x, y = dataset[0]
    assert x.dtype == torch.float32 and x.shape == (channels, size, size)
    assert isinstance(y, int)
    X, _ = dataset_tensors(dataset)
    assert X.min() >= 0 and X.max() <= 1
    return X


def _assert_stratified(dataset, full_targets, subset):
    """``subset`` items, every class present, each class count within 1 of its proportional share."""
    full = np.bincount(np.asarray(full_targets))
    counts = np.bincount(np.asarray(dataset.targets), minlength=len(full))
    assert len(dataset) == subset == counts.sum()
    assert (counts > 0).all()
    assert np.abs(counts - subset * full / full.sum()).max() < 1


# --- digits (offline) -----------------------------------------------------------------------

def test_digits_are_rgb_32x32_in_unit_range():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(train) + len(test) == len(load_digits().target)
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.25
    X = _assert_images(train)
    assert X.min() == 0 and X.max() > 0.9
    assert torch.equal(X[:, 0], X[:, 1]) and torch.equal(X[:, 0], X[:, 2])  # grey as RGB
    assert set(train.targets.tolist()) == set(test.targets.tolist()) == set(range(10))


def test_digits_train_and_test_are_disjoint():
    _, _, train_idx, test_idx = data._digits_arrays()
    assert not set(train_idx) & set(test_idx)
    assert len(train_idx) + len(test_idx) == len(set(train_idx) | set(test_idx))


def test_subset_is_seeded_and_stratified():
    full = load_dataset("digits", "test")
    a = load_dataset("digits", "test", subset=100, seed=0)
    torch.manual_seed(99)
    np.random.seed(99)  # the global generators must not matter
    b = load_dataset("digits", "test", subset=100, seed=0)
    c = load_dataset("digits", "test", subset=100, seed=1)
    assert isinstance(a, Subset)
    assert a.indices == b.indices
    assert a.indices != c.indices
    _assert_stratified(a, full.targets, 100)
    _assert_stratified(c, full.targets, 100)
    assert a.targets == [int(full.targets[i]) for i in a.indices]


def test_subset_close_to_the_full_size_keeps_every_class():
    full = load_dataset("digits", "test")
    for subset in (len(full) - 1, len(full) - 5):
        _assert_stratified(load_dataset("digits", "test", subset=subset, seed=3), full.targets, subset)
    assert load_dataset("digits", "test", subset=len(full) + 10) is not None
    assert len(load_dataset("digits", "test", subset=len(full) + 10)) == len(full)


@pytest.mark.parametrize("subset", [0, -5, 2.5, "100"])
def test_bad_subset_is_refused(subset):
    with pytest.raises(ValueError, match="subset"):
        load_dataset("digits", "train", subset=subset)


def test_subset_smaller_than_the_classes_is_refused():
    with pytest.raises(ValueError, match="every class"):
        load_dataset("digits", "train", subset=9)


def test_unknown_dataset_and_split_name_the_valid_ones():
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", "train")
    assert all(name in str(info.value) for name in DATASETS)
    with pytest.raises(ValueError, match="train.*test"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match="cifar10"):
        dataset_info("svhn")


def test_dataset_info():
    for name, classes, size in (("cifar10", 10, 32), ("cifar100", 100, 32), ("imagenette", 10, 224)):
        info = dataset_info(name)
        assert (info.num_classes, info.image_size) == (classes, size)
        assert all(0 < m < 1 for m in info.mean) and all(0 < s < 1 for s in info.std)
    digits = dataset_info("digits")
    X, _ = dataset_tensors(load_dataset("digits", "train"))
    assert np.allclose(digits.mean, X.mean(dim=(0, 2, 3)), atol=1e-5)
    assert np.allclose(digits.std, X.std(dim=(0, 2, 3)), atol=1e-5)


# --- loaders --------------------------------------------------------------------------------

def test_make_loader_batches_and_seeded_shuffle():
    dataset = load_dataset("digits", "test", subset=100)
    X, y = dataset_tensors(dataset)
    assert X.shape == (100, 3, 32, 32) and y.dtype == torch.long
    assert torch.equal(X[5], dataset[5][0]) and int(y[5]) == dataset[5][1]
    ordered = make_loader(dataset, batch_size=32)
    assert ordered.num_workers == 0  # in-memory tensors need no worker processes
    batches = list(ordered)
    assert [len(b[1]) for b in batches] == [32, 32, 32, 4]
    assert torch.equal(torch.cat([b[0] for b in batches]), X)

    def first_labels(seed):
        return next(iter(make_loader(dataset, batch_size=32, shuffle=True, seed=seed)))[1]

    assert torch.equal(first_labels(0), first_labels(0))
    assert not torch.equal(first_labels(0), first_labels(1))
    shuffled = torch.cat([b[1] for b in make_loader(dataset, batch_size=32, shuffle=True)])
    assert torch.equal(shuffled.sort().values, y.sort().values)
    assert len(make_loader(dataset, batch_size=32, drop_last=True)) == 3


def test_dataset_tensors_limit():
    dataset = load_dataset("digits", "train")
    X, y = dataset_tensors(dataset, limit=7)
    assert X.shape[0] == y.shape[0] == 7
    assert torch.equal(X[6], dataset[6][0])


# --- CIFAR-10 / CIFAR-100 / Imagenette in their real on-disk formats -------------------------

def test_cifar10_loads_the_real_batch_format(tiny_cifar10):
    root, (train_rows, train_labels), (test_rows, test_labels) = tiny_cifar10
    train = load_dataset("cifar10", "train", root=root, download=False)
    test = load_dataset("cifar10", "test", root=root, download=False)
    assert (len(train), len(test)) == (len(train_labels), len(test_labels))
    X = _assert_images(train)
    expected = torch.from_numpy(train_rows.reshape(-1, 3, 32, 32)).float() / 255
    assert torch.allclose(X, expected)
    assert list(train.targets) == train_labels
    assert dataset_tensors(test)[1].tolist() == test_labels
    sub = load_dataset("cifar10", "train", root=root, subset=50, seed=0, download=False)
    _assert_stratified(sub, train_labels, 50)
    assert torch.equal(sub[0][0], train[sub.indices[0]][0])
    batch_x, batch_y = next(iter(make_loader(sub, batch_size=16, num_workers=0)))
    assert batch_x.shape == (16, 3, 32, 32) and batch_y.shape == (16,)


def test_cifar10_with_download_true_uses_present_files(tiny_cifar10, monkeypatch):
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: calls.append(a) or None)
    root, (_, train_labels), _ = tiny_cifar10
    assert len(load_dataset("cifar10", "train", root=root, download=True)) == len(train_labels)
    assert calls == []


def test_corrupt_cifar10_file_is_reported(tiny_cifar10):
    root = tiny_cifar10[0]
    path = root / CIFAR10.base_folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(FileNotFoundError, match="cifar10"):
        load_dataset("cifar10", "train", root=root, download=False)


def test_cifar100_loads_fine_labels(tiny_cifar100):
    root, (train_rows, train_labels), (_, test_labels) = tiny_cifar100
    train = load_dataset("cifar100", "train", root=root, download=False)
    test = load_dataset("cifar100", "test", root=root, download=False)
    X = _assert_images(train)
    assert torch.allclose(X, torch.from_numpy(train_rows.reshape(-1, 3, 32, 32)).float() / 255)
    assert list(train.targets) == train_labels and list(test.targets) == test_labels
    sub = load_dataset("cifar100", "train", root=root, subset=200, seed=5, download=False)
    _assert_stratified(sub, train_labels, 200)


def test_imagenette_loads_224_crops(tiny_imagenette):
    train = load_dataset("imagenette", "train", root=tiny_imagenette, download=False)
    val = load_dataset("imagenette", "test", root=tiny_imagenette, download=False)
    assert isinstance(train, Imagenette)
    wnids = sorted(IMAGENETTE_COLOURS)
    assert (len(train), len(val)) == (4 * len(wnids), 2 * len(wnids))
    X = _assert_images(train, size=224)
    y = dataset_tensors(train)[1]
    assert y.tolist() == list(train.targets) == sorted(y.tolist())
    for label, wnid in enumerate(wnids):
        colour = torch.tensor(IMAGENETTE_COLOURS[wnid], dtype=torch.float32) / 255
        mean = X[y == label].mean(dim=(0, 2, 3))
        assert torch.allclose(mean, colour, atol=0.03), (wnid, mean, colour)
    sub = load_dataset("imagenette", "train", root=tiny_imagenette, subset=6, seed=0, download=False)
    _assert_stratified(sub, train.targets, 6)


# --- missing data sets ----------------------------------------------------------------------

HOW_TO_PROVIDE = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz",
                  "imagenette": "imagenette2-320.tgz"}


def _assert_clear_missing_error(info, name, root):
    message = str(info.value)
    assert str(root) in message  # the path looked at
    assert HOW_TO_PROVIDE[name] in message  # how to provide the files
    assert "digits" in message  # the offline option
    assert "root=" in message


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenette"])
def test_missing_dataset_without_download(name, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(name, "train", root=tmp_path, download=False)
    _assert_clear_missing_error(info, name, tmp_path)
    assert "download=False" in str(info.value)


@pytest.fixture
def no_network(monkeypatch):
    """Every URL fails at once, as on a machine without internet (no DNS timing involved)."""
    attempts = []

    def unreachable(request, *args, **kwargs):
        attempts.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("[Errno 101] Network is unreachable (simulated)")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    return attempts


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenette"])
def test_missing_dataset_when_download_fails(name, tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(name, "test", root=tmp_path, download=True)
    _assert_clear_missing_error(info, name, tmp_path)
    assert "could not be downloaded" in str(info.value) and "URLError" in str(info.value)
    assert no_network and HOW_TO_PROVIDE[name] in no_network[0]  # the real download was attempted


def test_default_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMIROBUST_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cifar10", "train", download=False)
    _assert_clear_missing_error(info, "cifar10", tmp_path)


def test_train_val_split_is_disjoint_stratified_and_checked():
    from semirobust.data import dataset_targets, load_dataset, train_val_split

    train = load_dataset("digits", "train")
    fit, val = train_val_split(train, 0.2, seed=0)
    assert len(fit) + len(val) == len(train) and not set(fit.indices) & set(val.indices)
    counts = np.bincount(dataset_targets(val))
    assert counts.min() >= counts.max() - 1
    assert train_val_split(train, 0.2, seed=0)[1].indices == val.indices
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(train, 1.0)


def test_split_sizes_of_the_digits_record_are_the_loaded_ones():
    from semirobust.config import DATASET_SPECS

    spec = DATASET_SPECS["digits"]
    assert (len(load_dataset("digits", "train")), len(load_dataset("digits", "test"))) == (spec.train_size, spec.test_size)
    assert dataset_info("digits").train_size == spec.train_size and dataset_info("digits").mean is not None


# --- Fashion-MNIST (Debian's dataset-fashion-mnist, read through torchvision's FashionMNIST) ----------

def _read_idx(path) -> np.ndarray:
    """The test's own IDX reader (not torchvision's): big-endian header, magic 0x0000 08 <ndim>, then uint8."""
    import gzip
    import struct

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert (zero, dtype) == (0, 0x08), f"{path} is not an unsigned-byte IDX file"
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _write_idx(path, array: np.ndarray) -> None:
    import gzip
    import struct

    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture
def tiny_fashion_mnist(tmp_path, monkeypatch):
    """A Debian-like source folder of gzipped IDX files written here (30 train, 20 test images, 10 classes)."""
    source = tmp_path / "debian"
    source.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", 30), ("t10k", 20)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        _write_idx(source / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(source / f"{prefix}-labels-idx1-ubyte.gz", labels)
        arrays[prefix] = (images, labels)
    monkeypatch.setattr(data, "FASHION_MNIST_SOURCE", source)
    return source, arrays


def _assert_converted(dataset, images: np.ndarray, labels: np.ndarray) -> None:
    """Labels in file order; pixels = the file's bytes / 255, zero-padded 28 -> 32, the same in 3 channels."""
    X, y = dataset_tensors(dataset)
    assert X.shape == (len(labels), 3, 32, 32) and X.dtype == torch.float32
    assert np.array_equal(y.numpy(), labels.astype(np.int64))
    assert torch.equal(X[:, 0], X[:, 1]) and torch.equal(X[:, 0], X[:, 2])
    inner = X[:, 0, 2:30, 2:30].numpy()
    assert np.allclose(inner, images.astype(np.float32) / 255.0, atol=1e-7)
    border = X[:, 0].clone()
    border[:, 2:30, 2:30] = 0
    assert float(border.abs().max()) == 0.0


def test_fashion_mnist_loads_the_idx_files_through_torchvision(tiny_fashion_mnist, tmp_path):
    source, arrays = tiny_fashion_mnist
    root = tmp_path / "data"
    train = load_dataset("fashion-mnist", "train", root=root, download=False)
    test = load_dataset("fashion-mnist", "test", root=root, download=False)
    _assert_converted(train, *arrays["train"])
    _assert_converted(test, *arrays["t10k"])
    # decompressed once into the layout torchvision's FashionMNIST reads
    raw = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.FASHION_MNIST_FILES)
    assert np.array_equal(_read_idx(raw / "t10k-labels-idx1-ubyte"), arrays["t10k"][1])
    stamp = (raw / "train-images-idx3-ubyte").stat().st_mtime_ns
    load_dataset("fashion-mnist", "train", root=root, download=False)
    assert (raw / "train-images-idx3-ubyte").stat().st_mtime_ns == stamp  # not rewritten


def test_fashion_mnist_subset_is_stratified(tiny_fashion_mnist, tmp_path):
    subset = load_dataset("fashion-mnist", "train", root=tmp_path / "data", subset=20, download=False)
    assert np.bincount(subset.targets, minlength=10).tolist() == [2] * 10


def test_missing_fashion_mnist_names_the_debian_package(tmp_path, monkeypatch, no_network):
    monkeypatch.setattr(data, "FASHION_MNIST_SOURCE", tmp_path / "no-package")
    for download in (False, True):
        with pytest.raises(FileNotFoundError) as info:
            load_dataset("fashion-mnist", "train", root=tmp_path / "data", download=download)
        message = str(info.value)
        assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message
        assert str(tmp_path / "data" / "FashionMNIST" / "raw") in message and "digits" in message
    assert no_network  # with download=True torchvision tried to fetch the files


REAL_FASHION_MNIST = data.FASHION_MNIST_SOURCE


@pytest.mark.skipif(not (REAL_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed (`make test` installs it)")
def test_fashion_mnist_real_files_counts_order_pixels_and_statistics(tmp_path):
    root = tmp_path / "data"
    train = load_dataset("fashion-mnist", "train", root=root, download=False)
    test = load_dataset("fashion-mnist", "test", root=root, download=False)
    assert (len(train), len(test)) == (60000, 10000)
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10
    for prefix, dataset in (("train", train), ("t10k", test)):
        images = _read_idx(REAL_FASHION_MNIST / f"{prefix}-images-idx3-ubyte.gz")
        labels = _read_idx(REAL_FASHION_MNIST / f"{prefix}-labels-idx1-ubyte.gz")
        assert np.array_equal(np.asarray(dataset.targets), labels)
        for rows in (slice(0, 500), slice(len(labels) - 500, None)):  # both ends of the file, in file order
            X = dataset.images[rows, 0, 2:30, 2:30].numpy()
            assert np.allclose(X, images[rows].astype(np.float32) / 255.0, atol=1e-7)
    info = dataset_info("fashion-mnist")
    assert (info.num_classes, info.image_size, info.train_size, info.test_size) == (10, 32, 60000, 10000)
    padded = train.images[:, 0].double()
    assert np.allclose(info.mean, float(padded.mean()), atol=1e-4)
    assert np.allclose(info.std, float(padded.std()), atol=1e-4)
