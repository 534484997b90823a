"""The operator's view in a browser: a finished migration run's report page opened in headless Chromium
(driven by Playwright) as a signed-in user, and refused to an anonymous one.

The run is the messy tenant's on a flaky Intercom (`flaky_run`), made once for the end-to-end tests: a
run with quarantined records, retried tries and minutes of requests is what the page is for."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from asapp_intercom.domain.feeds import FEEDS

from tests.support.migrations import read_report
from tests.support.report_page import pointer, shown_as

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]  # alone, it waits for flaky_run's migration


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's chromium when installed (.ci/run installs it), else Playwright's own (`make test`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_trigger_form_refuses_a_run_no_migration_could_do(stack, flaky_run):
    airflow, dag_id = stack.airflow, flaky_run.dag_id
    runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns")["total_entries"]
    for refused in ({"sample_size": 0, "mode": "sample"}, {"objects": ["contacts", "tickets"]}):
        answer = airflow.client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": refused})
        assert answer.status_code == 400, answer.text
    assert airflow.api("GET", f"/dags/{dag_id}/dagRuns")["total_entries"] == runs


def test_the_report_page_shows_what_report_json_says_to_a_user_and_nothing_to_anyone_else(
    stack, flaky_run, asapp, intercom_server, browser, tmp_path
):
    airflow, dag_id, run_id = stack.airflow, flaky_run.dag_id, flaky_run.run_id
    assert flaky_run.state == "success", flaky_run.task_states
    assert {f"extract.feed[{feed}]" for feed in FEEDS} <= set(flaky_run.task_states)  # named as in the grid
    report = read_report(flaky_run.home, run_id)
    direct = f"{airflow.url}/asapp-intercom/report?" + urlencode({"dag_id": dag_id, "run_id": run_id})
    run_tab = f"{airflow.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/plugin/asapp-intercom-report"

    anonymous = browser.new_context()
    for url in (direct, f"{airflow.url}/asapp-intercom/migrations"):
        response = anonymous.new_page().goto(url)
        assert response.status in {401, 403}, url
        assert "Migration report" not in response.text()
    anonymous.close()

    user = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = user.new_page()
    page.goto(f"{airflow.url}/auth/login/?" + urlencode({"next": run_tab}))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", airflow.password)
    page.click("button[type=submit]")
    page.wait_for_url(run_tab + "*", timeout=60_000)
    frame = page.frame_locator("iframe[title='Migration report']")
    frame.locator("#chart-outcomes svg").wait_for(timeout=60_000)

    shown = frame.locator("[data-report]").evaluate_all(
        "nodes => nodes.map(node => [node.dataset.report, node.textContent.trim()])"
    )
    assert len(shown) > 40
    assert [path for path, text in shown if text != shown_as(pointer(report, path))] == []
    assert any(path.endswith("/created") for path, _ in shown)
    counted = frame.locator("[data-report-count]").evaluate_all(
        "nodes => nodes.map(node => [node.dataset.reportCount, node.textContent.trim()])"
    )
    assert counted and [path for path, text in counted if text != str(len(pointer(report, path)))] == []
    for chart in ("outcomes", "reasons", "rate", "lengths"):
        drawn = frame.locator(f"#chart-{chart} svg")
        box = drawn.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, chart
        assert drawn.locator(".mark").count() > 0, chart
    total = frame.locator("[data-quarantine-total]").text_content()
    assert total == shown_as(report["quarantined_this_run"]) and report["quarantined_this_run"] > 0
    html = frame.locator("html").inner_html()
    for secret in (intercom_server.token, asapp.api_secret, "X-Amz-Signature"):
        assert secret not in html
    page.screenshot(path=tmp_path / "run-tab.png", full_page=True)

    report_page = user.new_page()
    report_page.goto(direct)
    first_reason = report["quarantine_reasons"][0]["object"]
    report_page.fill("input[name=q]", first_reason)
    report_page.click("form.search button")
    report_page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("q") == [first_reason])
    searched = int(report_page.locator("[data-quarantine-total]").text_content().replace(",", ""))
    assert 0 < searched <= report["quarantined_this_run"]
    report_page.screenshot(path=tmp_path / "report-page.png", full_page=True)

    listing = user.new_page()
    listing.goto(f"{airflow.url}/plugin/asapp-intercom-migrations")
    migrations = listing.frame_locator("iframe[title='Migrations']")
    migrations.get_by_text(run_id).first.wait_for(timeout=60_000)
    user.close()
    assert (tmp_path / "run-tab.png").stat().st_size > 10_000
