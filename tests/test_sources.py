"""Image sources and decoding: real files written with PIL, compared with PIL/numpy directly."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.core.errors import BadImageError, GanevalError
from ganeval.io.images import decode_image_bytes
from ganeval.io.sources import ArraySource, FolderSource, IterableSource, ZipSource, open_source, to_uint8_chw


def random_rgb(rng, h=12, w=10):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def collect(source, batch_size=4, workers=0, skip_bad=False):
    images = [img for batch in source.batches(batch_size, workers=workers, skip_bad=skip_bad) for img in batch]
    return [img.permute(1, 2, 0).numpy() for img in images]


@pytest.fixture
def folder(tmp_path):
    """A nested folder of 7 lossless images in several formats, plus a non-image file."""
    rng = np.random.default_rng(0)
    arrays = {}
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    names = ["b.png", "a.bmp", "sub/c.tiff", "sub/deeper/d.png", "e.PNG", "sub/f.tif", "g.webp"]
    for name in names:
        arr = random_rgb(rng)
        kwargs = {"lossless": True} if name.endswith(".webp") else {}
        Image.fromarray(arr).save(tmp_path / name, **kwargs)
        arrays[name] = arr
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path, arrays


def test_folder_is_recursive_sorted_and_exact(folder):
    path, arrays = folder
    source = open_source(path)
    assert isinstance(source, FolderSource)
    assert source.names == sorted(arrays)  # sorted relative POSIX paths; .txt ignored
    images = collect(source)
    for name, image in zip(source.names, images):
        np.testing.assert_array_equal(image, arrays[name])
    assert source.images_read == 7 and source.skipped == []


def test_folder_workers_give_same_images_and_fingerprint(folder):
    path, _ = folder
    a, b = open_source(path), open_source(path)
    images_a, images_b = collect(a, workers=0), collect(b, batch_size=2, workers=2)
    assert all(np.array_equal(x, y) for x, y in zip(images_a, images_b))
    assert a.fingerprint == b.fingerprint


def test_fingerprint_changes_with_content(folder):
    path, arrays = folder
    before = open_source(path)
    collect(before)
    Image.fromarray(255 - arrays["b.png"]).save(path / "b.png")
    after = open_source(path)
    collect(after)
    assert before.fingerprint != after.fingerprint


def test_zip_matches_folder(folder, tmp_path_factory):
    path, arrays = folder
    archive = tmp_path_factory.mktemp("zip") / "images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in arrays:
            zf.write(path / name, arcname=name)
        zf.writestr("readme.txt", "x")
    source = open_source(archive)
    assert isinstance(source, ZipSource)
    images = collect(source, batch_size=3, workers=2)
    for name, image in zip(source.names, images):
        np.testing.assert_array_equal(image, arrays[name])


@pytest.mark.parametrize("layout", ["NHWC", "NCHW", "NHW"])
def test_npy_and_npz_layouts(tmp_path, layout):
    rng = np.random.default_rng(1)
    nhwc = rng.integers(0, 256, size=(5, 8, 9, 3), dtype=np.uint8)
    if layout == "NHW":
        nhwc = nhwc[..., :1].repeat(3, axis=3)
        stored = nhwc[..., 0]
    else:
        stored = nhwc if layout == "NHWC" else nhwc.transpose(0, 3, 1, 2)
    np.save(tmp_path / "x.npy", stored)
    np.savez(tmp_path / "x.npz", images=stored)
    for name in ("x.npy", "x.npz"):
        source = open_source(tmp_path / name)
        assert isinstance(source, ArraySource)
        np.testing.assert_array_equal(np.stack(collect(source, batch_size=2)), nhwc)


def test_uncompressed_npz_is_memory_mapped_and_reads_like_the_loaded_array(tmp_path):
    """numpy.savez members are mapped, not loaded (ADM's 50k-sample files are ~10 GB); a compressed
    member is loaded. Same images and fingerprint either way, also for a Fortran-ordered array and a
    member whose local header carries a zip64 extra field (which moves the data)."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(7, 9, 11, 3), dtype=np.uint8)
    np.savez(tmp_path / "stored.npz", images=images)
    np.savez(tmp_path / "fortran.npz", images=np.asfortranarray(images))
    np.savez_compressed(tmp_path / "compressed.npz", images=images)
    with zipfile.ZipFile(tmp_path / "zip64.npz", "w") as archive, \
            archive.open("images.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, images)
    fingerprints = set()
    for name, mapped in [("stored", True), ("fortran", True), ("zip64", True), ("compressed", False)]:
        source = open_source(tmp_path / f"{name}.npz", max_images=5, seed=1)  # a shuffled subset
        assert isinstance(source.array, np.memmap) is mapped, name
        got = np.stack(collect(source, batch_size=2))
        np.testing.assert_array_equal(got, images[source.indices])
        fingerprints.add(source.fingerprint)
    assert len(fingerprints) == 1


def test_npz_with_mu_sigma_is_refused(tmp_path):
    np.savez(tmp_path / "stats.npz", mu=np.zeros(3), sigma=np.eye(3))
    with pytest.raises(GanevalError, match="statistics file from another tool"):
        open_source(tmp_path / "stats.npz")


def test_float_array_file_is_refused(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((2, 4, 4, 3), np.float32))
    source = open_source(tmp_path / "f.npy")
    with pytest.raises(GanevalError, match="must be uint8"):
        collect(source)


def test_max_images_is_a_seeded_subset_in_order(folder):
    path, arrays = folder
    a = open_source(path, max_images=3, seed=5)
    b = open_source(path, max_images=3, seed=5)
    c = open_source(path, max_images=3, seed=6)
    assert a.names == b.names and len(a.names) == 3
    assert a.names == sorted(a.names) and set(a.names) <= set(arrays)
    assert a.names != c.names or a.names != open_source(path, max_images=3, seed=7).names
    assert len(collect(a)) == 3


def test_iterables_tensors_and_generator_functions():
    rng = np.random.default_rng(2)
    batch = torch.from_numpy(rng.integers(0, 256, size=(6, 3, 7, 5), dtype=np.uint8))

    def generate():
        yield batch[:4]
        yield batch[4]  # a single [3, H, W] image

    for obj in (generate, [batch[:4], batch[4]], batch):
        source = open_source(obj)
        got = torch.stack([img for b in source.batches(4) for img in b])
        expected = batch if obj is not generate and not isinstance(obj, list) else torch.cat([batch[:4], batch[4:5]])
        assert torch.equal(got, expected)
    limited = open_source(generate, max_images=5)
    assert sum(len(b) for b in limited.batches(2)) == 5


def test_float_tensors_are_quantised_like_saved_pngs(tmp_path):
    torch.manual_seed(0)
    images = torch.rand(3, 3, 6, 6)
    (image,) = [torch.stack(b) for b in IterableSource([images]).batches(8)]
    # Reference: write each image to PNG the torchvision way, read it back with PIL.
    for i in range(3):
        arr = images[i].mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        back = np.asarray(Image.open(tmp_path / f"{i}.png"))
        np.testing.assert_array_equal(image[i].permute(1, 2, 0).numpy(), back)


def test_float_out_of_range_gets_a_hint():
    with pytest.raises(GanevalError, match=r"\(x \+ 1\) / 2"):
        to_uint8_chw(torch.full((1, 3, 4, 4), -1.0))


def test_grayscale_alpha_and_16bit_conventions(tmp_path):
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, size=(5, 6), dtype=np.uint8)
    rgba = rng.integers(0, 256, size=(5, 6, 4), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, size=(5, 6), dtype=np.uint16)

    def encoded(image, fmt="PNG"):
        buf = io.BytesIO()
        image.save(buf, format=fmt)
        return buf.getvalue()

    out = decode_image_bytes(encoded(Image.fromarray(gray)), "g.png")
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))
    out = decode_image_bytes(encoded(Image.fromarray(rgba)), "a.png")
    np.testing.assert_array_equal(out, rgba[:, :, :3])
    out = decode_image_bytes(encoded(Image.fromarray(gray16)), "g16.png")
    np.testing.assert_array_equal(out[:, :, 0], (gray16 >> 8).astype(np.uint8))
    la = Image.fromarray(np.stack([gray, gray[::-1]], axis=2))  # mode LA
    np.testing.assert_array_equal(decode_image_bytes(encoded(la), "la.png")[:, :, 1], gray)
    palette = Image.fromarray(gray).convert("P")
    np.testing.assert_array_equal(decode_image_bytes(encoded(palette), "p.png"),
                                  np.asarray(palette.convert("RGB")))


