"""笔记 notes: Shoppable notes: image and video posts that tag products, with likes, collects and comments."""

__version__ = "0.1.0"
LABEL = {"en": "Notes", "zh-CN": "笔记"}
