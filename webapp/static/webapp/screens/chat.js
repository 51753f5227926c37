// The chat: the latest messages, then every 1.5 seconds those after the last id
// (/message/get with message_from), so new ones appear without reloading. A star command's
// reply is shown to the sender alone, as the API answers it.

import { call } from "../api.js";
import { checkbox, field, formError, h } from "../dom.js";
import { onSubmit } from "../forms.js";
import { sentenceFor } from "../errors.js";

const POLL_MS = 1500;

export function render(main, { group, me, refresh }) {
  const log = h("ol", { class: "chat", "aria-label": "Messages", "aria-live": "polite" });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "send" },
    field("Message", { name: "message", autocomplete: "off", maxlength: 300 },
      { hint: "Start with * for commands: *who lists members, *help lists them all." }),
    checkbox("Text me a copy", { name: "cc" }),
    h("button", { type: "submit" }, "Send"),
    formError());
  main.append(...[
    group.bye ? leftNotice(group, refresh) : null,
    log, problem, form,
    group.bye ? null : h("p", {}, h("button", { type: "button", class: "secondary", onclick: async () => {
      await call("member/bye", { group: group.number });
      refresh();
    } }, "Leave group")),
  ].filter(Boolean));

  let last = 0;
  const seen = new Set();
  const show = (messages) => {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    for (const message of messages) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      last = Math.max(last, message.id);
      log.append(bubble(message, me));
    }
    if (atBottom || messages.length) log.scrollTop = log.scrollHeight;
  };
  let stopped = false;
  let timer = null;
  const poll = async () => {
    try {
      const answer = await call("message/get", last ? { number: group.number, message_from: last + 1 } : { number: group.number });
      show(answer.messages);
      problem.hidden = true;
    } catch (error) {
      problem.textContent = sentenceFor(error);
      problem.hidden = false;
      if (error.type === "AUTHORIZATION_REQUIRED") return;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };
  poll();

  onSubmit(form, async ({ message, cc }) => {
    const answer = await call("message/send", { number: group.number, message, cc });
    form.querySelector("[name=message]").value = "";
    form.querySelector("[name=message]").focus();
    if (answer.reply) log.append(h("li", { class: "message reply", role: "note" },
      h("span", { class: "who" }, "Reply to you only"), h("span", { class: "txt" }, answer.reply)));
    log.scrollTop = log.scrollHeight;
    if (answer.refresh === 1) setTimeout(refresh, 1500);
    else { clearTimeout(timer); poll(); }
  });
  form.querySelector("[name=message]").focus();
  return () => { stopped = true; clearTimeout(timer); };
}

function bubble(message, me) {
  const mine = message.number && message.number === me;
  const time = new Date(message.time * 1000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  return h("li", { class: `message${mine ? " mine" : ""}${message.name === null ? " notice" : ""}`, dataset: { id: message.id } },
    h("span", { class: "who" }, message.name === null ? "Notice" : mine ? "You" : message.name),
    h("span", { class: "txt" }, message.txt),
    h("time", { datetime: new Date(message.time * 1000).toISOString() }, time));
}

function leftNotice(group, refresh) {
  return h("div", { class: "card notice" },
    h("p", {}, `You left ${group.name}: you get none of its messages until you rejoin.`),
    h("button", { type: "button", onclick: async () => {
      await call("member/hi", { group: group.number });
      refresh();
    } }, "Rejoin group"));
}
