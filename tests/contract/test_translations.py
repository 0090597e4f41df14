"""One English string reads the same everywhere: the translation catalog is global (every
plugin's and surface's strings in one dictionary per language), so a word translated two
ways would show one of them at random on the other's pages."""

from __future__ import annotations

import pytest

from core.i18n import merge_catalogs


def test_every_string_has_one_translation_across_plugins_and_surfaces(zc_runtime):
    catalogs = [catalog for _plugin, catalog in zc_runtime.pm.call_each("register_translations")]
    merge_catalogs(*catalogs)  # raises on the first string translated two ways


def test_a_string_translated_two_ways_is_refused():
    with pytest.raises(ValueError, match="'Open'"):
        merge_catalogs({"zh-CN": {"Open": "招募中"}}, {"zh-CN": {"Open": "进行中", "Close": "关闭"}})
    assert merge_catalogs({"zh-CN": {"Open": "招募中"}}, {"zh-CN": {"Open": "招募中"}, "en": {"a (b)": "a"}}) == {"zh-CN": {"Open": "招募中"}, "en": {"a (b)": "a"}}
