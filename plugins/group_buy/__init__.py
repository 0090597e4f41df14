"""拼团 group_buy: Team purchases that capture payment only when the team fills."""

__version__ = "0.1.0"
LABEL = {"en": "Group Buy", "zh-CN": "拼团"}
