// The member's groups (/member/groups), a way to join one by invite code, and the account.

import { call, session } from "../api.js";
import { dollars, field, formError, h, prettyNumber } from "../dom.js";
import { onSubmit } from "../forms.js";
import { sentenceFor } from "../errors.js";

export async function render(main, { go }) {
  main.append(h("h1", {}, "Your groups"));
  const list = h("ul", { class: "groups", "aria-label": "Groups" }, h("li", {}, "Loading…"));
  const joinForm = h("form", { class: "card inline" },
    field("Invite code", { name: "invite_code", autocomplete: "off" }),
    h("button", { type: "submit" }, "Join"),
    formError());
  main.append(
    h("p", { class: "actions" }, h("a", { class: "button", href: "#/create" }, "Create a group")),
    list,
    h("h2", {}, "Join a group"),
    joinForm,
  );
  onSubmit(joinForm, async ({ invite_code: code }) => {
    await call("group/invite/check", { invite_code: code }, { withSid: false });
    location.assign(`/app/join/${encodeURIComponent(code)}`);
  }, { sentences: { NOT_FOUND: "No group has that invite code. Check it with the person who sent it." } });

  let mine;
  try {
    mine = await call("member/groups");
  } catch (error) {
    list.replaceChildren(h("li", { class: "form-error", role: "alert" }, sentenceFor(error)));
    return;
  }
  session.save(session.sid, mine.number);
  list.replaceChildren(...(mine.groups.length ? mine.groups.map(entry) : [h("li", {}, "You are in no group yet.")]));
  if (mine.account) {
    main.append(h("p", { class: "account-line" },
      `Account balance ${dollars(mine.account.balance)}`,
      mine.account.suspended ? " (suspended: add credit)" : "",
      " · ", h("a", { href: "#/account" }, "Manage account")));
  }
  main.append(h("p", { class: "hint" }, `Logged in as ${prettyNumber(mine.number)}.`));
}

function entry(group) {
  const badges = [
    group.owner ? "owner" : null,
    group.pending ? "waiting for PIN" : null,
    group.bye ? "you left" : null,
    group.suspended ? "suspended" : null,
  ].filter(Boolean);
  const label = h("span", { class: "group-name" }, group.name);
  const detail = h("span", { class: "group-detail" },
    group.number ? `Text ${prettyNumber(group.number)}` : "", ` · ${group.members.length} members`,
    ...badges.map((badge) => h("span", { class: "badge" }, badge)));
  if (!group.number) return h("li", {}, label, detail);
  return h("li", {}, h("a", { class: "group-link", href: `#/group/${encodeURIComponent(group.number)}` }, label, detail));
}
