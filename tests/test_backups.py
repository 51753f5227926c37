"""README "Backup and restore": `manage.py backup` and `manage.py restore`, in both modes."""

import subprocess
import sys

import pytest

from tests.workers import ROOT, worker_environment


def manage(*args, **env):
    # A setting given as None is left out, as if never set.
    environment = worker_environment(**{k: v for k, v in env.items() if v is not None})
    for name in [k for k, v in env.items() if v is None]:
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def ok(done):
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_backup_restores_what_was_there(tmp_path):
    from groups.models import PoolNumber

    PoolNumber.objects.create(number="+12025550188")
    dump = tmp_path / "gf.dump"
    assert "Backed up to" in ok(manage("backup", str(dump)))
    assert dump.stat().st_size > 0

    PoolNumber.objects.filter(number="+12025550188").delete()
    PoolNumber.objects.create(number="+12025550177")
    assert "Restored from" in ok(manage("restore", "--noinput", str(dump)))

    numbers = {str(n) for n in PoolNumber.objects.values_list("number", flat=True)}
    assert "+12025550188" in numbers and "+12025550177" not in numbers


def test_an_embedded_backup_restores_what_was_there(tmp_path):
    embedded = {"DATABASE_URL": None, "REDIS_URL": None, "GROUPFLIER_VAR_DIR": str(tmp_path)}
    count = "from groups.models import PoolNumber; print(PoolNumber.objects.count())"
    ok(manage("migrate", "--noinput", "-v0", **embedded))
    before = ok(manage("shell", "-v0", "-c", count, **embedded)).strip()
    assert int(before) > 0  # migrate seeds the pool
    copy = tmp_path / "backup.sqlite3"
    ok(manage("backup", str(copy), **embedded))

    wipe = "from groups.models import PoolNumber; PoolNumber.objects.all().delete()"
    ok(manage("shell", "-v0", "-c", wipe, **embedded))
    assert ok(manage("shell", "-v0", "-c", count, **embedded)).strip() == "0"
    ok(manage("restore", "--noinput", str(copy), **embedded))
    assert ok(manage("shell", "-v0", "-c", count, **embedded)).strip() == before


@pytest.mark.django_db
def test_a_restore_asks_first_and_a_missing_file_is_one_line(tmp_path):
    there = tmp_path / "there.dump"
    there.write_bytes(b"not read")
    refused = manage("restore", str(there))
    assert refused.returncode == 1 and "Restore cancelled" in refused.stderr
    missing = manage("restore", "--noinput", str(tmp_path / "nothing.dump"))
    assert missing.returncode == 1
    assert "No backup at" in missing.stderr and "Traceback" not in missing.stderr


# --- Rotating SECRET_KEY ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_rotated_secret_key_keeps_admins_logged_in_through_the_fallbacks(
    admin_client, admin_user, settings, api, family
):
    from django.test import Client

    from tests.conftest import assert_ok

    away = Client()
    away.force_login(admin_user)  # an admin who will not come back while the old key is kept
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "x" * 50, [old]
    # Still logged in; Django moves the session over to the new key on the way.
    assert admin_client.get("/admin/").status_code == 200
    # API sessions are hashes of random sids, not signed: no key is involved.
    assert_ok(api("member/groups", sid=family.owner.sid))

    settings.SECRET_KEY_FALLBACKS = []  # the old key retired
    assert admin_client.get("/admin/").status_code == 200
    assert away.get("/admin/").status_code == 302  # to the login page
