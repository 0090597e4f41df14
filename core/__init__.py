"""Zhongcao core: the public API for plugin authors.

A plugin imports only from here and from the services' public functions::

    from core import hookimpl
"""

import pluggy

PROJECT_NAME = "zhongcao"
__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]
