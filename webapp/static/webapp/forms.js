// Submitting a form to the API and showing each error as a sentence next to the field that
// caused it (or next to the button when no field did).

import { ApiError } from "./api.js";
import { FIELD_OF_TOKEN, VALUE_TOKENS, sentenceFor } from "./errors.js";

export function values(form) {
  const found = {};
  for (const control of form.elements) {
    if (!control.name || control.disabled) continue;
    if (control.type === "checkbox") found[control.name] = control.checked ? "1" : "0";
    else found[control.name] = control.value.trim();
  }
  return found;
}

export function clearErrors(form) {
  for (const paragraph of form.querySelectorAll(".field-error, .form-error, .form-notice")) {
    paragraph.hidden = true;
    paragraph.textContent = "";
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

// submit(form, action, options): on submit, run `action(values)`; an ApiError lands next to
// its field. `sentences` overrides the wording per token, `fields` the field per token.
export function onSubmit(form, action, { sentences = {}, fields = {} } = {}) {
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((button) => { button.disabled = true; });
    try {
      await action(values(form), event.submitter);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showError(form, error, { sentences, fields });
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  });
}

export function showError(form, error, { sentences = {}, fields = {} } = {}) {
  const say = (token, subtype) => {
    const custom = sentences[token];
    if (custom) return typeof custom === "function" ? custom(subtype) : custom;
    return sentenceFor({ type: token, subtype });
  };
  if (error.type === "MISSING_FIELDS" && Array.isArray(error.subtype)) {
    const placed = error.subtype.map((name) => place(form, controlNamed(form, name), say("MISSING_FIELDS")));
    if (placed.some(Boolean)) return focusFirstInvalid(form);
  }
  const control = culprit(form, error, fields);
  if (!place(form, control, say(error.type, error.subtype))) {
    const paragraph = form.querySelector(".form-error");
    paragraph.textContent = say(error.type, error.subtype);
    paragraph.hidden = false;
  }
  focusFirstInvalid(form);
}

export function showNotice(form, text) {
  const paragraph = form.querySelector(".form-notice");
  if (!paragraph) return;
  paragraph.textContent = text;
  paragraph.hidden = false;
}

function controlNamed(form, name) {
  return form.querySelector(`[name="${CSS.escape(name)}"]`);
}

function culprit(form, error, fields) {
  const name = fields[error.type] || FIELD_OF_TOKEN[error.type];
  if (name) return controlNamed(form, name);
  if (error.type === "INVALID_FLAG") return controlNamed(form, String(error.subtype));
  if (VALUE_TOKENS.has(error.type) && error.subtype) return holding(form, String(error.subtype));
  return null;
}

// The field whose value the server quoted back: the same text, or the same phone number.
function holding(form, value) {
  const digits = (text) => text.replace(/\D/g, "").slice(-10);
  for (const control of form.querySelectorAll("input")) {
    const typed = control.value.trim();
    if (!typed) continue;
    if (typed.toLowerCase() === value.toLowerCase()) return control;
    if (control.type === "tel" && digits(value).length >= 7 && digits(typed) === digits(value)) return control;
  }
  return null;
}

function place(form, control, sentence) {
  if (!control) return false;
  const paragraph = control.closest(".field")?.querySelector(".field-error");
  if (!paragraph) return false;
  paragraph.textContent = sentence;
  paragraph.hidden = false;
  control.setAttribute("aria-invalid", "true");
  return true;
}

function focusFirstInvalid(form) {
  const first = form.querySelector("[aria-invalid]") || form.querySelector(".form-error:not([hidden])");
  if (first && first.focus) first.focus();
}
