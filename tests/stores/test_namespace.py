"""Namespaces: (MTurk environment, requester account label) keys every piece of shared state."""

from __future__ import annotations

import pytest

from qual_pipeline.stores.namespace import Namespace, NamespaceError, default_account_label

KEY = "AKIAQUALPIPELINETEST"  # shaped like an access key id; not a real one


def test_the_default_label_is_stable_per_key_and_never_contains_it():
    label = default_account_label(KEY)
    assert label == default_account_label(f" {KEY} ")
    assert label != default_account_label("AKIAQUALPIPELINEOTHR")
    assert KEY not in label and KEY.lower() not in label
    assert not any(KEY[i : i + 6].lower() in label for i in range(len(KEY) - 5))
    assert Namespace.for_requester("sandbox", access_key_id=KEY).account == label


def test_an_explicit_label_wins_over_the_key():
    namespace = Namespace.for_requester("production", "acme-research", access_key_id=KEY)
    assert namespace == Namespace("production", "acme-research")
    assert namespace.path == "production/acme-research"
    assert namespace.sql_name == "qp_production_acme_research"
    assert len(Namespace("production", "a" * 40).sql_name) <= 63  # PostgreSQL's identifier limit


@pytest.mark.parametrize(
    ("environment", "account", "message"),
    [
        ("staging", "acme", "not one of sandbox, production"),
        ("sandbox", "Acme", "not valid"),
        ("sandbox", "acme_research", "not valid"),
        ("sandbox", "-acme", "not valid"),
        ("sandbox", "../acme", "not valid"),
        ("sandbox", "a" * 41, "not valid"),
    ],
)
def test_labels_that_could_not_name_shared_state_are_refused(environment, account, message):
    with pytest.raises(NamespaceError, match=message):
        Namespace(environment, account)


def test_no_label_and_no_key_is_refused_with_the_fix():
    with pytest.raises(NamespaceError, match="set the account label"):
        Namespace.for_requester("sandbox")
