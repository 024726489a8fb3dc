// What the upload's bytes say about themselves, learnt while they stream to disk: the first bytes (for sniffing),
// whether the whole content is text (valid UTF-8 without NUL) and, when asked, whether it is one JSON text. Nothing
// is kept but the first HEAD_BYTES.
import { JsonSyntaxChecker } from './json-syntax.js';

/** Enough for file-type's own sample size and for sniffing a text's first tag. */
export const HEAD_BYTES = 4100;

export interface Inspection {
  /** The first HEAD_BYTES bytes (fewer for a smaller file). */
  head: Buffer;
  /** Valid UTF-8 without a NUL byte; an empty file is text. */
  text: boolean;
  /** One JSON text; false when not asked for. */
  json: boolean;
}

export class ContentInspector {
  readonly #head: Buffer[] = [];
  #headLength = 0;
  #text = true;
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true });
  readonly #json: JsonSyntaxChecker | undefined;

  constructor(options: { checkJson: boolean }) {
    this.#json = options.checkJson ? new JsonSyntaxChecker() : undefined;
  }

  push(chunk: Buffer): void {
    if (this.#headLength < HEAD_BYTES) {
      const piece = chunk.subarray(0, HEAD_BYTES - this.#headLength);
      // A copy: the chunk's memory may be a slice of a larger pooled buffer, which must not be held.
      this.#head.push(Buffer.from(piece));
      this.#headLength += piece.length;
    }
    if (!this.#text) return;
    if (chunk.includes(0)) {
      this.#text = false;
      return;
    }
    try {
      // The decoded text is thrown away: only validity matters. Sequences split between chunks are carried over.
      this.#utf8.decode(chunk, { stream: true });
    } catch {
      this.#text = false;
      return;
    }
    if (this.#json?.viable) this.#json.push(chunk);
  }

  finish(): Inspection {
    if (this.#text) {
      try {
        // A sequence cut short at the very end is not valid UTF-8.
        this.#utf8.decode();
      } catch {
        this.#text = false;
      }
    }
    return {
      head: Buffer.concat(this.#head),
      text: this.#text,
      json: this.#text && this.#json !== undefined && this.#json.end(),
    };
  }
}
