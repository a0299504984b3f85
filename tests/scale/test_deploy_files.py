"""The compose and Kubernetes files agree with the setup that make test-scale runs.

Docker images cannot be pulled here, so those files are not run: this parses them and checks they
build on the Rasa and rasa-sdk versions the lock files pin (the versions tested), set only the
environment variables autofinance/config.py (the one place that reads them) and the production
endpoints read and every one the tested production profile sets, require every secret (no value
in the files), start Rasa with autofinance/entrypoints/stack.py's arguments, and give HAProxy the
configuration file the process-level tests run. Both also pass their published schemas: the
compose specification's (check-jsonschema's copy) and Kubernetes' (kubernetes-validate, strict:
no property the API does not know), run from the tools environment (requirements/tools.in).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from autofinance.config import PRODUCTION_SECRETS, VARIABLES
from autofinance.entrypoints import channels
from autofinance.entrypoints.stack import PROJECT_ROOT, rasa_service, service_environment
from tests.scale.cluster import (
    ACTION_SERVERS,
    HAPROXY,
    HAPROXY_CONFIG,
    RASA_REPLICAS,
    RunStores,
    haproxy_environment,
    lb_variable,
    production_environment,
)

COMPOSE_FILE = PROJECT_ROOT / "deploy" / "compose" / "docker-compose.yml"
K8S_DIR = PROJECT_ROOT / "deploy" / "k8s"
DOCKER_DIR = PROJECT_ROOT / "deploy" / "docker"
PRODUCTION_ENDPOINTS = PROJECT_ROOT / "deploy" / "endpoints.production.yml"
VARIABLE = re.compile(r"\$[{(]([A-Z_][A-Z0-9_]*)")  # ${NAME}, ${NAME:?…}, ${NAME-…}, $(NAME)
# Our secrets, which the production profile refuses while missing, demo or short (autofinance/config.py).
DEMO_DEFAULT_SECRETS = {"RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "SECRET_PEPPER", "PORTAL_JWT_SECRET"}


TOOLS = PROJECT_ROOT / ".venv" / "tools" / "bin"


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"no {path}: `make envs` builds the tools environment")
    return path


def test_the_compose_file_passes_the_compose_specification_schema() -> None:
    checked = subprocess.run([str(tool("check-jsonschema")), "--builtin-schema",
                              "vendor.compose-spec", str(COMPOSE_FILE)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_kubernetes_manifest_passes_the_api_schema_strictly() -> None:
    manifests = sorted(path for path in K8S_DIR.glob("*.yaml") if path.name != "kustomization.yaml")
    checked = subprocess.run([str(tool("kubernetes-validate")), "--strict", *map(str, manifests)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    passed = checked.stdout + checked.stderr
    assert passed.count(" passed for resource ") >= 9  # each Deployment, Service, Job, map, Secret
    listed = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == [path.name for path in manifests]  # kustomize applies exactly these


def test_a_broken_manifest_is_caught_by_the_schemas(tmp_path: Path) -> None:
    broken = tmp_path / "web.yaml"
    text = (K8S_DIR / "web.yaml").read_text().replace("containerPort:", "containerPorts:", 1)
    broken.write_text(text)
    checked = subprocess.run([str(tool("kubernetes-validate")), "--strict", str(broken)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode != 0
    compose_broken = tmp_path / "docker-compose.yml"
    compose_broken.write_text(COMPOSE_FILE.read_text().replace("restart:", "restarts:", 1))
    checked = subprocess.run([str(tool("check-jsonschema")), "--builtin-schema",
                              "vendor.compose-spec", str(compose_broken)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode != 0


def locked_version(lock: str, package: str) -> str:
    text = (PROJECT_ROOT / "requirements" / lock).read_text()
    return re.search(rf"^{re.escape(package)}==(\S+)$", text, re.MULTILINE).group(1)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def k8s(kind: str, name: str) -> dict[str, Any]:
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == kind and document["metadata"]["name"] == name:
                return document
    raise AssertionError(f"no {kind} {name} in {K8S_DIR}")


def k8s_container(kind: str, name: str) -> dict[str, Any]:
    (container,) = k8s(kind, name)["spec"]["template"]["spec"]["containers"]
    return container


def rasa_yaml_variables() -> set[str]:
    """What Rasa itself reads from the environment: the production endpoints and the channels."""
    return set(VARIABLE.findall(PRODUCTION_ENDPOINTS.read_text() + channels.ALWAYS_ON_CREDENTIALS.read_text()))


def variables_read_by_code() -> set[str]:
    """Every variable autofinance/config.py reads or gives the launcher, the one place that reads
    the environment (ours, the launcher's, the Rasa YAML files')."""
    return set(VARIABLES) | rasa_yaml_variables()


REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)[^}]*\}|\$\(([A-Z_][A-Z0-9_]*)\)")


def normalised(arguments: list[str]) -> list[str]:
    """Arguments with compose's ${NAME…} and k8s' $(NAME) both written $NAME."""
    return [REFERENCE.sub(lambda m: "$" + (m.group(1) or m.group(2)), a) for a in arguments]


def option(arguments: list[str], name: str) -> str:
    return arguments[arguments.index(name) + 1]


def option_names(arguments: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in arguments if a.startswith("--")]


def dockerfile_froms(name: str) -> list[str]:
    return re.findall(r"^FROM (\S+)", (DOCKER_DIR / name).read_text(), re.MULTILINE)


def test_the_images_build_on_the_rasa_and_rasa_sdk_versions_the_locks_pin() -> None:
    rasa, sdk = locked_version("rasa.lock", "rasa"), locked_version("app.lock", "rasa-sdk")
    assert (rasa, sdk) == ("3.6.21", "3.6.2")  # the versions this project is built and tested on
    assert dockerfile_froms("rasa.Dockerfile") == [f"rasa/rasa:{rasa}"]
    assert dockerfile_froms("app.Dockerfile")[-1] == f"rasa/rasa-sdk:{sdk}"
    services = compose()["services"]
    rasa_image, app_image = f"meridian/rasa:{rasa}", f"meridian/app:{sdk}"
    for name in RASA_REPLICAS:
        assert services[name]["image"] == rasa_image
        assert services[name]["build"]["dockerfile"] == "deploy/docker/rasa.Dockerfile"
    for name in (*ACTION_SERVERS, "web", "migrate"):
        assert services[name]["image"] == app_image
        assert services[name]["build"]["dockerfile"] == "deploy/docker/app.Dockerfile"
    assert k8s_container("Deployment", "rasa")["image"] == rasa_image
    for kind, name in (("Deployment", "actions"), ("Deployment", "web"), ("Job", "migrate")):
        assert k8s_container(kind, name)["image"] == app_image


def test_the_docker_builds_copy_what_rasa_run_is_given_and_their_context_lets_it_in() -> None:
    for dockerfile in ("rasa.Dockerfile", "app.Dockerfile"):
        text = (DOCKER_DIR / dockerfile).read_text()
        allowed = (DOCKER_DIR / f"{dockerfile}.dockerignore").read_text().split()
        for source in re.findall(r"^COPY (?:--chown=\S+ )?(?!--from)(.+) \S+$", text, re.MULTILINE):
            for path in source.split():
                assert f"!{path}" in allowed, f"{dockerfile} copies {path}, which its .dockerignore leaves out"
    copied = re.findall(r"^COPY .* (/app/\S+)$", (DOCKER_DIR / "rasa.Dockerfile").read_text(), re.MULTILINE)
    command = compose()["services"]["rasa-1"]["command"]
    for name in ("--credentials", "--endpoints", "--model"):
        assert f"/app/{option(command, name)}" in copied, f"the Rasa image lacks its {name}"


def test_two_rasa_replicas_and_two_action_servers_behind_the_balancer() -> None:
    services = compose()["services"]
    balancer = services["haproxy"]["environment"]
    for name in (*RASA_REPLICAS, *ACTION_SERVERS):
        host, port = balancer[lb_variable(name)].split(":")
        assert host == name and host in services
        port_variable = "RASA_PORT" if name in RASA_REPLICAS else "ACTION_SERVER_PORT"
        assert port == services[name]["environment"][port_variable]
    assert k8s("Deployment", "rasa")["spec"]["replicas"] == len(RASA_REPLICAS)
    assert k8s("Deployment", "actions")["spec"]["replicas"] == len(ACTION_SERVERS)
    for name in ("rasa", "actions", "web"):
        labels = k8s("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        selector = k8s("Service", name)["spec"]["selector"]
        assert selector.items() <= labels.items(), f"the {name} Service selects no {name} pod"


def test_the_delivery_worker_and_the_reminder_scheduler_run_as_their_own_processes() -> None:
    """What make run's launcher starts besides the three servers, with the same commands."""
    services = compose()["services"]
    for name, command in (("delivery", "deliver-outbox"), ("scheduler", "reminders")):
        assert services[name]["command"][:4] == ["python", "-m", "autofinance", command]
        container = k8s("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == services[name]["command"]


def test_haproxy_gets_the_configuration_file_the_process_level_tests_run() -> None:
    haproxy = compose()["services"]["haproxy"]
    mounted = {(COMPOSE_FILE.parent / volume.split(":")[0]).resolve(): volume.split(":")[1]
               for volume in haproxy["volumes"]}
    assert mounted.get(HAPROXY_CONFIG.resolve()) == "/usr/local/etc/haproxy/haproxy.cfg"
    in_config = set(VARIABLE.findall(HAPROXY_CONFIG.read_text()))
    tested = haproxy_environment(1, 2, 3, {name: 4 for name in (*RASA_REPLICAS, *ACTION_SERVERS)})
    assert in_config == set(haproxy["environment"]) == set(tested)


def test_compose_and_k8s_set_the_variables_the_tested_setup_and_our_code_use() -> None:
    document = compose()
    shared = document["x-environment"]
    for name in (*RASA_REPLICAS, *ACTION_SERVERS, "web", "migrate"):
        assert document["services"][name]["environment"] == shared, f"{name} has another environment"
    config, secret = k8s("ConfigMap", "meridian-config")["data"], k8s("Secret", "meridian-secrets")["stringData"]
    for kind, name in (("Deployment", "rasa"), ("Deployment", "actions"), ("Deployment", "web"),
                       ("Job", "migrate")):
        sources = k8s_container(kind, name)["envFrom"]
        assert sources == [{"configMapRef": {"name": "meridian-config"}},
                           {"secretRef": {"name": "meridian-secrets"}}], f"{kind} {name}"

    assert set(shared) == set(config) | set(secret), "compose and k8s set different variables"
    assert not set(config) & set(secret)
    unknown = set(shared) - variables_read_by_code()
    assert not unknown, f"set but read by nothing (a typo?): {sorted(unknown)}"
    missing = (rasa_yaml_variables() | set(production_environment(RunStores.fresh(), 1, 2, 3))) - set(shared)
    assert not missing, f"the tested setup sets these, the deployment files do not: {sorted(missing)}"
    assert shared["ASSISTANT_PROFILE"] == config["ASSISTANT_PROFILE"] == "production"
    assert DEMO_DEFAULT_SECRETS <= set(PRODUCTION_SECRETS) <= set(secret)
    for name in DEMO_DEFAULT_SECRETS:  # compose refuses to start without them: no demo fallback
        assert shared[name].startswith(f"${{{name}:?"), f"compose must require {name}, not default it"
    for name in PRODUCTION_SECRETS:  # the store passwords too, from .env
        if VARIABLES[name].optional:  # empty turns its feature off (REST without a gateway)
            assert shared[name] == f"${{{name}:-}}", f"compose must pass {name} through, empty"
        else:
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", shared[name]), f"compose must require {name}"
        assert not secret[name], f"the k8s Secret must not carry a value for {name}"


def test_rasa_starts_with_the_arguments_of_the_process_level_launcher() -> None:
    env = service_environment({"ASSISTANT_PROFILE": "production", "RASA_API_TOKEN": "t"})
    launcher = rasa_service(env, channels.ALWAYS_ON_CREDENTIALS).command[1:]  # without rasa's path
    in_compose = compose()["services"]["rasa-1"]["command"]
    assert normalised(in_compose) == normalised(k8s_container("Deployment", "rasa")["args"])
    assert option_names(in_compose) == option_names(launcher)
    # one argument: a token starting with "-" would be taken for an option (test_rasa_serving.py)
    assert "--auth-token=$RASA_API_TOKEN" in normalised(in_compose)
    assert option(in_compose, "--endpoints") == option(launcher, "--endpoints")
    for name in ("--credentials", "--model"):  # the same files, at the same place in the image
        assert option(in_compose, name) == str(Path(option(launcher, name)).relative_to(PROJECT_ROOT))
    assert option(in_compose, "--port") == compose()["x-environment"]["RASA_PORT"]
    entrypoint = ENTRYPOINT.search((PROJECT_ROOT / "deploy/docker/rasa.Dockerfile").read_text())
    assert entrypoint and json.loads(entrypoint[1])[1:] == launcher[:2] == ["-m", "rasa_ext.serving"]


ENTRYPOINT = re.compile(r"^ENTRYPOINT (\[.*\])$", re.MULTILINE)


def test_compose_runs_the_haproxy_version_the_tests_run() -> None:
    if not HAPROXY.exists():
        pytest.skip(f"no HAProxy at {HAPROXY}: install the 'haproxy' package to compare versions")
    banner = subprocess.run([str(HAPROXY), "-v"], capture_output=True, text=True, check=True).stdout
    tested = re.search(r"version (\d+\.\d+)", banner).group(1)
    assert compose()["services"]["haproxy"]["image"] == f"haproxy:{tested}"
