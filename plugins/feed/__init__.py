"""发现 feed: The personalized two-column explore feed."""

__version__ = "0.1.0"
LABEL = {"en": "Feed", "zh-CN": "发现"}
