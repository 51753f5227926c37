// Create a group with its members (/group/create). Logged in, it is live at once; otherwise it
// waits, staged, for the PIN texted to the creator, which /group/set takes to activate it
// (and which answers a session, so the creator is logged in too).

import { call, session } from "../api.js";
import { checkbox, field, formError, h, prettyNumber } from "../dom.js";
import { onSubmit } from "../forms.js";

export function render(main, { go }) {
  const rows = h("div", { class: "member-rows" });
  const addRow = () => {
    const n = rows.children.length;
    rows.append(h("fieldset", { class: "member-row" },
      h("legend", {}, `Member ${n + 1}`),
      field("Member's name", { name: `name_${n}`, autocomplete: "off" }),
      field("Member's phone number", { name: `number_${n}`, type: "tel", autocomplete: "off" })));
  };
  addRow();
  const form = h("form", { class: "card" },
    field("Group name", { name: "group", autocomplete: "off", maxlength: 60 }),
    field("Your name", { name: "name", autocomplete: "given-name", maxlength: 60 },
      { hint: "How the group sees you, e.g. Mom." }),
    field("Your phone number", { name: "number", type: "tel", autocomplete: "tel", value: session.number || "",
      readonly: session.loggedIn }),
    h("h2", {}, "Members"),
    rows,
    h("button", { type: "button", class: "secondary", onclick: () => {
      addRow();
      rows.lastElementChild.querySelector("input").focus();
    } }, "Add another member"),
    checkbox("Only I get the members' messages (reply to owner)", { name: "reply_to_owner" }),
    h("button", { type: "submit" }, "Create group"),
    formError());
  main.append(h("h1", {}, "Create a group"), form);
  onSubmit(form, async (typed) => {
    // Rows left empty are not members: the API would call them missing.
    for (const [name, value] of Object.entries(typed)) {
      const n = /^name_(\d+)$/.exec(name)?.[1];
      if (n && n !== "0" && !value && !typed[`number_${n}`]) {
        delete typed[name];
        delete typed[`number_${n}`];
      }
    }
    if (session.loggedIn) {
      const created = await call("group/create", { ...typed, source: "web" });
      go(`#/group/${encodeURIComponent(created.number)}`);
      return;
    }
    const created = await call("group/create", { ...typed, source: "web", send_pin: 1 }, { withSid: false });
    form.replaceWith(activateForm(go, typed.number, created.number));
  });
  form.querySelector("input").focus();
}

export function activateForm(go, creatorNumber, groupNumber, intro) {
  const form = h("form", { class: "card" },
    h("p", {}, intro || `Your group is made. To switch it on, enter the PIN we texted to ${prettyNumber(creatorNumber) || creatorNumber}.`),
    field("PIN", { name: "pin", inputmode: "numeric", autocomplete: "one-time-code" }),
    h("button", { type: "submit" }, "Activate group"),
    formError());
  onSubmit(form, async ({ pin }) => {
    const answer = await call("group/set", { pin, pin_number: creatorNumber, number: groupNumber }, { withSid: false });
    session.save(answer.sid);
    const me = await call("member/groups");
    session.save(answer.sid, me.number);
    go(`#/group/${encodeURIComponent(groupNumber)}`);
  }, { fields: { MEMBER_LOOKUP_FAILED: "pin" }, sentences: { MEMBER_LOOKUP_FAILED: "That PIN does not match a group waiting for activation." } });
  setTimeout(() => form.querySelector("[name=pin]").focus());
  return form;
}
