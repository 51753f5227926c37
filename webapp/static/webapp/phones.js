// The development phone page (console gateway only): every number's texts as its phone shows
// them, and a box on each phone to text the service as that number.

import { h, prettyNumber } from "./dom.js";

const POLL_MS = 1500;
const csrf = document.querySelector("meta[name=csrf-token]").content;
const phones = document.getElementById("phones");
const textIn = document.getElementById("text-in");
let serviceNumbers = [];
let drawn = "";

async function send(from, to, text, form) {
  for (const paragraph of form.querySelectorAll(".field-error, .form-error")) paragraph.hidden = true;
  const body = new URLSearchParams({ from, to, text });
  const response = await fetch("/app/dev/phones/send", { method: "POST", body, headers: { "X-CSRFToken": csrf } });
  const answer = await response.json();
  if (answer.status !== "OK") {
    for (const [name, sentence] of Object.entries(answer.problems || {})) {
      const paragraph = form.querySelector(`[name=${name}]`).closest(".field").querySelector(".field-error");
      paragraph.textContent = sentence;
      paragraph.hidden = false;
    }
    return false;
  }
  await refresh();
  return true;
}

function numberOptions(select, preferred) {
  const chosen = select.value || preferred;
  select.replaceChildren(...serviceNumbers.map((number) => h("option", { value: number }, prettyNumber(number))));
  if (chosen) select.value = chosen;
}

function phoneCard(number, texts) {
  const lastFrom = [...texts].reverse().find((text) => text.other)?.other || serviceNumbers[0];
  const id = number.replace(/\W/g, "");
  const form = h("form", { class: "phone-send" },
    h("div", { class: "field" }, h("label", { for: `to-${id}` }, "To"), h("select", { id: `to-${id}`, name: "to" })),
    h("div", { class: "field" }, h("label", { for: `text-${id}` }, "Text"),
      h("input", { id: `text-${id}`, name: "text", autocomplete: "off" }), h("p", { class: "field-error", hidden: true })),
    h("button", { type: "submit" }, "Send text"));
  numberOptions(form.elements.to, lastFrom);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await send(number, form.elements.to.value, form.elements.text.value, form)) form.elements.text.value = "";
  });
  return h("article", { class: "phone", dataset: { number }, "aria-label": `Phone ${prettyNumber(number)}` },
    h("h2", {}, prettyNumber(number)),
    h("ol", { class: "sms" }, ...texts.map((text) => h("li", { class: `sms-${text.direction}` },
      h("span", { class: "sms-other" }, text.direction === "sent" ? `to ${prettyNumber(text.other) || "?"}` : `from ${prettyNumber(text.other) || "GroupFlier"}`),
      h("span", { class: "sms-text" }, text.text)))),
    form);
}

async function refresh() {
  const response = await fetch("/app/dev/phones/texts", { headers: { Accept: "application/json" } });
  const answer = await response.json();
  serviceNumbers = answer.service_numbers;
  numberOptions(textIn.elements.to);
  const signature = JSON.stringify(answer);
  if (signature === drawn) return;
  drawn = signature;
  const byPhone = new Map();
  for (const text of answer.texts) {
    if (!byPhone.has(text.phone)) byPhone.set(text.phone, []);
    byPhone.get(text.phone).push(text);
  }
  // Keep what is being typed on a phone while its texts are redrawn.
  const focused = document.activeElement?.id;
  const typing = Object.fromEntries([...phones.querySelectorAll("input, select")].map((input) => [input.id, input.value]));
  phones.replaceChildren(...[...byPhone.keys()].sort().map((number) => phoneCard(number, byPhone.get(number))));
  for (const [id, value] of Object.entries(typing)) if (document.getElementById(id)) document.getElementById(id).value = value;
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  if (!byPhone.size) phones.append(h("p", {}, "No texts yet. Create a group in the app, or text in above."));
}

textIn.addEventListener("submit", async (event) => {
  event.preventDefault();
  const { from, to, text } = textIn.elements;
  if (await send(from.value, to.value, text.value, textIn)) text.value = "";
});

async function poll() {
  try {
    await refresh();
  } finally {
    setTimeout(poll, POLL_MS);
  }
}
poll();
