// Log in by PIN: the number gets a PIN by text (/member/find), the PIN gives a session
// (/member/login). An account password works in place of the PIN.

import { call, session } from "../api.js";
import { field, formError, formNotice, h, prettyNumber } from "../dom.js";
import { clearErrors, onSubmit, showError, showNotice } from "../forms.js";

export function render(main, { go, number = session.number || "", notice = "" }) {
  const numberForm = h("form", { class: "card", "aria-labelledby": "login-title" },
    field("Your phone number", { name: "number", type: "tel", autocomplete: "tel", value: number, inputmode: "tel" },
      { hint: "We text you a PIN to log in." }),
    h("button", { type: "submit" }, "Text me a PIN"),
    formError(), formNotice());
  main.append(...[
    h("h1", { id: "login-title" }, "Log in"),
    notice ? h("p", { class: "notice" }, notice) : null,
    numberForm,
    h("p", {}, "New here? ", h("a", { href: "#/create" }, "Create a group"),
      " or open an invite link a group's owner sent you."),
  ].filter(Boolean));
  onSubmit(numberForm, async ({ number: typed }) => {
    const found = await call("member/find", { number: typed }, { withSid: false });
    numberForm.replaceWith(pinForm(go, typed, found.has_password === 1));
  }, {
    sentences: { NOT_FOUND: "This number is in no group yet. Create a group, or join one with an invite link." },
  });
  numberForm.querySelector("input").focus();
}

function pinForm(go, number, hasPassword) {
  const label = hasPassword ? "PIN or password" : "PIN";
  const form = h("form", { class: "card" },
    h("p", {}, `We texted a 6-digit PIN to ${prettyNumber(number) || number}. It lasts 10 minutes.`),
    h("input", { type: "hidden", name: "number", value: number }),
    field(label, { name: "pin", type: hasPassword ? "password" : "text", inputmode: hasPassword ? null : "numeric",
      autocomplete: "one-time-code" }),
    h("button", { type: "submit" }, "Log in"),
    h("button", { type: "button", class: "secondary", onclick: async () => {
      clearErrors(form);
      try {
        await call("member/find", { number }, { withSid: false });
        showNotice(form, "We texted you a new PIN.");
      } catch (error) {
        showError(form, error);
      }
    } }, "Text me a new PIN"),
    formError(), formNotice());
  onSubmit(form, async ({ pin }) => {
    const answer = await call("member/login", { number, pin, source: "web" }, { withSid: false });
    const me = await callWith(answer.sid);
    session.save(answer.sid, me.number);
    go("#/");
  });
  setTimeout(() => form.querySelector("[name=pin]").focus());
  return form;
}

// The number as the server writes it (E.164), read once with the new session.
async function callWith(sid) {
  session.save(sid);
  return call("member/groups");
}
