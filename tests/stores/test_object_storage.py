"""Object storage settings: the location's form, and which credentials the stores use."""

from __future__ import annotations

import pytest

from qual_pipeline.stores.duckdb_extensions import connect
from qual_pipeline.stores.object_storage import S3Location, S3Storage, StorageConfigError

STORAGE_KEY = "QPTESTPROFILEKEY0001"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://team-bucket", "team-bucket", ""),
        ("s3://team-bucket/", "team-bucket", ""),
        ("s3://team-bucket/qual/pipeline/", "team-bucket", "qual/pipeline"),
    ],
)
def test_a_storage_location_is_a_bucket_and_a_prefix(url, bucket, prefix):
    location = S3Location.parse(url)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.child("lake", "sandbox").url() == "/".join(
        ["s3:/", bucket, *([prefix] if prefix else []), "lake/sandbox"]
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("team-bucket/prefix", "not of the form s3://BUCKET/PREFIX"),
        ("https://team-bucket/prefix", "not of the form s3://BUCKET/PREFIX"),
        ("s3://Team_Bucket/prefix", "not a valid bucket name"),
        ("s3://team-bucket/a//b", "empty, '.' or '..' segment"),
        ("s3://team-bucket/a/../b", "empty, '.' or '..' segment"),
    ],
)
def test_a_malformed_location_is_named_with_the_expected_form(url, message):
    with pytest.raises(StorageConfigError, match=message):
        S3Location.parse(url)


def test_a_named_storage_profile_is_used_instead_of_the_mturk_keys(
    tmp_path, monkeypatch, s3_bucket
):
    # The environment holds the requester's MTurk keys; storage has its own profile.
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[storage]\naws_access_key_id = {STORAGE_KEY}\naws_secret_access_key = not-shown\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "QPTESTMTURKKEY000001")
    storage = S3Storage(f"s3://{s3_bucket}/team", profile="storage")
    storage.client.put_object(Bucket=s3_bucket, Key="team/probe", Body=b"x")
    con = connect()
    storage.configure_duckdb(con)
    secret = con.execute("SELECT secret_string FROM duckdb_secrets()").fetchone()[0]
    assert f"key_id={STORAGE_KEY}" in secret and "not-shown" not in secret
    assert con.execute(f"SELECT count(*) FROM glob('s3://{s3_bucket}/team/*')").fetchone() == (1,)


def test_an_unknown_storage_profile_is_named():
    with pytest.raises(StorageConfigError, match="Storage profile 'nowhere' is not in the AWS"):
        S3Storage("s3://team-bucket/prefix", profile="nowhere")
