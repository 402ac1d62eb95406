"""manifest.split_manifest finds a manifest.yaml's separator lines with `bytes.find` where it used a multi-line
regular expression tried at every position: its documents must be the ones that found, for any bytes, not only
for what the engine writes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_engine.manifest import document_key, split_manifest

# Pieces that make separators, near-separators and the text around them, in every arrangement.
PIECES = [
    "---",
    "-",
    "--",
    " ",
    "\t",
    "\n",
    "\r",
    "x",
    "kind:",
    "kind: ",
    "metadata:\n",
    "  name: ",
    "'",
    '"',
    "é",
]
MANIFESTS = st.lists(st.sampled_from(PIECES), max_size=40).map(lambda parts: "".join(parts).encode())


def regex_split(data: bytes) -> list[bytes]:
    parts = re.split(rb"^---[ \t]*(?:\n|$)", data, flags=re.MULTILINE)
    return [part for part in parts if part.strip()]


@settings(max_examples=3000, deadline=None)
@given(MANIFESTS)
def test_the_documents_are_the_regular_expressions_split(data: bytes) -> None:
    assert split_manifest(data) == regex_split(data)


def test_an_engine_manifest_splits_into_its_objects() -> None:
    manifest = (
        b"---\napiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    a: b\n  name: api\nspec: {}\n"
        b"---   \n---\napiVersion: apps/v1\nkind: 'Deployment'\nmetadata:\n  name: \"api\"\n"
        b"data: |\n  ---not a separator\n  --- neither\n---"
    )

    documents = split_manifest(manifest)

    assert documents == [
        b"apiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    a: b\n  name: api\nspec: {}\n",
        b"apiVersion: apps/v1\nkind: 'Deployment'\nmetadata:\n  name: \"api\"\n"
        b"data: |\n  ---not a separator\n  --- neither\n",
    ]
    assert [document_key(d) for d in documents] == ["Service/api", "Deployment/api"]
