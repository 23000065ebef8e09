"""Drives Keel's web console (:9070/ui/) in headless Chromium and checks what an operator sees and does.

    console_check.py --admin http://127.0.0.1:9070 --invocation inv_1… --xss-key '<script>…' --screenshots DIR

Checks: with --token, the console asks for the admin token and takes it; the overview lists the demo's services; the invocations page shows the given (sleeping) invocation,
its page shows the journal, and its Cancel button cancels it; the state page shows an object whose key and value
hold markup as text, and no script from them runs; the SQL page answers a query. Saves a screenshot of each page
into DIR. Exits 0 when all holds, 1 with the reason otherwise.
"""

import argparse
import os
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin", required=True)
    parser.add_argument("--invocation", required=True)
    parser.add_argument("--xss-key", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--token", help="the admin token, entered in the console's sign-in form")
    parser.add_argument("--chromium", default=os.environ.get("KEEL_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--chromedriver", default=os.environ.get("KEEL_CHROMEDRIVER", "/usr/bin/chromedriver"))
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900", "--force-device-scale-factor=1"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
    wait = WebDriverWait(driver, 30)
    base = args.admin.rstrip("/") + "/ui/"

    asked_for_token = []

    def ready_state():
        return driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready")

    def open_view(fragment):
        # Cleared first: a change of the fragment only re-renders the page, which then marks itself ready again.
        if driver.current_url.startswith(base):
            driver.execute_script("document.body.dataset.ready = ''")
        driver.get(base + "#" + fragment)
        wait.until(lambda d: ready_state() not in (None, ""))
        if ready_state() == "token":
            # The admin API asked for a token: sign in through the console's form (kept for this tab).
            assert args.token, "the console asks for a token and none was given"
            asked_for_token.append(fragment)
            driver.find_element(By.CSS_SELECTOR, 'input[name="token"]').send_keys(args.token)
            driver.execute_script("document.body.dataset.ready = ''")
            driver.find_element(By.CSS_SELECTOR, 'form button[type="submit"]').click()
            wait.until(lambda d: ready_state() not in (None, ""))
        ready = ready_state()
        assert ready != "token", f"#{fragment}: the token was not accepted"
        if ready == "error":
            raise AssertionError(f"#{fragment}: the page shows an error: {driver.find_element(By.ID, 'main').text}")

    def shot(name):
        driver.save_screenshot(os.path.join(args.screenshots, name + ".png"))

    try:
        # Overview: services and deployments (signing in first when the API asks for a token).
        open_view("/")
        if args.token:
            assert asked_for_token == ["/"], f"the console asked for the token on: {asked_for_token}"
        services = [row.get_attribute("data-service") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-service]")]
        assert "Counter" in services and "Reminder" in services, f"services listed: {services}"
        shot("overview")

        # The sleeping invocation is listed; its page shows the journal.
        open_view("/invocations")
        row = wait.until(expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, f'tr[data-id="{args.invocation}"]')))
        status = row.find_element(By.CSS_SELECTOR, "td.status").text
        assert status in ("running", "suspended"), f"status shown: {status}"
        shot("invocations")
        open_view("/invocation/" + args.invocation)
        timeline = driver.find_element(By.CSS_SELECTOR, "ol.timeline").text
        assert "Command: Input" in timeline and "Command: Sleep" in timeline, f"journal shown: {timeline}"
        shot("invocation")

        # Cancel from its page: confirm, then it completes with [409] cancelled.
        driver.find_element(By.CSS_SELECTOR, 'button[data-action="cancel"]').click()
        wait.until(expected_conditions.alert_is_present())
        driver.switch_to.alert.accept()
        deadline = time.time() + 30
        while True:
            open_view("/invocation/" + args.invocation)
            summary = driver.find_element(By.CSS_SELECTOR, "dl.summary").text
            if "completed" in summary:
                break
            if time.time() > deadline:
                raise AssertionError(f"not cancelled after 30 s: {summary}")
            time.sleep(0.3)
        assert "[409] cancel" in summary, f"summary after cancel: {summary}"
        shot("invocation-cancelled")

        # State whose key and value hold markup: shown as text, never run.
        key = urllib.parse.quote(args.xss_key, safe="")
        open_view(f"/state?service=Counter&key={key}")
        heading = driver.find_element(By.CSS_SELECTOR, "main h2").text
        assert args.xss_key in heading, f"heading: {heading}"
        assert driver.execute_script("return window.__keelXSS === undefined"), "a script from the data ran"
        assert not driver.find_elements(By.CSS_SELECTOR, "main script, main img"), "markup from the data became elements"
        shot("state")
        open_view("/state?service=Counter")
        keys = driver.find_element(By.ID, "main").text
        assert args.xss_key in keys, f"keys listed: {keys}"

        # SQL.
        sql = urllib.parse.quote("SELECT status, count(*) AS n FROM sys_invocation GROUP BY status", safe="")
        open_view(f"/sql?q={sql}")
        wait.until(lambda d: "rows in" in d.find_element(By.ID, "sql-result").text)
        result = driver.find_element(By.ID, "sql-result").text
        assert "completed" in result, f"SQL result: {result}"
        shot("sql")

        # The 401s before signing in are expected; anything else logged as an error is not.
        logs = [entry for entry in driver.get_log("browser")
                if entry.get("level") == "SEVERE" and "status of 401" not in entry.get("message", "")]
        assert not logs, f"browser errors: {logs}"
    except Exception as error:  # noqa: BLE001 - the reason goes to the test
        shot("failure")
        print(f"console check failed: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        driver.quit()
    print("console check passed")


if __name__ == "__main__":
    main()
