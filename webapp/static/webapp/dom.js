// A few lines instead of a framework: build elements from data, never from HTML strings, so
// nothing a member types can become markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

let fieldCount = 0;

// A labelled field: <div class=field><label/><input/><p class=field-error/></div>. The label
// is always visible; the error paragraph is tied to the input for screen readers.
export function field(label, attributes = {}, { hint } = {}) {
  const id = attributes.id || `f${++fieldCount}`;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const tag = attributes.tag || "input";
  const { tag: _tag, options, ...rest } = attributes;
  const control = h(tag, { id, ...rest, "aria-describedby": [hintId, errorId].filter(Boolean).join(" ") });
  if (tag === "select") for (const [value, text] of options) control.append(h("option", { value }, text));
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    control,
    h("p", { class: "field-error", id: errorId, hidden: true }));
}

// A checkbox with its label after it, as people expect.
export function checkbox(label, attributes = {}) {
  const id = attributes.id || `f${++fieldCount}`;
  return h("div", { class: "field check" },
    h("input", { type: "checkbox", id, value: "1", ...attributes, "aria-describedby": `${id}-error` }),
    h("label", { for: id }, label),
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }));
}

export function formError() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

export function formNotice() {
  return h("p", { class: "form-notice", role: "status", hidden: true });
}

export function dollars(pennies) {
  const sign = pennies < 0 ? "-" : "";
  return `${sign}$${(Math.abs(pennies) / 100).toFixed(2)}`;
}

// "+14155550102" -> "(415) 555-0102" for North American numbers; others as they are.
export function prettyNumber(number) {
  const match = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number || "");
  return match ? `(${match[1]}) ${match[2]}-${match[3]}` : number || "";
}
