// The account of a member who has created a group: balance (/account/balance), card on file
// (/account/set), credit (/account/charge) and a password to log in without a PIN
// (/account/password). Amounts are pennies in the API, dollars on screen.

import { call } from "../api.js";
import { dollars, field, formError, formNotice, h } from "../dom.js";
import { onSubmit, showNotice } from "../forms.js";
import { sentenceFor } from "../errors.js";

const TYPES = { T: "Trial", P: "Paid", F: "Free" };

export async function render(main) {
  main.append(h("h1", {}, "Account"));
  const summary = h("p", { class: "balance", role: "status" }, "Loading…");
  main.append(summary);
  const showBalance = (answer) => {
    summary.replaceChildren(
      h("span", {}, "Balance "), h("strong", { class: "amount" }, dollars(answer.balance)),
      ` · ${TYPES[answer.type] || answer.type} account`,
      answer.suspended ? h("span", { class: "badge" }, "suspended: add credit") : "");
  };
  try {
    showBalance(await call("account/balance"));
  } catch (error) {
    summary.textContent = sentenceFor(error);
    if (error.type === "NO_ACCOUNT") return;
  }

  const card = h("form", { class: "card" },
    h("h2", {}, "Card"),
    field("Email", { name: "email", type: "email", autocomplete: "email" }),
    field("Billing zip code", { name: "zip", autocomplete: "postal-code" }),
    field("Card number", { name: "cc_number", inputmode: "numeric", autocomplete: "cc-number" }),
    field("Expiry (year-month)", { name: "cc_expiration", autocomplete: "off", placeholder: "2030-12" }),
    h("button", { type: "submit" }, "Save card"),
    formError(), formNotice());
  onSubmit(card, async (typed) => {
    const answer = await call("account/set", typed);
    card.querySelector("[name=cc_number]").value = "";
    showNotice(card, answer.cc_description ? `Saved: ${answer.cc_description}.` : "Saved.");
  }, { fields: { DECLINED: "cc_number" } });

  const charge = h("form", { class: "card" },
    h("h2", {}, "Add credit"),
    field("Amount in dollars", { name: "dollars", inputmode: "decimal", autocomplete: "off" },
      { hint: "From $10 to $1,000, charged to the card on file." }),
    h("button", { type: "submit" }, "Charge my card"),
    formError(), formNotice());
  onSubmit(charge, async ({ dollars: typed }) => {
    const amount = typed ? Math.round(Number(typed.replace(/[$,\s]/g, "")) * 100) : "";
    const answer = await call("account/charge", { amount: Number.isNaN(amount) ? typed : amount });
    charge.reset();
    showNotice(charge, `Charged. Your balance is ${dollars(answer.balance)}.`);
    showBalance(await call("account/balance"));
  }, {
    fields: { INVALID_AMOUNT: "dollars", MISSING_FIELDS: "dollars" },
    sentences: { MISSING_FIELDS: "Enter an amount." },
  });

  const password = h("form", { class: "card" },
    h("h2", {}, "Password"),
    field("New password", { name: "password", type: "password", autocomplete: "new-password" },
      { hint: "Log in with it instead of a PIN." }),
    h("button", { type: "submit" }, "Set password"),
    formError(), formNotice());
  onSubmit(password, async (typed) => {
    await call("account/password", typed);
    password.reset();
    showNotice(password, "Password set.");
  });
  main.append(card, charge, password);
}
