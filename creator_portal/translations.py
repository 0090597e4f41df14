TRANSLATIONS = {
    "zh-CN": {
        "Dashboard": "工作台",
        "Your brands": "你的品牌",
        "Creator": "创作者",
        "You are registered as a creator. Campaigns you can join will appear here.": "你已注册为创作者。可参与的种草合作将显示在这里。",
        "Not a creator or brand member yet.": "你还不是创作者或品牌成员。",
        "Become a creator": "成为创作者",
        "role": "角色",
        "owner": "所有者",
        "staff": "成员",
        "Back to the shop": "返回商城",
    }
}
