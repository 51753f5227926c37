// One group: the chat (polled from the last message id), its members, and for its owner the
// scheduled messages and settings. `number` is the member's own group number (SPEC §2).

import { call } from "../api.js";
import { h, prettyNumber } from "../dom.js";
import { sentenceFor } from "../errors.js";
import { activateForm } from "./create.js";
import * as chat from "./chat.js";
import * as members from "./members.js";
import * as owner from "./owner.js";

const TABS = [
  ["chat", "Chat", () => true],
  ["members", "Members", () => true],
  ["scheduled", "Scheduled", (group) => group.owner],
  ["settings", "Settings", (group) => group.owner],
];

export async function render(main, { number, tab, go }) {
  const heading = h("h1", {}, "Group");
  main.append(heading);
  let mine;
  try {
    mine = await call("member/groups");
  } catch (error) {
    main.append(h("p", { class: "form-error", role: "alert" }, sentenceFor(error)));
    return;
  }
  const group = mine.groups.find((entry) => entry.number === number);
  if (!group) {
    main.append(h("p", { class: "form-error", role: "alert" }, sentenceFor({ type: "MEMBER_LOOKUP_FAILED" })),
      h("p", {}, h("a", { href: "#/" }, "Back to your groups")));
    return;
  }
  heading.textContent = group.name;
  document.title = `${group.name} · GroupFlier`;
  const base = `#/group/${encodeURIComponent(number)}`;
  main.append(
    h("p", { class: "group-number" }, `Group number ${prettyNumber(number)}: members can text it too.`),
    h("nav", { class: "tabs", "aria-label": "Group" },
      ...TABS.filter(([, , shown]) => shown(group)).map(([key, label]) =>
        h("a", { href: key === "chat" ? base : `${base}/${key}`, "aria-current": key === tab ? "page" : null }, label))),
  );
  if (group.pending) main.append(pendingNotice(go, mine.number, group));
  // Drawing the screen again goes through the router, which stops this one's polling first.
  const refresh = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const context = { group, me: mine.number, go, refresh };
  if (tab === "members") return members.render(main, context);
  if (tab === "scheduled" && group.owner) return owner.renderScheduled(main, context);
  if (tab === "settings" && group.owner) return owner.renderSettings(main, context);
  return chat.render(main, context);
}

function pendingNotice(go, me, group) {
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const box = h("div", { class: "card notice" },
    h("p", {}, "This group is waiting for activation: nobody gets its messages yet."),
    h("button", { type: "button", onclick: async () => {
      try {
        await call("member/find", { number: me }, { withSid: false });
      } catch (error) {
        problem.textContent = sentenceFor(error);
        problem.hidden = false;
        return;
      }
      box.replaceWith(activateForm(go, me, group.number, `We texted a PIN to ${prettyNumber(me)}. Enter it to activate ${group.name}.`));
    } }, "Text me a PIN to activate it"),
    problem);
  return box;
}
