"""Fixtures for the pipeline's unit tests."""

import pytest
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.staging import Staging


@pytest.fixture
def area(tmp_path):
    """A staging area and a migration's ledger on local disk: (staging, ledger)."""
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "unit")
    yield Staging(f"file://{tmp_path}/staging"), ledger
    ledger.close()
