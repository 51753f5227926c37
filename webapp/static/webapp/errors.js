// Every error token of the API as a sentence a person understands (SPEC §9). A form may say
// it better for its own fields (forms.js `sentences`); these are the defaults.

const quoted = (value) => (value ? `“${value}”` : "That");

export const SENTENCES = {
  // Transport
  AUTHORIZATION_REQUIRED: () => "Your session has ended. Please log in again.",
  NOT_FOUND: () => "We couldn't find that.",
  METHOD_NOT_ALLOWED: () => "The app asked the server the wrong way. Please reload the page.",
  SERVER_ERROR: () => "Something went wrong on the server. Please try again in a moment.",
  BAD_REQUEST: () => "The server couldn't read that request. Please check what you entered.",
  REQUEST_TOO_LARGE: () => "That is too much to send at once.",
  THROTTLE: () => "Too many tries too fast. Please wait a few minutes and try again.",
  NETWORK: () => "We couldn't reach the server. Check your connection and try again.",
  // Input
  MISSING_FIELDS: () => "Please fill this in.",
  INVALID_FLAG: () => "Choose yes or no.",
  INVALID_NUMBER: (value) => `${quoted(value)} is not a phone number we can text. Use a mobile number such as (415) 555-0102.`,
  INVALID_EMAIL: () => "That is not an email address.",
  INVALID_TYPE: () => "That kind of device is not supported.",
  INVALID_PIN: () => "That PIN (or password) is not right, or it has expired. PINs last 10 minutes.",
  INVALID_INVITE_CODE: () => "An invite code is 4 to 50 letters, digits, dashes (-) or underscores (_).",
  INVALID_SMS_STATE: () => "Texts can only be on or off.",
  INVALID_BROADCAST: () => "Only the group's owner can let a member speak to everyone.",
  INVALID_WHEN: (value) => `${quoted(value)} is not a time in the future.`,
  INVALID_MESSAGE_ID: () => "That message number is not valid.",
  INVALID_AMOUNT: () => "Charge between $10 and $1,000.",
  INVALID_CC_NUMBER: () => "That card number is not valid. Check the digits.",
  INVALID_CC_TYPE: () => "We take Visa, Mastercard and American Express only.",
  INVALID_CC_EXPIRATION: () => "Enter the card's expiry as year-month, such as 2030-12, not in the past.",
  TOO_LONG: (value) => `${quoted(value)} is too long: names are at most 30 characters.`,
  DESCRIPTION_TOO_LONG: () => "The description is too long: at most 150 characters.",
  MESSAGE_TOO_LONG: () => "The message is too long: at most 150 characters.",
  SHORT_SEARCH: () => "Search with at least 3 characters.",
  // Look-up and permission
  MEMBER_LOOKUP_FAILED: () => "You are not in this group (any more).",
  NOT_OWNER: () => "Only the group's owner can do that.",
  NOT_SELF: () => "You can't remove yourself. To leave the group, use Leave group.",
  DISABLED_ADD: () => "The owner has turned off adding members for this group.",
  NO_ACCOUNT: () => "You have no account yet: you get one when you create your first group.",
  LOCKOUT: () => "Too many wrong PINs for this number. Please wait 15 minutes and try again.",
  // State
  GROUP_FLIER_NUMBER: (value) => `${quoted(value)} is one of GroupFlier's group numbers, not a person's phone.`,
  BLOCKED_NUMBER: (value) => `${quoted(value)} has asked not to get any texts from GroupFlier (they texted STOP).`,
  DUP_NUMBER: (value) => `${quoted(value)} is already in the group.`,
  DUP_NAME: (value) => `Someone in the group is already called ${quoted(value)}. Pick another name.`,
  NAME_IN_USE: () => "Someone in the group already goes by that name. Pick another name.",
  USED_INVITE_CODE: () => "Another group already uses that invite code. Pick another one.",
  CANT_MAKE_PUBLIC: () => "A group needs a name and a description before it can be public.",
  TOO_MANY_PENDING_GROUPS: () => "You already have 3 groups waiting for their PIN. Activate one of them first.",
  NOT_ENOUGH_MEMBERS: () => "Add at least one member besides yourself.",
  TOO_MANY_MEMBERS: () => "The group is full.",
  SUSPENDED: (value) => (value === "pending"
    ? "This group is not active yet: activate it with the PIN texted to its creator."
    : value === "balance"
      ? "The owner's account doesn't have enough credit for this message. Add credit on the Account page."
      : "This group is suspended: the owner's account needs credit."),
  NO_CREDIT_CARD: () => "Add a card first.",
  EXPIRED_CREDIT_CARD: () => "The card on file has expired. Add a new card.",
  DECLINED: (value) => `The card was declined${value ? ` (${String(value).replaceAll("_", " ")})` : ""}.`,
};

export function sentenceFor(error) {
  const sentence = SENTENCES[error.type];
  return sentence ? sentence(error.subtype) : `Something went wrong (${error.type}).`;
}

// The field an error is about, by the parameter's name, when the token itself says it.
export const FIELD_OF_TOKEN = {
  INVALID_PIN: "pin",
  LOCKOUT: "pin",
  INVALID_EMAIL: "email",
  INVALID_INVITE_CODE: "invite_code",
  USED_INVITE_CODE: "invite_code",
  DESCRIPTION_TOO_LONG: "description",
  MESSAGE_TOO_LONG: "message",
  INVALID_WHEN: "when",
  INVALID_AMOUNT: "amount",
  INVALID_CC_NUMBER: "cc_number",
  INVALID_CC_TYPE: "cc_number",
  INVALID_CC_EXPIRATION: "cc_expiration",
  NAME_IN_USE: "name",
  CANT_MAKE_PUBLIC: "is_public",
  SHORT_SEARCH: "search",
  INVALID_SMS_STATE: "sms",
  INVALID_BROADCAST: "broadcast",
  NOT_ENOUGH_MEMBERS: "name_0",
};

// Tokens whose subtype is the value a person typed: the field holding it is the culprit.
export const VALUE_TOKENS = new Set([
  "INVALID_NUMBER", "GROUP_FLIER_NUMBER", "BLOCKED_NUMBER", "DUP_NUMBER", "TOO_LONG", "DUP_NAME",
]);
