// The only changes the chat makes to text (issue 10, "text is data"): what a user or a model writes is stored and
// passed on exactly, except for the characters the databases cannot hold and the controls a user has no business
// typing. Safety against markup comes from encoding at the edge (HTML-safe JSON, markdown-html.ts), never from here.
//
// Lone surrogates are replaced before anything is removed, so that removing a character never joins the two halves
// of a pair it separated ("\ud83d\u0000\ude00" gives two U+FFFD, not an emoji): the result is then the same whether
// the text arrives whole or as a stream cut anywhere. What a user types is cleaned by lib/user-text.ts, which agents
// use too.
import { cleanUserText, wellFormed } from '../../lib/user-text.js';

export { cleanUserText };

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NUL = /\u0000/g;

const HIGH_SURROGATE = /[\ud800-\udbff]$/;

/**
 * A model's answer, as stored and streamed: lone surrogates become U+FFFD (neither database stores them) and NUL is
 * removed (PostgreSQL text cannot hold it). Other controls stay: the answer is kept exactly as produced as far as
 * both databases can hold it (SQLite and PostgreSQL text store every other character, and the JSON encoding of a
 * response escapes controls), and a reader who does not want an ESC or a form feed can drop it when displaying.
 */
export function cleanModelText(text: string): string {
  return wellFormed(text).replace(NUL, '');
}

/**
 * cleanModelText on a token stream. A token may end with the high half of a surrogate pair whose low half starts
 * the next token: only such a trailing high surrogate is held back until the next chunk (or `end()`, where a held
 * one is lone and becomes U+FFFD). The outputs joined equal cleanModelText of the whole input, however it is cut.
 */
export class ModelTextStream {
  #held = '';

  /** The clean text that can be passed on now (possibly ''). */
  push(chunk: string): string {
    let text = this.#held + chunk;
    this.#held = '';
    if (HIGH_SURROGATE.test(text)) {
      this.#held = text.slice(-1);
      text = text.slice(0, -1);
    }
    return cleanModelText(text);
  }

  /** The rest once the stream is over ('' or U+FFFD); the stream can then be used again from the start. */
  end(): string {
    const rest = cleanModelText(this.#held);
    this.#held = '';
    return rest;
  }
}
