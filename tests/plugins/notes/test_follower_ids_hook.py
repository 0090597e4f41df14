"""The notes plugin's published `follower_ids` hook: who follows a user or a brand, in
keyset pages by ascending user id."""

from __future__ import annotations

from plugins.notes import profiles


async def followers_through_hook(runtime, **audience):
    (answer,) = [await a for a in runtime.pm.hook.follower_ids(runtime=runtime, **audience)]
    return answer


async def test_follower_ids_pages_through_a_users_and_a_brands_followers(zc_runtime, zc_make_user):
    star = await zc_make_user(brand=("hook-brand", "owner"))
    fans = [await zc_make_user() for _ in range(5)]
    other = await zc_make_user()
    async with zc_runtime.db.session() as s:
        handle = (await profiles.ensure_profile(s, star.id)).handle
        for fan in fans:
            await profiles.follow(s, zc_runtime, fan.id, handle)
        for fan in fans[:2]:
            await profiles.follow_brand(s, zc_runtime, fan.id, "hook-brand")
        await profiles.follow(s, zc_runtime, star.id, (await profiles.ensure_profile(s, other.id)).handle)  # the star follows someone: not a follower of hers
        await s.commit()
    ids = sorted(f.id for f in fans)
    first = await followers_through_hook(zc_runtime, user_id=star.id, brand_id=None, after=0, limit=3)
    rest = await followers_through_hook(zc_runtime, user_id=star.id, brand_id=None, after=first[-1], limit=3)
    assert (first, rest) == (ids[:3], ids[3:])
    assert await followers_through_hook(zc_runtime, user_id=star.id, brand_id=None, after=ids[-1], limit=3) == []
    assert await followers_through_hook(zc_runtime, user_id=None, brand_id=(await _brand_id(zc_runtime)), after=0, limit=10) == sorted(f.id for f in fans[:2])
    assert await followers_through_hook(zc_runtime, user_id=None, brand_id=None, after=0, limit=10) == []
    assert await followers_through_hook(zc_runtime, user_id=other.id, brand_id=None, after=0, limit=10) == [star.id]


async def _brand_id(runtime) -> int:
    async with runtime.db.read_session() as s:
        return await profiles.brand_id_of(s, "hook-brand")
