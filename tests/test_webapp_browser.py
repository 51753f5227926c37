"""The web app in a real browser (SPEC §9): headless Chromium (Debian's `chromium` package)
driven by Playwright, against the service served as `scripts/run` serves it (gunicorn, the
collected static files with hashed names through whitenoise) with real Celery worker and
beat processes. Two people in two browser contexts, each logged in by a PIN read from the
development phone page. Screenshots of the main screens go to var/screenshots/.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.workers import (
    ROOT,
    purge_queues,
    running_beat,
    running_worker,
    stop,
    wait_until,
    worker_environment,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MOM, DAD, KID, ANN = "+14155550101", "+14155550102", "+14155550103", "+14155550104"
CHROMIUM = os.environ.get("GROUPFLIER_CHROMIUM") or shutil.which("chromium")
# Playwright starts each browser with a fresh temporary profile (its own --user-data-dir).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 812}
SCREENSHOTS = ROOT / "var" / "screenshots"
MOM_TIMEZONE = "America/Los_Angeles"  # her browser's clock; the API speaks UTC


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def service(django_db_setup, tmp_path_factory):
    """The web process (gunicorn) on a free port, a worker and beat, on the test database."""
    tmp_path = tmp_path_factory.mktemp("service")
    purge_queues()
    env = worker_environment(GROUPFLIER_VAR_DIR=tmp_path / "var", SECRET_KEY="browser-tests")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "service.log"
    with (
        running_worker(log_path=log),
        running_beat(tmp_path / "beat-schedule", log_path=log),
        open(log, "a") as output,
    ):
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "groupflier.wsgi", "--bind", url[7:]]
            + ["--workers", "1", "--threads", "4"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(lambda: answers(f"{url}/app/"), timeout=30, what="gunicorn")
            yield url
        finally:
            stop(web)
    purge_queues()


@pytest.fixture
def browser(monkeypatch):
    assert CHROMIUM, "Chromium is missing: apt-get install -y chromium (.ci/run does)"
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Browsers:
    """Pages in separate browser contexts (separate people), watching their consoles."""

    def __init__(self, chromium, url):
        self.chromium = chromium
        self.url = url
        self.console_errors = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, who, path, viewport=PHONE, **options):
        context = self.chromium.new_context(viewport=viewport, locale="en-US", **options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on(
            "console", lambda m: m.type == "error" and self.console_errors.append((who, m.text))
        )
        page.on("pageerror", lambda error: self.console_errors.append((who, str(error))))
        page.goto(self.url + path)
        return page


def shot(page, name):
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def fits_the_phone(page):
    """Nothing runs off a 375-pixel-wide screen (no sideways scrolling)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def error_next_to(page_or_form, label):
    """The sentence shown under the field with this label."""
    return page_or_form.locator(f'.field:has(> label:text-is("{label}")) .field-error')


def pins_on_phone(phones, number) -> list[str]:
    phone = phones.locator(f'article[data-number="{number}"]')
    if not phone.count():
        return []
    return re.findall(r"PIN is (\d{6})", " ".join(phone.locator(".sms-text").all_inner_texts()))


def new_pin_on_phone(phones, number, seen: int) -> str:
    """The PIN that reaches the number's phone after the `seen` it had (through the worker)."""
    pins = wait_until(
        lambda: pins_on_phone(phones, number)[seen:], timeout=30, what=f"a PIN on {number}"
    )
    return pins[-1]


def local_time(seconds_from_now) -> str:
    """A datetime-local value in Mom's time zone."""
    moment = datetime.now(ZoneInfo(MOM_TIMEZONE)) + timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def chat_says(page, text):
    return page.locator(".chat .message").filter(has_text=text)


