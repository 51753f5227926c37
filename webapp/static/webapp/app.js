// The GroupFlier web app: a client of the public JSON API (SPEC §9), in plain ES modules.
// Screens are chosen by the address: /app/#/... inside the app, /app/join/CODE for an invite.

import { call, session, whenSessionEnds } from "./api.js";
import { h } from "./dom.js";
import * as account from "./screens/account.js";
import * as create from "./screens/create.js";
import * as group from "./screens/group.js";
import * as groups from "./screens/groups.js";
import * as join from "./screens/join.js";
import * as login from "./screens/login.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let cleanup = null;

export function go(hash) {
  if (location.pathname !== "/app/") history.replaceState(null, "", `/app/${hash}`);
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function logout() {
  try {
    await call("member/logout");
  } finally {
    session.clear();
    go("#/login");
  }
}

function drawNav() {
  nav.replaceChildren();
  if (!session.loggedIn) return;
  nav.append(
    h("a", { href: "#/" }, "Groups"),
    h("a", { href: "#/account" }, "Account"),
    h("button", { type: "button", class: "link", onclick: logout }, "Log out"),
  );
}

function chooseScreen() {
  const invite = /^\/app\/join\/([^/]+)\/?$/.exec(location.pathname);
  if (invite) return [join, { code: decodeURIComponent(invite[1]) }];
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [screen, ...rest] = parts;
  if (screen === "create") return [create, {}];
  if (!session.loggedIn) return [login, {}];
  if (screen === "account") return [account, {}];
  if (screen === "group" && rest[0]) return [group, { number: rest[0], tab: rest[1] || "chat" }];
  return [groups, {}];
}

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  drawNav();
  const [screen, params] = chooseScreen();
  main.replaceChildren();
  const done = screen.render(main, { ...params, go });
  Promise.resolve(done).then((stop) => { if (typeof stop === "function") cleanup = stop; });
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · GroupFlier`;
}

whenSessionEnds(() => {
  if (!location.hash.startsWith("#/login")) go("#/login");
});
window.addEventListener("hashchange", route);
route();
