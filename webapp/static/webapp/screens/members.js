// The members of a group (from /member/groups): everyone sees who is in; a member renames
// themself and turns their texts on or off; the owner adds, removes, renames, and sets
// broadcast and texts for anyone (/member/add, /member/remove, /member/set).

import { call } from "../api.js";
import { checkbox, field, formError, formNotice, h, prettyNumber } from "../dom.js";
import { onSubmit, showNotice } from "../forms.js";

export function render(main, { group, me, refresh }) {
  const list = h("ul", { class: "members", "aria-label": "Members" },
    ...group.members.map((member) => memberItem(group, member, me, refresh)));
  main.append(h("h2", {}, `${group.members.length} members`), list);
  if (group.owner || !group.disable_add) main.append(addForm(group, refresh));
  main.append(myTexts(group, refresh));
}

function memberItem(group, member, me, refresh) {
  const self = member.number === me;
  const badges = [member.owner ? "owner" : null, member.bye ? "left" : null, member.broadcast ? "broadcast" : null, self ? "you" : null]
    .filter(Boolean).map((badge) => h("span", { class: "badge" }, badge));
  const item = h("li", { class: "member" },
    h("p", {}, h("strong", {}, member.name), " ", h("span", { class: "number" }, prettyNumber(member.number)), ...badges));
  if (!self && !group.owner) return item;
  const edit = h("details", {}, h("summary", {}, self ? "Change my name" : `Change ${member.name}`));
  const rename = h("form", { class: "inline" },
    field(self ? "Your name in this group" : `${member.name}'s name`, { name: "name", value: member.name, maxlength: 60 }),
    h("button", { type: "submit" }, "Save name"),
    formError(), formNotice());
  onSubmit(rename, async ({ name }) => {
    await call("member/set", { group: group.number, number: self ? null : member.number, name });
    refresh();
  });
  edit.append(rename);
  if (group.owner && !self) edit.append(ownerControls(group, member, refresh));
  item.append(edit);
  return item;
}

function ownerControls(group, member, refresh) {
  const settings = h("form", { class: "inline" },
    checkbox(`${member.name} may message everyone (broadcast)`, { name: "broadcast", checked: member.broadcast === 1 }),
    field(`Texts to ${member.name}`, { tag: "select", name: "sms", options: [["", "unchanged"], ["1", "on"], ["0", "off"]] }),
    h("button", { type: "submit" }, "Save settings"),
    formError(), formNotice());
  onSubmit(settings, async ({ broadcast, sms }) => {
    await call("member/set", { group: group.number, number: member.number, broadcast, sms: sms || null });
    showNotice(settings, "Saved.");
  });
  const remove = h("form", { class: "inline" },
    h("button", { type: "submit", class: "danger" }, `Remove ${member.name}`),
    formError());
  onSubmit(remove, async () => {
    await call("member/remove", { group: group.number, number: member.number });
    refresh();
  }, { sentences: { NOT_FOUND: `${member.name} is no longer in the group.` } });
  return h("div", {}, settings, remove);
}

function addForm(group, refresh) {
  const form = h("form", { class: "card" },
    h("h2", {}, "Add a member"),
    field("Member's name", { name: "name", autocomplete: "off", maxlength: 60 }),
    field("Member's phone number", { name: "number", type: "tel", autocomplete: "off" }),
    h("button", { type: "submit" }, "Add member"),
    formError());
  onSubmit(form, async ({ name, number }) => {
    await call("member/add", { group: group.number, name, number });
    refresh();
  });
  return form;
}

function myTexts(group, refresh) {
  const form = h("form", { class: "card" },
    h("h2", {}, "Your texts from this group"),
    checkbox("Send me this group's messages by text (SMS)", { name: "sms", checked: group.sms === 1 }),
    h("button", { type: "submit" }, "Save"),
    formError(), formNotice());
  onSubmit(form, async ({ sms }) => {
    await call("member/set", { group: group.number, sms });
    showNotice(form, sms === "1" ? "You will get its messages by text." : "No more texts from this group; read it here.");
  });
  const leave = h("p", {}, h("button", { type: "button", class: "secondary", onclick: async () => {
    await call(group.bye ? "member/hi" : "member/bye", { group: group.number });
    refresh();
  } }, group.bye ? "Rejoin group" : "Leave group"));
  return h("div", {}, form, leave);
}
