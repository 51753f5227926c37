// What only a group's owner sees: scheduled messages (/message/schedule, .../list,
// .../delete) and the group's settings (/group/set, /group/delete), with its invite link.

import { call } from "../api.js";
import { checkbox, field, formError, formNotice, h } from "../dom.js";
import { onSubmit, showError, showNotice } from "../forms.js";
import { sentenceFor } from "../errors.js";

const LIST_POLL_MS = 3000;

// "2030-01-02T09:30" typed in the person's own time -> "2030-01-02 17:30:00" in UTC.
function toUtc(local) {
  if (!local) return "";
  const moment = new Date(local);
  if (Number.isNaN(moment.getTime())) return local;
  return moment.toISOString().slice(0, 19).replace("T", " ");
}

function fromUtc(when) {
  const moment = new Date(`${when.replace(" ", "T")}Z`);
  return Number.isNaN(moment.getTime()) ? when : moment.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export function renderScheduled(main, { group }) {
  const list = h("ul", { class: "scheduled", "aria-label": "Scheduled messages" });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "card" },
    h("h2", {}, "Schedule a message"),
    field("Message", { name: "message", autocomplete: "off", maxlength: 300 }),
    field("Send at (your time)", { name: "when", type: "datetime-local", step: 1 }),
    checkbox("Text me a copy", { name: "cc" }),
    h("button", { type: "submit" }, "Schedule"),
    formError(), formNotice());
  main.append(h("h2", {}, "Scheduled messages"), list, problem, form);

  let timer = null;
  let stopped = false;
  const load = async () => {
    clearTimeout(timer);
    try {
      const answer = await call("message/schedule/list", { number: group.number });
      list.replaceChildren(...(answer.messages.length
        ? answer.messages.map((message) => scheduledItem(group, message, load))
        : [h("li", {}, "Nothing scheduled.")]));
      problem.hidden = true;
    } catch (error) {
      problem.textContent = sentenceFor(error);
      problem.hidden = false;
    }
    if (!stopped) timer = setTimeout(load, LIST_POLL_MS);
  };
  load();
  onSubmit(form, async ({ message, when, cc }) => {
    await call("message/schedule", { number: group.number, message, when: toUtc(when), cc });
    form.reset();
    showNotice(form, "Scheduled. It will appear in the chat when it is sent.");
    load();
  }, {
    // The server quotes the time in UTC; the person typed their own time.
    sentences: { INVALID_WHEN: (when) => `${fromUtc(String(when))} is not in the future: pick a later time.` },
  });
  return () => { stopped = true; clearTimeout(timer); };
}

function scheduledItem(group, message, reload) {
  const remove = h("form", { class: "inline" },
    h("button", { type: "submit", class: "secondary" }, "Delete"), formError());
  onSubmit(remove, async () => {
    await call("message/schedule/delete", { number: group.number, message_id: message.id });
    reload();
  }, { sentences: { NOT_FOUND: "That message was already sent or deleted." } });
  return h("li", { class: "scheduled-item" },
    h("p", {}, h("time", { datetime: message.when }, fromUtc(message.when)), " ", message.txt), remove);
}

export function renderSettings(main, { group, go }) {
  const link = h("p", { class: "invite" });
  const showLink = (code) => {
    if (!code) {
      link.replaceChildren("No invite link yet: save the settings to make one.");
      return;
    }
    const url = `${location.origin}/app/join/${encodeURIComponent(code)}`;
    link.replaceChildren("Invite link: ", h("a", { href: url }, url));
  };
  showLink(group.invite_code);
  const flag = (label, name) => checkbox(label, { name, checked: group[name] === 1 });
  const form = h("form", { class: "card" },
    field("Group name", { name: "name", value: group.name, maxlength: 60 }),
    field("Description", { tag: "textarea", name: "description", rows: 2, maxlength: 300 }),
    field("Invite code", { name: "invite_code", value: group.invite_code || "", autocomplete: "off" },
      { hint: "4 to 50 letters, digits, - or _. People join at the invite link." }),
    flag("Tell the group when someone is added", "notify_on_add"),
    flag("Members' messages go to me only (reply to owner)", "reply_to_owner"),
    flag("Members can't use *who", "disable_who"),
    flag("Only I can add members", "disable_add"),
    flag("List this group publicly", "is_public"),
    h("button", { type: "submit" }, "Save settings"),
    formError(), formNotice());
  form.querySelector("textarea").value = group.description || "";
  onSubmit(form, async (typed) => {
    const answer = await call("group/set", { number: group.number, ...typed });
    form.querySelector("[name=invite_code]").value = answer.invite_code || "";
    showLink(answer.invite_code);
    showNotice(form, "Saved.");
  });
  main.append(h("h2", {}, "Invite people"), link, h("h2", {}, "Settings"), form, deleteForm(group, go));
}

function deleteForm(group, go) {
  const confirm = checkbox(`Yes, delete ${group.name} for everyone`, { name: "confirm" });
  const form = h("form", { class: "card danger-zone" },
    h("h2", {}, "Delete group"),
    confirm,
    h("button", { type: "submit", class: "danger" }, "Delete group"),
    formError());
  onSubmit(form, async ({ confirm: sure }) => {
    if (sure !== "1") {
      showError(form, { type: "CONFIRM" }, { sentences: { CONFIRM: "Tick the box to confirm." }, fields: { CONFIRM: "confirm" } });
      return;
    }
    await call("group/delete", { number: group.number });
    go("#/");
  });
  return form;
}
