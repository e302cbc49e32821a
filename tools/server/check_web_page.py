"""Drives the page at / in headless Chromium (Debian's chromium + chromium-driver, selenium from
tools/requirements.txt): choose a clip, see its sampled frames with their times, ask, watch the
answer stream, ask a follow-up; saves docs/server.png. Exits non-zero on any failed check.

    apt-get install -y chromium chromium-driver
    swift build --product vidlm-server
    tools/.venv/bin/python tools/server/check_web_page.py [--screenshot docs/server.png]
"""
import argparse
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from serve_process import REPO, Server

CAPTION = "the blue square appears, then the triangle changes colour from red to yellow."


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshot", default=str(REPO / "docs/server.png"))
    parser.add_argument("--binary", default=None)
    args = parser.parse_args()
    failures = []

    def check(what, ok):
        print(("PASS " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    with Server(binary=args.binary) as server:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            wait = WebDriverWait(driver, 60)
            driver.get(server.url + "/")
            wait.until(lambda d: d.find_element(By.ID, "model").text not in ("", "…"))
            check("the page names the model", driver.find_element(By.ID, "model").text == "vidlm-shapes")
            driver.find_element(By.ID, "file").send_keys(str(REPO / "samples/world/sequence.mp4"))
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#frames figure")) > 0)
            captions = [f.text for f in driver.find_elements(By.CSS_SELECTOR, "#frames figcaption")]
            check(f"8 sampled frames with their times ({captions[:3]}…)",
                  len(captions) == 8 and captions[0] == "0.00 s · #0")
            images = driver.find_elements(By.CSS_SELECTOR, "#frames img")
            check("every frame is a PNG data URL that the browser decoded",
                  all(i.get_attribute("src").startswith("data:image/png;base64,") and
                      driver.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images))
            question = driver.find_element(By.ID, "question")
            question.send_keys("what happens")
            driver.find_element(By.ID, "ask").click()
            wait.until(lambda d: "Answered" in d.find_element(By.ID, "status").text)
            turns = driver.find_elements(By.CSS_SELECTOR, "#log .turn")
            check("the streamed answer is the clip's caption", turns[-1].text == CAPTION)
            question.send_keys("what appears first?")
            driver.find_element(By.ID, "ask").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log .turn")) == 4
                       and "Answered" in d.find_element(By.ID, "status").text
                       and d.find_element(By.ID, "ask").is_enabled())
            turns = driver.find_elements(By.CSS_SELECTOR, "#log .turn")
            check(f"a follow-up question gets its own answer ({turns[-1].text!r})",
                  [t.get_attribute("class") for t in turns] == ["turn user", "turn assistant"] * 2 and turns[-1].text != "")
            driver.save_screenshot(args.screenshot)
            print(f"screenshot: {args.screenshot}")
        finally:
            driver.quit()
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
