"""A host applying config edits in-process: only the difference, each way it can go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.contract.model import PluginState
from zepix_core.host.host import Host, create_host
from zepix_core.loading.watch import Changed, Rejected, diff

HOOKLESS = good_plugin().replace("    @hookimpl\n    def config_changed", "    def config_changed")

BASE = """\
[host]
interval = 30

[plugins.told]
stake = 1

[plugins.plain]
stake = 1
"""


@pytest.fixture
def host(dists: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    dists.add("zepix-told", "1.0.0", {"told": "told_mod:Plugin"}, {"told_mod": good_plugin()})
    dists.add("zepix-plain", "1.0.0", {"plain": "plain_mod:Plugin"}, {"plain_mod": HOOKLESS})
    path = tmp_path / "zepix.toml"
    path.write_text(BASE, encoding="utf-8")
    made = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)])
    made.start()
    yield made
    made.shutdown()


def edit(host: Host, text: str) -> Changed | Rejected | None:
    assert host.config.path is not None
    host.config.path.write_text(text, encoding="utf-8")
    host.reconfig.force = True  # the stamp may not move within one clock tick
    return host.reconfig.poll()


def activations(host: Host, plugin_id: str) -> int:
    return len(host.store.history(plugin_id))


def test_diff_names_dotted_keys_of_tables_that_came_and_went() -> None:
    assert diff({"plugins": {}}, {"plugins": {"a": {"enabled": False}}}) == {
        "plugins.a.enabled": (None, False)}
    assert diff({"host": {"interval": 1.0}}, {"host": {"interval": 2.0}}) == {
        "host.interval": (1.0, 2.0)}


def test_own_settings_go_to_config_changed_else_restart_alone(host: Host) -> None:
    told, plain = activations(host, "told"), activations(host, "plain")
    result = edit(host, BASE.replace("stake = 1", "stake = 2"))
    assert isinstance(result, Changed)
    assert activations(host, "told") == told  # taken live
    assert activations(host, "plain") == plain + 1  # no hook: restarted alone
    assert host.slots["plain"].state is PluginState.ACTIVE
    assert host.slots["told"].config.table["stake"] == 2
    rows = {r["key"]: r for r in host.store.config_changes()}
    assert "config_changed" in rows["plugins.told.stake"]["reason"]
    assert "restarted alone" in rows["plugins.plain.stake"]["reason"]


def test_disable_enable_and_isolation_touch_one_plugin(host: Host) -> None:
    told = activations(host, "told")
    edit(host, BASE + "enabled = false\n")  # lands in [plugins.plain]
    assert host.slots["plain"].state is PluginState.INACTIVE
    assert host.slots["told"].state is PluginState.ACTIVE
    edit(host, BASE)
    assert host.slots["plain"].state is PluginState.ACTIVE
    edit(host, BASE + 'isolation = "process"\n')
    assert host.slots["plain"].state is PluginState.ACTIVE
    assert host.slots["plain"].config.isolation == "process"
    assert activations(host, "told") == told


def test_invalid_and_half_written_files_are_refused_whole(host: Host) -> None:
    result = edit(host, BASE.replace("stake = 1", "stake = 5", 1) + "ping_timeout = -1\n")
    assert isinstance(result, Rejected)
    assert host.slots["told"].config.table["stake"] == 1  # no part of it applied
    half = edit(host, "[host]\ninterval = 5\n[plugins.told\n")
    assert isinstance(half, Rejected) and half.line == 3
    assert host.config.host["interval"] == 30.0
    fixed = edit(host, BASE.replace("interval = 30", "interval = 5"))
    assert isinstance(fixed, Changed) and host.config.host["interval"] == 5.0
    assert host.loop.period == 5.0  # the round timer takes it at once
    statuses = [r["status"] for r in host.store.config_changes()]
    assert statuses[0] == "applied" and "rejected" in statuses


def test_a_reload_request_is_answered(host: Host) -> None:
    from zepix_core.storage.configchanges import RELOAD

    request = host.store.add_request("*", RELOAD, "test", 0.0)
    host.reconfig.poll()
    row = host.store.request(request)
    assert row is not None and row["outcome"] == "no change"


def test_api_reload_queues_a_request(tmp_path: Path, host: Host) -> None:
    from zepix_core.api import start

    server = start(host, 1.0, home=tmp_path)
    assert server is not None
    try:
        token = (tmp_path / "api-token").read_text(encoding="utf-8").strip()
        reply = httpx.post(f"{server.url}/api/v1/config/reload",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["action"] == "config_reload"
        host.reconfig.poll()
        assert host.store.request(reply.json()["id"])["applied_at"] is not None  # type: ignore[index]
    finally:
        server.stop()


def test_a_pin_is_checked_against_the_installed_versions(host: Host) -> None:
    told = activations(host, "told")
    edit(host, BASE.replace("[plugins.told]\n", '[plugins.told]\nversion = "~=1.0"\n'))
    edit(host, BASE.replace("[plugins.told]\n", '[plugins.told]\nversion = ">=2"\n'))
    reasons = [r["reason"] for r in host.store.config_changes()
               if r["key"] == "plugins.told.version"]
    assert "no installed version satisfies >=2; 1.0.0 runs" in reasons[0]
    assert "the running 1.0.0 satisfies the pin" in reasons[1]
    assert activations(host, "told") == told and host.slots["told"].state is PluginState.ACTIVE