# ----------------------------------------------------------------- bad input


def test_bad_files_raise_one_line_naming_the_file(tmp_path):
    good = io.BytesIO()
    Image.fromarray(random_rgb(np.random.default_rng(4), 64, 64)).save(good, format="PNG")
    data = good.getvalue()
    cases = {
        "zero.png": b"",
        "text.jpg": b"this is not an image at all",
        "truncated.png": data[: len(data) // 2],
    }
    for name, payload in cases.items():
        with pytest.raises(BadImageError) as info:
            decode_image_bytes(payload, str(tmp_path / name))
        message = str(info.value)
        assert name in message and "\n" not in message and "--skip-bad" in message


def test_skip_bad_records_and_default_raises(tmp_path):
    rng = np.random.default_rng(5)
    for i in range(3):
        Image.fromarray(random_rgb(rng)).save(tmp_path / f"{i}.png")
    (tmp_path / "1b.png").write_bytes(b"")
    with pytest.raises(BadImageError, match="1b.png"):
        collect(open_source(tmp_path))
    source = open_source(tmp_path)
    assert len(collect(source, skip_bad=True)) == 3
    assert source.skipped == [str(tmp_path / "1b.png")]


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(GanevalError, match="no such file or folder"):
        open_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanevalError, match="folder is empty"):
        open_source(tmp_path / "empty")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    with pytest.raises(GanevalError, match="has no image files"):
        open_source(tmp_path / "texts")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(GanevalError, match="not a readable zip"):
        open_source(tmp_path / "bad.zip")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(GanevalError, match="not an image source"):
        open_source(tmp_path / "x.csv")
