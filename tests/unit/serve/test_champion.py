"""Which (champion version, collection) pair the serving endpoint serves as the aliases move."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tasks.serve import Champion, ServingError


@dataclass
class _Version:
    version: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Served:
    version: str
    collection: str


class _Registry:
    """The two lookups Champion makes, as plain data (MLflow's alias and Milvus's alias)."""

    def __init__(self) -> None:
        self.champion: _Version | None = None
        self.alias: str | None = None

    def get_model_version_by_alias(self, _name: str, _alias: str) -> _Version:
        if self.champion is None:
            raise LookupError("no alias")
        return self.champion

    def describe_alias(self, alias: str) -> dict[str, str]:
        if self.alias is None:
            raise LookupError(alias)
        return {"collection_name": self.alias}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[_Registry, Champion, list[tuple[str, str]]]:
    from tasks.services import milvus as milvus_service

    registry, loads = _Registry(), []
    monkeypatch.setattr(milvus_service, "alias_target", lambda client, alias: client.alias)

    def load(version: str, collection: str) -> _Served:
        loads.append((version, collection))
        return _Served(version, collection)

    clock = [0.0]
    champion = Champion(
        registry, registry, "m", "docs", load, refresh_s=5, log=lambda _: None, settle_s=60, clock=lambda: clock[0]
    )
    champion.now = clock  # type: ignore[attr-defined]
    return registry, champion, loads


def _at(champion: Champion, t: float) -> _Served:
    champion.now[0] = t  # type: ignore[attr-defined]
    return champion.current()  # type: ignore[return-value]


def test_nothing_to_serve_is_a_503_until_both_aliases_exist(world) -> None:
    registry, champion, loads = world
    with pytest.raises(ServingError) as refused:
        _at(champion, 0)
    assert refused.value.status == 503 and "champion" in refused.value.message
    registry.champion, registry.alias = _Version("1", {"llmops.index_collection": "docs_a"}), "docs_a"
    assert (_at(champion, 1).version, loads) == ("1", [("1", "docs_a")])


def test_a_release_flips_model_and_index_together(world) -> None:
    registry, champion, loads = world
    registry.champion, registry.alias = _Version("1", {"llmops.index_collection": "docs_a"}), "docs_a"
    _at(champion, 0)
    registry.alias = "docs_b"  # the release moved the index alias first
    assert (_at(champion, 10).version, _at(champion, 10).collection) == ("1", "docs_a")  # held: v1 knows docs_a
    registry.champion = _Version("2", {"llmops.index_collection": "docs_b"})  # ... then the champion
    assert _at(champion, 12).collection == "docs_a"  # not looked up again within refresh_s
    served = _at(champion, 16)
    assert (served.version, served.collection) == ("2", "docs_b")
    assert loads == [("1", "docs_a"), ("2", "docs_b")]  # never v1 on docs_b


def test_an_index_rollback_under_the_same_champion_is_followed_once_it_holds(world) -> None:
    registry, champion, loads = world
    registry.champion, registry.alias = _Version("2", {"llmops.index_collection": "docs_b"}), "docs_b"
    _at(champion, 0)
    registry.alias = "docs_a"  # `llmops index rollback`
    assert _at(champion, 10).collection == "docs_b"
    assert _at(champion, 69).collection == "docs_b"  # 59 s after it was first seen
    assert _at(champion, 75).collection == "docs_a"
    assert loads[-1] == ("2", "docs_a")


def test_a_version_without_lineage_is_served_as_the_aliases_say(world) -> None:
    registry, champion, _ = world
    registry.champion, registry.alias = _Version("1"), "docs_a"
    _at(champion, 0)
    registry.champion, registry.alias = _Version("7"), "docs_c"
    served = _at(champion, 6)
    assert (served.version, served.collection) == ("7", "docs_c")
