"""The README's job-id table matches each job type's `default_id`, so users dedupe on real ids."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gifting_jobs.catalog import JobType, get_spec
from tests.conftest import ROOT
from tests.unit.test_catalog import SAMPLES

#: A table row of the "Job types" section: type, enqueue function(s), id template, ...
ROW = re.compile(r"^\| `(?P<type>[a-z_]+)` \| [^|]+ \| `(?P<template>[^`]+)` \|", re.MULTILINE)
#: `<field>`, `<field or "literal">`, or an opaque `<description>`.
PLACEHOLDER = re.compile(r'<(?P<name>[^<>]+?)(?: or "(?P<fallback>[^"]*)")?>')
#: What an opaque placeholder (not a payload field) may stand for: one id segment.
OPAQUE_SEGMENT = r"[^:]+"
#: Payloads besides `SAMPLES`, so each optional field is seen both given and left out.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    JobType.PRODUCT_ENRICHMENT: [{"prompt_version": "v7"}],
    JobType.PRODUCT_EMBEDDING: [{"previous_text_hash": None}],
}


def readme_templates() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Job types\n", 1)[1].split("\n## ", 1)[0]
    return {match["type"]: match["template"] for match in ROW.finditer(section)}


def template_pattern(template: str, payload: Any) -> re.Pattern[str]:
    """The id `template` stands for with this payload, as a regex (opaque parts match one segment)."""
    parts, position = [], 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name, fallback = match["name"], match["fallback"]
        if name in type(payload).model_fields:
            value = getattr(payload, name)
            if value is None:
                # Without a documented fallback a missing field cannot be rendered: no id matches.
                parts.append(re.escape(fallback) if fallback is not None else r"(?!)")
            else:
                parts.append(re.escape(value.isoformat() if hasattr(value, "isoformat") else str(value)))
        else:
            parts.append(OPAQUE_SEGMENT)
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


def test_readme_job_ids__every_job_type_has_a_row():
    assert set(readme_templates()) == {str(job_type) for job_type in JobType}


@pytest.mark.parametrize("job_type", list(JobType))
def test_readme_job_ids__template_matches_default_id(job_type):
    template = readme_templates()[job_type]
    spec = get_spec(job_type)
    for changes in [{}, *VARIANTS.get(job_type, [])]:
        payload = spec.payload_model.model_validate({**SAMPLES[job_type], **changes})
        job_id = spec.default_id(payload)
        assert template_pattern(template, payload).fullmatch(job_id), (
            f"README documents {template!r} for {job_type}, but the code makes {job_id!r} from {changes or 'the sample'}"
        )
