import re
from pathlib import Path
from typing import Any

import pytest
from helpers.paths import REPO

from harness.errors import ScenarioError
from harness.load.mix import Request
from harness.scenario import BOUNDS, Scenario, Traffic, load_scenario

DEFAULT_YAML = REPO / "harness" / "scenarios" / "default.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_documented_defaults_match_the_code() -> None:
    assert load_scenario(DEFAULT_YAML) == Scenario()


def test_no_file_gives_defaults() -> None:
    assert load_scenario(None) == Scenario()


def test_overrides_are_applied_and_typed() -> None:
    s = load_scenario(None, {"orders": "naive,graceful", "traffic.users": 4, "duration_s": 12})
    assert s.orders == ["naive", "graceful"]
    assert s.traffic.users == 4
    assert s.duration_s == 12.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("traffic:\n  userz: 3\n", "traffic.userz: unknown setting"),
        ("traffic:\n  users: ten\n", "traffic.users: expected an integer, got 'ten'"),
        ("replicas: true\n", "replicas: expected an integer"),
        ("orders: [naive, fast]\n", "orders: unknown order 'fast'"),
        ("duration_s: -5\n", "duration_s: must be > 0"),
        ("traffic:\n  users: 0\n", "traffic.users: must be > 0"),
        ("chaos:\n  count: 50\n", "actions fall at or after the end of the run"),
        ("chaos: 3\n", "chaos: expected a mapping"),
        ("[1, 2]\n", "expected a mapping of settings"),
        ("a: [\n", "not valid YAML (line"),
        ("chaos:\n  action: delete_named\n", "chaos.pod: delete_named needs"),
        ("chaos:\n  max_surge: lots\n", "chaos.max_surge: expected an integer or a percentage"),
        ("app:\n  command: [my-app]\n", "app.command: must contain {port}"),
        ("kube:\n  request_timeout_s: 0\n", "kube.request_timeout_s: must be > 0"),
        ("duration_s: .inf\n", "duration_s: expected a finite number, got inf"),
        ("duration_s: .nan\n", "duration_s: expected a finite number, got nan"),
        ("chaos:\n  every_s: .nan\n", "chaos.every_s: expected a finite number, got nan"),
        ("duration_s: " + "9" * 400 + "\n", "duration_s: expected a finite number"),
        ("duration_s: 100000\n", "duration_s: must be > 0 and <= 86400, got 100000"),
        ("chaos:\n  count: 100000000\n", "chaos.count: must be >= 0 and <= 10000"),
        ("chaos:\n  at_s: [1, -2]\n", "chaos.at_s: offsets must be >= 0"),
        ("traffic:\n  users: 1000000\n", "traffic.users: must be > 0 and <= 10000"),
        ("app:\n  grace_period_s: 1.0e+9\n", "app.grace_period_s: must be > 0 and <= 3600"),
        ("seed: 2001-02-30\n", "not valid YAML (day is out of range"),
        ("seed: " + "1" * 5000 + "\n", "not valid YAML (Exceeds the limit"),
        ("1: x\nfoo: y\n", "1: unknown setting"),
        ("chaos:\n  max_surge: \u00b2\n", "chaos.max_surge: expected an integer or a percentage"),
        (
            "traffic:\n  slow_ms_max: 25000\n  timeout_s: 60\n",
            "traffic.slow_ms_max (25000 ms) must be below app.drain_timeout_s (20 s)",
        ),
        (
            "traffic:\n  slow_ms_max: 12000\n",
            "traffic.slow_ms_max (12000 ms) must be below traffic.timeout_s (10 s)",
        ),
    ],
)
def test_bad_scenarios_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.yaml")


def test_explicit_offsets_override_the_schedule() -> None:
    s = load_scenario(None, {"chaos.at_s": [9, 3.5]})
    assert s.chaos_offsets() == [3.5, 9.0]


def test_non_utf8_scenario_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"duration_s: 20\n# caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"not UTF-8 text \(byte 0xe9 at offset 20\)"):
        load_scenario(path)


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 5000 + "]" * 5000,  # YAML flow
        '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",  # JSON, which YAML reads too
        "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",  # block
    ],
)
def test_deep_nesting_is_one_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(ScenarioError, match="nested deeper than 32 levels"):
        load_scenario(write(tmp_path, text))


def test_a_file_too_large_for_a_scenario_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ScenarioError, match="larger than 1 MiB"):
        load_scenario(path)


def test_an_override_into_a_setting_that_is_no_section_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^traffic: expected a mapping$"):
        load_scenario(write(tmp_path, "traffic: 3\n"), {"traffic.users": 5})


def test_every_bound_is_documented_in_default_yaml() -> None:
    text = DEFAULT_YAML.read_text()
    for key, (_low, high, _) in BOUNDS.items():
        if key == "seed":
            continue
        name = key.rpartition(".")[2]
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{name}:"))
        assert f"{high:g}" in line.replace("_", ""), (key, line)


