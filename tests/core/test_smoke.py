from core.testing import api_token, html_login


async def test_home_lists_brands(zc_client, zc_make_user):
    await zc_make_user(brand=("river-tea", "owner"))
    response = await zc_client.get("/")
    assert response.status_code == 200
    assert "River Tea" in response.text


async def test_login_and_me(zc_client, zc_make_user):
    user = await zc_make_user(roles=("creator",))
    headers = await api_token(zc_client, user.email)
    me = await zc_client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert "creator" in me.json()["roles"]
    await html_login(zc_client, user.email)
    account = await zc_client.get("/account")
    assert account.status_code == 200 and user.email in account.text
