"""直播 live: Live-stream selling: chat, pinned products and flash deals."""

__version__ = "0.1.0"
LABEL = {"en": "Live", "zh-CN": "直播"}