USER_APP = {"app.command": ["python3", "-m", "http.server", "{port}"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"orders": ["naive"], "variants": {"a": {}}}, "orders: give orders"),
        ({**USER_APP, "orders": ["naive"]}, "orders: names the sample app's built-in variants"),
        ({**USER_APP, "variants": {}}, "variants: name at least one variant"),
        ({**USER_APP, "variants": {"Big_Name": {}}}, "variants.Big_Name: a variant's name"),
        ({**USER_APP, "variants": {"a": {"env": {"A=B": "1"}}}}, "variants.a.env: 'A=B' is not"),
        ({**USER_APP, "variants": {"a": {"readiness": {"path": "x"}}}}, "readiness.path: must"),
        ({**USER_APP, "variants": {"a": {"grace_period_s": -1}}}, "variants.a.grace_period_s"),
        (
            {**USER_APP, "variants": {"a": {"prestop_sleep_s": 1, "prestop_command": ["x"]}}},
            "variants.a: give prestop_sleep_s or prestop_command",
        ),
        ({**USER_APP, "variants": {"a": {"envs": {}}}}, "variants.a.envs: unknown setting"),
        ({"app.readiness.failure_threshold": 0}, "app.readiness.failure_threshold: must be > 0"),
        ({**USER_APP, "gate.order": "graceful"}, "gate.order: 'graceful' is not a variant"),
    ],
)
def test_bad_variants_are_one_line_naming_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_scenario(None, overrides)


def test_a_user_app_runs_as_it_is_and_gates_on_its_first_variant() -> None:
    s = load_scenario(None, USER_APP)
    assert s.variant_names() == ["current"] and s.gate.order == "current"
    s = load_scenario(None, {**USER_APP, "variants": {"before": {}, "after": {}}})
    assert s.variant_names() == ["before", "after"] and s.gate.order == "before"


def test_a_sample_variant_named_after_an_order_starts_from_it() -> None:
    s = load_scenario(None, {"variants": {"prestop": {"env": {"DRAIN_TIMEOUT": "3"}}}})
    change = s.deploy_spec("prestop").change
    assert change.prestop_sleep_s == 5.0 and change.grace_period_s == 30.0
    assert change.env["SHUTDOWN_ORDER"] == "prestop" and change.env["DRAIN_TIMEOUT"] == "3"


def test_a_variants_probe_change_keeps_what_it_does_not_name() -> None:
    s = load_scenario(None, {**USER_APP, "variants": {"a": {"readiness": {"period_s": 2}}}})
    change = s.deploy_spec("a").change.readiness
    assert change is not None
    probe = change.applied_to(s.app.readiness)
    assert probe.period_s == 2 and probe.path == "/readyz"


def test_paths_in_a_scenario_mean_beside_it(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "app:\n  command: [./srv, '{port}']\n  workdir: www\n  manifests: k8s\n"
        "  image_archive: img.tar\nvariants:\n  a: {patch: p.yaml}\n"
    )
    s = load_scenario(scenario)
    assert s.app.command == [str(tmp_path / "srv"), "{port}"]
    assert (s.app.workdir, s.app.manifests) == (str(tmp_path / "www"), str(tmp_path / "k8s"))
    assert s.app.image_archive == str(tmp_path / "img.tar")
    assert s.deploy_spec("a").change.patch == str(tmp_path / "p.yaml")


# -- traffic.requests, rate_per_s ---------------------------------------------------------------


def test_requests_are_read_into_their_dataclass(tmp_path: Path) -> None:
    s = load_scenario(
        write(
            tmp_path,
            "traffic:\n  rate_per_s: 50\n  requests:\n"
            "  - {method: POST, path: /orders, headers: {X-Token: abc, X-N: 7}, body: '{}',\n"
            "     expect: '201, 4xx', weight: 2, keepalive: false}\n"
            "  - path: /work?ms={ms}\n",
        )
    )
    t = s.traffic
    assert t.rate_per_s == 50.0
    assert t.mix() == [
        Request(
            "POST", "/orders", {"X-Token": "abc", "X-N": "7"}, "{}", ["201", "4xx"], 2.0, False
        ),
        Request(path="/work?ms={ms}"),
    ]


def test_no_requests_is_the_sample_app_mix_with_its_weights() -> None:
    assert Traffic().mix() == [Request(path="/", weight=3), Request(path="/work?ms={ms}", weight=1)]
    assert [r.weight for r in Traffic(fast_weight=0, slow_weight=5).mix()] == [0, 5]
    assert Traffic().think_s() == (0.0, 0.05)
    assert Traffic(wait_min_s=0.2, wait_max_s=0.3).think_s() == (0.2, 0.3)


