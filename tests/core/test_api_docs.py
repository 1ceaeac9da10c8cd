"""OpenAPI schema (/api/schema/) and Swagger UI (/api/docs/): valid without warnings, served from
local static files only, and only to signed-in users."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

_ASSET = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def test_schema_validates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"

    # --fail-on-warn turns every drf-spectacular warning (an undocumented type, a guessed path
    # parameter) into an error, so an unannotated endpoint fails here rather than in a client.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert {
        "/api/v1/customers/",
        "/api/v1/customers/{id}/",
        "/api/v1/customers/lookup/",
        "/api/v1/customers/import/",
        "/api/v1/customers/{id}/merge/",
        "/api/v1/customers/{id}/gdpr-export/",
        "/api/v1/customers/{id}/erase/",
        "/api/v1/contact-points/",
        "/api/v1/contact-points/{id}/",
        "/api/v1/notes/",
        "/api/v1/notes/{id}/",
        "/api/v1/imports/{id}/",
        "/api/v1/imports/{id}/errors/",
        "/api/v1/auth/token/",
    } <= set(schema["paths"])
    assert {"cookieAuth", "tokenAuth"} <= set(schema["components"]["securitySchemes"])
    list_parameters = {p["name"] for p in schema["paths"]["/api/v1/customers/"]["get"]["parameters"]}
    assert {"q", "tag", "owner", "organization", "lifecycle_stage", "time_zone", "dnc", "updated_since"} <= (
        list_parameters
    )
    assert {"ordering", "page", "page_size"} <= list_parameters


def test_schema_is_served_to_signed_in_users(client_for: Callable[[str | None], Client]) -> None:
    response = client_for("Marketer").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/customers/" in response.json()["paths"]


def test_docs_load_swagger_ui_from_local_static_files_only(
    client_for: Callable[[str | None], Client],
) -> None:
    response = client_for("Agent").get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = _ASSET.findall(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    # Swagger UI's init script comes from the docs URL itself (the split view: no inline script).
    assert "/api/docs/?script=" in assets
    for asset in (a for a in assets if a != "/api/docs/?script="):
        assert asset.startswith("/static/"), f"{asset} is not a local static file"
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not in the static files"
    assert not re.search(r"https?://|//cdn", html)


def test_anonymous_users_get_neither_schema_nor_docs(client_for: Callable[[str | None], Client]) -> None:
    anonymous = client_for(None)

    schema = anonymous.get("/api/schema/")
    docs = anonymous.get("/api/docs/")

    assert schema.status_code in {401, 403}
    assert docs.status_code == 302
    assert docs["Location"] == "/login/?next=/api/docs/"
