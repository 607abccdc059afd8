"""chainrule.train.data: generators, shipped datasets, CSV files, splits, standardisation, one-hot."""

import math
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule.train.data import (DATASETS, Dataset, Split, Standardizer, load_dataset, one_hot,
                            split)
from chainrule.errors import ShapeError, SpecError

GENERATED = ["xor", "moons", "circles", "spirals", "blobs"]


def fingerprint(data: Dataset) -> bytes:
    return data.x.tobytes() + data.y.tobytes()


# --- generators ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", GENERATED)
def test_same_seed_same_bytes_other_seed_other_bytes(name):
    n = 50 if name == "xor" else None  # xor without n is the 4 fixed points
    first = load_dataset(name, n=n, seed=3)
    assert fingerprint(first) == fingerprint(load_dataset(name, n=n, seed=3))
    assert fingerprint(first) != fingerprint(load_dataset(name, n=n, seed=4))


@pytest.mark.parametrize("name, classes", [("moons", 2), ("circles", 2), ("spirals", 2),
                                           ("blobs", 3)])
def test_generated_shapes_types_and_balance(name, classes):
    data = load_dataset(name)
    assert data.x.shape == (200, 2) and data.x.dtype == np.float64
    assert data.y.shape == (200,) and data.y.dtype == np.int64
    assert data.task == "classification" and data.classes == tuple(map(str, range(classes)))
    assert data.n_outputs == classes and data.feature_names == ("x1", "x2")
    counts = np.bincount(data.y, minlength=classes)
    assert counts.max() - counts.min() <= 1
    assert data.y[:20].min() != data.y[:20].max()  # shuffled, not sorted by class


def test_size_noise_and_class_options():
    odd = load_dataset("moons", n=101, noise=0.0)
    assert odd.x.shape == (101, 2) and sorted(np.bincount(odd.y)) == [50, 51]
    # Without noise the moons are scikit-learn's exact half circles.
    outer = odd.x[odd.y == 0]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    circles = load_dataset("circles", n=40, noise=0.0)
    radius = np.hypot(circles.x[:, 0], circles.x[:, 1])
    np.testing.assert_allclose(radius, np.where(circles.y == 0, 1.0, 0.5))
    spirals = load_dataset("spirals", n=90, classes=3)
    assert spirals.classes == ("0", "1", "2") and np.bincount(spirals.y).tolist() == [30] * 3
    blobs = load_dataset("blobs", n=50, classes=5, noise=0.5)
    assert blobs.n_outputs == 5 and np.bincount(blobs.y).tolist() == [10] * 5
    noisier = load_dataset("moons", noise=0.3, seed=1)
    assert np.abs(noisier.x - load_dataset("moons", noise=0.0, seed=1).x).max() > 0.3


def test_xor_is_the_four_points_or_noisy_samples():
    data = load_dataset("xor")
    np.testing.assert_array_equal(data.x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.y, [0, 1, 1, 0])
    assert data.y.dtype == np.int64 and data.classes == ("0", "1")
    noisy = load_dataset("xor", n=40, noise=0.05, seed=2)
    assert noisy.x.shape == (40, 2) and np.bincount(noisy.y).tolist() == [20, 20]
    corners = np.round(noisy.x)
    np.testing.assert_array_equal(noisy.y, corners[:, 0] != corners[:, 1])


# --- shipped datasets ---------------------------------------------------------------------

