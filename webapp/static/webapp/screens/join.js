// An invite link, /app/join/CODE: what the group is (/group/invite/check), then join it with a
// name and number (/group/join). The joiner then logs in by PIN like anyone.

import { call, session } from "../api.js";
import { field, formError, h } from "../dom.js";
import { onSubmit } from "../forms.js";
import { sentenceFor } from "../errors.js";
import * as login from "./login.js";

const NOT_FOUND = "No group has this invite code. Check the link with the person who sent it.";

export async function render(main, { code, go }) {
  const heading = h("h1", {}, "Join a group");
  main.append(heading);
  let group;
  try {
    group = await call("group/invite/check", { invite_code: code }, { withSid: false });
  } catch (error) {
    main.append(h("p", { class: "form-error", role: "alert" }, error.type === "NOT_FOUND" ? NOT_FOUND : sentenceFor(error)),
      h("p", {}, h("a", { href: "/app/#/" }, "Go to your groups")));
    return;
  }
  heading.textContent = `Join ${group.name}`;
  const form = h("form", { class: "card" },
    group.reply_to_owner ? h("p", { class: "hint" }, "In this group your messages go to its owner only.") : null,
    field(group.reply_to_owner ? "Your name (optional)" : "Your name", { name: "name", autocomplete: "given-name", maxlength: 60 }),
    field("Your phone number", { name: "number", type: "tel", autocomplete: "tel", value: session.number || "" }),
    h("button", { type: "submit" }, "Join"),
    formError());
  main.append(form);
  onSubmit(form, async ({ name, number }) => {
    const joined = await call("group/join", { invite_code: code, name, number }, { withSid: false });
    history.replaceState(null, "", "/app/");
    const mine = session.loggedIn ? await call("member/groups").catch(() => null) : null;
    if (mine && mine.groups.some((g) => g.number === joined.number)) {
      go(`#/group/${encodeURIComponent(joined.number)}`);
      return;
    }
    session.clear();
    main.replaceChildren();
    login.render(main, { go, number, notice: `You joined ${joined.name}. Log in to read and send its messages.` });
  }, { sentences: { NOT_FOUND } });
  form.querySelector("input").focus();
}
