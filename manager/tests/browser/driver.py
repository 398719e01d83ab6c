#!/usr/bin/env python3
"""Drives headless Chromium with Selenium for manager/tests/dashboard.rs.

One JSON command per line on stdin, one JSON reply per line on stdout
({"ok": true, "value": ...} or {"ok": false, "error": "..."}). The Rust test holds the
scenario; this file only translates commands into WebDriver calls, so the cluster harness
is not written twice.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select, WebDriverWait

# The page re-renders on every update, so an element found a moment ago may be gone.
IGNORED = (StaleElementReferenceException,)


def wait(driver, timeout):
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=IGNORED)


def make_driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1366,900"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def run(driver, cmd):
    op = cmd["op"]
    timeout = cmd.get("timeout", 10)
    if op == "open":
        driver.get(cmd["url"])
        return driver.current_url
    if op == "type":
        e = driver.find_element(By.CSS_SELECTOR, cmd["css"])
        e.clear()
        e.send_keys(cmd["text"])
        return None
    if op == "click":
        # Retried while the page re-renders the element under us.
        wait(driver, timeout).until(
            lambda d: d.find_element(By.CSS_SELECTOR, cmd["css"]).click() or True)
        return None
    if op == "select":
        # Picks the <select>'s option by value, as a user would (a change event fires).
        wait(driver, timeout).until(
            lambda d: Select(d.find_element(By.CSS_SELECTOR, cmd["css"]))
            .select_by_value(cmd["value"]) or True)
        return None
    if op == "wait_count":
        # Waits until exactly `n` elements match.
        wait(driver, timeout).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, cmd["css"])) == cmd["n"])
        return cmd["n"]
    if op == "wait_js":
        # Until the script (a function body) returns something truthy; returns it.
        return wait(driver, timeout).until(lambda d: d.execute_script(cmd["js"]))
    if op == "count":
        # Waits until at least `at_least` elements match; returns how many do.
        wait(driver, timeout).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, cmd["css"])) >= cmd["at_least"])
        return len(driver.find_elements(By.CSS_SELECTOR, cmd["css"]))
    if op == "wait_text":
        # Until the element's text contains `contains` (or, with `not`, differs from it).
        def ready(d):
            found = d.find_elements(By.CSS_SELECTOR, cmd["css"])
            if not found:
                return False
            text = found[0].text
            if "not" in cmd:
                return text if text not in (cmd["not"], "", "—") else False
            return text if cmd["contains"] in text else False
        return wait(driver, timeout).until(ready)
    if op == "wait_attr":
        def ready(d):
            found = d.find_elements(By.CSS_SELECTOR, cmd["css"])
            return bool(found) and found[0].get_attribute(cmd["attr"]) == cmd["value"]
        wait(driver, timeout).until(ready)
        return True
    if op == "text":
        return wait(driver, timeout).until(
            lambda d: d.find_element(By.CSS_SELECTOR, cmd["css"]).text)
    if op == "eval":
        return driver.execute_script(cmd["js"])
    if op == "screenshot":
        driver.save_screenshot(cmd["path"])
        return cmd["path"]
    raise ValueError("unknown op " + op)


def main():
    driver = make_driver()
    try:
        print(json.dumps({"ok": True, "value": "ready"}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                break
            try:
                reply = {"ok": True, "value": run(driver, cmd)}
            except Exception as e:  # the test prints it with the page's state
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}",
                         "url": driver.current_url}
            print(json.dumps(reply), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