def test_digits_shipped_copy():
    data = load_dataset("digits")
    assert data.x.shape == (1797, 64) and data.x.dtype == np.float64
    assert data.classes == tuple(str(d) for d in range(10))
    assert data.x.min() == 0 and data.x.max() == 16 and np.all(data.x == np.round(data.x))
    assert np.bincount(data.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert data.feature_names[0] == "pixel_0_0" and data.feature_names[-1] == "pixel_7_7"
    data.x[0, 0] = 99  # each call parses afresh, so a caller's edit cannot leak
    assert load_dataset("digits").x[0, 0] == 0


def test_iris_shipped_copy():
    data = load_dataset("iris")
    assert data.x.shape == (150, 4) and data.classes == ("setosa", "versicolor", "virginica")
    assert np.bincount(data.y).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(data.x[0], [5.1, 3.5, 1.4, 0.2])
    np.testing.assert_allclose(data.x.mean(axis=0), [5.8433, 3.0573, 3.758, 1.1993], atol=1e-4)


def test_data_files_and_their_attribution_ship_with_the_package():
    folder = resources.files("chainrule.train.datasets")
    readme = folder.joinpath("README.md").read_text("utf-8")
    for fact in ("CC BY 4.0", "BSD-3-Clause", "scikit-learn", "Alpaydin", "Fisher"):
        assert fact in readme
    assert folder.joinpath("digits.csv.gz").is_file() and folder.joinpath("iris.csv").is_file()


def test_every_listed_dataset_loads():
    for name, description in DATASETS.items():
        options = {"length": 8} if name == "macbeth" else {}  # a text: windows of 8
        assert description and load_dataset(name, **options).name == name


# --- load_dataset argument errors ---------------------------------------------------------

@pytest.mark.parametrize("name, options, message", [
    ("mnist", {}, "unknown dataset 'mnist': expected one of xor, moons, circles, spirals, "
                  "blobs, digits, iris, macbeth, or a path ending in .csv"),
    ("moons", {"n": 1}, "dataset 'moons': n must be an integer >= 2, got 1"),
    ("moons", {"n": 2.5}, "dataset 'moons': n must be an integer >= 2, got 2.5"),
    ("spirals", {"n": 2, "classes": 3}, "dataset 'spirals': n must be an integer >= 3, got 2"),
    ("moons", {"noise": -0.1}, "dataset 'moons': noise must be a finite number >= 0, got -0.1"),
    ("moons", {"seed": -1}, "dataset 'moons': seed must be an integer >= 0, got -1"),
    ("moons", {"classes": 3}, "dataset 'moons': classes applies to spirals (arms) and blobs "
                              "(centres) only"),
    ("digits", {"n": 100}, "dataset 'digits' is fixed: n, noise and classes apply only to the "
                           "generated datasets (xor, moons, circles, spirals, blobs)"),
    ("iris", {"target": "species"}, "dataset 'iris': target applies to CSV files only"),
    ("data.csv", {"noise": 0.1}, "data.csv: n, noise and classes apply to generated datasets, "
                                 "not to a CSV file"),
])
def test_bad_arguments(name, options, message):
    with pytest.raises(SpecError) as error:
        load_dataset(name, **options)
    assert str(error.value) == message


# --- CSV files ----------------------------------------------------------------------------

@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in tmp_path so a file is named "data.csv" in messages, as a user would type it."""
    monkeypatch.chdir(tmp_path)

    def write(text: str, name: str = "data.csv") -> str:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return name
    return write


def test_csv_with_named_classes(in_tmp):
    path = in_tmp("a,b,species\n1,2,virginica\n3,4.5,setosa\n\n5,6,virginica\n")
    data = load_dataset(path, target="species")
    assert data.name == "data.csv" and data.task == "classification"
    assert data.classes == ("setosa", "virginica")  # sorted by name
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4.5], [5, 6]])
    np.testing.assert_array_equal(data.y, [1, 0, 1])
    assert data.y.dtype == np.int64 and data.feature_names == ("a", "b")


def test_csv_target_anywhere_quotes_and_byte_order_mark(in_tmp):
    path = in_tmp('\ufefflabel,"x, first",x2\n2,1,-1e-3\n10,"2",3\n2,3, 4 \n')
    data = load_dataset(path, target="label")
    assert data.feature_names == ("x, first", "x2")
    assert data.classes == ("2", "10")  # whole numbers: numeric order, not text order
    np.testing.assert_array_equal(data.y, [0, 1, 0])
    np.testing.assert_array_equal(data.x, [[1, -0.001], [2, 3], [3, 4]])


def test_csv_regression_and_task_override(in_tmp):
    path = in_tmp("x,y\n0,0.5\n1,1.5\n2,2.0\n")
    data = load_dataset(path, target="y")
    assert data.task == "regression" and data.classes == () and data.n_outputs == 1
    assert data.y.dtype == np.float64 and data.y.shape == (3, 1)
    whole = in_tmp("x,y\n0,1\n1,2\n2,3\n", "whole.csv")
    assert load_dataset(whole, target="y").task == "classification"
    forced = load_dataset(whole, target="y", task="regression")
    np.testing.assert_array_equal(forced.y, [[1], [2], [3]])
    many = in_tmp("x,y\n" + "".join(f"{i},{i}\n" for i in range(21)), "many.csv")
    assert load_dataset(many, target="y").task == "regression"  # more than 20 values


@pytest.mark.parametrize("text, target, message", [
    ("a,b,c\n1,2,3\n", "label", "data.csv: no column 'label'; columns are: a, b, c"),
    ("a,b,c\n1,2,3\n", None, "data.csv: no target column given; columns are: a, b, c"),
    ("sepal,petal_width,species\n" + "1,2,x\n" * 5 + "1,abc,y\n", "species",
     "data.csv:7: column 'petal_width': 'abc' is not a number"),
    ("a,b,y\n1,2,0\n1,2\n", "y",
     "data.csv:3: expected 3 values (one per column of the header), got 2"),
    ("a,b,y\n1,2,0\n1,2,0,9\n", "y",
     "data.csv:3: expected 3 values (one per column of the header), got 4"),
    ("", "y", "data.csv: the file is empty; expected a header row, then data rows"),
    ("\n\n", "y", "data.csv: the file is empty; expected a header row, then data rows"),
    ("a,y\n", "y", "data.csv: a header row but no data rows"),
    ("a,b,y\n1,,0\n", "y", "data.csv:2: column 'b': empty cell (missing values are not "
                           "filled in; fill or drop the row)"),
    ("a,y\n1,0\n2,\n", "y", "data.csv:3: column 'y': empty cell (missing values are not "
                            "filled in; fill or drop the row)"),
    ("a,y\n1,0\nnan,1\n", "y", "data.csv:3: column 'a': 'nan' is not a finite number"),
    ("a,y\n1,cat\n2,NaN\n", "y", "data.csv:3: column 'y': 'NaN' is not a finite number"),
    ("a,y\n1_000,0\n", "y", "data.csv:2: column 'a': '1_000' is not a number"),
    ("a,,y\n1,2,0\n", "y", "data.csv:1: column 2 of the header has no name"),
    ("a,a,y\n1,2,0\n", "y", "data.csv:1: column name 'a' appears twice in the header"),
    ("y\n1\n", "y", "data.csv: no feature columns besides the target 'y'"),
])
def test_csv_errors_name_file_line_and_column(in_tmp, text, target, message):
    path = in_tmp(text)
    with pytest.raises(SpecError) as error:
        load_dataset(path, target=target)
    assert str(error.value) == message


def test_csv_missing_file_and_regression_target_that_is_text(in_tmp):
    with pytest.raises(SpecError, match=r"^missing\.csv: no such CSV file$"):
        load_dataset("missing.csv", target="y")
    path = in_tmp("a,y\n1,0.5\n2,big\n")
    with pytest.raises(SpecError) as error:
        load_dataset(path, target="y", task="regression")
    assert str(error.value) == ("data.csv:3: column 'y': 'big' is not a number "
                                "(a regression target must be numeric)")
    with pytest.raises(SpecError, match="task must be 'classification' or 'regression'"):
        load_dataset(path, target="y", task="ranking")


def test_csv_not_utf8(in_tmp, tmp_path):
    (tmp_path / "latin.csv").write_bytes("a,y\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match=r"^latin\.csv:2:6: not UTF-8 text"):
        load_dataset("latin.csv", target="y")


# --- split --------------------------------------------------------------------------------

def test_split_sizes_stratification_and_determinism():
    data = load_dataset("iris")
    parts = split(data, validation=0.2, test=0.1, seed=5)
    assert isinstance(parts, Split)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (105, 30, 15)
    assert np.bincount(parts.validation.y).tolist() == [10, 10, 10]
    assert np.bincount(parts.test.y).tolist() == [5, 5, 5]
    rows = [tuple(r) + (c,) for p in (parts.train, parts.validation, parts.test)
            for r, c in zip(p.x, p.y)]
    everything = [tuple(r) + (c,) for r, c in zip(data.x, data.y)]
    assert sorted(rows) == sorted(everything)  # a partition: nothing lost, nothing repeated
    again = split(data, validation=0.2, test=0.1, seed=5)
    other = split(data, validation=0.2, test=0.1, seed=6)
    assert fingerprint(again.train) == fingerprint(parts.train)
    assert fingerprint(other.train) != fingerprint(parts.train)
    assert parts.train.classes == data.classes and parts.train.name == "iris"


def test_split_stratified_keeps_uneven_proportions():
    y = np.repeat(np.arange(3, dtype=np.int64), [60, 30, 10])
    data = Dataset("uneven", np.arange(100.0).reshape(-1, 1), y, "classification",
                   ("a", "b", "c"), ("v",), "")
    parts = split(data, validation=0.3, seed=0)
    assert parts.test is None
    assert np.bincount(parts.validation.y).tolist() == [18, 9, 3]
    assert np.bincount(parts.train.y).tolist() == [42, 21, 7]


def test_split_without_stratification_and_for_regression():
    data = Dataset("line", np.arange(10.0).reshape(-1, 1), np.arange(10.0).reshape(-1, 1),
                   "regression", (), ("x",), "")
    parts = split(data, validation=0.25, test=0.25, seed=1)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (4, 3, 3)
    np.testing.assert_array_equal(parts.train.x, parts.train.y)  # rows stay together
    flat = split(load_dataset("moons"), validation=0.0, stratify=False)
    assert flat.validation is None and len(flat.train) == 200
    tiny = split(load_dataset("xor"), validation=0.1)
    assert len(tiny.validation) == 1 and len(tiny.train) == 3  # a part asked for is never empty


@pytest.mark.parametrize("options, message", [
    ({"validation": 1.0}, "split: validation must be a fraction in [0, 1), got 1.0"),
    ({"test": -0.1}, "split: test must be a fraction in [0, 1), got -0.1"),
    ({"validation": 0.5, "test": 0.5},
     "split: validation=0.5 and test=0.5 leave no training data from 4 examples of 'xor'"),
    ({"validation": 0.7, "test": 0.2},
     "split: validation=0.7 and test=0.2 leave no training data from 4 examples of 'xor'"),
])
def test_split_rejects_fractions_that_leave_no_training_data(options, message):
    with pytest.raises(SpecError) as error:
        split(load_dataset("xor"), **options)
    assert str(error.value) == message


@given(n=st.integers(3, 60), validation=st.floats(0, 0.45), test=st.floats(0, 0.45),
       seed=st.integers(0, 2**32), stratify=st.booleans())
def test_split_is_always_a_partition(n, validation, test, seed, stratify):
    data = load_dataset("blobs", n=n, seed=1)
    # each part gets fraction · n rounded half up (at least 1 for a fraction above 0); when
    # that leaves no training example the split is refused, as documented (n=4, 0.375 each)
    held = sum(max(1, math.floor(f * n + 0.5)) for f in (validation, test) if f > 0)
    if held >= n:
        with pytest.raises(SpecError, match="leave no training data"):
            split(data, validation=validation, test=test, seed=seed, stratify=stratify)
        return
    parts = split(data, validation=validation, test=test, seed=seed, stratify=stratify)
    pieces = [p for p in (parts.train, parts.validation, parts.test) if p is not None]
    assert sum(len(p) for p in pieces) == n and len(parts.train) >= 1
    assert (parts.validation is None) == (validation == 0)
    joined = np.sort(np.concatenate([p.x[:, 0] for p in pieces]))
    np.testing.assert_array_equal(joined, np.sort(data.x[:, 0]))


# --- Standardizer and one_hot -------------------------------------------------------------

def test_standardizer_round_trip_and_constant_columns():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(5, 3, 50), np.full(50, 0.1), rng.uniform(-1, 1, 50)])
    scaler = Standardizer.fit(x)
    assert scaler.scale[1] == 1.0 and scaler.mean[1] == 0.1
    z = scaler.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), [1, 0, 1])
    assert np.all(z[:, 1] == 0)  # constant column: exactly 0, no division by zero
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-12, atol=1e-12)
    restored = Standardizer.from_state(scaler.state_dict())
    assert restored.transform(x).tobytes() == z.tobytes()
    state = scaler.state_dict()
    assert set(state) == {"mean", "scale"} and all(type(v) is np.ndarray for v in state.values())


def test_standardizer_errors():
    scaler = Standardizer.fit(np.ones((3, 2)))
    with pytest.raises(ShapeError, match="Standardizer.transform: expected 2 features, got 3"):
        scaler.transform(np.ones((4, 3)))
    with pytest.raises(ShapeError, match="expected a 2-D array"):
        Standardizer.fit(np.ones(3))
    with pytest.raises(ShapeError, match="missing scale"):
        Standardizer.from_state({"mean": np.zeros(2)})


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([2, 0, 1]), 3),
                                  [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert one_hot(np.array([1]), 4).dtype == np.float64
    assert one_hot(np.array([], dtype=np.int64), 2).shape == (0, 2)
    with pytest.raises(ShapeError, match=r"class indices must lie in 0\.\.1, got 0\.\.2"):
        one_hot(np.array([0, 2]), 2)
    with pytest.raises(ShapeError, match="integer class indices"):
        one_hot(np.array([0.5]), 2)


def test_dataset_checks_its_arrays():
    ints = Dataset("ok", np.array([[1], [2]], dtype=np.int32), np.array([0, 1], dtype=np.uint8),
                   "classification", ("a", "b"), ("x",), "")
    assert ints.x.dtype == np.float64 and ints.y.dtype == np.int64  # lossless conversions
    with pytest.raises(ShapeError, match="classification y must be integer class indices"):
        Dataset("bad", np.zeros((2, 1)), np.zeros(2), "classification", ("a",), ("x",), "")
    with pytest.raises(ShapeError, match="class indices must lie in 0..0"):
        Dataset("bad", np.zeros((2, 1)), np.array([0, 1]), "classification", ("a",), ("x",), "")


def test_csv_that_is_a_fifo_or_device_is_refused_not_read(tmp_path):
    """train --data reads the file as untrusted: a FIFO would block, /dev/zero never ends."""
    import os

    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        load_dataset(str(fifo), target="y")
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(SpecError, match="not a regular file"):
        load_dataset(str(link), target="y")
