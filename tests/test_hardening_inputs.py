"""Issue 10, classes 2, 3 and 5 for inputs: each bad input is one `ganeval: error:` line naming the
file (and the archive member), nothing written; under --skip-bad bad items are skipped and recorded.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib

import h5py
import numpy as np
import pytest
import torch

from _hardening import assert_one_error, digest_tree, png_bytes, run, write_pngs
from ganeval.io.names import escape_name, unescape_name
from ganeval.io.sources import MAX_COMPRESSION_RATIO, MAX_ITEM_BYTES


def refused(argv, capsys, watched, *names, exit_code=None):
    before = digest_tree(*watched)
    code, _, err = run(argv, capsys)
    line = assert_one_error(code, err, *names, exit_code=exit_code)
    assert digest_tree(*watched) == before
    return line


def skipped_files(path):
    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["skipped_files"]), int(h5["pool3/count"][()])


# ------------------------------------------------------------------ names that are not UTF-8, symlinks

BAD_NAME = os.fsdecode(b"\xff\xfe-bad.png")  # the surrogate-escaped str Python gives for these bytes


def test_undecodable_image_with_a_non_utf8_name(tmp_path, capsys):
    write_pngs(tmp_path / "src", 2)
    (tmp_path / "src" / BAD_NAME).write_bytes(b"not a png")
    refused(["stats", tmp_path / "src", "-o", tmp_path / "s.h5"], capsys, [tmp_path], r"\xff\xfe-bad.png",
            "cannot decode")


def test_dangling_symlink_and_symlink_loop_are_named(tmp_path, capsys):
    write_pngs(tmp_path / "a", 2)
    (tmp_path / "a" / "zz-dangling.png").symlink_to(tmp_path / "gone.png")
    write_pngs(tmp_path / "b", 2)
    (tmp_path / "b" / "zz-loop.png").symlink_to("zz-loop2.png")
    (tmp_path / "b" / "zz-loop2.png").symlink_to("zz-loop.png")
    refused(["stats", tmp_path / "a", "-o", tmp_path / "s.h5"], capsys, [tmp_path], "zz-dangling.png",
            "dangling symbolic link")
    refused(["stats", tmp_path / "b", "-o", tmp_path / "s.h5"], capsys, [tmp_path], "zz-loop.png",
            "symbolic link loop")


def test_skip_bad_records_bad_names_symlinks_losslessly(tmp_path, capsys):
    """One run: a non-UTF-8 undecodable file, a dangling link and a loop are skipped and recorded,
    and the output itself has a non-UTF-8 name."""
    src = tmp_path / "src"
    write_pngs(src, 3)
    (src / BAD_NAME).write_bytes(b"junk")
    (src / "dangling.png").symlink_to(tmp_path / "gone.png")
    (src / "loop.png").symlink_to("loop.png")
    output = tmp_path / os.fsdecode(b"out-\xe9.h5")
    code, _, err = run(["stats", src, "-o", output, "--skip-bad"], capsys)
    assert code == 0 and "Traceback" not in err, err
    skipped, count = skipped_files(output)
    assert count == 3 and len(skipped) == 3
    assert {os.path.basename(unescape_name(s)) for s in skipped} == {BAD_NAME, "dangling.png", "loop.png"}
    assert escape_name(src / BAD_NAME) in skipped and r"\xff\xfe" in err


# ------------------------------------------------------------------ zip members


def _set_field(zip_path, member, local_offset, central_offset, fmt, value):
    """Patch one header field of ``member`` in both its local and its central directory header."""
    data = bytearray(zip_path.read_bytes())
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(member)
    struct.pack_into(fmt, data, info.header_offset + local_offset, value)
    name = member.encode()
    central = data.find(b"PK\x01\x02" + data[info.header_offset + 4:info.header_offset + 6])
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 1)
    struct.pack_into(fmt, data, central + central_offset, value)
    zip_path.write_bytes(bytes(data))


def make_zip(path, bad: dict, good: int = 2):
    """``good`` valid PNG members plus the named bad kinds of member."""
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(good):
            archive.writestr(f"good{i}.png", png_bytes(i), compress_type=zipfile.ZIP_DEFLATED)
        for name, kind in bad.items():
            if kind == "bomb-ratio":
                archive.writestr(name, bytes(MAX_COMPRESSION_RATIO * 1), compress_type=zipfile.ZIP_DEFLATED)
            elif kind == "bomb-size":
                zinfo = zipfile.ZipInfo(name)
                zinfo.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(zinfo, "w", force_zip64=True) as member:
                    chunk = bytes(16 << 20)
                    for _ in range(MAX_ITEM_BYTES // len(chunk) + 1):
                        member.write(chunk)
            else:
                archive.writestr(name, png_bytes(7), compress_type=zipfile.ZIP_DEFLATED)
    for name, kind in bad.items():
        if kind == "encrypted":
            _set_field(path, name, 6, 8, "<H", 0x1)
        elif kind == "method":
            _set_field(path, name, 8, 10, "<H", 99)
        elif kind == "broken":
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo(name)
            data = bytearray(path.read_bytes())
            start = info.header_offset + 30 + len(name) + len(info.extra) + 20
            data[start:start + 40] = bytes(40)
            path.write_bytes(bytes(data))
        elif kind == "bomb-ratio":
            pass
    return path


ZIP_CASES = {
    "encrypted": "encrypted zip member",
    "method": "compression method 99 is not supported",
    "broken": "damaged zip member",
}


@pytest.mark.parametrize("kind", sorted(ZIP_CASES))
def test_bad_zip_member_is_one_line_naming_archive_and_member(tmp_path, capsys, kind):
    archive = make_zip(tmp_path / "a.zip", {"z-bad.png": kind})
    refused(["stats", archive, "-o", tmp_path / "s.h5"], capsys, [tmp_path], "a.zip:z-bad.png", ZIP_CASES[kind])


def test_zip_member_above_the_size_cap_is_refused_unread(tmp_path, capsys):
    archive = make_zip(tmp_path / "a.zip", {"z-huge.png": "bomb-size"})
    assert archive.stat().st_size < 2 << 20
    refused(["stats", archive, "-o", tmp_path / "s.h5"], capsys, [tmp_path], "a.zip:z-huge.png",
            f"above the {MAX_ITEM_BYTES >> 20} MiB")


def test_zip_bomb_ratio_is_refused(tmp_path, capsys):
    """A member that inflates far more than MAX_COMPRESSION_RATIO-fold to 40 MiB (zeros)."""
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for i in range(2):
            out.writestr(f"good{i}.png", png_bytes(i))
        out.writestr("z-bomb.bmp", bytes(40 << 20), compress_type=zipfile.ZIP_DEFLATED)
    refused(["stats", archive, "-o", tmp_path / "s.h5"], capsys, [tmp_path], "a.zip:z-bomb.bmp", "zip bomb")


def test_duplicate_member_names_are_refused(tmp_path, capsys):
    archive = tmp_path / "dup.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(archive, "w") as out:
        out.writestr("a.png", png_bytes(0))
        out.writestr("b.png", png_bytes(1))
        out.writestr("a.png", png_bytes(2))
    refused(["stats", archive, "-o", tmp_path / "s.h5"], capsys, [tmp_path], "dup.zip", "a.png", "same name")


def test_skip_bad_skips_and_records_bad_members(tmp_path, capsys):
    bad = {"x-enc.png": "encrypted", "x-method.png": "method", "x-broken.png": "broken"}
    archive = make_zip(tmp_path / "a.zip", bad, good=3)
    code, _, err = run(["stats", archive, "-o", tmp_path / "s.h5", "--skip-bad"], capsys)
    assert code == 0 and "Traceback" not in err, err
    skipped, count = skipped_files(tmp_path / "s.h5")
    assert count == 3 and sorted(skipped) == sorted(f"{archive}:{name}" for name in bad)


# ------------------------------------------------------------------ .npz


def test_npz_object_array_is_refused_without_unpickling(tmp_path, capsys):
    np.savez(tmp_path / "o.npz", images=np.array([b"x", 1, None], dtype=object))
    refused(["stats", tmp_path / "o.npz", "-o", tmp_path / "s.h5"], capsys, [tmp_path], "o.npz:images.npy",
            "Python objects")


def test_npz_with_bad_crc(tmp_path, capsys):
    np.savez(tmp_path / "c.npz", images=np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    data = bytearray((tmp_path / "c.npz").read_bytes())
    data[2000] ^= 0xFF  # inside the stored (uncompressed) image data
    (tmp_path / "c.npz").write_bytes(bytes(data))
    refused(["stats", tmp_path / "c.npz", "-o", tmp_path / "s.h5"], capsys, [tmp_path], "c.npz", "damaged")


def test_npz_declaring_a_huge_array_is_refused_by_its_header(tmp_path, capsys):
    np.savez(tmp_path / "h.npz", images=np.zeros((3, 32, 32, 3), np.uint8))
    data = (tmp_path / "h.npz").read_bytes()
    old, new = b"(3, 32, 32, 3), }", b"(300000000000000, 32, 32, 3), }"
    start = data.index(old)
    end = data.index(b"\n", start)
    patched = data[:start] + new + data[start + len(old):end][:-(len(new) - len(old))] + data[end:]
    assert len(patched) == len(data)
    (tmp_path / "h.npz").write_bytes(patched)
    refused(["stats", tmp_path / "h.npz", "-o", tmp_path / "s.h5"], capsys, [tmp_path], "h.npz",
            "300000000000000")


# ------------------------------------------------------------------ pixels


def _png_header_only(width, height):
    """A PNG whose header declares width x height (valid CRC) with almost no pixel data."""
    data = bytearray(png_bytes(0, size=1))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_max_pixels_default_is_pillows_limit_and_can_be_raised(tmp_path, capsys):
    write_pngs(tmp_path / "src", 2)
    (tmp_path / "src" / "z-huge.png").write_bytes(_png_header_only(10_000, 10_000))
    line = refused(["stats", tmp_path / "src", "-o", tmp_path / "s.h5"], capsys, [tmp_path], "z-huge.png",
                   "100,000,000 pixels", "--max-pixels 89,478,485")
    line = refused(["stats", tmp_path / "src", "-o", tmp_path / "s.h5", "--max-pixels", "200000000"], capsys,
                   [tmp_path], "z-huge.png", "cannot decode")
    assert "--max-pixels" not in line  # read past the check: now it is the missing data that is refused


def test_max_pixels_refuses_a_real_larger_image(tmp_path, capsys):
    write_pngs(tmp_path / "src", 2)
    write_pngs(tmp_path / "src", 1, size=40, prefix="z-big")
    refused(["stats", tmp_path / "src", "-o", tmp_path / "s.h5", "--max-pixels", "1500"], capsys, [tmp_path],
            "z-big00.png", "1,600 pixels")


# ------------------------------------------------------------------ options


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("arrays")
    np.save(root / "x.npy", np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    return root


def test_bogus_and_absent_devices(arrays, capsys, tmp_path):
    refused(["stats", arrays / "x.npy", "-o", tmp_path / "s.h5", "--device", "bogus"], capsys, [arrays, tmp_path],
            "--device 'bogus'", "not a torch device")
    absent = "cuda:99" if torch.cuda.is_available() else "cuda"
    refused(["fid", arrays / "x.npy", arrays / "x.npy", "--device", absent], capsys, [arrays, tmp_path],
            f"--device {absent}")


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--seed", str(2**64)], ["--metric-seed", "-1"]])
def test_seeds_outside_64_bits_are_refused_up_front(arrays, capsys, tmp_path, argv):
    command = "kid" if argv[0] == "--metric-seed" else "stats"
    args = [arrays / "x.npy", arrays / "x.npy"] if command == "kid" else [arrays / "x.npy", "-o", tmp_path / "s.h5"]
    refused([command, *args, *argv], capsys, [arrays, tmp_path], argv[0], exit_code=2)


def test_resume_with_a_corrupt_checkpoint(arrays, capsys, tmp_path):
    import ganeval

    partial = tmp_path / "s.h5.partial"
    partial.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    refused(["stats", arrays / "x.npy", "-o", tmp_path / "s.h5", "--resume"], capsys, [arrays, tmp_path],
            "s.h5.partial", "unreadable checkpoint")
    # A real checkpoint of this very run, then damaged: the shapes no longer fit together.
    partial.unlink()
    ganeval.compute_stats(str(arrays / "x.npy"), device="cpu", batch_size=2, checkpoint=str(partial),
                          checkpoint_every=1, keep_checkpoint=True)
    with h5py.File(partial, "r+") as h5:
        del h5["pool3/scatter"]
        h5["pool3/scatter"] = np.zeros((3, 3))
    refused(["stats", arrays / "x.npy", "-o", tmp_path / "s.h5", "--resume", "--batch-size", "2"], capsys,
            [arrays, tmp_path], "s.h5.partial", "damaged checkpoint")


@pytest.mark.parametrize("bad", ["mu-nan", "sigma-inf", "feats-nan", "mu-strings"])
def test_import_stats_validates_before_writing(capsys, tmp_path, bad):
    mu, sigma = np.zeros(2048), np.eye(2048)
    if bad == "mu-nan":
        mu[3] = np.nan
    if bad == "sigma-inf":
        sigma[1, 1] = np.inf
    arrays = {"mu": mu, "sigma": sigma}
    if bad == "feats-nan":
        feats = np.ones((4, 2048), np.float32)
        feats[2, 5] = np.nan
        arrays = {"feats": feats}
    if bad == "mu-strings":
        arrays = {"mu": np.array(["a"] * 2048), "sigma": sigma}
    np.savez(tmp_path / "in.npz", **arrays)
    expected = "not numbers" if bad == "mu-strings" else "NaN or infinity"
    refused(["import-stats", tmp_path / "in.npz", "-o", tmp_path / "out.h5", "--mode", "tf1", "--network",
             "tf-inception", "--count", "4"] if bad != "feats-nan" else
            ["import-stats", tmp_path / "in.npz", "-o", tmp_path / "out.h5", "--mode", "tf1", "--network",
             "tf-inception"], capsys, [tmp_path], "in.npz", expected)


def test_image_file_above_the_size_cap_is_refused_unread(tmp_path, capsys):
    write_pngs(tmp_path / "src", 2)
    with open(tmp_path / "src" / "z-huge.bmp", "wb") as huge:
        huge.truncate(MAX_ITEM_BYTES + 1)  # sparse: no disk space, and it must never be read into memory
    refused(["stats", tmp_path / "src", "-o", tmp_path / "s.h5"], capsys, [tmp_path / "s.h5"], "z-huge.bmp",
            f"above the {MAX_ITEM_BYTES >> 20} MiB")
    assert not (tmp_path / "s.h5").exists()


def test_array_source_with_a_non_utf8_path_is_read_and_recorded_escaped(tmp_path, capsys):
    folder = tmp_path / os.fsdecode(b"d\xe4ta")
    folder.mkdir()
    np.save(folder / "x.npy", np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8))
    code, _, err = run(["stats", folder / "x.npy", "-o", tmp_path / "s.h5"], capsys)
    assert code == 0 and "Traceback" not in err, err
    with h5py.File(tmp_path / "s.h5", "r") as h5:
        source = h5.attrs["source"]
    assert r"d\xe4ta" in source and unescape_name(source) == str((folder / "x.npy").resolve())
    np.save(folder / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    refused(["stats", folder / "o.npy", "-o", tmp_path / "t.h5"], capsys, [tmp_path], r"d\xe4ta", "o.npy")


def test_python_api_gets_the_same_device_check():
    from ganeval.core.errors import GanevalError
    from ganeval.extractors.inception_extractor import InceptionExtractor

    with pytest.raises(GanevalError, match="not a torch device"):
        InceptionExtractor(device="bogus")


def test_default_max_pixels_is_pillows_own_limit():
    from PIL import Image

    from ganeval.core.choices import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == Image.MAX_IMAGE_PIXELS
