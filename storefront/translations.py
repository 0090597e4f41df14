TRANSLATIONS = {
    "zh-CN": {
        "Discover": "发现",
        "Brands": "品牌",
        "Brands to discover": "发现好品牌",
        "Account": "我的",
        "Hello, {name}": "你好，{name}",
        "Your roles": "你的身份",
        "Brand staff of": "品牌成员",
        "No brands yet.": "还没有品牌。",
        "Products from this brand arrive soon.": "该品牌的商品即将上架。",
        "Shop from notes, discover brands": "从笔记里种草，发现好品牌",
        "Home": "首页",
    }
}
