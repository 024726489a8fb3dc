// What a user typed (a chat message, an agent's name or prompt), as stored and sent on: lone surrogates become U+FFFD,
// NUL and the C0 controls other than tab, newline and carriage return are removed. Nothing else: no trimming, no HTML
// removal, no entity escaping, no Unicode normalisation (DEL and C1 controls stay). Neither database stores a lone
// surrogate, and PostgreSQL's text cannot hold NUL: without this the two dialects would store different text, or fail.

/** In unicode mode a well-formed pair is one code point, so `\p{Cs}` matches only the unpaired halves. */
const LONE_SURROGATE = /\p{Cs}/gu;

/** C0 controls except tab, newline and carriage return. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const USER_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

/** Lone surrogates as U+FFFD (a model's text is made well-formed the same way: chat-text.ts). */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}

/**
 * What a user typed, as stored and sent to the model: lone surrogates become U+FFFD, NUL and the C0 controls other
 * than tab, newline and carriage return are removed. Nothing else: no trimming, no HTML removal, no entity escaping,
 * no Unicode normalisation (DEL and C1 controls stay: the issue allows removing C0 controls only).
 */
export function cleanUserText(text: string): string {
  return wellFormed(text).replace(USER_CONTROLS, '');
}
