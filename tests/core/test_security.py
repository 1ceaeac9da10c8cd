"""The Content-Security-Policy header on every page, what one request adds to it (its websocket
URL, the API docs' images), and the templates holding nothing the policy would refuse."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _policy(response: object) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def test_a_page_gets_the_policy_without_inline_script_or_eval() -> None:
    policy = _policy(Client().get("/login/"))

    assert policy == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", "ws://testserver"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }


def test_over_https_the_page_may_open_its_wss_socket(client_for: Callable[[str | None], Client]) -> None:
    response = client_for("Agent").get("/desk/", secure=True)

    assert response.status_code == 200
    assert _policy(response)["connect-src"] == ["'self'", "wss://testserver"]


def test_only_the_api_docs_may_show_data_images(client_for: Callable[[str | None], Client]) -> None:
    client = client_for("Agent")

    docs = _policy(client.get("/api/docs/"))
    desk = _policy(client.get("/desk/"))

    assert docs["img-src"] == ["'self'", "data:"]
    assert docs["script-src"] == ["'self'"] and docs["style-src"] == ["'self'"]
    assert desk["img-src"] == ["'self'"]


def test_the_api_docs_load_their_init_script_as_a_file(client_for: Callable[[str | None], Client]) -> None:
    client = client_for("Agent")

    page = client.get("/api/docs/").content.decode()
    script = client.get("/api/docs/?script=")

    assert "<script>" not in page and "<style>" not in page
    assert '<script src="/api/docs/?script="></script>' in page
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_api_answers_carry_the_policy_too(client_for: Callable[[str | None], Client]) -> None:
    response = client_for("Agent").get("/api/v1/queues/")

    assert _policy(response)["frame-ancestors"] == ["'none'"]


def test_htmx_is_told_not_to_eval_run_scripts_or_inject_styles() -> None:
    page = Client().get("/login/").content.decode()

    config = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", page)

    assert config is not None
    assert json.loads(config.group(1)) == {
        "allowEval": False,
        "allowScriptTags": False,
        "includeIndicatorStyles": False,
    }


# Markup the policy refuses: an inline <script> (one without src), an inline event handler, a
# javascript: URL, an inline style (element or attribute), and htmx attributes that eval.
_REFUSED = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "<style>": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    "hx-on / hx-vars": re.compile(r"\b(?:data-)?hx-(?:on|vars)\b", re.IGNORECASE),
    "js: value": re.compile(r"""\bhx-[a-z-]+\s*=\s*["']\s*js:""", re.IGNORECASE),
}


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.html"))
)
def test_no_template_holds_what_the_policy_refuses(template: str) -> None:
    text = (ROOT / template).read_text()

    found = [name for name, pattern in _REFUSED.items() if pattern.search(text)]

    assert found == []
