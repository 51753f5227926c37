// The one way the web app talks to the server: the public JSON API, as any mobile client does.
// Every call is a POST with a form body, so a sid, PIN or card number never sits in a URL.

export class ApiError extends Error {
  constructor(body, httpStatus) {
    super(body.error_type);
    this.type = body.error_type;
    this.subtype = body.error_subtype;
    this.httpStatus = httpStatus;
  }
}

const SID = "groupflier.sid";
const NUMBER = "groupflier.number";

export const session = {
  get sid() { return localStorage.getItem(SID); },
  get number() { return localStorage.getItem(NUMBER); },
  get loggedIn() { return Boolean(localStorage.getItem(SID)); },
  save(sid, number) {
    localStorage.setItem(SID, sid);
    if (number) localStorage.setItem(NUMBER, number);
  },
  clear() { localStorage.removeItem(SID); },
};

// Called when the server no longer knows the sid: the app goes back to the login screen.
let onSessionEnded = () => {};
export function whenSessionEnds(callback) { onSessionEnded = callback; }

// call("message/send", {number, message}) answers the OK body or throws an ApiError.
// `withSid: false` for the calls that need no session (find, login, create, join...).
export async function call(path, params = {}, { withSid = true } = {}) {
  const body = new URLSearchParams();
  if (withSid) {
    // Never ask the server with no session: it would only answer 401.
    if (!session.sid) throw sessionEnded();
    body.set("sid", session.sid);
  }
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) body.set(name, String(value));
  }
  let response;
  try {
    response = await fetch(`/${path}`, { method: "POST", body, headers: { Accept: "application/json" } });
  } catch {
    throw new ApiError({ error_type: "NETWORK" }, 0);
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw new ApiError({ error_type: "SERVER_ERROR" }, response.status);
  }
  if (answer.status === "OK") return answer;
  if (answer.error_type === "AUTHORIZATION_REQUIRED") throw sessionEnded();
  throw new ApiError(answer, response.status);
}

function sessionEnded() {
  session.clear();
  onSessionEnded();
  return new ApiError({ error_type: "AUTHORIZATION_REQUIRED" }, 401);
}