def send(page, text):
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def test_two_people_use_the_whole_app_in_two_browsers(service, browser):
    browsers = Browsers(browser, service)
    phones = browsers.open("phones", "/app/dev/phones/", viewport={"width": 1280, "height": 900})
    mom = browsers.open("mom", "/", timezone_id=MOM_TIMEZONE)
    dad = browsers.open("dad", "/app/")

    # Mom creates a group with Kid; it waits, staged, for the PIN texted to her phone.
    expect(mom.get_by_role("heading", name="Log in")).to_be_visible()
    shot(mom, "01-login")
    mom.get_by_role("link", name="Create a group").click()
    mom.get_by_label("Group name").fill("Family")
    mom.get_by_label("Your name").fill("Mom")
    mom.get_by_label("Your phone number").fill("(415) 555-0101")
    mom.get_by_label("Member's name").fill("Kid")
    mom.get_by_label("Member's phone number").fill("415 555 0103")
    fits_the_phone(mom)
    shot(mom, "02-create-group")
    mom.get_by_role("button", name="Create group").click()
    expect(mom.get_by_text("enter the PIN we texted")).to_be_visible()
    pin = new_pin_on_phone(phones, MOM, seen=0)
    shot(phones, "03-phone-page-pin")
    mom.get_by_label("PIN").fill(pin)
    mom.get_by_role("button", name="Activate group").click()
    expect(mom.get_by_role("heading", name="Family")).to_be_visible()

    # Dad is in no group yet, and mistypes his number: the sentence is next to the field.
    dad.get_by_label("Your phone number").fill("555-01")
    dad.get_by_role("button", name="Text me a PIN").click()
    expect(error_next_to(dad, "Your phone number")).to_have_text(
        "“555-01” is not a phone number we can text. Use a mobile number such as (415) 555-0102."
    )
    shot(dad, "04-login-bad-number")

    # Mom adds Dad.
    mom.get_by_role("link", name="Members").click()
    adding = mom.locator("form").filter(has=mom.get_by_role("heading", name="Add a member"))
    adding.get_by_label("Member's name").fill("Dad")
    adding.get_by_label("Member's phone number").fill("4155550102")
    adding.get_by_role("button", name="Add member").click()
    expect(mom.locator(".member").filter(has_text="Dad")).to_be_visible()
    fits_the_phone(mom)
    shot(mom, "05-members")

    # Dad logs in with the keyboard alone, by the PIN his phone got.
    dad.get_by_label("Your phone number").fill("")
    dad.get_by_label("Your phone number").press_sequentially("4155550102")
    dad.keyboard.press("Enter")
    pin = new_pin_on_phone(phones, DAD, seen=0)
    expect(dad.get_by_label("PIN")).to_be_focused()
    dad.keyboard.type(pin)
    dad.keyboard.press("Enter")
    family = dad.get_by_role("link", name=re.compile("Family"))
    expect(family).to_be_visible()
    shot(dad, "06-groups")
    family.focus()
    dad.keyboard.press("Enter")
    expect(dad.get_by_label("Message", exact=True)).to_be_focused()

    # They chat: each sees the other's message within 3 seconds, without reloading.
    mom.get_by_role("link", name="Chat").click()
    send(mom, "Dinner at 7?")
    expect(chat_says(mom, "Dinner at 7?")).to_be_visible()
    expect(chat_says(dad, "Dinner at 7?")).to_be_visible(timeout=3_000)
    dad.keyboard.type("Yes, see you")
    dad.keyboard.press("Enter")
    expect(chat_says(mom, "Yes, see you")).to_be_visible(timeout=3_000)
    send(dad, "*who")
    expect(dad.locator(".message.reply")).to_contain_text("Mom (owner)")
    fits_the_phone(dad)
    shot(dad, "07-chat-dad")
    shot(mom, "08-chat-mom")
    # ... and the texts reached the other members' phones through the worker.
    expect(phones.locator(f'article[data-number="{KID}"]')).to_contain_text(
        "Dad: Yes, see you", timeout=30_000
    )
    expect(phones.locator(f'article[data-number="{DAD}"]')).to_contain_text("Mom: Dinner at 7?")
    shot(phones, "09-phone-page")

    # Mom schedules a message: a past time is refused next to its field; a near one arrives.
    mom.get_by_role("link", name="Scheduled").click()
    scheduling = mom.locator("form").filter(has=mom.get_by_role("heading", name="Schedule"))
    scheduling.get_by_label("Message").fill("Leaving now")
    scheduling.get_by_label("Send at (your time)").fill(local_time(-3600))
    scheduling.get_by_role("button", name="Schedule").click()
    expect(error_next_to(scheduling, "Send at (your time)")).to_contain_text(
        "is not in the future: pick a later time."
    )
    shot(mom, "10-schedule-error")
    scheduling.get_by_label("Send at (your time)").fill(local_time(8))
    scheduling.get_by_role("button", name="Schedule").click()
    expect(mom.locator(".scheduled-item").filter(has_text="Leaving now")).to_be_visible()
    fits_the_phone(mom)
    shot(mom, "11-scheduled")
    mom.get_by_role("link", name="Chat").click()
    expect(chat_says(mom, "Leaving now")).to_be_visible(timeout=30_000)
    expect(chat_says(dad, "Leaving now")).to_be_visible(timeout=3_000)

    # Dad leaves: no text of what is said while he is away reaches his phone; back in, he
    # gets the messages again.
    dad.get_by_role("button", name="Leave group").click()
    expect(dad.get_by_text("You left Family")).to_be_visible()
    shot(dad, "12-left")
    send(mom, "Are you there?")
    expect(chat_says(mom, "Are you there?")).to_be_visible()
    expect(phones.locator(f'article[data-number="{KID}"]')).to_contain_text(
        "Mom: Are you there?", timeout=30_000
    )
    expect(phones.locator(f'article[data-number="{DAD}"]')).not_to_contain_text("Are you there?")
    dad.get_by_role("button", name="Rejoin group").click()
    expect(dad.get_by_role("button", name="Leave group")).to_be_visible()
    send(mom, "Welcome back")
    expect(chat_says(dad, "Welcome back")).to_be_visible(timeout=3_000)
    expect(phones.locator(f'article[data-number="{DAD}"]')).to_contain_text(
        "Mom: Welcome back", timeout=30_000
    )

    # Mom names the invite code; Ann joins through the link.
    mom.get_by_role("link", name="Settings").click()
    mom.get_by_label("Invite code").fill("family-dinner")
    mom.get_by_role("button", name="Save settings").click()
    expect(mom.locator(".invite a")).to_have_text(f"{service}/app/join/family-dinner")
    fits_the_phone(mom)
    shot(mom, "13-settings")
    ann = browsers.open("ann", "/app/join/FAMILY-DINNER")
    expect(ann.get_by_role("heading", name="Join Family")).to_be_visible()
    ann.get_by_label("Your name").fill("Ann")
    ann.get_by_label("Your phone number").fill("4155550104")
    ann.get_by_role("button", name="Join").click()
    expect(ann.get_by_text("You joined Family. Log in")).to_be_visible()
    shot(ann, "14-joined")
    expect(phones.locator(f'article[data-number="{ANN}"]')).to_contain_text("Family")

    # Mom's account: a card, a charge refused for its amount, then one that goes through.
    mom.get_by_role("link", name="Account").click()
    expect(mom.locator(".balance")).to_contain_text("Balance $")
    mom.get_by_label("Email").fill("mom@example.com")
    mom.get_by_label("Billing zip code").fill("94110")
    mom.get_by_label("Card number").fill("4242 4242 4242 4242")
    mom.get_by_label("Expiry (year-month)").fill("2030-12")
    mom.get_by_role("button", name="Save card").click()
    expect(mom.get_by_text("Saved: Visa ending in 4242.")).to_be_visible()
    mom.get_by_label("Amount in dollars").fill("5")
    mom.get_by_role("button", name="Charge my card").click()
    expect(error_next_to(mom, "Amount in dollars")).to_have_text("Charge between $10 and $1,000.")
    mom.get_by_label("Amount in dollars").fill("20")
    mom.get_by_role("button", name="Charge my card").click()
    expect(mom.get_by_text("Charged. Your balance is")).to_be_visible()
    fits_the_phone(mom)
    shot(mom, "15-account")

    mom.get_by_label("New password").fill("dinner at seven")
    mom.get_by_role("button", name="Set password").click()
    expect(mom.get_by_text("Password set.")).to_be_visible()

    # Mom logs out, and back in with her password in place of the PIN.
    mom.get_by_role("button", name="Log out").click()
    expect(mom.get_by_role("heading", name="Log in")).to_be_visible()
    mom.get_by_label("Your phone number").fill("4155550101")
    mom.get_by_role("button", name="Text me a PIN").click()
    mom.get_by_label("PIN or password").fill("dinner at seven")
    mom.get_by_role("button", name="Log in").click()
    expect(mom.get_by_role("link", name=re.compile("Family"))).to_be_visible()

    assert browsers.console_errors == []


def test_static_files_have_hashed_names_and_long_cache_lifetimes(service):
    page = urllib.request.urlopen(f"{service}/app/").read().decode()
    script = re.search(r'src="(/static/webapp/app\.[0-9a-f]{12}\.js)"', page).group(1)
    with urllib.request.urlopen(service + script) as response:
        assert "immutable" in response.headers["Cache-Control"]
        module = response.read().decode()
    # The modules it imports are named by their hashes too.
    assert re.search(r'from "\./api\.[0-9a-f]{12}\.js"', module)
