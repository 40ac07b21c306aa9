"""IRIS status on the Patterns view, from the published partner directory: a name in a complaint finds its
recruitment agency whatever its spelling or legal form; other names have no status; a new file is read again."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.common import directory
from services.dashboard import agencies
from services.dashboard.projection import _entity_keys

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_agencies_are_found_by_any_spelling_of_their_names():
    known = agencies.by_key(directory.load(CONFIG))
    sunrise = agencies.status(known, "SUNRISE MANPOWER PVT. LTD.")
    assert sunrise is not None and sunrise.partner_id == "agency-sunrise" and sunrise.iris_certified
    golden = agencies.status(known, "Golden-Bridge Overseas")
    assert golden is not None and not golden.iris_certified
    assert agencies.status(known, "Fast Jobs") is None and agencies.status(known, None) is None
    # only recruitment agencies have a status: a brand's name has none
    assert agencies.status(known, "Global Gloves Sdn Bhd") is None


def test_the_stored_key_is_the_one_the_projection_computes():
    keys = _entity_keys("Golden Bridge Overseas Ltd", "Sunrise Manpower")
    known = agencies.by_key(directory.load(CONFIG))
    assert agencies.status(known, "ignored when a key is stored", keys["recruiter_key"]).partner_id == "agency-sunrise"
    assert agencies.status(known, None, keys["employer_key"]).partner_id == "agency-goldenbridge"
    assert _entity_keys(None, "Co. Ltd") == {"employer_key": None, "recruiter_key": None}


def test_a_republished_directory_is_read_again(tmp_path):
    path = tmp_path / "partners.yaml"
    shutil.copy(CONFIG / "partners.yaml", path)
    published = agencies.PublishedDirectory(path)
    assert agencies.status(published.agencies(), "Golden Bridge Overseas").iris_certified is False
    path.write_text(path.read_text().replace("iris_certified: false", "iris_certified: true"))
    assert agencies.status(published.agencies(), "Golden Bridge Overseas").iris_certified is True
    assert agencies.PublishedDirectory(tmp_path / "missing.yaml").agencies() == {}