def requests_yaml(*entries: str) -> str:
    return "traffic:\n  requests:\n" + "".join(f"  - {entry}\n" for entry in entries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            requests_yaml("{path: /}", "{path: /a}", "{method: FETCH, path: /}"),
            "traffic.requests[2].method: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, "
            "OPTIONS, got 'FETCH'",
        ),
        (requests_yaml("{method: post}"), "traffic.requests[0].method: expected one of GET"),
        (requests_yaml("{path: orders}"), "traffic.requests[0].path: must start with '/'"),
        (requests_yaml("{path: '/a b'}"), "traffic.requests[0].path: no spaces or control"),
        (
            requests_yaml("{expect: [abc]}"),
            "traffic.requests[0].expect[0]: expected a status (404), a range (200-299) or a "
            "class (5xx), each within 100-599, got 'abc'",
        ),
        (requests_yaml("{expect: [200, 600]}"), "traffic.requests[0].expect[1]: expected a"),
        (requests_yaml("{expect: [399-200]}"), "traffic.requests[0].expect[0]: expected a"),
        (requests_yaml("{expect: 6xx}"), "traffic.requests[0].expect[0]: expected a"),
        (requests_yaml("{expect: []}"), "traffic.requests[0].expect: list at least one"),
        (requests_yaml("{headers: [a]}"), "traffic.requests[0].headers: expected a mapping"),
        (
            requests_yaml("{headers: {X-On: true}}"),
            "traffic.requests[0].headers.X-On: expected a string, got True",
        ),
        (requests_yaml("{headers: {'a b': c}}"), "traffic.requests[0].headers: 'a b' is not a"),
        (
            requests_yaml("{headers: {Connection: close}}"),
            "traffic.requests[0].headers.Connection: drainlab sets it",
        ),
        (
            requests_yaml('{headers: {X-A: "b\\r\\nX-B: c"}}'),
            "traffic.requests[0].headers.X-A: a header value cannot hold control",
        ),
        (requests_yaml("{body: {a: 1}}"), "traffic.requests[0].body: expected a string"),
        (requests_yaml("{weight: -1}"), "traffic.requests[0].weight: must be >= 0 and <= 1000"),
        (requests_yaml("{weight: .nan}"), "traffic.requests[0].weight: expected a finite number"),
        (requests_yaml("{verb: GET}"), "traffic.requests[0].verb: unknown setting"),
        (requests_yaml("{keepalive: 0}"), "traffic.requests[0].keepalive: expected true or"),
        (requests_yaml("/path"), "traffic.requests[0]: expected a mapping"),
        (requests_yaml("{weight: 0}", "{weight: 0}"), "traffic.requests: the weights must not"),
        (
            requests_yaml("{path: /}", "{path: '/w?ms={ms}'}") + "  timeout_s: 0.5\n",
            "traffic.slow_ms_max (600 ms) must be below traffic.timeout_s (0.5 s)",
        ),
        ("traffic:\n  requests: []\n", "traffic.requests: list at least one request"),
        ("traffic:\n  requests: {path: /}\n", "traffic.requests: expected a list"),
        (
            requests_yaml("{path: /}") + "  fast_weight: 2\n",
            "traffic.fast_weight: with traffic.requests, give each its weight",
        ),
        (
            "traffic:\n  fast_weight: 0\n  slow_weight: 0\n",
            "traffic.fast_weight, slow_weight: the weights must not all be 0",
        ),
        (
            "traffic:\n  rate_per_s: 20\n  wait_max_s: 1\n",
            "traffic.rate_per_s: a target rate and think time (wait_min_s, wait_max_s) are "
            "alternatives; give one",
        ),
        ("traffic:\n  rate_per_s: 0\n", "traffic.rate_per_s: must be > 0 and <= 100000, got 0"),
        ("traffic:\n  wait_min_s: 0.1\n", "traffic: need 0 <= wait_min_s <= wait_max_s"),
    ],
)
def test_bad_traffic_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_slow_ms_bounds_apply_only_to_a_mix_that_draws_ms(tmp_path: Path) -> None:
    """A mix of the user's own with no {ms} has no slow requests of the scenario's making: a
    short timeout or drain is theirs to choose, not a clash with slow_ms_max."""
    text = requests_yaml("{path: /}") + "  timeout_s: 0.5\napp:\n  drain_timeout_s: 0.2\n"
    assert load_scenario(write(tmp_path, text)).traffic.timeout_s == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gate:\n  min_deletions: -1\n", "gate.min_deletions: must be >= 0, got -1"),
        ("gate:\n  min_deletions: many\n", "gate.min_deletions: expected an integer"),
        ("gate:\n  max_upper_bound: 0\n", "gate.max_upper_bound: is a fraction above 0"),
        ("gate:\n  max_upper_bound: 2\n", "gate.max_upper_bound: is a fraction above 0"),
        ("gate:\n  max_outage_s: -3\n", "gate.max_outage_s: must be a finite number"),
        ("gate:\n  max_outage_s: .inf\n", "gate.max_outage_s: expected a finite number"),
    ],
)
def test_bad_evidence_limits_in_the_gate_section(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_gate_section_takes_the_evidence_limits(tmp_path: Path) -> None:
    text = "gate:\n  min_deletions: 4\n  max_upper_bound: 0.01\n  max_outage_s: 2\n"
    gate = load_scenario(write(tmp_path, text)).gate
    assert (gate.min_deletions, gate.max_upper_bound, gate.max_outage_s) == (4, 0.01, 2.0)
