"""`gitops-engine set-image`: the image line changes, byte for byte nothing else does, and bad input writes nothing."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from testing.cli import run_cli
from testing.repos import commit_all, git, make_repo

from gitops_engine import yamledit, yamlio
from gitops_engine.errors import InputError
from gitops_engine.model import is_image_reference

DATA = Path(__file__).parent / "data" / "set-image"
SCORE = "workloads/team-a/orders/score.yaml"
PLATFORM = {
    "platform.yaml": "apiVersion: gitops-engine.dev/v1\nkind: Platform\nenvironments: [development, production]\n",
    "environments/development.yaml": (
        "apiVersion: gitops-engine.dev/v1\nkind: Environment\nid: development\ntype: development\n"
        'namespace: "{team}-{env}"\n'
    ),
    "environments/production.yaml": (
        "apiVersion: gitops-engine.dev/v1\nkind: Environment\nid: production\ntype: production\n"
        'namespace: "{team}-{env}"\n'
    ),
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "platform", {**PLATFORM, SCORE: (DATA / "score.yaml").read_bytes()})


def _diff(before: bytes, after: bytes) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(
            before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True), n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize(
    ("container", "old", "new"),
    [
        (
            "api",
            "    image:   'registry.example.com/team-a/orders:1.4.1'    # bumped by CI\n",
            "    image:   'registry.example.com/team-a/orders:1.4.2'    # bumped by CI\n",
        ),
        (
            "sidecar",
            '    image: "ghcr.io/example/proxy:2.0" # double-quoted\n',
            '    image: "ghcr.io/example/proxy@sha256:' + "ab" * 32 + '" # double-quoted\n',
        ),
        (
            "worker",
            "    image: registry.example.com/team-a/orders-worker:1.4.1\n",
            "    image: registry.example.com/team-a/orders-worker:1.4.2\n",
        ),
    ],
)
def test_only_the_image_line_changes(repo: Path, container: str, old: str, new: str) -> None:
    before = (repo / SCORE).read_bytes()
    image = new.split("image:", 1)[1].split("#")[0].strip().strip("'\"")
    code, output = run_cli(["set-image", "team-a/orders", image, "--container", container], repo)
    assert code == 0, output
    after = (repo / SCORE).read_bytes()
    assert _diff(before, after) == [f"-{old}", f"+{new}"]
    assert len(after) - len(before) == len(new) - len(old)
    line = before.decode().splitlines(keepends=True).index(old) + 1
    assert (
        output
        == f"{SCORE}:{line}: container {container}: {old.split('image:')[1].split('#')[0].strip().strip(chr(39) + chr(34))} -> {image}\n"
    )
    # Still the same Score file apart from that image: the anchor and its merge key mean what they meant.
    data = yamlio.load_document(after.decode(), SCORE).data
    assert data["containers"]["api"]["resources"] == data["containers"]["sidecar"]["resources"]
    assert data["containers"][container]["image"] == image


def test_a_value_that_would_not_read_back_as_text_is_quoted(tmp_path: Path) -> None:
    text = "containers:\n  main:\n    image: old   # keep\n"
    # `123` is a valid repository name, but unquoted YAML reads it as a number.
    assert yamledit.set_value(text, "s.yaml", ("containers", "main", "image"), "123") == (
        "containers:\n  main:\n    image: '123'   # keep\n"
    )


def test_crlf_line_endings_and_anchored_images_are_kept() -> None:
    text = "containers:\r\n  a:\r\n    image: &img reg/a:1\r\n  b:\r\n    image: *img\r\n"
    edited = yamledit.replace_scalar(text, "s.yaml", ("containers", "a", "image"), "reg/a:2")
    assert edited == text.replace("reg/a:1", "reg/a:2")
    with pytest.raises(InputError) as raised:
        yamledit.replace_scalar(text, "s.yaml", ("containers", "b", "image"), "reg/b:2")
    assert str(raised.value) == (
        "s.yaml:5:5: containers.b.image is an alias of the value anchored on line 3: changing it would change "
        "every use of that anchor; edit that line, or write this value out"
    )


def test_the_only_container_needs_no_name_and_the_same_image_changes_nothing(tmp_path: Path) -> None:
    score = "apiVersion: score.dev/v1b1\nmetadata:\n  name: web\ncontainers:\n  main:\n    image: reg/web:1\n"
    repo = make_repo(tmp_path / "p", {**PLATFORM, "workloads/team-b/web/score.yaml": score})
    code, output = run_cli(["set-image", "team-b/web", "reg/web:1"], repo)
    assert (code, output) == (
        0,
        "workloads/team-b/web/score.yaml:6: container main already runs reg/web:1: nothing to change\n",
    )
    code, output = run_cli(["set-image", "team-b/web", "reg/web:2", "--commit"], repo)
    assert code == 0, output
    assert (
        git(repo, "log", "-1", "--format=%s").strip()
        == "chore(team-b/web): set image of container main to reg/web:2"
    )
    assert git(repo, "show", "--format=", "--name-only", "HEAD").split() == [
        "workloads/team-b/web/score.yaml"
    ]
    assert git(repo, "status", "--porcelain") == ""


def test_env_pins_the_image_in_the_overrides_file(repo: Path) -> None:
    overrides = "workloads/team-a/orders/overrides.production.yaml"
    code, output = run_cli(
        ["set-image", "team-a/orders", "reg/orders:2", "--container", "worker", "--env", "production"], repo
    )
    assert code == 0, output
    created = (repo / overrides).read_text()
    assert created.endswith("containers:\n  worker:\n    image: reg/orders:2\n"), created
    assert created.startswith("# Deep-merged onto score.yaml in the production environment")
    # An existing overrides file without that container: the keys are added, no line of it changes.
    (repo / overrides).write_text(
        "# production pins\ncontainers:\n  worker:\n    image: reg/orders:2  # pinned\n"
    )
    commit_all(repo, "pin")
    before = (repo / overrides).read_bytes()
    code, output = run_cli(
        [
            "set-image",
            "team-a/orders",
            "reg/orders-api:3",
            "--container",
            "api",
            "--env",
            "production",
            "--commit",
        ],
        repo,
    )
    assert code == 0, output
    after = (repo / overrides).read_bytes()
    assert _diff(before, after) == ["+  api:\n", "+    image: reg/orders-api:3\n"]
    assert git(repo, "log", "-1", "--format=%s").strip() == (
        "chore(team-a/orders): set image of container api to reg/orders-api:3 in production"
    )
    code, output = run_cli(["validate"], repo)
    assert code == 0, output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["team-a/orders", "reg/orders:2"],
            f"Error: {SCORE}:9:3: the workload has 3 containers (api, sidecar, worker): name one with --container\n",
        ),
        (
            ["team-a/orders", "reg/orders:2", "--container", "nope"],
            f"Error: {SCORE}:9:3: no container 'nope' in this Score file: its containers are api, sidecar, worker\n",
        ),
        (
            ["team-a/orders", "Registry/Orders:2", "--container", "api"],
            f"Error: {SCORE}:10:14: 'Registry/Orders:2' is not a valid image reference: write "
            "[registry[:port]/]repository[:tag][@digest], repository in lower case (for example "
            "registry.example.com/team/app:1.4.2)\n",
        ),
        (
            ["team-a/missing", "reg/x:1"],
            "Error: workloads/team-a/missing/score.yaml: no workload team-a/missing: there is no "
            "workloads/team-a/missing/score.yaml\n",
        ),
        (
            ["team-a/orders", "reg/x:1", "--container", "api", "--env", "qa"],
            "Error: platform.yaml: unknown environment 'qa': the environments are development, production\n",
        ),
    ],
)
def test_bad_input_exits_1_and_writes_nothing(repo: Path, args: list[str], message: str) -> None:
    code, output = run_cli(["set-image", *args], repo)
    assert (code, output) == (1, message)
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_an_unparsable_file_exits_1_with_its_line(repo: Path) -> None:
    (repo / SCORE).write_text("containers:\n  api:\n    image: [unclosed\n")
    commit_all(repo, "broken")
    code, output = run_cli(["set-image", "team-a/orders", "reg/x:1", "--container", "api"], repo)
    assert code == 1
    assert output.startswith(f"Error: {SCORE}:4:1: invalid YAML: "), output
    assert git(repo, "status", "--porcelain") == ""


def test_a_malformed_key_is_a_usage_error(repo: Path) -> None:
    code, output = run_cli(["set-image", "orders", "reg/x:1"], repo)
    assert code == 2
    assert "is not TEAM/NAME" in output


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "reg.example.com:5000/a/b:1.2.3",
        "localhost/x@sha256:" + "0" * 64,
        "[::1]:5000/x:v1",
        "a_b/c__d/e-f",
    ],
)
def test_valid_image_references(image: str) -> None:
    assert is_image_reference(image)


@pytest.mark.parametrize(
    "image", ["Nginx", ".", "x:", "a//b", "x:-1", "reg/x:1 ", "${IMAGE}", "a@sha256:12", "a" * 256]
)
def test_invalid_image_references(image: str) -> None:
    assert not is_image_reference(image)
