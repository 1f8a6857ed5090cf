"""Whether the Hugging Face hub can be reached, and going offline fast when it can't.

Without this, huggingface_hub retries an unreachable host for almost a minute before giving up;
offline mode still finds what is already in the local cache.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def offline_unless_reachable() -> bool:
    """Switch huggingface_hub (and datasets, if loaded) to offline mode when the hub can't be
    reached. Returns whether the process is offline now."""
    import sys

    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE and not hub_reachable():
        constants.HF_HUB_OFFLINE = True
        if "datasets" in sys.modules:
            sys.modules["datasets"].config.HF_HUB_OFFLINE = True
    return constants.HF_HUB_OFFLINE
